//! The async runtime the blocking commands start for their async parts.

use anyhow::Context;

/// A single-threaded runtime: a command drives one thing at a time.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}
