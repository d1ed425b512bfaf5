//! `msa-migrate canary promote|pause|resume|abort|status DOMAIN`: people
//! steering a walk, through its running controller or, with none, directly.

#![allow(
    clippy::print_stdout,
    reason = "progress and outcomes are the command's output"
)]

use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use msa_playbook::canary::{Event, percent};
use msa_proxy::state::{self, StoreLock};

use super::controller::Controller;
use super::domain::Domain;
use super::output::{
    AppliedIn, CanaryView, ControlReport, Mode, Output, RouteChange, StatusReport, verdict_word,
};
use super::record::{Record, Request, record_key, requests_key};
use crate::Outcome;
use crate::args::OutputFormat;
use crate::commands::clock;

/// The stored walk, if any.
async fn stored(store: &dyn state::StateStore, key: &str) -> anyhow::Result<Option<Record>> {
    match store.record(key).await? {
        Some(text) => Ok(Some(Record::from_json(&text).map_err(|err| {
            anyhow::anyhow!(
                "the canary record `{key}` in {} is not readable ({err})",
                store.describe()
            )
        })?)),
        None => Ok(None),
    }
}

/// `canary status DOMAIN`: where the walk is; changes nothing.
pub(super) async fn canary_status(
    domain: &str,
    location: &str,
    format: OutputFormat,
) -> anyhow::Result<Outcome> {
    let store = state::open(location, None)?;
    let key = record_key(domain);
    // A lock taken to look is a controller not running; it is released at once.
    let running = store.try_lock(&key).await?.is_none();
    let record = stored(store.as_ref(), &key).await?;
    if format.is_json() {
        let report = StatusReport {
            domain: domain.to_owned(),
            controller_running: running,
            canary: record.as_ref().map(CanaryView::of),
        };
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(Outcome::Success);
    }
    match record {
        None => println!("{domain}: no canary has run"),
        Some(record) => {
            println!(
                "{domain}: {}{} (begun {}, routes {}; {})",
                record.canary.describe(),
                record
                    .intent
                    .as_ref()
                    .map(|i| format!("; moving the routes to {}", super::show(Some(i.to))))
                    .unwrap_or_default(),
                record.started,
                record.routes.join(", "),
                if running {
                    "a controller is running"
                } else {
                    "no controller is running"
                }
            );
            if let Some(last) = &record.last_judgement {
                println!(
                    "  last judged {} at {} ({}): {}",
                    verdict_word(last.outcome),
                    last.at,
                    percent(last.weight_bp),
                    last.evidence
                );
            }
        }
    }
    Ok(Outcome::Success)
}

/// `canary promote|pause|resume|abort DOMAIN`: queues the request for the
/// running controller; with none running, acts on the stored walk itself.
pub(super) async fn control_canary(
    verb: &str,
    domain: &str,
    location: &str,
    actor: &str,
    reason: Option<String>,
    format: OutputFormat,
) -> anyhow::Result<Outcome> {
    let store = state::open(location, None)?;
    let key = record_key(domain);
    let lock: Option<StoreLock> = store.try_lock(&key).await?;
    let running = lock.is_none();
    let record = stored(store.as_ref(), &key).await?;
    let Some(mut record) = record.filter(Record::is_live) else {
        bail!(
            "no canary of `{domain}` is in progress in {}",
            store.describe()
        );
    };
    let report =
        |handled_by: &'static str, routes: Vec<RouteChange>, record: &Record| ControlReport {
            domain: domain.to_owned(),
            action: verb.to_owned(),
            at: clock::now(),
            actor: actor.to_owned(),
            reason: reason.clone(),
            handled_by,
            applied_in: AppliedIn {
                kind: "state_store",
                location: store.describe(),
            },
            routes,
            canary: CanaryView::of(record),
        };
    if running {
        let request = Request {
            verb: verb.to_owned(),
            actor: actor.to_owned(),
            reason: reason.clone(),
            at: clock::now(),
        };
        // Appended, not written over: a second request in quick succession
        // queues behind this one instead of replacing it.
        store
            .append_record(&requests_key(domain), &request.to_json())
            .await?;
        if format.is_json() {
            let handed = report("controller", Vec::new(), &record);
            println!("{}", serde_json::to_string_pretty(&handed)?);
        } else {
            println!(
                "asked the running controller of `{domain}` to {verb}; its output and `canary status` show the outcome"
            );
        }
        return Ok(Outcome::Success);
    }
    // Nobody runs it: act here, holding the lock, as the controller would.
    let cause = format!(
        "{verb} by {actor}{}",
        reason
            .as_ref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default()
    );
    let event = match verb {
        "promote" => Event::Promote,
        "pause" => Event::Pause,
        "resume" => Event::Resume,
        _ => Event::Abort,
    };
    let controller = Controller {
        store: Arc::clone(&store),
        domain: Domain {
            name: domain.to_owned(),
            routes: record.routes.clone(),
            playbook: None,
        },
        actor: actor.to_owned(),
        reason: reason.clone(),
        interval: Duration::from_millis(record.interval_ms.max(1)),
        // JSON: the one object below says what happened, nothing before it.
        out: Output::new(if format.is_json() {
            Mode::Quiet
        } else {
            Mode::Text
        }),
    };
    let before = store.load().await?.stages;
    controller
        .audit(actor, &format!("canary_{verb}"), cause.clone())
        .await?;
    let decision = record.canary.on(event);
    controller
        .act(actor, &mut record, &decision, &cause)
        .await?;
    drop(lock);
    if format.is_json() {
        let after = store.load().await?.stages;
        let moved = record
            .routes
            .iter()
            .filter_map(|route| {
                let (was, now) = (before.get(route).copied(), after.get(route).copied()?);
                (was != Some(now)).then(|| RouteChange {
                    route: route.clone(),
                    before: was,
                    after: now,
                })
            })
            .collect();
        let acted = report("this_command", moved, &record);
        println!("{}", serde_json::to_string_pretty(&acted)?);
    }
    Ok(Outcome::Success)
}

#[cfg(test)]
mod tests {
    use msa_playbook::canary::{Canary, Event, Plan};
    use msa_proxy::Stage;

    use super::*;

    /// Regression (issue 7): requests to a running controller shared one
    /// record slot, so a second request in quick succession replaced the
    /// first before the controller saw it.
    #[tokio::test]
    async fn requests_to_a_running_controller_queue_up_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let location = dir.path().join("state.json").display().to_string();
        let store = state::open(&location, None).unwrap();
        let mut canary = Canary::new(Plan {
            steps_bp: vec![500, 5_000],
            approval_bp: vec![],
            advance_after: 1,
            max_failures: 1,
            automatic_rollback: true,
        })
        .unwrap();
        canary.on(Event::Start);
        let record = Record {
            canary,
            routes: vec!["coupon-read".into()],
            rollback_to: Stage::Legacy,
            interval_ms: 1_000,
            started: "2026-11-22T00:00:00Z".into(),
            intent: None,
            last_judgement: None,
            updated: None,
        };
        store
            .put_record(&record_key("coupon"), record.to_json())
            .await
            .unwrap();
        // A controller is running: it holds the domain's lock.
        let held = store.try_lock(&record_key("coupon")).await.unwrap();
        assert!(held.is_some());
        for (verb, actor) in [("pause", "carol"), ("resume", "dave"), ("abort", "erin")] {
            control_canary(verb, "coupon", &location, actor, None, OutputFormat::Text)
                .await
                .unwrap();
        }
        let queued = store
            .take_record(&requests_key("coupon"))
            .await
            .unwrap()
            .expect("queued for the controller");
        let asked: Vec<(String, String)> = Request::queue(&queued)
            .into_iter()
            .map(|r| r.map(|r| (r.verb, r.actor)).unwrap())
            .collect();
        let expected: Vec<(String, String)> =
            [("pause", "carol"), ("resume", "dave"), ("abort", "erin")]
                .iter()
                .map(|(v, a)| ((*v).to_owned(), (*a).to_owned()))
                .collect();
        assert_eq!(asked, expected);
        // Nothing was acted on here: the walk is as the controller left it.
        let stored =
            Record::from_json(&store.record(&record_key("coupon")).await.unwrap().unwrap())
                .unwrap();
        assert_eq!(stored.canary, record.canary);
    }
}
