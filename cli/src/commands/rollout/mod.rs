//! `msa-migrate canary`, `cutover` and `rollback`: move a domain's traffic,
//! every change audited with who, when and why.
//!
//! Changes go to the state store the proxies follow (`--state FILE|DSN`), or
//! through a proxy's admin API (`--admin URL`). The canary controller keeps
//! its walk in the store (record `canary/DOMAIN`), so a killed controller
//! resumes it, and holds the store's lock `canary/DOMAIN` while it runs.

mod canary;
mod control;
mod controller;
mod cutover;
mod domain;
mod judge;
mod record;
mod target;

use msa_playbook::canary::percent;
use msa_proxy::Stage;

pub(crate) use canary::canary;
pub(crate) use cutover::{cutover, rollback};

/// Who the audit names: `--actor`, else `$USER`.
fn actor(given: Option<&String>) -> String {
    given
        .cloned()
        .or_else(|| std::env::var("USER").ok())
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

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
