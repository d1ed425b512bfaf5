use super::*;

#[test]
fn a_raw_response_is_read_with_its_status_headers_and_body() {
    let saved = b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nX-Thing: a\r\n\r\n{\"error\":1}";
    let exchange = Exchange::parse(saved).unwrap();
    assert_eq!(exchange.status, 404);
    assert_eq!(exchange.headers["x-thing"], "a");
    assert_eq!(&exchange.body[..], b"{\"error\":1}");
}

#[test]
fn a_chunked_body_is_dechunked_and_lf_files_are_accepted() {
    let saved = b"HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n4\r\n{\"a\"\r\n3;ext=1\r\n:1}\r\n0\r\n\r\n";
    let exchange = Exchange::parse(saved).unwrap();
    assert_eq!(&exchange.body[..], b"{\"a\":1}");
    assert!(exchange.headers.get("transfer-encoding").is_none());
}

#[test]
fn a_bare_body_is_a_200_typed_by_its_content() {
    let json = Exchange::parse(b"{\"id\":1}").unwrap();
    assert_eq!(
        (json.status, json.headers["content-type"].to_str().unwrap()),
        (200, "application/json")
    );
    let text = Exchange::parse(b"plain words").unwrap();
    assert!(
        text.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
}

#[test]
fn malformed_saves_say_what_is_wrong() {
    assert_eq!(
        Exchange::parse(b"HTTP/1.1 abc\r\n\r\n").unwrap_err(),
        ParseError::StatusLine("HTTP/1.1 abc".into())
    );
    assert_eq!(
        Exchange::parse(b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n").unwrap_err(),
        ParseError::Header {
            line: 2,
            text: "no colon here".into()
        }
    );
    assert_eq!(
        Exchange::parse(b"HTTP/1.1 200 OK\r\nA: b").unwrap_err(),
        ParseError::NoBlankLine
    );
    assert_eq!(
        Exchange::parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
            .unwrap_err(),
        ParseError::Chunked
    );
}
