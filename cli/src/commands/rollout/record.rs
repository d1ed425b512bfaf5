//! What the canary controller keeps in the state store: its walk (with the
//! move it is making, written ahead), and people's requests to it. Both are
//! JSON text in the store's records.

use std::collections::BTreeMap;

use msa_playbook::canary::{Canary, Phase};
use msa_proxy::Stage;
use serde::{Deserialize, Serialize};

use super::output::LastJudgement;
use super::show;

/// A canary walk as the store keeps it, under [`record_key`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Record {
    pub(super) canary: Canary,
    pub(super) routes: Vec<String>,
    pub(super) rollback_to: Stage,
    pub(super) interval_ms: u64,
    /// When the walk began (RFC 3339).
    pub(super) started: String,
    /// The move being made, written before the routes change and cleared
    /// after: a controller killed in between finds it here on resume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) intent: Option<Intent>,
    /// The last window judged, for `canary status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) last_judgement: Option<LastJudgement>,
    /// When a controller last wrote the walk (RFC 3339); walks stored by
    /// earlier versions have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) updated: Option<String>,
}

/// A move of the domain's routes the walk decided on: written ahead, so a
/// resumed controller completes it instead of mistaking it for someone
/// else's change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Intent {
    /// Where every route goes.
    pub(super) to: Stage,
    /// Where each route was just before (`None`: the store had no stage).
    pub(super) from: BTreeMap<String, Option<Stage>>,
    /// The audit action (`canary_step`, `canary_rollback`).
    pub(super) action: String,
    /// Who decided (the controller's actor, or a person's request).
    pub(super) by: String,
    /// The audit reason.
    pub(super) reason: String,
}

impl Record {
    pub(super) fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a canary record serialises")
    }

    pub(super) fn from_json(text: &str) -> serde_json::Result<Self> {
        serde_json::from_str(text)
    }

    /// Whether a controller has anything left to do: a walk not over, or a
    /// decided move (a rollback's) not yet made.
    pub(super) fn is_live(&self) -> bool {
        !self.canary.is_over() || self.intent.is_some()
    }

    /// Where the walk has the routes when no move is in flight.
    pub(super) fn expected(&self) -> Option<Stage> {
        match &self.canary.phase {
            Phase::Pending | Phase::Stopped { .. } => None,
            Phase::RolledBack { .. } => Some(self.rollback_to),
            _ => Some(Stage::Canary {
                weight_bp: self.canary.weight_bp(),
            }),
        }
    }
}

/// What a controller starting on a stored walk must do first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Resume {
    /// The routes are where the walk left them: go on.
    Continue,
    /// The move in flight was made before the controller died: only forget it.
    Made,
    /// The move in flight was not (fully) made: make it now.
    Finish(Intent),
    /// Someone else moved the routes: the walk stops and leaves them there.
    Stopped(String),
}

/// Decides how a stored walk resumes, from the routes' stages in the store.
/// A move in flight is finished whether the routes are still where it
/// found them, already where it sends them, or some of each (killed
/// half-way through an admin API change); any other stage is a person's
/// doing, which the canary must not undo.
pub(super) fn resume(record: &Record, stages: &BTreeMap<String, Stage>) -> Resume {
    let now = |route: &String| stages.get(route).copied();
    if let Some(intent) = &record.intent {
        let mut all_made = true;
        for route in &record.routes {
            let stage = now(route);
            if stage == Some(intent.to) {
                continue;
            }
            all_made = false;
            if stage != intent.from.get(route).copied().flatten() {
                return Resume::Stopped(format!(
                    "route `{route}` is {} while the canary was moving it from {} to {}",
                    show(stage),
                    show(intent.from.get(route).copied().flatten()),
                    show(Some(intent.to))
                ));
            }
        }
        return if all_made {
            Resume::Made
        } else {
            Resume::Finish(intent.clone())
        };
    }
    let Some(expected) = record.expected() else {
        return Resume::Continue;
    };
    match drift(&record.routes, stages, expected) {
        None => Resume::Continue,
        Some(drift) => Resume::Stopped(drift),
    }
}

/// The first route not at `expected`, in words.
pub(super) fn drift(
    routes: &[String],
    stages: &BTreeMap<String, Stage>,
    expected: Stage,
) -> Option<String> {
    routes.iter().find_map(|route| {
        let stage = stages.get(route).copied();
        (stage != Some(expected)).then(|| {
            format!(
                "route `{route}` is {} while the canary set {}",
                show(stage),
                show(Some(expected))
            )
        })
    })
}

/// What a person asked a running controller: one line of the queue under
/// [`requests_key`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Request {
    pub(super) verb: String,
    pub(super) actor: String,
    #[serde(default)]
    pub(super) reason: Option<String>,
    /// When it was asked (RFC 3339), to tell requests apart in the output.
    #[serde(default)]
    pub(super) at: String,
}

impl Request {
    pub(super) fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a request serialises")
    }

    /// Every request in a taken queue, in the order asked; a line that does
    /// not read is returned as the error it is, for the controller to report.
    pub(super) fn queue(text: &str) -> Vec<Result<Self, String>> {
        text.lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| serde_json::from_str(line).map_err(|err| format!("{err}: {}", line.trim())))
            .collect()
    }
}

pub(super) fn record_key(domain: &str) -> String {
    format!("canary/{domain}")
}

/// The queue of requests: appended to by `canary promote|pause|…`, emptied
/// by the controller; two requests in quick succession are both kept.
pub(super) fn requests_key(domain: &str) -> String {
    format!("canary/{domain}/requests")
}

#[cfg(test)]
mod tests {
    use msa_playbook::canary::Phase;
    use msa_playbook::canary::{Event, Plan};
    use msa_playbook::verdict::Outcome as Gate;

    use super::*;

    fn walk() -> Record {
        let mut canary = Canary::new(Plan {
            steps_bp: vec![100, 5_000],
            approval_bp: vec![5_000],
            advance_after: 2,
            max_failures: 3,
            automatic_rollback: true,
        })
        .unwrap();
        canary.on(Event::Start);
        canary.on(Event::Judged(Gate::Fail));
        Record {
            canary,
            routes: vec!["coupon-read".into()],
            rollback_to: Stage::Shadow,
            interval_ms: 600_000,
            started: "2026-11-22T00:00:00Z".into(),
            intent: None,
            last_judgement: None,
            updated: None,
        }
    }

    #[test]
    fn a_walk_record_reads_back_as_written() {
        let record = walk();
        let back = Record::from_json(&record.to_json()).unwrap();
        assert_eq!(back.canary, record.canary);
        assert_eq!(back.routes, record.routes);
        assert_eq!(back.rollback_to, Stage::Shadow);
        assert_eq!(back.interval_ms, 600_000);
        assert_eq!(back.started, record.started);
        assert!(Record::from_json("{\"canary\": 1}").is_err());
    }

    /// The fields the hand-written JSON of earlier versions used, so a walk
    /// stored by them resumes.
    #[test]
    fn a_walk_record_keeps_its_stored_field_names() {
        let record = walk();
        let stored = serde_json::json!({
            "canary": record.canary,
            "routes": ["coupon-read"],
            "rollback_to": {"mode": "shadow"},
            "interval_ms": 600_000,
            "started": "2026-11-22T00:00:00Z",
        });
        let written: serde_json::Value = serde_json::from_str(&record.to_json()).unwrap();
        assert_eq!(written, stored);
        let back = Record::from_json(&stored.to_string()).unwrap();
        assert_eq!(back.canary, record.canary);
        assert_eq!(back.rollback_to, Stage::Shadow);
    }

    #[test]
    fn the_last_judgement_and_when_the_walk_was_written_read_back() {
        let mut record = walk();
        record.updated = Some("2026-12-07T04:00:00Z".into());
        record.last_judgement = Some(LastJudgement {
            at: "2026-12-07T04:00:00Z".into(),
            step_index: 0,
            weight_bp: 100,
            outcome: Gate::Fail,
            early: true,
            evidence: "new 20 req, 100.00% 5xx".into(),
            gates: vec![super::super::judge::GateResult {
                gate: "performance".into(),
                outcome: Gate::Fail,
                summary: "new 20 req, 100.00% 5xx".into(),
            }],
            unreadable: vec![],
        });
        let back = Record::from_json(&record.to_json()).unwrap();
        assert_eq!(back.last_judgement, record.last_judgement);
        assert_eq!(back.updated, record.updated);
    }

    #[test]
    fn queued_requests_read_back_in_order_and_junk_is_reported_not_renamed() {
        let asked = |verb: &str, actor: &str| Request {
            verb: verb.into(),
            actor: actor.into(),
            reason: Some("lunch".into()),
            at: "2026-11-22T00:00:00Z".into(),
        };
        let text = format!(
            "{}\n{}\nnot json\n\n",
            asked("pause", "carol").to_json(),
            asked("resume", "dave").to_json()
        );
        let queue = Request::queue(&text);
        assert_eq!(queue.len(), 3, "{queue:?}");
        assert_eq!(queue[0], Ok(asked("pause", "carol")));
        assert_eq!(queue[1], Ok(asked("resume", "dave")));
        let junk = queue[2].as_ref().unwrap_err();
        assert!(junk.contains("not json"), "{junk}");
        // A request without an actor is not read as someone called "unknown".
        assert!(Request::queue(r#"{"verb": "resume"}"#)[0].is_err());
    }

    fn stages(pairs: &[(&str, Stage)]) -> BTreeMap<String, Stage> {
        pairs.iter().map(|(r, s)| ((*r).to_owned(), *s)).collect()
    }

    const AT_1: Stage = Stage::Canary { weight_bp: 100 };
    const AT_50: Stage = Stage::Canary { weight_bp: 5_000 };

    /// A two-route walk at its first step (1%), moving to 50% (the
    /// intent written, the routes not yet changed).
    fn moving() -> Record {
        let mut canary = Canary::new(Plan {
            steps_bp: vec![100, 5_000],
            approval_bp: vec![],
            advance_after: 1,
            max_failures: 1,
            automatic_rollback: true,
        })
        .unwrap();
        canary.on(Event::Start);
        canary.on(Event::Judged(Gate::Pass));
        let routes = vec!["a".to_owned(), "b".to_owned()];
        Record {
            intent: Some(Intent {
                to: AT_50,
                from: routes.iter().map(|r| (r.clone(), Some(AT_1))).collect(),
                action: "canary_step".into(),
                by: "ci".into(),
                reason: "judged pass".into(),
            }),
            canary,
            routes,
            rollback_to: Stage::Legacy,
            interval_ms: 1_000,
            started: "2026-11-22T00:00:00Z".into(),
            last_judgement: None,
            updated: None,
        }
    }

    /// Regression (issue 7): a controller killed between deciding a move and
    /// saving it found "drift" on resume and marked the walk rolled back
    /// while the routes stayed at the new weight.
    #[test]
    fn a_move_killed_half_way_is_finished_on_resume_not_taken_for_drift() {
        let record = moving();
        let intent = record.intent.clone().unwrap();
        // Killed before any route moved, half-way, or after all moved.
        assert_eq!(
            resume(&record, &stages(&[("a", AT_1), ("b", AT_1)])),
            Resume::Finish(intent.clone())
        );
        assert_eq!(
            resume(&record, &stages(&[("a", AT_50), ("b", AT_1)])),
            Resume::Finish(intent)
        );
        assert_eq!(
            resume(&record, &stages(&[("a", AT_50), ("b", AT_50)])),
            Resume::Made
        );
        // A route somewhere else is a person's doing: stop, do not undo it.
        let Resume::Stopped(why) = resume(&record, &stages(&[("a", AT_50), ("b", Stage::Cutover)]))
        else {
            panic!("a cutover in between stops the walk");
        };
        assert!(why.contains("route `b` is cutover"), "{why}");
        // The record survives the store, intent and all.
        let back = Record::from_json(&record.to_json()).unwrap();
        assert_eq!(back.intent, record.intent);
    }

    #[test]
    fn with_nothing_in_flight_a_resume_goes_on_or_stops_on_drift() {
        let mut record = moving();
        record.intent = None;
        // The walk is at 50% (decided), and the routes are there.
        assert_eq!(
            resume(&record, &stages(&[("a", AT_50), ("b", AT_50)])),
            Resume::Continue
        );
        let Resume::Stopped(why) = resume(&record, &stages(&[("a", AT_50), ("b", Stage::Legacy)]))
        else {
            panic!("a manual rollback stops the walk");
        };
        assert_eq!(why, "route `b` is legacy while the canary set canary 50%");
        // A rolled-back walk expects its routes at the rollback stage.
        record.canary.on(Event::Abort);
        assert!(matches!(record.canary.phase, Phase::RolledBack { .. }));
        assert!(!record.is_live());
        assert_eq!(record.expected(), Some(Stage::Legacy));
        // A rollback decided but not made is still live: a controller makes it.
        record.intent = Some(Intent {
            to: Stage::Legacy,
            from: [("a".to_owned(), Some(AT_50)), ("b".to_owned(), Some(AT_50))].into(),
            action: "canary_rollback".into(),
            by: "ci".into(),
            reason: "judged FAIL".into(),
        });
        assert!(record.is_live());
        assert!(matches!(
            resume(&record, &stages(&[("a", AT_50), ("b", AT_50)])),
            Resume::Finish(_)
        ));
    }
}
