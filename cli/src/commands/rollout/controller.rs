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
use msa_proxy::Stage;
use msa_proxy::state::{AuditEntry, StateStore};

use super::domain::Domain;
use super::judge::Judge;
use super::output::{
    Event as Progress, GateView, LastJudgement, Mode, Output, WalkView, verdict_word, waiting,
};
use super::record::{Intent, Record, Request, Resume, drift, record_key, requests_key, resume};
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
    /// Where its events go: text lines, JSON lines, or nowhere.
    pub(super) out: Output,
}

impl Controller {
    fn say(&self, event: &Progress) {
        self.out.emit(&self.domain.name, event);
    }

    fn interval_ms(&self) -> u64 {
        u64::try_from(self.interval.as_millis()).unwrap_or(u64::MAX)
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

    async fn keep(&self, record: &mut Record) -> anyhow::Result<()> {
        record.updated = Some(clock::now());
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
        let resumed = self.saved().await?.filter(Record::is_live);
        if self.out.mode == Mode::Json {
            let walk = resumed.as_ref().map_or(fresh, |r| &r.canary);
            self.say(&Progress::DryRun {
                routes: self.domain.routes.clone(),
                state_store: self.store.describe(),
                resumes: resumed.is_some(),
                walk: WalkView::of(walk),
                rollback_to: resumed.as_ref().map_or(rollback_to, |r| r.rollback_to),
                interval_ms: resumed
                    .as_ref()
                    .map_or_else(|| self.interval_ms(), |r| r.interval_ms),
                gate: GateView {
                    min_requests: gate.min_requests,
                    max_error_rate_delta: gate.max_error_rate_delta,
                    max_latency_shift: gate.max_latency_shift,
                    max_p99_ms: gate
                        .max_p99
                        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
                    alpha: gate.alpha,
                },
            });
            return Ok(Outcome::Success);
        }
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
             nor slower than legacy more than {:.0}% of the time{p99} (alpha {:.4} a window); \
             and behaviour: no new high-severity shadow difference on the domain's routes",
            gate.min_requests,
            gate.max_error_rate_delta * 100.0,
            (0.5 + gate.max_latency_shift) * 100.0,
            gate.alpha
        );
        if !fresh.plan.automatic_rollback {
            println!(
                "  rollback is not automatic (playbook `rollback.automatic: false`): \
                 at the failure limit the walk halts for a person"
            );
        }
        Ok(Outcome::Success)
    }

    /// The routes' stages in the store, and the first that is not
    /// `expected`, in words: someone else moved it.
    async fn drifted(&self, expected: Stage) -> anyhow::Result<Option<String>> {
        let saved = self.store.load().await?;
        Ok(drift(&self.domain.routes, &saved.stages, expected))
    }

    /// Moves every route to `to`, write-ahead: the intent is kept in the
    /// walk's record before any route changes and cleared after, so a
    /// controller killed in between finishes the move when it resumes.
    async fn move_routes(
        &self,
        record: &mut Record,
        to: Stage,
        action: &str,
        by: &str,
        why: String,
    ) -> anyhow::Result<()> {
        let saved = self.store.load().await?;
        let reason = match &self.reason {
            Some(given) => format!("{why} ({given})"),
            None => why,
        };
        record.intent = Some(Intent {
            to,
            from: record
                .routes
                .iter()
                .map(|r| (r.clone(), saved.stages.get(r).copied()))
                .collect(),
            action: action.to_owned(),
            by: by.to_owned(),
            reason,
        });
        self.keep(record).await?;
        self.make(record).await
    }

    /// Makes the move the record intends (one transaction for every route),
    /// then forgets it.
    async fn make(&self, record: &mut Record) -> anyhow::Result<()> {
        let Some(intent) = record.intent.clone() else {
            return Ok(());
        };
        let changes: Vec<(String, Stage)> = record
            .routes
            .iter()
            .map(|r| (r.clone(), intent.to))
            .collect();
        Target::Store(Arc::clone(&self.store))
            .set(
                &self.domain.name,
                &changes,
                &intent.by,
                &intent.action,
                &intent.reason,
            )
            .await?;
        record.intent = None;
        self.keep(record).await
    }

    /// Carries out a decision, then keeps the walk in the store.
    pub(super) async fn act(
        &self,
        by: &str,
        record: &mut Record,
        decision: &Decision,
        cause: &str,
    ) -> anyhow::Result<()> {
        let (cause, by) = (cause.to_owned(), by.to_owned());
        let event = match decision {
            Decision::SetWeight { weight_bp } => {
                let why = format!(
                    "{cause}: step {}/{} ({})",
                    record.canary.step + 1,
                    record.canary.plan.steps_bp.len(),
                    canary::percent(*weight_bp)
                );
                let to = Stage::Canary {
                    weight_bp: *weight_bp,
                };
                self.move_routes(record, to, "canary_step", &by, why)
                    .await?;
                Progress::Step {
                    cause,
                    by,
                    walk: WalkView::of(&record.canary),
                }
            }
            Decision::RollBack { reason } => {
                let to = record.rollback_to;
                self.move_routes(
                    record,
                    to,
                    "canary_rollback",
                    &by,
                    format!("{cause}: {reason}"),
                )
                .await?;
                Progress::RolledBack {
                    cause,
                    by,
                    to,
                    reason: reason.clone(),
                    walk: WalkView::of(&record.canary),
                }
            }
            Decision::Halt { reason } => {
                self.audit(
                    &by,
                    "canary_halt",
                    format!("{cause}: {reason}; rollback is not automatic, waiting for a person"),
                )
                .await?;
                Progress::Halted {
                    cause,
                    by,
                    reason: reason.clone(),
                    walk: WalkView::of(&record.canary),
                }
            }
            Decision::Complete => {
                self.audit(
                    &by,
                    "canary_complete",
                    format!(
                        "{cause}: passed the last step ({})",
                        canary::percent(record.canary.weight_bp())
                    ),
                )
                .await?;
                Progress::Completed {
                    cause,
                    by,
                    walk: WalkView::of(&record.canary),
                }
            }
            Decision::Wait | Decision::AwaitApproval => waiting(&cause, &by, &record.canary),
            Decision::Ignored { why } => Progress::Ignored {
                cause,
                by,
                why: why.clone(),
            },
        };
        self.say(&event);
        self.keep(record).await
    }

    /// The walk ends because someone else moved its routes; they stay there.
    async fn stop(&self, record: &mut Record, why: String) -> anyhow::Result<()> {
        record.canary.stop(why.clone());
        record.intent = None;
        self.keep(record).await?;
        self.audit(&self.actor, "canary_stopped", why.clone())
            .await?;
        self.say(&Progress::Stopped {
            reason: why,
            walk: WalkView::of(&record.canary),
        });
        Ok(())
    }

    /// A stored walk, made consistent with the routes before it goes on: a
    /// move in flight when the last controller died is finished; routes
    /// someone else moved stop it. `false` when it stopped.
    async fn resume_walk(&self, record: &mut Record) -> anyhow::Result<bool> {
        let stages = self.store.load().await?.stages;
        match resume(record, &stages) {
            Resume::Continue => {}
            Resume::Made => {
                record.intent = None;
                self.keep(record).await?;
            }
            Resume::Finish(intent) => {
                self.say(&Progress::FinishingMove {
                    to: intent.to,
                    reason: intent.reason,
                });
                self.make(record).await?;
            }
            Resume::Stopped(why) => {
                self.stop(record, why).await?;
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// People's requests, in the order asked; several in quick succession
    /// are all taken. Returns whether the weight changed.
    async fn take_requests(&self, record: &mut Record) -> anyhow::Result<bool> {
        let queued = match self
            .store
            .take_record(&requests_key(&self.domain.name))
            .await
        {
            Ok(queued) => queued.unwrap_or_default(),
            Err(err) => {
                self.say(&Progress::Warning {
                    message: format!("cannot read requests: {err}; retrying"),
                });
                return Ok(false);
            }
        };
        let weight = record.canary.weight_bp();
        for request in Request::queue(&queued) {
            let request = match request {
                Ok(request) => request,
                Err(junk) => {
                    self.say(&Progress::Warning {
                        message: format!("ignored a request that does not read: {junk}"),
                    });
                    continue;
                }
            };
            let event = match request.verb.as_str() {
                "promote" => Event::Promote,
                "pause" => Event::Pause,
                "resume" => Event::Resume,
                "abort" => Event::Abort,
                other => {
                    self.say(&Progress::Warning {
                        message: format!(
                            "ignored a request to `{other}` by {}: not a canary verb",
                            request.actor
                        ),
                    });
                    continue;
                }
            };
            self.say(&Progress::Request {
                action: request.verb.clone(),
                actor: request.actor.clone(),
                reason: request.reason.clone(),
                requested_at: request.at.clone(),
            });
            let cause = format!(
                "{} by {}{}",
                request.verb,
                request.actor,
                request
                    .reason
                    .as_ref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            );
            self.audit(
                &request.actor,
                &format!("canary_{}", request.verb),
                cause.clone(),
            )
            .await?;
            let decision = record.canary.on(event);
            self.act(&request.actor, record, &decision, &cause).await?;
        }
        Ok(record.canary.weight_bp() != weight || record.canary.is_over())
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
        // Requests queued for a controller that died before taking them are
        // stale: nobody saw them acted on. Say so rather than act late.
        if let Some(stale) = self
            .store
            .take_record(&requests_key(&self.domain.name))
            .await?
        {
            for request in Request::queue(&stale).into_iter().flatten() {
                self.say(&Progress::RequestDropped {
                    action: request.verb,
                    actor: request.actor,
                    requested_at: request.at,
                });
            }
        }
        let mut record = match self.saved().await? {
            Some(mut record) if record.is_live() => {
                if record.routes != self.domain.routes {
                    bail!(
                        "the canary of `{}` in progress moves routes {} but this run names {}: finish it first (canary abort)",
                        self.domain.name,
                        record.routes.join(","),
                        self.domain.routes.join(",")
                    );
                }
                self.say(&Progress::Resumed {
                    started_at: record.started.clone(),
                    routes: record.routes.clone(),
                    walk: WalkView::of(&record.canary),
                });
                self.audit(&self.actor, "canary_resume", record.canary.describe())
                    .await?;
                if !self.resume_walk(&mut record).await? {
                    return Ok(self.finish(&record));
                }
                record
            }
            _ => {
                let mut record = Record {
                    canary: fresh,
                    routes: self.domain.routes.clone(),
                    rollback_to,
                    interval_ms: self.interval_ms(),
                    started: clock::now(),
                    intent: None,
                    last_judgement: None,
                    updated: None,
                };
                self.say(&Progress::Started {
                    routes: record.routes.clone(),
                    rollback_to,
                    interval_ms: record.interval_ms,
                    walk: WalkView::of(&record.canary),
                });
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
                        self.say(&Progress::StoreBack);
                        store_ok = true;
                    }
                }
                Ok(Some(drift)) => {
                    self.stop(&mut record, drift).await?;
                    break;
                }
                Err(err) => {
                    // The store is away: no change can be made, so none is
                    // judged; the proxies keep the weight they have.
                    if store_ok {
                        self.say(&Progress::StoreLost {
                            error: err.to_string(),
                        });
                        store_ok = false;
                    }
                    continue;
                }
            }
            // People's requests, as soon as they come.
            if self.take_requests(&mut record).await? {
                if record.canary.is_over() {
                    break;
                }
                judge.rebaseline().await;
                next = Instant::now() + self.interval;
                continue;
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
            let Some(judged) = judged else {
                continue;
            };
            let cause = format!(
                "judged {} ({})",
                verdict_word(judged.outcome),
                judged.evidence
            );
            self.audit(
                &self.actor,
                "canary_check",
                format!("{}: {cause}", record.canary.describe()),
            )
            .await?;
            self.say(&Progress::Judged {
                step_index: record.canary.step,
                weight_bp: record.canary.weight_bp(),
                outcome: judged.outcome,
                early: judged.early,
                evidence: judged.evidence.clone(),
                gates: judged.gates.clone(),
                unreadable: judged.unreadable.clone(),
            });
            record.last_judgement = Some(LastJudgement::new(&record.canary, &judged));
            let weight = record.canary.weight_bp();
            let decision = record.canary.on(Event::Judged(judged.outcome));
            self.act(&self.actor, &mut record, &decision, &cause)
                .await?;
            if record.canary.weight_bp() != weight {
                judge.rebaseline().await;
                next = Instant::now() + self.interval;
            }
        }
        drop(lock);
        Ok(self.finish(&record))
    }

    /// The walk's end for the exit code, told as the last event: exit 0
    /// only for a completed walk.
    fn finish(&self, record: &Record) -> Outcome {
        let outcome = match record.canary.phase {
            Phase::Completed => Outcome::Success,
            _ => Outcome::NotReady,
        };
        self.say(&Progress::Finished {
            exit_code: if outcome == Outcome::Success { 0 } else { 1 },
            walk: WalkView::of(&record.canary),
        });
        outcome
    }
}
