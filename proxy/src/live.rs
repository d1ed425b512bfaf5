//! The live proxy: the current snapshot, swapped atomically on reload or stage
//! change, and everything that changes it.
//!
//! A reload (file change, SIGHUP, admin call) validates the file first; a bad
//! file is refused, reported (log, metric, admin status) and the old snapshot
//! keeps serving. Stage changes are written to the state store and the audit
//! log before they take effect.
//!
//! The state store may be shared (PostgreSQL, several replicas and the CLI):
//! a follower task applies changes made elsewhere as soon as the store
//! announces them, and polls as a safety net. When the store cannot be
//! reached, the proxy keeps serving the stages it knows, says so (log,
//! `msa_proxy_state_store_connected`, `GET /status`) and keeps trying.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde_json::{Value, json};

use crate::config::{self, ConfigError, ProxyConfig, Stage};
use crate::forward::Proxy;
use crate::metrics::Metrics;
use crate::shadow::Mirror;
use crate::shadow_results::ShadowResults;
use crate::state::{AuditEntry, Change, FileStore, PgStore, Saved, StateError, StateStore};
use crate::telemetry::Telemetry;

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

/// How the state store looked the last time the proxy asked it.
#[derive(Debug, Clone, serde::Serialize)]
struct StoreStatus {
    store: String,
    connected: bool,
    /// The version of the stages being served.
    version: u64,
    /// When the store last answered (RFC 3339).
    last_ok: Option<String>,
    /// Why it did not, while it does not.
    error: Option<String>,
}

/// The state store's own metrics, exported with the proxy's.
#[derive(Debug)]
struct StoreMetrics {
    registry: Registry,
    connected: Gauge,
    version: Gauge,
    errors: Counter,
}

impl StoreMetrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("msa_proxy_state");
        let (connected, version, errors) = (Gauge::default(), Gauge::default(), Counter::default());
        registry.register(
            "store_connected",
            "1 while the state store answers, 0 while the proxy serves the last stages it knew",
            connected.clone(),
        );
        registry.register(
            "version",
            "The version of the route stages being served",
            version.clone(),
        );
        registry.register(
            "store_errors",
            "Failed reads and writes of the state store",
            errors.clone(),
        );
        connected.set(1);
        Self {
            registry,
            connected,
            version,
            errors,
        }
    }
}

/// The proxy as it runs: the current snapshot and what changes it.
#[derive(Debug)]
pub struct Live {
    current: ArcSwap<Proxy>,
    source: PathBuf,
    store: Arc<dyn StateStore>,
    /// Saved stages and their version; the lock also serialises reloads and stage changes.
    stages: tokio::sync::Mutex<Saved>,
    store_status: parking_lot::Mutex<StoreStatus>,
    store_metrics: StoreMetrics,
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
    /// called within a Tokio runtime: it starts the shadow mirror's workers
    /// and the task that follows the state store. A PostgreSQL store that
    /// cannot be read refuses the start: stages are never guessed.
    pub fn new(config: ProxyConfig, source: PathBuf) -> Result<Arc<Self>, StateError> {
        let (store, saved): (Arc<dyn StateStore>, Saved) = match &config.state_store {
            Some(url) => (
                Arc::new(PgStore::new(url)?),
                crate::state::load_blocking(url, None)?,
            ),
            None => {
                let store = FileStore::new(config.state_file.clone(), config.audit_log.clone());
                let saved = store.read()?;
                (Arc::new(store), saved)
            }
        };
        for route in saved
            .stages
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
        shadow.set_templates(crate::shadow_results::configured_templates(&config));
        let mirror = Arc::new(Mirror::start(
            config.mirror.queue,
            config.mirror.concurrency,
            Arc::clone(&shadow) as _,
        ));
        let telemetry = telemetry_for(&config, None, &metrics);
        let proxy = Proxy::build(
            config,
            &saved.stages,
            &metrics,
            None,
            Some(Arc::clone(&mirror)),
            telemetry,
        );
        let store_metrics = StoreMetrics::new();
        store_metrics
            .version
            .set(i64::try_from(saved.version).unwrap_or(i64::MAX));
        let live = Arc::new(Self {
            current: ArcSwap::from_pointee(proxy),
            source,
            store_status: parking_lot::Mutex::new(StoreStatus {
                store: store.describe(),
                connected: true,
                version: saved.version,
                last_ok: Some(now()),
                error: None,
            }),
            store_metrics,
            store: Arc::clone(&store),
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
        });
        tokio::spawn(follow(Arc::downgrade(&live), store));
        Ok(live)
    }

    /// The snapshot new requests use.
    pub fn snapshot(&self) -> Arc<Proxy> {
        self.current.load_full()
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The Prometheus text of every metric: the proxy's and the state store's.
    pub fn metrics_text(&self) -> String {
        self.shadow.settle_skips();
        let mut text = self.metrics.encode();
        if let Some(body) = text.strip_suffix("# EOF\n") {
            text.truncate(body.len());
        }
        prometheus_client::encoding::text::encode(&mut text, &self.store_metrics.registry)
            .expect("writing to a String cannot fail");
        text
    }

    /// Applies the stages the store holds when they are newer than the ones
    /// served; records whether the store answered.
    async fn sync_from_store(&self) {
        let loaded = self.store.load().await;
        let saved = match loaded {
            Ok(saved) => {
                self.store_answered(true, None);
                saved
            }
            Err(err) => {
                self.store_answered(false, Some(&err));
                return;
            }
        };
        let mut known = self.stages.lock().await;
        if saved.version <= known.version {
            return;
        }
        let current = self.current.load_full();
        let changed: Vec<&String> = saved
            .stages
            .iter()
            .filter(|(route, stage)| current.stage(route).is_some_and(|s| s != **stage))
            .map(|(route, _)| route)
            .collect();
        tracing::info!(
            version = saved.version,
            routes = ?changed,
            "route stages changed in the state store"
        );
        let proxy = Proxy::build(
            current.config().clone(),
            &saved.stages,
            &self.metrics,
            Some(&current),
            Some(Arc::clone(&self.mirror)),
            current.telemetry().cloned(),
        );
        self.current.store(Arc::new(proxy));
        self.set_version(saved.version);
        *known = saved;
    }

    fn set_version(&self, version: u64) {
        self.store_status.lock().version = version;
        self.store_metrics
            .version
            .set(i64::try_from(version).unwrap_or(i64::MAX));
    }

    /// Records whether the store answered; logs only when that changes.
    fn store_answered(&self, ok: bool, err: Option<&StateError>) {
        let mut status = self.store_status.lock();
        if ok {
            if !status.connected {
                tracing::info!(store = %status.store, "the state store answers again");
            }
            status.connected = true;
            status.error = None;
            status.last_ok = Some(now());
            self.store_metrics.connected.set(1);
        } else {
            self.store_metrics.errors.inc();
            let message = err.map(ToString::to_string);
            if status.connected {
                tracing::error!(
                    store = %status.store,
                    error = message.as_deref().unwrap_or(""),
                    "the state store does not answer; serving the last stages known and retrying"
                );
            }
            status.connected = false;
            status.error = message;
            self.store_metrics.connected.set(0);
        }
    }

    /// A named record of the state store (the canary controller's walk is
    /// `canary/DOMAIN`), as written.
    pub(crate) async fn record(&self, key: &str) -> Result<Option<String>, StateError> {
        self.store.record(key).await
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
                let current = self.current.load_full();
                let telemetry = telemetry_for(config, current.telemetry(), &self.metrics);
                let next = Proxy::build(
                    config.clone(),
                    &stages.stages,
                    &self.metrics,
                    Some(&current),
                    Some(Arc::clone(&self.mirror)),
                    telemetry,
                );
                self.current.store(Arc::new(next));
                self.shadow
                    .set_comparator(crate::compare::comparator(config));
                self.shadow
                    .set_templates(crate::shadow_results::configured_templates(config));
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
        if let Err(err) = self.store.audit(entry).await {
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
        let changed = self
            .set_stages(vec![(route.to_owned(), stage)], actor, reason)
            .await?;
        let (_, before, after) = changed.into_iter().next().expect("one change made");
        Ok((before, after))
    }

    /// Moves several routes at once, all or nothing: every route and stage
    /// is checked before any change, and the changes with their audit
    /// entries are one write to the state store (one version). Returns each
    /// route with its stage before and after.
    pub async fn set_stages(
        &self,
        changes: Vec<(String, Stage)>,
        actor: &str,
        reason: Option<String>,
    ) -> Result<Vec<(String, Stage, Stage)>, StageError> {
        let mut known = self.stages.lock().await;
        let current = self.current.load_full();
        let mut batch = Vec::new();
        let mut changed = Vec::new();
        for (route, stage) in changes {
            let stage = stage.check().map_err(StageError::Invalid)?;
            let before = current
                .stage(&route)
                .ok_or_else(|| StageError::UnknownRoute(route.clone()))?;
            let mut entry = AuditEntry::now(actor, "set_stage");
            entry.route = Some(route.clone());
            entry.before = Some(before);
            entry.after = Some(stage);
            entry.reason.clone_from(&reason);
            batch.push(Change {
                route: route.clone(),
                stage,
                entry,
            });
            changed.push((route, before, stage));
        }
        let version = match self.store.apply(batch).await {
            Ok(version) => {
                self.store_answered(true, None);
                version
            }
            Err(err) => {
                self.store_answered(false, Some(&err));
                return Err(err.into());
            }
        };
        let mut next = known.stages.clone();
        for (route, _, stage) in &changed {
            next.insert(route.clone(), *stage);
        }
        // Another writer's change in between is not in `next`: keep the old
        // version, so the follower loads the store's full state next.
        let version = if version == known.version + 1 {
            version
        } else {
            known.version
        };
        let proxy = Proxy::build(
            current.config().clone(),
            &next,
            &self.metrics,
            Some(&current),
            Some(Arc::clone(&self.mirror)),
            current.telemetry().cloned(),
        );
        self.current.store(Arc::new(proxy));
        *known = Saved {
            version,
            stages: next,
        };
        self.set_version(version);
        for (route, before, after) in &changed {
            tracing::info!(actor, route, ?before, ?after, "route stage changed");
        }
        Ok(changed)
    }

    /// The configuration source and the last reload, for the admin API.
    pub fn status(&self) -> Value {
        json!({
            "config": self.source.display().to_string(),
            "draining": self.is_draining(),
            "last_reload": *self.last_reload.load_full(),
            "state": *self.store_status.lock(),
        })
    }

    /// Sends the spans still queued to the trace collector, waiting at most
    /// `within`; at shutdown, after the in-flight requests ended.
    pub async fn flush_traces(&self, within: Duration) {
        let Some(telemetry) = self.current.load().telemetry().cloned() else {
            return;
        };
        if tokio::time::timeout(within, telemetry.flush())
            .await
            .is_err()
        {
            tracing::warn!(?within, "the last traces were not all sent in time");
        }
    }

    /// From now on, readiness fails so load balancers stop sending traffic.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Release);
    }

    /// Whether shutdown has begun.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// Reloads whenever the configuration file or one of the playbooks it
    /// lists changes modification time or size (polled: works on every
    /// filesystem, including ConfigMap mounts).
    pub async fn watch_file(self: Arc<Self>, every: Duration) {
        let fingerprint = |live: &Self| -> Vec<_> {
            let config = live.current.load();
            std::iter::once(&live.source)
                .chain(&config.config().playbooks)
                .map(|path| {
                    std::fs::metadata(path)
                        .ok()
                        .map(|m| (m.modified().ok(), m.len()))
                })
                .collect()
        };
        let mut seen = fingerprint(&self);
        loop {
            tokio::time::sleep(every).await;
            let now = fingerprint(&self);
            // A configuration file that is away (mid-rename) is not a change.
            if now != seen && now[0].is_some() {
                let _ = self.reload("file-watch").await;
                // The reload may have changed which playbooks are listed.
                seen = fingerprint(&self);
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

/// Follows the state store while the proxy lives: applies a change as soon
/// as it is announced, and looks every `poll_every` for one that was not.
async fn follow(live: Weak<Live>, store: Arc<dyn StateStore>) {
    let mut announced = store.changes();
    let every = store.poll_every();
    let mut announcements = true;
    loop {
        let notified = tokio::select! {
            changed = announced.changed(), if announcements => {
                announcements = changed.is_ok();
                changed.is_ok()
            }
            () = tokio::time::sleep(every) => false,
        };
        let Some(live) = live.upgrade() else { return };
        if notified {
            let version = *announced.borrow_and_update();
            if version <= live.stages.lock().await.version {
                // Stale or our own: nothing to do.
                continue;
            }
        }
        live.sync_from_store().await;
    }
}

/// The tracer for `config`: the running one when its settings did not change,
/// a new one when they did (the old one sends what it has queued once the
/// last request using it ends), none when telemetry is off. A tracer that
/// cannot start is logged, never fatal: the proxy serves without traces.
fn telemetry_for(
    config: &ProxyConfig,
    running: Option<&Arc<Telemetry>>,
    metrics: &Metrics,
) -> Option<Arc<Telemetry>> {
    let wanted = config.telemetry.as_ref()?;
    if let Some(running) = running.filter(|t| t.config() == wanted) {
        return Some(Arc::clone(running));
    }
    Telemetry::start(wanted, metrics)
        .inspect_err(|err| tracing::error!(error = %err, "serving without traces"))
        .ok()
}

fn now() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}
