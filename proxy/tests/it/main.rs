//! The proxy over real sockets: an in-process proxy between real HTTP clients
//! and recording upstreams on loopback.

mod faults;
mod operations;
mod routing;
mod shadow;
mod store;
mod support;
mod telemetry;
mod tls;
