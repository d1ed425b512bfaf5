//! `msa-migrate canary`, `cutover` and `rollback`: move a domain's traffic,
//! every change audited with who, when and why.
//!
//! Changes go to the state store the proxies follow (`--state FILE|DSN`), or
//! through a proxy's admin API (`--admin URL`). The canary controller keeps
//! its walk in the store (record `canary/DOMAIN`), so a killed controller
//! resumes it, and holds the store's lock `canary/DOMAIN` while it runs.

mod behaviour;
mod canary;
mod control;
mod controller;
mod cutover;
mod domain;
mod judge;
mod output;
mod record;
mod target;

use msa_playbook::canary::percent;
use msa_proxy::Stage;

pub(crate) use canary::canary;
pub(crate) use cutover::{cutover, rollback};

/// Who the audit names: `--actor`, else `USER@HOST` from the environment.
/// Never a made-up name: with no user to be found, the command asks for one.
fn actor(given: Option<&String>) -> anyhow::Result<String> {
    if let Some(given) = given.map(|a| a.trim()).filter(|a| !a.is_empty()) {
        return Ok(given.to_owned());
    }
    let user = login_name().ok_or_else(|| {
        anyhow::anyhow!(
            "cannot tell who is making this change ($USER is not set): give --actor NAME for the audit log"
        )
    })?;
    Ok(match host_name() {
        Some(host) => format!("{user}@{host}"),
        None => user,
    })
}

/// The person running the command: `$USER`, `$LOGNAME`, else the process's
/// user in /etc/passwd (a container or CI job often sets neither variable).
fn login_name() -> Option<String> {
    let set = |var: &str| std::env::var(var).ok().filter(|v| !v.trim().is_empty());
    set("USER").or_else(|| set("LOGNAME")).or_else(|| {
        use std::os::unix::fs::MetadataExt;
        let uid = std::fs::metadata("/proc/self").ok()?.uid();
        let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
        passwd.lines().find_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?;
            (fields.nth(1)? == uid.to_string()).then(|| name.to_owned())
        })
    })
}

/// This machine's name, so `alice@laptop` and `alice@bastion` differ.
fn host_name() -> Option<String> {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|path| std::fs::read_to_string(path).ok())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
}

/// What the audit log says when a person gave no reason: said outright, so
/// a reader sees that nobody said why, not that the field was lost.
const NO_REASON: &str = "(no reason given)";

/// A stage in words; `None` is a route the store has no stage for yet.
fn show(stage: Option<Stage>) -> String {
    match stage {
        None => "(configuration's)".to_owned(),
        Some(Stage::Legacy) => "legacy".to_owned(),
        Some(Stage::Shadow) => "shadow".to_owned(),
        Some(Stage::Canary { weight_bp }) => format!("canary {}", percent(weight_bp)),
        Some(Stage::Cutover) => "cutover".to_owned(),
    }
}
