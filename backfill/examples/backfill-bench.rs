//! The library's copy and verify without the CLI, for bench/backfill-bench.sh
//! when the `msa-migrate` binary is not at hand:
//! `backfill-bench copy|verify SOURCE TARGET TABLE`.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use msa_backfill::{BackfillPlan, CopyOptions, Dsn, Event, Side, VerifyPlan};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [verb, source, target, table] = <[String; 4]>::try_from(args)
        .map_err(|_| "usage: backfill-bench copy|verify SOURCE TARGET TABLE")?;
    let source = Dsn::parse(&source, Side::Source)?;
    let target = Dsn::parse(&target, Side::Target)?;
    let events: msa_backfill::Events = Arc::new(|_: &Event| {});
    let started = std::time::Instant::now();
    let rows = if verb == "copy" {
        let plan = BackfillPlan {
            source,
            target,
            tables: vec![table],
            mapping: msa_playbook::mapping::Mapping::default(),
            options: CopyOptions::default(),
        };
        let report =
            msa_backfill::backfill(&plan, events, Arc::new(AtomicBool::new(false))).await?;
        report.tables.iter().map(|t| t.rows_copied).sum::<i64>()
    } else {
        let plan = VerifyPlan {
            source,
            target,
            tables: vec![table],
            mapping: msa_playbook::mapping::Mapping::default(),
            repair: false,
            restart: true,
            chunk_rows: 10_000,
            range_time: std::time::Duration::from_secs(1),
            jobs: 1,
        };
        let report = msa_backfill::verify(&plan, events, Arc::new(AtomicBool::new(false))).await?;
        if !report.clean {
            return Err(format!("not clean: {} mismatches", report.mismatches).into());
        }
        report.rows_checked
    };
    #[allow(clippy::print_stdout, reason = "the figure is the output")]
    {
        println!("{verb}: {rows} rows in {:.2?}", started.elapsed());
    }
    Ok(())
}
