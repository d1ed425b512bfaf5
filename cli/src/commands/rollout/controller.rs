//! The canary controller: walks a domain's routes through the plan's
//! weights, one judged step at a time, until done, rolled back or stopped.

#![allow(
    clippy::print_stdout,
    reason = "progress and outcomes are the command's output"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use msa_playbook::PerformanceGate;
use msa_playbook::canary::{self, Canary, Decision, Event, Phase};
use msa_playbook::verdict::Outcome as Gate;
use msa_proxy::Stage;
use msa_proxy::state::{AuditEntry, StateStore};

use super::domain::Domain;
use super::judge::Judge;
use super::record::{Record, Request, record_key, request_key};
use super::show;
use super::target::Target;
use crate::Outcome;
use crate::commands::clock;

/// How often the controller looks for a failure between judgements.
const PEEK_EVERY: Duration = Duration::from_secs(1);

/// Walks a domain's canary: sets each step's weight, judges it, acts on
/// the judgement and on people's requests, and keeps the walk in the store.
pub(super) struct Controller {
    pub(super) store: Arc<dyn StateStore>,
    pub(super) domain: Domain,
    pub(super) actor: String,
    pub(super) reason: Option<String>,
    pub(super) interval: Duration,
}

impl Controller {
    fn say(&self, line: &str) {
        println!("{} {}: {line}", clock::now(), self.domain.name);
    }

    async fn saved(&self) -> anyhow::Result<Option<Record>> {
        let key = record_key(&self.domain.name);
        match self.store.record(&key).await? {
            None => Ok(None),
            Some(text) => Ok(Some(Record::from_json(&text).map_err(|err| {
                anyhow::anyhow!(
                    "the canary record `{key}` in {} is not readable ({err}); remove it to start afresh",
                    self.store.describe()
                )
            })?)),
        }
    }

    async fn keep(&self, record: &Record) -> anyhow::Result<()> {
        self.store
            .put_record(&record_key(&self.domain.name), record.to_json())
            .await?;
        Ok(())
    }

    pub(super) async fn audit(&self, by: &str, action: &str, reason: String) -> anyhow::Result<()> {
        let mut entry = AuditEntry::now(by, action);
        entry.domain = Some(self.domain.name.clone());
        entry.reason = Some(reason);
        self.store.audit(entry).await?;
        Ok(())
    }

    pub(super) async fn dry_run(
        &self,
        fresh: &Canary,
        rollback_to: Stage,
        gate: &PerformanceGate,
    ) -> anyhow::Result<Outcome> {
        let resumed = self.saved().await?.filter(|r| !r.canary.is_over());
        println!(
            "canary of `{}` (dry run: nothing changes)",
            self.domain.name
        );
        println!("  routes: {}", self.domain.routes.join(", "));
        println!("  state store: {}", self.store.describe());
        if let Some(record) = &resumed {
            println!(
                "  would resume the walk begun {}: {}",
                record.started,
                record.canary.describe()
            );
            return Ok(Outcome::Success);
        }
        let plan = &fresh.plan;
        let steps: Vec<String> = plan
            .steps_bp
            .iter()
            .map(|&bp| {
                let mark = if plan.approval_bp.contains(&bp) {
                    " (approval)"
                } else {
                    ""
                };
                format!("{}{mark}", canary::percent(bp))
            })
            .collect();
        println!("  steps: {}", steps.join(" -> "));
        println!(
            "  every {}: {} consecutive passes advance, {} failure(s) roll back to {}",
            humantime::format_duration(self.interval),
            plan.advance_after,
            plan.max_failures,
            show(Some(rollback_to))
        );
        let p99 = gate.max_p99.map_or_else(String::new, |limit| {
            format!(", p99 within {}", humantime::format_duration(limit))
        });
        println!(
            "  judged by: the performance gate on each window, at least {} requests a side: \
             the new service's 5xx rate not shown more than {:.2} points over legacy's, \
             nor slower than legacy more than {:.0}% of the time{p99} (alpha {:.4} a window)",
            gate.min_requests,
            gate.max_error_rate_delta * 100.0,
            (0.5 + gate.max_latency_shift) * 100.0,
            gate.alpha
        );
        Ok(Outcome::Success)
    }

    /// Puts the routes at `stage`, audited; stops if they were changed by
    /// someone else since the controller set them.
    async fn set(&self, by: &str, stage: Stage, action: &str, why: &str) -> anyhow::Result<()> {
        let changes: Vec<(String, Stage)> = self
            .domain
            .routes
            .iter()
            .map(|r| (r.clone(), stage))
            .collect();
        let reason = match &self.reason {
            Some(given) => format!("{why} ({given})"),
            None => why.to_owned(),
        };
        Target::Store(Arc::clone(&self.store))
            .set(&self.domain.name, &changes, by, action, &reason)
            .await?;
        Ok(())
    }

    /// The stages of the domain's routes, when all are `expected`; else who
    /// changed them is a person, and the controller must stop.
    async fn drifted(&self, expected: Stage) -> anyhow::Result<Option<String>> {
        let saved = self.store.load().await?;
        Ok(self.domain.routes.iter().find_map(|route| {
            let stage = saved.stages.get(route).copied();
            (stage != Some(expected)).then(|| {
                format!(
                    "route `{route}` is {} while the canary set {}",
                    show(stage),
                    show(Some(expected))
                )
            })
        }))
    }

    /// Carries out a decision, then keeps the walk in the store.
    pub(super) async fn act(
        &self,
        by: &str,
        record: &mut Record,
        decision: &Decision,
        cause: &str,
    ) -> anyhow::Result<()> {
        match decision {
            Decision::SetWeight { weight_bp } => {
                let stage = Stage::Canary {
                    weight_bp: *weight_bp,
                };
                self.set(
                    by,
                    stage,
                    "canary_step",
                    &format!(
                        "{cause}: step {}/{} ({})",
                        record.canary.step + 1,
                        record.canary.plan.steps_bp.len(),
                        canary::percent(*weight_bp)
                    ),
                )
                .await?;
                self.say(&format!("{cause} -> now at {}", record.canary.describe()));
            }
            Decision::RollBack { reason } => {
                self.set(
                    by,
                    record.rollback_to,
                    "canary_rollback",
                    &format!("{cause}: {reason}"),
                )
                .await?;
                self.say(&format!(
                    "{cause} -> ROLLED BACK to {}: {reason}",
                    show(Some(record.rollback_to))
                ));
            }
            Decision::Complete => {
                self.audit(
                    by,
                    "canary_complete",
                    format!(
                        "{cause}: passed the last step ({})",
                        canary::percent(record.canary.weight_bp())
                    ),
                )
                .await?;
                self.say(&format!(
                    "{cause} -> completed at {}; finish with: msa-migrate cutover {}",
                    canary::percent(record.canary.weight_bp()),
                    self.domain.name
                ));
            }
            Decision::Wait | Decision::AwaitApproval => {
                self.say(&format!("{cause} -> {}", record.canary.describe()));
            }
            Decision::Ignored { why } => self.say(&format!("{cause}: ignored, {why}")),
        }
        self.keep(record).await
    }

    pub(super) async fn run(
        self,
        fresh: Canary,
        rollback_to: Stage,
        mut judge: impl Judge,
    ) -> anyhow::Result<Outcome> {
        let lock_name = record_key(&self.domain.name);
        let Some(mut lock) = self.store.try_lock(&lock_name).await? else {
            bail!(
                "another controller is running the canary of `{}` (it holds the lock `{lock_name}` in {}); \
                 talk to it with `msa-migrate canary promote|pause|resume|abort {}`",
                self.domain.name,
                self.store.describe(),
                self.domain.name
            );
        };
        // Requests left from before this controller are stale.
        self.store
            .take_record(&request_key(&self.domain.name))
            .await?;
        let mut record = match self.saved().await? {
            Some(record) if !record.canary.is_over() => {
                if record.routes != self.domain.routes {
                    bail!(
                        "the canary of `{}` in progress moves routes {} but this run names {}: finish it first (canary abort)",
                        self.domain.name,
                        record.routes.join(","),
                        self.domain.routes.join(",")
                    );
                }
                self.say(&format!(
                    "resuming the walk begun {}: {}",
                    record.started,
                    record.canary.describe()
                ));
                self.audit(&self.actor, "canary_resume", record.canary.describe())
                    .await?;
                record
            }
            _ => {
                let mut record = Record {
                    canary: fresh,
                    routes: self.domain.routes.clone(),
                    rollback_to,
                    interval_ms: u64::try_from(self.interval.as_millis()).unwrap_or(u64::MAX),
                    started: clock::now(),
                };
                self.say(&format!(
                    "starting: routes {}, steps {}, every {}",
                    record.routes.join(", "),
                    record
                        .canary
                        .plan
                        .steps_bp
                        .iter()
                        .map(|&bp| canary::percent(bp))
                        .collect::<Vec<_>>()
                        .join(" "),
                    humantime::format_duration(self.interval)
                ));
                let decision = record.canary.on(Event::Start);
                self.act(&self.actor, &mut record, &decision, "started")
                    .await?;
                record
            }
        };
        judge.rebaseline().await;
        let mut next = Instant::now() + self.interval;
        let mut store_ok = true;
        let mut next_peek = Instant::now() + PEEK_EVERY;
        loop {
            if record.canary.is_over() {
                break;
            }
            tokio::time::sleep(
                Duration::from_millis(200).min(next.saturating_duration_since(Instant::now())),
            )
            .await;
            if !lock.check().await {
                bail!(
                    "lost the lock `{lock_name}` (the state store's session ended); start the controller again to resume"
                );
            }
            let expected = Stage::Canary {
                weight_bp: record.canary.weight_bp(),
            };
            // Someone else moved the routes (a rollback, a cutover): stop,
            // before anything here could undo that.
            match self.drifted(expected).await {
                Ok(None) => {
                    if !store_ok {
                        self.say("the state store answers again; going on");
                        store_ok = true;
                    }
                }
                Ok(Some(drift)) => {
                    record.canary.phase = Phase::RolledBack {
                        reason: format!("stopped: {drift}"),
                    };
                    self.keep(&record).await?;
                    self.audit(&self.actor, "canary_stopped", drift.clone())
                        .await?;
                    self.say(&format!("stopped: {drift} (changed by someone else)"));
                    break;
                }
                Err(err) => {
                    // The store is away: no change can be made, so none is
                    // judged; the proxies keep the weight they have.
                    if store_ok {
                        self.say(&format!("cannot read the state store: {err}; holding"));
                        store_ok = false;
                    }
                    continue;
                }
            }
            // A person's request, as soon as it comes.
            let request = match self
                .store
                .take_record(&request_key(&self.domain.name))
                .await
            {
                Ok(request) => request,
                Err(err) => {
                    self.say(&format!("cannot read requests: {err}; retrying"));
                    None
                }
            };
            if let Some(text) = request {
                let request = Request::from_json(&text);
                let event = match request.verb.as_str() {
                    "promote" => Some(Event::Promote),
                    "pause" => Some(Event::Pause),
                    "resume" => Some(Event::Resume),
                    "abort" => Some(Event::Abort),
                    _ => None,
                };
                if let Some(event) = event {
                    let cause = format!(
                        "{} by {}{}",
                        request.verb,
                        request.actor,
                        request
                            .reason
                            .map(|r| format!(" ({r})"))
                            .unwrap_or_default()
                    );
                    self.audit(
                        &request.actor,
                        &format!("canary_{}", request.verb),
                        cause.clone(),
                    )
                    .await?;
                    let weight = record.canary.weight_bp();
                    let decision = record.canary.on(event);
                    self.act(&request.actor, &mut record, &decision, &cause)
                        .await?;
                    if record.canary.weight_bp() != weight {
                        judge.rebaseline().await;
                        next = Instant::now() + self.interval;
                    }
                    continue;
                }
            }
            let judged = if Instant::now() >= next {
                next += self.interval;
                Some(judge.judge().await)
            } else if Instant::now() >= next_peek {
                next_peek = Instant::now() + PEEK_EVERY;
                judge.peek().await.inspect(|_| {
                    next = Instant::now() + self.interval;
                })
            } else {
                None
            };
            let Some((outcome, evidence)) = judged else {
                continue;
            };
            let verdict = match outcome {
                Gate::Pass => "pass",
                Gate::Fail => "FAIL",
                Gate::Inconclusive => "inconclusive",
                Gate::NoData => "no data",
            };
            let cause = format!("judged {verdict} ({evidence})");
            self.audit(
                &self.actor,
                "canary_check",
                format!("{}: {cause}", record.canary.describe()),
            )
            .await?;
            let weight = record.canary.weight_bp();
            let decision = record.canary.on(Event::Judged(outcome));
            self.act(&self.actor, &mut record, &decision, &cause)
                .await?;
            if record.canary.weight_bp() != weight {
                judge.rebaseline().await;
                next = Instant::now() + self.interval;
            }
        }
        drop(lock);
        Ok(match record.canary.phase {
            Phase::Completed => Outcome::Success,
            _ => Outcome::NotReady,
        })
    }
}
