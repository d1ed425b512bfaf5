//! `msa-migrate backfill` and `verify`: copy a domain's tables and prove the copy exact.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use anyhow::{Context, anyhow, bail};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use msa_backfill::{
    BackfillPlan, CopyOptions, Dsn, Event, Events, FollowOptions, Side, Stop, ThrottleOptions,
    VerifyPlan, VerifyReport, plan_problems,
};
use msa_playbook::mapping::{Mapping, locate};

use crate::Outcome;
use crate::args::{BackfillArgs, DataArgs, VerifyArgs};
use crate::commands::Reworded;
use crate::commands::stdout::Stdout;

/// The mapping file's text and path, kept to point problems at lines.
struct MapFile {
    path: String,
    text: String,
}

impl MapFile {
    /// `FILE:LINE: ` for a field path, or `FILE: `.
    fn at(&self, field: &str) -> String {
        match locate(&self.text, field) {
            Some(line) => format!("{}:{line}: {field}", self.path),
            None => format!("{}: {field}", self.path),
        }
    }
}

fn load_map(path: Option<&Path>) -> anyhow::Result<(Mapping, Option<MapFile>)> {
    let Some(path) = path else {
        return Ok((Mapping::default(), None));
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mapping: Mapping = serde_saphyr::from_str(&text).map_err(|err| {
        let message = err.to_string();
        let first = message.lines().next().unwrap_or_default();
        anyhow!(
            "{}: {}; nothing was copied",
            path.display(),
            first.trim_start_matches("error: ")
        )
    })?;
    let file = MapFile {
        path: path.display().to_string(),
        text,
    };
    if let Err(problems) = mapping.validate() {
        let lines: Vec<String> = problems
            .iter()
            .map(|p| format!("  {}: {}", file.at(&p.field), p.message))
            .collect();
        bail!(
            "{} has {} problem(s); nothing was copied:\n{}",
            file.path,
            problems.len(),
            lines.join("\n")
        );
    }
    Ok((mapping, Some(file)))
}

/// A library error, with mapping problems pointed at their file and line.
fn explain(err: msa_backfill::Error, map: Option<&MapFile>) -> anyhow::Error {
    let problems = plan_problems(&err);
    if problems.is_empty() {
        // Kept whole: its `hint:` line comes from its type (commands::hint).
        return anyhow::Error::new(err);
    }
    let lines: Vec<String> = problems
        .iter()
        .map(|p| match (&p.field, map) {
            (Some(field), Some(map)) => format!("  {}: {}", map.at(field), p.message),
            (Some(field), None) => format!("  {field}: {}", p.message),
            (None, _) => format!("  {}", p.message),
        })
        .collect();
    let message = format!(
        "{} problem(s); nothing was copied:\n{}",
        problems.len(),
        lines.join("\n")
    );
    anyhow::Error::new(Reworded::new(message, err))
}

/// What both commands move or compare, from the options or a playbook.
struct Resolved {
    source: Dsn,
    target: Dsn,
    tables: Vec<String>,
    mapping: Mapping,
    /// Where mapping problems point: the `--map` file or the playbook.
    map_file: Option<MapFile>,
}

fn resolve(data: &DataArgs) -> anyhow::Result<Resolved> {
    let playbook = match &data.playbook {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let playbook = crate::commands::playbook::parse(path, &text)?;
            Some((
                playbook,
                MapFile {
                    path: path.display().to_string(),
                    text,
                },
            ))
        }
        None => None,
    };
    let from_playbook = |field: &str, value: Option<&msa_playbook::Dsn>| {
        let (_, file) = playbook
            .as_ref()
            .expect("clap requires a playbook without the option");
        value.map(|dsn| dsn.as_written().to_owned()).ok_or_else(|| {
            anyhow!(
                "{}: `data.{field}` is missing; add it to the playbook or pass --{field}",
                file.path
            )
        })
    };
    let data_config = playbook.as_ref().and_then(|(p, _)| p.data.as_ref());
    // Errors name where the DSN came from: the option or the playbook's field.
    let from_file = |field: &str| {
        let (_, file) = playbook
            .as_ref()
            .expect("clap requires a playbook without the option");
        format!("{}: data.{field}", file.path)
    };
    let (source, source_origin) = match &data.source {
        Some(source) => (source.clone(), "--source".to_owned()),
        None => (
            from_playbook("source", data_config.map(|d| &d.source))?,
            from_file("source"),
        ),
    };
    let (target, target_origin) = match &data.target {
        Some(target) => (target.clone(), "--target".to_owned()),
        None => (
            from_playbook("target", data_config.map(|d| &d.target))?,
            from_file("target"),
        ),
    };
    let source = Dsn::parse(&source, Side::Source)
        .map_err(|e| Reworded::new(format!("{source_origin}: {e}"), e))?;
    let target = Dsn::parse(&target, Side::Target)
        .map_err(|e| Reworded::new(format!("{target_origin}: {e}"), e))?;
    let (mapping, map_file) = match (&data.map, playbook) {
        (Some(path), _) => load_map(Some(path))?,
        (None, Some((playbook, file))) => (playbook.tables, Some(file)),
        (None, None) => (Mapping::default(), None),
    };
    let tables = if data.tables.is_empty() {
        mapping.tables.keys().cloned().collect()
    } else {
        data.tables.clone()
    };
    Ok(Resolved {
        source,
        target,
        tables,
        mapping,
        map_file,
    })
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Sets the stop flag on SIGINT or SIGTERM; the copy stops after its chunk.
fn stop_on_signals(stop: &Stop) {
    let stop = stop.clone();
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let Ok(mut term) = signal(SignalKind::terminate()) else {
                return;
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        stop.store(true, Ordering::SeqCst);
    });
}

/// Progress bars on stderr, one per table.
fn bars() -> Events {
    let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "{prefix:>24} [{bar:30}] {human_pos}/{human_len} rows  {per_sec}  ETA {eta}  {msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    let bars: RwLock<HashMap<String, ProgressBar>> = RwLock::new(HashMap::new());
    Arc::new(move |event: &Event| {
        let bar = |table: &str, total: i64| {
            if let Some(bar) = bars.read().ok().and_then(|b| b.get(table).cloned()) {
                return bar;
            }
            let bar = multi.add(ProgressBar::new(u64::try_from(total).unwrap_or(0)));
            bar.set_style(style.clone());
            bar.set_prefix(table.to_owned());
            if let Ok(mut all) = bars.write() {
                all.insert(table.to_owned(), bar.clone());
            }
            bar
        };
        match event {
            Event::Start {
                table,
                rows_total,
                rows_copied,
                ..
            } => {
                let bar = bar(table, *rows_total);
                bar.set_position(u64::try_from(*rows_copied).unwrap_or(0));
                bar.reset_eta();
            }
            Event::Progress {
                table,
                rows_copied,
                rows_total,
                ..
            } => {
                let bar = bar(table, *rows_total);
                bar.set_length(u64::try_from((*rows_total).max(*rows_copied)).unwrap_or(0));
                bar.set_position(u64::try_from(*rows_copied).unwrap_or(0));
            }
            Event::Done { table, .. } => bar(table, 0).finish_with_message("done"),
            Event::Skipped { table, reason } => {
                bar(table, 0).finish_with_message(reason.clone());
            }
            Event::Paused { table, reason, .. } => {
                bar(table, 0).set_message(format!("paused: {reason}"));
            }
            Event::Resumed { table, seconds } => {
                bar(table, 0).set_message(format!("resumed after a {seconds:.0} s pause"));
            }
            Event::Lag {
                table,
                seconds,
                applied,
                deleted,
            } => {
                bar(table, 0).set_message(format!(
                    "following: lag {seconds}s, last pass {applied} upserted, {deleted} deleted"
                ));
            }
            Event::Verified { .. } | Event::Checked { .. } => {}
        }
    })
}

fn json_events(stdout: Arc<Stdout>) -> Events {
    Arc::new(move |event: &Event| {
        if let Ok(line) = serde_json::to_string(event) {
            stdout.line(&line);
        }
    })
}

/// `msa-migrate backfill`.
pub(crate) fn backfill(args: BackfillArgs) -> anyhow::Result<Outcome> {
    let Resolved {
        source,
        target,
        tables,
        mapping,
        map_file,
    } = resolve(&args.data)?;
    let replicas = args
        .replica
        .iter()
        .map(|r| Dsn::parse(r, Side::Source).map_err(|e| anyhow!("--replica: {e}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let plan = BackfillPlan {
        source,
        target,
        tables,
        mapping,
        options: CopyOptions {
            jobs: args.jobs.max(1),
            ranges: usize::try_from(args.ranges).unwrap_or(1),
            rows_per_second: args.rows_per_second,
            throttle: ThrottleOptions {
                max_latency: args.max_source_latency,
                probe_query: args.probe_query.clone(),
                max_replica_lag: args.max_replica_lag,
                replicas,
                interval: args.throttle_interval,
            },
            chunk_time: args.chunk_time,
            max_chunk: args.max_chunk.max(1),
            restart: args.restart,
            dry_run: args.dry_run,
            create_schema: args.create_schema,
            follow: args.follow.then(|| FollowOptions {
                column: args.updated_at.clone(),
                overlap: args.overlap,
                interval: args.follow_interval,
                sweep_rows: usize::try_from(args.sweep_rows).unwrap_or(usize::MAX),
            }),
            ..CopyOptions::default()
        },
    };
    let stdout = Arc::new(Stdout::default());
    let events: Events = if args.progress.is_json() {
        json_events(stdout.clone())
    } else if args.progress.bars(std::io::stderr().is_terminal()) && !args.dry_run {
        bars()
    } else {
        Arc::new(|_: &Event| {})
    };
    let stop: Stop = Arc::new(AtomicBool::new(false));
    let report = runtime()?.block_on(async {
        stop_on_signals(&stop);
        msa_backfill::backfill(&plan, events, stop.clone()).await
    });
    let report = report.map_err(|e| explain(e, map_file.as_ref()))?;
    if report.dry_run {
        stdout.print(&report.plan);
        stdout.line("dry run: nothing was copied");
        return Ok(Outcome::Success);
    }
    if args.progress.is_json() {
        stdout.line(&serde_json::json!({"event": "summary", "tables": report.tables}).to_string());
    } else {
        for table in &report.tables {
            let what = if table.skipped {
                "already copied"
            } else {
                "copied"
            };
            stdout.line(&format!(
                "{}: {} rows {what}",
                table.table, table.rows_copied
            ));
        }
    }
    Ok(Outcome::Success)
}

/// `msa-migrate verify`.
pub(crate) fn verify(args: VerifyArgs) -> anyhow::Result<Outcome> {
    let Resolved {
        source,
        target,
        tables,
        mapping,
        map_file,
    } = resolve(&args.data)?;
    let plan = VerifyPlan {
        source,
        target,
        tables,
        mapping,
        repair: args.repair,
        restart: args.restart,
        chunk_rows: args.chunk_rows.max(1),
        range_time: args.range_time,
        jobs: args.jobs.max(1),
    };
    let stop: Stop = Arc::new(AtomicBool::new(false));
    let report = runtime()?
        .block_on(async {
            stop_on_signals(&stop);
            msa_backfill::verify(&plan, Arc::new(|_: &Event| {}), stop.clone()).await
        })
        .map_err(|e| explain(e, map_file.as_ref()))?;
    let stdout = Stdout::default();
    if args.format.is_json() {
        stdout.line(&serde_json::to_string_pretty(&report)?);
    } else {
        stdout.print(&table(&report, args.repair));
    }
    Ok(if report.clean {
        Outcome::Success
    } else {
        Outcome::NotReady
    })
}

/// Per table: rows checked and each mismatching key; then a summary line.
fn table(report: &VerifyReport, repair: bool) -> String {
    let mut out = String::new();
    for t in &report.tables {
        let _ = writeln!(
            out,
            "{}: {} rows checked in {} chunks{}; {} missing, {} extra, {} different{}",
            t.table,
            t.rows_checked,
            t.chunks,
            if t.resumed { " (resumed)" } else { "" },
            t.missing_rows,
            t.extra_rows,
            t.different_rows,
            if repair && t.repaired > 0 {
                format!("; {} repaired, {} left", t.repaired, t.remaining)
            } else {
                String::new()
            }
        );
        for row in &t.missing {
            let _ = writeln!(out, "  missing   {}", row.key);
        }
        for row in &t.extra {
            let _ = writeln!(out, "  extra     {}", row.key);
        }
        for row in &t.different {
            let columns: Vec<String> = row
                .columns
                .iter()
                .map(|c| format!("{}: source {} target {}", c.column, c.source, c.target))
                .collect();
            let _ = writeln!(out, "  different {}  {}", row.key, columns.join("; "));
        }
        if t.mismatches
            > i64::try_from(t.missing.len() + t.extra.len() + t.different.len()).unwrap_or(0)
        {
            let _ = writeln!(
                out,
                "  … {} mismatches in all (the first {} of each kind are listed)",
                t.mismatches,
                msa_backfill::DETAILS
            );
        }
    }
    let _ = writeln!(
        out,
        "{}: {} rows checked, {} mismatching",
        if report.clean { "clean" } else { "DIFFERENT" },
        report.rows_checked,
        report.mismatches
    );
    out
}
