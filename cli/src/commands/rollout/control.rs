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
use super::record::{Record, Request, record_key, request_key};
use crate::Outcome;

/// `canary promote|pause|resume|abort|status DOMAIN`: asks the running
/// controller; with none running, acts on the stored walk itself.
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
    let record: Option<Record> = match store.record(&key).await? {
        Some(text) => Some(Record::from_json(&text).map_err(|err| {
            anyhow::anyhow!(
                "the canary record `{key}` in {} is not readable ({err})",
                store.describe()
            )
        })?),
        None => None,
    };
    if verb == "status" {
        match &record {
            None => println!("{domain}: no canary has run"),
            Some(record) => println!(
                "{domain}: {} (begun {}, routes {}; {})",
                record.canary.describe(),
                record.started,
                record.routes.join(", "),
                if running {
                    "a controller is running"
                } else {
                    "no controller is running"
                }
            ),
        }
        return Ok(Outcome::Success);
    }
    let Some(mut record) = record.filter(|r| !r.canary.is_over()) else {
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
        };
        store
            .put_record(&request_key(domain), request.to_json())
            .await?;
        println!(
            "asked the running controller of `{domain}` to {verb}; its output shows the outcome"
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
