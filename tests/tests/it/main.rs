//! End-to-end tests: what the README promises, run the way a person runs it,
//! with the workspace's binaries as real processes.

mod proxy;
mod readme;
mod support;
