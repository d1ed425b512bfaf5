//! The live proxy: the current snapshot, swapped atomically on reload or stage
//! change, and everything that changes it.
//!
//! A reload (file change, SIGHUP, admin call) validates the file first; a bad
//! file is refused, reported (log, metric, admin status) and the old snapshot
//! keeps serving. Stage changes are written to the state store and the audit
//! log before they take effect.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use serde_json::{Value, json};

use crate::config::{self, ConfigError, ProxyConfig, Stage};
use crate::forward::Proxy;
use crate::metrics::Metrics;
use crate::shadow::Mirror;
use crate::shadow_results::ShadowResults;
use crate::state::{AuditEntry, FileStore, StateError, StateStore};

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The configuration was refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The saved route stages could not be read.
    #[error(transparent)]
    State(#[from] StateError),
}

/// Why a stage change was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StageError {
    /// No route has that name.
    #[error("no route is named `{0}`")]
    UnknownRoute(String),
    /// The stage is not valid.
    #[error("{0}")]
    Invalid(String),
    /// The change could not be recorded, so it was not made.
    #[error("the change was not made: {0}")]
    Store(#[from] StateError),
}

/// The outcome of the last reload attempt.
#[derive(Debug, Clone, serde::Serialize)]
struct ReloadStatus {
    at: String,
    actor: String,
    ok: bool,
    message: String,
}

/// The proxy as it runs: the current snapshot and what changes it.
#[derive(Debug)]
pub struct Live {
    current: ArcSwap<Proxy>,
    source: PathBuf,
    store: Box<dyn StateStore>,
    /// Saved stages; the lock also serialises reloads and stage changes.
    stages: tokio::sync::Mutex<BTreeMap<String, Stage>>,
    metrics: Arc<Metrics>,
    mirror: Arc<Mirror>,
    shadow: Arc<ShadowResults>,
    last_reload: ArcSwap<ReloadStatus>,
    draining: AtomicBool,
}

impl Live {
    /// Loads the configuration file and the saved stages (within a Tokio runtime).
    pub fn load(path: &Path) -> Result<Arc<Self>, StartError> {
        let config = config::load(path)?;
        Ok(Self::new(config, path.to_owned())?)
    }

    /// Starts from a validated configuration that came from `source`. Must be
    /// called within a Tokio runtime: it starts the shadow mirror's workers.
    pub fn new(config: ProxyConfig, source: PathBuf) -> Result<Arc<Self>, StateError> {
        let store = FileStore::new(config.state_file.clone(), config.audit_log.clone());
        let saved = store.load()?;
        for route in saved
            .keys()
            .filter(|name| !config.routes.iter().any(|r| &r.name == *name))
        {
            tracing::warn!(
                route,
                "the state file has a stage for a route the configuration does not have; kept, unused"
            );
        }
        let metrics = Arc::new(Metrics::new());
        let shadow = Arc::new(ShadowResults::new(
            crate::compare::comparator(&config),
            Arc::clone(&metrics),
        ));
        let mirror = Arc::new(Mirror::start(
            config.mirror.queue,
            config.mirror.concurrency,
            Arc::clone(&shadow) as _,
        ));
        let proxy = Proxy::build(config, &saved, &metrics, None, Some(Arc::clone(&mirror)));
        Ok(Arc::new(Self {
            current: ArcSwap::from_pointee(proxy),
            source,
            store: Box::new(store),
            stages: tokio::sync::Mutex::new(saved),
            metrics,
            mirror,
            shadow,
            last_reload: ArcSwap::from_pointee(ReloadStatus {
                at: now(),
                actor: "start".into(),
                ok: true,
                message: "loaded".into(),
            }),
            draining: AtomicBool::new(false),
        }))
    }

    /// The snapshot new requests use.
    pub fn snapshot(&self) -> Arc<Proxy> {
        self.current.load_full()
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The shadow results aggregate.
    pub(crate) fn shadow_results(&self) -> &Arc<ShadowResults> {
        &self.shadow
    }

    /// What shadow traffic found so far.
    pub fn shadow_report(&self) -> Value {
        self.shadow.report()
    }

    /// Re-reads the configuration file; on any problem the current snapshot stays.
    pub async fn reload(&self, actor: &str) -> Result<(), ConfigError> {
        let stages = self.stages.lock().await;
        let outcome = config::load(&self.source);
        self.metrics.reload(outcome.is_ok());
        let mut entry = AuditEntry::now(actor, "reload");
        let status = match &outcome {
            Ok(config) => {
                let next = Proxy::build(
                    config.clone(),
                    &stages,
                    &self.metrics,
                    Some(&self.current.load()),
                    Some(Arc::clone(&self.mirror)),
                );
                self.current.store(Arc::new(next));
                self.shadow
                    .set_comparator(crate::compare::comparator(config));
                tracing::info!(
                    actor,
                    routes = config.routes.len(),
                    "configuration reloaded"
                );
                entry.reason = Some("applied".into());
                ReloadStatus {
                    at: now(),
                    actor: actor.into(),
                    ok: true,
                    message: "applied".into(),
                }
            }
            Err(err) => {
                tracing::error!(actor, error = %err, "configuration refused; the previous one keeps serving");
                entry.reason = Some(format!("refused: {err}"));
                ReloadStatus {
                    at: now(),
                    actor: actor.into(),
                    ok: false,
                    message: err.to_string(),
                }
            }
        };
        if let Err(err) = self.store.audit(&entry) {
            tracing::error!(error = %err, "cannot write the audit log");
        }
        self.last_reload.store(Arc::new(status));
        outcome.map(drop)
    }

    /// Moves a route to a stage; recorded in the state store and audit log
    /// before it takes effect. Returns the stage before and after.
    pub async fn set_stage(
        &self,
        route: &str,
        stage: Stage,
        actor: &str,
        reason: Option<String>,
    ) -> Result<(Stage, Stage), StageError> {
        let stage = stage.check().map_err(StageError::Invalid)?;
        let mut stages = self.stages.lock().await;
        let current = self.current.load_full();
        let before = current
            .stage(route)
            .ok_or_else(|| StageError::UnknownRoute(route.to_owned()))?;
        let mut next = stages.clone();
        next.insert(route.to_owned(), stage);
        let mut entry = AuditEntry::now(actor, "set_stage");
        entry.route = Some(route.to_owned());
        entry.before = Some(before);
        entry.after = Some(stage);
        entry.reason = reason;
        self.store.save(&next, &entry)?;
        let proxy = Proxy::build(
            current.config().clone(),
            &next,
            &self.metrics,
            Some(&current),
            Some(Arc::clone(&self.mirror)),
        );
        self.current.store(Arc::new(proxy));
        *stages = next;
        tracing::info!(actor, route, ?before, after = ?stage, "route stage changed");
        Ok((before, stage))
    }

    /// The configuration source and the last reload, for the admin API.
    pub fn status(&self) -> Value {
        json!({
            "config": self.source.display().to_string(),
            "draining": self.is_draining(),
            "last_reload": *self.last_reload.load_full(),
        })
    }

    /// From now on, readiness fails so load balancers stop sending traffic.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Release);
    }

    /// Whether shutdown has begun.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// Reloads whenever the configuration file's modification time or size
    /// changes (polled: works on every filesystem, including ConfigMap mounts).
    pub async fn watch_file(self: Arc<Self>, every: Duration) {
        let fingerprint = |path: &Path| {
            std::fs::metadata(path)
                .ok()
                .map(|m| (m.modified().ok(), m.len()))
        };
        let mut seen = fingerprint(&self.source);
        loop {
            tokio::time::sleep(every).await;
            let now = fingerprint(&self.source);
            if now != seen && now.is_some() {
                seen = now;
                let _ = self.reload("file-watch").await;
            }
        }
    }

    /// Reloads on every SIGHUP.
    pub async fn watch_sighup(self: Arc<Self>) {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let Ok(mut hangups) = signal(SignalKind::hangup()) else {
                return;
            };
            while hangups.recv().await.is_some() {
                let _ = self.reload("sighup").await;
            }
        }
    }
}

fn now() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}
