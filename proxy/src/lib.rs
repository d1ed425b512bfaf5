//! The strangler proxy: routing, canary split, shadow mirror, fallback, admin API, metrics.
//!
//! Nothing is implemented here yet: this crate is built under issue #3.
//! It exists now so that the workspace has its final shape and every later
//! change lands in the crate that owns the concern.
