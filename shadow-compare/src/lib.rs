//! Response normalisation, structural diff, noise learning and aggregation of shadow traffic.
//!
//! Nothing is implemented here yet: this crate is built under issue #4.
//! It exists now so that the workspace has its final shape and every later
//! change lands in the crate that owns the concern.
