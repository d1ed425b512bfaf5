//! `msa-migrate analyze` on the example monolith, as the README's main job
//! runs it: source, a real (seeded) SQLite database, outputs in a folder.

use crate::support::{Running, msa_migrate, workspace};

fn source() -> String {
    workspace()
        .join("examples/legacy-commerce")
        .display()
        .to_string()
}

fn declared_domains() -> String {
    workspace()
        .join("analyzers/tests/fixtures/legacy-commerce-domains.yaml")
        .display()
        .to_string()
}

/// A SQLite database with the monolith's schema and seed data, made by
/// starting the monolith once.
fn seeded_database(dir: &std::path::Path) -> String {
    let dsn = format!("sqlite://{}", dir.join("shop.db").display());
    let monolith = Running::start(
        "legacy-commerce",
        &["--db", &dsn, "--listen", "127.0.0.1:0", "--seed", "5"],
    );
    drop(monolith);
    dsn
}

#[test]
fn analyze_maps_the_example_monolith_and_its_database() {
    let dir = tempfile::tempdir().unwrap();
    let dsn = seeded_database(dir.path());
    let out = dir.path().join("analysis");
    let (code, stdout, stderr) = msa_migrate(&[
        "analyze",
        "--source",
        &source(),
        "--db",
        &dsn,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("9 tables"), "{stdout}");
    assert!(
        stdout.contains("POST /api/orders → crate::orders::place_once → coupons, order_items, orders, payments, point_history, points, products, user_coupons, users"),
        "{stdout}"
    );
    for file in ["analysis.json", "domains.yaml", "report.md", "report.html"] {
        assert!(out.join(file).is_file(), "{file} missing");
    }
    let analysis: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("analysis.json")).unwrap()).unwrap();
    assert_eq!(analysis["schema_version"], 1);
    assert_eq!(analysis["schema"]["engine"], "sqlite");
    let order = analysis["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["function"] == "crate::orders::place_once")
        .expect("the order transaction");
    assert_eq!(
        order["entry_routes"],
        serde_json::json!(["POST /api/orders"])
    );
    assert!(order["domains"].as_array().unwrap().len() >= 2, "{order}");
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("```mermaid"));
    // The proposal is a valid domains file: checking against it runs.
    let (code, stdout, stderr) = msa_migrate(&[
        "analyze",
        "--source",
        &source(),
        "--domains",
        out.join("domains.yaml").to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("domains (declared)"), "{stdout}");
}

#[test]
fn check_exits_1_listing_what_breaks_the_declared_boundaries() {
    let (code, stdout, stderr) = msa_migrate(&[
        "analyze",
        "--source",
        &source(),
        "--domains",
        &declared_domains(),
        "--check",
    ]);
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("cross-domain transaction: POST /api/orders → crate::orders::place_once [coupon, order, payment, point, product, user]"),
        "{stdout}"
    );
    assert!(stdout.contains("next step: Saga"), "{stdout}");
    // Only order writes payments, which the declared payment domain owns.
    assert!(
        stdout.contains(
            "table written only by a domain that does not own it: table payments [order, payment]"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("next step: Settle who owns payments"),
        "{stdout}"
    );
    // The seed loader writes four domains' tables too, but is test-data code:
    // listed among the transactions, not among the violations.
    assert!(
        stdout.contains("(seed/fixture/test code, no route: informational) → crate::seed::load"),
        "{stdout}"
    );
    let (_, violations) = stdout.split_once("boundary violation(s)").unwrap();
    assert!(!violations.contains("crate::seed::load"), "{stdout}");
}

/// Piped, the command is quiet: JSON on stdout, no progress bar or log on stderr.
#[test]
fn json_goes_to_stdout_alone() {
    let (code, stdout, stderr) =
        msa_migrate(&["analyze", "--source", &source(), "--format", "json"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stderr, "", "nothing on stderr when piped");
    let analysis: serde_json::Value = serde_json::from_str(&stdout).expect("only JSON on stdout");
    assert_eq!(analysis["inputs"]["domains"], "proposed");
    assert!(!analysis["domains"].as_array().unwrap().is_empty());
}

#[test]
fn a_bad_domains_file_names_its_lines_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let domains = dir.path().join("domains.yaml");
    std::fs::write(
        &domains,
        "domains:\n  order:\n    tables: [orders]\n    routes: [\"FETCH /api/orders\"]\n  point:\n    tables: [orders]\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let (code, stdout, stderr) = msa_migrate(&[
        "analyze",
        "--source",
        &source(),
        "--domains",
        domains.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(2), "{stdout}\n{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        stderr
            .contains("domains.yaml:4: domains.order.routes: `FETCH /api/orders`: unknown method"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "domains.yaml:6: domains.point.tables: `orders` is already claimed by `order`"
        ),
        "{stderr}"
    );
    assert!(!out.exists(), "nothing written");
}

#[test]
fn a_database_password_never_shows() {
    let (code, stdout, stderr) = msa_migrate(&[
        "analyze",
        "--source",
        &source(),
        "--db",
        "postgres://app:s3cret@127.0.0.1:1/shop",
    ]);
    assert_eq!(code, Some(2), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("cannot connect to postgres://app:***@127.0.0.1:1/shop"),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cret") && !stdout.contains("s3cret"));
}

#[test]
fn access_logs_count_requests_per_route_and_git_adds_co_change() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    std::fs::write(
        &log,
        concat!(
            "10.0.0.1 - - [09/Jan/2026:10:35:25 +0000] \"POST /api/orders HTTP/1.1\" 201 310 \"-\" \"curl/8\"\n",
            "10.0.0.1 - - [09/Jan/2026:10:35:26 +0000] \"GET /api/orders/17 HTTP/1.1\" 200 310 \"-\" \"curl/8\"\n",
            "{\"method\":\"GET\",\"path\":\"/api/products/top?days=3\",\"status\":200}\n",
            "{\"method\":\"GET\",\"path\":\"/api/products/3\",\"status\":200}\n",
            "{\"method\":\"GET\",\"path\":\"/nowhere\",\"status\":404}\n",
        ),
    )
    .unwrap();
    let (code, stdout, stderr) = msa_migrate(&[
        "analyze",
        "--source",
        &source(),
        "--access-log",
        log.to_str().unwrap(),
        "--git",
        "--git-max-commits",
        "200",
        "--format",
        "json",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    let analysis: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let requests = |route: &str| {
        analysis["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["id"] == format!("route:{route}"))
            .map(|n| n["requests"].clone())
    };
    assert_eq!(requests("POST /api/orders"), Some(serde_json::json!(1)));
    assert_eq!(requests("GET /api/orders/{id}"), Some(serde_json::json!(1)));
    assert_eq!(
        requests("GET /api/products/top"),
        Some(serde_json::json!(1))
    );
    assert_eq!(
        requests("GET /api/products/{id}"),
        Some(serde_json::json!(1))
    );
    assert_eq!(
        requests("GET /api/coupons/{id}"),
        Some(serde_json::json!(0))
    );
    assert_eq!(analysis["inputs"]["access_log"]["requests"], 5);
    assert_eq!(
        analysis["inputs"]["access_log"]["unmatched"],
        serde_json::json!([["GET /nowhere", 1]])
    );
    assert!(analysis["inputs"]["git_commits"].as_u64().unwrap() >= 1);
    // The handler of POST /api/orders writes the order tables.
    let order = analysis["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == "route:POST /api/orders")
        .unwrap();
    assert!(
        order["writes"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("payments")),
        "{order}"
    );
}

#[test]
fn a_baseline_lets_check_fail_on_new_violations_only() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("before");
    let domains = declared_domains();
    let (code, _, stderr) = msa_migrate(&[
        "analyze",
        "--source",
        &source(),
        "--domains",
        &domains,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    let baseline = out.join("analysis.json");
    let (code, stdout, stderr) = msa_migrate(&[
        "analyze",
        "--source",
        &source(),
        "--domains",
        &domains,
        "--check",
        "--baseline",
        baseline.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "nothing new: {stdout}\n{stderr}");
    assert!(
        stdout.contains("known violation(s), already in the baseline"),
        "{stdout}"
    );

    // A baseline from before `foreign_write` existed called those `shared_write`:
    // still known.
    let mut previous: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&baseline).unwrap()).unwrap();
    let mut renamed = 0;
    for f in previous["findings"].as_array_mut().unwrap() {
        if f["kind"] == "foreign_write" {
            f["kind"] = "shared_write".into();
            renamed += 1;
        }
    }
    assert!(renamed > 0, "the example has a foreign write");
    std::fs::write(&baseline, previous.to_string()).unwrap();
    let (code, stdout, _) = msa_migrate(&[
        "analyze",
        "--source",
        &source(),
        "--domains",
        &domains,
        "--check",
        "--baseline",
        baseline.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "an older baseline's shared_write: {stdout}");

    // A baseline without the order saga: that transaction is new again.
    previous["findings"].as_array_mut().unwrap().retain(|f| {
        !f["subject"]
            .as_str()
            .unwrap()
            .starts_with("POST /api/orders")
    });
    std::fs::write(&baseline, previous.to_string()).unwrap();
    let (code, stdout, _) = msa_migrate(&[
        "analyze",
        "--source",
        &source(),
        "--domains",
        &domains,
        "--check",
        "--baseline",
        baseline.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("1 boundary violation(s)"), "{stdout}");
    assert!(
        stdout.contains("POST /api/orders → crate::orders::place_once"),
        "{stdout}"
    );

    std::fs::write(&baseline, "{\"not\": \"an analysis\"}").unwrap();
    let (code, _, stderr) = msa_migrate(&[
        "analyze",
        "--source",
        &source(),
        "--domains",
        &domains,
        "--check",
        "--baseline",
        baseline.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("is not an analysis.json"), "{stderr}");
}

/// The HTML report in headless Chromium: the graph is drawn, and a domain
/// filter hides the other domains' nodes and findings.
#[test]
fn the_html_report_draws_the_graph_and_filters_by_domain_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let dsn = seeded_database(dir.path());
    let out = dir.path().join("analysis");
    let (code, stdout, stderr) = msa_migrate(&[
        "analyze",
        "--source",
        &source(),
        "--db",
        &dsn,
        "--domains",
        &declared_domains(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let page = format!("file://{}", out.join("report.html").display());
    let profile = dir.path().join("chromium");

    let dom = crate::support::chromium_dom(&page, &profile);
    assert!(
        dom.contains(r#"data-rendered="true""#),
        "the script did not run:\n{dom}"
    );
    let shapes = dom.matches("<rect").count()
        + dom.matches("<circle").count()
        + dom.matches("<polygon").count();
    assert!(shapes >= 20, "only {shapes} nodes drawn");
    assert!(
        dom.contains("<title>table coupons (coupon)</title>"),
        "{dom}"
    );
    assert!(
        !dom.contains("display: none"),
        "everything shows unfiltered"
    );

    let filtered = crate::support::chromium_dom(&format!("{page}#domains=coupon"), &profile);
    let hidden = filtered.matches("display: none").count();
    assert!(hidden >= 10, "the filter hid only {hidden} elements");
    // The coupon table stays, the orders table goes.
    let shown_group = |dom: &str, title: &str| {
        let at = dom
            .find(title)
            .unwrap_or_else(|| panic!("{title} not drawn"));
        let group = dom[..at].rfind("<g").unwrap();
        !dom[group..at].contains("display: none")
    };
    assert!(shown_group(
        &filtered,
        "<title>table coupons (coupon)</title>"
    ));
    assert!(!shown_group(
        &filtered,
        "<title>table orders (order)</title>"
    ));
}

/// Runs git in `dir` with a fixed identity and date, so the history is the same
/// on every machine; returns stdout.
fn git(dir: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=Analyst",
            "-c",
            "user.email=analyst@example.com",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .env("GIT_AUTHOR_DATE", "2026-01-05T10:00:00Z")
        .env("GIT_COMMITTER_DATE", "2026-01-05T10:00:00Z")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Issue #5: `--git` turns files changed in the same commits into co_change
/// edges between their modules, each naming the commits it comes from.
#[test]
fn git_history_becomes_co_change_edges_with_their_commits() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    git(repo, &["init", "-q"]);
    let write = |path: &str, text: &str| {
        let path = repo.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    let commit = |files: &[&str], message: &str| {
        let mut args = vec!["add", "--"];
        args.extend_from_slice(files);
        git(repo, &args);
        git(repo, &["commit", "-q", "-m", message]);
    };
    write("shop/__init__.py", "");
    commit(&["shop/__init__.py"], "package"); // one file: no pair
    write(
        "shop/orders.py",
        "from shop import points\n\ndef place(order_id):\n    points.deduct(order_id)\n",
    );
    write(
        "shop/points.py",
        "def deduct(order_id):\n    return order_id\n",
    );
    commit(
        &["shop/orders.py", "shop/points.py"],
        "orders deduct points",
    );
    write(
        "shop/points.py",
        "def deduct(order_id):\n    return -order_id\n",
    );
    write(
        "shop/orders.py",
        "from shop import points\n\ndef place(order_id):\n    return points.deduct(order_id)\n",
    );
    commit(&["shop/orders.py", "shop/points.py"], "points are negative");
    write(
        "shop/users.py",
        "def name(user_id):\n    return str(user_id)\n",
    );
    commit(&["shop/users.py"], "users");
    write(
        "shop/users.py",
        "def name(user_id):\n    return f'user {user_id}'\n",
    );
    write(
        "shop/orders.py",
        "from shop import points, users\n\ndef place(order_id):\n    return points.deduct(order_id)\n",
    );
    commit(&["shop/users.py", "shop/orders.py"], "orders know users");
    // Newest first, as `git log` lists them.
    let hashes: Vec<String> = git(repo, &["log", "--format=%h"])
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(hashes.len(), 5);

    let (code, stdout, stderr) = msa_migrate(&[
        "analyze",
        "--source",
        repo.to_str().unwrap(),
        "--git",
        "--format",
        "json",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    let analysis: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(analysis["inputs"]["git_commits"], 5);
    let mut co_change: Vec<(String, String, f64, f64, Vec<String>)> = analysis["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "co_change")
        .map(|e| {
            let mut commits: Vec<String> = e["provenance"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["commit"].as_str().expect("commit provenance").to_owned())
                .collect();
            commits.sort();
            (
                e["from"].as_str().unwrap().to_owned(),
                e["to"].as_str().unwrap().to_owned(),
                e["weight"].as_f64().unwrap(),
                e["confidence"].as_f64().unwrap(),
                commits,
            )
        })
        .collect();
    co_change.sort_by(|a, b| a.1.cmp(&b.1));
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    // Same date for every commit, so no decay: each two-file commit weighs 1.
    assert_eq!(
        co_change,
        [
            (
                "module:shop.orders".to_owned(),
                "module:shop.points".to_owned(),
                2.0,
                0.67,
                sorted(vec![hashes[2].clone(), hashes[3].clone()]),
            ),
            (
                "module:shop.orders".to_owned(),
                "module:shop.users".to_owned(),
                1.0,
                0.33,
                vec![hashes[0].clone()],
            ),
        ],
        "points and users never changed together"
    );
}

/// The README's `analyze` excerpt is what the command prints on the example,
/// so it cannot drift from the code.
#[test]
fn the_readme_analyze_excerpt_is_what_it_prints() {
    let readme = std::fs::read_to_string(workspace().join("README.md")).unwrap();
    let section = readme
        .split_once("## The map first")
        .expect("the README's analyze section")
        .1;
    let excerpt = section
        .split_once("```text\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .expect("a text block in that section")
        .0;
    let dir = tempfile::tempdir().unwrap();
    let dsn = seeded_database(dir.path());
    let out = dir.path().join("analysis");
    let (code, stdout, stderr) = msa_migrate(&[
        "analyze",
        "--source",
        &source(),
        "--db",
        &dsn,
        "--domains",
        &declared_domains(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    for line in excerpt.lines() {
        assert!(
            stdout.lines().any(|l| l == line),
            "the README shows `{line}`, the command printed:\n{stdout}"
        );
    }
}
