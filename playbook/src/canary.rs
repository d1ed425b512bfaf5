//! The canary controller's judgement, as a pure state machine: no clock, no
//! I/O. The caller (the `msa-migrate canary` loop) waits the interval, judges
//! the gates into one [`Outcome`], feeds it in as an [`Event`], and carries out
//! the [`Decision`] that comes back (set a weight, roll back, wait).
//!
//! The walk:
//! - Each step is a weight in basis points. At a step, every judgement is
//!   counted: `advance_after` consecutive passes advance to the next step;
//!   a failure resets the passes and counts towards `max_failures` (counted
//!   over the whole walk, never forgiven by later passes), which rolls back.
//! - Inconclusive and no data neither advance nor count against: the step
//!   holds (it is shown as held, with why) and is judged again.
//! - A step marked for approval waits, once its passes are in, for a person's
//!   `promote`; while it waits it is still judged, and failures still roll back.
//! - A person may `pause` (hold the weight, still judged, failures still roll
//!   back), `resume`, `promote` (advance now, whatever the count) or `abort`
//!   (roll back now).
//! - Passing the last step completes the walk at the last weight; the final
//!   switch is `msa-migrate cutover`, which has its own readiness gate.
//! - With `automatic_rollback` off (the playbook's `rollback.automatic:
//!   false`), reaching the failure limit halts the walk instead: the weight
//!   holds, and a person decides (`abort` rolls back, `resume` goes on).
//! - A walk whose routes someone else moved (a manual rollback or cutover)
//!   is [`stopped`](Canary::stop): over, and not rolled back by the canary.

use serde::{Deserialize, Serialize};

use crate::verdict::Outcome;

/// What a canary walks through, checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Each step's weight in basis points, strictly increasing, 1..=10000.
    pub steps_bp: Vec<u16>,
    /// Steps (by weight) that wait for a person's `promote` once they pass.
    pub approval_bp: Vec<u16>,
    /// Consecutive passes that advance a step (at least 1).
    pub advance_after: u32,
    /// Failures over the walk that roll it back (at least 1).
    pub max_failures: u32,
    /// Whether reaching `max_failures` rolls back on its own (`true`) or
    /// halts for a person (`false`). Walks stored before it existed rolled back.
    #[serde(default = "rolls_back")]
    pub automatic_rollback: bool,
}

fn rolls_back() -> bool {
    true
}

/// Why a plan cannot be walked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// No steps.
    #[error("a canary needs at least one step, e.g. 1,5,25,50,100")]
    NoSteps,
    /// A weight of 0 or over 100%.
    #[error("step {0} bp is not a weight: each step is more than 0% and at most 100%")]
    OutOfRange(u16),
    /// Steps that do not go up.
    #[error("steps must go up: {0} bp comes after {1} bp")]
    NotIncreasing(u16, u16),
    /// An approval at a weight that is not a step.
    #[error("approval at {0} bp, which is not one of the steps")]
    ApprovalNotAStep(u16),
    /// A count of 0.
    #[error("`{0}` must be at least 1")]
    Zero(&'static str),
}

/// A step given in percent (`0.5`, `5`, `100`) as basis points.
pub fn percent_to_bp(text: &str) -> Result<u16, String> {
    let text = text.trim().trim_end_matches('%');
    let value: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a percentage: write e.g. 1, 5, 0.5 or 100"))?;
    let bp = (value * 100.0).round();
    if !(1.0..=10_000.0).contains(&bp) || (bp - value * 100.0).abs() > 1e-6 {
        return Err(format!(
            "`{text}` is not a step: each is more than 0 and at most 100 percent, in steps of 0.01"
        ));
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "checked to be within 1..=10000 above"
    )]
    Ok(bp as u16)
}

impl Plan {
    /// Refuses a plan that cannot be walked.
    pub fn check(self) -> Result<Self, PlanError> {
        if self.steps_bp.is_empty() {
            return Err(PlanError::NoSteps);
        }
        for (i, &step) in self.steps_bp.iter().enumerate() {
            if step == 0 || step > 10_000 {
                return Err(PlanError::OutOfRange(step));
            }
            if i > 0 && step <= self.steps_bp[i - 1] {
                return Err(PlanError::NotIncreasing(step, self.steps_bp[i - 1]));
            }
        }
        if let Some(&bad) = self
            .approval_bp
            .iter()
            .find(|bp| !self.steps_bp.contains(bp))
        {
            return Err(PlanError::ApprovalNotAStep(bad));
        }
        if self.advance_after == 0 {
            return Err(PlanError::Zero("advance_after"));
        }
        if self.max_failures == 0 {
            return Err(PlanError::Zero("max_failures"));
        }
        Ok(self)
    }

    fn needs_approval(&self, step: usize) -> bool {
        self.approval_bp.contains(&self.steps_bp[step])
    }
}

/// Where a walk is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    /// Not started: the routes are where they were.
    Pending,
    /// At a step, judged every interval.
    Running,
    /// At a step, held because the last judgement could not decide.
    Held {
        /// Inconclusive or no data.
        outcome: Outcome,
    },
    /// At a step whose passes are in, waiting for a person's `promote`.
    AwaitingApproval,
    /// Held by a person until `resume`; still judged.
    Paused,
    /// The failure limit was reached without automatic rollback: held until
    /// a person aborts (rolls back) or resumes; still judged.
    Halted {
        /// Why.
        reason: String,
    },
    /// Passed the last step; the routes stay at its weight.
    Completed,
    /// Rolled back; the walk is over.
    RolledBack {
        /// Why.
        reason: String,
    },
    /// Someone else moved the routes (a manual rollback, a cutover, an admin
    /// API change): the walk is over, and the routes stay where they put them.
    Stopped {
        /// What was found, and by whom when known.
        reason: String,
    },
}

/// What happened, fed to [`Canary::on`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// Begin the walk at the first step.
    Start,
    /// The interval passed and the gates judged this.
    Judged(Outcome),
    /// A person: advance now.
    Promote,
    /// A person: hold at this step.
    Pause,
    /// A person: go on after a pause.
    Resume,
    /// A person: roll back now.
    Abort,
}

/// What the caller must do next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "do", rename_all = "snake_case")]
pub enum Decision {
    /// Put the routes at this canary weight.
    SetWeight {
        /// Basis points.
        weight_bp: u16,
    },
    /// Put the routes back where they were before the canary.
    RollBack {
        /// Why.
        reason: String,
    },
    /// Nothing changes; judge again after the interval.
    Wait,
    /// Nothing changes; wait for a person's `promote` (still judging).
    AwaitApproval,
    /// The gates failed up to the limit, but rollback is not automatic:
    /// nothing changes; tell people, who `abort` or `resume`.
    Halt {
        /// Why.
        reason: String,
    },
    /// The walk is over at the last step's weight.
    Complete,
    /// The event does not apply in this phase (e.g. `resume` when not paused).
    Ignored {
        /// Why, for the person who sent it.
        why: String,
    },
}

/// A walk in progress: serialisable, so a killed controller resumes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Canary {
    /// The plan walked.
    pub plan: Plan,
    /// Index of the current step in `plan.steps_bp`.
    pub step: usize,
    /// Where the walk is.
    pub phase: Phase,
    /// Consecutive passes at this step.
    pub passes: u32,
    /// Failures over the whole walk.
    pub failures: u32,
    /// Judgements made, all steps.
    pub judged: u32,
}

impl Canary {
    /// A walk that has not started.
    pub fn new(plan: Plan) -> Result<Self, PlanError> {
        Ok(Self {
            plan: plan.check()?,
            step: 0,
            phase: Phase::Pending,
            passes: 0,
            failures: 0,
            judged: 0,
        })
    }

    /// The current step's weight (the first step's before the start).
    pub fn weight_bp(&self) -> u16 {
        self.plan.steps_bp[self.step]
    }

    /// Whether the walk is over (completed or rolled back).
    pub fn is_over(&self) -> bool {
        matches!(
            self.phase,
            Phase::Completed | Phase::RolledBack { .. } | Phase::Stopped { .. }
        )
    }

    /// Ends the walk because someone else moved its routes: nothing to do,
    /// the routes stay where they are.
    pub fn stop(&mut self, reason: String) {
        self.phase = Phase::Stopped { reason };
    }

    /// Takes one event and says what to do.
    pub fn on(&mut self, event: Event) -> Decision {
        if self.is_over() {
            return Decision::Ignored {
                why: format!("the canary is over ({})", self.describe()),
            };
        }
        match (event, &self.phase) {
            (Event::Start, Phase::Pending) => {
                self.phase = Phase::Running;
                Decision::SetWeight {
                    weight_bp: self.weight_bp(),
                }
            }
            (Event::Start, _) => Decision::Ignored {
                why: "the canary has started already".into(),
            },
            (_, Phase::Pending) if event != Event::Abort => Decision::Ignored {
                why: "the canary has not started".into(),
            },
            (Event::Abort, _) => self.roll_back("aborted by a person".into()),
            (Event::Judged(outcome), _) => self.judged(outcome),
            (Event::Promote, _) => self.advance(),
            (Event::Pause, Phase::Paused) => Decision::Ignored {
                why: "the canary is paused already".into(),
            },
            (Event::Pause, Phase::Halted { .. }) => Decision::Ignored {
                why: "the canary is halted already: abort rolls back, resume goes on".into(),
            },
            (Event::Pause, _) => {
                self.phase = Phase::Paused;
                Decision::Wait
            }
            (Event::Resume, Phase::Paused | Phase::Halted { .. }) => {
                self.phase = Phase::Running;
                Decision::Wait
            }
            (Event::Resume, _) => Decision::Ignored {
                why: "the canary is not paused".into(),
            },
        }
    }

    fn judged(&mut self, outcome: Outcome) -> Decision {
        self.judged += 1;
        match outcome {
            Outcome::Fail => {
                self.passes = 0;
                self.failures += 1;
                if self.failures >= self.plan.max_failures {
                    let reason = format!(
                        "the gates failed {} time(s) (limit {}) at {}",
                        self.failures,
                        self.plan.max_failures,
                        percent(self.weight_bp())
                    );
                    if self.plan.automatic_rollback {
                        return self.roll_back(reason);
                    }
                    // A person decides; a walk halted already stays so, and
                    // says nothing new.
                    if matches!(self.phase, Phase::Halted { .. }) {
                        return Decision::Wait;
                    }
                    self.phase = Phase::Halted {
                        reason: reason.clone(),
                    };
                    return Decision::Halt { reason };
                }
                self.hold_or_wait()
            }
            Outcome::Inconclusive | Outcome::NoData => {
                if matches!(self.phase, Phase::Running | Phase::Held { .. }) {
                    self.phase = Phase::Held { outcome };
                }
                self.hold_or_wait()
            }
            Outcome::Pass => {
                self.passes += 1;
                match self.phase {
                    Phase::Paused | Phase::Halted { .. } => Decision::Wait,
                    Phase::AwaitingApproval => Decision::AwaitApproval,
                    _ if self.passes < self.plan.advance_after => {
                        self.phase = Phase::Running;
                        Decision::Wait
                    }
                    _ if self.plan.needs_approval(self.step) => {
                        self.phase = Phase::AwaitingApproval;
                        Decision::AwaitApproval
                    }
                    _ => self.advance(),
                }
            }
        }
    }

    fn hold_or_wait(&self) -> Decision {
        match self.phase {
            Phase::AwaitingApproval => Decision::AwaitApproval,
            _ => Decision::Wait,
        }
    }

    fn advance(&mut self) -> Decision {
        self.passes = 0;
        if self.step + 1 == self.plan.steps_bp.len() {
            self.phase = Phase::Completed;
            return Decision::Complete;
        }
        self.step += 1;
        self.phase = Phase::Running;
        Decision::SetWeight {
            weight_bp: self.weight_bp(),
        }
    }

    fn roll_back(&mut self, reason: String) -> Decision {
        self.phase = Phase::RolledBack {
            reason: reason.clone(),
        };
        Decision::RollBack { reason }
    }

    /// One line for people: `step 2/5 (5%): running, 1/3 passes, 0/1 failures`.
    pub fn describe(&self) -> String {
        let phase = match &self.phase {
            Phase::Pending => "not started".to_owned(),
            Phase::Running => "running".to_owned(),
            Phase::Held { outcome } => format!(
                "held ({})",
                match outcome {
                    Outcome::NoData => "no data",
                    _ => "inconclusive",
                }
            ),
            Phase::AwaitingApproval => "waiting for approval (canary promote)".to_owned(),
            Phase::Paused => "paused (canary resume)".to_owned(),
            Phase::Halted { reason } => format!(
                "HALTED, waiting for a person (canary abort rolls back, canary resume goes on): {reason}"
            ),
            Phase::Completed => "completed".to_owned(),
            Phase::RolledBack { reason } => format!("rolled back: {reason}"),
            Phase::Stopped { reason } => format!("stopped: {reason}"),
        };
        format!(
            "step {}/{} ({}): {phase}, {}/{} passes, {}/{} failures",
            self.step + 1,
            self.plan.steps_bp.len(),
            percent(self.weight_bp()),
            self.passes,
            self.plan.advance_after,
            self.failures,
            self.plan.max_failures
        )
    }
}

/// Basis points as a percentage for people: `500` → `5%`, `50` → `0.5%`.
pub fn percent(bp: u16) -> String {
    if bp.is_multiple_of(100) {
        format!("{}%", bp / 100)
    } else {
        format!("{}%", f64::from(bp) / 100.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(steps: &[u16], approval: &[u16], advance_after: u32, max_failures: u32) -> Plan {
        Plan {
            steps_bp: steps.to_vec(),
            approval_bp: approval.to_vec(),
            advance_after,
            max_failures,
            automatic_rollback: true,
        }
    }

    fn started(plan: Plan) -> Canary {
        let mut canary = Canary::new(plan).unwrap();
        assert_eq!(
            canary.on(Event::Start),
            Decision::SetWeight {
                weight_bp: canary.plan.steps_bp[0]
            }
        );
        canary
    }

    use Outcome::{Fail, Inconclusive, NoData, Pass};

    #[test]
    fn percentages_become_basis_points_and_bad_ones_are_refused() {
        assert_eq!(percent_to_bp("1"), Ok(100));
        assert_eq!(percent_to_bp("0.5"), Ok(50));
        assert_eq!(percent_to_bp("100%"), Ok(10_000));
        assert_eq!(percent_to_bp("0.01"), Ok(1));
        for bad in ["0", "101", "-5", "abc", "0.001", ""] {
            assert!(percent_to_bp(bad).is_err(), "{bad}");
        }
        assert_eq!(percent(500), "5%");
        assert_eq!(percent(50), "0.5%");
    }

    #[test]
    fn plans_that_cannot_be_walked_are_refused() {
        assert_eq!(
            Canary::new(plan(&[], &[], 1, 1)).unwrap_err(),
            PlanError::NoSteps
        );
        assert_eq!(
            Canary::new(plan(&[500, 100], &[], 1, 1)).unwrap_err(),
            PlanError::NotIncreasing(100, 500)
        );
        assert_eq!(
            Canary::new(plan(&[100, 100], &[], 1, 1)).unwrap_err(),
            PlanError::NotIncreasing(100, 100)
        );
        assert_eq!(
            Canary::new(plan(&[0], &[], 1, 1)).unwrap_err(),
            PlanError::OutOfRange(0)
        );
        assert_eq!(
            Canary::new(plan(&[10_001], &[], 1, 1)).unwrap_err(),
            PlanError::OutOfRange(10_001)
        );
        assert_eq!(
            Canary::new(plan(&[100], &[200], 1, 1)).unwrap_err(),
            PlanError::ApprovalNotAStep(200)
        );
        assert_eq!(
            Canary::new(plan(&[100], &[], 0, 1)).unwrap_err(),
            PlanError::Zero("advance_after")
        );
        assert_eq!(
            Canary::new(plan(&[100], &[], 1, 0)).unwrap_err(),
            PlanError::Zero("max_failures")
        );
    }

    #[test]
    fn consecutive_passes_walk_every_step_then_complete() {
        let mut canary = started(plan(&[100, 500, 10_000], &[], 2, 1));
        assert_eq!(canary.on(Event::Judged(Pass)), Decision::Wait);
        assert_eq!(
            canary.on(Event::Judged(Pass)),
            Decision::SetWeight { weight_bp: 500 }
        );
        assert_eq!(canary.passes, 0, "a new step starts its count afresh");
        assert_eq!(canary.on(Event::Judged(Pass)), Decision::Wait);
        assert_eq!(
            canary.on(Event::Judged(Pass)),
            Decision::SetWeight { weight_bp: 10_000 }
        );
        assert_eq!(canary.on(Event::Judged(Pass)), Decision::Wait);
        assert_eq!(canary.on(Event::Judged(Pass)), Decision::Complete);
        assert!(canary.is_over());
        assert_eq!(canary.weight_bp(), 10_000, "it stays at the last weight");
        assert!(matches!(
            canary.on(Event::Judged(Fail)),
            Decision::Ignored { .. }
        ));
        assert_eq!(canary.judged, 6);
    }

    #[test]
    fn a_failure_resets_the_passes_so_they_must_be_consecutive() {
        let mut canary = started(plan(&[100, 500], &[], 2, 3));
        assert_eq!(canary.on(Event::Judged(Pass)), Decision::Wait);
        assert_eq!(canary.on(Event::Judged(Fail)), Decision::Wait);
        assert_eq!(
            canary.on(Event::Judged(Pass)),
            Decision::Wait,
            "1 pass since the failure"
        );
        assert_eq!(
            canary.on(Event::Judged(Pass)),
            Decision::SetWeight { weight_bp: 500 }
        );
    }

    #[test]
    fn failures_up_to_the_limit_roll_back_and_passes_do_not_forgive_them() {
        let mut canary = started(plan(&[100, 500, 1_000], &[], 1, 2));
        assert_eq!(
            canary.on(Event::Judged(Fail)),
            Decision::Wait,
            "one failure of two"
        );
        assert_eq!(
            canary.on(Event::Judged(Pass)),
            Decision::SetWeight { weight_bp: 500 }
        );
        let Decision::RollBack { reason } = canary.on(Event::Judged(Fail)) else {
            panic!("the second failure rolls back: {canary:?}");
        };
        assert!(
            reason.contains("2 time(s)") && reason.contains("5%"),
            "{reason}"
        );
        assert!(matches!(canary.phase, Phase::RolledBack { .. }));
        assert!(matches!(
            canary.on(Event::Promote),
            Decision::Ignored { .. }
        ));
    }

    #[test]
    fn with_a_limit_of_one_the_first_failure_rolls_back() {
        let mut canary = started(plan(&[100, 500], &[], 3, 1));
        assert!(matches!(
            canary.on(Event::Judged(Fail)),
            Decision::RollBack { .. }
        ));
    }

    #[test]
    fn inconclusive_or_no_data_holds_without_rolling_back_or_advancing() {
        let mut canary = started(plan(&[100, 500], &[], 2, 1));
        assert_eq!(canary.on(Event::Judged(Pass)), Decision::Wait);
        for outcome in [Inconclusive, NoData, Inconclusive, NoData, Inconclusive] {
            assert_eq!(canary.on(Event::Judged(outcome)), Decision::Wait);
            assert!(
                matches!(canary.phase, Phase::Held { .. }),
                "{:?}",
                canary.phase
            );
            assert_eq!(canary.weight_bp(), 100);
        }
        assert_eq!(canary.failures, 0);
        assert_eq!(
            canary.phase,
            Phase::Held {
                outcome: Inconclusive
            }
        );
        assert!(
            canary.describe().contains("held (inconclusive)"),
            "{}",
            canary.describe()
        );
        // The pass before the hold still counts: evidence returns, it advances.
        assert_eq!(
            canary.on(Event::Judged(Pass)),
            Decision::SetWeight { weight_bp: 500 }
        );
        assert_eq!(canary.phase, Phase::Running);
    }

    #[test]
    fn an_approval_step_waits_for_promote_and_still_rolls_back_on_failure() {
        let mut canary = started(plan(&[100, 2_500, 5_000], &[2_500], 1, 2));
        assert_eq!(
            canary.on(Event::Judged(Pass)),
            Decision::SetWeight { weight_bp: 2_500 }
        );
        assert_eq!(canary.on(Event::Judged(Pass)), Decision::AwaitApproval);
        assert_eq!(canary.phase, Phase::AwaitingApproval);
        // Waiting: more passes do not advance on their own.
        assert_eq!(canary.on(Event::Judged(Pass)), Decision::AwaitApproval);
        assert_eq!(
            canary.on(Event::Judged(Inconclusive)),
            Decision::AwaitApproval
        );
        assert_eq!(
            canary.phase,
            Phase::AwaitingApproval,
            "a hold keeps waiting"
        );
        assert_eq!(
            canary.on(Event::Judged(Fail)),
            Decision::AwaitApproval,
            "one failure of two"
        );
        assert!(matches!(
            canary.on(Event::Judged(Fail)),
            Decision::RollBack { .. }
        ));
    }

    #[test]
    fn promote_approves_a_waiting_step() {
        let mut canary = started(plan(&[100, 10_000], &[100, 10_000], 1, 1));
        assert_eq!(canary.on(Event::Judged(Pass)), Decision::AwaitApproval);
        assert_eq!(
            canary.on(Event::Promote),
            Decision::SetWeight { weight_bp: 10_000 }
        );
        assert_eq!(canary.on(Event::Judged(Pass)), Decision::AwaitApproval);
        assert_eq!(canary.on(Event::Promote), Decision::Complete);
    }

    #[test]
    fn promote_advances_at_once_whatever_the_count() {
        let mut canary = started(plan(&[100, 500], &[], 5, 1));
        assert_eq!(
            canary.on(Event::Promote),
            Decision::SetWeight { weight_bp: 500 }
        );
    }

    #[test]
    fn a_pause_holds_the_weight_but_failures_still_roll_back() {
        let mut canary = started(plan(&[100, 500], &[], 1, 2));
        assert_eq!(canary.on(Event::Pause), Decision::Wait);
        assert!(matches!(canary.on(Event::Pause), Decision::Ignored { .. }));
        assert_eq!(
            canary.on(Event::Judged(Pass)),
            Decision::Wait,
            "paused: no advance"
        );
        assert_eq!(canary.weight_bp(), 100);
        assert_eq!(canary.on(Event::Judged(Fail)), Decision::Wait);
        assert_eq!(canary.phase, Phase::Paused);
        assert_eq!(canary.on(Event::Resume), Decision::Wait);
        assert!(matches!(canary.on(Event::Resume), Decision::Ignored { .. }));
        assert_eq!(
            canary.on(Event::Judged(Pass)),
            Decision::SetWeight { weight_bp: 500 }
        );

        let mut paused = started(plan(&[100, 500], &[], 1, 1));
        paused.on(Event::Pause);
        assert!(matches!(
            paused.on(Event::Judged(Fail)),
            Decision::RollBack { .. }
        ));
    }

    #[test]
    fn abort_rolls_back_from_any_live_phase_and_nothing_runs_before_start() {
        let mut pending = Canary::new(plan(&[100], &[], 1, 1)).unwrap();
        assert!(matches!(
            pending.on(Event::Judged(Pass)),
            Decision::Ignored { .. }
        ));
        assert!(matches!(
            pending.on(Event::Promote),
            Decision::Ignored { .. }
        ));
        assert_eq!(pending.phase, Phase::Pending);
        let mut canary = started(plan(&[100, 500], &[500], 1, 1));
        assert!(matches!(canary.on(Event::Start), Decision::Ignored { .. }));
        canary.on(Event::Judged(Pass));
        canary.on(Event::Judged(Pass));
        assert_eq!(canary.phase, Phase::AwaitingApproval);
        assert_eq!(
            canary.on(Event::Abort),
            Decision::RollBack {
                reason: "aborted by a person".into()
            }
        );
    }

    #[test]
    fn a_walk_survives_serialisation_so_a_killed_controller_resumes_it() {
        let mut canary = started(plan(&[100, 500, 1_000], &[], 2, 2));
        canary.on(Event::Judged(Pass));
        canary.on(Event::Judged(Pass));
        canary.on(Event::Judged(Fail));
        canary.on(Event::Judged(Inconclusive));
        let text = serde_json::to_string(&canary).unwrap();
        let mut resumed: Canary = serde_json::from_str(&text).unwrap();
        assert_eq!(resumed, canary);
        assert_eq!(resumed.weight_bp(), 500);
        assert_eq!(resumed.failures, 1);
        assert!(matches!(
            resumed.on(Event::Judged(Fail)),
            Decision::RollBack { .. }
        ));
    }

    #[test]
    fn without_automatic_rollback_the_failure_limit_halts_for_a_person() {
        let manual = |max_failures| Plan {
            automatic_rollback: false,
            ..plan(&[100, 500], &[], 1, max_failures)
        };
        let mut canary = started(manual(2));
        assert_eq!(canary.on(Event::Judged(Fail)), Decision::Wait);
        let Decision::Halt { reason } = canary.on(Event::Judged(Fail)) else {
            panic!("the limit halts instead of rolling back: {canary:?}");
        };
        assert!(reason.contains("2 time(s) (limit 2)"), "{reason}");
        assert!(matches!(canary.phase, Phase::Halted { .. }));
        assert!(!canary.is_over(), "a person decides how it ends");
        assert_eq!(canary.weight_bp(), 100, "the weight holds");
        assert!(
            canary.describe().contains("HALTED"),
            "{}",
            canary.describe()
        );
        // Still judged: more failures and passes change nothing, and say nothing new.
        assert_eq!(canary.on(Event::Judged(Fail)), Decision::Wait);
        assert_eq!(canary.on(Event::Judged(Pass)), Decision::Wait);
        assert_eq!(canary.weight_bp(), 100, "a halted walk does not advance");
        assert!(matches!(canary.on(Event::Pause), Decision::Ignored { .. }));
        // A person goes on; the next failure halts again, it is not forgiven.
        assert_eq!(canary.on(Event::Resume), Decision::Wait);
        assert_eq!(canary.phase, Phase::Running);
        assert!(matches!(
            canary.on(Event::Judged(Fail)),
            Decision::Halt { .. }
        ));
        // Or rolls back.
        assert!(matches!(canary.on(Event::Abort), Decision::RollBack { .. }));
        assert!(canary.is_over());

        // The same walk with automatic rollback rolls back at the limit.
        let mut automatic = started(plan(&[100, 500], &[], 1, 2));
        automatic.on(Event::Judged(Fail));
        assert!(matches!(
            automatic.on(Event::Judged(Fail)),
            Decision::RollBack { .. }
        ));
        // A paused walk halts too, rather than rolling back.
        let mut paused = started(manual(1));
        paused.on(Event::Pause);
        assert!(matches!(
            paused.on(Event::Judged(Fail)),
            Decision::Halt { .. }
        ));
    }

    #[test]
    fn a_walk_stored_before_automatic_rollback_existed_still_rolls_back() {
        let stored = r#"{"steps_bp":[100],"approval_bp":[],"advance_after":1,"max_failures":1}"#;
        let plan: Plan = serde_json::from_str(stored).unwrap();
        assert!(plan.automatic_rollback);
    }

    #[test]
    fn a_stopped_walk_is_over_and_ignores_everything() {
        let mut canary = started(plan(&[100, 500], &[], 1, 1));
        canary.stop("route `a` is legacy while the canary set canary 1%".into());
        assert!(canary.is_over());
        assert!(canary.describe().contains("stopped: route `a`"));
        for event in [Event::Judged(Fail), Event::Abort, Event::Promote] {
            assert!(matches!(canary.on(event), Decision::Ignored { .. }));
        }
        assert!(matches!(canary.phase, Phase::Stopped { .. }));
    }
}
