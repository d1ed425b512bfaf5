use std::collections::BTreeMap;
use std::time::Duration;

use sqlx::{AssertSqlSafe, Connection, PgConnection};

use super::*;

fn change(route: &str, before: Option<Stage>, stage: Stage) -> Change {
    let mut entry = AuditEntry::now("alice", "set_stage");
    entry.route = Some(route.into());
    entry.before = before;
    entry.after = Some(stage);
    Change {
        route: route.into(),
        stage,
        entry,
    }
}

#[tokio::test]
async fn stages_survive_a_new_store_and_every_change_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::new(
        dir.path().join("state.json"),
        dir.path().join("audit.jsonl"),
    );
    assert_eq!(store.load().await.unwrap(), Saved::default(), "no file yet");

    let first = change(
        "coupon-read",
        Some(Stage::Legacy),
        Stage::Canary { weight_bp: 500 },
    );
    assert_eq!(store.apply(vec![first.clone()]).await.unwrap(), 1);
    store
        .audit(AuditEntry::now("sighup", "reload"))
        .await
        .unwrap();
    assert_eq!(
        store
            .apply(vec![change("coupon-issue", None, Stage::Shadow)])
            .await
            .unwrap(),
        2
    );

    let reopened = FileStore::new(
        dir.path().join("state.json"),
        dir.path().join("audit.jsonl"),
    );
    let mut stages = BTreeMap::new();
    stages.insert("coupon-read".to_owned(), Stage::Canary { weight_bp: 500 });
    stages.insert("coupon-issue".to_owned(), Stage::Shadow);
    assert_eq!(reopened.load().await.unwrap(), Saved { version: 2, stages });
    let entries = reopened.audit_log().await.unwrap();
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[0], first.entry);
    assert_eq!(entries[1].action, "reload");
    assert_eq!(entries[2].route.as_deref(), Some("coupon-issue"));
}

#[tokio::test]
async fn a_state_file_from_before_versions_still_loads() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("state.json"),
        r#"{"routes": {"x": {"mode": "cutover"}}}"#,
    )
    .unwrap();
    let store = open(dir.path().join("state.json").to_str().unwrap(), None).unwrap();
    let saved = store.load().await.unwrap();
    assert_eq!((saved.version, saved.stages["x"]), (0, Stage::Cutover));
}

#[tokio::test]
async fn a_corrupt_state_file_is_refused_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("state.json"),
        "{\"routes\": {\"x\": {\"mode\": \"sideways\"}}}",
    )
    .unwrap();
    let store = FileStore::new(
        dir.path().join("state.json"),
        dir.path().join("audit.jsonl"),
    );
    let err = store.load().await.unwrap_err().to_string();
    assert!(err.contains("move it away"), "{err}");
}

#[tokio::test]
async fn file_records_are_taken_once_and_locks_are_exclusive() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path().join("s.json").to_str().unwrap(), None).unwrap();
    assert_eq!(store.record("canary/coupon").await.unwrap(), None);
    store
        .put_record("canary/coupon", "{\"step\":1}".into())
        .await
        .unwrap();
    assert_eq!(
        store.record("canary/coupon").await.unwrap().as_deref(),
        Some("{\"step\":1}")
    );
    assert!(store.take_record("canary/coupon").await.unwrap().is_some());
    assert_eq!(store.take_record("canary/coupon").await.unwrap(), None);

    // Appends from several writers queue up, in order, and are taken together.
    let other = open(dir.path().join("s.json").to_str().unwrap(), None).unwrap();
    store
        .append_record("canary/coupon/requests", "pause")
        .await
        .unwrap();
    other
        .append_record("canary/coupon/requests", "resume\n")
        .await
        .unwrap();
    assert_eq!(
        store
            .take_record("canary/coupon/requests")
            .await
            .unwrap()
            .as_deref(),
        Some("pause\nresume\n")
    );
    other
        .append_record("canary/coupon/requests", "abort")
        .await
        .unwrap();
    assert_eq!(
        store
            .take_record("canary/coupon/requests")
            .await
            .unwrap()
            .as_deref(),
        Some("abort\n")
    );

    let held = store.try_lock("canary/coupon").await.unwrap();
    assert!(held.is_some());
    let other = open(dir.path().join("s.json").to_str().unwrap(), None).unwrap();
    assert!(other.try_lock("canary/coupon").await.unwrap().is_none());
    assert!(other.try_lock("canary/order").await.unwrap().is_some());
    drop(held);
    assert!(other.try_lock("canary/coupon").await.unwrap().is_some());
}

#[test]
fn a_location_is_a_file_or_a_postgres_url_and_passwords_are_masked() {
    assert!(is_postgres("postgres://u@h/db"));
    assert!(is_postgres("postgresql://u@h/db"));
    assert!(!is_postgres("state.json"));
    let err = open("mysql://root:hunter2@h/db", None)
        .unwrap_err()
        .to_string();
    assert!(!err.contains("hunter2"), "{err}");
    assert_eq!(
        masked("postgres://alice:hunter2@db/state"),
        "postgres://alice:***@db/state"
    );
}

/// A fresh database on the test server (MSA_TEST_PG_URL), dropped afterwards.
pub(crate) struct FreshDatabase {
    admin: String,
    name: String,
    pub(crate) url: String,
}

impl FreshDatabase {
    pub(crate) async fn create() -> Self {
        let admin = std::env::var("MSA_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let name = format!("msa_state_{}_{}", std::process::id(), fastrand::u32(..));
        let mut conn = PgConnection::connect(&admin).await.unwrap_or_else(|err| {
            panic!("PostgreSQL is not reachable at {admin} ({err}); start it, set MSA_TEST_PG_URL, or run `bash .ci/run`")
        });
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .unwrap();
        let mut url = url::Url::parse(&admin).unwrap();
        url.set_path(&name);
        Self {
            admin,
            name,
            url: url.to_string(),
        }
    }

    pub(crate) async fn drop_it(self) {
        let mut conn = PgConnection::connect(&self.admin).await.unwrap();
        let statement = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        sqlx::raw_sql(AssertSqlSafe(statement))
            .execute(&mut conn)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn postgres_changes_are_versioned_announced_and_audited() {
    let database = FreshDatabase::create().await;
    let writer = open(&database.url, None).unwrap();
    let follower = open(&database.url, None).unwrap();
    assert_eq!(follower.load().await.unwrap(), Saved::default());
    let mut announced = follower.changes();
    // The listener connects in the background; give it a moment.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let version = writer
        .apply(vec![
            change("coupon-read", None, Stage::Canary { weight_bp: 100 }),
            change("coupon-issue", None, Stage::Canary { weight_bp: 100 }),
        ])
        .await
        .unwrap();
    assert_eq!(version, 1);
    tokio::time::timeout(Duration::from_secs(2), announced.changed())
        .await
        .expect("the change is announced")
        .unwrap();
    assert_eq!(*announced.borrow_and_update(), 1);
    let saved = follower.load().await.unwrap();
    assert_eq!(saved.version, 1);
    assert_eq!(
        saved.stages["coupon-issue"],
        Stage::Canary { weight_bp: 100 }
    );

    // Concurrent writers get distinct, increasing versions.
    let (a, b) = tokio::join!(
        writer.apply(vec![change("coupon-read", None, Stage::Cutover)]),
        follower.apply(vec![change("coupon-issue", None, Stage::Legacy)]),
    );
    let mut versions = [a.unwrap(), b.unwrap()];
    versions.sort_unstable();
    assert_eq!(versions, [2, 3]);
    let log = writer.audit_log().await.unwrap();
    assert_eq!(log.len(), 4, "{log:?}");
    assert_eq!(log[0].route.as_deref(), Some("coupon-read"));

    // Records and advisory locks.
    writer
        .put_record("canary/coupon", "a".into())
        .await
        .unwrap();
    writer
        .put_record("canary/coupon", "b".into())
        .await
        .unwrap();
    assert_eq!(
        follower
            .take_record("canary/coupon")
            .await
            .unwrap()
            .as_deref(),
        Some("b")
    );
    assert_eq!(follower.take_record("canary/coupon").await.unwrap(), None);
    // Concurrent appends are all kept: none overwrites another.
    let appends: Vec<_> = (0..20)
        .map(|i| {
            let store = if i % 2 == 0 { &writer } else { &follower };
            store.append_record("canary/coupon/requests", &format!("r{i}"))
        })
        .collect();
    for done in futures::future::join_all(appends).await {
        done.unwrap();
    }
    let queued = follower
        .take_record("canary/coupon/requests")
        .await
        .unwrap()
        .unwrap();
    let mut lines: Vec<&str> = queued.lines().collect();
    lines.sort_unstable();
    let mut expected: Vec<String> = (0..20).map(|i| format!("r{i}")).collect();
    expected.sort_unstable();
    assert_eq!(lines, expected);
    let mut lock = writer
        .try_lock("canary/coupon")
        .await
        .unwrap()
        .expect("free");
    assert!(lock.check().await);
    assert!(follower.try_lock("canary/coupon").await.unwrap().is_none());
    drop(lock);
    // The session ends asynchronously; the lock frees with it.
    let mut freed = false;
    for _ in 0..50 {
        if follower.try_lock("canary/coupon").await.unwrap().is_some() {
            freed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(freed, "a dropped lock is released");
    drop((writer, follower));
    database.drop_it().await;
}
