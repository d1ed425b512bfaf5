//! Integration tests: the monolith's and the coupon service's real answers
//! (see docs/examples.md), compared through the public API only.

mod content;
mod coupons;
mod decoding;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue};
use msa_shadow_compare::{Exchange, RuleSet, Rules};

/// A 200 response with these headers and body.
pub(crate) fn exchange(
    headers: &[(&'static str, &'static str)],
    body: impl Into<Bytes>,
) -> Exchange {
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        map.append(*k, HeaderValue::from_static(v));
    }
    Exchange::new(200, map, body)
}

/// A JSON answer as the example services send it.
pub(crate) fn json(body: &serde_json::Value) -> Exchange {
    exchange(&[("content-type", "application/json")], body.to_string())
}

pub(crate) fn strict() -> RuleSet {
    Rules::default().resolve().unwrap()
}
