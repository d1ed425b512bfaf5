//! The state in local files: stages in a JSON file replaced atomically, the
//! audit log as JSON lines beside it, records and locks as sibling files.
//! Processes on one machine (a proxy and the CLI) share it safely: every
//! read-modify-write holds an OS file lock, and followers poll the version.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{AuditEntry, BoxFuture, Change, Held, Saved, StateError, StateStore, StoreLock};
use crate::config::Stage;

/// Stages in a local JSON file, audit entries in a JSON-lines file beside it.
#[derive(Debug)]
pub struct FileStore {
    state: PathBuf,
    audit: PathBuf,
    /// Never sent: files announce nothing, followers poll.
    changes: tokio::sync::watch::Sender<u64>,
}

impl Clone for FileStore {
    fn clone(&self) -> Self {
        Self::new(self.state.clone(), self.audit.clone())
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateFile {
    /// Absent in files written before versions existed.
    #[serde(default)]
    version: u64,
    routes: BTreeMap<String, Stage>,
}

impl FileStore {
    /// A store at these two paths; neither needs to exist yet.
    pub fn new(state: PathBuf, audit: PathBuf) -> Self {
        Self {
            state,
            audit,
            changes: tokio::sync::watch::Sender::new(0),
        }
    }

    /// The audit log's path.
    pub fn audit_path(&self) -> &Path {
        &self.audit
    }

    /// The stages and their version.
    pub fn read(&self) -> Result<Saved, StateError> {
        let text = match std::fs::read_to_string(&self.state) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Saved::default()),
            Err(source) => return Err(io("cannot read", &self.state, source)),
        };
        let file: StateFile =
            serde_json::from_str(&text).map_err(|source| StateError::Corrupt {
                path: self.state.clone(),
                source,
            })?;
        Ok(Saved {
            version: file.version,
            stages: file.routes,
        })
    }

    /// Makes the changes (audit lines first), holding the file lock.
    pub fn write(&self, changes: &[Change]) -> Result<u64, StateError> {
        let _guard = self.exclusive()?;
        let mut saved = self.read()?;
        for change in changes {
            self.append(&change.entry)?;
        }
        for change in changes {
            saved.stages.insert(change.route.clone(), change.stage);
        }
        saved.version += 1;
        let text = serde_json::to_string_pretty(&StateFile {
            version: saved.version,
            routes: saved.stages,
        })
        .expect("stages serialise");
        // Write a sibling file and rename it over the old one, so a crash
        // leaves either the old state or the new, never half of one.
        let temporary = self.state.with_extension("json.tmp");
        std::fs::write(&temporary, text)
            .map_err(|source| io("cannot write", &temporary, source))?;
        std::fs::rename(&temporary, &self.state)
            .map_err(|source| io("cannot replace", &self.state, source))?;
        Ok(saved.version)
    }

    /// Appends one line to the audit log.
    pub fn append(&self, entry: &AuditEntry) -> Result<(), StateError> {
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

    fn entries(&self) -> Result<Vec<AuditEntry>, StateError> {
        let file = match std::fs::File::open(&self.audit) {
            Ok(file) => file,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(io("cannot read", &self.audit, source)),
        };
        let mut entries = Vec::new();
        for line in std::io::BufReader::new(file).lines() {
            let line = line.map_err(|source| io("cannot read", &self.audit, source))?;
            if line.trim().is_empty() {
                continue;
            }
            entries.push(
                serde_json::from_str(&line).map_err(|source| StateError::Corrupt {
                    path: self.audit.clone(),
                    source,
                })?,
            );
        }
        Ok(entries)
    }

    /// A sibling file: `<state>.<suffix>`, with `/` in a key made safe.
    fn sibling(&self, suffix: &str) -> PathBuf {
        let safe: String = suffix
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '.'
                }
            })
            .collect();
        let name = self.state.file_name().map_or_else(
            || "msa-proxy-state.json".into(),
            |n| n.to_string_lossy().into_owned(),
        );
        self.state.with_file_name(format!("{name}.{safe}"))
    }

    /// Serialises writers across processes for a read-modify-write.
    fn exclusive(&self) -> Result<std::fs::File, StateError> {
        let path = self.sibling("lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| io("cannot open", &path, source))?;
        file.lock()
            .map_err(|source| io("cannot lock", &path, source))?;
        Ok(file)
    }
}

impl StateStore for FileStore {
    fn load(&self) -> BoxFuture<'_, Result<Saved, StateError>> {
        Box::pin(async move { self.read() })
    }

    fn apply(&self, changes: Vec<Change>) -> BoxFuture<'_, Result<u64, StateError>> {
        Box::pin(async move { self.write(&changes) })
    }

    fn audit(&self, entry: AuditEntry) -> BoxFuture<'_, Result<(), StateError>> {
        Box::pin(async move { self.append(&entry) })
    }

    fn audit_log(&self) -> BoxFuture<'_, Result<Vec<AuditEntry>, StateError>> {
        Box::pin(async move { self.entries() })
    }

    fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    fn poll_every(&self) -> Duration {
        Duration::from_millis(500)
    }

    fn record(&self, key: &str) -> BoxFuture<'_, Result<Option<String>, StateError>> {
        let path = self.sibling(&format!("record.{key}"));
        Box::pin(async move {
            match std::fs::read_to_string(&path) {
                Ok(text) => Ok(Some(text)),
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(source) => Err(io("cannot read", &path, source)),
            }
        })
    }

    fn put_record(&self, key: &str, value: String) -> BoxFuture<'_, Result<(), StateError>> {
        let path = self.sibling(&format!("record.{key}"));
        Box::pin(async move {
            let temporary = path.with_extension("tmp");
            std::fs::write(&temporary, value)
                .map_err(|source| io("cannot write", &temporary, source))?;
            std::fs::rename(&temporary, &path).map_err(|source| io("cannot replace", &path, source))
        })
    }

    fn append_record(&self, key: &str, line: &str) -> BoxFuture<'_, Result<(), StateError>> {
        let path = self.sibling(&format!("record.{key}"));
        let line = format!("{}\n", line.trim_end_matches('\n'));
        Box::pin(async move {
            // The same lock as take_record's: an append is never lost between
            // a reader's read and its remove.
            let _guard = self.exclusive()?;
            let mut text = match std::fs::read_to_string(&path) {
                Ok(text) => text,
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => String::new(),
                Err(source) => return Err(io("cannot read", &path, source)),
            };
            text.push_str(&line);
            let temporary = path.with_extension("tmp");
            std::fs::write(&temporary, text)
                .map_err(|source| io("cannot write", &temporary, source))?;
            std::fs::rename(&temporary, &path).map_err(|source| io("cannot replace", &path, source))
        })
    }

    fn take_record(&self, key: &str) -> BoxFuture<'_, Result<Option<String>, StateError>> {
        let path = self.sibling(&format!("record.{key}"));
        Box::pin(async move {
            let _guard = self.exclusive()?;
            let text = match std::fs::read_to_string(&path) {
                Ok(text) => text,
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(source) => return Err(io("cannot read", &path, source)),
            };
            std::fs::remove_file(&path).map_err(|source| io("cannot remove", &path, source))?;
            Ok(Some(text))
        })
    }

    fn try_lock(&self, name: &str) -> BoxFuture<'_, Result<Option<StoreLock>, StateError>> {
        let path = self.sibling(&format!("lock.{name}"));
        Box::pin(async move {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .map_err(|source| io("cannot open", &path, source))?;
            // An OS lock: released when the holder exits, however it exits.
            match file.try_lock() {
                Ok(()) => Ok(Some(StoreLock {
                    held: Held::File(file),
                })),
                Err(std::fs::TryLockError::WouldBlock) => Ok(None),
                Err(std::fs::TryLockError::Error(source)) => Err(io("cannot lock", &path, source)),
            }
        })
    }

    fn describe(&self) -> String {
        self.state.display().to_string()
    }
}

fn io(action: &'static str, path: &Path, source: std::io::Error) -> StateError {
    StateError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}
