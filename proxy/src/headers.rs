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

// Names as constants: `HeaderName::from_static` checks its argument each time
// it runs, and this module runs for every request.
const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
/// Marks a mirrored request; only the proxy can set it.
pub(crate) const SHADOW_MARKER: HeaderName = HeaderName::from_static("x-msa-shadow");

static HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    KEEP_ALIVE,
    PROXY_CONNECTION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHORIZATION,
];

/// The headers this proxy adds to a request on its way upstream, worked out
/// once. They are kept out of the request's map: the direct HTTP/1.1 path
/// writes them after the map's, which spares growing the map (a rehash) and
/// five insertions per request; other paths [`apply`](Added::apply) them.
#[derive(Debug, Clone)]
pub(crate) struct Added {
    forwarded_for: HeaderValue,
    proto: HeaderValue,
    host: Option<HeaderValue>,
    request_id: Option<Value>,
    traceparent: Option<Value>,
    /// Whether this is the copy of a request mirrored to a new service.
    shadow: bool,
}

/// An added header's value: one this proxy made up is kept as its bytes,
/// since most are only written into an upstream's request head and a
/// `HeaderValue` would cost a copy to the heap, checked byte by byte.
#[derive(Debug, Clone)]
enum Value {
    /// Lowercase hex digits and dashes, `len` of them.
    Made {
        bytes: [u8; TRACEPARENT_LEN],
        len: u8,
    },
    Given(HeaderValue),
}

/// `00-{32 hex}-{16 hex}-{2 hex}`.
const TRACEPARENT_LEN: usize = 55;

impl Value {
    fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Made { bytes, len } => &bytes[..usize::from(*len)],
            Self::Given(value) => value.as_bytes(),
        }
    }

    fn to_header_value(&self) -> HeaderValue {
        match self {
            Self::Made { .. } => value_of(self.as_bytes()),
            Self::Given(value) => value.clone(),
        }
    }
}

impl Added {
    /// Each added header, by name, as the bytes of its value.
    pub(crate) fn each(&self) -> impl Iterator<Item = (HeaderName, &[u8])> {
        [
            (X_FORWARDED_FOR, Some(self.forwarded_for.as_bytes())),
            (X_FORWARDED_PROTO, Some(self.proto.as_bytes())),
            (
                X_FORWARDED_HOST,
                self.host.as_ref().map(HeaderValue::as_bytes),
            ),
            (X_REQUEST_ID, self.request_id.as_ref().map(Value::as_bytes)),
            (TRACEPARENT, self.traceparent.as_ref().map(Value::as_bytes)),
            (SHADOW_MARKER, self.shadow.then_some(b"1".as_slice())),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((name, value?)))
    }

    /// Puts them into a request's headers.
    pub(crate) fn apply(&self, headers: &mut HeaderMap) {
        headers.insert(X_FORWARDED_FOR, self.forwarded_for.clone());
        headers.insert(X_FORWARDED_PROTO, self.proto.clone());
        if let Some(host) = &self.host {
            headers.insert(X_FORWARDED_HOST, host.clone());
        }
        if let Some(id) = &self.request_id {
            headers.insert(X_REQUEST_ID, id.to_header_value());
        }
        if let Some(traceparent) = &self.traceparent {
            headers.insert(TRACEPARENT, traceparent.to_header_value());
        }
        if self.shadow {
            headers.insert(SHADOW_MARKER, HeaderValue::from_static("1"));
        }
    }

    /// The same headers with the shadow marker, for a mirrored copy.
    pub(crate) fn for_mirror(&self) -> Self {
        Self {
            shadow: true,
            ..self.clone()
        }
    }

    /// Sends `traceparent` upstream in place of the request's own or the one
    /// made up for it (the proxy's span is the upstream's parent).
    pub(crate) fn set_traceparent(&mut self, headers: &mut HeaderMap, traceparent: HeaderValue) {
        if headers.contains_key(&TRACEPARENT) {
            headers.remove(&TRACEPARENT);
        }
        self.traceparent = Some(Value::Given(traceparent));
    }
}

/// A request's `traceparent` when it is valid: trace id, parent id, flags.
pub(crate) fn traceparent_of(headers: &HeaderMap) -> Option<(u128, u64, u8)> {
    let value = headers.get(&TRACEPARENT)?.to_str().ok()?;
    if !valid_traceparent(value) {
        return None;
    }
    let trace = u128::from_str_radix(value.get(3..35)?, 16).ok()?;
    let parent = u64::from_str_radix(value.get(36..52)?, 16).ok()?;
    let flags = u8::from_str_radix(value.get(53..55)?, 16).ok()?;
    Some((trace, parent, flags))
}

/// `00-{trace}-{parent}-{flags}`.
pub(crate) fn traceparent(trace: u128, parent: u64, flags: u8) -> HeaderValue {
    let mut value = *b"00-00000000000000000000000000000000-0000000000000000-00";
    hex(trace, &mut value[3..35]);
    hex(u128::from(parent), &mut value[36..52]);
    hex(u128::from(flags), &mut value[53..55]);
    value_of(&value)
}

/// Prepares a client request's headers for an upstream: what must not pass is
/// removed, and what the proxy adds is returned. `authority` is the request
/// target's, the host of a client that sends no `Host` (HTTP/2).
pub(crate) fn to_upstream(
    headers: &mut HeaderMap,
    authority: Option<&http::uri::Authority>,
    client: IpAddr,
    scheme: &'static str,
) -> Added {
    // One pass over the request's headers finds whether anything must go;
    // most requests carry nothing to remove, and every lookup costs a hash.
    let mut must_strip = false;
    let mut host = None;
    let mut has_request_id = false;
    let mut trace = None;
    for (name, value) in headers.iter() {
        if name == header::HOST {
            host.get_or_insert_with(|| value.clone());
        } else if name == X_REQUEST_ID {
            has_request_id = true;
        } else if name == TRACEPARENT {
            trace.get_or_insert_with(|| value.to_str().is_ok_and(valid_traceparent));
        } else {
            let bytes = name.as_str().as_bytes();
            must_strip |= is_hop_by_hop(bytes)
                || bytes.starts_with(INTERNAL_PREFIX.as_bytes())
                || name == X_FORWARDED_FOR
                || name == X_FORWARDED_PROTO
                || name == X_FORWARDED_HOST;
        }
    }
    if must_strip || trace == Some(false) {
        return strip_for_upstream(headers, authority, client, scheme);
    }
    Added {
        forwarded_for: client_value(client),
        proto: HeaderValue::from_static(scheme),
        host: host.or_else(|| authority_value(authority)),
        request_id: (!has_request_id).then(new_request_id),
        traceparent: trace.is_none().then(new_traceparent),
        shadow: false,
    }
}

/// [`to_upstream`] for a request that carries headers which must not pass.
fn strip_for_upstream(
    headers: &mut HeaderMap,
    authority: Option<&http::uri::Authority>,
    client: IpAddr,
    scheme: &'static str,
) -> Added {
    remove_hop_by_hop(headers);
    if headers
        .keys()
        .any(|name| name.as_str().starts_with(INTERNAL_PREFIX))
    {
        let internal: Vec<HeaderName> = headers
            .keys()
            .filter(|name| name.as_str().starts_with(INTERNAL_PREFIX))
            .cloned()
            .collect();
        for name in internal {
            headers.remove(&name);
        }
    }

    // What a client says of the forwarding is replaced, never passed on.
    let forwarded_for = match headers
        .remove(&X_FORWARDED_FOR)
        .as_ref()
        .map(HeaderValue::to_str)
    {
        Some(Ok(earlier)) => HeaderValue::from_str(&format!("{earlier}, {client}"))
            .unwrap_or_else(|_| client_value(client)),
        _ => client_value(client),
    };
    if headers.contains_key(&X_FORWARDED_PROTO) {
        headers.remove(&X_FORWARDED_PROTO);
    }
    if headers.contains_key(&X_FORWARDED_HOST) {
        headers.remove(&X_FORWARDED_HOST);
    }
    let host = headers
        .get(header::HOST)
        .cloned()
        .or_else(|| authority_value(authority));
    let request_id = (!headers.contains_key(&X_REQUEST_ID)).then(new_request_id);
    let valid_trace = headers
        .get(&TRACEPARENT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(valid_traceparent);
    let traceparent = (!valid_trace).then(|| {
        headers.remove(&TRACEPARENT);
        new_traceparent()
    });
    Added {
        forwarded_for,
        proto: HeaderValue::from_static(scheme),
        host,
        request_id,
        traceparent,
        shadow: false,
    }
}

fn authority_value(authority: Option<&http::uri::Authority>) -> Option<HeaderValue> {
    authority.and_then(|authority| HeaderValue::from_str(authority.as_str()).ok())
}

fn new_request_id() -> Value {
    let mut bytes = [0_u8; TRACEPARENT_LEN];
    hex(fastrand::u128(..), &mut bytes[..32]);
    Value::Made { bytes, len: 32 }
}

/// `00-{trace id}-{parent id}-01`; ids must not be all zeros (W3C trace
/// context), hence the `| 1`.
fn new_traceparent() -> Value {
    let mut bytes = *b"00-00000000000000000000000000000000-0000000000000000-01";
    hex(fastrand::u128(..) | 1, &mut bytes[3..35]);
    hex(u128::from(fastrand::u64(..) | 1), &mut bytes[36..52]);
    Value::Made {
        bytes,
        len: TRACEPARENT_LEN as u8,
    }
}

/// The client's address as a header value. Consecutive requests mostly come
/// from one address (a connection's, a load balancer's), so the last one is
/// kept rather than formatted again.
fn client_value(client: IpAddr) -> HeaderValue {
    thread_local! {
        static LAST: std::cell::RefCell<Option<(IpAddr, HeaderValue)>> =
            const { std::cell::RefCell::new(None) };
    }
    LAST.with_borrow_mut(|last| match last {
        Some((ip, value)) if *ip == client => value.clone(),
        _ => {
            let value = value_of(client.to_string().as_bytes());
            *last = Some((client, value.clone()));
            value
        }
    })
}

/// Lowercase hex of `value`'s low bytes, filling `out` (an even number of
/// digits, at most 32), a byte at a time.
fn hex(value: u128, out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let bytes = value.to_be_bytes();
    let low = &bytes[bytes.len() - out.len() / 2..];
    for (pair, byte) in out.chunks_exact_mut(2).zip(low) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0xf)];
    }
}

/// A header value from bytes this module wrote, which are always valid.
fn value_of(bytes: &[u8]) -> HeaderValue {
    HeaderValue::from_bytes(bytes).expect("hex digits, dashes and addresses are valid header bytes")
}

/// Whether a header name (any case) is hop-by-hop. Every message's every
/// header is asked, so the length decides first.
pub(crate) fn is_hop_by_hop(name: &[u8]) -> bool {
    let is = |hop: &str| name.eq_ignore_ascii_case(hop.as_bytes());
    match name.len() {
        2 => is("te"),
        7 => is("trailer") || is("upgrade"),
        10 => is("connection") || is("keep-alive"),
        16 => is("proxy-connection"),
        17 => is("transfer-encoding"),
        19 => is("proxy-authorization"),
        _ => false,
    }
}

/// Prepares an upstream response's headers for the client.
pub(crate) fn to_client(headers: &mut HeaderMap) {
    remove_hop_by_hop(headers);
}

/// Writes one header as an HTTP/1.1 line: `name: value` and CRLF.
pub(crate) fn write_line(out: &mut Vec<u8>, name: &HeaderName, value: &[u8]) {
    out.extend_from_slice(name.as_str().as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Appends this proxy to the `Via` chain (RFC 9110 §7.6.3).
pub(crate) fn add_via(headers: &mut HeaderMap) {
    headers.append(header::VIA, HeaderValue::from_static("1.1 msa-migrate"));
}

fn remove_hop_by_hop(headers: &mut HeaderMap) {
    // One pass over the names finds which are here; most messages carry none,
    // and a removal costs a lookup.
    let present = headers
        .keys()
        .filter(|name| is_hop_by_hop(name.as_str().as_bytes()))
        .fold(0_u16, |found, name| {
            found
                | HOP_BY_HOP
                    .iter()
                    .position(|h| h == name)
                    .map_or(0, |i| 1 << i)
        });
    if present == 0 {
        return;
    }
    if present & 1 != 0 {
        // Headers that `Connection` names end here too (`close` and
        // `keep-alive` name nothing else).
        let named: Vec<HeaderName> = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|token| !is_hop_by_hop(token.as_bytes()) && headers.contains_key(*token))
            .filter_map(|token| HeaderName::from_bytes(token.as_bytes()).ok())
            .collect();
        for name in named {
            headers.remove(name);
        }
    }
    for (i, name) in HOP_BY_HOP.iter().enumerate() {
        if present & (1 << i) != 0 {
            headers.remove(name);
        }
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
        to_upstream(&mut headers, None, "10.0.0.7".parse().unwrap(), "http").apply(&mut headers);
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
    fn the_lines_written_upstream_say_what_a_map_would_hold() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("shop.example"));
        let added = to_upstream(&mut headers, None, "10.0.0.7".parse().unwrap(), "http");
        let mut applied = HeaderMap::new();
        added.apply(&mut applied);
        let written: Vec<(HeaderName, &[u8])> = added.each().collect();
        assert_eq!(written.len(), 5, "{written:?}");
        for (name, value) in &written {
            assert_eq!(applied[name].as_bytes(), *value, "{name}");
        }
        let id = applied[&X_REQUEST_ID].to_str().unwrap();
        assert!(
            id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "{id}"
        );
        assert!(valid_traceparent(applied[&TRACEPARENT].to_str().unwrap()));
        assert_ne!(
            to_upstream(&mut headers, None, "10.0.0.7".parse().unwrap(), "http")
                .each()
                .find(|(name, _)| name == X_REQUEST_ID)
                .map(|(_, id)| id.to_vec()),
            Some(id.as_bytes().to_vec()),
            "every request gets an id of its own"
        );
        // A mirrored copy carries the same headers and the marker, both ways.
        let copy = added.for_mirror();
        let mut applied_to_copy = HeaderMap::new();
        copy.apply(&mut applied_to_copy);
        let written_for_copy: Vec<(HeaderName, &[u8])> = copy.each().collect();
        assert_eq!(written_for_copy[..5], written[..], "the same id and trace");
        assert_eq!(written_for_copy[5], (SHADOW_MARKER, b"1".as_slice()));
        assert_eq!(applied_to_copy.len(), 6);
        assert_eq!(applied_to_copy[SHADOW_MARKER], "1");
    }

    #[test]
    fn a_traceparent_reads_back_as_it_was_written() {
        let value = traceparent(
            0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736,
            0x00f0_67aa_0ba9_02b7,
            1,
        );
        assert_eq!(
            value,
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        );
        let mut headers = HeaderMap::new();
        headers.insert("traceparent", value);
        assert_eq!(
            traceparent_of(&headers),
            Some((
                0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736,
                0x00f0_67aa_0ba9_02b7,
                1
            ))
        );
        headers.insert(
            "traceparent",
            HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"),
        );
        assert_eq!(
            traceparent_of(&headers),
            None,
            "an all-zero parent id is invalid"
        );
    }

    #[test]
    fn a_valid_traceparent_is_kept_and_a_bad_one_replaced() {
        let good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let mut headers = HeaderMap::new();
        headers.insert("traceparent", HeaderValue::from_static(good));
        to_upstream(&mut headers, None, "127.0.0.1".parse().unwrap(), "https").apply(&mut headers);
        assert_eq!(headers["traceparent"], good);

        let mut headers = HeaderMap::new();
        headers.insert(
            "traceparent",
            HeaderValue::from_static("00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
        );
        to_upstream(&mut headers, None, "127.0.0.1".parse().unwrap(), "https").apply(&mut headers);
        assert_ne!(
            headers["traceparent"],
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01"
        );
    }

    /// Requests with nothing to strip take the one-pass path: the same
    /// headers must come out of it as out of the stripping one.
    #[test]
    fn a_clean_request_keeps_its_ids_and_gains_the_forwarding_headers() {
        let id = "client-chosen-id";
        let good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("shop.example"));
        headers.insert("x-request-id", HeaderValue::from_static(id));
        headers.insert("traceparent", HeaderValue::from_static(good));
        headers.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        let added = to_upstream(&mut headers, None, "10.0.0.7".parse().unwrap(), "http");
        assert_eq!(headers.len(), 4, "nothing of a clean request is removed");
        added.apply(&mut headers);
        assert_eq!(headers["x-request-id"], id);
        assert_eq!(headers["traceparent"], good);
        assert_eq!(headers["x-forwarded-for"], "10.0.0.7");
        assert_eq!(headers["x-forwarded-host"], "shop.example");

        // No Host (HTTP/2): the request target's authority stands in.
        let mut headers = HeaderMap::new();
        let authority = http::uri::Authority::from_static("api.example:8443");
        to_upstream(
            &mut headers,
            Some(&authority),
            "10.0.0.7".parse().unwrap(),
            "https",
        )
        .apply(&mut headers);
        assert_eq!(headers["x-forwarded-host"], "api.example:8443");
        assert_eq!(headers["x-forwarded-proto"], "https");
        assert_eq!(headers["x-request-id"].len(), 32);
        assert!(valid_traceparent(headers["traceparent"].to_str().unwrap()));
    }
}
