//! Several proxy replicas on one PostgreSQL state store, `msa-migrate
//! cutover`, `rollback` and the canary controller, over real processes.

#![allow(
    clippy::disallowed_methods,
    reason = "synchronous tests: there is no runtime to block, so they poll with std sleeps"
)]
#![allow(
    clippy::print_stderr,
    reason = "the measured convergence times, shown with --no-capture"
)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Running, Users, msa_migrate, poll, start_services, workspace_binary};

const TOKEN: &str = "e2e-admin-token";

/// A fresh database on the test server (MSA_TEST_PG_URL), dropped afterwards.
struct FreshDatabase {
    admin: String,
    name: String,
    url: String,
}

fn admin_url() -> String {
    std::env::var("MSA_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// Runs SQL through `psql`; its output, rows as `a|b` lines.
fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-tAc", sql])
        .output()
        .unwrap_or_else(|err| panic!("psql runs ({err}); install the PostgreSQL client"));
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

impl FreshDatabase {
    fn create() -> Self {
        let admin = admin_url();
        let name = format!("msa_e2e_state_{}_{}", std::process::id(), nonce());
        psql(&admin, &format!("CREATE DATABASE {name}"));
        let url = match admin.rsplit_once('/') {
            Some((server, _)) => format!("{server}/{name}"),
            None => panic!("MSA_TEST_PG_URL names no database: {admin}"),
        };
        Self { admin, name, url }
    }

    /// Drops it under the proxies' feet: every session is terminated.
    fn drop_now(&self) {
        psql(
            &self.admin,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

impl Drop for FreshDatabase {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args([
                &self.admin,
                "-tAc",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            ])
            .output();
    }
}

fn nonce() -> u32 {
    let time = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    time.subsec_nanos() ^ u32::try_from(time.as_secs() % 1_000_000).unwrap()
}

/// The monolith and the coupon service, on SQLite in the test's directory.
fn services(dir: &tempfile::TempDir) -> (Running, Running) {
    start_services(dir.path(), Users::FromMonolith, &[])
}

/// A proxy replica on the shared store, with its admin API's URL.
struct Replica {
    proxy: Running,
    admin: String,
}

fn replicas(
    dir: &tempfile::TempDir,
    count: usize,
    store: &str,
    monolith: &Running,
    coupon: &Running,
) -> Vec<Replica> {
    let token = dir.path().join("admin-token");
    std::fs::write(&token, TOKEN).unwrap();
    (0..count)
        .map(|i| {
            let path = dir.path().join(format!("proxy-{i}.yaml"));
            let mut file = std::fs::File::create(&path).unwrap();
            write!(
                file,
                "listen: 127.0.0.1:0
workers: 1
legacy: monolith
admin:
  listen: 127.0.0.1:0
  token_file: {}
state:
  store: {store}
  shadow_store: shadow-{i}.db
upstreams:
  monolith:
    endpoints: [{}]
  coupon:
    endpoints: [{}]
routes:
  - name: coupon-read
    methods: [GET]
    path: /api/coupons/{{id}}
    upstream: coupon
    sticky: header:X-User-Id
  - name: user-coupons
    methods: [GET]
    path: /api/users/{{id}}/coupons
    upstream: coupon
    sticky: header:X-User-Id
",
                token.display(),
                monolith.authority(),
                coupon.authority()
            )
            .unwrap();
            let mut proxy = Running::start(
                "msa-migrate",
                &["proxy", "--config", path.to_str().unwrap()],
            );
            let admin = proxy.next_url("admin");
            Replica { proxy, admin }
        })
        .collect()
}

fn get_json(url: &str) -> Value {
    reqwest::blocking::get(url).unwrap().json().unwrap()
}

/// A route's stage as a replica serves it.
fn stage(replica: &Replica, route: &str) -> Value {
    let routes = get_json(&format!("{}/routes", replica.admin));
    routes["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == route)
        .unwrap_or_else(|| panic!("no route {route}: {routes}"))["stage"]
        .clone()
}

/// Waits until every replica serves `route` at `expected`; how long that took.
fn converge(replicas: &[Replica], route: &str, expected: &Value, within: Duration) -> Duration {
    let start = Instant::now();
    let mut stages = Vec::new();
    poll(within, Duration::from_millis(10), || {
        stages = replicas.iter().map(|r| stage(r, route)).collect();
        stages.iter().all(|s| s == expected).then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "the replicas did not converge on {expected} for {route} within {within:?}: {stages:?}"
        )
    });
    start.elapsed()
}

/// Where a test's readiness verdicts go: its own directory.
fn readiness_log(dir: &tempfile::TempDir) -> String {
    dir.path().join("readiness-log.jsonl").display().to_string()
}

fn audit_rows(url: &str) -> Vec<Value> {
    psql(url, "SELECT entry FROM msa_audit ORDER BY id")
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[test]
fn three_proxies_on_one_postgresql_converge_within_a_second_and_keep_serving_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let database = FreshDatabase::create();
    let (monolith, coupon) = services(&dir);
    let replicas = replicas(&dir, 3, &database.url, &monolith, &coupon);
    let verdicts = readiness_log(&dir);

    // A change through one replica's admin API reaches the others.
    let answer = reqwest::blocking::Client::new()
        .put(format!("{}/routes/coupon-read", replicas[0].admin))
        .bearer_auth(TOKEN)
        .header("X-Msa-Actor", "alice")
        .json(&json!({"mode": "canary", "weight_bp": 2500, "reason": "shadow clean"}))
        .send()
        .unwrap();
    assert_eq!(answer.status(), 200, "{:?}", answer.text());
    let took = converge(
        &replicas,
        "coupon-read",
        &json!({"mode": "canary", "weight_bp": 2500}),
        Duration::from_secs(1),
    );
    eprintln!("admin API change converged on 3 replicas in {took:?}");

    // So does a change made by the CLI in the store, for the whole domain.
    let (code, stdout, stderr) = msa_migrate(&[
        "cutover",
        "coupon",
        "--log",
        &verdicts,
        "--routes",
        "coupon-read,user-coupons",
        "--state",
        &database.url,
        "--force",
        "--reason",
        "e2e: readiness is checked elsewhere",
        "--actor",
        "ci",
    ]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("coupon-read: canary 25% -> cutover"),
        "{stdout}"
    );
    for route in ["coupon-read", "user-coupons"] {
        let took = converge(
            &replicas,
            route,
            &json!({"mode": "cutover"}),
            Duration::from_secs(1),
        );
        eprintln!("CLI cutover of {route} converged on 3 replicas in {took:?}");
    }

    // Without --force, a cutover with no readiness verdict is refused: exit 1, nothing changes.
    let (code, _, stderr) = msa_migrate(&[
        "cutover",
        "coupon",
        "--log",
        &verdicts,
        "--routes",
        "coupon-read",
        "--state",
        &database.url,
        "--reason",
        "no verdict",
    ]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("to cut over anyway: --force"), "{stderr}");
    // Nor without a reason: the audit log says why, always.
    let (code, _, stderr) = msa_migrate(&[
        "cutover",
        "coupon",
        "--routes",
        "coupon-read",
        "--state",
        &database.url,
        "--force",
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--reason"), "{stderr}");

    // Rollback is instant and always allowed.
    let (code, stdout, stderr) = msa_migrate(&[
        "rollback",
        "coupon",
        "--routes",
        "coupon-read,user-coupons",
        "--state",
        &database.url,
        "--reason",
        "e2e rollback",
        "--actor",
        "bob",
    ]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    converge(
        &replicas,
        "user-coupons",
        &json!({"mode": "legacy"}),
        Duration::from_secs(1),
    );

    // Every change is in the audit log, with who, when and why.
    let log = audit_rows(&database.url);
    let summary: Vec<(String, String, String)> = log
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap().to_owned(),
                e["action"].as_str().unwrap().to_owned(),
                e["route"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let expect = |actor: &str, action: &str, route: &str| {
        (actor.to_owned(), action.to_owned(), route.to_owned())
    };
    assert_eq!(
        summary,
        vec![
            expect("alice", "set_stage", "coupon-read"),
            expect("ci", "cutover", "coupon-read"),
            expect("ci", "cutover", "user-coupons"),
            expect("bob", "rollback", "coupon-read"),
            expect("bob", "rollback", "user-coupons"),
        ]
    );
    assert!(log.iter().all(|e| e["time"].as_str().is_some()));
    assert!(
        log[1]["reason"]
            .as_str()
            .unwrap()
            .starts_with("forced: e2e: readiness is checked elsewhere"),
        "{}",
        log[1]
    );
    assert_eq!(log[3]["before"], json!({"mode": "cutover"}));

    // The same through a replica's admin API: the proxy records it, under the caller's name.
    let through_admin = Command::new(workspace_binary("msa-migrate"))
        .args([
            "cutover",
            "coupon",
            "--log",
            &verdicts,
            "--routes",
            "user-coupons",
            "--admin",
            &replicas[2].admin,
            "--token-env",
            "MSA_E2E_ADMIN_TOKEN",
            "--force",
            "--reason",
            "via the admin API",
            "--actor",
            "dave",
        ])
        .env("MSA_E2E_ADMIN_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert_eq!(
        through_admin.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&through_admin.stderr)
    );
    converge(
        &replicas,
        "user-coupons",
        &json!({"mode": "cutover"}),
        Duration::from_secs(1),
    );
    let last = audit_rows(&database.url).pop().unwrap();
    assert_eq!(
        (&last["actor"], &last["action"], &last["route"]),
        (&json!("dave"), &json!("set_stage"), &json!("user-coupons"))
    );
    assert!(
        last["reason"]
            .as_str()
            .unwrap()
            .starts_with("cutover coupon: forced: via the admin API"),
        "{last}"
    );
    // Without the token, the proxy refuses and nothing changes.
    let (code, _, stderr) = msa_migrate(&[
        "rollback",
        "coupon",
        "--routes",
        "user-coupons",
        "--admin",
        &replicas[2].admin,
        "--token-env",
        "MSA_E2E_NO_SUCH_TOKEN",
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("401"), "{stderr}");
    assert_eq!(
        stage(&replicas[0], "user-coupons"),
        json!({"mode": "cutover"})
    );

    // Every replica's sessions are cut (a failover, a restarted server): they
    // reconnect, and the next change still reaches them all.
    let cut = psql(
        &database.admin,
        &format!(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = '{}' AND pid <> pg_backend_pid()",
            database.name
        ),
    );
    assert!(
        cut.trim().parse::<u32>().unwrap() >= 3,
        "sessions cut: {cut}"
    );
    let (code, stdout, stderr) = msa_migrate(&[
        "cutover",
        "coupon",
        "--log",
        &verdicts,
        "--routes",
        "coupon-read",
        "--state",
        &database.url,
        "--force",
        "--reason",
        "after the sessions were cut",
    ]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let took = converge(
        &replicas,
        "coupon-read",
        &json!({"mode": "cutover"}),
        Duration::from_secs(3),
    );
    eprintln!("after reconnecting, a change converged on 3 replicas in {took:?}");

    // Then the database goes away altogether.
    database.drop_now();
    let start = Instant::now();
    for replica in &replicas {
        // One 15 s budget for all replicas, as they all lost the same database.
        let left = Duration::from_secs(15).saturating_sub(start.elapsed());
        let mut status = Value::Null;
        poll(left, Duration::from_millis(100), || {
            status = get_json(&format!("{}/status", replica.admin));
            (status["state"]["connected"] == false).then_some(())
        })
        .unwrap_or_else(|| panic!("a replica never noticed the lost database: {status}"));
        assert!(
            status["state"]["error"].as_str().is_some(),
            "the reason is shown: {status}"
        );
        assert!(!status.to_string().contains(TOKEN));
        let metrics = reqwest::blocking::get(format!("{}/metrics", replica.admin))
            .unwrap()
            .text()
            .unwrap();
        assert!(
            metrics.contains("msa_proxy_state_store_connected 0"),
            "{metrics}"
        );
    }
    // Each keeps serving its last known state: coupon reads go to the new service.
    for replica in &replicas {
        let view = get_json(&format!("{}/api/coupons/1", replica.proxy.url));
        assert_eq!(view["id"], 1, "{view}");
        assert_eq!(stage(replica, "coupon-read"), json!({"mode": "cutover"}));
        let routes = get_json(&format!("{}/routes", replica.admin));
        let read = routes["routes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "coupon-read")
            .unwrap()
            .clone();
        assert_eq!(
            read["requests"]["new"]["2xx"], 1,
            "served by the new service: {read}"
        );
    }
    // A change that cannot be recorded is not made.
    let refused = reqwest::blocking::Client::new()
        .put(format!("{}/routes/coupon-read", replicas[1].admin))
        .bearer_auth(TOKEN)
        .json(&json!({"mode": "legacy"}))
        .send()
        .unwrap();
    assert_eq!(refused.status(), 500);
    assert_eq!(
        stage(&replicas[1], "coupon-read"),
        json!({"mode": "cutover"})
    );
}

/// Sends coupon reads through the replicas, one user id after another, until stopped.
fn traffic(replicas: &[Replica]) -> (Arc<AtomicBool>, std::thread::JoinHandle<()>) {
    let urls: Vec<String> = replicas.iter().map(|r| r.proxy.url.clone()).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let stopping = Arc::clone(&stop);
    let worker = std::thread::spawn(move || {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        let mut user = 0u64;
        while !stopping.load(Ordering::Relaxed) {
            user += 1;
            let url = &urls[usize::try_from(user).unwrap() % urls.len()];
            let _ = client
                .get(format!("{url}/api/coupons/{}", user % 5 + 1))
                .header("X-User-Id", user.to_string())
                .send()
                .and_then(reqwest::blocking::Response::bytes);
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    (stop, worker)
}

#[test]
fn three_proxies_follow_a_canary_that_is_rolled_back_within_one_interval_when_the_new_service_fails()
 {
    let dir = tempfile::tempdir().unwrap();
    let database = FreshDatabase::create();
    let (monolith, coupon) = services(&dir);
    let replicas = replicas(&dir, 3, &database.url, &monolith, &coupon);
    let (stop, worker) = traffic(&replicas);

    let interval = Duration::from_secs(2);
    let mut args: Vec<String> = [
        "canary",
        "coupon",
        "--routes",
        "coupon-read",
        "--state",
        &database.url,
        "--steps",
        "10,50,90,100",
        "--interval",
        "2s",
        "--advance-after",
        "1",
        "--max-failures",
        "1",
        "--min-requests",
        "5",
        "--actor",
        "ci",
        "--reason",
        "e2e canary",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    for replica in &replicas {
        args.extend(["--admin".to_owned(), replica.admin.clone()]);
    }
    let mut controller = Command::new(workspace_binary("msa-migrate"))
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = controller.stdout.take().unwrap();
    let (lines, progress) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });

    // All three replicas follow the controller through its first steps.
    converge(
        &replicas,
        "coupon-read",
        &json!({"mode": "canary", "weight_bp": 1000}),
        Duration::from_secs(5),
    );
    // Only one controller per domain at a time.
    let second = Command::new(workspace_binary("msa-migrate"))
        .args(&args)
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(2));
    let refusal = String::from_utf8_lossy(&second.stderr);
    assert!(
        refusal.contains("another controller is running the canary of `coupon`"),
        "{refusal}"
    );
    converge(
        &replicas,
        "coupon-read",
        &json!({"mode": "canary", "weight_bp": 5000}),
        Duration::from_secs(10),
    );

    // The new service dies; the controller rolls back within one interval
    // (it looks for a failure every second, not only when the interval ends).
    drop(coupon);
    let took = converge(
        &replicas,
        "coupon-read",
        &json!({"mode": "legacy"}),
        interval,
    );
    eprintln!("rolled back on 3 replicas {took:?} after the kill");
    let status = controller.wait().unwrap();
    assert_eq!(status.code(), Some(1), "a rolled-back canary exits 1");
    stop.store(true, Ordering::Relaxed);
    worker.join().unwrap();
    reader.join().unwrap();
    let output: Vec<String> = progress.try_iter().collect();
    let output = output.join("\n");
    assert!(output.contains("ROLLED BACK to legacy"), "{output}");
    assert!(output.contains("judged FAIL"), "{output}");
    assert!(output.contains("step 2/4 (50%)"), "live progress: {output}");

    // The audit log records every step, every judgement and the rollback.
    let log = audit_rows(&database.url);
    let actions: Vec<&str> = log.iter().map(|e| e["action"].as_str().unwrap()).collect();
    let steps: Vec<&Value> = log
        .iter()
        .filter(|e| e["action"] == "canary_step")
        .map(|e| &e["after"])
        .collect();
    assert_eq!(
        steps,
        vec![
            &json!({"mode": "canary", "weight_bp": 1000}),
            &json!({"mode": "canary", "weight_bp": 5000})
        ],
        "{actions:?}"
    );
    let checks = actions.iter().filter(|a| **a == "canary_check").count();
    assert!(checks >= 2, "a pass at 10%, then the failure: {actions:?}");
    let last = log.last().unwrap();
    assert_eq!(last["action"], "canary_rollback", "{actions:?}");
    assert_eq!(last["after"], json!({"mode": "legacy"}));
    assert_eq!(last["before"], json!({"mode": "canary", "weight_bp": 5000}));
    assert_eq!(last["actor"], "ci");
    assert_eq!(last["domain"], "coupon");
    assert!(
        last["reason"].as_str().unwrap().contains("judged FAIL"),
        "{last}"
    );
    // The walk is over: the status says so, and a new controller would start afresh.
    let (code, stdout, _) = msa_migrate(&["canary", "status", "coupon", "--state", &database.url]);
    assert_eq!(code, Some(0));
    assert!(stdout.contains("rolled back"), "{stdout}");
}

/// A state store as a test reads it: a state file, or a PostgreSQL database.
enum Store {
    File(std::path::PathBuf),
    Postgres(FreshDatabase),
}

impl Store {
    fn location(&self) -> String {
        match self {
            Self::File(path) => path.display().to_string(),
            Self::Postgres(database) => database.url.clone(),
        }
    }

    /// A route's stage as the store holds it (`null` when it has none).
    fn stage(&self, route: &str) -> Value {
        match self {
            Self::File(path) => {
                serde_json::from_str::<Value>(&std::fs::read_to_string(path).unwrap_or_default())
                    .map(|v| v["routes"][route].clone())
                    .unwrap_or(Value::Null)
            }
            Self::Postgres(database) => {
                // Before the controller's first write the tables do not exist
                // yet: no stage, not an error.
                let out = Command::new("psql")
                    .args([
                        &database.url,
                        "-tAc",
                        &format!("SELECT stage FROM msa_route_stages WHERE route = '{route}'"),
                    ])
                    .output()
                    .expect("psql runs");
                serde_json::from_slice(out.stdout.trim_ascii()).unwrap_or(Value::Null)
            }
        }
    }

    fn audit(&self) -> Vec<Value> {
        match self {
            Self::File(path) => {
                let audit = path.with_file_name("msa-proxy-audit.jsonl");
                std::fs::read_to_string(audit)
                    .unwrap_or_default()
                    .lines()
                    .map(|l| serde_json::from_str(l).unwrap())
                    .collect()
            }
            Self::Postgres(database) => audit_rows(&database.url),
        }
    }
}

/// Starts a controller of coupon-read on `store` that no proxy feeds: its
/// metrics cannot be read, so every judgement is inconclusive and the walk
/// holds wherever people put it.
fn held_controller(store: &str) -> std::process::Child {
    Command::new(workspace_binary("msa-migrate"))
        .args([
            "canary",
            "coupon",
            "--routes",
            "coupon-read",
            "--state",
            store,
            "--steps",
            "5,50,100",
            "--interval",
            "300ms",
            "--admin",
            "http://127.0.0.1:9",
            "--actor",
            "ci",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

fn a_killed_controller_resumes_and_takes_every_request(store: &Store) {
    let location = store.location();
    let state = location.as_str();
    let wait_for = |expected: Value| {
        poll(Duration::from_secs(10), Duration::from_millis(20), || {
            (store.stage("coupon-read") == expected).then_some(())
        })
        .unwrap_or_else(|| panic!("never {expected}: {}", store.stage("coupon-read")));
    };
    let status = || msa_migrate(&["canary", "status", "coupon", "--state", state]).1;
    let mut first = held_controller(state);
    wait_for(json!({"mode": "canary", "weight_bp": 500}));
    let (code, stdout, stderr) = msa_migrate(&["canary", "promote", "coupon", "--state", state]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("asked the running controller"), "{stdout}");
    wait_for(json!({"mode": "canary", "weight_bp": 5000}));

    // Two requests in quick succession both reach the controller, in order
    // (one record slot kept only the second: issue 7).
    for verb in ["pause", "resume"] {
        let (code, _, stderr) = msa_migrate(&[
            "canary", verb, "coupon", "--state", state, "--actor", "erin",
        ]);
        assert_eq!(code, Some(0), "{stderr}");
    }
    let acted = poll(Duration::from_secs(10), Duration::from_millis(50), || {
        let actions: Vec<String> = store
            .audit()
            .iter()
            .filter(|e| e["actor"] == "erin")
            .map(|e| e["action"].as_str().unwrap().to_owned())
            .collect();
        (actions.len() == 2).then_some(actions)
    })
    .unwrap_or_else(|| panic!("both requests acted on: {:?}", store.audit()));
    assert_eq!(acted, ["canary_pause", "canary_resume"]);
    poll(Duration::from_secs(5), Duration::from_millis(50), || {
        let now = status();
        (now.contains("step 2/3 (50%)") && !now.contains("paused")).then_some(())
    })
    .unwrap_or_else(|| panic!("paused, then resumed: {}", status()));

    // Killed: its walk stays in the store, and a new controller resumes it.
    first.kill().unwrap();
    first.wait().unwrap();
    let now = status();
    assert!(now.contains("step 2/3 (50%)"), "{now}");
    assert!(now.contains("no controller is running"), "{now}");
    let mut second = held_controller(state);
    let mut out = BufReader::new(second.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert!(line.contains("resuming the walk"), "{line}");
    assert!(line.contains("step 2/3 (50%)"), "{line}");
    assert_eq!(
        store.stage("coupon-read"),
        json!({"mode": "canary", "weight_bp": 5000})
    );

    // An abort from a person rolls back at once, and the controller ends.
    let (code, _, stderr) = msa_migrate(&[
        "canary", "abort", "coupon", "--state", state, "--actor", "carol", "--reason", "pager",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    wait_for(json!({"mode": "legacy"}));
    assert_eq!(second.wait().unwrap().code(), Some(1));
    let entries = store.audit();
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for expected in [
        "canary_step",
        "canary_promote",
        "canary_resume",
        "canary_abort",
        "canary_rollback",
    ] {
        assert!(actions.contains(&expected), "{expected} in {actions:?}");
    }
    let abort = entries
        .iter()
        .find(|e| e["action"] == "canary_abort")
        .unwrap();
    assert_eq!(abort["actor"], "carol");
    assert!(
        status().contains("rolled back: aborted by a person"),
        "{}",
        status()
    );
    assert!(
        entries.iter().all(|e| e["actor"] != "unknown"),
        "every entry names someone: {actions:?}"
    );

    // A rollback by a person who gives no name and no reason: the audit log
    // names them from the environment and says that no reason was given.
    let rollback = Command::new(workspace_binary("msa-migrate"))
        .args([
            "rollback",
            "coupon",
            "--routes",
            "coupon-read",
            "--state",
            state,
        ])
        .env("USER", "frank")
        .output()
        .unwrap();
    assert_eq!(
        rollback.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&rollback.stderr)
    );
    let last = store.audit().pop().unwrap();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(last["actor"], format!("frank@{}", host.trim()));
    assert_eq!(last["reason"], "(no reason given)");
}

#[test]
fn a_killed_controller_resumes_its_walk_and_takes_requests_from_people() {
    let dir = tempfile::tempdir().unwrap();
    a_killed_controller_resumes_and_takes_every_request(&Store::File(
        dir.path().join("msa-proxy-state.json"),
    ));
}

#[test]
fn a_killed_controller_resumes_its_walk_from_postgresql() {
    let store = Store::Postgres(FreshDatabase::create());
    a_killed_controller_resumes_and_takes_every_request(&store);
}

/// A playbook of coupon-read for these tests: readiness judges performance
/// (summed over the replicas) and the stage; the gates whose evidence needs
/// other tools (analysis, verify, shadow) are not critical here.
fn write_playbook(dir: &tempfile::TempDir, extra: &str) -> String {
    let playbooks = dir.path().join("playbooks");
    std::fs::create_dir_all(&playbooks).unwrap();
    std::fs::write(
        playbooks.join("coupon.yaml"),
        format!(
            "domain: coupon
owner: team-coupon
upstream: coupon
routes:
  - name: coupon-read
    methods: [GET]
    path: /api/coupons/{{id}}
gates:
  coupling: {{critical: false}}
  data: {{critical: false}}
  behaviour: {{critical: false}}
  performance: {{min_requests: 30, max_error_rate_delta: 0.05, max_latency_shift: 0.45}}
  stage: {{critical: true, require: canary}}
{extra}"
        ),
    )
    .unwrap();
    playbooks.display().to_string()
}

/// Coupon reads through the replicas in turn, each as its own user: `count`
/// of them, all answered.
fn reads(replicas: &[Replica], count: u64) {
    let client = reqwest::blocking::Client::new();
    for user in 0..count {
        let replica = &replicas[usize::try_from(user).unwrap() % replicas.len()];
        let answer = client
            .get(format!(
                "{}/api/coupons/{}",
                replica.proxy.url,
                user % 5 + 1
            ))
            .header("X-User-Id", user.to_string())
            .send()
            .unwrap();
        assert_eq!(answer.status(), 200);
    }
}

#[test]
fn a_multi_replica_cutover_on_postgresql_passes_readiness_on_every_replicas_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let database = FreshDatabase::create();
    let (monolith, coupon) = services(&dir);
    let replicas = replicas(&dir, 3, &database.url, &monolith, &coupon);
    let playbooks = write_playbook(&dir, "");
    let log = readiness_log(&dir);
    let cutover = |extra: &[&str]| {
        let mut args = vec![
            "cutover",
            "coupon",
            "--playbooks",
            &playbooks,
            "--state",
            &database.url,
            "--log",
            &log,
            "--reason",
            "CAB-142",
            "--actor",
            "ci",
        ];
        for replica in &replicas {
            args.extend(["--admin", replica.admin.as_str()]);
        }
        args.extend_from_slice(extra);
        msa_migrate(&args)
    };

    // Before any canary the verdict is a real NOT READY (stage legacy, no
    // traffic on the new service): refused, and nothing moves.
    let (code, stdout, stderr) = cutover(&[]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains("`coupon` is not ready for cutover: coupon is not ready"),
        "{stderr}"
    );
    assert!(
        stderr.contains("stage"),
        "the failing gate is named: {stderr}"
    );
    assert_eq!(
        stage(&replicas[0], "coupon-read"),
        json!({"mode": "legacy"})
    );

    // A canary at 50% through one replica's batch endpoint, then traffic
    // through all three: each replica sees a third of it.
    let answer = reqwest::blocking::Client::new()
        .put(format!("{}/routes", replicas[1].admin))
        .bearer_auth(TOKEN)
        .header("X-Msa-Actor", "alice")
        .json(&json!({"routes": {"coupon-read": {"mode": "canary", "weight_bp": 5000}}, "reason": "canary"}))
        .send()
        .unwrap();
    assert_eq!(answer.status(), 200, "{:?}", answer.text());
    converge(
        &replicas,
        "coupon-read",
        &json!({"mode": "canary", "weight_bp": 5000}),
        Duration::from_secs(2),
    );
    reads(&replicas, 360);

    let (code, stdout, stderr) = cutover(&[]);
    assert_eq!(code, Some(0), "ready without --force: {stdout}{stderr}");
    assert!(
        stdout.contains("coupon-read: canary 50% -> cutover"),
        "{stdout}"
    );
    converge(
        &replicas,
        "coupon-read",
        &json!({"mode": "cutover"}),
        Duration::from_secs(1),
    );
    // The verdict weighed all three replicas' traffic, and the stages from the store.
    let last: Value = serde_json::from_str(
        std::fs::read_to_string(&log)
            .unwrap()
            .lines()
            .last()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(last["verdict"]["ready"], true, "{last:#}");
    let gates = last["verdict"]["gates"].as_array().unwrap();
    let performance = gates.iter().find(|g| g["gate"] == "performance").unwrap();
    let served = performance["inputs"]["new"]["requests"].as_u64().unwrap()
        + performance["inputs"]["legacy"]["requests"]
            .as_u64()
            .unwrap();
    assert_eq!(served, 360, "summed over the replicas: {performance:#}");
    assert_eq!(performance["outcome"], "pass", "{performance:#}");
    assert_eq!(last["sources"]["admin"].as_array().unwrap().len(), 3);
    let entry = audit_rows(&database.url).pop().unwrap();
    assert_eq!(
        (&entry["actor"], &entry["action"], &entry["reason"]),
        (&json!("ci"), &json!("cutover"), &json!("CAB-142"))
    );

    // Through the admin API a domain moves all at once or not at all: one
    // route the proxy does not know refuses the whole change.
    let refused = Command::new(workspace_binary("msa-migrate"))
        .args([
            "rollback",
            "coupon",
            "--routes",
            "coupon-read,no-such-route",
            "--admin",
            &replicas[0].admin,
            "--reason",
            "half a domain",
        ])
        .env("MSA_ADMIN_TOKEN", TOKEN)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no route was changed"), "{stderr}");
    assert!(stderr.contains("no-such-route"), "{stderr}");
    assert_eq!(
        stage(&replicas[0], "coupon-read"),
        json!({"mode": "cutover"})
    );
    assert_eq!(
        audit_rows(&database.url).pop().unwrap()["action"],
        "cutover",
        "nothing was recorded either"
    );
}

#[test]
fn canary_dry_run_shows_the_playbooks_walk_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let playbooks = write_playbook(
        &dir,
        "canary: {steps: [5, 25, 100], interval: 30s, advance_after: 2, max_failures: 2, approval: [100]}
rollback: {automatic: false, to: shadow}
",
    );
    let state = dir.path().join("msa-proxy-state.json");
    let (code, stdout, stderr) = msa_migrate(&[
        "canary",
        "coupon",
        "--playbooks",
        &playbooks,
        "--state",
        state.to_str().unwrap(),
        "--dry-run",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    for expected in [
        "canary of `coupon` (dry run: nothing changes)",
        "routes: coupon-read",
        "steps: 5% -> 25% -> 100% (approval)",
        "every 30s: 2 consecutive passes advance, 2 failure(s) roll back to shadow",
        "at least 30 requests a side",
        "rollback is not automatic",
    ] {
        assert!(stdout.contains(expected), "{expected:?} in:\n{stdout}");
    }
    assert!(!state.exists(), "a dry run writes no state");
}

/// One proxy on a state file in front of the monolith, its coupon upstream
/// a port nobody listens on: every request the canary sends there fails.
fn proxy_with_a_dead_service(dir: &tempfile::TempDir, monolith: &Running) -> Replica {
    let token = dir.path().join("admin-token");
    std::fs::write(&token, TOKEN).unwrap();
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_at = dead.local_addr().unwrap();
    drop(dead);
    let path = dir.path().join("proxy.yaml");
    std::fs::write(
        &path,
        format!(
            "listen: 127.0.0.1:0
workers: 1
legacy: monolith
admin:
  listen: 127.0.0.1:0
  token_file: {}
state:
  file: msa-proxy-state.json
upstreams:
  monolith:
    endpoints: [{}]
  coupon:
    endpoints: [{dead_at}]
routes:
  - name: coupon-read
    methods: [GET]
    path: /api/coupons/{{id}}
    upstream: coupon
    sticky: header:X-User-Id
    mode: shadow
",
            token.display(),
            monolith.authority(),
        ),
    )
    .unwrap();
    let mut proxy = Running::start(
        "msa-migrate",
        &["proxy", "--config", path.to_str().unwrap()],
    );
    let admin = proxy.next_url("admin");
    Replica { proxy, admin }
}

#[test]
fn a_playbook_driven_canary_halts_without_automatic_rollback_and_rolls_back_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let (monolith, _coupon) = services(&dir);
    let replica = proxy_with_a_dead_service(&dir, &monolith);
    let replicas = [replica];
    let state = dir.path().join("msa-proxy-state.json");
    let state = state.to_str().unwrap();
    let (stop, worker) = traffic(&replicas);
    let run = |rollback: &str, progress: &str| {
        let playbooks = write_playbook(
            &dir,
            &format!(
                "canary: {{steps: [20, 60], interval: 1s, advance_after: 1, max_failures: 1}}
rollback: {{automatic: {rollback}, to: shadow}}
"
            ),
        );
        Command::new(workspace_binary("msa-migrate"))
            .args([
                "canary",
                "coupon",
                "--playbooks",
                &playbooks,
                "--state",
                state,
                "--admin",
                &replicas[0].admin,
                "--min-requests",
                "10",
                "--actor",
                "ci",
                "--progress",
                progress,
            ])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let status = || msa_migrate(&["canary", "status", "coupon", "--state", state]).1;

    // rollback.automatic: false: the failure halts the walk at its weight
    // and the controller waits for a person.
    let mut controller = run("false", "text");
    poll(Duration::from_secs(15), Duration::from_millis(100), || {
        status().contains("HALTED").then_some(())
    })
    .unwrap_or_else(|| panic!("never halted: {}", status()));
    assert!(
        status().contains("step 1/2 (20%)"),
        "the playbook's first step: {}",
        status()
    );
    // The proxy follows its state file (polled every 0.5 s).
    let at =
        |expected: Value| converge(&replicas, "coupon-read", &expected, Duration::from_secs(3));
    at(json!({"mode": "canary", "weight_bp": 2000}));
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        controller.try_wait().unwrap().is_none(),
        "still running, still judging"
    );
    assert_eq!(
        stage(&replicas[0], "coupon-read"),
        json!({"mode": "canary", "weight_bp": 2000})
    );
    // A person decides: abort rolls back, to the playbook's `rollback.to`.
    let (code, _, stderr) = msa_migrate(&[
        "canary", "abort", "coupon", "--state", state, "--actor", "carol", "--reason", "dead",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(controller.wait().unwrap().code(), Some(1));
    let mut said = String::new();
    std::io::Read::read_to_string(&mut controller.stdout.take().unwrap(), &mut said).unwrap();
    assert!(said.contains("HALTED at 20%"), "{said}");
    assert!(said.contains("ROLLED BACK to shadow"), "{said}");
    at(json!({"mode": "shadow"}));

    // rollback.automatic: true: the same failure rolls back on its own.
    let mut controller = run("true", "text");
    assert_eq!(
        controller.wait().unwrap().code(),
        Some(1),
        "rolled back: exit 1"
    );
    let mut said = String::new();
    std::io::Read::read_to_string(&mut controller.stdout.take().unwrap(), &mut said).unwrap();
    assert!(said.contains("now at step 1/2 (20%)"), "{said}");
    assert!(said.contains("judged FAIL"), "{said}");
    assert!(said.contains("ROLLED BACK to shadow"), "{said}");
    assert!(!said.contains("HALTED"), "{said}");
    at(json!({"mode": "shadow"}));

    // Again with --progress json: every line one JSON event, the failing
    // window judged with each gate's outcome, then the rollback and the end.
    let mut controller = run("true", "json");
    assert_eq!(controller.wait().unwrap().code(), Some(1));
    stop.store(true, Ordering::Relaxed);
    worker.join().unwrap();
    let mut said = String::new();
    std::io::Read::read_to_string(&mut controller.stdout.take().unwrap(), &mut said).unwrap();
    let events: Vec<Value> = said
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|err| panic!("not JSON ({err}): {line}"))
        })
        .collect();
    let names: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    assert_eq!(
        names.len(),
        events.len(),
        "every line names its event: {said}"
    );
    assert_eq!(names[..2], ["started", "step"], "{said}");
    assert_eq!(names.last(), Some(&"finished"), "{said}");
    let failed = events
        .iter()
        .find(|e| e["event"] == "judged" && e["outcome"] == "fail")
        .unwrap_or_else(|| panic!("a failing judgement: {said}"));
    assert_eq!(failed["weight_bp"], 2_000, "{failed:#}");
    let performance = failed["gates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["gate"] == "performance")
        .unwrap_or_else(|| panic!("the performance gate: {failed:#}"));
    assert_eq!(performance["outcome"], "fail", "{failed:#}");
    assert!(
        performance["summary"].as_str().unwrap().contains("5xx"),
        "{failed:#}"
    );
    let rolled = events
        .iter()
        .find(|e| e["event"] == "rolled_back")
        .unwrap_or_else(|| panic!("a rollback: {said}"));
    assert_eq!(rolled["to"], json!({"mode": "shadow"}));
    assert_eq!(rolled["walk"]["phase"], "rolled_back");
    assert_eq!(events.last().unwrap()["exit_code"], 1);
    at(json!({"mode": "shadow"}));
    let audit = std::fs::read_to_string(dir.path().join("msa-proxy-audit.jsonl")).unwrap();
    let actions: Vec<String> = audit
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["action"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        actions.iter().filter(|a| *a == "canary_halt").count(),
        1,
        "{actions:?}"
    );
    assert_eq!(
        actions.iter().filter(|a| *a == "canary_rollback").count(),
        3,
        "{actions:?}"
    );
}
