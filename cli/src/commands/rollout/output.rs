//! What the rollout commands print. Text lines for people and JSON for
//! scripts come from the same serde structs, so the two cannot say different
//! things. One field naming throughout: snake_case; weights in basis points
//! (`weight_bp`); stages as the proxy and the audit log write them
//! (`{"mode": "canary", "weight_bp": 500}`); times RFC 3339 (`at`,
//! `started_at`, `updated_at`); durations in milliseconds (`_ms`). The shapes
//! are documented in docs/canary.md.

use msa_playbook::canary::{self, Canary, Phase};
use msa_playbook::verdict::Outcome as Gate;
use msa_proxy::Stage;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::judge::{GateResult, Judgement};
use super::record::{Intent, Record};
use super::show;
use crate::commands::clock;
use crate::commands::stdout::Stdout;

/// A canary walk as the commands show it: where it is and how it goes on.
#[derive(Debug, Clone, Serialize)]
pub(super) struct WalkView {
    /// `pending`, `running`, `held`, `awaiting_approval`, `paused`,
    /// `halted`, `completed`, `rolled_back` or `stopped`.
    pub(super) phase: &'static str,
    /// Why the walk halted, rolled back or stopped.
    pub(super) reason: Option<String>,
    /// What a held step's last window was judged (`inconclusive`, `no_data`).
    pub(super) held_outcome: Option<Gate>,
    /// The current step, an index into `steps_bp` (0 is the first).
    pub(super) step_index: usize,
    pub(super) weight_bp: u16,
    pub(super) steps_bp: Vec<u16>,
    pub(super) approval_bp: Vec<u16>,
    pub(super) awaiting_approval: bool,
    /// Consecutive passes at this step, of `advance_after`.
    pub(super) passes: u32,
    pub(super) advance_after: u32,
    /// Failures over the walk, of `max_failures`.
    pub(super) failures: u32,
    pub(super) max_failures: u32,
    /// Windows judged, all steps.
    pub(super) judged: u32,
    pub(super) automatic_rollback: bool,
    /// Completed, rolled back or stopped.
    pub(super) over: bool,
    /// The walk in words, as the text output says it.
    pub(super) summary: String,
}

impl WalkView {
    pub(super) fn of(canary: &Canary) -> Self {
        let (phase, reason, held_outcome) = match &canary.phase {
            Phase::Pending => ("pending", None, None),
            Phase::Running => ("running", None, None),
            Phase::Held { outcome } => ("held", None, Some(*outcome)),
            Phase::AwaitingApproval => ("awaiting_approval", None, None),
            Phase::Paused => ("paused", None, None),
            Phase::Halted { reason } => ("halted", Some(reason.clone()), None),
            Phase::Completed => ("completed", None, None),
            Phase::RolledBack { reason } => ("rolled_back", Some(reason.clone()), None),
            Phase::Stopped { reason } => ("stopped", Some(reason.clone()), None),
        };
        Self {
            phase,
            reason,
            held_outcome,
            step_index: canary.step,
            weight_bp: canary.weight_bp(),
            steps_bp: canary.plan.steps_bp.clone(),
            approval_bp: canary.plan.approval_bp.clone(),
            awaiting_approval: canary.phase == Phase::AwaitingApproval,
            passes: canary.passes,
            advance_after: canary.plan.advance_after,
            failures: canary.failures,
            max_failures: canary.plan.max_failures,
            judged: canary.judged,
            automatic_rollback: canary.plan.automatic_rollback,
            over: canary.is_over(),
            summary: canary.describe(),
        }
    }
}

/// The last window the controller judged, as the walk's record keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct LastJudgement {
    /// When it was judged.
    pub(super) at: String,
    /// The step and weight judged.
    pub(super) step_index: usize,
    pub(super) weight_bp: u16,
    pub(super) outcome: Gate,
    /// Judged before the interval ended: a failure beyond doubt.
    pub(super) early: bool,
    pub(super) evidence: String,
    pub(super) gates: Vec<GateResult>,
    #[serde(default)]
    pub(super) unreadable: Vec<String>,
}

impl LastJudgement {
    pub(super) fn new(canary: &Canary, judgement: &Judgement) -> Self {
        Self {
            at: clock::now(),
            step_index: canary.step,
            weight_bp: canary.weight_bp(),
            outcome: judgement.outcome,
            early: judgement.early,
            evidence: judgement.evidence.clone(),
            gates: judgement.gates.clone(),
            unreadable: judgement.unreadable.clone(),
        }
    }
}

/// A move of the routes the walk decided on and has not finished.
#[derive(Debug, Clone, Serialize)]
pub(super) struct MoveView {
    pub(super) to: Stage,
    /// `canary_step` or `canary_rollback`.
    pub(super) action: String,
    pub(super) by: String,
    pub(super) reason: String,
}

/// A stored walk: its record and where it is.
#[derive(Debug, Clone, Serialize)]
pub(super) struct CanaryView {
    #[serde(flatten)]
    pub(super) walk: WalkView,
    pub(super) routes: Vec<String>,
    pub(super) rollback_to: Stage,
    pub(super) interval_ms: u64,
    pub(super) started_at: String,
    /// When a controller last wrote the walk (`null` for walks stored
    /// before this was kept).
    pub(super) updated_at: Option<String>,
    /// A move decided and not yet finished (a controller killed half-way).
    pub(super) moving: Option<MoveView>,
    pub(super) last_judgement: Option<LastJudgement>,
}

impl CanaryView {
    pub(super) fn of(record: &Record) -> Self {
        Self {
            walk: WalkView::of(&record.canary),
            routes: record.routes.clone(),
            rollback_to: record.rollback_to,
            interval_ms: record.interval_ms,
            started_at: record.started.clone(),
            updated_at: record.updated.clone(),
            moving: record.intent.as_ref().map(|i: &Intent| MoveView {
                to: i.to,
                action: i.action.clone(),
                by: i.by.clone(),
                reason: i.reason.clone(),
            }),
            last_judgement: record.last_judgement.clone(),
        }
    }
}

/// `canary status --format json`.
#[derive(Debug, Serialize)]
pub(super) struct StatusReport {
    pub(super) domain: String,
    /// Whether a controller holds the domain's lock.
    pub(super) controller_running: bool,
    /// The stored walk; `null` when no canary has run.
    pub(super) canary: Option<CanaryView>,
}

/// Where a change was made.
#[derive(Debug, Clone, Serialize)]
pub(super) struct AppliedIn {
    /// `state_store` or `admin_api`.
    pub(super) kind: &'static str,
    /// The store (a file, or a PostgreSQL URL without its password) or the
    /// admin API's URL.
    pub(super) location: String,
}

/// One route moved: its stage before (`null` when the store had none, the
/// proxy's configuration deciding) and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(super) struct RouteChange {
    pub(super) route: String,
    pub(super) before: Option<Stage>,
    pub(super) after: Stage,
}

impl RouteChange {
    pub(super) fn all(applied: &[(String, Option<Stage>, Stage)]) -> Vec<Self> {
        applied
            .iter()
            .map(|(route, before, after)| Self {
                route: route.clone(),
                before: *before,
                after: *after,
            })
            .collect()
    }

    /// The line the text output shows for it.
    pub(super) fn text(&self) -> String {
        format!(
            "  {}: {} -> {}",
            self.route,
            show(self.before),
            show(Some(self.after))
        )
    }
}

/// Whether readiness let a cutover through.
#[derive(Debug, Clone, Serialize)]
pub(super) struct ReadinessView {
    /// `ready`, `not_ready`, or `unknown` (no verdict could be had).
    pub(super) outcome: &'static str,
    pub(super) summary: String,
}

/// `cutover --format json` and `rollback --format json`.
#[derive(Debug, Serialize)]
pub(super) struct MoveReport {
    /// `cutover` or `rollback`, as the audit log's action.
    pub(super) action: &'static str,
    pub(super) domain: String,
    pub(super) at: String,
    pub(super) actor: String,
    /// As given (`null`: a rollback without `--reason`).
    pub(super) reason: Option<String>,
    /// As written to the audit log.
    pub(super) audit_reason: String,
    /// A cutover that readiness did not let through, made with `--force`.
    pub(super) forced: bool,
    /// The cutover's readiness verdict; `null` for a rollback.
    pub(super) readiness: Option<ReadinessView>,
    pub(super) applied_in: AppliedIn,
    pub(super) routes: Vec<RouteChange>,
    /// Whether a canary walk of the domain in progress was ended.
    pub(super) canary_stopped: bool,
}

/// `canary promote|pause|resume|abort --format json`.
#[derive(Debug, Serialize)]
pub(super) struct ControlReport {
    pub(super) domain: String,
    /// `promote`, `pause`, `resume` or `abort`.
    pub(super) action: String,
    pub(super) at: String,
    pub(super) actor: String,
    pub(super) reason: Option<String>,
    /// `controller`: handed to the running controller, which acts within
    /// 200 ms (its output and `canary status` show the outcome);
    /// `this_command`: no controller runs, so this command acted.
    pub(super) handled_by: &'static str,
    pub(super) applied_in: AppliedIn,
    /// The routes this command moved (none when handed over).
    pub(super) routes: Vec<RouteChange>,
    /// The walk as stored when the command ended (handed over: before the
    /// controller acts on the request).
    pub(super) canary: CanaryView,
}

/// The performance gate's limits, as each window is judged by them.
#[derive(Debug, Clone, Serialize)]
pub(super) struct GateView {
    pub(super) min_requests: u64,
    pub(super) max_error_rate_delta: f64,
    pub(super) max_latency_shift: f64,
    pub(super) max_p99_ms: Option<u64>,
    /// Each window's significance level (the walk's, divided by its looks).
    pub(super) alpha: f64,
}

/// Something the canary controller did or found: one line of its output.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub(super) enum Event {
    /// `--dry-run`: the walk that would run; nothing changes.
    DryRun {
        routes: Vec<String>,
        state_store: String,
        /// Whether a stored walk would be resumed (then `walk` is it).
        resumes: bool,
        walk: WalkView,
        rollback_to: Stage,
        interval_ms: u64,
        gate: GateView,
    },
    /// A new walk begins (the routes move with the `step` event after it).
    Started {
        routes: Vec<String>,
        rollback_to: Stage,
        interval_ms: u64,
        walk: WalkView,
    },
    /// A stored walk is taken up again by a new controller.
    Resumed {
        started_at: String,
        routes: Vec<String>,
        walk: WalkView,
    },
    /// A request made to a controller that died before taking it: not acted on.
    RequestDropped {
        action: String,
        actor: String,
        requested_at: String,
    },
    /// A move decided before a restart is finished now.
    FinishingMove { to: Stage, reason: String },
    /// A person's request, taken (what it did follows).
    Request {
        action: String,
        actor: String,
        reason: Option<String>,
        requested_at: String,
    },
    /// A window judged (what the walk did about it follows).
    Judged {
        step_index: usize,
        weight_bp: u16,
        outcome: Gate,
        /// Before the interval ended: a failure beyond doubt.
        early: bool,
        evidence: String,
        gates: Vec<GateResult>,
        /// Replicas whose evidence could not be read (never a pass then).
        unreadable: Vec<String>,
    },
    /// The routes are at a new step: the first at the start, the next
    /// after its passes or a promote.
    Step {
        cause: String,
        by: String,
        walk: WalkView,
    },
    /// Nothing changes; judged again after the interval.
    Waiting {
        cause: String,
        by: String,
        walk: WalkView,
    },
    /// The window could not decide: the step holds.
    Held {
        cause: String,
        by: String,
        walk: WalkView,
    },
    /// A person paused the walk (still judged).
    Paused {
        cause: String,
        by: String,
        walk: WalkView,
    },
    /// The step's passes are in: it waits for `canary promote`.
    AwaitingApproval {
        cause: String,
        by: String,
        walk: WalkView,
    },
    /// The failure limit without automatic rollback: a person decides.
    Halted {
        cause: String,
        by: String,
        reason: String,
        walk: WalkView,
    },
    /// The routes went back; the walk is over.
    RolledBack {
        cause: String,
        by: String,
        to: Stage,
        reason: String,
        walk: WalkView,
    },
    /// The last step passed; finish with `msa-migrate cutover`.
    Completed {
        cause: String,
        by: String,
        walk: WalkView,
    },
    /// A request that does not apply now (`resume` when not paused).
    Ignored {
        cause: String,
        by: String,
        why: String,
    },
    /// Someone else moved the routes: the walk ends, the routes stay.
    Stopped { reason: String, walk: WalkView },
    /// The state store cannot be read: nothing is judged or changed.
    StoreLost { error: String },
    /// The state store answers again.
    StoreBack,
    /// Something the controller passed over (an unreadable request).
    Warning { message: String },
    /// The controller ends: the last line, with its exit code.
    Finished { exit_code: u8, walk: WalkView },
}

/// A window's outcome in the words of the text output.
pub(super) fn verdict_word(outcome: Gate) -> &'static str {
    match outcome {
        Gate::Pass => "pass",
        Gate::Fail => "FAIL",
        Gate::Inconclusive => "inconclusive",
        Gate::NoData => "no data",
    }
}

/// A decision's event when nothing moves, named after where the walk is.
pub(super) fn waiting(cause: &str, by: &str, canary: &Canary) -> Event {
    let (cause, by, walk) = (cause.to_owned(), by.to_owned(), WalkView::of(canary));
    match canary.phase {
        Phase::Held { .. } => Event::Held { cause, by, walk },
        Phase::Paused => Event::Paused { cause, by, walk },
        Phase::AwaitingApproval => Event::AwaitingApproval { cause, by, walk },
        _ => Event::Waiting { cause, by, walk },
    }
}

impl Event {
    /// The line for people, after the time and domain; `None` for what the
    /// text tells elsewhere (a judgement and a request are the cause on the
    /// line of what they led to; the dry run prints its plan itself).
    pub(super) fn text(&self, domain: &str) -> Option<String> {
        Some(match self {
            Self::DryRun { .. }
            | Self::Judged { .. }
            | Self::Request { .. }
            | Self::Finished { .. } => return None,
            Self::Started {
                routes,
                interval_ms,
                walk,
                ..
            } => format!(
                "starting: routes {}, steps {}, every {}",
                routes.join(", "),
                walk.steps_bp
                    .iter()
                    .map(|&bp| canary::percent(bp))
                    .collect::<Vec<_>>()
                    .join(" "),
                humantime::format_duration(std::time::Duration::from_millis(*interval_ms))
            ),
            Self::Resumed {
                started_at, walk, ..
            } => format!("resuming the walk begun {started_at}: {}", walk.summary),
            Self::RequestDropped {
                action,
                actor,
                requested_at,
            } => format!(
                "dropped a request made to the previous controller: {action} by {actor} at {requested_at}; ask again if still wanted"
            ),
            Self::FinishingMove { to, reason } => format!(
                "finishing the move to {} decided before the restart ({reason})",
                show(Some(*to))
            ),
            Self::Step { cause, walk, .. } => format!("{cause} -> now at {}", walk.summary),
            Self::Waiting { cause, walk, .. }
            | Self::Held { cause, walk, .. }
            | Self::Paused { cause, walk, .. }
            | Self::AwaitingApproval { cause, walk, .. } => {
                format!("{cause} -> {}", walk.summary)
            }
            Self::Halted {
                cause,
                reason,
                walk,
                ..
            } => format!(
                "{cause} -> HALTED at {}: {reason}; rollback is not automatic (playbook \
                 rollback.automatic: false): `msa-migrate canary abort {domain}` rolls back, \
                 `msa-migrate canary resume {domain}` goes on",
                canary::percent(walk.weight_bp)
            ),
            Self::RolledBack {
                cause, to, reason, ..
            } => format!("{cause} -> ROLLED BACK to {}: {reason}", show(Some(*to))),
            Self::Completed { cause, walk, .. } => format!(
                "{cause} -> completed at {}; finish with: msa-migrate cutover {domain}",
                canary::percent(walk.weight_bp)
            ),
            Self::Ignored { cause, why, .. } => format!("{cause}: ignored, {why}"),
            Self::Stopped { reason, .. } => {
                format!("stopped: {reason} (changed by someone else)")
            }
            Self::StoreLost { error } => format!("cannot read the state store: {error}; holding"),
            Self::StoreBack => "the state store answers again; going on".to_owned(),
            Self::Warning { message } => message.clone(),
        })
    }

    /// The JSON line: `event` first, then when and which domain, then the
    /// event's own fields.
    pub(super) fn json(&self, domain: &str, at: &str) -> String {
        let Ok(Value::Object(fields)) = serde_json::to_value(self) else {
            unreachable!("an event serialises to an object");
        };
        let mut line = serde_json::Map::new();
        if let Some(event) = fields.get("event") {
            line.insert("event".to_owned(), event.clone());
        }
        line.insert("at".to_owned(), Value::from(at));
        line.insert("domain".to_owned(), Value::from(domain));
        // In declaration order (a map's `remove` may move the last field).
        line.extend(fields.into_iter().filter(|(name, _)| name != "event"));
        Value::Object(line).to_string()
    }
}

/// How the controller reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// `TIME DOMAIN: line` for people.
    Text,
    /// One JSON event per line.
    Json,
    /// Nothing: a command that prints one result of its own at the end.
    Quiet,
}

/// Where the controller's events go.
#[derive(Debug)]
pub(super) struct Output {
    pub(super) mode: Mode,
    stdout: Stdout,
}

impl Output {
    pub(super) fn new(mode: Mode) -> Self {
        Self {
            mode,
            stdout: Stdout::default(),
        }
    }

    pub(super) fn emit(&self, domain: &str, event: &Event) {
        let at = clock::now();
        match self.mode {
            Mode::Quiet => {}
            Mode::Json => self.stdout.line(&event.json(domain, &at)),
            Mode::Text => {
                if let Some(line) = event.text(domain) {
                    self.stdout.line(&format!("{at} {domain}: {line}"));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use msa_playbook::canary::{Event as Walk, Plan};

    use super::*;

    fn walk() -> Canary {
        let mut canary = Canary::new(Plan {
            steps_bp: vec![1_000, 5_000, 10_000],
            approval_bp: vec![5_000],
            advance_after: 1,
            max_failures: 2,
            automatic_rollback: true,
        })
        .unwrap();
        canary.on(Walk::Start);
        canary
    }

    #[test]
    fn an_event_is_one_json_object_with_the_event_first_and_the_text_unchanged() {
        let mut canary = walk();
        canary.on(Walk::Judged(Gate::Inconclusive));
        let event = waiting("judged inconclusive (few)", "ci", &canary);
        let line = event.json("coupon", "2026-12-07T00:00:00Z");
        assert!(!line.contains('\n'), "{line}");
        assert!(
            line.starts_with(r#"{"event":"held","at":"2026-12-07T00:00:00Z","domain":"coupon","cause":"judged inconclusive (few)","by":"ci","walk":{"phase":"held","#)
        );
        let value: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["walk"]["phase"], "held");
        assert_eq!(value["walk"]["held_outcome"], "inconclusive");
        assert_eq!(value["walk"]["step_index"], 0);
        assert_eq!(value["walk"]["weight_bp"], 1_000);
        assert_eq!(value["walk"]["awaiting_approval"], false);
        assert_eq!(
            event.text("coupon").unwrap(),
            "judged inconclusive (few) -> step 1/3 (10%): held (inconclusive), 0/1 passes, 0/2 failures"
        );
        // A judgement is the cause on the next line, not a line of its own.
        let judged = Event::Judged {
            step_index: 0,
            weight_bp: 1_000,
            outcome: Gate::Fail,
            early: true,
            evidence: "5xx".into(),
            gates: vec![],
            unreadable: vec![],
        };
        assert_eq!(judged.text("coupon"), None);
        let value: Value = serde_json::from_str(&judged.json("coupon", "t")).unwrap();
        assert_eq!(
            (value["event"].as_str(), value["outcome"].as_str()),
            (Some("judged"), Some("fail"))
        );
    }

    #[test]
    fn a_wait_is_named_after_where_the_walk_is() {
        let mut canary = walk();
        canary.on(Walk::Judged(Gate::Pass));
        assert!(matches!(waiting("c", "ci", &canary), Event::Waiting { .. }));
        canary.on(Walk::Judged(Gate::Pass));
        assert!(matches!(
            waiting("c", "ci", &canary),
            Event::AwaitingApproval { walk, .. } if walk.awaiting_approval && walk.step_index == 1
        ));
        canary.on(Walk::Pause);
        assert!(matches!(waiting("c", "ci", &canary), Event::Paused { .. }));
    }
}
