//! Accepting connections: HTTP/1.1 and HTTP/2 (cleartext, prior knowledge),
//! the header-read timeout that cuts slow clients, graceful drain on shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::admin::Admin;
use crate::live::Live;

/// The proxy and its admin API, bound to their addresses, not yet serving.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    admin_listener: TcpListener,
    live: Arc<Live>,
    admin: Arc<Admin>,
}

impl Server {
    /// Binds the proxy's and the admin API's addresses. The admin token is read
    /// from the environment variable the configuration names.
    pub async fn bind(live: Arc<Live>) -> std::io::Result<Self> {
        let snapshot = live.snapshot();
        let config = snapshot.config();
        let listener = TcpListener::bind(config.listen).await?;
        let admin_listener = TcpListener::bind(config.admin.listen).await?;
        let token = config.admin.token.read()?;
        let admin = Arc::new(Admin::new(
            Arc::clone(&live),
            token,
            config.admin.token.to_string(),
        ));
        Ok(Self {
            listener,
            admin_listener,
            live,
            admin,
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
        } = self;
        let snapshot = live.snapshot();
        let limits = &snapshot.config().limits;
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .max_headers(limits.max_headers);
        builder.http2().timer(TokioTimer::new());

        let mut background = Vec::new();
        if snapshot.config().watch {
            background.push(tokio::spawn(
                Arc::clone(&live).watch_file(Duration::from_secs(1)),
            ));
        }
        background.push(tokio::spawn(Arc::clone(&live).watch_sighup()));
        let admin_builder = builder.clone();
        let serve_admin = accept_loop(
            admin_listener,
            admin_builder,
            GracefulShutdown::new(),
            move |request, client| {
                let admin = Arc::clone(&admin);
                async move { admin.handle(request, client).await }
            },
            std::future::pending(),
        );
        background.push(tokio::spawn(async move {
            serve_admin.await;
        }));

        let graceful = GracefulShutdown::new();
        let proxy_live = Arc::clone(&live);
        let graceful = accept_loop(
            listener,
            builder,
            graceful,
            move |request, client| {
                let proxy = proxy_live.snapshot();
                async move { proxy.handle(request, client).await }
            },
            shutdown,
        )
        .await;

        live.start_draining();
        tracing::info!(?drain, "shutting down: draining in-flight requests");
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
    }
}

/// Accepts connections until `stop` completes, serving each with `handle`;
/// returns the watcher that can drain them.
async fn accept_loop<H, F>(
    listener: TcpListener,
    builder: auto::Builder<TokioExecutor>,
    graceful: GracefulShutdown,
    handle: H,
    stop: impl Future<Output = ()>,
) -> GracefulShutdown
where
    H: Fn(hyper::Request<hyper::body::Incoming>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = hyper::Response<crate::body::ProxyBody>> + Send + 'static,
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
            () = &mut stop => return graceful,
        };
        let _ = stream.set_nodelay(true);
        let handle = handle.clone();
        let service = service_fn(move |request| {
            let answer = handle(request, client);
            async move { Ok::<_, std::convert::Infallible>(answer.await) }
        });
        let connection = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, %client, "client connection ended with an error");
            }
        });
    }
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
