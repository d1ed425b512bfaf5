//! The readiness log: one JSON line per verdict, appended, so `readiness
//! --last` and people can see what was judged, when, on what evidence.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, bail};
use msa_playbook::readiness::Verdict;
use serde_json::{Value, json};

use super::evidence::Sources;
use crate::commands::clock;

pub(super) fn append_log(path: &Path, verdict: &Verdict, sources: &Sources) -> anyhow::Result<()> {
    let entry = json!({
        "at": clock::now(),
        "sources": {
            "playbooks": sources.playbooks,
            "admin": sources.admins,
            // A password in a URL never reaches the log.
            "state": sources.state.as_deref().map(msa_proxy::state::masked),
            "metrics": sources.metrics,
            "shadow_store": sources.shadow_store.as_ref().map(|s| msa_backfill::redact(&s.to_string_lossy())),
            "analysis": sources.analysis,
        },
        "verdict": verdict,
    });
    // `.msa/` by default: created on first use, kept out of version control.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| {
            format!(
                "cannot create {} for the readiness log: give --log FILE",
                dir.display()
            )
        })?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot write the readiness log {}", path.display()))?;
    writeln!(file, "{entry}").with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// The last logged entry for each domain (in `wanted`, when given).
pub(super) fn last_logged(path: &Path, wanted: Option<&str>) -> anyhow::Result<Vec<Value>> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read the readiness log {}: run `msa-migrate readiness` first",
            path.display()
        )
    })?;
    let mut last: BTreeMap<String, Value> = BTreeMap::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let entry: Value = serde_json::from_str(line)
            .with_context(|| format!("{}:{}: not a readiness log entry", path.display(), i + 1))?;
        let domain = entry["verdict"]["domain"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if wanted.is_none_or(|w| w == domain) {
            last.insert(domain, entry);
        }
    }
    if last.is_empty() {
        bail!(
            "{} has no verdict{}",
            path.display(),
            wanted.map(|d| format!(" for {d}")).unwrap_or_default()
        );
    }
    Ok(last.into_values().collect())
}
