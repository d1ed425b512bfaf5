//! The strangler proxy in front of the monolith.
//!
//! Every request no route claims goes to the monolith (the `legacy` upstream).
//! A claimed route is served by legacy, by the new service for a sticky share
//! of users (canary), or by the new service only (cutover, optionally falling
//! back to legacy). See `docs/proxy.md` for the configuration.
//!
//! Route stages are runtime state kept in a [`state::StateStore`] and changed
//! through the admin API; the configuration reloads without dropping requests.

mod admin;
pub mod body;
mod compare;
pub mod config;
mod deadline;
mod domains;
mod forward;
mod guard;
mod headers;
mod hints;
mod live;
pub mod metrics;
pub mod noise;
mod routes;
mod server;
pub mod shadow;
pub mod shadow_results;
mod shadow_skips;
pub mod shadow_store;
pub mod split;
pub mod state;
mod telemetry;
pub mod tls;
mod upstream;

pub use config::{ConfigError, ProxyConfig, Stage};
pub use forward::Proxy;
pub use live::{Live, StageError, StartError};
pub use server::{Server, shutdown_signal};
