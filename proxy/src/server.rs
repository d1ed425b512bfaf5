//! Accepting connections: TLS (optional, ALPN h2/http1.1), HTTP/1.1 and
//! HTTP/2, the header-read timeout that cuts slow clients, graceful drain.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::admin::Admin;
use crate::body::{ClientBody, ProxyBody};
use crate::forward::Answer;
use crate::live::Live;
use crate::shadow_store::ShadowStore;
use crate::upstream::Heads;

mod lane;

/// The proxy and its admin API, bound to their addresses, not yet serving.
pub struct Server {
    listener: TcpListener,
    admin_listener: TcpListener,
    live: Arc<Live>,
    admin: Arc<Admin>,
    tls: Option<TlsAcceptor>,
    store: ShadowStore,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("listen", &self.listener.local_addr().ok())
            .field("admin", &self.admin_listener.local_addr().ok())
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Binds the proxy's and the admin API's addresses, reads the admin token
    /// and loads the TLS identity, if any.
    pub async fn bind(live: Arc<Live>) -> std::io::Result<Self> {
        let snapshot = live.snapshot();
        let config = snapshot.config();
        let tls = match &config.tls {
            Some(files) => {
                Some(crate::tls::acceptor(&files.cert, &files.key).map_err(std::io::Error::other)?)
            }
            None => None,
        };
        let token = config.admin.token.read()?;
        let admin = Arc::new(Admin::new(
            Arc::clone(&live),
            token,
            config.admin.token.to_string(),
        ));
        // Shadow counts from before a restart go on from where they were.
        let store = ShadowStore::open(&config.shadow_store)
            .await
            .map_err(std::io::Error::other)?;
        crate::shadow_store::prune_logged(&store, config.shadow_retention).await;
        live.shadow_results()
            .restore(store.load().await.map_err(std::io::Error::other)?);
        let listener = TcpListener::bind(config.listen).await?;
        let admin_listener = TcpListener::bind(config.admin.listen).await?;
        Ok(Self {
            listener,
            admin_listener,
            live,
            admin,
            tls,
            store,
        })
    }

    /// The proxy's bound address (the real port when the configuration asked for 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The admin API's bound address.
    pub fn admin_addr(&self) -> std::io::Result<SocketAddr> {
        self.admin_listener.local_addr()
    }

    /// Serves until `shutdown` completes; then readiness fails, accepting stops,
    /// and in-flight requests get up to `drain` to finish.
    pub async fn serve(self, shutdown: impl Future<Output = ()>, drain: Duration) {
        let Self {
            listener,
            admin_listener,
            live,
            admin,
            tls,
            store,
        } = self;
        let snapshot = live.snapshot();
        let limits = &snapshot.config().limits;
        let mut http1 = http1::Builder::new();
        http1
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            // Small answers go out in one write instead of a writev of head and body.
            .writev(false);
        // At hyper's own default, hyper keeps its header slots on the stack;
        // set explicitly, it sizes them per request at run time.
        if limits.max_headers != HYPER_DEFAULT_MAX_HEADERS {
            http1.max_headers(limits.max_headers);
        }
        let mut http2 = http2::Builder::new(TokioExecutor::new());
        http2.timer(TokioTimer::new());
        let protocols = Protocols {
            http1,
            http2,
            sniff_timeout: limits.header_read_timeout,
            max_headers: limits.max_headers,
        };
        // Tells the HTTP/1 fast lane's connections to stop taking requests;
        // hyper's get the graceful shutdown below.
        let (stop_lanes, draining) = watch::channel(false);
        let (_admin_drain, admin_draining) = watch::channel(false);

        let mut background = Vec::new();
        if snapshot.config().watch {
            background.push(tokio::spawn(
                Arc::clone(&live).watch_file(Duration::from_secs(1)),
            ));
        }
        background.push(tokio::spawn(Arc::clone(&live).watch_sighup()));
        background.push(tokio::spawn(crate::shadow_store::keep(
            store.clone(),
            Arc::clone(live.shadow_results()),
            Duration::from_secs(2),
            snapshot.config().shadow_retention,
        )));
        let admin_conns = Conns {
            protocols: protocols.clone(),
            graceful: Arc::new(GracefulShutdown::new()),
            draining: admin_draining,
            tls: None,
        };
        let serve_admin = accept_loop(
            admin_listener,
            admin_conns,
            move |request, client, _heads| {
                let admin = Arc::clone(&admin);
                async move { Answer::from(admin.handle(request, client).await) }
            },
            std::future::pending(),
        );
        background.push(tokio::spawn(serve_admin));

        let scheme = if tls.is_some() { "https" } else { "http" };
        let handshake_timeout = limits.header_read_timeout;
        let graceful = Arc::new(GracefulShutdown::new());
        let conns = Conns {
            protocols,
            graceful: Arc::clone(&graceful),
            draining,
            tls: tls.map(|acceptor| (acceptor, handshake_timeout)),
        };
        let proxy_live = Arc::clone(&live);
        accept_loop(
            listener,
            conns,
            move |request, client, heads| {
                proxy_live.snapshot().handle(request, client, scheme, heads)
            },
            shutdown,
        )
        .await;

        live.start_draining();
        tracing::info!(?drain, "shutting down: draining in-flight requests");
        let _ = stop_lanes.send(true);
        let graceful =
            Arc::try_unwrap(graceful).unwrap_or_else(|_| unreachable!("the accept loop has ended"));
        if tokio::time::timeout(drain, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(
                ?drain,
                "drain timeout passed; closing the remaining connections"
            );
        }
        for task in background {
            task.abort();
        }
        live.flush_traces(Duration::from_secs(5)).await;
        if let Err(err) = store.save(&live.shadow_results().snapshot().1).await {
            tracing::error!(error = %err, "cannot save the shadow results at shutdown");
        }
    }
}

/// The most headers hyper accepts in a request unless told otherwise.
const HYPER_DEFAULT_MAX_HEADERS: usize = 100;

/// How accepted connections are served.
struct Conns {
    protocols: Protocols,
    graceful: Arc<GracefulShutdown>,
    /// True once the server drains (see [`lane::Lane::draining`]).
    draining: watch::Receiver<bool>,
    tls: Option<(TlsAcceptor, Duration)>,
}

/// hyper's connection builders, one per protocol. Each connection is served by
/// the one its protocol needs, found before hyper sees it: a connection that
/// could still turn out to be either (hyper's `auto`) keeps room for the larger
/// HTTP/2 state, and 10,000 idle keep-alive connections feel that.
#[derive(Clone)]
struct Protocols {
    http1: http1::Builder,
    http2: http2::Builder<TokioExecutor>,
    /// How long a new plain connection may take to show which protocol it
    /// speaks; also how long the fast lane waits for a request head.
    sniff_timeout: Duration,
    /// Most headers a request may carry (hyper applies it; the lane hands
    /// hyper any request with more).
    max_headers: usize,
}

/// Accepts connections until `stop` completes, serving each with `handle`.
async fn accept_loop<H, F>(
    listener: TcpListener,
    conns: Conns,
    handle: H,
    stop: impl Future<Output = ()>,
) where
    H: Fn(hyper::Request<ClientBody>, SocketAddr, Heads) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Answer> + Send + 'static,
{
    tokio::pin!(stop);
    loop {
        let (stream, client) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors and the like: pause, never spin.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stop => return,
        };
        let _ = stream.set_nodelay(true);
        let lane = lane::Lane {
            handle: handle.clone(),
            client,
            max_headers: conns.protocols.max_headers,
            header_read_timeout: conns.protocols.sniff_timeout,
            draining: conns.draining.clone(),
        };
        let handle = handle.clone();
        // Boxed: hyper keeps room for one service future per connection for the
        // connection's whole life; a box is freed when its request is done, so
        // idle keep-alive connections stay small.
        let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            let answer = Box::pin(handle(request.map(ClientBody::Hyper), client, Heads::Map));
            async move { Ok::<_, std::convert::Infallible>(answer.await.into_response()) }
        });
        let (protocols, watcher, tls) = (
            conns.protocols.clone(),
            conns.graceful.watcher(),
            conns.tls.clone(),
        );
        tokio::spawn(async move {
            // Each protocol's connection is boxed, so this task is only as
            // large as the protocol it serves.
            let served = match tls {
                None => match tokio::time::timeout(protocols.sniff_timeout, speaks_h2(&stream))
                    .await
                {
                    Ok(Ok(false)) => {
                        Box::pin(serve_h1(&protocols, watcher, stream, lane, service)).await
                    }
                    Ok(Ok(true)) => Box::pin(serve_h2(&protocols, watcher, stream, service)).await,
                    // Closed, or silent too long: nothing to serve.
                    Ok(Err(_)) | Err(_) => return,
                },
                Some((acceptor, timeout)) => {
                    match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) if stream.get_ref().1.alpn_protocol() == Some(b"h2") => {
                            Box::pin(serve_h2(&protocols, watcher, stream, service)).await
                        }
                        Ok(Ok(stream)) => {
                            Box::pin(serve_h1(&protocols, watcher, stream, lane, service)).await
                        }
                        Ok(Err(err)) => {
                            return tracing::debug!(error = %err, %client, "TLS handshake failed");
                        }
                        Err(_) => return tracing::debug!(%client, "TLS handshake too slow"),
                    }
                }
            };
            if let Err(err) = served {
                tracing::debug!(error = %err, %client, "client connection ended with an error");
            }
        });
    }
}

/// The HTTP/2 connection preface (RFC 9113 §3.4), how prior-knowledge
/// cleartext HTTP/2 starts.
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Whether a plain connection opens with the HTTP/2 preface, looked at
/// without reading it. `Err` when the client closed before saying anything.
async fn speaks_h2(stream: &TcpStream) -> std::io::Result<bool> {
    let mut start = [0_u8; H2_PREFACE.len()];
    loop {
        let seen = stream.peek(&mut start).await?;
        if seen == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if start[..seen] != H2_PREFACE[..seen] {
            return Ok(false);
        }
        if seen == H2_PREFACE.len() {
            return Ok(true);
        }
        // Part of the preface so far: the socket stays readable, so wait a
        // little rather than peek again at once.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The service every connection gets: `handle` per request.
trait Service:
    hyper::service::Service<
        hyper::Request<hyper::body::Incoming>,
        Response = hyper::Response<ProxyBody>,
        Error = std::convert::Infallible,
        Future: Send + 'static,
    > + Send
    + 'static
{
}

impl<S> Service for S where
    S: hyper::service::Service<
            hyper::Request<hyper::body::Incoming>,
            Response = hyper::Response<ProxyBody>,
            Error = std::convert::Infallible,
            Future: Send + 'static,
        > + Send
        + 'static
{
}

/// Serves an HTTP/1 connection (plain or TLS) behind the smuggling guard:
/// in the fast lane while its requests are the lane's, by hyper from the
/// first one that is not; drained on shutdown.
async fn serve_h1<I, H, F>(
    protocols: &Protocols,
    watcher: Watcher,
    io: I,
    lane: lane::Lane<H>,
    service: impl Service,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    H: Fn(hyper::Request<ClientBody>, SocketAddr, Heads) -> F,
    F: Future<Output = Answer> + Send + 'static,
{
    match lane::serve(crate::guard::guard(io), lane).await? {
        lane::Ended::Closed => Ok(()),
        lane::Ended::Handoff { io, read } => {
            let io = TokioIo::new(lane::Rewind::new(read, io));
            let conn = protocols.http1.serve_connection(io, service);
            watcher.watch(conn).await.map_err(Into::into)
        }
    }
}

/// Serves an HTTP/2 connection (prior-knowledge cleartext, or TLS with ALPN
/// `h2`), drained on shutdown.
async fn serve_h2<I>(
    protocols: &Protocols,
    watcher: Watcher,
    io: I,
    service: impl Service,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let conn = protocols.http2.serve_connection(TokioIo::new(io), service);
    watcher.watch(conn).await.map_err(Into::into)
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = interrupt => {}
                _ = terminate.recv() => {}
            }
            return;
        }
    }
    let _ = interrupt.await;
}
