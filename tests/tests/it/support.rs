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
