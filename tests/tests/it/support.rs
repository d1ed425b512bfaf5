//! Finding the workspace's binaries and running them as real processes.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// The workspace root, one level above this crate's manifest.
pub(crate) fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A binary of the workspace, from the target directory this test runs from.
pub(crate) fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    // target/debug/deps/it-… → target/debug/NAME
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("a target directory")
        .join(name);
    assert!(
        path.exists(),
        "{} is not built: run the tests with `cargo nextest run --workspace`",
        path.display()
    );
    path
}

/// A process that printed `listening on http://ADDR`; killed when dropped.
pub(crate) struct Running {
    pub(crate) url: String,
    child: Child,
    stdout: BufReader<ChildStdout>,
}

impl Running {
    /// Starts a workspace binary and waits for its address.
    pub(crate) fn start(binary: &str, args: &[&str]) -> Self {
        let mut child = Command::new(workspace_binary(binary))
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {binary}: {err}"));
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("its stdout");
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("{binary} printed {line:?} instead of its address"))
            .to_owned();
        Self { url, child, stdout }
    }

    /// The next `NAME on http://ADDR` line the process printed (e.g. the
    /// proxy's `admin on …`), as a URL.
    pub(crate) fn next_url(&mut self, name: &str) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("its stdout");
        line.trim()
            .strip_prefix(&format!("{name} on "))
            .unwrap_or_else(|| panic!("expected `{name} on …`, got {line:?}"))
            .to_owned()
    }

    /// `host:port` of the listener.
    pub(crate) fn authority(&self) -> &str {
        self.url.trim_start_matches("http://")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `msa-migrate ARGS` to its end: exit code, stdout, stderr.
pub(crate) fn msa_migrate(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(workspace_binary("msa-migrate"))
        .args(args)
        .output()
        .expect("msa-migrate runs");
    (
        out.status.code(),
        String::from_utf8(out.stdout).expect("UTF-8 output"),
        String::from_utf8(out.stderr).expect("UTF-8 errors"),
    )
}

/// Asks `probe` every `every` until it gives a value, for at most `within`;
/// `None` if it never did. Proxies save, reload and compare in the background,
/// so a test polls for what it expects instead of sleeping a guessed time.
#[allow(
    clippy::disallowed_methods,
    reason = "a synchronous helper: there is no runtime to block"
)]
pub(crate) fn poll<T>(
    within: Duration,
    every: Duration,
    mut probe: impl FnMut() -> Option<T>,
) -> Option<T> {
    let begun = Instant::now();
    loop {
        if let Some(value) = probe() {
            return Some(value);
        }
        if begun.elapsed() >= within {
            return None;
        }
        std::thread::sleep(every);
    }
}

/// Waits until the shadow store at `store` has `compared` pairs for `route`
/// (a running proxy writes every 2 s) and returns that route's report.
pub(crate) fn stored_route(store: &str, route: &str, compared: u64) -> serde_json::Value {
    let ask = || {
        msa_migrate(&[
            "shadow", "report", route, "--store", store, "--format", "json",
        ])
    };
    poll(Duration::from_secs(10), Duration::from_millis(100), || {
        // Exit 2 until the proxy has saved this route: keep asking.
        let (_, stdout, _) = ask();
        serde_json::from_str::<serde_json::Value>(&stdout)
            .ok()
            .filter(|report| report["routes"][0]["compared"] == compared)
            .map(|report| report["routes"][0].clone())
    })
    .unwrap_or_else(|| {
        panic!(
            "the store never showed {compared} compared pairs for {route}: {:?}",
            ask()
        )
    })
}

/// Runs headless Chromium with the flags this closed network needs; fails
/// with how to install it when it is missing (never skips).
pub(crate) fn chromium(args: &[&str], profile: &std::path::Path) -> std::process::Output {
    let flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--virtual-time-budget=5000",
    ];
    std::process::Command::new("chromium")
        .args(flags)
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .unwrap_or_else(|err| {
            panic!(
                "cannot run chromium ({err}): apt-get install -y chromium, or run `bash .ci/run`"
            )
        })
}

/// The DOM of `page` after its scripts ran, in headless Chromium.
pub(crate) fn chromium_dom(page: &str, profile: &std::path::Path) -> String {
    let out = chromium(&["--dump-dom", page], profile);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `sqlite://` URL of the database file `name` in `dir`.
pub(crate) fn sqlite_url(dir: &std::path::Path, name: &str) -> String {
    format!("sqlite://{}", dir.join(name).display())
}

/// Whether the coupon service asks the monolith for users (`--users-url`).
#[derive(Clone, Copy)]
pub(crate) enum Users {
    FromMonolith,
    /// The coupon service stands alone, as the playbook tests always ran it.
    Standalone,
}

/// Starts the monolith and the coupon service, each on its own SQLite file in
/// `dir` (`monolith.db`, `coupon.db`) seeded with the same 50 rows, so tests
/// compare two services that start from the same data. `coupon_flags` go to
/// the coupon service last (e.g. `--quirks`).
pub(crate) fn start_services(
    dir: &std::path::Path,
    users: Users,
    coupon_flags: &[&str],
) -> (Running, Running) {
    let monolith_db = sqlite_url(dir, "monolith.db");
    let monolith = Running::start(
        "legacy-commerce",
        &[
            "--db",
            &monolith_db,
            "--listen",
            "127.0.0.1:0",
            "--seed",
            "50",
        ],
    );
    let coupon_db = sqlite_url(dir, "coupon.db");
    let mut args = vec![
        "--db",
        &coupon_db,
        "--listen",
        "127.0.0.1:0",
        "--seed",
        "50",
    ];
    if let Users::FromMonolith = users {
        args.extend(["--users-url", &monolith.url]);
    }
    args.extend_from_slice(coupon_flags);
    let coupon = Running::start("coupon-service", &args);
    (monolith, coupon)
}

/// Headless Chromium driven over the DevTools protocol (a websocket to one
/// page): navigate, evaluate, click with real mouse events, screenshot.
/// Killed when dropped. Fails with how to install Chromium when it is missing.
pub(crate) struct Browser {
    child: Child,
    socket: tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>,
    next_id: u64,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts Chromium (window 1280×900) and connects to its first page.
    pub(crate) fn start() -> Self {
        let profile = tempfile::tempdir().expect("a profile directory");
        let child = Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--window-size=1280,900",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| {
                panic!(
                    "cannot run chromium ({err}): apt-get install -y chromium, or run `bash .ci/run`"
                )
            });
        // Chromium writes the port it took into the profile.
        let active = profile.path().join("DevToolsActivePort");
        let port = poll(Duration::from_secs(30), Duration::from_millis(50), || {
            std::fs::read_to_string(&active)
                .ok()?
                .lines()
                .next()?
                .trim()
                .parse::<u16>()
                .ok()
        })
        .expect("Chromium did not open its DevTools port within 30 s");
        let page = poll(Duration::from_secs(10), Duration::from_millis(50), || {
            let targets: serde_json::Value =
                reqwest::blocking::get(format!("http://127.0.0.1:{port}/json/list"))
                    .ok()?
                    .json()
                    .ok()?;
            targets.as_array()?.iter().find(|t| t["type"] == "page")?["webSocketDebuggerUrl"]
                .as_str()
                .map(str::to_owned)
        })
        .expect("Chromium has no page to drive");
        let (socket, _) = tungstenite::connect(page.as_str()).expect("the page's DevTools socket");
        Self {
            child,
            socket,
            next_id: 0,
            _profile: profile,
        }
    }

    /// Sends one DevTools command and returns its result (events are skipped).
    pub(crate) fn call(&mut self, method: &str, params: serde_json::Value) -> serde_json::Value {
        self.next_id += 1;
        let id = self.next_id;
        let message = serde_json::json!({ "id": id, "method": method, "params": params });
        self.socket
            .send(tungstenite::Message::text(message.to_string()))
            .expect("a DevTools command sent");
        loop {
            let message = self.socket.read().expect("a DevTools message");
            let tungstenite::Message::Text(text) = message else {
                continue;
            };
            let answer: serde_json::Value =
                serde_json::from_str(text.as_str()).expect("DevTools speaks JSON");
            if answer["id"] == id {
                assert!(
                    answer["error"].is_null(),
                    "{method} failed: {}",
                    answer["error"]
                );
                return answer["result"].clone();
            }
        }
    }

    /// Loads `url` in the page.
    pub(crate) fn navigate(&mut self, url: &str) {
        self.call("Page.navigate", serde_json::json!({ "url": url }));
    }

    /// The value of a JavaScript expression in the page (awaited if a promise).
    pub(crate) fn eval(&mut self, expression: &str) -> serde_json::Value {
        let result = self.call(
            "Runtime.evaluate",
            serde_json::json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
        );
        assert!(
            result["exceptionDetails"].is_null(),
            "{expression} threw: {}",
            result["exceptionDetails"]
        );
        result["result"]["value"].clone()
    }

    /// Waits until `expression` is true in the page (one that throws, e.g.
    /// while the page loads, is not yet); panics with `what` after 10 s.
    pub(crate) fn wait_for(&mut self, expression: &str, what: &str) {
        let probe = format!(
            "(() => {{ try {{ return Boolean({expression}); }} catch {{ return false; }} }})()"
        );
        let met = poll(Duration::from_secs(10), Duration::from_millis(50), || {
            (self.eval(&probe) == true).then_some(())
        });
        assert!(
            met.is_some(),
            "{what}; the page shows:\n{}",
            self.eval("document.body.innerText")
        );
    }

    /// Clicks the first element `selector` matches, as a person does: the
    /// mouse pressed and released at its centre (scrolled into view first).
    pub(crate) fn click(&mut self, selector: &str) {
        let quoted = serde_json::to_string(selector).expect("a selector");
        let centre = self.eval(&format!(
            "(() => {{ const e = document.querySelector({quoted}); if (!e) return null;
                e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect();
                return [r.left + r.width / 2, r.top + r.height / 2]; }})()"
        ));
        let (Some(x), Some(y)) = (centre[0].as_f64(), centre[1].as_f64()) else {
            panic!(
                "nothing to click at `{selector}`; the page shows:\n{}",
                self.eval("document.body.innerText")
            );
        };
        for kind in ["mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                serde_json::json!({ "type": kind, "x": x, "y": y, "button": "left", "clickCount": 1 }),
            );
        }
    }

    /// A PNG of the whole page, written to `path`.
    pub(crate) fn screenshot(&mut self, path: &std::path::Path) {
        let shot = self.call(
            "Page.captureScreenshot",
            serde_json::json!({ "format": "png", "captureBeyondViewport": true }),
        );
        let data = shot["data"].as_str().expect("a screenshot");
        std::fs::write(path, decode_base64(data)).expect("the screenshot written");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Standard base64 (what DevTools sends screenshots in); no crate for a few lines.
fn decode_base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c:?}"),
    };
    let digits: Vec<u8> = text.bytes().filter(|c| *c != b'=').map(value).collect();
    let mut bytes = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, d)| n | u32::from(*d) << (18 - 6 * i));
        bytes.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    bytes
}
