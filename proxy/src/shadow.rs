//! Shadow traffic: a copy of a request goes to the new service while the
//! monolith answers the client, and the two answers are handed to a
//! [`ShadowSink`] to compare.
//!
//! The mirror runs off the request path. Mirrored requests wait in one bounded
//! queue for a bounded set of workers; when the queue is full the copy is
//! dropped and counted, never waited for. The primary response streams to the
//! client unchanged through a [`Tee`] that keeps a capped copy, so a slow or
//! dead new service cannot change the primary's latency or bytes.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::{Body, Frame, SizeHint};
use tokio::sync::{mpsc, oneshot};

use crate::body::{self, BodyError, ProxyBody};
use crate::headers::Added;
use crate::upstream::{Heads, RawHead, Upstream};

/// One side's answer, as kept for comparison.
#[derive(Debug, Clone)]
pub struct Captured {
    /// The status.
    pub status: StatusCode,
    /// The headers, but for those still in `raw` (see [`Captured::every_header`]).
    pub headers: HeaderMap,
    /// Header lines kept as the upstream sent them: making a map of them is
    /// left to the comparing thread, off the request path.
    pub(crate) raw: Option<RawHead>,
    /// The body, at most the route's cap.
    pub body: Bytes,
    /// Whether the body was longer than the cap (or broke off): not comparable whole.
    pub truncated: bool,
    /// Time to the end of the body, or to the cap.
    pub elapsed: Duration,
}

impl Captured {
    /// Every header of the answer: the map's and the raw lines'.
    pub fn every_header(&self) -> HeaderMap {
        let mut headers = self.headers.clone();
        if let Some(raw) = &self.raw {
            // The parser checked every line as it read the head.
            if let Err(reason) = raw.clone().into_map(&mut headers) {
                tracing::warn!(reason, "a captured header line was left out");
            }
        }
        headers
    }
}

/// Where compared pairs go.
pub trait ShadowSink: Send + Sync + fmt::Debug {
    /// A mirrored request and the answers; `candidate` is the new service's,
    /// or why it gave none; `baseline` the second legacy instance's, when the
    /// route has one.
    fn record(
        &self,
        route: &str,
        method: &http::Method,
        path: &str,
        legacy: Captured,
        candidate: Result<Captured, String>,
        baseline: Option<Result<Captured, String>>,
    );
    /// A mirror of this request was not sent (`queue_full`,
    /// `body_too_large`, …).
    fn skipped(&self, route: &str, method: &http::Method, path: &str, reason: &'static str);
}

/// A mirrored request waiting for a worker.
pub(crate) struct Job {
    pub(crate) route: Arc<str>,
    pub(crate) request: Request<Bytes>,
    /// The headers the proxy adds to the copy, marker included.
    pub(crate) added: Added,
    pub(crate) upstream: Arc<Upstream>,
    /// A second legacy instance that gets the same copy, to measure noise.
    pub(crate) baseline: Option<Arc<Upstream>>,
    pub(crate) timeout: Duration,
    pub(crate) max_body: usize,
    pub(crate) primary: oneshot::Receiver<Captured>,
    /// Holds one of the route's in-flight slots until the job is done.
    pub(crate) slot: RouteSlot,
}

/// One of a route's in-flight slots; given back when dropped.
#[derive(Debug)]
pub(crate) struct RouteSlot(Arc<std::sync::atomic::AtomicUsize>);

impl RouteSlot {
    /// Takes a slot of `in_flight` unless `limit` are taken.
    pub(crate) fn take(
        in_flight: &Arc<std::sync::atomic::AtomicUsize>,
        limit: usize,
    ) -> Option<Self> {
        use std::sync::atomic::Ordering;
        in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            })
            .ok()
            .map(|_| Self(Arc::clone(in_flight)))
    }
}

impl Drop for RouteSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// The queue and its workers.
#[derive(Debug)]
pub(crate) struct Mirror {
    queue: mpsc::Sender<Job>,
    sink: Arc<dyn ShadowSink>,
}

/// A pair of answers waiting for the comparing thread.
struct Pair {
    route: Arc<str>,
    method: http::Method,
    path: String,
    legacy: Captured,
    candidate: Result<Captured, String>,
    baseline: Option<Result<Captured, String>>,
}

/// How long the comparing thread lets pairs gather once its queue runs dry,
/// before it blocks: under load it then wakes about once per millisecond for
/// a batch, instead of once per pair.
const BATCH_WAIT: Duration = Duration::from_millis(1);

/// Decoding and comparing is CPU work, and the primary must never wait for
/// it: it runs on one thread of its own at the lowest scheduling priority, so
/// it only takes CPU time the proxy's workers leave over. Each mirror worker
/// waits for its pair's comparison, so while comparing lags behind, copies
/// wait in the mirror's queue (before any of them is sent) and a full queue
/// drops them (`queue_full`); a route that must not lose a copy (mirrored
/// writes) gives the queue room.
#[derive(Debug, Clone)]
struct Comparing {
    /// Each pair with whom to tell once it is compared.
    queue: std::sync::mpsc::SyncSender<(Pair, oneshot::Sender<()>)>,
}

impl Comparing {
    fn start(capacity: usize, sink: Arc<dyn ShadowSink>) -> Self {
        let (queue, pairs) = std::sync::mpsc::sync_channel::<(Pair, oneshot::Sender<()>)>(capacity);
        let started = std::thread::Builder::new()
            .name("msa-shadow-compare".to_owned())
            .spawn(move || {
                if let Err(err) = thread_priority::set_current_thread_priority(
                    thread_priority::ThreadPriority::Min,
                ) {
                    tracing::warn!(error = ?err, "shadow comparisons run at normal priority");
                }
                // Blocks only when idle.
                while let Ok(first) = pairs.recv() {
                    let mut next = Some(first);
                    while let Some((pair, done)) = next {
                        record_pair(&*sink, pair);
                        let _ = done.send(());
                        next = pairs.try_recv().ok().or_else(|| {
                            #[allow(
                                clippy::disallowed_methods,
                                reason = "the comparing thread is no runtime worker"
                            )]
                            std::thread::sleep(BATCH_WAIT);
                            pairs.try_recv().ok()
                        });
                    }
                }
            });
        if let Err(err) = started {
            // Without the thread every pair is dropped and counted, never compared.
            tracing::error!(error = %err, "cannot start the shadow comparison thread");
        }
        Self { queue }
    }

    /// Compares a pair on the comparing thread; completes when it is done.
    /// At most one pair per mirror worker waits, which the queue holds.
    async fn compare(&self, pair: Pair, sink: &dyn ShadowSink) {
        let (done, compared) = oneshot::channel();
        if let Err(err) = self.queue.try_send((pair, done)) {
            let (pair, _) = match err {
                std::sync::mpsc::TrySendError::Full(sent)
                | std::sync::mpsc::TrySendError::Disconnected(sent) => sent,
            };
            tracing::error!("the shadow comparison thread is gone; a pair was not compared");
            return sink.skipped(&pair.route, &pair.method, &pair.path, "compare_thread_gone");
        }
        // A comparison that panicked drops `done` without sending: done too.
        let _ = compared.await;
    }
}

/// Records one pair; a comparison that panics is logged and the thread goes on.
fn record_pair(sink: &dyn ShadowSink, pair: Pair) {
    let Pair {
        route,
        method,
        path,
        legacy,
        candidate,
        baseline,
    } = pair;
    let recorded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        sink.record(&route, &method, &path, legacy, candidate, baseline);
    }));
    if recorded.is_err() {
        tracing::error!(route = %route, "a shadow comparison panicked");
    }
}

impl Mirror {
    /// Starts `concurrency` workers on the current runtime.
    pub(crate) fn start(queue: usize, concurrency: usize, sink: Arc<dyn ShadowSink>) -> Self {
        let (sender, receiver) = mpsc::channel::<Job>(queue);
        let receiver = Arc::new(tokio::sync::Mutex::new(receiver));
        let comparing = Comparing::start(concurrency, Arc::clone(&sink));
        for _ in 0..concurrency {
            let (receiver, sink) = (Arc::clone(&receiver), Arc::clone(&sink));
            let comparing = comparing.clone();
            tokio::spawn(async move {
                loop {
                    let job = receiver.lock().await.recv().await;
                    match job {
                        Some(job) => run(job, &sink, &comparing).await,
                        None => return,
                    }
                }
            });
        }
        Self {
            queue: sender,
            sink,
        }
    }

    /// A place in the queue, taken before the copy is made so that a full
    /// queue costs nothing but the count; `None` when the queue is full.
    pub(crate) fn reserve(&self) -> Option<QueuePlace<'_>> {
        self.queue.try_reserve().ok().map(QueuePlace)
    }

    /// Records a mirror of this request that was never queued.
    pub(crate) fn skip(&self, route: &str, request: &http::request::Parts, reason: &'static str) {
        (self.sink).skipped(route, &request.method, request.uri.path(), reason);
    }
}

/// A place held in the mirror's queue.
pub(crate) struct QueuePlace<'a>(mpsc::Permit<'a, Job>);

impl QueuePlace<'_> {
    /// Queues the copy in the place held.
    pub(crate) fn queue(self, job: Job) {
        self.0.send(job);
    }
}

async fn run(job: Job, sink: &Arc<dyn ShadowSink>, comparing: &Comparing) {
    let Job {
        route,
        request,
        added,
        upstream,
        baseline,
        timeout,
        max_body,
        primary,
        // Held until the copy is done, then the route's slot is free again.
        slot: _slot,
    } = job;
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    let (candidate, baseline) = match &baseline {
        Some(baseline) => {
            let (candidate, baseline) = tokio::join!(
                ask(&upstream, request.clone(), &added, timeout, max_body),
                ask(baseline, request, &added, timeout, max_body)
            );
            (candidate, Some(baseline))
        }
        None => (
            ask(&upstream, request, &added, timeout, max_body).await,
            None,
        ),
    };
    // The primary's copy arrives when its body has been streamed to the client.
    match tokio::time::timeout(timeout.max(Duration::from_secs(30)), primary).await {
        Ok(Ok(legacy)) if candidate.is_err() => {
            sink.record(&route, &method, &path, legacy, candidate, baseline)
        }
        Ok(Ok(legacy)) => {
            let pair = Pair {
                route,
                method,
                path,
                legacy,
                candidate,
                baseline,
            };
            comparing.compare(pair, &**sink).await;
        }
        _ => sink.skipped(&route, &method, &path, "primary_incomplete"),
    }
}

/// Sends a copy and captures the answer, capped, within the timeout.
async fn ask(
    upstream: &Upstream,
    request: Request<Bytes>,
    added: &Added,
    timeout: Duration,
    max_body: usize,
) -> Result<Captured, String> {
    let started = Instant::now();
    let (parts, bytes) = request.into_parts();
    let exchange = async {
        // Raw where the upstream allows: the comparing thread makes the map.
        let response = upstream
            .send(parts, body::full(bytes), Some(added), Heads::Raw)
            .await
            .map_err(|err| err.to_string())?;
        let (parts, mut incoming) = response.into_parts();
        let raw = incoming.take_raw();
        let (body, truncated) = match Limited::new(incoming, max_body).collect().await {
            Ok(collected) => (collected.to_bytes(), false),
            Err(_) => (Bytes::new(), true),
        };
        Ok(Captured {
            status: parts.status,
            headers: parts.headers,
            raw,
            body,
            truncated,
            elapsed: started.elapsed(),
        })
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {timeout:?}")))
}

/// A response body that passes every frame through unchanged while copying
/// up to `cap` bytes; the copy is sent when the body ends (or is dropped).
pub(crate) struct Tee {
    inner: ProxyBody,
    copy: BytesMut,
    cap: usize,
    truncated: bool,
    head: Option<Head>,
    started: Instant,
    done: Option<oneshot::Sender<Captured>>,
}

/// An answer's status, its headers in a map and those kept raw.
type Head = (StatusCode, HeaderMap, Option<RawHead>);

impl Tee {
    pub(crate) fn new(
        inner: ProxyBody,
        head: Head,
        cap: usize,
        done: oneshot::Sender<Captured>,
    ) -> Self {
        Self {
            inner,
            copy: BytesMut::new(),
            cap,
            truncated: false,
            head: Some(head),
            started: Instant::now(),
            done: Some(done),
        }
    }

    fn finish(&mut self) {
        if let (Some(done), Some((status, headers, raw))) = (self.done.take(), self.head.take()) {
            let body = std::mem::take(&mut self.copy).freeze();
            let captured = Captured {
                status,
                headers,
                raw,
                body,
                truncated: self.truncated,
                elapsed: self.started.elapsed(),
            };
            let _ = done.send(captured);
        }
    }
}

impl Body for Tee {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    if this.copy.len() + data.len() <= this.cap {
                        this.copy.extend_from_slice(data);
                    } else {
                        this.truncated = true;
                    }
                }
            }
            Poll::Ready(Some(Err(_))) => {
                this.truncated = true;
                this.finish();
            }
            Poll::Ready(None) => this.finish(),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Tee {
    fn drop(&mut self) {
        // A body hyper never polled to its end (HEAD, client gone): what was seen is the copy.
        if !self.inner.is_end_stream() {
            self.truncated = true;
        }
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc::{Receiver, Sender, channel};

    use parking_lot::Mutex;

    use super::*;

    /// A sink whose comparisons wait until the test lets each one finish.
    #[derive(Debug)]
    struct HeldSink {
        entered: Mutex<Sender<String>>,
        release: Mutex<Receiver<()>>,
        skipped: Mutex<Vec<(String, &'static str)>>,
    }

    impl ShadowSink for HeldSink {
        fn record(
            &self,
            _route: &str,
            _method: &http::Method,
            path: &str,
            _legacy: Captured,
            _candidate: Result<Captured, String>,
            _baseline: Option<Result<Captured, String>>,
        ) {
            let _ = self.entered.lock().send(path.to_owned());
            let _ = self.release.lock().recv();
        }

        fn skipped(&self, _route: &str, _method: &http::Method, path: &str, reason: &'static str) {
            self.skipped.lock().push((path.to_owned(), reason));
        }
    }

    fn pair(path: &str) -> Pair {
        let answer = Captured {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            raw: None,
            body: Bytes::from_static(b"{}"),
            truncated: false,
            elapsed: Duration::ZERO,
        };
        Pair {
            route: Arc::from("coupons"),
            method: http::Method::GET,
            path: path.to_owned(),
            legacy: answer.clone(),
            candidate: Ok(answer),
            baseline: None,
        }
    }

    #[tokio::test]
    async fn the_mirror_worker_waits_until_its_pair_is_compared() {
        let (entered, entries) = channel();
        let (release, released) = channel();
        let sink = Arc::new(HeldSink {
            entered: Mutex::new(entered),
            release: Mutex::new(released),
            skipped: Mutex::new(Vec::new()),
        });
        let comparing = Comparing::start(1, Arc::clone(&sink) as Arc<dyn ShadowSink>);
        let worker = tokio::spawn({
            let sink = Arc::clone(&sink);
            async move { comparing.compare(pair("/1"), &*sink).await }
        });
        let entered = tokio::task::spawn_blocking(move || entries.recv())
            .await
            .expect("joined");
        assert_eq!(entered.as_deref(), Ok("/1"));
        assert!(
            !worker.is_finished(),
            "the worker waits while its pair is compared, so later copies wait in the queue"
        );
        release.send(()).expect("the comparison waits");
        tokio::time::timeout(Duration::from_secs(5), worker)
            .await
            .expect("the worker goes on once the pair is compared")
            .expect("joined");
        assert!(sink.skipped.lock().is_empty());
    }
}
