//! Command-line arguments and the serving loop both services share.

use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;

/// Where a service keeps its data and listens.
#[derive(Debug, clap::Args)]
pub struct ServerArgs {
    /// Database URL: sqlite://FILE (created when missing), postgres://USER@HOST:PORT/DB
    /// or mysql://USER@HOST:PORT/DB (the database must exist; the schema is created on start)
    #[arg(long, value_name = "URL")]
    pub db: String,

    /// Address to listen on; port 0 picks a free one (the chosen address is printed)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Load deterministic data for N users and N products into an empty database
    #[arg(long, value_name = "N")]
    pub seed: Option<u32>,
}

/// Logs to stderr; `RUST_LOG` adjusts the level (default `info`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour on a terminal only, and never with NO_COLOR (https://no-color.org).
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        )
        .init();
}

/// Serves `router` until SIGINT or SIGTERM, then finishes in-flight requests.
///
/// Prints `listening on http://ADDR` on stdout once bound, so that a parent
/// process that asked for port 0 learns the address.
pub async fn serve(name: &str, router: Router, listen: SocketAddr) -> anyhow::Result<()> {
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|err| anyhow::anyhow!("cannot listen on {listen}: {err}"))?;
    let addr = listener.local_addr()?;
    announce(addr);
    tracing::info!(%addr, "{name} listening");
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    Ok(())
}

#[allow(
    clippy::print_stdout,
    reason = "the bound address is the program's output"
)]
fn announce(addr: SocketAddr) {
    use std::io::Write;
    println!("listening on http://{addr}");
    let _ = std::io::stdout().flush();
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

/// Runs a service to its end and turns the outcome into an exit code, printing
/// a failure as `error: …` with its causes.
pub async fn exit_code(
    service: impl Future<Output = anyhow::Result<()>>,
) -> std::process::ExitCode {
    match service.await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            #[allow(
                clippy::print_stderr,
                reason = "the one line a person reads when start-up fails"
            )]
            {
                eprintln!("error: {err:#}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}
