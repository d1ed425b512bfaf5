//! Playbook schema and validation, readiness verdicts and canary judgement: pure logic, no I/O.
//!
//! Nothing is implemented here yet: this crate is built under issue #7.
//! It exists now so that the workspace has its final shape and every later
//! change lands in the crate that owns the concern.
