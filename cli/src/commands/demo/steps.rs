//! The visible step list, and the real commands it runs as child processes.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

use anyhow::{Context as _, bail};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

/// The step list: numbering, timing, colour, and the child processes.
#[derive(Debug)]
pub(super) struct Steps {
    total: usize,
    n: usize,
    title: String,
    started: Instant,
    color: bool,
    exe: PathBuf,
    dir: PathBuf,
    env: Vec<(String, String)>,
}

/// What a finished command said.
#[derive(Debug)]
pub(super) struct Ran {
    pub(super) code: Option<i32>,
    pub(super) stdout: String,
}

#[allow(
    clippy::print_stdout,
    reason = "the demo's step list is its output, for a person watching"
)]
impl Steps {
    pub(super) fn new(
        total: usize,
        dir: &Path,
        env: Vec<(String, String)>,
    ) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("cannot find the msa-migrate binary itself")?;
        let color = crate::logging::colour(std::io::stdout().is_terminal());
        Ok(Self {
            total,
            n: 0,
            title: String::new(),
            started: Instant::now(),
            color,
            exe,
            dir: dir.to_owned(),
            env,
        })
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    /// Starts the next step.
    pub(super) fn begin(&mut self, title: &str) {
        self.n += 1;
        self.title = title.to_owned();
        self.started = Instant::now();
        let head = format!("[{}/{}] {title}", self.n, self.total);
        println!("\n{}", self.paint("1", &head));
    }

    /// Ends the current step.
    pub(super) fn done(&self, summary: &str) {
        let took = self.started.elapsed().as_secs_f64();
        let line = format!(
            "[{}/{}] {} ... done in {took:.1}s{}",
            self.n,
            self.total,
            self.title,
            if summary.is_empty() {
                String::new()
            } else {
                format!(": {summary}")
            }
        );
        println!("{}", self.paint("32", &line));
    }

    /// A line of explanation under the current step.
    pub(super) fn say(&self, text: &str) {
        for line in text.lines() {
            println!("    {line}");
        }
    }

    /// Shows a command as a person would type it in the work directory.
    fn show(&self, args: &[&str]) {
        let line = format!("  $ msa-migrate {}", shell_words(args));
        println!("{}", self.paint("36", &line));
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.exe);
        command
            .args(args)
            .current_dir(&self.dir)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        command
    }

    /// Runs `msa-migrate ARGS` to its end; shows it and up to `lines` lines of its
    /// output. An exit code outside `expect` stops the demo, naming the step.
    pub(super) async fn run(
        &self,
        args: &[&str],
        expect: &[i32],
        lines: usize,
    ) -> anyhow::Result<Ran> {
        self.show(args);
        let output = self
            .command(args)
            .output()
            .await
            .with_context(|| format!("cannot run {}", self.exe.display()))?;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let code = output.status.code();
        let shown: Vec<&str> = stdout.lines().filter(|l| !l.trim().is_empty()).collect();
        for line in shown.iter().take(lines) {
            println!("    {line}");
        }
        if shown.len() > lines {
            println!("    … ({} more lines)", shown.len() - lines);
        }
        if !code.is_some_and(|c| expect.contains(&c)) {
            let mut why = format!(
                "step {}/{} ({}) failed: `msa-migrate {}` exited with {}",
                self.n,
                self.total,
                self.title,
                shell_words(args),
                code.map_or_else(|| "a signal".to_owned(), |c| c.to_string())
            );
            if code == Some(2) && stderr.contains("not built yet") {
                why = format!(
                    "not yet: step {}/{} ({}): `msa-migrate {}` is not built yet",
                    self.n,
                    self.total,
                    self.title,
                    args.first().copied().unwrap_or_default()
                );
            }
            for line in stderr
                .lines()
                .chain(stdout.lines())
                .rev()
                .take(12)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
            {
                why.push_str("\n    ");
                why.push_str(line);
            }
            bail!(StepFailed {
                message: why,
                hint: format!(
                    "run it by hand to see all of it: cd {} && {} {}",
                    self.dir.display(),
                    self.exe.display(),
                    shell_words(args)
                ),
            });
        }
        Ok(Ran { code, stdout })
    }

    /// Runs `msa-migrate ARGS` without showing it: for polling. Its stdout.
    pub(super) async fn quiet(&self, args: &[&str]) -> String {
        match self.command(args).output().await {
            Ok(output) => String::from_utf8_lossy(&output.stdout).into_owned(),
            Err(_) => String::new(),
        }
    }

    /// Runs the same commands, unseen, from a task of its own.
    pub(super) fn background(&self) -> Background {
        Background {
            exe: self.exe.clone(),
            dir: self.dir.clone(),
            env: self.env.clone(),
        }
    }

    /// Starts `msa-migrate ARGS` and keeps it running; waits for each of
    /// `announce` (a stdout line prefix) and returns the rest of those lines.
    pub(super) async fn spawn(
        &self,
        args: &[&str],
        log: &Path,
        announce: &[&str],
    ) -> anyhow::Result<(Child, Vec<String>)> {
        self.show(args);
        let log_file = std::fs::File::create(log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        let mut child = self
            .command(args)
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("cannot run {}", self.exe.display()))?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let mut found = Vec::new();
        let wait = async {
            while found.len() < announce.len() {
                let Some(line) = lines.next_line().await? else {
                    break;
                };
                if let Some(rest) = line.strip_prefix(announce[found.len()]) {
                    found.push(rest.trim().to_owned());
                }
            }
            anyhow::Ok(())
        };
        let waited = tokio::time::timeout(std::time::Duration::from_secs(30), wait).await;
        if !matches!(waited, Ok(Ok(()))) || found.len() < announce.len() {
            let log_text = std::fs::read_to_string(log).unwrap_or_default();
            bail!(StepFailed {
                message: format!(
                    "step {}/{} ({}) failed: `msa-migrate {}` did not start (log: {})\n    {}",
                    self.n,
                    self.total,
                    self.title,
                    shell_words(args),
                    log.display(),
                    log_text
                        .lines()
                        .rev()
                        .take(8)
                        .collect::<Vec<_>>()
                        .join("\n    ")
                ),
                hint: format!(
                    "run it by hand: cd {} && {} {}",
                    self.dir.display(),
                    self.exe.display(),
                    shell_words(args)
                ),
            });
        }
        // Keep draining stdout, so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok((child, found))
    }
}

/// Runs `msa-migrate` commands in the work directory without showing them.
#[derive(Debug, Clone)]
pub(super) struct Background {
    exe: PathBuf,
    dir: PathBuf,
    env: Vec<(String, String)>,
}

impl Background {
    /// Runs `msa-migrate ARGS` to its end: its exit code and stderr.
    pub(super) async fn run(&self, args: &[String]) -> (Option<i32>, String) {
        let output = Command::new(&self.exe)
            .args(args)
            .current_dir(&self.dir)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output()
            .await;
        match output {
            Ok(output) => (
                output.status.code(),
                String::from_utf8_lossy(&output.stderr).into_owned(),
            ),
            Err(err) => (None, format!("cannot run {}: {err}", self.exe.display())),
        }
    }
}

/// A step that did not do what the path needs: the demo stops here, saying how
/// to run the step's command by hand.
#[derive(Debug)]
pub(super) struct StepFailed {
    pub(super) message: String,
    pub(super) hint: String,
}

impl std::fmt::Display for StepFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}\n  {}", self.message, self.hint)
    }
}

impl std::error::Error for StepFailed {}

/// Arguments as a person would type them (quoted when needed).
fn shell_words(args: &[&str]) -> String {
    args.iter()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@%+".contains(c))
            {
                (*a).to_owned()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
