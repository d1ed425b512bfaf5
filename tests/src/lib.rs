//! End-to-end tests across crates, against real processes and databases.
//!
//! Nothing is implemented here yet: this crate is built under issue #8.
//! It exists now so that the workspace has its final shape and every later
//! change lands in the crate that owns the concern.
