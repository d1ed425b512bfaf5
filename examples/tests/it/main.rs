//! Contract tests: the monolith and the coupon service as real processes on
//! loopback, each test on a fresh SQLite file, PostgreSQL database and MariaDB
//! database, asserting status codes and bodies.

mod coupon_service;
mod monolith;
mod support;
