//! `msa-migrate plan`, `playbook check` and `readiness`: the playbook crate
//! decides; this module reads files, the proxy, the databases and the
//! analysis, and prints.

mod admin_http;
mod check;
mod evidence;
mod files;
mod log;
mod plan;
mod readiness;
mod render;

pub(crate) use check::check;
pub(crate) use evidence::Sources;
pub(crate) use files::{InvalidPlaybook, load, parse};
pub(crate) use plan::plan;
pub(crate) use readiness::{domain_ready, readiness};
