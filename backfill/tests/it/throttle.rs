//! Throttling that protects the source: while the probe query is slower than
//! its limit, no chunk is read; once it is fast again, the copy finishes.
//! Driven by events and a knob in the source, not by timing.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use msa_backfill::{Event, backfill};
use msa_playbook::mapping::Mapping;

use crate::support::{Kind, TestDb, backfill_plan, no_stop};

/// Waits until `done` holds, for at most `within`.
async fn until(within: Duration, done: impl Fn() -> bool) -> bool {
    let begun = Instant::now();
    while !done() {
        if begun.elapsed() > within {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    true
}

#[tokio::test]
async fn a_slow_probe_stalls_the_copy_until_the_source_recovers() {
    let source = TestDb::new(Kind::Postgres).await;
    let target = TestDb::new(Kind::Sqlite).await;
    // The probe sleeps as long as the knob says: 1 s, four times its limit.
    source
        .exec(
            "CREATE TABLE knob (delay DOUBLE PRECISION NOT NULL); INSERT INTO knob VALUES (1.0);\n\
             CREATE TABLE t (id BIGINT PRIMARY KEY, v TEXT NOT NULL);\n\
             INSERT INTO t SELECT i, 'v' || i FROM generate_series(1, 500) i;",
        )
        .await;
    target
        .exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
        .await;
    let mut plan = backfill_plan(&source, &target, &["t"], Mapping::default());
    plan.options.initial_chunk = 100;
    plan.options.max_chunk = 100;
    plan.options.throttle.max_latency = Some(Duration::from_millis(250));
    plan.options.throttle.probe_query = "SELECT pg_sleep((SELECT delay FROM knob))".to_owned();
    plan.options.throttle.interval = Duration::from_millis(100);
    let (paused, resumed, chunks) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let reasons = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let events: msa_backfill::Events = {
        let (paused, resumed, chunks, reasons) = (
            paused.clone(),
            resumed.clone(),
            chunks.clone(),
            reasons.clone(),
        );
        Arc::new(move |e: &Event| match e {
            Event::Paused { reason, .. } => {
                paused.fetch_add(1, Ordering::SeqCst);
                reasons.lock().push(reason.clone());
            }
            Event::Resumed { .. } => {
                resumed.fetch_add(1, Ordering::SeqCst);
            }
            Event::Progress { .. } => {
                chunks.fetch_add(1, Ordering::SeqCst);
            }
            _ => {}
        })
    };
    let running = tokio::spawn(async move { backfill(&plan, events, no_stop()).await });
    // Three failed checks in a row: the copy has had every chance to move.
    assert!(
        until(Duration::from_secs(60), || paused.load(Ordering::SeqCst)
            >= 3)
        .await,
        "the copy never paused"
    );
    assert_eq!(chunks.load(Ordering::SeqCst), 0, "no chunk while paused");
    assert_eq!(target.count("t").await, 0, "no row moved while paused");
    assert!(
        reasons.lock()[0].starts_with("the source's probe query took ")
            && reasons.lock()[0].ends_with(" ms (limit 250 ms)"),
        "{:?}",
        reasons.lock()
    );
    // The source recovers: the copy resumes and finishes.
    source.exec("UPDATE knob SET delay = 0").await;
    let report = tokio::time::timeout(Duration::from_secs(120), running)
        .await
        .expect("the copy finishes once the probe is fast")
        .expect("joined")
        .expect("copies");
    assert_eq!(report.tables[0].rows_copied, 500);
    assert_eq!(target.count("t").await, 500);
    assert!(
        resumed.load(Ordering::SeqCst) >= 1,
        "the end of the pause is reported"
    );
}
