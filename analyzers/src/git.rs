//! Co-change from git history: files changed in the same commit depend on each
//! other in practice. Recent commits weigh more (exponential decay with a
//! half-life of 180 days before the newest commit read); commits touching more
//! than [`HUGE_COMMIT`] files (renames, formatting, vendoring) are skipped; a
//! commit's weight is shared among its file pairs' partners (1 / (files - 1)).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde::Serialize;

/// Commits touching more files than this say nothing about coupling.
pub const HUGE_COMMIT: usize = 50;
const HALF_LIFE_SECONDS: f64 = 180.0 * 24.0 * 3600.0;

/// Co-changing file pairs.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CoChange {
    /// Commits read (huge ones included in the count).
    pub commits: usize,
    pub pairs: Vec<Pair>,
}

/// Two files (paths relative to the source root) changed together.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pair {
    pub a: String,
    pub b: String,
    /// Sum over commits of decay / (files in the commit - 1).
    pub weight: f64,
    pub commits: u32,
    /// The newest commits, abbreviated.
    pub sample_commits: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GitError {
    #[error("cannot run git in {dir}: {source}")]
    Spawn { dir: String, source: std::io::Error },
    #[error("git log failed in {dir} (is it inside a git repository?): {stderr}")]
    Failed { dir: String, stderr: String },
}

/// Reads up to `max_commits` commits (no merges) touching `source`.
pub fn cochange(source: &Path, max_commits: usize) -> Result<CoChange, GitError> {
    let dir = source.display().to_string();
    let run = |args: &[&str]| -> Result<String, GitError> {
        let out = Command::new("git")
            .arg("-C")
            .arg(source)
            .args(args)
            .output()
            .map_err(|source| GitError::Spawn {
                dir: dir.clone(),
                source,
            })?;
        if !out.status.success() {
            return Err(GitError::Failed {
                dir: dir.clone(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let prefix = run(&["rev-parse", "--show-prefix"])?.trim().to_owned();
    let log = run(&[
        "log",
        "--no-merges",
        "--name-only",
        "--format=%x00%h %ct",
        &format!("--max-count={max_commits}"),
        "--",
        ".",
    ])?;
    Ok(from_log(&log, &prefix))
}

/// Parses `git log --name-only --format=%x00%h %ct` output; paths outside
/// `prefix` are ignored, the rest made relative to it.
pub fn from_log(log: &str, prefix: &str) -> CoChange {
    let mut commits = Vec::new();
    for chunk in log.split('\0').filter(|c| !c.trim().is_empty()) {
        let mut lines = chunk.lines();
        let Some(header) = lines.next() else { continue };
        let mut parts = header.split_whitespace();
        let hash = parts.next().unwrap_or("").to_owned();
        let time: i64 = parts.next().and_then(|t| t.parse().ok()).unwrap_or(0);
        let files: Vec<String> = lines
            .filter_map(|l| l.trim().strip_prefix(prefix).map(str::to_owned))
            .filter(|l| !l.is_empty())
            .collect();
        commits.push((hash, time, files));
    }
    let newest = commits.iter().map(|c| c.1).max().unwrap_or(0);
    let mut pairs: BTreeMap<(String, String), Pair> = BTreeMap::new();
    for (hash, time, files) in &commits {
        if files.len() < 2 || files.len() > HUGE_COMMIT {
            continue;
        }
        let decay = 0.5f64.powf((newest - time) as f64 / HALF_LIFE_SECONDS);
        let share = decay / (files.len() - 1) as f64;
        for (i, a) in files.iter().enumerate() {
            for b in &files[i + 1..] {
                let (a, b) = if a < b { (a, b) } else { (b, a) };
                let pair = pairs.entry((a.clone(), b.clone())).or_insert_with(|| Pair {
                    a: a.clone(),
                    b: b.clone(),
                    weight: 0.0,
                    commits: 0,
                    sample_commits: Vec::new(),
                });
                pair.weight += share;
                pair.commits += 1;
                if pair.sample_commits.len() < 3 {
                    pair.sample_commits.push(hash.clone());
                }
            }
        }
    }
    CoChange {
        commits: commits.len(),
        pairs: pairs.into_values().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_commits_weigh_more_and_huge_ones_are_skipped() {
        let day = 86_400;
        let old = 1_000_000_000;
        let new = old + 360 * day;
        let mut log = format!(
            "\0aaa {new}\n\napp/a.rs\napp/b.rs\n\0bbb {old}\n\napp/a.rs\napp/c.rs\nother/x.rs\n"
        );
        log.push_str(&format!("\0ccc {new}\n\n"));
        for i in 0..60 {
            log.push_str(&format!("app/f{i}.rs\n"));
        }
        let cc = from_log(&log, "app/");
        assert_eq!(cc.commits, 3);
        let ab = cc.pairs.iter().find(|p| p.b == "b.rs").unwrap();
        let ac = cc.pairs.iter().find(|p| p.b == "c.rs").unwrap();
        assert!((ab.weight - 1.0).abs() < 1e-9, "{ab:?}");
        assert!((ac.weight - 0.25).abs() < 1e-9, "two half-lives: {ac:?}");
        assert_eq!(cc.pairs.len(), 2, "the 60-file commit is skipped");
    }
}
