use std::sync::Arc;

use parking_lot::Mutex;

use http::Response;
use http_body_util::StreamBody;
use hyper::body::Frame;
use tokio::io::DuplexStream;

use super::*;
use crate::body;

const TIMEOUT: Duration = Duration::from_secs(10);

fn client() -> SocketAddr {
    "127.0.0.1:40000".parse().expect("an address")
}

/// A lane serving an in-memory connection.
struct Started {
    /// The client's end.
    client: DuplexStream,
    served: tokio::task::JoinHandle<io::Result<Ended<DuplexStream>>>,
    /// Each request the handler got, described.
    seen: Arc<Mutex<Vec<String>>>,
    stop: watch::Sender<bool>,
}

/// The lane over an in-memory connection; `answer` gives each request's answer.
fn start(
    answer: impl Fn(&Request<ClientBody>) -> Response<ProxyBody> + Send + Sync + 'static,
) -> Started {
    start_raw(move |request| Answer::from(answer(request)))
}

/// [`start`], with answers that may carry raw upstream header lines.
fn start_raw(answer: impl Fn(&Request<ClientBody>) -> Answer + Send + Sync + 'static) -> Started {
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (stop, draining) = watch::channel(false);
    let lane = Lane {
        handle: {
            let seen = Arc::clone(&seen);
            move |request: Request<ClientBody>, _client, heads| {
                assert_eq!(
                    heads,
                    Heads::Raw,
                    "the lane writes raw header lines through"
                );
                seen.lock().push(format!(
                    "{} {} {:?} end={}",
                    request.method(),
                    request.uri(),
                    request.headers().get("x-user"),
                    request.body().is_end_stream()
                ));
                std::future::ready(answer(&request))
            }
        },
        client: client(),
        max_headers: 8,
        header_read_timeout: TIMEOUT,
        draining,
    };
    Started {
        client: ours,
        served: tokio::spawn(serve(theirs, lane)),
        seen,
        stop,
    }
}

fn ok(text: &'static str) -> Response<ProxyBody> {
    let mut response = Response::new(body::full(text));
    response
        .headers_mut()
        .insert("x-answer", HeaderValue::from_static("yes"));
    response
}

/// Reads what the lane writes until `done` says it is all there.
async fn read_until(client: &mut DuplexStream, done: impl Fn(&str) -> bool) -> String {
    let mut text = String::new();
    let mut buf = [0_u8; 4096];
    while !done(&text) {
        let read = tokio::time::timeout(Duration::from_secs(5), client.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("no more answers in time; so far: {text}"))
            .expect("readable");
        assert!(read > 0, "the connection closed; so far: {text}");
        text.push_str(std::str::from_utf8(&buf[..read]).expect("text"));
    }
    text
}

#[tokio::test]
async fn pipelined_reads_are_answered_in_order_with_their_length() {
    let Started {
        mut client,
        served,
        seen,
        ..
    } = start(|request| {
        if request.uri().path() == "/a" {
            ok("body")
        } else {
            ok("other body")
        }
    });
    client
        .write_all(b"GET /a HTTP/1.1\r\nhost: x\r\nx-user: 7\r\n\r\nGET /b?q=1 HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .expect("written");
    let text = read_until(&mut client, |t| t.ends_with("other body")).await;
    let answers: Vec<&str> = text.split("HTTP/1.1 ").filter(|a| !a.is_empty()).collect();
    assert_eq!(answers.len(), 2, "{text}");
    assert!(answers[0].starts_with("200 OK\r\n"), "{text}");
    assert!(answers[0].contains("x-answer: yes\r\n"), "{text}");
    assert!(
        answers[0].contains("date: "),
        "an answer without a date gets one: {text}"
    );
    assert!(
        answers[0].ends_with("content-length: 4\r\n\r\nbody"),
        "{text}"
    );
    assert!(
        answers[1].ends_with("content-length: 10\r\n\r\nother body"),
        "{text}"
    );
    drop(client);
    assert!(matches!(served.await.expect("joined"), Ok(Ended::Closed)));
    assert_eq!(
        *seen.lock(),
        ["GET /a Some(\"7\") end=true", "GET /b?q=1 None end=true"]
    );
}

#[tokio::test]
async fn the_first_request_not_for_the_lane_hands_over_every_byte_after_the_last_answer() {
    let others: [&[u8]; 6] = [
        // httparse takes this path, `http` does not: found after the head is parsed.
        b"GET /a<b HTTP/1.1\r\nhost: x\r\n\r\n",
        b"POST /p HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\nhi",
        b"GET /p HTTP/1.0\r\n\r\n",
        b"GET /p HTTP/1.1\r\nconnection: close\r\n\r\n",
        b"GET http://x/p HTTP/1.1\r\nhost: x\r\n\r\n",
        b"GET /p HTTP/1.1\r\na: 1\r\nb: 1\r\nc: 1\r\nd: 1\r\ne: 1\r\nf: 1\r\ng: 1\r\nh: 1\r\ni: 1\r\n\r\n",
    ];
    for other in others {
        let Started {
            mut client,
            served,
            seen,
            ..
        } = start(|_| ok("body"));
        let mut sent = b"GET /a HTTP/1.1\r\nhost: x\r\n\r\n".to_vec();
        sent.extend_from_slice(other);
        client.write_all(&sent).await.expect("written");
        let text = read_until(&mut client, |t| t.ends_with("body")).await;
        assert!(text.ends_with("\r\n\r\nbody"), "{text}");
        let Ok(Ended::Handoff { read, .. }) = served.await.expect("joined") else {
            panic!("{} goes to hyper", String::from_utf8_lossy(other));
        };
        assert_eq!(&read[..], other, "hyper gets the request whole");
        assert_eq!(seen.lock().len(), 1);
    }
}

#[tokio::test]
async fn bodyless_answers_keep_their_length_and_send_no_body() {
    let Started {
        mut client, served, ..
    } = start(|request| {
        let mut response = if request.method() == Method::HEAD {
            Response::new(body::empty())
        } else {
            let mut response = Response::new(body::empty());
            *response.status_mut() = StatusCode::NOT_MODIFIED;
            response
        };
        response
            .headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from_static("5"));
        response
    });
    client
        .write_all(b"HEAD /a HTTP/1.1\r\n\r\nGET /a HTTP/1.1\r\n\r\n")
        .await
        .expect("written");
    let text = read_until(&mut client, |t| t.matches("\r\n\r\n").count() == 2).await;
    assert!(
        text.starts_with("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n"),
        "{text}"
    );
    assert!(
        text.contains("HTTP/1.1 304 Not Modified\r\ncontent-length: 5\r\n"),
        "{text}"
    );
    assert!(text.ends_with("\r\n\r\n"), "no body bytes: {text}");
    drop(client);
    assert!(matches!(served.await.expect("joined"), Ok(Ended::Closed)));
}

#[tokio::test]
async fn an_answer_of_unknown_length_is_chunked() {
    let Started { mut client, .. } = start(|_| {
        let frames = futures::stream::iter(
            ["ab", "", "cd"]
                .map(|part| Ok::<_, crate::body::BodyError>(Frame::data(Bytes::from(part)))),
        );
        Response::new(body::boxed(StreamBody::new(frames)))
    });
    client
        .write_all(b"GET /a HTTP/1.1\r\n\r\n")
        .await
        .expect("written");
    let text = read_until(&mut client, |t| t.ends_with("0\r\n\r\n")).await;
    assert!(text.contains("transfer-encoding: chunked\r\n"), "{text}");
    assert!(
        text.ends_with("\r\n\r\n2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n"),
        "{text}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_head_not_finished_in_time_closes_the_connection() {
    let Started {
        mut client,
        served,
        seen,
        ..
    } = start(|_| ok("body"));
    client
        .write_all(b"GET /a HTTP/1.1\r\n\r\nGET /slow HTTP/1.1\r\nhost:")
        .await
        .expect("written");
    let text = read_until(&mut client, |t| t.ends_with("body")).await;
    assert!(text.ends_with("body"), "{text}");
    tokio::time::sleep(TIMEOUT + Duration::from_secs(1)).await;
    assert!(matches!(served.await.expect("joined"), Ok(Ended::Closed)));
    assert_eq!(seen.lock().len(), 1);
}

#[tokio::test]
async fn a_drain_closes_an_idle_connection_but_not_a_head_under_way() {
    let Started {
        mut client,
        served,
        stop,
        ..
    } = start(|_| ok("body"));
    client
        .write_all(b"GET /a HTTP/1.1\r\nhost:")
        .await
        .expect("written");
    tokio::task::yield_now().await;
    stop.send(true).expect("the lane listens");
    tokio::task::yield_now().await;
    assert!(!served.is_finished(), "a head under way is still served");
    client.write_all(b" x\r\n\r\n").await.expect("written");
    let text = read_until(&mut client, |t| t.ends_with("body")).await;
    assert!(text.ends_with("body"), "{text}");
    let ended = tokio::time::timeout(Duration::from_secs(5), served)
        .await
        .expect("the drained connection ends after its answer");
    assert!(matches!(ended.expect("joined"), Ok(Ended::Closed)));
}

#[tokio::test]
async fn raw_upstream_lines_go_first_and_the_length_is_the_lanes() {
    let Started { mut client, .. } = start_raw(|_| {
        let head = Bytes::from_static(b"Server: up\r\nContent-Length: 99\r\nDate: then\r\n");
        let raw = RawHead::new(head, vec![[0, 6, 8, 2], [12, 14, 28, 2], [32, 4, 38, 4]]);
        let mut response = ok("body");
        response
            .headers_mut()
            .insert("via", HeaderValue::from_static("1.1 msa-migrate"));
        Answer {
            response,
            raw: Some(raw),
        }
    });
    client
        .write_all(b"GET /a HTTP/1.1\r\n\r\n")
        .await
        .expect("written");
    let text = read_until(&mut client, |t| t.ends_with("body")).await;
    assert_eq!(
        text,
        "HTTP/1.1 200 OK\r\nserver: up\r\ndate: then\r\nx-answer: yes\r\nvia: 1.1 msa-migrate\r\n\
         content-length: 4\r\n\r\nbody",
        "the upstream's Date is kept, its stale length replaced by the body's"
    );
}
