//! The canary split: which side a user is on, decided the same way by every
//! replica, with no shared state.
//!
//! A stable hash of (route seed, user key) puts each user in one of 10,000
//! buckets; buckets below the weight in basis points go to the new service.
//! So a user stays on one side while the weight holds, raising the weight only
//! moves users from legacy to new, and routes with the same seed (by default,
//! the same upstream) put a user on the same side for the whole domain.

use std::net::IpAddr;

use http::HeaderMap;
use xxhash_rust::xxh3::xxh3_64_with_seed;

/// What identifies a user for stickiness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StickyKey {
    /// A request header, e.g. `X-User-Id`.
    Header(http::HeaderName),
    /// A cookie, e.g. `session`.
    Cookie(String),
    /// The client's IP address as the proxy sees it.
    ClientIp,
}

impl StickyKey {
    /// Parses `header:NAME`, `cookie:NAME` or `client_ip`.
    pub fn parse(text: &str) -> Option<Self> {
        match text.split_once(':') {
            Some(("header", name)) => http::HeaderName::from_bytes(name.trim().as_bytes())
                .ok()
                .map(Self::Header),
            Some(("cookie", name)) if !name.trim().is_empty() => {
                Some(Self::Cookie(name.trim().to_owned()))
            }
            None if text == "client_ip" => Some(Self::ClientIp),
            _ => None,
        }
    }

    /// The user's key in this request; the client IP when the header or cookie is absent.
    pub fn extract(&self, headers: &HeaderMap, client: IpAddr) -> Vec<u8> {
        let found = match self {
            Self::Header(name) => headers.get(name).map(|v| v.as_bytes().to_vec()),
            Self::Cookie(name) => cookie(headers, name),
            Self::ClientIp => None,
        };
        found.unwrap_or_else(|| client.to_string().into_bytes())
    }
}

/// The user's bucket, 0..10,000.
pub fn bucket(seed: &str, key: &[u8]) -> u16 {
    let seed = xxh3_64_with_seed(seed.as_bytes(), 0);
    (xxh3_64_with_seed(key, seed) % 10_000) as u16
}

/// Whether the user goes to the new service at this weight.
pub fn to_new(weight_bp: u16, seed: &str, key: &[u8]) -> bool {
    bucket(seed, key) < weight_bp
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<Vec<u8>> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.as_bytes().to_vec())
}

#[cfg(test)]
mod tests;
