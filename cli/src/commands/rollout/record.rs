//! What the canary controller keeps in the state store: its walk, and a
//! person's request to it. Both are JSON text in the store's records.

use msa_playbook::canary::Canary;
use msa_proxy::Stage;
use serde::{Deserialize, Serialize};

/// A canary walk as the store keeps it, under [`record_key`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Record {
    pub(super) canary: Canary,
    pub(super) routes: Vec<String>,
    pub(super) rollback_to: Stage,
    pub(super) interval_ms: u64,
    /// When the walk began (RFC 3339).
    pub(super) started: String,
}

impl Record {
    pub(super) fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a canary record serialises")
    }

    pub(super) fn from_json(text: &str) -> serde_json::Result<Self> {
        serde_json::from_str(text)
    }
}

/// What a person asked a running controller, under [`request_key`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Request {
    #[serde(default = "unknown")]
    pub(super) verb: String,
    #[serde(default = "unknown")]
    pub(super) actor: String,
    #[serde(default)]
    pub(super) reason: Option<String>,
}

fn unknown() -> String {
    "unknown".to_owned()
}

impl Request {
    pub(super) fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a request serialises")
    }

    /// Never fails: a request that does not read is an unknown verb, which
    /// the controller ignores.
    pub(super) fn from_json(text: &str) -> Self {
        serde_json::from_str(text).unwrap_or_else(|_| Self {
            verb: unknown(),
            actor: unknown(),
            reason: None,
        })
    }
}

pub(super) fn record_key(domain: &str) -> String {
    format!("canary/{domain}")
}

pub(super) fn request_key(domain: &str) -> String {
    format!("canary/{domain}/request")
}

#[cfg(test)]
mod tests {
    use msa_playbook::canary::{Event, Plan};
    use msa_playbook::verdict::Outcome as Gate;

    use super::*;

    fn walk() -> Record {
        let mut canary = Canary::new(Plan {
            steps_bp: vec![100, 5_000],
            approval_bp: vec![5_000],
            advance_after: 2,
            max_failures: 3,
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
    fn a_request_reads_back_and_junk_is_an_unknown_verb() {
        let request = Request::from_json(
            &Request {
                verb: "pause".into(),
                actor: "carol".into(),
                reason: Some("lunch".into()),
            }
            .to_json(),
        );
        assert_eq!(
            (
                request.verb.as_str(),
                request.actor.as_str(),
                request.reason.as_deref()
            ),
            ("pause", "carol", Some("lunch"))
        );
        let stored = Request::from_json(r#"{"verb": "abort", "actor": "dave", "reason": null}"#);
        assert_eq!((stored.verb.as_str(), stored.reason), ("abort", None));
        let partial = Request::from_json(r#"{"verb": "resume"}"#);
        assert_eq!(partial.actor, "unknown");
        assert_eq!(Request::from_json("not json").verb, "unknown");
    }
}
