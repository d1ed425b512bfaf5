//! Header hygiene between client and upstream.
//!
//! - Hop-by-hop headers (and any the `Connection` header names) end at the proxy.
//! - Headers only the proxy may set (`X-Msa-*`: the shadow marker, stickiness
//!   overrides, …) are stripped from every client request.
//! - `X-Forwarded-For/Proto/Host`, a request id and a W3C `traceparent` are set.

use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// Headers that only the proxy may set; a client's are dropped.
pub(crate) const INTERNAL_PREFIX: &str = "x-msa-";

const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-authorization",
];

/// Prepares a client request's headers for an upstream.
pub(crate) fn to_upstream(headers: &mut HeaderMap, client: IpAddr, scheme: &str) {
    remove_hop_by_hop(headers);
    let internal: Vec<HeaderName> = headers
        .keys()
        .filter(|name| name.as_str().starts_with(INTERNAL_PREFIX))
        .cloned()
        .collect();
    for name in internal {
        headers.remove(&name);
    }

    let forwarded_for = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(earlier) => format!("{earlier}, {client}"),
        None => client.to_string(),
    };
    set(headers, "x-forwarded-for", &forwarded_for);
    set(headers, "x-forwarded-proto", scheme);
    if let Some(host) = headers.get(header::HOST).cloned() {
        headers.insert("x-forwarded-host", host);
    }
    if !headers.contains_key("x-request-id") {
        set(
            headers,
            "x-request-id",
            &format!("{:032x}", fastrand::u128(..)),
        );
    }
    let valid_trace = headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .is_some_and(valid_traceparent);
    if !valid_trace {
        // Ids must not be all zeros (W3C trace context), hence the `| 1`.
        let traceparent = format!(
            "00-{:032x}-{:016x}-01",
            fastrand::u128(..) | 1,
            fastrand::u64(..) | 1
        );
        set(headers, "traceparent", &traceparent);
    }
}

/// Prepares an upstream response's headers for the client.
pub(crate) fn to_client(headers: &mut HeaderMap) {
    remove_hop_by_hop(headers);
}

/// Appends this proxy to the `Via` chain (RFC 9110 §7.6.3).
pub(crate) fn add_via(headers: &mut HeaderMap) {
    headers.append(header::VIA, HeaderValue::from_static("1.1 msa-migrate"));
}

fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named.iter().chain(&HOP_BY_HOP.map(HeaderName::from_static)) {
        headers.remove(name);
    }
}

fn set(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

/// `version-traceid-parentid-flags`, lowercase hex, ids not all zero.
fn valid_traceparent(value: &str) -> bool {
    let parts: Vec<&str> = value.split('-').collect();
    let hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    matches!(parts.as_slice(), [version, trace, parent, flags]
        if hex(version, 2) && *version != "ff" && hex(trace, 32) && hex(parent, 16) && hex(flags, 2)
            && trace.bytes().any(|b| b != b'0') && parent.bytes().any(|b| b != b'0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_cannot_set_internal_or_hop_by_hop_headers() {
        let mut headers = HeaderMap::new();
        headers.insert("x-msa-shadow", HeaderValue::from_static("1"));
        headers.insert("X-Msa-Canary-Override", HeaderValue::from_static("new"));
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-secret"),
        );
        headers.insert("x-secret", HeaderValue::from_static("named by Connection"));
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
        headers.insert(header::HOST, HeaderValue::from_static("shop.example"));
        headers.insert("x-forwarded-for", HeaderValue::from_static("203.0.113.9"));
        to_upstream(&mut headers, "10.0.0.7".parse().unwrap(), "http");
        for gone in [
            "x-msa-shadow",
            "x-msa-canary-override",
            "connection",
            "x-secret",
            "te",
        ] {
            assert!(!headers.contains_key(gone), "{gone} passed");
        }
        assert_eq!(headers["x-forwarded-for"], "203.0.113.9, 10.0.0.7");
        assert_eq!(headers["x-forwarded-proto"], "http");
        assert_eq!(headers["x-forwarded-host"], "shop.example");
        assert_eq!(headers["x-request-id"].len(), 32);
        assert!(valid_traceparent(headers["traceparent"].to_str().unwrap()));
    }

    #[test]
    fn a_valid_traceparent_is_kept_and_a_bad_one_replaced() {
        let good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let mut headers = HeaderMap::new();
        headers.insert("traceparent", HeaderValue::from_static(good));
        to_upstream(&mut headers, "127.0.0.1".parse().unwrap(), "https");
        assert_eq!(headers["traceparent"], good);

        let mut headers = HeaderMap::new();
        headers.insert(
            "traceparent",
            HeaderValue::from_static("00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
        );
        to_upstream(&mut headers, "127.0.0.1".parse().unwrap(), "https");
        assert_ne!(
            headers["traceparent"],
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01"
        );
    }
}
