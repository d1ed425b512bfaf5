//! `msa-migrate canary DOMAIN`: the walk's plan and judge, from the
//! arguments over the playbook over defaults; then the controller runs it.

use std::time::Duration;

use anyhow::{Context, bail};
use msa_playbook::PerformanceGate;
use msa_playbook::canary::{Canary, Plan, percent_to_bp};
use msa_proxy::state::{self, client::AdminClient};

use super::actor;
use super::control::{canary_status, control_canary};
use super::controller::Controller;
use super::domain::domain;
use super::judge::ProxyJudge;
use super::output::{Mode, Output};
use crate::Outcome;
use crate::args::CanaryArgs;
use crate::commands::runtime::runtime;

/// `msa-migrate canary`.
pub(crate) fn canary(args: CanaryArgs) -> anyhow::Result<Outcome> {
    if let Some(action) = args.action {
        return match action.split() {
            Err(status) => {
                runtime()?.block_on(canary_status(&status.domain, &status.state, status.format))
            }
            Ok((verb, control)) => {
                let actor = actor(control.audit.actor.as_ref())?;
                runtime()?.block_on(control_canary(
                    verb,
                    &control.domain,
                    &control.state,
                    &actor,
                    control.audit.reason,
                    control.format,
                ))
            }
        };
    }
    let run = args.run;
    let (Some(name), Some(location)) = (run.domain.as_deref(), run.state.as_deref()) else {
        bail!(
            "give the domain and the store: msa-migrate canary DOMAIN --state FILE|DSN --admin URL"
        );
    };
    let domain = domain(name, &run.playbooks, &run.routes)?;
    // The playbook's walk (its `canary` section and `rollback.automatic`),
    // else the defaults; each flag overrides its part.
    let policy = domain
        .playbook
        .as_ref()
        .map(msa_playbook::Playbook::canary_plan);
    let steps_bp = if run.steps.is_empty() {
        policy.as_ref().map_or_else(
            || vec![100, 500, 2_500, 5_000, 10_000],
            |p| p.steps_bp.clone(),
        )
    } else {
        run.steps
            .iter()
            .map(|s| percent_to_bp(s).map_err(anyhow::Error::msg))
            .collect::<anyhow::Result<_>>()
            .context("--steps")?
    };
    let approval_bp = if run.approval.is_empty() {
        policy
            .as_ref()
            .map(|p| p.approval_bp.clone())
            .unwrap_or_default()
    } else {
        run.approval
            .iter()
            .map(|s| percent_to_bp(s).map_err(anyhow::Error::msg))
            .collect::<anyhow::Result<_>>()
            .context("--approval")?
    };
    let plan = Plan {
        steps_bp,
        approval_bp,
        advance_after: run
            .advance_after
            .or(policy.as_ref().map(|p| p.advance_after))
            .unwrap_or(3),
        max_failures: run
            .max_failures
            .or(policy.as_ref().map(|p| p.max_failures))
            .unwrap_or(1),
        automatic_rollback: policy.as_ref().is_none_or(|p| p.automatic_rollback),
    };
    let fresh = Canary::new(plan).context("the canary's plan")?;
    let interval = run
        .interval
        .or(domain.playbook.as_ref().map(|p| p.canary.interval))
        .unwrap_or(Duration::from_secs(600));
    if interval.is_zero() {
        bail!("--interval must be more than 0");
    }
    // The playbook's performance gate, else the defaults for a canary of
    // `--routes`; the flags override either.
    let performance = domain.playbook.as_ref().map(|p| p.gates.performance);
    let gate = PerformanceGate {
        min_requests: run
            .min_requests
            .or(performance.map(|p| p.min_requests))
            .unwrap_or(100),
        max_error_rate_delta: run
            .max_error_rate_delta
            .or(performance.map(|p| p.max_error_rate_delta))
            .unwrap_or(0.005),
        max_latency_shift: run
            .max_latency_shift
            .or(performance.map(|p| p.max_latency_shift))
            .unwrap_or(0.1),
        ..performance.unwrap_or_default()
    };
    // A walk is at least steps × advance_after windows, each a test at
    // `alpha`, and one failure may roll it back: each window is judged at
    // alpha / looks, so the walk's chance of a false rollback stays under
    // `alpha` (Bonferroni). Passes do not depend on it.
    let looks = fresh.plan.steps_bp.len() as u64 * u64::from(fresh.plan.advance_after.max(1));
    #[allow(clippy::cast_precision_loss, reason = "a handful of windows")]
    let gate = PerformanceGate {
        alpha: gate.alpha / looks.max(1) as f64,
        ..gate
    };
    if !(0.0..=1.0).contains(&gate.max_error_rate_delta) {
        bail!("--max-error-rate-delta must be between 0 and 1 (0.005 = 0.5 points)");
    }
    if !(0.0..=0.5).contains(&gate.max_latency_shift) {
        bail!("--max-latency-shift must be between 0 and 0.5 (0.1 = slower 60% of the time)");
    }
    let admins = run
        .admins
        .iter()
        .map(|url| AdminClient::new(url, None))
        .collect::<Result<Vec<_>, _>>()?;
    if admins.is_empty() && !run.dry_run {
        bail!(
            "give the proxies' admin APIs whose /metrics and /shadow judge the steps: --admin http://HOST:PORT (repeat for every replica)"
        );
    }
    let actor = actor(run.audit.actor.as_ref())?;
    let rollback_to = domain.back_to(None);
    runtime()?.block_on(async {
        let store = state::open(location, None)?;
        let controller = Controller {
            store,
            domain,
            actor,
            reason: run.audit.reason,
            interval,
            out: Output::new(if run.progress.is_json() {
                Mode::Json
            } else {
                Mode::Text
            }),
        };
        if run.dry_run {
            controller.dry_run(&fresh, rollback_to, &gate).await
        } else {
            let judge = ProxyJudge::new(admins, controller.domain.routes.clone(), gate);
            controller.run(fresh, rollback_to, judge).await
        }
    })
}
