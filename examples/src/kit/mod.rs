//! What both example services share: database access across engines, the JSON
//! error contract, deterministic seed data, timestamps and the server loop.

pub mod api;
pub mod db;
pub mod seed;
pub mod server;
pub mod time;

pub use api::{ApiError, TxError, parse_id, retry_tx, valid_id};
pub use db::{Db, DbError, Engine};
