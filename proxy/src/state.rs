//! Route stages are runtime state, not configuration: the admin API changes
//! them, every change is audited, and they survive a restart.
//!
//! [`StateStore`] is the seam for where that state lives; [`FileStore`] keeps
//! it in a local JSON file (written atomically) with a JSON-lines audit log.
//! A PostgreSQL store shared by several replicas comes with the playbooks.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::config::Stage;

/// One audited change.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuditEntry {
    /// RFC 3339 UTC.
    pub time: String,
    /// Who asked (the admin caller's `X-Msa-Actor`, else its address).
    pub actor: String,
    /// `set_stage` or `reload`.
    pub action: String,
    /// The route, for stage changes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// The stage before, for stage changes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<Stage>,
    /// The stage after, for stage changes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<Stage>,
    /// Why, as the caller said; or the reload's outcome.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl AuditEntry {
    /// An entry stamped now.
    pub fn now(actor: &str, action: &str) -> Self {
        Self {
            time: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            actor: actor.to_owned(),
            action: action.to_owned(),
            route: None,
            before: None,
            after: None,
            reason: None,
        }
    }
}

/// Why the state could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// Reading or writing a file failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The state file is not what this version writes.
    #[error("{} is not a valid state file ({source}); move it away to start from the configuration's stages", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        source: serde_json::Error,
    },
}

/// Where route stages and the audit log live.
pub trait StateStore: Send + Sync + std::fmt::Debug {
    /// The stages saved so far, by route name.
    fn load(&self) -> Result<BTreeMap<String, Stage>, StateError>;
    /// Saves all stages and appends the entry that explains the change.
    fn save(&self, stages: &BTreeMap<String, Stage>, entry: &AuditEntry) -> Result<(), StateError>;
    /// Appends an entry that changed no stage (a reload).
    fn audit(&self, entry: &AuditEntry) -> Result<(), StateError>;
}

/// Stages in a local JSON file, audit entries in a JSON-lines file beside it.
#[derive(Debug, Clone)]
pub struct FileStore {
    state: PathBuf,
    audit: PathBuf,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateFile {
    routes: BTreeMap<String, Stage>,
}

impl FileStore {
    /// A store at these two paths; neither needs to exist yet.
    pub fn new(state: PathBuf, audit: PathBuf) -> Self {
        Self { state, audit }
    }

    /// The audit log's path.
    pub fn audit_path(&self) -> &Path {
        &self.audit
    }
}

impl StateStore for FileStore {
    fn load(&self) -> Result<BTreeMap<String, Stage>, StateError> {
        let text = match std::fs::read_to_string(&self.state) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(source) => return Err(io("cannot read", &self.state, source)),
        };
        let file: StateFile =
            serde_json::from_str(&text).map_err(|source| StateError::Corrupt {
                path: self.state.clone(),
                source,
            })?;
        Ok(file.routes)
    }

    fn save(&self, stages: &BTreeMap<String, Stage>, entry: &AuditEntry) -> Result<(), StateError> {
        // The audit line first: a change is never in effect without its record.
        self.audit(entry)?;
        let text = serde_json::to_string_pretty(&StateFile {
            routes: stages.clone(),
        })
        .expect("stages serialise");
        // Write a sibling file and rename it over the old one, so a crash
        // leaves either the old state or the new, never half of one.
        let temporary = self.state.with_extension("json.tmp");
        std::fs::write(&temporary, text)
            .map_err(|source| io("cannot write", &temporary, source))?;
        std::fs::rename(&temporary, &self.state)
            .map_err(|source| io("cannot replace", &self.state, source))
    }

    fn audit(&self, entry: &AuditEntry) -> Result<(), StateError> {
        let mut line = serde_json::to_string(entry).expect("audit entries serialise");
        line.push('\n');
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.audit)
            .map_err(|source| io("cannot open", &self.audit, source))?;
        file.write_all(line.as_bytes())
            .and_then(|()| file.sync_data())
            .map_err(|source| io("cannot append to", &self.audit, source))
    }
}

fn io(action: &'static str, path: &Path, source: std::io::Error) -> StateError {
    StateError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_survive_a_new_store_and_every_change_is_audited() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(
            dir.path().join("state.json"),
            dir.path().join("audit.jsonl"),
        );
        assert!(store.load().unwrap().is_empty(), "no file yet: no stages");

        let mut stages = BTreeMap::new();
        stages.insert("coupon-read".to_owned(), Stage::Canary { weight_bp: 500 });
        let mut entry = AuditEntry::now("alice", "set_stage");
        entry.route = Some("coupon-read".into());
        entry.before = Some(Stage::Legacy);
        entry.after = Some(Stage::Canary { weight_bp: 500 });
        store.save(&stages, &entry).unwrap();
        store.audit(&AuditEntry::now("sighup", "reload")).unwrap();

        let reopened = FileStore::new(
            dir.path().join("state.json"),
            dir.path().join("audit.jsonl"),
        );
        assert_eq!(reopened.load().unwrap(), stages);
        let log = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
        let entries: Vec<AuditEntry> = log
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0], entry);
        assert_eq!(entries[1].action, "reload");
    }

    #[test]
    fn a_corrupt_state_file_is_refused_with_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("state.json"),
            "{\"routes\": {\"x\": {\"mode\": \"sideways\"}}}",
        )
        .unwrap();
        let store = FileStore::new(
            dir.path().join("state.json"),
            dir.path().join("audit.jsonl"),
        );
        let err = store.load().unwrap_err().to_string();
        assert!(err.contains("move it away"), "{err}");
    }
}
