//! The shadow store on PostgreSQL: results of a proxy reach a shared
//! database and a report reads them back.

use msa_proxy::shadow_store::ShadowStore;
use sqlx::{AssertSqlSafe, Connection, PgConnection};

use crate::support::{Running, Upstream, client, eventually};

/// A fresh database on the test server (MSA_TEST_PG_URL), dropped afterwards.
struct FreshDatabase {
    admin: String,
    name: String,
    url: String,
}

impl FreshDatabase {
    async fn create() -> Self {
        let admin = std::env::var("MSA_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let name = format!("msa_shadow_{}_{}", std::process::id(), fastrand::u32(..));
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

    async fn drop_it(self) {
        let mut conn = PgConnection::connect(&self.admin).await.unwrap();
        let statement = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        sqlx::raw_sql(AssertSqlSafe(statement))
            .execute(&mut conn)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn shadow_results_are_kept_in_postgresql_and_survive_a_restart() {
    let database = FreshDatabase::create().await;
    let (legacy, coupon) = (
        Upstream::start("legacy").await,
        Upstream::start("coupon").await,
    );
    let yaml = format!(
        "listen: 127.0.0.1:0\nworkers: 1\nlegacy: legacy\nstate:\n  shadow_store: {}\nupstreams:\n  legacy:\n    endpoints: [{}]\n  coupon:\n    endpoints: [{}]\nroutes:\n  - name: coupons\n    prefix: /api/coupons\n    upstream: coupon\n    mode: shadow\n",
        database.url, legacy.addr, coupon.addr
    );
    // Rows of two other replicas: one gone for weeks (a pod of an earlier
    // rollout), pruned when the proxy starts; one written a moment ago, kept.
    ShadowStore::open(std::path::Path::new(&database.url))
        .await
        .unwrap();
    let mut conn = PgConnection::connect(&database.url).await.unwrap();
    let fresh = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
    for (replica, route, compared, at) in [
        ("proxy-gone", "coupons", 100, "2020-01-01T00:00:00.000Z"),
        ("proxy-other", "coupons", 10, fresh.as_str()),
    ] {
        sqlx::query("INSERT INTO shadow_routes (replica, route, results, updated_at) VALUES ($1, $2, $3, $4)")
            .bind(replica)
            .bind(route)
            .bind(serde_json::json!({"compared": compared, "equal": compared}).to_string())
            .bind(at)
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let proxy = Running::start(&yaml, None).await;
    for id in 0..4 {
        let response = client()
            .get(format!("http://{}/api/coupons/{id}", proxy.addr))
            .send()
            .await
            .unwrap();
        response.bytes().await.unwrap();
    }
    let dir = std::sync::Arc::clone(&proxy.dir);
    // Once the copies are compared, stop: the final save happens on the way out.
    eventually(&proxy, |r| r["compared"] == 4).await;
    proxy.stop().await;

    let store = ShadowStore::open_existing(std::path::Path::new(&database.url))
        .await
        .unwrap();
    let report = store.report(Some("coupons")).await.unwrap();
    assert_eq!(
        report["routes"][0]["compared"], 14,
        "this replica's 4 and the other live replica's 10; the gone one's pruned: {report}"
    );
    let replicas: Vec<(String,)> = sqlx::query_as(
        "SELECT replica FROM shadow_routes WHERE replica LIKE 'proxy-%' ORDER BY replica",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(replicas, [("proxy-other".to_owned(),)]);
    drop(conn);

    let restarted = Running::start(&yaml, Some(dir)).await;
    let response = client()
        .get(format!("http://{}/api/coupons/9", restarted.addr))
        .send()
        .await
        .unwrap();
    response.bytes().await.unwrap();
    eventually(&restarted, |r| r["compared"] == 5).await;
    restarted.stop().await;
    let report = store.report(Some("coupons")).await.unwrap();
    assert_eq!(
        report["routes"][0]["compared"], 15,
        "restored, then counted on: {report}"
    );
    drop(store);
    database.drop_it().await;
}
