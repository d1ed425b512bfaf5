//! Data copy, verification and catch-up sync between the monolith's database and a service's own.
//!
//! Nothing is implemented here yet: this crate is built under issue #6.
//! It exists now so that the workspace has its final shape and every later
//! change lands in the crate that owns the concern.
