//! Recording upstreams, a proxy started from YAML, and raw-socket helpers.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use msa_proxy::{Live, Server};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// An upstream that answers every request with what it received, as JSON.
pub(crate) struct Upstream {
    pub(crate) addr: SocketAddr,
    pub(crate) hits: Arc<AtomicUsize>,
    /// Requests that carried the shadow marker.
    pub(crate) marked: Arc<AtomicUsize>,
}

/// How a test upstream answers, beyond echoing the request.
#[derive(Clone, Copy, Default)]
struct Answers {
    /// Waited before answering.
    delay: Duration,
    /// A random `nonce` in every answer.
    noisy: bool,
    /// `"quirk": 1` in answers to paths containing this.
    quirk_under: Option<&'static str>,
    /// A response header sent with every answer.
    header: Option<(&'static str, &'static str)>,
}

impl Upstream {
    pub(crate) async fn start(name: &'static str) -> Self {
        Self::start_with(name, Answers::default()).await
    }

    /// An upstream that also answers `"quirk": 1` to the paths containing
    /// `under`: a new service wrong on one endpoint only.
    pub(crate) async fn start_with_quirk_under(name: &'static str, under: &'static str) -> Self {
        let quirk_under = Some(under);
        Self::start_with(
            name,
            Answers {
                quirk_under,
                ..Answers::default()
            },
        )
        .await
    }

    /// An upstream that also answers a random `nonce`: noise, as a real
    /// service's timestamps or request ids are.
    pub(crate) async fn start_noisy(name: &'static str) -> Self {
        Self::start_with(
            name,
            Answers {
                noisy: true,
                ..Answers::default()
            },
        )
        .await
    }

    /// An upstream that waits `delay` before answering.
    pub(crate) async fn start_with_delay(name: &'static str, delay: Duration) -> Self {
        Self::start_with(
            name,
            Answers {
                delay,
                ..Answers::default()
            },
        )
        .await
    }

    /// An upstream that sends the response header `name: value` with every answer.
    pub(crate) async fn start_with_header(
        name: &'static str,
        header: (&'static str, &'static str),
    ) -> Self {
        let header = Some(header);
        Self::start_with(
            name,
            Answers {
                header,
                ..Answers::default()
            },
        )
        .await
    }

    async fn start_with(name: &'static str, answers: Answers) -> Self {
        let Answers {
            delay,
            noisy,
            quirk_under,
            header,
        } = answers;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let marked = Arc::new(AtomicUsize::new(0));
        let (counter, marks) = (Arc::clone(&hits), Arc::clone(&marked));
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (counter, marks) = (Arc::clone(&counter), Arc::clone(&marks));
                let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                    counter.fetch_add(1, Ordering::SeqCst);
                    if request.headers().contains_key("x-msa-shadow") {
                        marks.fetch_add(1, Ordering::SeqCst);
                    }
                    async move {
                        tokio::time::sleep(delay).await;
                        let method = request.method().to_string();
                        let path = request.uri().path().to_owned();
                        // Repeated header lines are one comma-joined value, as HTTP reads them.
                        let mut headers = serde_json::Map::new();
                        for name in request.headers().keys() {
                            let values: Vec<&str> = request
                                .headers()
                                .get_all(name)
                                .iter()
                                .map(|v| v.to_str().unwrap_or("<binary>"))
                                .collect();
                            headers.insert(name.to_string(), json!(values.join(", ")));
                        }
                        let body = request
                            .into_body()
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let nonce = noisy.then(|| fastrand::u64(..));
                        let mut answer = json!({
                            "upstream": name, "method": method, "path": path, "nonce": nonce,
                            "headers": headers, "body": String::from_utf8_lossy(&body),
                        });
                        if quirk_under.is_some_and(|under| path.contains(under)) {
                            answer["quirk"] = json!(1);
                        }
                        let mut response =
                            Response::new(Full::new(Bytes::from(answer.to_string())));
                        if let Some((name, value)) = header {
                            response.headers_mut().insert(name, value.parse().unwrap());
                        }
                        Ok::<_, Infallible>(response)
                    }
                });
                tokio::spawn(async move {
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, hits, marked }
    }

    pub(crate) fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// A loopback address that refuses every connection for as long as it lives.
///
/// The socket is bound but never listens, so connecting gets a reset at once,
/// and the port stays reserved: a port freed by a dropped listener can be
/// handed to the next `bind(0)` (the proxy's own listener included), and a
/// proxy forwarding to itself hangs until its request timeout.
pub(crate) struct DeadPort {
    _reserved: tokio::net::TcpSocket,
    pub(crate) addr: SocketAddr,
}

impl DeadPort {
    pub(crate) fn reserve() -> Self {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = socket.local_addr().unwrap();
        Self {
            _reserved: socket,
            addr,
        }
    }
}

/// Starts a proxy from YAML (with `listen: 127.0.0.1:0`) and returns its address.
/// It serves until the test's runtime ends.
pub(crate) async fn start_proxy(yaml: &str) -> SocketAddr {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let (server, _) = Running::bind(yaml, &dir).await;
    let addr = server.local_addr().unwrap();
    tokio::spawn(async move {
        server
            .serve(std::future::pending(), Duration::from_secs(1))
            .await;
        drop(dir);
    });
    addr
}

/// A proxy running in this process from a configuration file in its own
/// directory (with its state file and audit log), admin API on a free port.
pub(crate) struct Running {
    pub(crate) addr: SocketAddr,
    pub(crate) admin: SocketAddr,
    pub(crate) live: Arc<Live>,
    pub(crate) dir: Arc<tempfile::TempDir>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Starts from YAML; `admin:` is added (on port 0) unless present. Reuses
    /// `dir` when given, as a restart would.
    pub(crate) async fn start(yaml: &str, dir: Option<Arc<tempfile::TempDir>>) -> Self {
        let dir = dir.unwrap_or_else(|| Arc::new(tempfile::tempdir().unwrap()));
        let (server, live) = Self::bind(yaml, &dir).await;
        let (addr, admin) = (server.local_addr().unwrap(), server.admin_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = tokio::spawn(server.serve(
            async move {
                let _ = stopped.await;
            },
            Duration::from_secs(5),
        ));
        Self {
            addr,
            admin,
            live,
            dir,
            stop: Some(stop),
            served: Some(served),
        }
    }

    async fn bind(yaml: &str, dir: &tempfile::TempDir) -> (Server, Arc<Live>) {
        let yaml = if yaml.contains("\nadmin:") {
            yaml.to_owned()
        } else {
            format!("{yaml}\nadmin:\n  listen: 127.0.0.1:0\n")
        };
        let path = dir.path().join("proxy.yaml");
        std::fs::write(&path, &yaml).unwrap();
        let live = Live::load(&path).unwrap_or_else(|err| panic!("{err}"));
        (Server::bind(Arc::clone(&live)).await.unwrap(), live)
    }

    /// The configuration file, for tests that rewrite it.
    pub(crate) fn config_path(&self) -> std::path::PathBuf {
        self.dir.path().join("proxy.yaml")
    }

    /// Stops accepting, drains, and waits until it has.
    pub(crate) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(served) = self.served.take() {
            served.await.unwrap();
        }
    }
}

/// A client that keeps connections alive, like a browser or service would.
pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(32)
        .build()
        .unwrap()
}

pub(crate) async fn get_json(
    client: &reqwest::Client,
    url: String,
    user: Option<&str>,
) -> (u16, Value) {
    let mut request = client.get(url);
    if let Some(user) = user {
        request = request.header("x-user-id", user);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// Sends raw bytes and returns everything the proxy answers before closing
/// (or within two seconds).
pub(crate) async fn raw_exchange(proxy: SocketAddr, request: &[u8]) -> String {
    raw_exchange_closing(proxy, request).await.0
}

/// Like [`raw_exchange`], also telling whether the proxy closed the connection.
pub(crate) async fn raw_exchange_closing(proxy: SocketAddr, request: &[u8]) -> (String, bool) {
    let mut stream = TcpStream::connect(proxy).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(2), stream.read_to_end(&mut answer))
        .await
        .is_ok();
    (String::from_utf8_lossy(&answer).into_owned(), closed)
}

/// The proxy's shadow report (`GET /shadow` on its admin API).
pub(crate) async fn shadow_report(proxy: &Running) -> Value {
    let url = format!("http://{}/shadow", proxy.admin);
    client()
        .get(url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Waits until the first route of the proxy's shadow report satisfies `done`, and returns it.
pub(crate) async fn eventually(proxy: &Running, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..100 {
        let report = shadow_report(proxy).await;
        if report["routes"]
            .as_array()
            .and_then(|r| r.first())
            .is_some_and(&done)
        {
            return report["routes"][0].clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "the shadow report never got there: {}",
        shadow_report(proxy).await
    );
}
