//! Gathering readiness evidence: the proxy's stages and metrics, the shadow
//! store's report, the analysis, and the target database's verify runs.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use msa_playbook::Playbook;
use msa_playbook::readiness::{
    BehaviourEvidence, CouplingEvidence, DataEvidence, Evidence, PerformanceEvidence,
    StageEvidence, Verdict, VerifyRun,
};
use serde_json::Value;

use super::admin_http::http_get;
use crate::args::ReadinessArgs;
use crate::commands::runtime::runtime;

/// Where readiness evidence comes from. The cutover command fills this from
/// its own arguments and calls [`domain_ready`](super::domain_ready).
#[derive(Debug, Clone, Default)]
pub(crate) struct Sources {
    /// The playbooks directory.
    pub(crate) playbooks: PathBuf,
    /// Every proxy replica's admin API base URL (`http://127.0.0.1:9901`):
    /// their metrics are summed, their routes give the stages without `state`.
    pub(crate) admins: Vec<String>,
    /// The state store the proxies follow: a state file or a postgres:// URL.
    pub(crate) state: Option<String>,
    /// Saved Prometheus text, one file per replica.
    pub(crate) metrics: Vec<PathBuf>,
    /// The shadow store.
    pub(crate) shadow_store: Option<PathBuf>,
    /// The analysis directory.
    pub(crate) analysis: Option<PathBuf>,
    /// The readiness log every verdict is appended to.
    pub(crate) log: PathBuf,
    /// Skip the databases.
    pub(crate) no_data: bool,
}

impl Sources {
    pub(super) fn from_args(args: &ReadinessArgs) -> Self {
        Self {
            playbooks: args.playbooks.clone(),
            admins: args.admins.clone(),
            state: args.state.clone(),
            metrics: args.metrics.clone(),
            shadow_store: args.shadow_store.clone(),
            analysis: args.analysis.clone(),
            log: args.log.clone(),
            no_data: args.no_data,
        }
    }
}

/// Evidence that is the same for every domain: read once.
pub(super) struct Shared {
    routes: Option<StageEvidence>,
    /// One Prometheus text per replica (or per `--metrics` file).
    metrics: Vec<String>,
    shadow: Option<Value>,
    analysis: Option<(String, Value)>,
    runtime: tokio::runtime::Runtime,
}

/// Each replica's `GET /routes`, as stage evidence.
fn replica_routes(admins: &[String]) -> anyhow::Result<Vec<StageEvidence>> {
    admins
        .iter()
        .map(|admin| {
            let text = http_get(admin, "/routes")?;
            let value: Value = serde_json::from_str(&text)
                .with_context(|| format!("{admin}/routes did not answer JSON"))?;
            Ok(StageEvidence::from_json(&format!("{admin}/routes"), &value))
        })
        .collect()
}

/// One view of the replicas: for each route, the least advanced stage any
/// of them serves (a replica that has not caught up yet is where some users
/// are), and the first replica's upstreams and paths.
fn merge_replicas(mut replicas: Vec<StageEvidence>) -> Option<StageEvidence> {
    if replicas.is_empty() {
        return None;
    }
    let mut merged = replicas.remove(0);
    for other in replicas {
        merged.source = format!("{}, {}", merged.source, other.source);
        for (route, stage) in other.routes {
            merged
                .routes
                .entry(route)
                .and_modify(|held| {
                    if (stage.mode, stage.weight_bp) < (held.mode, held.weight_bp) {
                        *held = stage;
                    }
                })
                .or_insert(stage);
        }
    }
    Some(merged)
}

/// The stages the state store holds: the proxies follow it, so it is what
/// they serve (a replica that lost the store keeps its last state; its own
/// `/routes` tells).
async fn store_stages(location: &str) -> anyhow::Result<StageEvidence> {
    let store = msa_proxy::state::open(location, None)?;
    let saved = store
        .load()
        .await
        .with_context(|| format!("cannot read the route stages in {}", store.describe()))?;
    let stages: serde_json::Map<String, Value> = saved
        .stages
        .iter()
        .map(|(route, stage)| {
            (
                route.clone(),
                serde_json::to_value(stage).expect("stages serialise"),
            )
        })
        .collect();
    Ok(StageEvidence::from_json(
        &store.describe(),
        &serde_json::json!({ "routes": stages }),
    ))
}

/// What the proxies serve when they follow the store: its stage for each
/// route it has one for, else the configuration's (which the replicas'
/// `/routes` show); their upstreams and paths, which the store does not know.
fn serve_from_store(store: StageEvidence, replicas: Option<StageEvidence>) -> StageEvidence {
    let Some(replicas) = replicas else {
        return store;
    };
    let mut routes = replicas.routes;
    routes.extend(store.routes);
    StageEvidence {
        source: format!(
            "{} (routes without a stage there: {})",
            store.source, replicas.source
        ),
        routes,
        targets: replicas.targets,
    }
}

impl Shared {
    pub(super) fn gather(sources: &Sources) -> anyhow::Result<Self> {
        let runtime = runtime()?;
        let replicas = merge_replicas(replica_routes(&sources.admins)?);
        let routes = match (&sources.state, replicas) {
            (Some(location), replicas) => {
                let store = runtime.block_on(store_stages(location))?;
                Some(serve_from_store(store, replicas))
            }
            (None, replicas) => replicas,
        };
        let metrics = if sources.metrics.is_empty() {
            sources
                .admins
                .iter()
                .map(|admin| http_get(admin, "/metrics"))
                .collect::<anyhow::Result<_>>()?
        } else {
            sources
                .metrics
                .iter()
                .map(|file| {
                    std::fs::read_to_string(file)
                        .with_context(|| format!("cannot read {}", file.display()))
                })
                .collect::<anyhow::Result<_>>()?
        };
        let shadow = match &sources.shadow_store {
            None => None,
            Some(store) => Some(runtime.block_on(async {
                let store = msa_proxy::shadow_store::ShadowStore::open_existing(store).await?;
                store.report(None).await
            })?),
        };
        let analysis = match &sources.analysis {
            None => None,
            Some(dir) => {
                let path = dir.join("analysis.json");
                let text = std::fs::read_to_string(&path).with_context(|| {
                    format!(
                        "cannot read {}: run `msa-migrate analyze --out {}`",
                        path.display(),
                        dir.display()
                    )
                })?;
                let value: Value = serde_json::from_str(&text)
                    .with_context(|| format!("{} is not JSON", path.display()))?;
                Some((path.display().to_string(), value))
            }
        };
        Ok(Self {
            routes,
            metrics,
            shadow,
            analysis,
            runtime,
        })
    }
}

/// What `analysis.json` (analyzers' `model::Analysis`) says crosses the
/// domain's boundary: its findings of kinds `shared_write`, `foreign_write`,
/// `cross_domain_foreign_key` and `cross_domain_transaction` naming the domain.
/// Read as JSON, so a newer analysis with more fields still reads.
fn coupling_evidence(source: &str, analysis: &Value, domain: &str) -> CouplingEvidence {
    let domain_known = analysis["domains"]
        .as_array()
        .is_some_and(|d| d.iter().any(|d| d["name"] == domain));
    let mut evidence = CouplingEvidence {
        source: source.to_owned(),
        domain_known,
        ..CouplingEvidence::default()
    };
    for finding in analysis["findings"].as_array().into_iter().flatten() {
        let involved = finding["domains"]
            .as_array()
            .is_some_and(|d| d.iter().any(|d| d == domain));
        if !involved {
            continue;
        }
        let text = format!(
            "{}{}",
            finding["subject"].as_str().unwrap_or_default(),
            finding["detail"]
                .as_str()
                .filter(|d| !d.is_empty())
                .map(|d| format!(" ({d})"))
                .unwrap_or_default()
        );
        match finding["kind"].as_str() {
            // `foreign_write`: the one writer is not the owner, a cross-domain write too.
            Some("shared_write" | "foreign_write") => evidence.cross_domain_writes.push(text),
            Some("cross_domain_foreign_key") => evidence.foreign_keys.push(text),
            Some("cross_domain_transaction") => evidence.transactions.push(text),
            _ => {}
        }
    }
    evidence
}

/// The last verify and the catch-up lag, from the target database.
fn data_evidence(playbook: &Playbook, sources: &Sources, shared: &Shared) -> Option<DataEvidence> {
    let data = playbook.data.as_ref()?;
    let unavailable = |why: String| DataEvidence {
        unavailable: Some(why),
        ..DataEvidence::default()
    };
    if sources.no_data {
        return Some(unavailable("--no-data was given".to_owned()));
    }
    let dsn = match msa_backfill::Dsn::parse(data.target.as_written(), msa_backfill::Side::Target) {
        Ok(dsn) => dsn,
        Err(err) => {
            return Some(unavailable(format!(
                "the target DSN {}: {err}",
                data.target
            )));
        }
    };
    let targets: Vec<String> = playbook
        .tables
        .tables
        .iter()
        .map(|(source, t)| t.target.clone().unwrap_or_else(|| source.clone()))
        .collect();
    let gathered = shared.runtime.block_on(async {
        let run = msa_backfill::last_verify(&dsn).await?;
        let lags = msa_backfill::catch_up_lag(&dsn, &targets).await?;
        Ok::<_, msa_backfill::Error>((run, lags))
    });
    match gathered {
        Err(err) => Some(unavailable(format!("cannot read {dsn}: {err}"))),
        Ok((run, lags)) => Some(DataEvidence {
            last_verify: run.map(|r| VerifyRun {
                finished_at: SystemTime::from(r.finished_at),
                clean: r.clean,
                rows_checked: u64::try_from(r.rows_checked).unwrap_or(0),
                mismatches: u64::try_from(r.mismatches).unwrap_or(u64::MAX),
            }),
            lag: lags.iter().map(lag_bound).max(),
            unavailable: None,
        }),
    }
}

/// How far behind the source a table may be now, at most: a follower's
/// last measured lag (the oldest change it had not applied yet) plus the time
/// since its checkpoint last moved, since changes may have come in since that
/// pass; with no follower, the time since the copy last moved.
fn lag_bound(lag: &msa_backfill::Lag) -> Duration {
    let seconds = lag
        .lag_seconds
        .unwrap_or(0)
        .saturating_add(lag.seconds_since_update);
    Duration::from_secs(u64::try_from(seconds).unwrap_or(0))
}

/// One domain's verdict on the evidence.
pub(super) fn judge_one(
    playbook: &Playbook,
    sources: &Sources,
    shared: &Shared,
) -> anyhow::Result<Verdict> {
    let route_names: Vec<&str> = playbook.routes.iter().map(|r| r.name.as_str()).collect();
    let evidence = Evidence {
        coupling: shared
            .analysis
            .as_ref()
            .map(|(source, value)| coupling_evidence(source, value, &playbook.domain)),
        data: data_evidence(playbook, sources, shared),
        behaviour: shared.shadow.as_ref().map(BehaviourEvidence::from_report),
        // Every replica serves part of the traffic: the evidence is their sum.
        performance: (!shared.metrics.is_empty()).then(|| {
            let mut sum = PerformanceEvidence::default();
            for text in &shared.metrics {
                sum.add(&PerformanceEvidence::from_prometheus(text, &route_names));
            }
            sum
        }),
        stage: shared.routes.clone(),
    };
    Ok(msa_playbook::readiness::judge(
        playbook,
        &evidence,
        SystemTime::now(),
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn coupling_reads_the_findings_that_name_the_domain() {
        let analysis = json!({
            "domains": [{"name": "coupon", "routes": [], "tables": []}, {"name": "order"}],
            "findings": [
                {"kind": "cross_domain_foreign_key", "domains": ["order", "coupon"], "subject": "orders.coupon_id → coupons.id", "detail": ""},
                {"kind": "cross_domain_transaction", "domains": ["order", "coupon", "point"], "subject": "OrderService.place", "detail": "touches coupons, points"},
                {"kind": "shared_write", "domains": ["order", "product"], "subject": "table products", "detail": ""},
                {"kind": "cross_domain_call", "domains": ["coupon", "user"], "subject": "x", "detail": ""}
            ]
        });
        let e = coupling_evidence("a.json", &analysis, "coupon");
        assert!(e.domain_known);
        assert_eq!(e.foreign_keys, ["orders.coupon_id → coupons.id"]);
        assert_eq!(
            e.transactions,
            ["OrderService.place (touches coupons, points)"]
        );
        assert!(
            e.cross_domain_writes.is_empty(),
            "another domain's shared write"
        );
        assert!(!coupling_evidence("a.json", &analysis, "ranking").domain_known);
    }

    fn stages(source: &str, pairs: &[(&str, &str, u64)]) -> StageEvidence {
        let routes: Vec<Value> = pairs
            .iter()
            .map(|(name, mode, weight)| {
                json!({"name": name, "upstream": "coupon", "path": format!("/{name}"),
                       "stage": {"mode": mode, "weight_bp": weight}})
            })
            .collect();
        StageEvidence::from_json(source, &json!({ "routes": routes }))
    }

    #[test]
    fn replicas_show_their_least_advanced_stage_and_the_store_overrides_them() {
        let merged = merge_replicas(vec![
            stages("r1", &[("a", "canary", 5_000), ("b", "legacy", 0)]),
            stages("r2", &[("a", "canary", 1_000), ("b", "legacy", 0)]),
        ])
        .unwrap();
        assert_eq!(merged.source, "r1, r2");
        assert_eq!(
            merged.routes["a"].weight_bp, 1_000,
            "a replica not caught up yet"
        );
        let store = StageEvidence::from_json(
            "postgres://msa@db/msa",
            &json!({"routes": {"a": {"mode": "cutover"}}}),
        );
        let served = serve_from_store(store, Some(merged));
        assert_eq!(served.routes["a"].mode, msa_playbook::Mode::Cutover);
        assert_eq!(
            served.routes["b"].mode,
            msa_playbook::Mode::Legacy,
            "no stage in the store: the configuration's"
        );
        assert_eq!(served.targets["a"].upstream, "coupon");
        assert!(merge_replicas(Vec::new()).is_none());
    }

    #[test]
    fn a_followers_lag_grows_with_the_time_since_its_last_pass() {
        let lag = |lag_seconds, seconds_since_update| msa_backfill::Lag {
            table: "coupons".to_owned(),
            status: "following".to_owned(),
            seconds_since_update,
            lag_seconds,
        };
        // Caught up at its last pass, 3 s ago: at most 3 s behind now.
        assert_eq!(super::lag_bound(&lag(Some(0), 3)), Duration::from_secs(3));
        // 20 s behind at a pass 600 s ago (a follower that stopped).
        assert_eq!(
            super::lag_bound(&lag(Some(20), 600)),
            Duration::from_secs(620)
        );
        // No follower: as old as the copy.
        assert_eq!(super::lag_bound(&lag(None, 45)), Duration::from_secs(45));
    }
}
