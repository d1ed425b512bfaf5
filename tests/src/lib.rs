//! End-to-end tests across crates, against real processes and databases.
//!
//! The tests live in `tests/it/`; this library is empty. They find the
//! workspace's binaries in the target directory, which `cargo nextest run
//! --workspace` (the README's test command) builds before any test runs.
