//! `msa-migrate cutover` and `rollback`: move all of a domain's routes at
//! once, ending any canary walk of it.

#![allow(
    clippy::print_stdout,
    reason = "progress and outcomes are the commands' output"
)]

use msa_proxy::Stage;

use super::domain::domain;
use super::record::{Record, record_key};
use super::target::{Target, print_applied};
use super::{NO_REASON, actor};
use crate::Outcome;
use crate::args::{CutoverArgs, RollbackArgs};
use crate::commands::playbook::{self, Sources};
use crate::commands::runtime::runtime;

/// Whether the domain may be cut over.
#[derive(Debug)]
enum Readiness {
    Ready,
    NotReady(String),
    /// No verdict could be had.
    Unknown(String),
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
        Ok(verdict) if verdict.ready => Readiness::Ready,
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
    match readiness {
        Readiness::Ready => {}
        Readiness::NotReady(why) | Readiness::Unknown(why) if args.force => {
            println!("readiness does not pass ({why}); cutting over anyway (--force)");
            reason = format!("forced: {reason} (readiness: {why})");
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
    let applied = runtime.block_on(async {
        let applied = target
            .set(&domain.name, &changes, &actor, "cutover", &reason)
            .await?;
        stop_canary(&target, &domain.name, &actor, "cutover").await;
        anyhow::Ok(applied)
    })?;
    println!(
        "cut over `{}` in {} (by {actor}):",
        domain.name,
        target.describe()
    );
    print_applied(&applied);
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
    let reason = args
        .audit
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .unwrap_or(NO_REASON)
        .to_owned();
    let back = domain.back_to(args.to.map(|t| t.mode()));
    let changes: Vec<(String, Stage)> = domain.routes.iter().map(|r| (r.clone(), back)).collect();
    let applied = runtime.block_on(async {
        let applied = target
            .set(&domain.name, &changes, &actor, "rollback", &reason)
            .await?;
        stop_canary(&target, &domain.name, &actor, "rollback").await;
        anyhow::Ok(applied)
    })?;
    println!(
        "rolled `{}` back in {} (by {actor}):",
        domain.name,
        target.describe()
    );
    print_applied(&applied);
    Ok(Outcome::Success)
}

/// A manual cutover or rollback ends the domain's canary walk: a running
/// controller sees its routes changed and stops; a stopped one will not resume.
async fn stop_canary(target: &Target, domain: &str, actor: &str, why: &str) {
    let Target::Store(store) = target else { return };
    let key = record_key(domain);
    let Ok(Some(text)) = store.record(&key).await else {
        return;
    };
    let Ok(mut record) = Record::from_json(&text) else {
        return;
    };
    if !record.is_live() {
        return;
    }
    // Stopped, not rolled back: the routes are where this command put them.
    record.canary.stop(format!("ended by {why} (by {actor})"));
    record.intent = None;
    let _ = store.put_record(&key, record.to_json()).await;
}
