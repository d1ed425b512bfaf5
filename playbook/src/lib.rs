//! Playbook schema and validation, readiness verdicts and canary judgement:
//! pure logic, no I/O.
//!
//! ```
//! let text = "domain: coupon\nowner: team-coupon\nupstream: coupon\nroutes:\n  - name: coupon-read\n    methods: [GET]\n    path: /api/coupons/{id}\n";
//! let playbook = msa_playbook::parse("coupon.yaml", text).unwrap();
//! assert_eq!(playbook.routes[0].name, "coupon-read");
//!
//! let problems = msa_playbook::parse("bad.yaml", "domain: Coupon\nowner: ''\nupstream: coupon\nroutes: []\n").unwrap_err();
//! assert_eq!(problems.len(), 3); // every problem at once, each with its line
//! assert_eq!(problems[0].to_string(), "bad.yaml:1: domain: `Coupon` is not a domain name: lowercase letters, digits, `-` and `_`, starting with a letter, e.g. `coupon`");
//! ```
//!
//! [`readiness::judge`] turns a playbook and the evidence the caller gathered
//! into a [`readiness::Verdict`]; [`stats`] holds the tests it relies on.

pub mod canary;
pub mod mapping;
pub mod verdict;

mod model;
mod parse;
mod raw;
pub mod readiness;
mod shape;
pub mod stats;

pub use model::{
    CanaryPolicy, CouplingGate, DataConfig, Dsn, GateFlag, Gates, Mode, PerformanceGate, Playbook,
    RollbackPolicy, Route, ShadowPolicy, StageGate,
};
pub use parse::{Problem, parse};

/// The playbook's JSON Schema (draft 2020-12), generated from the types
/// `parse` reads; `playbooks/playbook.schema.json` is this, pretty-printed.
pub fn schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(raw::RawPlaybook)).expect("a schema is JSON")
}

/// [`schema`] as the text committed in `playbooks/playbook.schema.json`.
pub fn schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&schema()).expect("a schema is JSON");
    text.push('\n');
    text
}
