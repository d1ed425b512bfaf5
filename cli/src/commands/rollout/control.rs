//! `msa-migrate canary promote|pause|resume|abort|status DOMAIN`: people
//! steering a walk, through its running controller or, with none, directly.

#![allow(
    clippy::print_stdout,
    reason = "progress and outcomes are the command's output"
)]

use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use msa_playbook::canary::Event;
use msa_proxy::state::{self, StoreLock};

use super::controller::Controller;
use super::domain::Domain;
use super::record::{Record, Request, record_key, requests_key};
use crate::Outcome;
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
pub(super) async fn canary_status(domain: &str, location: &str) -> anyhow::Result<Outcome> {
    let store = state::open(location, None)?;
    let key = record_key(domain);
    // A lock taken to look is a controller not running; it is released at once.
    let running = store.try_lock(&key).await?.is_none();
    match stored(store.as_ref(), &key).await? {
        None => println!("{domain}: no canary has run"),
        Some(record) => println!(
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
        ),
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
    if running {
        let request = Request {
            verb: verb.to_owned(),
            actor: actor.to_owned(),
            reason,
            at: clock::now(),
        };
        // Appended, not written over: a second request in quick succession
        // queues behind this one instead of replacing it.
        store
            .append_record(&requests_key(domain), &request.to_json())
            .await?;
        println!(
            "asked the running controller of `{domain}` to {verb}; its output and `canary status` show the outcome"
        );
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
        reason,
        interval: Duration::from_millis(record.interval_ms.max(1)),
    };
    controller
        .audit(actor, &format!("canary_{verb}"), cause.clone())
        .await?;
    let decision = record.canary.on(event);
    controller
        .act(actor, &mut record, &decision, &cause)
        .await?;
    drop(lock);
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
        };
        store
            .put_record(&record_key("coupon"), record.to_json())
            .await
            .unwrap();
        // A controller is running: it holds the domain's lock.
        let held = store.try_lock(&record_key("coupon")).await.unwrap();
        assert!(held.is_some());
        for (verb, actor) in [("pause", "carol"), ("resume", "dave"), ("abort", "erin")] {
            control_canary(verb, "coupon", &location, actor, None)
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
