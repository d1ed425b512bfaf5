//! `--follow`: inserts, updates and deletes made during the copy and after it
//! reach the target; verify is clean once the follower has caught up.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use msa_backfill::{Event, FollowOptions, Side, backfill, catch_up_lag, verify};
use msa_playbook::mapping::Mapping;

use crate::support::{Kind, TestDb, backfill_plan, no_stop, quiet, verify_plan};

/// The source's current time, written the way its applications write it.
fn now(kind: Kind) -> &'static str {
    match kind {
        Kind::MySql => "NOW(6)",
        Kind::Postgres => "now()",
        // sqlx's own encoding of an instant, as the example services write it.
        Kind::Sqlite => "strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')",
    }
}

async fn churn(source: &TestDb, round: u64) {
    let now = now(source.kind);
    let base = 10_000 + round * 10;
    source
        .exec(&format!(
            "INSERT INTO accounts (id, owner, balance, updated_at) VALUES ({base}, 'new {round}', {round}, {now}), ({}, 'new', 1, {now});\n\
             UPDATE accounts SET balance = balance + 1, updated_at = {now} WHERE id % 50 = {};\n\
             DELETE FROM accounts WHERE id = {};",
            base + 1,
            round % 50,
            round * 37 % 3000
        ))
        .await;
}

async fn follow_while_writing(kind: Kind) {
    let source = TestDb::new(kind).await;
    let target = TestDb::new(Kind::Postgres).await;
    let ts = if kind == Kind::MySql {
        "DATETIME(6)"
    } else {
        "TIMESTAMPTZ"
    };
    source
        .exec(&format!(
            "CREATE TABLE accounts (id BIGINT NOT NULL PRIMARY KEY, owner VARCHAR(40) NOT NULL, balance BIGINT NOT NULL, updated_at {ts} NOT NULL);\n\
             CREATE INDEX accounts_updated ON accounts (updated_at);"
        ))
        .await;
    let start = if kind == Kind::Sqlite {
        "2026-01-01T00:00:00+00:00"
    } else {
        "2026-01-01 00:00:00"
    };
    let rows: Vec<String> = (0..3000)
        .map(|i| format!("({i}, 'owner {i}', {i}, '{start}')"))
        .collect();
    source
        .exec(&format!("INSERT INTO accounts VALUES {}", rows.join(", ")))
        .await;
    target
        .exec("CREATE TABLE accounts (id BIGINT PRIMARY KEY, owner TEXT NOT NULL, balance BIGINT NOT NULL, updated_at TIMESTAMPTZ NOT NULL)")
        .await;
    let mut plan = backfill_plan(&source, &target, &["accounts"], Mapping::default());
    plan.options.initial_chunk = 100;
    plan.options.max_chunk = 100;
    plan.options.follow = Some(FollowOptions {
        interval: Duration::from_millis(200),
        sweep_rows: 500,
        ..FollowOptions::default()
    });
    let stop = no_stop();
    let passes = Arc::new(AtomicUsize::new(0));
    let seen = passes.clone();
    let events: msa_backfill::Events = Arc::new(move |e: &Event| {
        if matches!(e, Event::Lag { .. }) {
            seen.fetch_add(1, Ordering::SeqCst);
        }
    });
    let running = tokio::spawn({
        let (plan, stop) = (plan.clone(), stop.clone());
        async move { backfill(&plan, events, stop).await }
    });
    // Writes during the copy and while following.
    for round in 0..30 {
        churn(&source, round).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Let the follower finish a full sweep (3000 keys / 500 per pass) after the last write.
    let after = passes.load(Ordering::SeqCst);
    for _ in 0..200 {
        if passes.load(Ordering::SeqCst) >= after + 8 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let lag = catch_up_lag(&target.dsn(Side::Target), &["accounts".to_owned()])
        .await
        .expect("lag");
    if lag.is_empty() || running.is_finished() {
        panic!(
            "the follower is not following; the backfill ended with {:?}",
            running.await
        );
    }
    assert_eq!(lag[0].status, "following");
    assert!(lag[0].lag_seconds.is_some_and(|s| s < 60), "{lag:?}");
    stop.store(true, Ordering::SeqCst);
    let report = running
        .await
        .expect("joined")
        .expect("the follower stops cleanly");
    assert_eq!(report.tables.len(), 1);
    assert!(passes.load(Ordering::SeqCst) >= 8);
    let verified = verify(
        &verify_plan(&source, &target, &["accounts"], Mapping::default(), false),
        quiet(),
        no_stop(),
    )
    .await
    .expect("verify");
    assert!(verified.clean, "{verified:#?}");
    assert_eq!(
        target.count("accounts").await,
        source.count("accounts").await
    );
    // Deletes arrived: row 37 was deleted in round 1.
    assert_eq!(
        target
            .text("SELECT CAST(COUNT(*) AS TEXT) FROM accounts WHERE id = 37")
            .await
            .as_deref(),
        Some("0")
    );
    // Following again resumes from the checkpoint's watermark: one pass, then stop.
    churn(&source, 99).await;
    let stop = no_stop();
    let flag = stop.clone();
    let events: msa_backfill::Events = Arc::new(move |e: &Event| {
        if matches!(e, Event::Lag { .. }) {
            flag.store(true, Ordering::SeqCst);
        }
    });
    if let Some(follow) = plan.options.follow.as_mut() {
        follow.sweep_rows = 100_000;
    }
    let again = backfill(&plan, events, stop)
        .await
        .expect("resumes and stops");
    assert!(again.tables[0].skipped, "the copy is not redone");
    let verified = verify(
        &verify_plan(&source, &target, &["accounts"], Mapping::default(), false),
        quiet(),
        no_stop(),
    )
    .await
    .expect("verify");
    assert!(verified.clean, "{verified:#?}");
    assert_eq!(
        target
            .text("SELECT owner FROM accounts WHERE id = 10990")
            .await
            .as_deref(),
        Some("new 99")
    );
}

#[tokio::test]
async fn changes_during_copy_and_catch_up_reach_the_target_from_mariadb() {
    follow_while_writing(Kind::MySql).await;
}

#[tokio::test]
async fn changes_during_copy_and_catch_up_reach_the_target_from_postgres() {
    follow_while_writing(Kind::Postgres).await;
}

#[tokio::test]
async fn changes_during_copy_and_catch_up_reach_the_target_from_sqlite() {
    follow_while_writing(Kind::Sqlite).await;
}

/// Lag is the age of the oldest change not yet applied, by the source's
/// clock: 0 on an idle, caught-up source however old its rows, the age of a
/// change when one arrives, and 0 again once it is applied.
#[tokio::test]
async fn lag_stays_zero_on_an_idle_source_and_measures_a_waiting_change() {
    let source = TestDb::new(Kind::Postgres).await;
    let target = TestDb::new(Kind::Postgres).await;
    let ddl = "CREATE TABLE accounts (id BIGINT PRIMARY KEY, owner TEXT NOT NULL, updated_at TIMESTAMPTZ NOT NULL)";
    source.exec(ddl).await;
    target.exec(ddl).await;
    source
        .exec("INSERT INTO accounts SELECT i, 'owner ' || i, '2020-01-01 00:00:00+00' FROM generate_series(1, 100) i")
        .await;
    let mut plan = backfill_plan(&source, &target, &["accounts"], Mapping::default());
    plan.options.follow = Some(FollowOptions {
        interval: Duration::from_millis(100),
        ..FollowOptions::default()
    });
    let lags = Arc::new(parking_lot::Mutex::new(Vec::<(i64, usize)>::new()));
    let events: msa_backfill::Events = {
        let lags = lags.clone();
        Arc::new(move |e: &Event| {
            if let Event::Lag {
                seconds, applied, ..
            } = e
            {
                lags.lock().push((*seconds, *applied));
            }
        })
    };
    let stop = no_stop();
    let running = tokio::spawn({
        let (plan, stop) = (plan.clone(), stop.clone());
        async move { backfill(&plan, events, stop).await }
    });
    let passes = |n: usize| {
        let lags = lags.clone();
        async move {
            for _ in 0..600 {
                if lags.lock().len() >= n {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!("fewer than {n} follow passes");
        }
    };
    // Idle: the watermark is six years old, the lag is 0, pass after pass.
    passes(5).await;
    assert!(
        lags.lock().iter().all(|(s, _)| *s == 0),
        "{:?}",
        lags.lock()
    );
    let lag = catch_up_lag(&target.dsn(Side::Target), &["accounts".to_owned()])
        .await
        .expect("lag");
    assert_eq!(lag[0].lag_seconds, Some(0));
    // A change written 30 s ago (by the source's clock) waits for the next pass.
    let seen = lags.lock().len();
    source
        .exec("INSERT INTO accounts VALUES (101, 'late', now() - interval '30 seconds')")
        .await;
    // (Every pass re-applies the overlap window too: `applied` is never 0 here.)
    let mut waited = None;
    for _ in 0..600 {
        waited = lags.lock()[seen..].iter().copied().find(|(s, _)| *s > 0);
        if waited.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (seconds, _) = waited.expect("the pass that applies the change reports its age");
    assert!(
        (30..150).contains(&seconds),
        "lag {seconds} s for a 30 s old change"
    );
    // Applied: caught up again.
    let applied_at = lags.lock().len();
    passes(applied_at + 2).await;
    assert_eq!(
        lags.lock().last().map(|(s, _)| *s),
        Some(0),
        "{:?}",
        lags.lock()
    );
    stop.store(true, Ordering::SeqCst);
    running.await.expect("joined").expect("stops cleanly");
    assert_eq!(
        target
            .text("SELECT owner FROM accounts WHERE id = 101")
            .await
            .as_deref(),
        Some("late")
    );
}
