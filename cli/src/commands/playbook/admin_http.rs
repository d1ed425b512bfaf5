//! A GET from the proxy's admin API over a plain `TcpStream`, for the raw
//! `/routes` JSON and `/metrics` text that readiness reads: blocking, so it
//! needs no runtime.

use std::io::{Read, Write};
use std::time::Duration;

use anyhow::{Context, bail};

/// GET `path` from a plain-HTTP admin API (`http://host:port[/base]`), with
/// timeouts; the body of a 200 answer.
pub(super) fn http_get(base: &str, path: &str) -> anyhow::Result<String> {
    let rest = base.strip_prefix("http://").with_context(|| {
        format!("--admin {base}: write the admin API's plain-HTTP URL, e.g. http://127.0.0.1:9901")
    })?;
    let (authority, prefix) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
    let prefix = prefix.trim_end_matches('/');
    let target = if prefix.is_empty() {
        path.to_owned()
    } else {
        format!("/{prefix}{path}")
    };
    let url = format!("{}{path}", base.trim_end_matches('/'));
    let address = std::net::ToSocketAddrs::to_socket_addrs(authority)
        .with_context(|| format!("--admin {base}: cannot resolve {authority}"))?
        .next()
        .with_context(|| format!("--admin {base}: {authority} has no address"))?;
    let timeout = Duration::from_secs(10);
    let mut stream = std::net::TcpStream::connect_timeout(&address, timeout)
        .with_context(|| format!("cannot connect to the proxy's admin API at {base}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "GET {target} HTTP/1.0\r\nHost: {authority}\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    )
    .with_context(|| format!("cannot send GET {url}"))?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .with_context(|| format!("no answer to GET {url}"))?;
    let raw =
        String::from_utf8(raw).with_context(|| format!("GET {url}: the answer is not UTF-8"))?;
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .with_context(|| format!("GET {url}: not an HTTP answer"))?;
    let status = head.split_whitespace().nth(1).unwrap_or_default();
    if status != "200" {
        bail!(
            "GET {url} answered {status}: {}",
            body.chars().take(200).collect::<String>()
        );
    }
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase().starts_with("transfer-encoding:")
            && l.to_ascii_lowercase().contains("chunked")
    });
    Ok(if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    })
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16)
        else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_are_joined() {
        assert_eq!(
            dechunk("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
            "hello world"
        );
    }
}
