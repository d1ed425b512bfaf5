//! Finding the workspace's binaries and running them as real processes.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};

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

/// Waits until the shadow store at `store` has `compared` pairs for `route`
/// (a running proxy writes every 2 s) and returns that route's report.
#[allow(
    clippy::disallowed_methods,
    reason = "a synchronous helper: there is no runtime to block"
)]
pub(crate) fn stored_route(store: &str, route: &str, compared: u64) -> serde_json::Value {
    let ask = || {
        msa_migrate(&[
            "shadow", "report", route, "--store", store, "--format", "json",
        ])
    };
    for _ in 0..100 {
        // Exit 2 until the proxy has saved this route: keep asking.
        let (_, stdout, _) = ask();
        if let Ok(report) = serde_json::from_str::<serde_json::Value>(&stdout)
            && report["routes"][0]["compared"] == compared
        {
            return report["routes"][0].clone();
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!(
        "the store never showed {compared} compared pairs for {route}: {:?}",
        ask()
    );
}
