//! `--format json` and `--progress json`: stdout carries only JSON, in the
//! shapes docs/canary.md and docs/playbook.md describe, and the exit codes
//! stay what the text output has.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_msa-migrate"))
        .args(args)
        .output()
        .expect("msa-migrate runs")
}

/// stdout as one JSON document: fails on anything else in it.
fn json_of(out: &Output) -> Value {
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    serde_json::from_str(&stdout).unwrap_or_else(|err| {
        panic!(
            "stdout is not one JSON document ({err}):\n{stdout}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn path(dir: &Path, name: &str) -> String {
    dir.join(name).display().to_string()
}

/// A loopback port nothing listens on: an admin API whose evidence cannot
/// be read, so every window is inconclusive and the walk holds.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[test]
fn playbook_check_lists_every_file_with_all_its_problems_and_keeps_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let good = Path::new(env!("CARGO_MANIFEST_DIR")).join("../playbooks/coupon.yaml");
    let bad = path(dir.path(), "bad.yaml");
    std::fs::write(
        &bad,
        "domain: coupon
owner: team
upstream: coupon
routes:
  - name: coupon-read
    methods: [GET, FETCH]
    path: api/coupons/{id}
canary:
  steps: [5, 1]
  interval: soon
",
    )
    .unwrap();
    let missing = path(dir.path(), "missing.yaml");
    let good = good.display().to_string();
    let out = run(&[
        "playbook", "check", &good, &bad, &missing, "--format", "json",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("error: 2 of 3 playbook(s) invalid"),
        "{stderr}"
    );
    let report = json_of(&out);
    assert_eq!(report["ok"], false);
    let files = report["files"].as_array().unwrap();
    assert_eq!(files.len(), 3);
    assert_eq!(files[0]["ok"], true);
    assert_eq!(files[0]["domain"], "coupon");
    assert_eq!(
        files[0]["routes"],
        json!(["coupon-read", "coupon-issue", "user-coupons"])
    );
    assert_eq!(files[0]["errors"], json!([]));

    assert_eq!(
        (&files[1]["file"], &files[1]["ok"]),
        (&json!(bad), &json!(false))
    );
    assert_eq!(files[1]["domain"], Value::Null);
    let errors = files[1]["errors"].as_array().unwrap();
    let found: Vec<(u64, &str)> = errors
        .iter()
        .map(|e| (e["line"].as_u64().unwrap(), e["field"].as_str().unwrap()))
        .collect();
    assert_eq!(
        found,
        [
            (6, "routes[0].methods[1]"),
            (7, "routes[0].path"),
            (9, "canary.steps[1]"),
            (10, "canary.interval"),
        ],
        "{errors:#?}"
    );
    let steps = &errors[2];
    assert_eq!(steps["file"], json!(bad));
    assert_eq!(steps["column"], 14, "the `1` in `  steps: [5, 1]`");
    assert_eq!(steps["message"], "1 does not go up from the step before");
    assert_eq!(steps["fix"], "list steps in increasing order");
    assert!(
        errors[0]["fix"]
            .as_str()
            .unwrap()
            .starts_with("write one of GET"),
        "{errors:#?}"
    );

    assert_eq!(files[2]["ok"], false);
    let unread = &files[2]["errors"][0];
    assert_eq!(unread["field"], Value::Null);
    assert!(
        unread["message"]
            .as_str()
            .unwrap()
            .starts_with(&format!("cannot read {missing}")),
        "{unread}"
    );

    // Every file valid: exit 0, `ok`, nothing on stderr.
    let out = run(&["playbook", "check", &good, "--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stderr.is_empty());
    assert_eq!(json_of(&out)["ok"], true);
}

#[test]
fn cutover_and_rollback_report_every_route_before_and_after_as_one_object() {
    let dir = tempfile::tempdir().unwrap();
    let state = path(dir.path(), "state.json");
    let nowhere = path(dir.path(), "no-playbooks");
    let log = path(dir.path(), "readiness.jsonl");
    let routes = "coupon-read,user-coupons";
    let common = [
        "coupon",
        "--routes",
        routes,
        "--playbooks",
        &nowhere,
        "--state",
        &state,
        "--actor",
        "alice",
        "--format",
        "json",
    ];

    let out = run(&[&["rollback"][..], &common, &["--to", "shadow"]].concat());
    assert_eq!(out.status.code(), Some(0));
    let back = json_of(&out);
    assert_eq!(back["action"], "rollback");
    assert_eq!(back["reason"], Value::Null);
    assert_eq!(back["audit_reason"], "(no reason given)");
    assert_eq!(
        back["routes"][0],
        json!({"route": "coupon-read", "before": null, "after": {"mode": "shadow"}})
    );

    // No playbook, so no readiness verdict: only --force cuts over, and says so.
    let out = run(&[
        &["cutover"][..],
        &common,
        &["--force", "--reason", "x", "--log", &log],
    ]
    .concat());
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("note: readiness does not pass"),
        "{stderr}"
    );
    let cut = json_of(&out);
    assert_eq!(cut["action"], "cutover");
    assert_eq!(cut["domain"], "coupon");
    assert_eq!(cut["actor"], "alice");
    assert_eq!(cut["reason"], "x");
    assert_eq!(cut["forced"], true);
    assert_eq!(cut["readiness"]["outcome"], "unknown");
    assert!(
        cut["audit_reason"]
            .as_str()
            .unwrap()
            .starts_with("forced: x (readiness: "),
        "{cut:#}"
    );
    assert_eq!(
        cut["applied_in"],
        json!({"kind": "state_store", "location": state})
    );
    assert_eq!(
        cut["routes"],
        json!([
            {"route": "coupon-read", "before": {"mode": "shadow"}, "after": {"mode": "cutover"}},
            {"route": "user-coupons", "before": {"mode": "shadow"}, "after": {"mode": "cutover"}},
        ])
    );
    assert_eq!(cut["canary_stopped"], false);
    assert!(cut["at"].as_str().unwrap().ends_with('Z'), "{cut:#}");

    // What the JSON says is what the store and its audit log hold.
    let stored: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(stored["routes"]["user-coupons"], json!({"mode": "cutover"}));

    let out = run(&[&["rollback"][..], &common, &["--reason", "pager"]].concat());
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stderr.is_empty());
    let back = json_of(&out);
    assert_eq!(
        (&back["reason"], &back["forced"]),
        (&json!("pager"), &json!(false))
    );
    assert_eq!(back["readiness"], Value::Null);
    assert_eq!(
        back["routes"][1],
        json!({"route": "user-coupons", "before": {"mode": "cutover"}, "after": {"mode": "legacy"}})
    );
}

/// A controller's stdout, line by line, as it comes.
struct Lines(mpsc::Receiver<String>);

impl Lines {
    fn of(child: &mut Child) -> Self {
        let stdout = child.stdout.take().unwrap();
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Self(lines)
    }

    /// Each line parsed (a line that is not JSON fails the test), up to and
    /// including the first `event`.
    fn until(&self, event: &str) -> Vec<Value> {
        let mut seen = Vec::new();
        loop {
            let line = self
                .0
                .recv_timeout(Duration::from_secs(20))
                .unwrap_or_else(|_| panic!("no `{event}` event; saw {seen:#?}"));
            let value: Value = serde_json::from_str(&line)
                .unwrap_or_else(|err| panic!("not a JSON line ({err}): {line}"));
            let done = value["event"] == event;
            seen.push(value);
            if done {
                return seen;
            }
        }
    }
}

fn controller(state: &str, admin: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_msa-migrate"))
        .args([
            "canary",
            "coupon",
            "--routes",
            "coupon-read",
            "--state",
            state,
            "--steps",
            "5,50",
            "--interval",
            "300ms",
            "--admin",
            admin,
            "--actor",
            "ci",
            "--progress",
            "json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("msa-migrate runs")
}

#[test]
fn the_controller_emits_one_json_event_per_line_and_status_shows_its_record() {
    let dir = tempfile::tempdir().unwrap();
    let state = path(dir.path(), "state.json");
    let status = || {
        json_of(&run(&[
            "canary", "status", "coupon", "--state", &state, "--format", "json",
        ]))
    };
    assert_eq!(
        status(),
        json!({"domain": "coupon", "controller_running": false, "canary": null})
    );

    let admin = format!("http://127.0.0.1:{}", closed_port());
    let mut child = controller(&state, &admin);
    let lines = Lines::of(&mut child);
    let begun = lines.until("judged");
    let names: Vec<&str> = begun.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(names, ["started", "step", "judged"], "{begun:#?}");
    for event in &begun {
        assert_eq!(event["domain"], "coupon");
        assert!(event["at"].as_str().unwrap().ends_with('Z'), "{event}");
    }
    assert_eq!(begun[0]["walk"]["steps_bp"], json!([500, 5_000]));
    assert_eq!(begun[0]["interval_ms"], 300);
    assert_eq!(begun[1]["walk"]["weight_bp"], 500);
    assert_eq!(begun[1]["cause"], "started");
    // The judgement: each gate's outcome, and why it cannot pass.
    let judged = &begun[2];
    assert_eq!(judged["outcome"], "inconclusive", "{judged:#}");
    assert_eq!(judged["early"], false);
    let gates: Vec<(&str, &str)> = judged["gates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["gate"].as_str().unwrap(), g["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(
        gates,
        [("performance", "no_data"), ("behaviour", "no_data")]
    );
    assert_eq!(
        judged["unreadable"].as_array().unwrap().len(),
        2,
        "{judged:#}"
    );
    let held = lines.until("held");
    assert_eq!(held.last().unwrap()["walk"]["phase"], "held");

    // The record, while it runs: its step, counts and last judgement.
    let now = status();
    assert_eq!(now["controller_running"], true, "{now:#}");
    let walk = &now["canary"];
    assert_eq!(walk["phase"], "held", "{now:#}");
    assert_eq!(walk["held_outcome"], "inconclusive");
    assert_eq!(
        (&walk["step_index"], &walk["weight_bp"]),
        (&json!(0), &json!(500))
    );
    assert_eq!((&walk["passes"], &walk["failures"]), (&json!(0), &json!(0)));
    assert_eq!(walk["awaiting_approval"], false);
    assert_eq!(walk["routes"], json!(["coupon-read"]));
    assert!(walk["updated_at"].as_str().is_some(), "{now:#}");
    assert_eq!(walk["last_judgement"]["outcome"], "inconclusive");
    assert_eq!(walk["last_judgement"]["gates"][0]["gate"], "performance");
    // The text says the same, the last judgement on a line of its own.
    let text =
        String::from_utf8(run(&["canary", "status", "coupon", "--state", &state]).stdout).unwrap();
    let lines_said: Vec<&str> = text.lines().collect();
    assert!(
        lines_said[0].starts_with("coupon: step 1/2 (5%): held (inconclusive)"),
        "{text}"
    );
    assert!(
        lines_said[1].starts_with("  last judged inconclusive at "),
        "{text}"
    );
    assert!(lines_said[1].contains("(5%): new 0 req"), "{text}");

    // People steer it: the requests are handed over, then acted on in order.
    for (verb, reason) in [("pause", "lunch"), ("abort", "pager")] {
        let out = run(&[
            "canary", verb, "coupon", "--state", &state, "--actor", "carol", "--reason", reason,
            "--format", "json",
        ]);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        let handed = json_of(&out);
        assert_eq!(handed["handled_by"], "controller");
        assert_eq!(
            (&handed["action"], &handed["actor"]),
            (&json!(verb), &json!("carol"))
        );
        assert_eq!(handed["routes"], json!([]));
    }
    let rest = lines.until("finished");
    let names: Vec<&str> = rest.iter().map(|e| e["event"].as_str().unwrap()).collect();
    let at = |name: &str| {
        names
            .iter()
            .position(|n| *n == name)
            .unwrap_or_else(|| panic!("{name} in {names:?}"))
    };
    assert!(at("paused") < at("rolled_back"), "{names:?}");
    let requests: Vec<&Value> = rest.iter().filter(|e| e["event"] == "request").collect();
    assert_eq!(requests[0]["action"], "pause");
    assert_eq!(requests[1]["reason"], "pager");
    let rolled = &rest[at("rolled_back")];
    assert_eq!(rolled["to"], json!({"mode": "legacy"}));
    assert_eq!(rolled["by"], "carol");
    assert_eq!(rolled["walk"]["phase"], "rolled_back");
    let finished = rest.last().unwrap();
    assert_eq!(finished["exit_code"], 1);
    assert_eq!(child.wait().unwrap().code(), Some(1));
    assert!(
        lines.0.recv_timeout(Duration::from_secs(5)).is_err(),
        "nothing after `finished`"
    );
}

#[test]
fn a_request_with_no_controller_running_is_acted_on_and_reported_with_the_routes_it_moved() {
    let dir = tempfile::tempdir().unwrap();
    let state = path(dir.path(), "state.json");
    let admin = format!("http://127.0.0.1:{}", closed_port());

    // A dry run is one event, and changes nothing.
    let out = run(&[
        "canary",
        "coupon",
        "--routes",
        "coupon-read",
        "--state",
        &state,
        "--steps",
        "5,50",
        "--approval",
        "50",
        "--dry-run",
        "--progress",
        "json",
        "--actor",
        "ci",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let plan = json_of(&out);
    assert_eq!(plan["event"], "dry_run");
    assert_eq!(plan["resumes"], false);
    assert_eq!(plan["walk"]["approval_bp"], json!([5_000]));
    assert_eq!(plan["gate"]["min_requests"], 100);
    assert!(!Path::new(&state).exists(), "a dry run writes no state");

    let mut child = controller(&state, &admin);
    let lines = Lines::of(&mut child);
    lines.until("step");
    child.kill().unwrap();
    child.wait().unwrap();

    let out = run(&[
        "canary", "abort", "coupon", "--state", &state, "--actor", "dave", "--format", "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let acted = json_of(&out);
    assert_eq!(acted["handled_by"], "this_command");
    assert_eq!(acted["action"], "abort");
    assert_eq!(acted["reason"], Value::Null);
    assert_eq!(
        acted["routes"],
        json!([{"route": "coupon-read", "before": {"mode": "canary", "weight_bp": 500}, "after": {"mode": "legacy"}}])
    );
    assert_eq!(acted["canary"]["phase"], "rolled_back");
    assert_eq!(acted["canary"]["over"], true);
    assert_eq!(
        acted["applied_in"],
        json!({"kind": "state_store", "location": state})
    );
}
