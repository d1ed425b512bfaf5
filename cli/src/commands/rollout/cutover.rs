//! `msa-migrate cutover` and `rollback`: move all of a domain's routes at
//! once, ending any canary walk of it.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "progress and outcomes are the commands' output; notes for people on stderr"
)]

use msa_proxy::Stage;

use super::domain::domain;
use super::output::{MoveReport, ReadinessView, RouteChange};
use super::record::{Record, record_key};
use super::target::Target;
use super::{NO_REASON, actor};
use crate::Outcome;
use crate::args::{CutoverArgs, OutputFormat, RollbackArgs};
use crate::commands::clock;
use crate::commands::playbook::{self, Sources};
use crate::commands::runtime::runtime;

/// Whether the domain may be cut over, and the verdict's summary.
#[derive(Debug)]
enum Readiness {
    Ready(String),
    NotReady(String),
    /// No verdict could be had.
    Unknown(String),
}

impl Readiness {
    fn view(&self) -> ReadinessView {
        let (outcome, summary) = match self {
            Self::Ready(summary) => ("ready", summary),
            Self::NotReady(summary) => ("not_ready", summary),
            Self::Unknown(summary) => ("unknown", summary),
        };
        ReadinessView {
            outcome,
            summary: summary.clone(),
        }
    }
}

/// What `cutover` and `rollback` did: the routes moved, before and after,
/// as lines for people or one JSON object.
fn report(format: OutputFormat, done: &MoveReport, target: &Target) -> anyhow::Result<()> {
    if format.is_json() {
        println!("{}", serde_json::to_string_pretty(done)?);
        return Ok(());
    }
    let did = if done.action == "cutover" {
        "cut over"
    } else {
        "rolled"
    };
    let back = if done.action == "cutover" {
        ""
    } else {
        " back"
    };
    println!(
        "{did} `{}`{back} in {} (by {}):",
        done.domain,
        target.describe(),
        done.actor
    );
    for route in &done.routes {
        println!("{}", route.text());
    }
    Ok(())
}

/// `msa-migrate readiness`'s verdict for the domain, on the evidence the
/// cutover's arguments point at: the stages in the state store (`--state`,
/// a file or PostgreSQL), every replica's metrics and routes (`--admin`,
/// summed), the shadow store, the analysis.
fn domain_readiness(args: &CutoverArgs) -> Readiness {
    let sources = Sources {
        playbooks: args.domain.playbooks.clone(),
        admins: args.target.admins.clone(),
        state: args.target.state.clone(),
        shadow_store: args.shadow_store.clone(),
        analysis: args.analysis.clone(),
        log: args.log.clone(),
        ..Sources::default()
    };
    match playbook::domain_ready(&args.domain.domain, &sources) {
        Ok(verdict) if verdict.ready => Readiness::Ready(verdict.summary),
        Ok(verdict) => Readiness::NotReady(verdict.summary),
        Err(err) => Readiness::Unknown(format!("{err:#}")),
    }
}

/// Says why a cutover was refused, and how to override.
#[allow(
    clippy::print_stderr,
    reason = "stderr is where the CLI talks to people"
)]
fn refuse(message: &str) {
    eprintln!("error: {message}");
    eprintln!(
        "hint: see `msa-migrate readiness --explain`; to cut over anyway: --force (audited with your --reason and this verdict)"
    );
}

/// `msa-migrate cutover`.
pub(crate) fn cutover(args: CutoverArgs) -> anyhow::Result<Outcome> {
    let domain = domain(
        &args.domain.domain,
        &args.domain.playbooks,
        &args.domain.routes,
    )?;
    let runtime = runtime()?;
    let target = {
        // Stores connect within the runtime.
        let _entered = runtime.enter();
        Target::open(
            args.target.state.as_deref(),
            &args.target.admins,
            &args.target.token_env,
        )?
    };
    let actor = actor(args.actor.as_ref())?;
    let mut reason = args.reason.trim().to_owned();
    if reason.is_empty() {
        anyhow::bail!(
            "--reason is empty: say why the domain is cut over (a change ticket, a decision), for the audit log"
        );
    }
    // Readiness runs a runtime of its own, outside ours.
    let readiness = domain_readiness(&args);
    let given = reason.clone();
    let mut forced = false;
    match &readiness {
        Readiness::Ready(_) => {}
        Readiness::NotReady(why) | Readiness::Unknown(why) if args.force => {
            let note = format!("readiness does not pass ({why}); cutting over anyway (--force)");
            if args.format.is_json() {
                // stdout holds the one JSON object, which says so too.
                eprintln!("note: {note}");
            } else {
                println!("{note}");
            }
            reason = format!("forced: {reason} (readiness: {why})");
            forced = true;
        }
        Readiness::NotReady(why) => {
            refuse(&format!(
                "`{}` is not ready for cutover: {why}",
                domain.name
            ));
            return Ok(Outcome::NotReady);
        }
        Readiness::Unknown(why) => {
            refuse(&format!("cannot cut `{}` over: {why}", domain.name));
            return Ok(Outcome::NotReady);
        }
    }
    let changes: Vec<(String, Stage)> = domain
        .routes
        .iter()
        .map(|r| (r.clone(), Stage::Cutover))
        .collect();
    let (applied, canary_stopped) = runtime.block_on(async {
        let applied = target
            .set(&domain.name, &changes, &actor, "cutover", &reason)
            .await?;
        let stopped = stop_canary(&target, &domain.name, &actor, "cutover").await;
        anyhow::Ok((applied, stopped))
    })?;
    let done = MoveReport {
        action: "cutover",
        domain: domain.name.clone(),
        at: clock::now(),
        actor,
        reason: Some(given),
        audit_reason: reason,
        forced,
        readiness: Some(readiness.view()),
        applied_in: target.applied_in(),
        routes: RouteChange::all(&applied),
        canary_stopped,
    };
    report(args.format, &done, &target)?;
    Ok(Outcome::Success)
}

/// `msa-migrate rollback`.
pub(crate) fn rollback(args: RollbackArgs) -> anyhow::Result<Outcome> {
    let domain = domain(
        &args.domain.domain,
        &args.domain.playbooks,
        &args.domain.routes,
    )?;
    let runtime = runtime()?;
    // Stores connect within the runtime.
    let _entered = runtime.enter();
    let target = Target::open(
        args.target.state.as_deref(),
        &args.target.admins,
        &args.target.token_env,
    )?;
    let actor = actor(args.audit.actor.as_ref())?;
    // Rollback is never held up for want of words: an emergency may have
    // none yet. The log says so outright.
    let given = args
        .audit
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_owned);
    let reason = given.clone().unwrap_or_else(|| NO_REASON.to_owned());
    let back = domain.back_to(args.to.map(|t| t.mode()));
    let changes: Vec<(String, Stage)> = domain.routes.iter().map(|r| (r.clone(), back)).collect();
    let (applied, canary_stopped) = runtime.block_on(async {
        let applied = target
            .set(&domain.name, &changes, &actor, "rollback", &reason)
            .await?;
        let stopped = stop_canary(&target, &domain.name, &actor, "rollback").await;
        anyhow::Ok((applied, stopped))
    })?;
    let done = MoveReport {
        action: "rollback",
        domain: domain.name.clone(),
        at: clock::now(),
        actor,
        reason: given,
        audit_reason: reason,
        forced: false,
        readiness: None,
        applied_in: target.applied_in(),
        routes: RouteChange::all(&applied),
        canary_stopped,
    };
    report(args.format, &done, &target)?;
    Ok(Outcome::Success)
}

/// A manual cutover or rollback ends the domain's canary walk: a running
/// controller sees its routes changed and stops; a stopped one will not
/// resume. Whether a walk in progress was ended here.
async fn stop_canary(target: &Target, domain: &str, actor: &str, why: &str) -> bool {
    let Target::Store(store) = target else {
        return false;
    };
    let key = record_key(domain);
    let Ok(Some(text)) = store.record(&key).await else {
        return false;
    };
    let Ok(mut record) = Record::from_json(&text) else {
        return false;
    };
    if !record.is_live() {
        return false;
    }
    // Stopped, not rolled back: the routes are where this command put them.
    record.canary.stop(format!("ended by {why} (by {actor})"));
    record.intent = None;
    record.updated = Some(clock::now());
    store.put_record(&key, record.to_json()).await.is_ok()
}
