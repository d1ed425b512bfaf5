//! The strangler proxy in front of the monolith.
//!
//! Every request no route claims goes to the monolith (the `legacy` upstream).
//! A claimed route is served by legacy, by the new service for a sticky share
//! of users (canary), or by the new service only (cutover, optionally falling
//! back to legacy). See `docs/proxy.md` for the configuration.
//!
//! Built so far: configuration with all errors at once, route table, canary
//! split, cutover with fallback, header hygiene, JSON errors, HTTP/1.1 and
//! HTTP/2 (cleartext) to clients, keep-alive pools to upstreams, graceful
//! shutdown. Not yet: hot reload, admin API and metrics, circuit breaker,
//! TLS, h2 to upstreams, shadow mirroring.

pub mod body;
pub mod config;
mod forward;
mod headers;
mod routes;
mod server;
pub mod split;
mod upstream;

pub use config::{ConfigError, ProxyConfig};
pub use forward::Proxy;
pub use server::{Server, shutdown_signal};
