//! End-to-end tests: what the README promises, run the way a person runs it,
//! with the workspace's binaries as real processes.

mod analyze;
mod data;
mod data_playbook;
mod demo;
mod deploy;
mod playbook;
mod playbook_proxy;
mod proxy;
mod readme;
mod rollout;
mod support;
