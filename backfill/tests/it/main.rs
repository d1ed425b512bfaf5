//! Integration tests against real PostgreSQL, MariaDB and SQLite databases,
//! each test on fresh databases dropped afterwards.

mod copy;
mod create_schema;
mod errors;
mod follow;
mod support;
mod throttle;
mod types;
mod verify;
