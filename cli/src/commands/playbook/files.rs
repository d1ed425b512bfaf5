//! Finding and reading playbook files.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use msa_playbook::{Playbook, Problem};

/// A playbook file that does not validate: every problem, one per line.
#[derive(Debug)]
pub(crate) struct InvalidPlaybook {
    file: String,
    problems: Vec<Problem>,
}

impl std::fmt::Display for InvalidPlaybook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} has {} problem(s):", self.file, self.problems.len())?;
        for p in &self.problems {
            write!(f, "\n  {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for InvalidPlaybook {}

impl InvalidPlaybook {
    /// Every problem, in the order found.
    pub(crate) fn problems(&self) -> &[Problem] {
        &self.problems
    }
}

/// Validates a playbook's text, read from `path`.
pub(crate) fn parse(path: &Path, text: &str) -> Result<Playbook, InvalidPlaybook> {
    let file = path.display().to_string();
    msa_playbook::parse(&file, text).map_err(|problems| InvalidPlaybook { file, problems })
}

/// Reads and validates one playbook.
pub(crate) fn load(path: &Path) -> anyhow::Result<Playbook> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(parse(path, &text)?)
}

/// The domain's playbook in `dir`: `DOMAIN.yaml`, else `DOMAIN.yml`.
pub(super) fn playbook_path(dir: &Path, domain: &str) -> anyhow::Result<PathBuf> {
    for ext in ["yaml", "yml"] {
        let path = dir.join(format!("{domain}.{ext}"));
        if path.exists() {
            return Ok(path);
        }
    }
    bail!(
        "no playbook for domain `{domain}` in {}: write {}/{domain}.yaml, or `msa-migrate plan --domain {domain}`",
        dir.display(),
        dir.display()
    )
}

/// Every playbook in `dir`, in name order.
pub(super) fn all_playbooks(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the playbooks directory {}", dir.display()))?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
        .collect();
    paths.sort();
    if paths.is_empty() {
        bail!("{} has no playbooks (*.yaml)", dir.display());
    }
    Ok(paths)
}
