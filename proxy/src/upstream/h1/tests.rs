//! The direct HTTP/1.1 exchange against raw upstreams on loopback sockets:
//! what goes on the wire, how each response framing is read, and when a
//! connection goes back to the pool.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, StreamBody};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::{Conn, ResponseBody, Terms, exchange};
use crate::body::{self, ProxyBody};
use crate::upstream::Heads;
use crate::upstream::pool::Pool;

/// A raw upstream: for each accepted connection, reads one request at a time
/// (head and, when it says so, a body of `content-length` bytes or chunked up
/// to its last chunk) and writes the next canned answer. Every request it read
/// goes out on the returned channel, tagged with its connection's number.
/// After its last answer it closes the connection and stops listening.
async fn raw_upstream(
    answers: Vec<&'static [u8]>,
) -> (String, mpsc::UnboundedReceiver<(usize, String)>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (seen, requests) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut answers = answers.into_iter();
        let mut number = 0;
        while let Ok((mut stream, _)) = listener.accept().await {
            number += 1;
            let mut buf = Vec::new();
            loop {
                let Some(request) = read_request(&mut stream, &mut buf).await else {
                    break;
                };
                let _ = seen.send((number, request));
                let Some(answer) = answers.next() else {
                    return;
                };
                stream.write_all(answer).await.unwrap();
                if answers.len() == 0 {
                    return;
                }
            }
        }
    });
    (addr, requests)
}

/// One whole request off the stream, as text; `None` once the client closed.
async fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<String> {
    let complete = |buf: &[u8]| -> Option<usize> {
        let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
        let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
        if let Some(length) = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
        {
            let length: usize = length.trim().parse().unwrap();
            return (buf.len() >= head_end + length).then_some(head_end + length);
        }
        if head.contains("transfer-encoding: chunked") {
            let end = buf[head_end..].windows(5).position(|w| w == b"0\r\n\r\n")?;
            return Some(head_end + end + 5);
        }
        Some(head_end)
    };
    loop {
        if let Some(end) = complete(buf) {
            let request = String::from_utf8_lossy(&buf[..end]).into_owned();
            buf.drain(..end);
            return Some(request);
        }
        let mut chunk = [0_u8; 4096];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn pool() -> Arc<Pool> {
    Arc::new(Pool::new(Duration::from_secs(60), 16))
}

/// Terms with a deadline no test reaches, headers in a map.
fn terms(host: &str) -> Terms<'_> {
    Terms {
        host,
        added: None,
        until: tokio::time::Instant::now() + Duration::from_secs(60),
        heads: Heads::Map,
    }
}

async fn connect(addr: &str) -> Conn {
    Conn::new(TcpStream::connect(addr).await.unwrap())
}

fn get(path: &str) -> (http::request::Parts, ProxyBody) {
    let (parts, ()) = Request::get(path)
        .header("host", "shop.example")
        .body(())
        .unwrap()
        .into_parts();
    (parts, body::empty())
}

/// Sends a request on a new connection (or the pool's) and reads the whole answer.
async fn fetch(
    addr: &str,
    pool: &Arc<Pool>,
    (parts, mut body): (http::request::Parts, ProxyBody),
) -> Result<(http::StatusCode, http::HeaderMap, Bytes), String> {
    let conn = match pool.take() {
        Some(conn) => conn,
        None => connect(addr).await,
    };
    let response = exchange(conn, &parts, &mut body, terms("fallback.host"), pool)
        .await
        .map_err(|err| err.reason)?;
    let (head, body) = response.into_parts();
    let bytes = body
        .collect()
        .await
        .map_err(|err| err.to_string())?
        .to_bytes();
    Ok((head.status, head.headers, bytes))
}

#[tokio::test]
async fn a_sized_answer_is_read_exactly_and_its_connection_reused() {
    let (addr, mut seen) = raw_upstream(vec![
        b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nx-a: 1\r\n\r\nhello",
        b"HTTP/1.1 201 Created\r\ncontent-length: 3\r\n\r\nbye",
    ])
    .await;
    let pool = pool();
    let (status, headers, body) = fetch(&addr, &pool, get("/a?b=1")).await.unwrap();
    assert_eq!((status.as_u16(), &body[..]), (200, &b"hello"[..]));
    assert_eq!(headers["x-a"], "1");
    assert_eq!(pool.idle(), 1, "read to its end: back in the pool");
    let (status, _, body) = fetch(&addr, &pool, get("/c")).await.unwrap();
    assert_eq!((status.as_u16(), &body[..]), (201, &b"bye"[..]));
    let first = seen.recv().await.unwrap();
    let second = seen.recv().await.unwrap();
    assert_eq!(first.0, second.0, "both on one connection");
    assert!(
        first
            .1
            .starts_with("GET /a?b=1 HTTP/1.1\r\nhost: shop.example\r\n"),
        "{}",
        first.1
    );
    assert!(
        !first.1.contains("content-length"),
        "a GET carries no framing"
    );
}

#[tokio::test]
async fn a_chunked_answer_is_decoded_with_extensions_and_trailers() {
    let (addr, _seen) = raw_upstream(vec![
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5;name=x\r\nhello\r\n7\r\n, world\r\n0\r\nx-trailer: 1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
    ])
    .await;
    let pool = pool();
    let (_, _, body) = fetch(&addr, &pool, get("/")).await.unwrap();
    assert_eq!(&body[..], b"hello, world");
    assert_eq!(pool.idle(), 1);
    let (_, _, body) = fetch(&addr, &pool, get("/")).await.unwrap();
    assert_eq!(
        &body[..],
        b"ok",
        "the next answer starts where the chunks ended"
    );
}

#[tokio::test]
async fn an_answer_without_length_runs_to_the_close_and_is_not_reused() {
    let (addr, _seen) = raw_upstream(vec![
        b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nall of it",
    ])
    .await;
    let pool = pool();
    let (_, _, body) = fetch(&addr, &pool, get("/")).await.unwrap();
    assert_eq!(&body[..], b"all of it");
    assert_eq!(pool.idle(), 0);
}

#[tokio::test]
async fn interim_answers_are_skipped_and_head_answers_have_no_body() {
    let (addr, _seen) = raw_upstream(vec![
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n",
        b"HTTP/1.1 204 No Content\r\n\r\n",
    ])
    .await;
    let pool = pool();
    let (status, _, body) = fetch(&addr, &pool, get("/")).await.unwrap();
    assert_eq!((status.as_u16(), &body[..]), (200, &b"ok"[..]));
    let (mut parts, body) = get("/");
    parts.method = http::Method::HEAD;
    let (_, headers, body) = fetch(&addr, &pool, (parts, body)).await.unwrap();
    assert!(body.is_empty());
    assert_eq!(
        headers["content-length"], "1000",
        "passed on as the upstream said"
    );
    let (status, _, _) = fetch(&addr, &pool, get("/")).await.unwrap();
    assert_eq!(status.as_u16(), 204);
    assert_eq!(pool.idle(), 1, "one connection served all three");
}

#[tokio::test]
async fn ambiguous_or_malformed_framing_is_refused_and_never_reused() {
    for answer in [
        &b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\nokk",
        b"HTTP/1.1 200 OK\r\ncontent-length: +2\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked, gzip\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nok\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\nok\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nokXX0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort",
        b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n",
        b"HTTP/1.1 2000 Huge\r\n\r\n",
        b"nonsense\r\n\r\n",
    ] {
        let (addr, _seen) = raw_upstream(vec![answer]).await;
        let pool = pool();
        // After its one answer the upstream closes: "short" ends early.
        let result = fetch(&addr, &pool, get("/")).await;
        assert!(
            result.is_err(),
            "{:?} was accepted: {result:?}",
            String::from_utf8_lossy(answer)
        );
        assert_eq!(pool.idle(), 0, "{:?}", String::from_utf8_lossy(answer));
    }
}

#[tokio::test]
async fn bytes_after_the_answer_or_a_close_keep_the_connection_out_of_the_pool() {
    let (addr, _seen) =
        raw_upstream(vec![b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokEXTRA"]).await;
    let pool = pool();
    let (_, _, body) = fetch(&addr, &pool, get("/")).await.unwrap();
    assert_eq!(&body[..], b"ok");
    assert_eq!(
        pool.idle(),
        0,
        "unasked bytes: the connection is not trusted again"
    );

    let (addr, _seen) = raw_upstream(vec![
        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
    ])
    .await;
    fetch(&addr, &pool, get("/")).await.unwrap();
    assert_eq!(pool.idle(), 0);

    let (addr, _seen) = raw_upstream(vec![b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok"]).await;
    fetch(&addr, &pool, get("/")).await.unwrap();
    assert_eq!(pool.idle(), 0, "HTTP/1.0 without keep-alive closes");
}

#[tokio::test]
async fn a_body_dropped_half_read_closes_its_connection() {
    let (addr, _seen) = raw_upstream(vec![
        b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\nstart",
    ])
    .await;
    let pool = pool();
    let (parts, mut body) = get("/");
    let response = exchange(connect(&addr).await, &parts, &mut body, terms("h"), &pool)
        .await
        .unwrap();
    let mut body: ResponseBody = response.into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(&first[..], b"start");
    drop(body);
    assert_eq!(pool.idle(), 0);
}

#[tokio::test]
async fn a_pooled_connection_the_upstream_closed_is_not_handed_out() {
    let (addr, _seen) = raw_upstream(vec![b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"]).await;
    let pool = pool();
    fetch(&addr, &pool, get("/")).await.unwrap();
    assert_eq!(pool.idle(), 1);
    // The script has no second answer: the upstream closes the connection.
    // Until its FIN arrives the connection is fairly handed out; after, never.
    for _ in 0..200 {
        match pool.take() {
            None => return,
            Some(conn) => pool.put(conn),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("a closed connection kept being handed out");
}

#[tokio::test]
async fn sized_bodies_get_a_length_and_streamed_ones_are_chunked() {
    let (addr, mut seen) = raw_upstream(vec![
        b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
    ])
    .await;
    let pool = pool();
    let post = |body: ProxyBody| {
        let (parts, ()) = Request::post("/api/orders")
            .header("content-length", "999")
            .header("transfer-encoding", "chunked")
            .header("expect", "100-continue")
            .body(())
            .unwrap()
            .into_parts();
        (parts, body)
    };
    fetch(&addr, &pool, post(body::full(r#"{"qty":2}"#)))
        .await
        .unwrap();
    let (_, sized) = seen.recv().await.unwrap();
    assert!(sized.contains("content-length: 9\r\n"), "{sized}");
    assert!(!sized.contains("999") && !sized.contains("chunked") && !sized.contains("expect"));
    assert!(sized.ends_with("\r\n\r\n{\"qty\":2}"), "{sized}");
    assert!(
        sized.contains("host: fallback.host\r\n"),
        "no Host: the given one"
    );

    let frames = futures::stream::iter([
        Ok::<_, crate::body::BodyError>(hyper::body::Frame::data(Bytes::from_static(b"ab"))),
        Ok(hyper::body::Frame::data(Bytes::from_static(b"cde"))),
    ]);
    fetch(&addr, &pool, post(body::boxed(StreamBody::new(frames))))
        .await
        .unwrap();
    let (_, chunked) = seen.recv().await.unwrap();
    assert!(
        chunked.contains("transfer-encoding: chunked\r\n"),
        "{chunked}"
    );
    assert!(
        chunked.ends_with("\r\n\r\n2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n"),
        "{chunked}"
    );

    fetch(&addr, &pool, post(body::empty())).await.unwrap();
    let (_, empty) = seen.recv().await.unwrap();
    assert!(
        empty.contains("content-length: 0\r\n"),
        "a POST says its body is empty: {empty}"
    );
}

#[tokio::test]
async fn headers_asked_for_raw_are_kept_as_sent_and_the_map_left_empty() {
    let (addr, _requests) = raw_upstream(vec![
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: keep-alive, X-Gone\r\nX-Gone: 1\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\n\r\nhi",
    ])
    .await;
    let pool = pool();
    let (parts, mut body) = get("/");
    let raw_terms = Terms {
        heads: Heads::Raw,
        ..terms("h")
    };
    let response = exchange(connect(&addr).await, &parts, &mut body, raw_terms, &pool)
        .await
        .unwrap();
    assert!(response.headers().is_empty());
    let mut body = response.into_body();
    let raw = body.take_raw().expect("the lines are kept");
    let mut written = Vec::new();
    raw.write(&mut written, false);
    assert_eq!(
        String::from_utf8(written).unwrap(),
        "content-type: text/plain\r\ncontent-length: 2\r\n",
        "hop-by-hop headers and those `Connection` names are left out"
    );
    let data = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(&data[..], b"hi");
}
