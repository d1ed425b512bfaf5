//! `msa-migrate readiness`, and the same verdict for `cutover`: judge
//! domains on the evidence, log the verdicts, print them.

use msa_playbook::Playbook;
use msa_playbook::readiness::Verdict;
use serde_json::{Value, json};

use super::evidence::{Shared, Sources, judge_one};
use super::files::{all_playbooks, load, playbook_path};
use super::log::{append_log, last_logged};
use super::render::render;
use crate::Outcome;
use crate::args::ReadinessArgs;
use crate::commands::clock;

/// Judges one domain now, appends the verdict to the readiness log, and
/// returns it: what `cutover` asks before it moves any traffic.
pub(crate) fn domain_ready(domain: &str, sources: &Sources) -> anyhow::Result<Verdict> {
    let playbook = load(&playbook_path(&sources.playbooks, domain)?)?;
    let shared = Shared::gather(sources)?;
    let verdict = judge_one(&playbook, sources, &shared)?;
    append_log(&sources.log, &verdict, sources)?;
    Ok(verdict)
}

/// `msa-migrate readiness`.
#[allow(clippy::print_stdout, reason = "the verdicts are the command's output")]
pub(crate) fn readiness(args: ReadinessArgs) -> anyhow::Result<Outcome> {
    let sources = Sources::from_args(&args);
    let entries: Vec<Value> = if args.last {
        last_logged(&sources.log, args.domain.as_deref())?
    } else {
        let paths = match &args.domain {
            Some(domain) => vec![playbook_path(&args.playbooks, domain)?],
            None => all_playbooks(&args.playbooks)?,
        };
        // Every playbook is checked before any evidence is gathered.
        let playbooks: Vec<Playbook> = paths
            .iter()
            .map(|p| load(p))
            .collect::<anyhow::Result<_>>()?;
        let shared = Shared::gather(&sources)?;
        let mut entries = Vec::new();
        for playbook in &playbooks {
            let verdict = judge_one(playbook, &sources, &shared)?;
            append_log(&sources.log, &verdict, &sources)?;
            entries.push(json!({
                "at": clock::now(),
                "verdict": verdict,
            }));
        }
        entries
    };
    let ready = entries.iter().all(|e| e["verdict"]["ready"] == true);
    let out = render(args.format, &entries, ready, args.explain)?;
    print!("{out}");
    Ok(if ready {
        Outcome::Success
    } else {
        Outcome::NotReady
    })
}
