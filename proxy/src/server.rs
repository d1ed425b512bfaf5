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

use crate::forward::Proxy;

/// A proxy bound to its address, not yet serving.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    proxy: Arc<Proxy>,
}

impl Server {
    /// Binds the configured address.
    pub async fn bind(proxy: Proxy) -> std::io::Result<Self> {
        let listener = TcpListener::bind(proxy.config().listen).await?;
        Ok(Self {
            listener,
            proxy: Arc::new(proxy),
        })
    }

    /// The bound address (the real port when the configuration asked for 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then lets in-flight requests finish
    /// for up to `drain`.
    pub async fn serve(self, shutdown: impl Future<Output = ()>, drain: Duration) {
        let limits = &self.proxy.config().limits;
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .max_headers(limits.max_headers);
        builder.http2().timer(TokioTimer::new());
        let graceful = GracefulShutdown::new();
        tokio::pin!(shutdown);
        loop {
            let (stream, client) = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(err) => {
                        // Out of file descriptors and the like: pause, never spin.
                        tracing::warn!(error = %err, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let _ = stream.set_nodelay(true);
            let proxy = Arc::clone(&self.proxy);
            let service = service_fn(move |request| {
                let proxy = Arc::clone(&proxy);
                async move { Ok::<_, std::convert::Infallible>(proxy.handle(request, client).await) }
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
        tracing::info!("shutting down: draining in-flight requests");
        if tokio::time::timeout(drain, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(
                ?drain,
                "drain timeout passed; closing the remaining connections"
            );
        }
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
