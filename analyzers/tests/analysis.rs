//! Whole analyses of real source trees: the example monolith and the Rust
//! fixture; schema introspection on SQLite, PostgreSQL and MariaDB.

use std::path::{Path, PathBuf};

use msa_analyzers::domains::DomainSpec;
use msa_analyzers::facts::{Access, FileFacts};
use msa_analyzers::model::{EdgeKind, FindingKind, Provenance};
use msa_analyzers::{Analysis, Extra, analyze, frontends, scan};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn facts_of(source: &Path) -> Vec<FileFacts> {
    let files = scan::source_files(source).unwrap();
    scan::extract_all(&files, &|| {})
}

fn example_domains() -> DomainSpec {
    let path = fixture("legacy-commerce-domains.yaml");
    DomainSpec::parse(
        "legacy-commerce-domains.yaml",
        &std::fs::read_to_string(path).unwrap(),
    )
    .unwrap()
}

fn legacy_commerce(domains: Option<DomainSpec>) -> Analysis {
    let source = workspace().join("examples/legacy-commerce");
    analyze(
        facts_of(&source),
        Extra {
            source: "examples/legacy-commerce".into(),
            domains,
            ..Extra::default()
        },
    )
}

#[test]
fn rust_frontend_finds_routes_functions_sql_and_transactions() {
    let facts = facts_of(&fixture("rust-axum"));
    insta::assert_yaml_snapshot!("rust_axum_facts", facts);
}

#[test]
fn rust_frontend_reads_macro_bodies() {
    let source = r#"
async fn place(db: &Db) -> Result<(), E> {
    with_pool!(db, |pool| {
        let mut tx = pool.begin_write().await?;
        sqlx::query(db.sql("UPDATE points SET balance = balance - ? WHERE user_id = ?"))
            .execute(&mut *tx)
            .await?;
        helper(&mut tx).await?;
        tx.commit().await?;
    });
    Ok(())
}
"#;
    let rust = frontends::all()
        .into_iter()
        .find(|f| f.accepts(Path::new("src/orders.rs")))
        .expect("a Rust frontend");
    let facts = rust.extract("src/orders.rs", source);
    assert_eq!(facts.functions.len(), 1);
    assert!(facts.functions[0].transactional, "{facts:?}");
    assert_eq!(facts.sql.len(), 1);
    assert_eq!(
        facts.sql[0].line, 5,
        "lines inside a macro body are the file's lines"
    );
    assert_eq!(
        facts.sql[0].function.as_deref(),
        Some("crate::orders::place")
    );
    assert!(
        facts.calls.iter().any(|c| c.to == "crate::orders::helper"),
        "{:?}",
        facts.calls
    );
}

/// Issue #5: the example's order placement is one transaction spanning the
/// product, coupon, point, payment and order tables, entered by POST /api/orders.
#[test]
fn order_placement_is_one_transaction_across_every_domain() {
    let analysis = legacy_commerce(Some(example_domains()));
    let place = analysis
        .transactions
        .iter()
        .find(|t| t.entry_routes.iter().any(|r| r == "POST /api/orders"))
        .expect("the order transaction");
    assert_eq!(place.function, "crate::orders::place_once");
    assert_eq!(
        place.call_path,
        ["crate::orders::place", "crate::orders::place_once"]
    );
    let written: Vec<&str> = place
        .tables
        .iter()
        .filter(|t| t.access == Access::Write)
        .map(|t| t.table.as_str())
        .collect();
    for table in [
        "products",
        "user_coupons",
        "points",
        "point_history",
        "payments",
        "orders",
        "order_items",
    ] {
        assert!(written.contains(&table), "{table} not written: {written:?}");
    }
    assert_eq!(
        place.domains,
        ["coupon", "order", "payment", "point", "product", "user"]
    );
    let finding = analysis
        .findings
        .iter()
        .find(|f| {
            f.kind == FindingKind::CrossDomainTransaction
                && f.subject.starts_with("POST /api/orders")
        })
        .expect("a saga finding");
    assert!(
        finding.suggestion.starts_with("Saga"),
        "{}",
        finding.suggestion
    );
}

#[test]
fn legacy_commerce_against_declared_domains() {
    let analysis = legacy_commerce(Some(example_domains()));
    let summary = serde_json::json!({
        "domains": analysis.domains.iter().map(|d| serde_json::json!({
            "name": d.name, "modules": d.modules, "tables": d.tables, "routes": d.routes,
            "metrics": d.metrics,
        })).collect::<Vec<_>>(),
        "unassigned": analysis.unassigned,
        "metrics": analysis.metrics,
        "transactions": analysis.transactions,
        "findings": analysis.findings.iter().map(|f| serde_json::json!({
            "kind": f.kind, "domains": f.domains, "subject": f.subject, "detail": f.detail,
        })).collect::<Vec<_>>(),
        "unresolved_sql": analysis.unresolved_sql,
    });
    insta::assert_yaml_snapshot!("legacy_commerce_declared", summary);
}

#[test]
fn proposed_domains_are_deterministic_and_explained() {
    let first = legacy_commerce(None);
    let second = legacy_commerce(None);
    assert_eq!(first, second);
    assert!(first.domains.len() >= 2, "{:?}", first.domains);
    for d in &first.domains {
        assert!(!d.reasons.is_empty());
        for item in d
            .modules
            .iter()
            .map(|m| format!("module:{m}"))
            .chain(d.tables.iter().map(|t| format!("table:{t}")))
        {
            assert!(
                d.reasons.iter().any(|r| r.item == item),
                "{item} has no reason"
            );
        }
    }
    // The proposal loads back as a domains file and gives the same partition.
    let yaml = msa_analyzers::report::domains_yaml(&first);
    let spec = DomainSpec::parse("domains.yaml", &yaml).unwrap();
    let declared = legacy_commerce(Some(spec));
    let names = |a: &Analysis| {
        a.domains
            .iter()
            .map(|d| (d.name.clone(), d.modules.clone(), d.tables.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&first), names(&declared));
}

#[test]
fn reports_render_every_part() {
    let analysis = legacy_commerce(Some(example_domains()));
    let md = msa_analyzers::report::markdown(&analysis);
    assert!(md.contains("```mermaid"), "{md}");
    assert!(md.contains("### `crate::orders::place_once`"), "{md}");
    assert!(md.contains("Transactions spanning domains"), "{md}");
    let html = msa_analyzers::report::html(&analysis);
    assert_eq!(external_references(&html), Vec::<String>::new());
    assert!(html.contains("data-domain=\"order\""));
    let dir = tempfile::tempdir().unwrap();
    msa_analyzers::report::write_all(&analysis, dir.path()).unwrap();
    let mut written: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    assert_eq!(
        written,
        ["analysis.json", "domains.yaml", "report.html", "report.md"]
    );
    let back: Analysis =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("analysis.json")).unwrap())
            .unwrap();
    assert_eq!(back.schema_version, msa_analyzers::model::SCHEMA_VERSION);
    assert_eq!(back.transactions, analysis.transactions);
}

/// What a page would fetch from elsewhere: `src`/`href`/`action`/`url(…)`/
/// `@import` naming an http(s) or protocol-relative URL, `<link>` tags, and
/// any http(s) URL in the text but the SVG namespace (an identifier, never
/// fetched).
fn external_references(html: &str) -> Vec<String> {
    const SVG_NAMESPACE: &str = "http://www.w3.org/2000/svg";
    let lower = html.to_ascii_lowercase();
    let mut found = Vec::new();
    for scheme in ["http://", "https://"] {
        for (at, _) in lower.match_indices(scheme) {
            let url: String = html[at..]
                .chars()
                .take_while(|c| !matches!(c, '"' | '\'' | ' ' | ')' | '<' | '>'))
                .collect();
            if url != SVG_NAMESPACE {
                found.push(url);
            }
        }
    }
    for attribute in ["src=", "href=", "action=", "url(", "@import"] {
        for (at, _) in lower.match_indices(attribute) {
            let value = lower[at + attribute.len()..].trim_start_matches(['"', '\'', ' ']);
            if value.starts_with("//") || value.starts_with("http") {
                found.push(html[at..].chars().take(60).collect());
            }
        }
    }
    if lower.contains("<link") {
        found.push("<link>".to_owned());
    }
    found
}

#[test]
fn the_self_containment_check_catches_a_cdn() {
    for page in [
        r#"<script src="https://cdn.jsdelivr.net/npm/d3@7"></script>"#,
        r#"<img src='//cdn.example.com/logo.png'>"#,
        r#"<link rel="stylesheet" href="/style.css">"#,
        "<style>@import 'https://fonts.example.com/x.css';</style>",
        "<style>body { background: url(http://example.com/bg.png) }</style>",
    ] {
        assert!(!external_references(page).is_empty(), "{page}");
    }
    let svg = r##"<svg xmlns="http://www.w3.org/2000/svg"></svg><a href="#findings">"##;
    assert_eq!(external_references(svg), Vec::<String>::new());
}

/// Issue #5: the outputs are CI artifacts; they get a new file's usual mode
/// (0666 less the umask), not a temporary file's 0600.
#[cfg(unix)]
#[test]
fn outputs_have_the_permissions_of_any_new_file() {
    use std::os::unix::fs::PermissionsExt as _;
    let analysis = legacy_commerce(Some(example_domains()));
    let dir = tempfile::tempdir().unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let plain = dir.path().join("plain");
    std::fs::File::create(&plain).unwrap();
    // 0644 under the usual umask 022, where a temporary file's 0600 differs.
    let expected = mode(&plain);
    let out = dir.path().join("out");
    msa_analyzers::report::write_all(&analysis, &out).unwrap();
    for name in ["analysis.json", "domains.yaml", "report.md", "report.html"] {
        assert_eq!(
            mode(&out.join(name)),
            expected,
            "{name}: {:o}",
            mode(&out.join(name))
        );
    }
}

// ---- Schema introspection, on each engine, with a fresh database per test.

use msa_analyzers::schema::{Schema, introspect};
use sqlx::Connection;

const SCHEMA_EXTRAS_SQLITE: &str = "
CREATE VIEW IF NOT EXISTS order_totals AS SELECT user_id, SUM(paid_amount) AS paid FROM orders GROUP BY user_id;
CREATE TRIGGER IF NOT EXISTS orders_audit AFTER INSERT ON orders BEGIN UPDATE points SET updated_at = NEW.created_at WHERE user_id = NEW.user_id; END;
";

fn example_schema(engine: &str) -> String {
    std::fs::read_to_string(
        workspace().join(format!("examples/legacy-commerce/src/schema/{engine}.sql")),
    )
    .unwrap()
}

fn unique_name() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("msa_an_{}_{}", std::process::id(), nanos % 1_000_000_000)
}

fn replace_db(url: &str, name: &str) -> String {
    let (base, _) = url.rsplit_once('/').expect("a database URL");
    format!("{base}/{name}")
}

/// What every engine must report for the example's schema.
fn assert_example_schema(schema: &Schema) {
    let names: Vec<&str> = schema.tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "coupons",
            "order_items",
            "orders",
            "payments",
            "point_history",
            "points",
            "products",
            "user_coupons",
            "users"
        ]
    );
    let orders = schema.tables.iter().find(|t| t.name == "orders").unwrap();
    assert_eq!(orders.primary_key, ["id"]);
    assert!(orders.columns.iter().any(|c| c.name == "paid_amount"));
    let fk = |table: &str, column: &str| {
        schema
            .tables
            .iter()
            .find(|t| t.name == table)
            .unwrap()
            .foreign_keys
            .iter()
            .find(|f| f.column == column)
            .map(|f| {
                (
                    f.references_table.as_str(),
                    f.references_column.as_str(),
                    f.inferred,
                )
            })
    };
    assert_eq!(fk("orders", "user_id"), Some(("users", "id", false)));
    assert_eq!(fk("payments", "order_id"), Some(("orders", "id", false)));
    // Not declared, implied by the name.
    assert_eq!(fk("user_coupons", "order_id"), Some(("orders", "id", true)));
    assert_eq!(
        fk("point_history", "order_id"),
        Some(("orders", "id", true))
    );
}

/// A SQLite database in `dir` with the example's schema (plus a view and a
/// trigger), and its DSN.
async fn example_sqlite(dir: &Path) -> String {
    let dsn = format!("sqlite://{}", dir.join("shop.db").display());
    let options: sqlx::sqlite::SqliteConnectOptions = dsn.parse().unwrap();
    let mut conn = sqlx::sqlite::SqliteConnection::connect_with(&options.create_if_missing(true))
        .await
        .unwrap();
    let script = example_schema("sqlite") + SCHEMA_EXTRAS_SQLITE;
    sqlx::raw_sql(sqlx::AssertSqlSafe(script))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    dsn
}

#[tokio::test]
async fn sqlite_schema_with_keys_views_and_triggers() {
    let dir = tempfile::tempdir().unwrap();
    let dsn = example_sqlite(dir.path()).await;
    let schema = introspect(&dsn).await.unwrap();
    assert_eq!(schema.engine, "sqlite");
    assert_example_schema(&schema);
    assert_eq!(schema.views, ["order_totals"]);
    assert_eq!(
        schema.triggers,
        [("orders_audit".to_owned(), "orders".to_owned())]
    );

    // With the schema, the analysis knows every table and the keys between domains.
    let analysis = analyze(
        facts_of(&workspace().join("examples/legacy-commerce")),
        Extra {
            source: "examples/legacy-commerce".into(),
            schema: Some(schema),
            database: Some(dsn.clone()),
            domains: Some(example_domains()),
            ..Extra::default()
        },
    );
    let fks: Vec<&str> = analysis
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::CrossDomainForeignKey)
        .map(|f| f.subject.as_str())
        .collect();
    assert!(fks.contains(&"payments → orders"), "{fks:?}");
    assert!(
        fks.contains(&"user_coupons → orders"),
        "inferred keys count too: {fks:?}"
    );
    assert!(
        analysis
            .nodes
            .iter()
            .filter(|n| n.id.starts_with("table:"))
            .all(|n| n.in_schema == Some(true))
    );
}

#[tokio::test]
async fn a_missing_sqlite_file_is_an_error_not_a_new_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.db");
    let err = introspect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap_err();
    assert!(
        err.to_string().starts_with("cannot connect to sqlite://"),
        "{err}"
    );
    assert!(!path.exists(), "introspection never creates a database");
}

#[tokio::test]
async fn postgres_schema() {
    let admin = std::env::var("MSA_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let name = unique_name();
    let mut conn = sqlx::postgres::PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("cannot reach {admin} ({e}): start PostgreSQL (bash .ci/run)"));
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    let dsn = replace_db(&admin, &name);
    let result = async {
        let mut db = sqlx::postgres::PgConnection::connect(&dsn).await.unwrap();
        let script = example_schema("postgres")
            + "; CREATE VIEW order_totals AS SELECT user_id, SUM(paid_amount) AS paid FROM orders GROUP BY user_id;\
               CREATE FUNCTION touch() RETURNS trigger AS $$ BEGIN RETURN NEW; END $$ LANGUAGE plpgsql;\
               CREATE TRIGGER orders_audit AFTER INSERT ON orders FOR EACH ROW EXECUTE FUNCTION touch();";
        sqlx::raw_sql(sqlx::AssertSqlSafe(script)).execute(&mut db).await.unwrap();
        db.close().await.unwrap();
        introspect(&dsn).await
    }
    .await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {name} WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await
    .unwrap();
    let schema = result.unwrap();
    assert_eq!(schema.engine, "postgres");
    assert_example_schema(&schema);
    assert_eq!(schema.views, ["order_totals"]);
    assert_eq!(
        schema.triggers,
        [("orders_audit".to_owned(), "orders".to_owned())]
    );
    assert_eq!(schema.procedures, ["touch"]);
}

#[tokio::test]
async fn mariadb_schema() {
    let admin = std::env::var("MSA_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/mysql".to_owned());
    let name = unique_name();
    let mut conn = sqlx::mysql::MySqlConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("cannot reach {admin} ({e}): start MariaDB (bash .ci/run)"));
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    let dsn = replace_db(&admin, &name);
    let result = async {
        let mut db = sqlx::mysql::MySqlConnection::connect(&dsn).await.unwrap();
        for statement in example_schema("mysql").split(';').map(str::trim).filter(|s| !s.is_empty()) {
            sqlx::raw_sql(sqlx::AssertSqlSafe(statement.to_owned())).execute(&mut db).await.unwrap();
        }
        for statement in [
            "CREATE VIEW order_totals AS SELECT user_id, SUM(paid_amount) AS paid FROM orders GROUP BY user_id",
            "CREATE TRIGGER orders_audit AFTER INSERT ON orders FOR EACH ROW SET @x = NEW.id",
            "CREATE PROCEDURE touch() SELECT 1",
        ] {
            sqlx::raw_sql(sqlx::AssertSqlSafe(statement.to_owned())).execute(&mut db).await.unwrap();
        }
        db.close().await.unwrap();
        introspect(&dsn).await
    }
    .await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    let schema = result.unwrap();
    assert_eq!(schema.engine, "mysql");
    assert_example_schema(&schema);
    assert_eq!(schema.views, ["order_totals"]);
    assert_eq!(
        schema.triggers,
        [("orders_audit".to_owned(), "orders".to_owned())]
    );
    assert_eq!(schema.procedures, ["touch"]);
}

// ---- Whole analyses of the other frontends' fixture monoliths: what crosses
// the proposed boundaries, in short.

fn crossings(name: &str) -> serde_json::Value {
    let analysis = analyze(
        facts_of(&fixture(name)),
        Extra {
            source: name.into(),
            ..Extra::default()
        },
    );
    serde_json::json!({
        "domains": analysis.domains.iter().map(|d| serde_json::json!({
            "name": d.name, "modules": d.modules, "tables": d.tables,
        })).collect::<Vec<_>>(),
        "transactions": analysis.transactions.iter().map(|t| serde_json::json!({
            "entry": t.entry_routes, "function": t.function, "domains": t.domains,
            "tables": t.tables.iter().map(|x| format!("{} {:?}", x.table, x.access)).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "findings": analysis.findings.iter().map(|f| format!("{:?}: {} [{}]", f.kind, f.subject, f.domains.join(", "))).collect::<Vec<_>>(),
        "metrics": analysis.metrics,
    })
}

#[test]
fn spring_commerce_analysis() {
    let found = crossings("spring-commerce");
    assert!(
        found["transactions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["domains"].as_array().unwrap().len() > 1),
        "the order placement spans domains: {found}"
    );
    insta::assert_yaml_snapshot!("spring_commerce_analysis", found);
}

#[test]
fn django_shop_analysis() {
    insta::assert_yaml_snapshot!("django_shop_analysis", crossings("django-shop"));
}

#[test]
fn express_shop_analysis() {
    insta::assert_yaml_snapshot!("express_shop_analysis", crossings("express-shop"));
}

// ---- Route prefixes applied in another file than the routes (mounts).

/// The route nodes of an analysis: `METHOD /path`.
fn route_names(analysis: &Analysis) -> Vec<String> {
    analysis
        .nodes
        .iter()
        .filter_map(|n| n.id.strip_prefix("route:").map(str::to_owned))
        .collect()
}

fn analyze_fixture(name: &str) -> Vec<String> {
    route_names(&analyze(
        facts_of(&fixture(name)),
        Extra {
            source: name.into(),
            ..Extra::default()
        },
    ))
}

fn assert_routes(found: &[String], present: &[&str], absent: &[&str]) {
    for route in present {
        assert!(
            found.iter().any(|r| r == route),
            "{route} missing from {found:?}"
        );
    }
    for route in absent {
        assert!(!found.iter().any(|r| r == route), "{route} in {found:?}");
    }
    assert!(
        !found.iter().any(|r| r.starts_with("MOUNT")),
        "a mount is not a route: {found:?}"
    );
}

#[test]
fn express_routers_imported_by_app_get_the_prefixes_of_app() {
    assert_routes(
        &analyze_fixture("express-shop"),
        &[
            "POST /api/orders",
            "GET /api/orders/{orderId}",
            "GET /health",
        ],
        &["POST /", "GET /{orderId}"],
    );
}

#[test]
fn django_included_urlconfs_get_the_include_prefixes() {
    assert_routes(
        &analyze_fixture("django-shop"),
        &[
            "ANY /api/v1/orders/",
            "ANY /api/v1/orders/{order_id}/cancel/",
        ],
        &["ANY /", "ANY /{order_id}/cancel/"],
    );
}

#[test]
fn axum_router_functions_nested_from_another_file_get_the_prefix() {
    let found = analyze_fixture("rust-axum");
    assert_routes(
        &found,
        &[
            "POST /billing/invoices",
            "GET /billing/invoices/{id}",
            // Same-file nesting and actix scopes are unchanged.
            "POST /api/invoices",
            "POST /v1/invoices",
        ],
        &["POST /invoices", "GET /invoices/{id}"],
    );
}

#[test]
fn a_urlconf_included_twice_has_its_routes_under_both_prefixes() {
    let files = [
        (
            "shop/urls.py",
            r#"
from django.urls import include, path

urlpatterns = [
    path("api/", include("shop.api_urls")),
    path("legacy/orders/", include("orders.urls")),
]
"#,
        ),
        (
            "shop/api_urls.py",
            r#"
from django.urls import include, path

urlpatterns = [path("v2/orders/", include("orders.urls"))]
"#,
        ),
        (
            "orders/urls.py",
            r#"
from django.urls import path
from . import views

urlpatterns = [path("<int:pk>/", views.detail)]
"#,
        ),
    ];
    let all = frontends::all();
    let facts = files
        .iter()
        .map(|(path, source)| {
            all.iter()
                .find(|f| f.accepts(Path::new(path)))
                .expect("python")
                .extract(path, source)
        })
        .collect();
    let found = route_names(&analyze(facts, Extra::default()));
    assert_eq!(
        found,
        ["ANY /api/v2/orders/{pk}/", "ANY /legacy/orders/{pk}/"]
    );
}

/// Issue #5: WebFlux routes lead to their handlers, so the reactive
/// transaction has its entry route and the handler's tables.
#[test]
fn webflux_routes_reach_their_handlers_and_transactions() {
    let analysis = analyze(
        facts_of(&fixture("webflux-shop")),
        Extra {
            source: "webflux-shop".into(),
            ..Extra::default()
        },
    );
    let unresolved: Vec<&str> = analysis
        .edges
        .iter()
        .filter(|e| e.kind == EdgeKind::Handles && e.confidence < 1.0)
        .map(|e| e.from.as_str())
        .collect();
    assert!(unresolved.is_empty(), "handlers not found: {unresolved:?}");
    let schedule = analysis
        .transactions
        .iter()
        .find(|t| t.function == "com.shop.delivery.DeliveryHandler.schedule")
        .expect("the transactionalOperator transaction");
    assert_eq!(schedule.entry_routes, ["POST /api/deliveries"]);
    let tables: Vec<&str> = schedule.tables.iter().map(|t| t.table.as_str()).collect();
    assert_eq!(tables, ["deliveries", "orders"]);
    let add = analysis
        .transactions
        .iter()
        .find(|t| t.function == "com.shop.review.ReviewHandler.add")
        .expect("the @Transactional coroutine handler");
    assert_eq!(add.entry_routes, ["POST /api/reviews"]);
}

// ---- Every edge, transaction and finding says where it comes from.

/// Checks one provenance entry against the tree: a `file:line` names an existing
/// file and one of its lines; a commit or schema object is named.
fn assert_points_somewhere(root: &Path, p: &msa_analyzers::model::Provenance, what: &str) {
    match (&p.file, p.line, &p.commit, &p.schema) {
        (Some(file), Some(line), None, None) => {
            let text = std::fs::read_to_string(root.join(file))
                .unwrap_or_else(|e| panic!("{what}: {file} is not a file of the tree: {e}"));
            let lines = text.lines().count();
            assert!(
                (1..=lines).contains(&line),
                "{what}: {file}:{line} is past its {lines} lines"
            );
        }
        (None, None, Some(commit), None) => assert!(!commit.is_empty(), "{what}"),
        (None, None, None, Some(schema)) => assert!(!schema.is_empty(), "{what}"),
        other => panic!("{what}: provenance {other:?} is none of file:line, commit, schema"),
    }
}

/// Issue #5: every edge records where it came from and how sure it is, and
/// every finding shows its evidence (a file and line, or the schema for a key).
fn assert_well_founded(analysis: &Analysis, root: &Path) {
    assert!(!analysis.edges.is_empty());
    for e in &analysis.edges {
        let what = format!("{:?} edge {} → {}", e.kind, e.from, e.to);
        assert!(
            e.confidence > 0.0 && e.confidence <= 1.0,
            "{what}: confidence {}",
            e.confidence
        );
        assert!(!e.provenance.is_empty(), "{what}: no provenance");
        for p in &e.provenance {
            assert_points_somewhere(root, p, &what);
        }
    }
    for t in &analysis.transactions {
        assert_points_somewhere(root, &Provenance::at(&t.file, t.line), &t.function);
        for access in &t.tables {
            let (file, line) = access.at.rsplit_once(':').expect("file:line");
            let at = Provenance::at(file, line.parse().expect("a line number"));
            assert_points_somewhere(root, &at, &format!("{} {}", t.function, access.table));
        }
    }
    assert!(!analysis.findings.is_empty());
    for f in &analysis.findings {
        let what = format!("{:?} {}", f.kind, f.subject);
        assert!(!f.evidence.is_empty(), "{what}: no evidence");
        for p in &f.evidence {
            assert_points_somewhere(root, p, &what);
        }
        let in_code = f
            .evidence
            .iter()
            .any(|p| p.file.is_some() && p.line.is_some());
        let in_schema = f.evidence.iter().any(|p| p.schema.is_some());
        if f.kind == FindingKind::CrossDomainForeignKey {
            assert!(in_code || in_schema, "{what}: neither code nor schema");
        } else {
            assert!(in_code, "{what}: no file:line");
        }
    }
}

#[tokio::test]
async fn every_edge_and_finding_of_the_example_has_provenance() {
    let dir = tempfile::tempdir().unwrap();
    let dsn = example_sqlite(dir.path()).await;
    let schema = introspect(&dsn).await.unwrap();
    let root = workspace().join("examples/legacy-commerce");
    let facts = facts_of(&root);
    // Co-change from a history where orders and points change together.
    let log = "\0c0ffee1 1767607200\n\nsrc/orders.rs\nsrc/points.rs\n\0c0ffee2 1767600000\n\nsrc/orders.rs\nsrc/points.rs\nsrc/coupons.rs\n";
    let cochange = msa_analyzers::git::from_log(log, "");
    let analysis = analyze(
        facts,
        Extra {
            source: "examples/legacy-commerce".into(),
            schema: Some(schema),
            database: Some(dsn),
            cochange: Some(cochange),
            domains: Some(example_domains()),
            ..Extra::default()
        },
    );
    for kind in [
        EdgeKind::Call,
        EdgeKind::Read,
        EdgeKind::Write,
        EdgeKind::ForeignKey,
        EdgeKind::CoChange,
        EdgeKind::Transaction,
        EdgeKind::Handles,
    ] {
        assert!(
            analysis.edges.iter().any(|e| e.kind == kind),
            "no {kind:?} edge to check"
        );
    }
    let co_change = analysis
        .edges
        .iter()
        .find(|e| {
            e.kind == EdgeKind::CoChange
                && e.from == "module:crate::orders"
                && e.to == "module:crate::points"
        })
        .expect("orders and points changed together");
    assert_eq!(
        co_change.provenance,
        [commit("c0ffee1"), commit("c0ffee2")],
        "each commit it comes from"
    );
    assert_well_founded(&analysis, &root);
}

fn commit(hash: &str) -> Provenance {
    Provenance {
        commit: Some(hash.to_owned()),
        ..Provenance::default()
    }
}

#[test]
fn every_edge_and_finding_of_the_spring_fixture_has_provenance() {
    let root = fixture("spring-commerce");
    let analysis = analyze(
        facts_of(&root),
        Extra {
            source: "spring-commerce".into(),
            ..Extra::default()
        },
    );
    assert_well_founded(&analysis, &root);
}

// ---- The proposal for the example, as a team would cut it.

/// Issue #5: proposed domains keep each aggregate whole and keep apart what
/// the seed documents keep apart, with or without the schema. Seed code (which
/// writes users, points, products and coupons in one transaction) and keys into
/// the widely referenced users table used to glue users to points.
#[tokio::test]
async fn proposed_domains_keep_the_example_s_domains_apart() {
    let dir = tempfile::tempdir().unwrap();
    let schema = introspect(&example_sqlite(dir.path()).await).await.unwrap();
    let root = workspace().join("examples/legacy-commerce");
    for schema in [None, Some(schema)] {
        let with_schema = schema.is_some();
        let analysis = analyze(
            facts_of(&root),
            Extra {
                source: "examples/legacy-commerce".into(),
                schema,
                ..Extra::default()
            },
        );
        let domain = |table: &str| {
            analysis
                .nodes
                .iter()
                .find(|n| n.id == format!("table:{table}"))
                .and_then(|n| n.domain.clone())
                .unwrap_or_else(|| panic!("{table} in no domain (schema: {with_schema})"))
        };
        for (a, b) in [
            ("points", "point_history"),
            ("coupons", "user_coupons"),
            ("orders", "order_items"),
            ("orders", "payments"),
        ] {
            assert_eq!(domain(a), domain(b), "{a} with {b} (schema: {with_schema})");
        }
        for (a, b) in [
            ("coupons", "orders"),
            ("users", "points"),
            ("points", "orders"),
            ("points", "coupons"),
        ] {
            assert_ne!(
                domain(a),
                domain(b),
                "{a} apart from {b} (schema: {with_schema})"
            );
        }
        assert!(
            analysis
                .unassigned
                .contains(&"module:crate::seed".to_owned()),
            "seed code belongs to no domain: {:?}",
            analysis.unassigned
        );
    }
}

/// Issue #5: the seed loader's transaction (no route) writes tables of four
/// declared domains; it is listed, marked, and never a `--check` violation.
#[test]
fn seed_code_transactions_are_listed_but_never_violations() {
    let analysis = legacy_commerce(Some(example_domains()));
    let seed = analysis
        .transactions
        .iter()
        .find(|t| t.function == "crate::seed::load")
        .expect("the seed transaction is listed");
    assert!(seed.support_code && seed.entry_routes.is_empty());
    assert!(seed.domains.len() >= 4, "{:?}", seed.domains);
    assert!(
        !analysis
            .findings
            .iter()
            .any(|f| f.subject.contains("crate::seed")),
        "{:?}",
        analysis.findings
    );
    // The order placement, entered by a route, still is one.
    let order = analysis
        .transactions
        .iter()
        .find(|t| t.function == "crate::orders::place_once")
        .unwrap();
    assert!(!order.support_code);
}
