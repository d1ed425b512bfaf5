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
use super::log::READINESS_LOG;
use crate::args::ReadinessArgs;
use crate::commands::runtime::runtime;

/// Where readiness evidence comes from. The cutover command fills this from
/// its own arguments and calls [`domain_ready`](super::domain_ready).
#[derive(Debug, Clone, Default)]
pub(crate) struct Sources {
    /// The playbooks directory.
    pub(crate) playbooks: PathBuf,
    /// The proxy's admin API base URL (`http://127.0.0.1:9901`).
    pub(crate) admin: Option<String>,
    /// The proxy's state file.
    pub(crate) state: Option<PathBuf>,
    /// Saved Prometheus text.
    pub(crate) metrics: Option<PathBuf>,
    /// The shadow store.
    pub(crate) shadow_store: Option<PathBuf>,
    /// The analysis directory.
    pub(crate) analysis: Option<PathBuf>,
    /// Where the readiness log goes (default: `playbooks`).
    pub(crate) state_dir: Option<PathBuf>,
    /// Skip the databases.
    pub(crate) no_data: bool,
}

impl Sources {
    pub(super) fn from_args(args: &ReadinessArgs) -> Self {
        Self {
            playbooks: args.playbooks.clone(),
            admin: args.admin.clone(),
            state: args.state.clone(),
            metrics: args.metrics.clone(),
            shadow_store: args.shadow_store.clone(),
            analysis: args.analysis.clone(),
            state_dir: args.state_dir.clone(),
            no_data: args.no_data,
        }
    }

    pub(super) fn log_path(&self) -> PathBuf {
        self.state_dir
            .as_deref()
            .unwrap_or(&self.playbooks)
            .join(READINESS_LOG)
    }
}

/// Evidence that is the same for every domain: read once.
pub(super) struct Shared {
    routes: Option<StageEvidence>,
    metrics: Option<String>,
    shadow: Option<Value>,
    analysis: Option<(String, Value)>,
    runtime: tokio::runtime::Runtime,
}

impl Shared {
    pub(super) fn gather(sources: &Sources) -> anyhow::Result<Self> {
        let runtime = runtime()?;
        let routes = match (&sources.admin, &sources.state) {
            (Some(admin), _) => {
                let text = http_get(admin, "/routes")?;
                let value: Value = serde_json::from_str(&text)
                    .with_context(|| format!("{admin}/routes did not answer JSON"))?;
                Some(StageEvidence::from_json(&format!("{admin}/routes"), &value))
            }
            (None, Some(state)) => {
                let text = std::fs::read_to_string(state).with_context(|| {
                    format!("cannot read the proxy's state file {}", state.display())
                })?;
                let value: Value = serde_json::from_str(&text).with_context(|| {
                    format!("{} is not the proxy's state file (JSON)", state.display())
                })?;
                Some(StageEvidence::from_json(
                    &state.display().to_string(),
                    &value,
                ))
            }
            (None, None) => None,
        };
        let metrics = match (&sources.metrics, &sources.admin) {
            (Some(file), _) => Some(
                std::fs::read_to_string(file)
                    .with_context(|| format!("cannot read {}", file.display()))?,
            ),
            (None, Some(admin)) => Some(http_get(admin, "/metrics")?),
            (None, None) => None,
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
            lag: lags
                .iter()
                .map(|l| Duration::from_secs(u64::try_from(l.seconds_since_update).unwrap_or(0)))
                .max(),
            unavailable: None,
        }),
    }
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
        performance: shared
            .metrics
            .as_deref()
            .map(|text| PerformanceEvidence::from_prometheus(text, &route_names)),
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
}
