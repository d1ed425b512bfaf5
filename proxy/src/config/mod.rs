//! Configuration in two stages: [`raw`] is what the YAML file says; [`resolve`]
//! turns it into a [`ProxyConfig`] that cannot be invalid, reporting every
//! problem at once with its line.

mod playbooks;
mod raw;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use std::sync::Arc;

use http::Method;
use http::uri::Authority;
use msa_shadow_compare::{RedactPaths, RuleSet};
use serde_saphyr::Spanned;

use crate::routes::RouteTable;
use crate::split::StickyKey;

/// Where `msa-migrate readiness` logs its verdicts by default, relative to the
/// directory it runs in; the proxy reads it relative to its configuration's.
pub const DEFAULT_READINESS_LOG: &str = ".msa/readiness-log.jsonl";
/// How long the shadow store keeps rows nobody writes any more, by default.
const DEFAULT_SHADOW_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);
/// The shortest retention allowed: far beyond the 2 s between a running
/// replica's writes, so only rows nobody writes are ever pruned.
const MIN_SHADOW_RETENTION: Duration = Duration::from_secs(3600);
/// A validated proxy configuration.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// Where clients connect.
    pub listen: SocketAddr,
    /// Runtime worker threads; 1 runs everything on one thread.
    pub workers: usize,
    /// The upstream that serves every request no route claims (the monolith).
    pub legacy: String,
    /// Limits on what clients may send.
    pub limits: Limits,
    /// Terminate TLS for clients with this certificate and key.
    pub tls: Option<TlsFiles>,
    /// The admin API's listener and token.
    pub admin: AdminConfig,
    /// A PostgreSQL URL where route stages and the audit log are kept, shared
    /// by several replicas; `None` keeps them in `state_file` and `audit_log`.
    pub state_store: Option<String>,
    /// Where route stages are kept (without `state_store`).
    pub state_file: PathBuf,
    /// The JSON-lines audit log of every change.
    pub audit_log: PathBuf,
    /// The SQLite file where shadow results are kept across restarts.
    pub shadow_store: PathBuf,
    /// How long the shadow store keeps rows no replica has written since
    /// (those of replicas gone, or of routes none of them holds any more).
    pub shadow_retention: Duration,
    /// Reload when the configuration file changes.
    pub watch: bool,
    /// Log one line per request.
    pub access_log: bool,
    /// Add `Via: 1.1 msa-migrate` to requests and responses.
    pub via: bool,
    /// The mirror's queue and workers.
    pub mirror: MirrorConfig,
    /// Every upstream, by name.
    pub upstreams: Vec<UpstreamConfig>,
    /// The routes claimed by new services, in file order; those taken from
    /// playbooks and not written in the file come after the written ones.
    pub routes: Vec<RouteConfig>,
    /// The playbook files read (`playbooks:`), so a watcher can reload when
    /// one changes.
    pub playbooks: Vec<PathBuf>,
    /// The domains those playbooks name, in their order; a route no playbook
    /// claims belongs to none.
    pub domains: Vec<DomainConfig>,
    /// Traces of proxied requests, exported over OTLP; `None` (the default)
    /// makes no spans at all.
    pub telemetry: Option<TelemetryConfig>,
}

/// Traces of proxied requests: one server span per request, exported over
/// OTLP/HTTP (protobuf) in batches, off the request path.
#[derive(Debug, Clone, PartialEq)]
pub struct TelemetryConfig {
    /// Where spans are posted: the collector's URL ending in `/v1/traces`.
    pub traces_url: http::Uri,
    /// The `service.name` of the resource.
    pub service_name: String,
    /// Share of new traces sampled (0.0–1.0); a caller's `traceparent`
    /// decides for the traces it continues.
    pub sample_ratio: f64,
    /// Headers sent to the collector (e.g. an API key), read from the
    /// environment at load time.
    pub headers: CollectorHeaders,
    /// Time one export may take, retries included.
    pub timeout: Duration,
    /// Finished spans waiting to be exported at most; more are dropped and counted.
    pub queue: usize,
    /// Spans per export at most.
    pub batch: usize,
    /// How often spans are sent when a batch has not filled.
    pub interval: Duration,
}

/// Headers for the trace collector. Their values are secrets: `Debug` shows
/// the names only.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct CollectorHeaders {
    /// The environment variable they came from.
    pub env: Option<String>,
    /// Name and value of each.
    pub pairs: Vec<(String, String)>,
}

impl std::fmt::Debug for CollectorHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CollectorHeaders")
            .field("env", &self.env)
            .field(
                "names",
                &self.pairs.iter().map(|(name, _)| name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// A domain, as its playbook names it: what the dashboard groups by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainConfig {
    /// The playbook's `domain`.
    pub name: String,
    /// The playbook file.
    pub playbook: PathBuf,
    /// Its routes, by name, in the playbook's order.
    pub routes: Vec<String>,
    /// Where `msa-migrate readiness` logs its verdicts (`state.readiness_log`,
    /// else [`DEFAULT_READINESS_LOG`] beside the configuration).
    pub readiness_log: PathBuf,
}

/// The shadow mirror, shared by all routes: mirrored requests wait in a
/// bounded queue (a full queue drops and counts, never waits) for a bounded
/// number of workers, so shadow traffic can never slow the primary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MirrorConfig {
    /// Mirrored requests waiting at most.
    pub queue: usize,
    /// Mirrored requests in flight at most.
    pub concurrency: usize,
}

/// How a route in the `shadow` stage is mirrored and compared.
#[derive(Debug, Clone)]
pub struct ShadowConfig {
    /// Share of users mirrored, sticky by the route's key (0–10000).
    pub sample_bp: u16,
    /// Methods mirrored; writes only when listed, since they change the new service's data.
    pub methods: Vec<Method>,
    /// Larger request or response bodies are not mirrored / compared past this.
    pub max_body_bytes: u64,
    /// Time the new service has to answer a mirrored request.
    pub timeout: Duration,
    /// `Host` for mirrored requests, when the new service wants its own.
    pub host: Option<String>,
    /// How the two answers are compared; nothing is relaxed unless a rule says so.
    pub rules: Arc<RuleSet>,
    /// A second legacy upstream that gets the same copies, so noise is measured
    /// as legacy against legacy.
    pub noise_baseline: Option<String>,
    /// Paths always redacted in kept examples (personal-data patterns are masked everywhere anyway).
    pub redact: Arc<RedactPaths>,
    /// Copies of this route queued or in flight at most, so one busy route
    /// cannot take every slot of the shared mirror.
    pub max_in_flight: usize,
    /// In the canary stage, the requests the monolith still serves are
    /// mirrored and compared too, so behaviour evidence goes on until cutover.
    pub in_canary: bool,
}

impl Default for ShadowConfig {
    fn default() -> Self {
        Self {
            sample_bp: 10_000,
            in_canary: true,
            methods: vec![Method::GET, Method::HEAD],
            max_body_bytes: 1024 * 1024,
            timeout: Duration::from_secs(5),
            host: None,
            rules: Arc::default(),
            noise_baseline: None,
            redact: Arc::default(),
            max_in_flight: 256,
        }
    }
}

/// A certificate chain and its private key, PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// The private key.
    pub key: PathBuf,
}

/// TLS to an upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamTls {
    /// Trust only these CA certificates (PEM); the system's roots otherwise.
    pub ca: Option<PathBuf>,
}

/// The HTTP version spoken to an upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.1 with keep-alive.
    Http1,
    /// HTTP/2 (prior knowledge in cleartext, ALPN over TLS).
    Http2,
}

/// The admin API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminConfig {
    /// Its own listener, loopback by default.
    pub listen: SocketAddr,
    /// Where the bearer token that changes need comes from.
    pub token: TokenSource,
}

/// Where the admin token is read from, at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// An environment variable (default `MSA_ADMIN_TOKEN`).
    Env(String),
    /// A file (e.g. a mounted Kubernetes secret); surrounding whitespace is ignored.
    File(PathBuf),
}

impl TokenSource {
    /// The token, if one is set. A file that cannot be read is an error.
    pub fn read(&self) -> std::io::Result<Option<String>> {
        let token = match self {
            Self::Env(name) => std::env::var(name).ok(),
            Self::File(path) => Some(std::fs::read_to_string(path).map_err(|err| {
                std::io::Error::new(
                    err.kind(),
                    format!("cannot read the admin token file {}: {err}", path.display()),
                )
            })?),
        };
        Ok(token.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()))
    }
}

impl std::fmt::Display for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Env(name) => write!(f, "the environment variable {name}"),
            Self::File(path) => write!(f, "the file {}", path.display()),
        }
    }
}

/// Passive health: consecutive failures open the circuit, a probe closes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CircuitConfig {
    /// Failures in a row (no answer, or 502/503/504) that open it; 0 never opens.
    pub consecutive_failures: u32,
    /// How long it stays open before one probe request may pass.
    pub open_for: Duration,
}

/// Limits on client requests.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body forwarded; larger gets 413.
    pub max_body_bytes: u64,
    /// Time a client has to send its request head; slower is cut (slowloris).
    pub header_read_timeout: Duration,
    /// Most request headers; more gets 431.
    pub max_headers: usize,
}

/// One upstream: a set of equivalent endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamConfig {
    /// The name routes refer to.
    pub name: String,
    /// `host:port` of each endpoint.
    pub endpoints: Vec<Authority>,
    /// How a request picks an endpoint.
    pub balance: Balance,
    /// Time to establish a connection.
    pub connect_timeout: Duration,
    /// Time from sending the request to receiving the response head.
    pub request_timeout: Duration,
    /// How long an idle pooled connection is kept.
    pub idle_timeout: Duration,
    /// When to stop sending it requests for a while.
    pub circuit: CircuitConfig,
    /// TLS to the endpoints, if any.
    pub tls: Option<UpstreamTls>,
    /// HTTP/1.1 or HTTP/2.
    pub protocol: Protocol,
}

/// Endpoint selection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Balance {
    /// Each endpoint in turn.
    RoundRobin,
    /// The endpoint with the fewest requests in flight.
    LeastRequests,
}

/// A route claimed by a new service.
#[derive(Debug, Clone)]
pub struct RouteConfig {
    /// Unique name, used in logs, metrics and the admin API.
    pub name: String,
    /// Methods it claims; `None` claims all.
    pub methods: Option<Vec<Method>>,
    /// Host it claims (without port); `None` claims all.
    pub host: Option<String>,
    /// The paths it claims.
    pub path: PathMatch,
    /// The new service's upstream.
    pub upstream: String,
    /// The stage the route starts in; the state store's stage wins when it has one.
    pub stage: Stage,
    /// What identifies a user in the canary stage.
    pub sticky: StickyKey,
    /// Mixed into the canary hash; routes with the same seed put a user on the same side.
    pub split_seed: String,
    /// In cutover, send body-less GET/HEAD/OPTIONS to legacy when the new
    /// service cannot be reached, times out, or its circuit is open.
    pub fallback: bool,
    /// How the route is mirrored in the shadow stage.
    pub shadow: ShadowConfig,
}

/// How a route matches the request path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathMatch {
    /// Exactly this path.
    Exact(String),
    /// This path and every path below it (segment-wise).
    Prefix(String),
    /// A template with `{name}` segments, e.g. `/api/coupons/{id}/issue`.
    Template(String),
}

/// Who serves a route: runtime state, changed through the admin API and kept
/// in the state store; the configuration only gives the starting stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum Stage {
    /// The monolith, as if the route were not claimed.
    Legacy,
    /// The monolith answers; a copy of the request goes to the new service and
    /// the two answers are compared. Clients only ever see the monolith's.
    Shadow,
    /// The new service for `weight_bp` basis points of users (0..=10000), sticky.
    Canary {
        /// Share of users on the new service, in basis points.
        weight_bp: u16,
    },
    /// The new service only.
    Cutover,
}

impl Stage {
    /// Refuses a canary weight over 100%.
    pub fn check(self) -> Result<Self, String> {
        match self {
            Self::Canary { weight_bp } if weight_bp > 10_000 => {
                Err(format!("weight_bp {weight_bp} is over 10000 (100%)"))
            }
            stage => Ok(stage),
        }
    }
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid YAML, or does not have the expected shape.
    #[error("{}: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// The file parsed, but some values are wrong.
    #[error("{} has {} problem(s):\n{}", path.display(), problems.len(), render(path, problems))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Every problem found.
        problems: Vec<Problem>,
    },
}

/// One thing wrong in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line, when known.
    pub line: Option<u64>,
    /// The field, as a path: `routes[2].upstream`.
    pub field: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

fn render(path: &Path, problems: &[Problem]) -> String {
    let lines: Vec<String> = problems
        .iter()
        .map(|p| match p.line {
            Some(line) => format!("  {}:{line}: {}: {}", path.display(), p.field, p.message),
            None => format!("  {}: {}: {}", path.display(), p.field, p.message),
        })
        .collect();
    lines.join("\n")
}

/// Reads and validates a configuration file.
pub fn load(path: &Path) -> Result<ProxyConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(path, &text)
}

/// Validates configuration text; `path` only names it in errors.
pub fn parse(path: &Path, text: &str) -> Result<ProxyConfig, ConfigError> {
    let raw: raw::RawConfig = serde_saphyr::from_str(text).map_err(|err| ConfigError::Syntax {
        path: path.to_owned(),
        message: err.to_string().trim_start_matches("error: ").to_owned(),
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    resolve(raw, base).map_err(|problems| ConfigError::Invalid {
        path: path.to_owned(),
        problems,
    })
}

/// Collects problems so that all of them are reported at once.
#[derive(Default)]
struct Problems(Vec<Problem>);

impl Problems {
    fn at<T>(
        &mut self,
        spanned: &Spanned<T>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.0.push(Problem {
            line: Some(spanned.referenced.line()),
            field: field.into(),
            message: message.into(),
        });
    }

    /// HTTP method names, each checked; the bad ones are reported and left out.
    fn methods(&mut self, names: &[Spanned<String>], field: &str) -> Vec<Method> {
        names
            .iter()
            .filter_map(
                |m| match Method::from_bytes(m.value.to_ascii_uppercase().as_bytes()) {
                    Ok(method) => Some(method),
                    Err(_) => {
                        self.at(m, field, format!("`{}` is not an HTTP method", m.value));
                        None
                    }
                },
            )
            .collect()
    }

    /// A share in basis points, 0 to 10000.
    fn basis_points(&mut self, value: &Spanned<u32>, field: String) -> Option<u16> {
        match u16::try_from(value.value) {
            Ok(bp) if bp <= 10_000 => Some(bp),
            _ => {
                self.at(value, field, "basis points go from 0 to 10000 (100%)");
                None
            }
        }
    }

    fn duration(
        &mut self,
        value: Option<&Spanned<String>>,
        field: String,
        default: Duration,
    ) -> Duration {
        let Some(value) = value else { return default };
        match humantime::parse_duration(&value.value) {
            Ok(d) if !d.is_zero() => d,
            _ => {
                self.at(
                    value,
                    field,
                    format!(
                        "`{}` is not a duration: write e.g. `500ms`, `2s`, `1m`",
                        value.value
                    ),
                );
                default
            }
        }
    }
}

fn resolve(mut raw: raw::RawConfig, base: &Path) -> Result<ProxyConfig, Vec<Problem>> {
    let mut problems = Problems::default();

    let listen = raw.listen.value.parse().unwrap_or_else(|_| {
        problems.at(
            &raw.listen,
            "listen",
            format!(
                "`{}` is not an address: write e.g. `127.0.0.1:8000`",
                raw.listen.value
            ),
        );
        SocketAddr::from(([127, 0, 0, 1], 0))
    });
    let workers = match &raw.workers {
        Some(w) if w.value == 0 || w.value > 256 => {
            problems.at(w, "workers", "must be between 1 and 256");
            1
        }
        Some(w) => w.value,
        None => std::thread::available_parallelism().map_or(1, usize::from),
    };
    let limits = Limits {
        max_body_bytes: raw.limits.max_body_bytes.unwrap_or(10 * 1024 * 1024),
        header_read_timeout: problems.duration(
            raw.limits.header_read_timeout.as_ref(),
            "limits.header_read_timeout".into(),
            Duration::from_secs(10),
        ),
        max_headers: raw.limits.max_headers.unwrap_or(100),
    };

    let raw_admin = raw.admin.unwrap_or_default();
    let admin = AdminConfig {
        listen: match &raw_admin.listen {
            None => SocketAddr::from(([127, 0, 0, 1], 9901)),
            Some(listen) => listen.value.parse().unwrap_or_else(|_| {
                problems.at(
                    listen,
                    "admin.listen",
                    format!(
                        "`{}` is not an address: write e.g. `127.0.0.1:9901`",
                        listen.value
                    ),
                );
                SocketAddr::from(([127, 0, 0, 1], 0))
            }),
        },
        token: match (raw_admin.token_file, raw_admin.token_env) {
            (Some(file), _) => TokenSource::File(base.join(file)),
            (None, env) => TokenSource::Env(env.unwrap_or_else(|| "MSA_ADMIN_TOKEN".to_owned())),
        },
    };
    let tls = raw.tls.as_ref().map(|tls| TlsFiles {
        cert: base.join(&tls.cert.value),
        key: base.join(&tls.key.value),
    });
    if let (Some(files), Some(raw_tls)) = (&tls, &raw.tls)
        && let Err(err) = crate::tls::acceptor(&files.cert, &files.key)
    {
        problems.at(&raw_tls.cert, "tls", err.to_string());
    }
    let raw_state = raw.state.unwrap_or_default();
    let state_store = match &raw_state.store {
        Some(url) if crate::state::is_postgres(&url.value) => Some(url.value.clone()),
        Some(url) => {
            problems.at(
                url,
                "state.store",
                format!(
                    "`{}` is not a PostgreSQL URL: write postgres://USER@HOST/DB (password in PGPASSWORD), or leave it out to keep the state in `state.file`",
                    crate::state::masked(&url.value)
                ),
            );
            None
        }
        None => None,
    };
    let state_file = base.join(raw_state.file.as_deref().unwrap_or("msa-proxy-state.json"));
    let audit_log = base.join(
        raw_state
            .audit_log
            .as_deref()
            .unwrap_or("msa-proxy-audit.jsonl"),
    );
    // A file beside this one, or a PostgreSQL URL shared by replicas.
    let shadow_store = match raw_state.shadow_store.as_deref() {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            PathBuf::from(url)
        }
        other => base.join(other.unwrap_or("msa-shadow.db")),
    };
    let shadow_retention = problems.duration(
        raw_state.shadow_retention.as_ref(),
        "state.shadow_retention".to_owned(),
        DEFAULT_SHADOW_RETENTION,
    );
    if let Some(written) = &raw_state.shadow_retention
        && shadow_retention < MIN_SHADOW_RETENTION
    {
        problems.at(
            written,
            "state.shadow_retention",
            format!(
                "`{}` is too short: a running replica rewrites its rows at least once an hour, but one cut off for a while must not lose them; write at least `1h` (default `7d`)",
                written.value
            ),
        );
    }

    let telemetry = raw
        .telemetry
        .as_ref()
        .and_then(|t| t.otlp.as_ref())
        .map(|otlp| resolve_telemetry(&mut problems, otlp));

    let upstreams: Vec<UpstreamConfig> = raw
        .upstreams
        .iter()
        .map(|(name, upstream)| resolve_upstream(&mut problems, name, upstream, base))
        .collect();
    let known = |name: &str| upstreams.iter().any(|u| u.name == name);
    if !known(&raw.legacy.value) {
        problems.at(
            &raw.legacy,
            "legacy",
            unknown_upstream(&raw.legacy.value, &raw.upstreams),
        );
    }

    // Each playbook's routes become routes here (config/playbooks.rs).
    let (playbooks, mut domains) = playbooks::merge(
        &raw.playbooks,
        &mut raw.routes,
        &raw.upstreams,
        base,
        &mut problems,
    );
    let readiness_log = base.join(
        raw_state
            .readiness_log
            .as_deref()
            .unwrap_or(DEFAULT_READINESS_LOG),
    );
    for domain in &mut domains {
        domain.readiness_log.clone_from(&readiness_log);
    }
    let mut routes = Vec::with_capacity(raw.routes.len());
    for (i, route) in raw.routes.iter().enumerate() {
        if let Some(route) = resolve_route(&mut problems, i, route, &known, &raw.upstreams) {
            if routes.iter().any(|r: &RouteConfig| r.name == route.name) {
                problems.at(
                    &raw.routes[i].value.name,
                    format!("routes[{i}].name"),
                    format!("`{}` names two routes; names must be unique", route.name),
                );
            }
            routes.push(route);
        }
    }
    if problems.0.is_empty()
        && let Err(conflicts) = RouteTable::new(&routes)
    {
        problems.0.extend(conflicts);
    }

    if problems.0.is_empty() {
        Ok(ProxyConfig {
            listen,
            workers,
            legacy: raw.legacy.value,
            limits,
            tls,
            admin,
            state_store,
            state_file,
            audit_log,
            shadow_store,
            shadow_retention,
            watch: raw.watch.unwrap_or(true),
            access_log: raw.access_log.unwrap_or(false),
            via: raw.via.unwrap_or(false),
            mirror: MirrorConfig {
                queue: raw
                    .mirror
                    .as_ref()
                    .and_then(|m| m.queue)
                    .unwrap_or(1024)
                    .max(1),
                concurrency: raw
                    .mirror
                    .as_ref()
                    .and_then(|m| m.concurrency)
                    .unwrap_or(32)
                    .max(1),
            },
            upstreams,
            routes,
            playbooks,
            domains,
            telemetry,
        })
    } else {
        Err(problems.0)
    }
}

fn resolve_telemetry(problems: &mut Problems, otlp: &Spanned<raw::RawOtlp>) -> TelemetryConfig {
    let field = |f: &str| format!("telemetry.otlp.{f}");
    let raw = &otlp.value;
    let traces_url = match &raw.endpoint {
        None => traces_url("http://localhost:4318"),
        Some(endpoint) => {
            let url = traces_url(&endpoint.value);
            if url.is_none() {
                problems.at(
                    endpoint,
                    field("endpoint"),
                    format!(
                        "`{}` is not an http:// or https:// URL without query: write e.g. `http://127.0.0.1:4318`",
                        endpoint.value
                    ),
                );
            }
            url
        }
    };
    if let Some(protocol) = &raw.protocol
        && protocol.value != "http/protobuf"
    {
        problems.at(
            protocol,
            field("protocol"),
            format!(
                "`{}` is not supported: use `http/protobuf` (OTLP over HTTP, usually port 4318)",
                protocol.value
            ),
        );
    }
    let sample_ratio = match &raw.sample_ratio {
        None => 1.0,
        Some(ratio) if (0.0..=1.0).contains(&ratio.value) => ratio.value,
        Some(ratio) => {
            problems.at(
                ratio,
                field("sample_ratio"),
                "a share goes from 0.0 (no new trace) to 1.0 (every one)",
            );
            1.0
        }
    };
    let service_name = match &raw.service_name {
        None => "msa-proxy".to_owned(),
        Some(name) if name.value.trim().is_empty() => {
            problems.at(name, field("service_name"), "give the service a name");
            String::new()
        }
        Some(name) => name.value.clone(),
    };
    let headers = match &raw.headers_env {
        None => CollectorHeaders::default(),
        Some(env) => {
            let pairs = match std::env::var(&env.value) {
                Ok(text) => collector_headers(&text).unwrap_or_else(|message| {
                    problems.at(
                        env,
                        field("headers_env"),
                        format!("the environment variable {}: {message}", env.value),
                    );
                    Vec::new()
                }),
                // Unset: no headers; the proxy warns at start.
                Err(_) => Vec::new(),
            };
            CollectorHeaders {
                env: Some(env.value.clone()),
                pairs,
            }
        }
    };
    let mut positive = |value: &Option<Spanned<usize>>, name: &str, default: usize| match value {
        None => default,
        Some(v) if v.value == 0 => {
            problems.at(v, field(name), "must be at least 1");
            default
        }
        Some(v) => v.value,
    };
    let queue = positive(&raw.queue, "queue", 2048);
    let batch = positive(&raw.batch, "batch", 512).min(queue);
    TelemetryConfig {
        traces_url: traces_url
            .unwrap_or_else(|| http::Uri::from_static("http://localhost:4318/v1/traces")),
        service_name,
        sample_ratio,
        headers,
        timeout: problems.duration(
            raw.timeout.as_ref(),
            field("timeout"),
            Duration::from_secs(10),
        ),
        queue,
        batch,
        interval: problems.duration(
            raw.interval.as_ref(),
            field("interval"),
            Duration::from_secs(5),
        ),
    }
}

/// The OTLP/HTTP traces URL for a collector's base URL (the
/// `OTEL_EXPORTER_OTLP_ENDPOINT` rule: `/v1/traces` is appended), or the URL
/// itself when it already ends so.
fn traces_url(endpoint: &str) -> Option<http::Uri> {
    let uri: http::Uri = endpoint.parse().ok()?;
    if !matches!(uri.scheme_str(), Some("http" | "https"))
        || uri.host().is_none_or(str::is_empty)
        || uri.query().is_some()
        || uri.authority().is_some_and(|a| a.as_str().contains('@'))
    {
        return None;
    }
    let path = uri.path().trim_end_matches('/');
    if path.ends_with("/v1/traces") {
        return Some(uri);
    }
    let authority = uri.authority()?;
    format!("{}://{authority}{path}/v1/traces", uri.scheme_str()?)
        .parse()
        .ok()
}

/// `name=value,name=value` (the `OTEL_EXPORTER_OTLP_HEADERS` form; values
/// may be percent-encoded). Errors never quote a value: they are secrets.
fn collector_headers(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    for (i, entry) in text.split(',').enumerate() {
        if entry.trim().is_empty() {
            continue;
        }
        let Some((name, value)) = entry.split_once('=') else {
            return Err(format!("entry {} is not `name=value`", i + 1));
        };
        let name = name.trim();
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(format!("entry {}: `{name}` is not a header name", i + 1));
        }
        let value = percent_decode(value.trim())
            .filter(|v| http::HeaderValue::from_str(v).is_ok())
            .ok_or_else(|| format!("the value of `{name}` is not a valid header value"))?;
        pairs.push((name.to_ascii_lowercase(), value));
    }
    Ok(pairs)
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn resolve_upstream(
    problems: &mut Problems,
    name: &str,
    upstream: &Spanned<raw::RawUpstream>,
    base: &Path,
) -> UpstreamConfig {
    let field = |f: &str| format!("upstreams.{name}.{f}");
    let raw = &upstream.value;
    let circuit = raw.circuit.as_ref();
    let circuit = CircuitConfig {
        consecutive_failures: circuit.and_then(|c| c.consecutive_failures).unwrap_or(5),
        open_for: problems.duration(
            circuit.and_then(|c| c.open_for.as_ref()),
            field("circuit.open_for"),
            Duration::from_secs(10),
        ),
    };
    if raw.endpoints.is_empty() {
        problems.at(
            upstream,
            field("endpoints"),
            "list at least one `host:port`",
        );
    }
    let tls = raw.tls.as_ref().map(|tls| {
        let ca = tls.value.ca.as_ref().map(|ca| base.join(&ca.value));
        if let Err(err) = crate::tls::client_config(ca.as_deref()) {
            problems.at(tls, field("tls"), err.to_string());
        }
        UpstreamTls { ca }
    });
    let protocol = match &raw.protocol {
        None => Protocol::Http1,
        Some(p) => match p.value.as_str() {
            "http1" => Protocol::Http1,
            "h2" => Protocol::Http2,
            other => {
                problems.at(
                    p,
                    field("protocol"),
                    format!("`{other}` is not a protocol: use `http1` or `h2`"),
                );
                Protocol::Http1
            }
        },
    };
    let endpoints = raw
        .endpoints
        .iter()
        .filter_map(|e| match e.value.parse::<Authority>() {
            Ok(a) if a.port_u16().is_some() && !e.value.contains('@') => Some(a),
            _ => {
                problems.at(
                    e,
                    field("endpoints"),
                    format!("`{}` is not `host:port`", e.value),
                );
                None
            }
        })
        .collect();
    let balance = match &raw.balance {
        None => Balance::RoundRobin,
        Some(b) => match b.value.as_str() {
            "round_robin" => Balance::RoundRobin,
            "least_requests" => Balance::LeastRequests,
            other => {
                problems.at(
                    b,
                    field("balance"),
                    format!("`{other}` is not a balance: use `round_robin` or `least_requests`"),
                );
                Balance::RoundRobin
            }
        },
    };
    UpstreamConfig {
        name: name.to_owned(),
        endpoints,
        balance,
        connect_timeout: problems.duration(
            raw.connect_timeout.as_ref(),
            field("connect_timeout"),
            Duration::from_secs(2),
        ),
        request_timeout: problems.duration(
            raw.request_timeout.as_ref(),
            field("request_timeout"),
            Duration::from_secs(30),
        ),
        idle_timeout: problems.duration(
            raw.idle_timeout.as_ref(),
            field("idle_timeout"),
            Duration::from_secs(90),
        ),
        circuit,
        tls,
        protocol,
    }
}

fn resolve_route(
    problems: &mut Problems,
    i: usize,
    route: &Spanned<raw::RawRoute>,
    known: &dyn Fn(&str) -> bool,
    upstreams: &std::collections::BTreeMap<String, Spanned<raw::RawUpstream>>,
) -> Option<RouteConfig> {
    let field = |f: &str| format!("routes[{i}].{f}");
    let raw = &route.value;
    let before = problems.0.len();

    if raw.name.value.trim().is_empty() {
        problems.at(&raw.name, field("name"), "give the route a name");
    }
    let methods = raw
        .methods
        .as_ref()
        .map(|names| problems.methods(names, &field("methods")));
    let path = match (&raw.path, &raw.prefix) {
        (Some(path), None) => check_path(problems, path, field("path")).map(|p| {
            if p.contains('{') {
                PathMatch::Template(p)
            } else {
                PathMatch::Exact(p)
            }
        }),
        (None, Some(prefix)) => check_path(problems, prefix, field("prefix")).map(|p| {
            let trimmed = p.trim_end_matches('/');
            PathMatch::Prefix(if trimmed.is_empty() {
                "/".to_owned()
            } else {
                trimmed.to_owned()
            })
        }),
        _ => {
            problems.at(
                route,
                field("path"),
                "give exactly one of `path` (exact or `{param}` template) and `prefix`",
            );
            None
        }
    };
    let upstream = match &raw.upstream {
        Some(upstream) => {
            if !known(&upstream.value) {
                problems.at(
                    upstream,
                    field("upstream"),
                    unknown_upstream(&upstream.value, upstreams),
                );
            }
            upstream.value.clone()
        }
        None => {
            problems.at(
                &raw.name,
                field("upstream"),
                "name the new service's `upstream`, or list a playbook that claims this route under `playbooks`",
            );
            String::new()
        }
    };

    let mode_name = raw.mode.as_ref().map_or("legacy", |m| m.value.as_str());
    if let (Some(weight), "legacy" | "shadow" | "cutover") = (&raw.weight_bp, mode_name) {
        problems.at(
            weight,
            field("weight_bp"),
            "only a `canary` route has a weight",
        );
    }
    let stage = match mode_name {
        "legacy" => Some(Stage::Legacy),
        "shadow" => Some(Stage::Shadow),
        "cutover" => Some(Stage::Cutover),
        "canary" => match &raw.weight_bp {
            Some(w) => problems
                .basis_points(w, field("weight_bp"))
                .map(|weight_bp| Stage::Canary { weight_bp }),
            None => Some(Stage::Canary { weight_bp: 0 }),
        },
        other => {
            let at = raw
                .mode
                .as_ref()
                .expect("a mode other than the default was written");
            problems.at(
                at,
                field("mode"),
                format!("`{other}` is not a mode: use `legacy`, `shadow`, `canary` or `cutover`"),
            );
            None
        }
    };
    let sticky = match &raw.sticky {
        None => Some(StickyKey::ClientIp),
        Some(s) => StickyKey::parse(&s.value).or_else(|| {
            problems.at(
                s,
                field("sticky"),
                format!(
                    "`{}` is not a key: use `header:NAME`, `cookie:NAME` or `client_ip`",
                    s.value
                ),
            );
            None
        }),
    };

    if problems.0.len() > before {
        return None;
    }
    Some(RouteConfig {
        name: raw.name.value.clone(),
        methods,
        host: raw.host.as_ref().map(|h| h.to_ascii_lowercase()),
        path: path?,
        upstream: upstream.clone(),
        stage: stage?,
        sticky: sticky?,
        split_seed: raw.split_seed.clone().unwrap_or(upstream),
        fallback: raw.fallback.unwrap_or(false),
        shadow: resolve_shadow(problems, i, raw.shadow.as_ref(), known, upstreams),
    })
}

fn resolve_shadow(
    problems: &mut Problems,
    i: usize,
    raw: Option<&Spanned<raw::RawShadow>>,
    known: &dyn Fn(&str) -> bool,
    upstreams: &std::collections::BTreeMap<String, Spanned<raw::RawUpstream>>,
) -> ShadowConfig {
    let field = |f: &str| format!("routes[{i}].shadow.{f}");
    let defaults = ShadowConfig::default();
    let Some(raw) = raw else { return defaults };
    let sample_bp = match &raw.value.sample_bp {
        Some(s) => problems
            .basis_points(s, field("sample_bp"))
            .unwrap_or(10_000),
        None => defaults.sample_bp,
    };
    let methods = match &raw.value.methods {
        None => defaults.methods,
        Some(names) => problems.methods(names, &field("methods")),
    };
    ShadowConfig {
        sample_bp,
        in_canary: raw.value.in_canary.unwrap_or(defaults.in_canary),
        methods,
        max_body_bytes: raw.value.max_body_bytes.unwrap_or(defaults.max_body_bytes),
        timeout: problems.duration(
            raw.value.timeout.as_ref(),
            field("timeout"),
            defaults.timeout,
        ),
        host: raw.value.host.as_ref().map(|h| h.value.clone()),
        rules: match &raw.value.rules {
            None => defaults.rules,
            Some(rules) => match rules.value.clone().resolve() {
                Ok(rules) => Arc::new(rules),
                Err(err) => {
                    for problem in err.problems {
                        problems.at(
                            rules,
                            field(&format!("rules.{}", problem.field)),
                            format!("`{}`: {}", problem.entry, problem.problem),
                        );
                    }
                    defaults.rules
                }
            },
        },
        noise_baseline: raw.value.noise_baseline.as_ref().map(|baseline| {
            if !known(&baseline.value) {
                problems.at(
                    baseline,
                    field("noise_baseline"),
                    unknown_upstream(&baseline.value, upstreams),
                );
            }
            baseline.value.clone()
        }),
        max_in_flight: raw
            .value
            .max_in_flight
            .unwrap_or(defaults.max_in_flight)
            .max(1),
        redact: match &raw.value.redact {
            None => Arc::default(),
            Some(paths) => match RedactPaths::parse(&paths.value) {
                Ok(paths) => Arc::new(paths),
                Err(err) => {
                    for problem in err.problems {
                        problems.at(
                            paths,
                            field("redact"),
                            format!("`{}`: {}", problem.entry, problem.problem),
                        );
                    }
                    Arc::default()
                }
            },
        },
    }
}

fn check_path(problems: &mut Problems, path: &Spanned<String>, field: String) -> Option<String> {
    if path.value.starts_with('/') && !path.value.contains(['?', '#', ' ']) {
        Some(path.value.clone())
    } else {
        problems.at(
            path,
            field,
            format!(
                "`{}` must start with `/` and hold no query, fragment or space",
                path.value
            ),
        );
        None
    }
}

fn unknown_upstream(
    name: &str,
    upstreams: &std::collections::BTreeMap<String, Spanned<raw::RawUpstream>>,
) -> String {
    let names: Vec<&str> = upstreams.keys().map(String::as_str).collect();
    format!(
        "no upstream is named `{name}`; the upstreams are: {}",
        names.join(", ")
    )
}

#[cfg(test)]
mod tests;
