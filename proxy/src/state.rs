//! Route stages are runtime state, not configuration: the admin API and the
//! CLI change them, every change is audited, and they survive a restart.
//!
//! [`StateStore`] is the seam for where that state lives: [`FileStore`] keeps
//! it in a local JSON file (written atomically) with a JSON-lines audit log;
//! [`PgStore`] keeps it in PostgreSQL, shared by several proxy replicas and
//! the CLI, and announces each change with `NOTIFY`. Every change bumps one
//! version number, so a replica can tell a stale notification or poll from a
//! new state. Besides stages, a store keeps small named records (the canary
//! controller's progress) and named locks (one controller per domain).
//!
//! See `docs/state.md`.

mod file;
mod pg;

pub mod client;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::config::Stage;

pub use file::FileStore;
pub use pg::PgStore;

/// A boxed future, so the store is usable as `dyn StateStore`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One audited change.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuditEntry {
    /// RFC 3339 UTC.
    pub time: String,
    /// Who asked (the admin caller's `X-Msa-Actor`, else its address; the CLI's `--actor`).
    pub actor: String,
    /// `set_stage`, `reload`, `cutover`, `rollback`, `canary_step`, `canary_abort`, …
    pub action: String,
    /// The domain, for changes made per domain by the CLI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// The route, for stage changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// The stage before, for stage changes (unknown when the store had none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Stage>,
    /// The stage after, for stage changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Stage>,
    /// Why, as the caller said; or the reload's outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl AuditEntry {
    /// An entry stamped now.
    pub fn now(actor: &str, action: &str) -> Self {
        Self {
            time: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            actor: actor.to_owned(),
            action: action.to_owned(),
            domain: None,
            route: None,
            before: None,
            after: None,
            reason: None,
        }
    }
}

/// The stages a store holds, at a version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Saved {
    /// Bumped by every change; 0 for a store never written.
    pub version: u64,
    /// Stages by route name.
    pub stages: BTreeMap<String, Stage>,
}

/// One stage change and the audit entry that explains it.
#[derive(Debug, Clone)]
pub struct Change {
    /// The route.
    pub route: String,
    /// Its new stage.
    pub stage: Stage,
    /// The record of the change, written with it.
    pub entry: AuditEntry,
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
    /// The database refused or could not be reached.
    #[error("the state store {store}: {source}")]
    Database {
        /// The database URL, password masked.
        store: String,
        /// What the driver said.
        source: sqlx::Error,
    },
    /// A stored value is not what this version writes.
    #[error("the state store {store} has a value for `{key}` this version cannot read: {message}")]
    Unreadable {
        /// The store, password masked.
        store: String,
        /// The route or record.
        key: String,
        /// The parser's message.
        message: String,
    },
    /// A state location is neither a file nor a PostgreSQL URL.
    #[error("`{0}` is not a state store: give a file path or a postgres:// URL")]
    Location(String),
}

/// Held while a named lock is taken (one canary controller per domain);
/// dropping it releases the lock. A process that dies releases it too.
pub struct StoreLock {
    held: Held,
}

enum Held {
    File(#[allow(dead_code, reason = "held for its lock")] std::fs::File),
    Postgres(sqlx::PgConnection),
}

impl std::fmt::Debug for StoreLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.held {
            Held::File(_) => "file",
            Held::Postgres(_) => "advisory",
        };
        f.debug_struct("StoreLock").field("kind", &kind).finish()
    }
}

impl StoreLock {
    /// Whether the lock is still held: a PostgreSQL session that ended lost it.
    pub async fn check(&mut self) -> bool {
        match &mut self.held {
            Held::File(_) => true,
            Held::Postgres(conn) => sqlx::Connection::ping(conn).await.is_ok(),
        }
    }
}

/// Where route stages, the audit log, records and locks live.
pub trait StateStore: Send + Sync + std::fmt::Debug {
    /// The stages saved so far, with their version.
    fn load(&self) -> BoxFuture<'_, Result<Saved, StateError>>;
    /// Makes the changes and appends their audit entries, all or nothing;
    /// returns the new version. Readers never see a change without its record.
    fn apply(&self, changes: Vec<Change>) -> BoxFuture<'_, Result<u64, StateError>>;
    /// Appends an entry that changed no stage (a reload, a canary decision).
    fn audit(&self, entry: AuditEntry) -> BoxFuture<'_, Result<(), StateError>>;
    /// Every audit entry, oldest first.
    fn audit_log(&self) -> BoxFuture<'_, Result<Vec<AuditEntry>, StateError>>;
    /// Versions announced by other writers, as they come (PostgreSQL's
    /// `NOTIFY`); a store without notifications never announces, and polling
    /// ([`Self::poll_every`]) finds its changes.
    fn changes(&self) -> tokio::sync::watch::Receiver<u64>;
    /// How often a follower should look for changes it was not told about.
    fn poll_every(&self) -> Duration;
    /// A named record (e.g. `canary/coupon`), if written.
    fn record(&self, key: &str) -> BoxFuture<'_, Result<Option<String>, StateError>>;
    /// Writes a named record.
    fn put_record(&self, key: &str, value: String) -> BoxFuture<'_, Result<(), StateError>>;
    /// Appends a line to a named record (creating it), atomically with
    /// respect to other appends and to [`Self::take_record`]: a queue that
    /// several writers add to and one reader empties, losing nothing.
    fn append_record(&self, key: &str, line: &str) -> BoxFuture<'_, Result<(), StateError>>;
    /// Reads and removes a named record, atomically.
    fn take_record(&self, key: &str) -> BoxFuture<'_, Result<Option<String>, StateError>>;
    /// Takes a named lock if nobody holds it; `None` when someone does.
    fn try_lock(&self, name: &str) -> BoxFuture<'_, Result<Option<StoreLock>, StateError>>;
    /// The store for people: a file path, or a URL with its password masked.
    fn describe(&self) -> String;
}

/// Opens the store at `location`: a `postgres://` URL, else a state file
/// (its audit log beside it, `<stem>-audit.jsonl`, unless `audit` says).
/// Nothing is read yet; PostgreSQL connects on first use.
pub fn open(location: &str, audit: Option<PathBuf>) -> Result<Arc<dyn StateStore>, StateError> {
    if is_postgres(location) {
        return Ok(Arc::new(PgStore::new(location)?));
    }
    if location.is_empty() || location.contains("://") {
        return Err(StateError::Location(masked(location)));
    }
    let state = PathBuf::from(location);
    let audit = audit.unwrap_or_else(|| {
        let stem = state
            .file_stem()
            .map_or_else(|| "msa-proxy".into(), |s| s.to_string_lossy().into_owned());
        let stem = stem.strip_suffix("-state").unwrap_or(&stem).to_owned();
        state.with_file_name(format!("{stem}-audit.jsonl"))
    });
    Ok(Arc::new(FileStore::new(state, audit)))
}

/// Whether a location names a PostgreSQL database.
pub fn is_postgres(location: &str) -> bool {
    location.starts_with("postgres://") || location.starts_with("postgresql://")
}

/// A location for messages: a URL's password masked.
pub fn masked(location: &str) -> String {
    match url::Url::parse(location) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        _ => location.to_owned(),
    }
}

/// Loads a store's stages on a thread of its own, for callers that are not
/// async or must not yield (the proxy's start): opens a separate store there,
/// so no connection outlives that thread's runtime.
pub fn load_blocking(location: &str, audit: Option<PathBuf>) -> Result<Saved, StateError> {
    let location = location.to_owned();
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|source| StateError::Io {
                        action: "cannot start a runtime to read",
                        path: PathBuf::from(masked(&location)),
                        source,
                    })?;
                runtime.block_on(async { open(&location, audit)?.load().await })
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

#[cfg(test)]
mod tests;
