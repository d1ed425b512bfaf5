//! The legacy-commerce monolith and the coupon service extracted from it.
//!
//! Both are real HTTP servers on a real database (SQLite, PostgreSQL or MariaDB)
//! that the rest of msa-migrate is tested against: the proxy routes between
//! them, shadow-compare diffs their answers, backfill moves the coupon tables
//! from one schema to the other.

pub mod kit;

// The services live in their own folders (see Cargo.toml) and are compiled here
// so the demo and the tests can run them in-process too.
#[path = "../legacy-commerce/src/mod.rs"]
pub mod legacy_commerce;

#[path = "../coupon-service/src/mod.rs"]
pub mod coupon_service;
