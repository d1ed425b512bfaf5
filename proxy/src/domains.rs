//! `GET /domains`: the routes grouped by the domain whose playbook claims
//! them, each domain with its routes' stages, the canary controller's walk
//! (its record in the state store) and the last readiness verdict (from the
//! readiness log `msa-migrate readiness` appends to); routes that no playbook
//! claims are `unassigned`. Read-only: what the dashboard shows per domain.

use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::Path;

use serde_json::{Value, json};

use crate::live::Live;

/// How much of a readiness log's end is read for the last verdicts: a log is
/// appended to forever, and a verdict line is a few KiB.
const LOG_TAIL: u64 = 1024 * 1024;

/// The domains, as the admin API answers them.
pub(crate) async fn view(live: &Live) -> Value {
    let snapshot = live.snapshot();
    let config = snapshot.config();
    let route = |name: &str| json!({ "name": name, "stage": snapshot.stage(name) });
    let mut domains = Vec::with_capacity(config.domains.len());
    for domain in &config.domains {
        // What could not be read is said, not an error: the rest still shows.
        let mut problems: Vec<String> = Vec::new();
        // The key the canary controller (`msa-migrate canary`) writes its walk under.
        let canary = match live.record(&format!("canary/{}", domain.name)).await {
            Ok(None) => Value::Null,
            Ok(Some(text)) => serde_json::from_str(&text).unwrap_or_else(|err| {
                problems.push(format!("the canary's record is not JSON: {err}"));
                Value::Null
            }),
            Err(err) => {
                problems.push(format!("cannot read the canary's walk: {err}"));
                Value::Null
            }
        };
        let (log, name) = (domain.readiness_log.clone(), domain.name.clone());
        let readiness = tokio::task::spawn_blocking(move || last_verdict(&log, &name))
            .await
            .unwrap_or_else(|err| Err(format!("reading the readiness log failed: {err}")))
            .unwrap_or_else(|why| {
                problems.push(why);
                Value::Null
            });
        domains.push(json!({
            "name": domain.name,
            "playbook": domain.playbook.display().to_string(),
            "routes": domain.routes.iter().map(|r| route(r)).collect::<Vec<_>>(),
            "canary": canary,
            "readiness": readiness,
            "readiness_log": domain.readiness_log.display().to_string(),
            "problems": problems,
        }));
    }
    let unassigned: Vec<Value> = config
        .routes
        .iter()
        .filter(|r| !config.domains.iter().any(|d| d.routes.contains(&r.name)))
        .map(|r| route(&r.name))
        .collect();
    json!({ "domains": domains, "unassigned": unassigned })
}

/// The last verdict on `domain` in the readiness log at `path` (read from its
/// last MiB), as `{"at", "verdict": {"domain", "outcome", "ready", "summary",
/// "gates": [{"gate", "critical", "outcome", "summary"}]}}`; null when the log
/// does not exist or has none.
fn last_verdict(path: &Path, domain: &str) -> Result<Value, String> {
    let cannot = |err: std::io::Error| format!("cannot read {}: {err}", path.display());
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Value::Null),
        Err(err) => return Err(cannot(err)),
    };
    let len = file.metadata().map_err(cannot)?.len();
    let start = len.saturating_sub(LOG_TAIL);
    file.seek(SeekFrom::Start(start)).map_err(cannot)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(cannot)?;
    let text = String::from_utf8_lossy(&bytes);
    let mut lines = text.lines();
    if start > 0 {
        // Read from the middle of a line: skip what is left of it.
        lines.next();
    }
    let last = lines
        .rev()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|entry| entry["verdict"]["domain"] == domain);
    Ok(last.map_or(Value::Null, |entry| {
        let verdict = &entry["verdict"];
        let gates: Vec<Value> = verdict["gates"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|g| {
                json!({
                    "gate": g["gate"],
                    "critical": g["critical"],
                    "outcome": g["outcome"],
                    "summary": g["summary"],
                })
            })
            .collect();
        json!({
            "at": entry["at"],
            "verdict": {
                "domain": verdict["domain"],
                "outcome": verdict["outcome"],
                "ready": verdict["ready"],
                "summary": verdict["summary"],
                "gates": gates,
            },
        })
    }))
}

#[cfg(test)]
mod tests {
    use super::last_verdict;

    #[test]
    fn the_last_verdict_per_domain_is_read_from_the_logs_end() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("readiness-log.jsonl");
        assert_eq!(
            last_verdict(&log, "coupon").unwrap(),
            serde_json::Value::Null
        );
        let entry = |at: &str, domain: &str, ready: bool| {
            serde_json::json!({
                "at": at,
                "sources": {"admin": "http://127.0.0.1:9901"},
                "verdict": {"domain": domain, "outcome": "pass", "ready": ready, "summary": "s",
                    "gates": [{"gate": "data", "critical": true, "outcome": "pass", "summary": "ok",
                        "details": ["long"], "inputs": {"big": 1}}]},
            })
            .to_string()
        };
        // A first line longer than the tail read, cut in the middle.
        let padding = "x".repeat(usize::try_from(super::LOG_TAIL).unwrap());
        let text = [
            format!("{{\"padding\":\"{padding}\"}}"),
            entry("1", "coupon", false),
            entry("2", "order", true),
            entry("3", "coupon", true),
            "not json".to_owned(),
        ]
        .join("\n");
        std::fs::write(&log, text).unwrap();
        let last = last_verdict(&log, "coupon").unwrap();
        assert_eq!(last["at"], "3");
        assert_eq!(last["verdict"]["ready"], true);
        assert_eq!(
            last["verdict"]["gates"][0],
            serde_json::json!({"gate": "data", "critical": true, "outcome": "pass", "summary": "ok"})
        );
        assert_eq!(last_verdict(&log, "order").unwrap()["at"], "2");
        assert_eq!(
            last_verdict(&log, "points").unwrap(),
            serde_json::Value::Null
        );
    }
}
