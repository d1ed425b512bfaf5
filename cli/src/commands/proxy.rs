//! `msa-migrate proxy --config FILE`: load, validate, serve until SIGTERM.

use anyhow::Context;
use msa_proxy::{Live, Server};

use crate::Outcome;
use crate::args::ProxyArgs;

#[allow(
    clippy::print_stdout,
    reason = "the validation verdict and the bound address are the command's output"
)]
pub(crate) fn run(args: ProxyArgs) -> anyhow::Result<Outcome> {
    let config = msa_proxy::config::load(&args.config)?;
    if args.check {
        println!(
            "{} is valid: {} upstreams, {} routes",
            args.config.display(),
            config.upstreams.len(),
            config.routes.len()
        );
        return Ok(Outcome::Success);
    }
    crate::logging::init(args.log_json);
    let runtime = match config.workers {
        1 => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        n => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build(),
    }
    .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let (listen, admin) = (config.listen, config.admin.listen);
        let live = Live::new(config, args.config.clone())?;
        let server = Server::bind(live)
            .await
            .with_context(|| format!("cannot listen on {listen} (proxy) or {admin} (admin API)"))?;
        println!("listening on http://{}", server.local_addr()?);
        println!("admin on http://{}", server.admin_addr()?);
        tracing::info!(addr = %server.local_addr()?, admin = %server.admin_addr()?, "proxy listening");
        server
            .serve(msa_proxy::shutdown_signal(), args.drain_timeout)
            .await;
        Ok(Outcome::Success)
    })
}
