use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use futures::FutureExt;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

const BOTH_LENGTHS: &str =
    "the request has both Content-Length and Transfer-Encoding; send only one";
const BARE_LF: &str = "the request head has a bare LF line ending; end every line with CR LF";

/// Text in a body that would break both rules if it were read as a head.
const BODY_TRAP: &str =
    "hello\nGET /smuggled HTTP/1.1\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n";

/// A client stream that hands out one scripted piece per read and records
/// what is written to it.
#[derive(Debug, Default)]
struct Script {
    reads: VecDeque<Vec<u8>>,
    written: Vec<u8>,
}

impl Script {
    fn new(input: &[u8], piece: usize) -> Self {
        Self {
            reads: input.chunks(piece).map(<[u8]>::to_vec).collect(),
            written: Vec::new(),
        }
    }
}

impl AsyncRead for Script {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(mut next) = self.reads.pop_front() {
            let n = next.len().min(buf.remaining());
            buf.put_slice(&next[..n]);
            if n < next.len() {
                self.reads.push_front(next.split_off(n));
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Script {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.written.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// What hyper would read, and what the client got back.
#[derive(Debug, PartialEq)]
struct Outcome {
    read: Vec<u8>,
    answered: Vec<u8>,
}

/// Feeds `input` through the guard in reads of `piece` bytes, reading to the end.
async fn run(input: &[u8], piece: usize) -> Outcome {
    let mut guarded = guard(Script::new(input, piece));
    let mut read = Vec::new();
    guarded
        .read_to_end(&mut read)
        .await
        .expect("a script never fails");
    Outcome {
        read,
        answered: guarded.inner.written,
    }
}

/// Whole, then one byte at a time, then in odd pieces: all must agree.
async fn run_split(input: &[u8]) -> Outcome {
    let whole = run(input, input.len().max(1)).await;
    for piece in [1, 2, 7] {
        assert_eq!(run(input, piece).await, whole, "in pieces of {piece}");
    }
    whole
}

fn position(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
        .expect("the needle is in the haystack")
}

fn assert_refusal(answered: &[u8], message: &str) {
    let text = std::str::from_utf8(answered).expect("the answer is text");
    let (head, body) = text.split_once("\r\n\r\n").expect("the answer has a head");
    assert_eq!(
        head,
        format!(
            "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: {}",
            body.len()
        )
    );
    let body: serde_json::Value = serde_json::from_str(body).expect("the body is JSON");
    assert_eq!(
        body,
        json!({ "error": { "code": "MALFORMED_REQUEST", "message": message, "source": "proxy" } })
    );
}

fn post_with_length(body: &str) -> Vec<u8> {
    format!(
        "POST /api/coupons HTTP/1.1\r\nHost: shop.example.com\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A chunked POST with chunk extensions, a chunk size in lower case, and trailers.
fn post_chunked() -> Vec<u8> {
    let mut request = b"POST /api/coupons/1/issue HTTP/1.1\r\nHost: shop.example.com\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    let data = [(BODY_TRAP, ";name=value"), ("\n\n\r\n", " ; a=1;b=\"x\"")];
    for (data, extension) in data {
        request.extend_from_slice(format!("{:x}{extension}\r\n{data}\r\n", data.len()).as_bytes());
    }
    request.extend_from_slice(b"0;last\r\nExpires: never\r\nX-Checksum: abc\r\n\r\n");
    request
}

const GET: &[u8] = b"GET /api/coupons/1 HTTP/1.1\r\nHost: shop.example.com\r\nAccept: */*\r\n\r\n";

fn keep_alive_sequence() -> Vec<u8> {
    [GET, &post_with_length(BODY_TRAP), &post_chunked(), GET].concat()
}

#[tokio::test]
async fn a_keep_alive_sequence_passes_through_byte_for_byte() {
    let input = keep_alive_sequence();
    let outcome = run_split(&input).await;
    assert_eq!(outcome.read, input);
    assert_eq!(outcome.answered, b"");
}

#[tokio::test]
async fn bodies_are_not_inspected() {
    // Both bodies hold a bare LF and a head with both lengths, and a refused
    // head comes last: a scanner that lost the framing, or stopped scanning,
    // would refuse too early or not at all.
    let refused = b"GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n";
    for body in [post_with_length(BODY_TRAP), post_chunked()] {
        let input = [&body, GET, refused].concat();
        let outcome = run_split(&input).await;
        assert_eq!(outcome.read, [&body, GET, &refused[..23]].concat());
        assert_refusal(&outcome.answered, BARE_LF);
    }
}

#[tokio::test]
async fn content_length_and_transfer_encoding_together_are_refused_in_either_order() {
    let heads: [(&[u8], &[u8]); 2] = [
        (
            b"POST /api/coupons HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            b"Transfer-Encoding",
        ),
        (
            b"POST /api/coupons HTTP/1.1\r\nHost: a\r\ntransfer-encoding: chunked\r\nCONTENT-LENGTH: 5\r\n\r\n0\r\n\r\n",
            b"CONTENT-LENGTH",
        ),
    ];
    for (input, second) in heads {
        let outcome = run_split(input).await;
        // Cut right at the colon of the second header: hyper holds a head it
        // can never finish, then end of input.
        let cut = position(input, second) + second.len();
        assert_eq!(outcome.read, &input[..cut]);
        assert_refusal(&outcome.answered, BOTH_LENGTHS);
    }
}

#[tokio::test]
async fn a_bare_lf_in_the_request_line_is_refused() {
    let input = b"GET /api/coupons/1 HTTP/1.1\nHost: a\r\n\r\n";
    let outcome = run_split(input).await;
    assert_eq!(outcome.read, b"GET /api/coupons/1 HTTP/1.1");
    assert_refusal(&outcome.answered, BARE_LF);
}

#[tokio::test]
async fn a_bare_lf_in_a_header_line_is_refused() {
    let input = b"GET / HTTP/1.1\r\nHost: a\nAccept: */*\r\n\r\n";
    let outcome = run_split(input).await;
    assert_eq!(outcome.read, b"GET / HTTP/1.1\r\nHost: a");
    assert_refusal(&outcome.answered, BARE_LF);
}

#[tokio::test]
async fn a_bare_lf_ending_the_head_is_refused() {
    let input = b"GET / HTTP/1.1\r\nHost: a\r\n\nGET / HTTP/1.1\r\n\r\n";
    let outcome = run_split(input).await;
    assert_eq!(outcome.read, b"GET / HTTP/1.1\r\nHost: a\r\n");
    assert_refusal(&outcome.answered, BARE_LF);
}

#[tokio::test]
async fn requests_before_a_refused_one_reach_hyper() {
    let refused = b"GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n";
    let input = [&keep_alive_sequence(), &refused[..]].concat();
    let outcome = run_split(&input).await;
    assert_eq!(
        outcome.read,
        [&keep_alive_sequence(), &refused[..23]].concat()
    );
    assert_refusal(&outcome.answered, BARE_LF);
}

#[tokio::test]
async fn the_h2_preface_switches_the_guard_off() {
    // A SETTINGS frame, then bytes that would break both rules in HTTP/1.
    let input = [
        &PREFACE[..],
        b"\x00\x00\x06\x04\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00\x64",
        b"GET / HTTP/1.1\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
    ]
    .concat();
    let outcome = run_split(&input).await;
    assert_eq!(outcome.read, input);
    assert_eq!(outcome.answered, b"");
}

#[tokio::test]
async fn a_head_that_only_starts_like_the_preface_is_scanned() {
    let input = b"PRI * HTTP/2.0\r\n\r\nGET / HTTP/1.1\nHost: a\r\n\r\n";
    let outcome = run_split(input).await;
    assert_eq!(outcome.read, b"PRI * HTTP/2.0\r\n\r\nGET / HTTP/1.1");
    assert_refusal(&outcome.answered, BARE_LF);
}

#[tokio::test]
async fn bytes_one_at_a_time_behave_like_bytes_all_at_once() {
    let inputs: [&[u8]; 4] = [
        &keep_alive_sequence(),
        b"GET / HTTP/1.1\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\n\n",
        PREFACE,
    ];
    for input in inputs {
        let whole = run(input, input.len()).await;
        let bytes = run(input, 1).await;
        assert_eq!(bytes, whole, "{}", String::from_utf8_lossy(input));
    }
    // The outcomes differ from one input to the next, so agreeing means something.
    assert_ne!(run(inputs[0], 1).await, run(inputs[1], 1).await);
}

#[tokio::test]
async fn an_upgrade_or_connect_request_does_not_switch_the_guard_off() {
    let smuggled = b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n";
    let firsts: [&[u8]; 2] = [
        b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
        b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n",
    ];
    for first in firsts {
        let input = [first, &smuggled[..]].concat();
        let outcome = run_split(&input).await;
        let cut = first.len() + position(smuggled, b"Transfer-Encoding:") + 17;
        assert_eq!(outcome.read, &input[..cut]);
        assert_refusal(&outcome.answered, BOTH_LENGTHS);
    }
}

#[tokio::test]
async fn a_head_beyond_64_kib_is_still_checked() {
    let padding = "a".repeat(100 * 1024);
    let input = format!("GET / HTTP/1.1\r\nX-Padding: {padding}\r\nHost: a\nX: y\r\n\r\n");
    let outcome = run(input.as_bytes(), 4096).await;
    assert_eq!(
        outcome.read.len(),
        position(input.as_bytes(), b"Host: a\n") + 7
    );
    assert_refusal(&outcome.answered, BARE_LF);
}

#[tokio::test]
async fn empty_lines_before_the_request_line_are_skipped_as_hyper_does() {
    let input = [&b"\r\n\n"[..], GET, b"\r\n", GET].concat();
    let outcome = run_split(&input).await;
    assert_eq!(outcome.read, input);
    assert_eq!(outcome.answered, b"");
}

#[tokio::test]
async fn a_repeated_equal_length_is_followed_like_hyper_folds_it() {
    let input = b"POST / HTTP/1.1\r\nContent-Length: 3\r\ncontent-length:  3 \r\n\r\na\nbGET / HTTP/1.1\nX: y\r\n\r\n";
    let outcome = run_split(input).await;
    assert_eq!(outcome.read, &input[..position(input, b"\nX: y")]);
    assert_refusal(&outcome.answered, BARE_LF);
}

#[tokio::test]
async fn framing_hyper_refuses_ends_the_scanning() {
    // hyper answers 400 to the first head and reads no further; the guard
    // does not second-guess it.
    let inputs: [&[u8]; 2] = [
        b"POST / HTTP/1.1\r\nContent-Length: 5x\r\n\r\nGET / HTTP/1.1\nX: y\r\n\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nGET / HTTP/1.1\nX: y\r\n\r\n",
    ];
    for input in inputs {
        let outcome = run_split(input).await;
        assert_eq!(outcome.read, input);
        assert_eq!(outcome.answered, b"");
    }
}

#[tokio::test]
async fn writes_after_the_refusal_are_discarded() {
    let mut guarded = guard(Script::new(b"GET /\n", 64));
    let mut read = Vec::new();
    guarded
        .read_to_end(&mut read)
        .await
        .expect("a script never fails");
    assert_eq!(read, b"GET /");
    guarded
        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
        .await
        .expect("discarding never fails");
    guarded.shutdown().await.expect("a script never fails");
    assert_refusal(&guarded.inner.written, BARE_LF);
}

#[tokio::test]
async fn the_refusal_waits_until_an_earlier_answer_is_flushed() {
    let mut script = Script::new(b"GET / HTTP/1.1\r\nHost: a", 64);
    script.reads.push_back(b"\nX: y\r\n\r\n".to_vec());
    let mut guarded = guard(script);
    let mut buf = [0; 64];
    let n = guarded.read(&mut buf).await.expect("a script never fails");
    assert_eq!(&buf[..n], b"GET / HTTP/1.1\r\nHost: a");

    // hyper answers an earlier request and has not flushed it yet.
    let earlier = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
    guarded
        .write_all(earlier)
        .await
        .expect("a script never fails");
    assert!(
        guarded.read(&mut buf).now_or_never().is_none(),
        "the refusal must wait"
    );
    assert_eq!(guarded.inner.written, earlier);

    guarded.flush().await.expect("a script never fails");
    assert_eq!(guarded.read(&mut buf).await.expect("refusal written"), 0);
    let (first, refusal) = guarded.inner.written.split_at(earlier.len());
    assert_eq!(first, earlier);
    assert_refusal(refusal, BARE_LF);
}

/// Serves `input` with hyper-util's auto builder over a guarded in-memory
/// connection, as the server does; returns what the client got back and the
/// requests the service saw.
async fn serve(input: &[u8]) -> (String, Vec<String>) {
    let (mut client, server) = tokio::io::duplex(1 << 16);
    let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel();
    let service = service_fn(move |request: Request<Incoming>| {
        let seen = seen_tx.clone();
        async move {
            let (parts, body) = request.into_parts();
            let body = body.collect().await?.to_bytes();
            let _ = seen.send(format!(
                "{} {} {}",
                parts.method,
                parts.uri,
                String::from_utf8_lossy(&body)
            ));
            Ok::<_, hyper::Error>(Response::new(Full::new(Bytes::from(format!(
                "served {}",
                parts.uri
            )))))
        }
    });
    let connection = tokio::spawn(async move {
        let _ = auto::Builder::new(TokioExecutor::new())
            .serve_connection(TokioIo::new(guard(server)), service)
            .await;
    });
    client.write_all(input).await.expect("the server reads");
    let mut answered = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), client.read_to_end(&mut answered))
        .await
        .expect("the server ends the connection")
        .expect("reading from memory");
    connection.await.expect("the connection task ends cleanly");
    let mut seen = Vec::new();
    while let Ok(request) = seen_rx.try_recv() {
        seen.push(request);
    }
    (String::from_utf8(answered).expect("answers are text"), seen)
}

#[tokio::test]
async fn through_hyper_a_keep_alive_sequence_is_served_in_step() {
    let last = b"GET /last HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    let input = [&keep_alive_sequence()[..], last].concat();
    let (answered, seen) = serve(&input).await;
    let trap = BODY_TRAP;
    assert_eq!(
        seen,
        [
            "GET /api/coupons/1 ".to_owned(),
            format!("POST /api/coupons {trap}"),
            format!("POST /api/coupons/1/issue {trap}\n\n\r\n"),
            "GET /api/coupons/1 ".to_owned(),
            "GET /last ".to_owned(),
        ]
    );
    assert_eq!(
        answered.matches("HTTP/1.1 200 OK\r\n").count(),
        5,
        "{answered}"
    );
    assert!(answered.ends_with("served /last"), "{answered}");
}

#[tokio::test]
async fn through_hyper_a_refused_request_gets_one_400_and_is_never_served() {
    let refused: [(&[u8], &str); 2] = [
        (
            b"POST /smuggle HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: a\r\n\r\n",
            BOTH_LENGTHS,
        ),
        (
            b"GET /smuggle HTTP/1.1\r\nHost: a\n\nGET /admin HTTP/1.1\r\nHost: a\r\n\r\n",
            BARE_LF,
        ),
    ];
    for (refused, message) in refused {
        let input = [GET, refused].concat();
        let (answered, seen) = serve(&input).await;
        assert_eq!(seen, ["GET /api/coupons/1 "]);
        let (first, refusal) = answered
            .split_once("served /api/coupons/1")
            .expect("the first request is answered first");
        assert!(first.starts_with("HTTP/1.1 200 OK\r\n"), "{first}");
        assert_refusal(refusal.as_bytes(), message);
    }
}

#[tokio::test]
async fn through_hyper_an_h2_prior_knowledge_connection_is_served() {
    let (client, server) = tokio::io::duplex(1 << 16);
    let service = service_fn(|request: Request<Incoming>| async move {
        let body = request.into_body().collect().await?.to_bytes();
        Ok::<_, hyper::Error>(Response::new(Full::new(body)))
    });
    tokio::spawn(async move {
        let _ = auto::Builder::new(TokioExecutor::new())
            .serve_connection(TokioIo::new(guard(server)), service)
            .await;
    });
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(client))
            .await
            .expect("h2 handshake");
    tokio::spawn(connection);
    let echo = "a\nb\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
    let request = Request::post("http://a/echo")
        .body(Full::new(Bytes::from(echo)))
        .expect("a valid request");
    let response = tokio::time::timeout(Duration::from_secs(10), sender.send_request(request))
        .await
        .expect("answered in time")
        .expect("answered");
    assert_eq!(response.status(), 200);
    let body = response
        .into_body()
        .collect()
        .await
        .expect("a body")
        .to_bytes();
    assert_eq!(body, echo.as_bytes());
}
