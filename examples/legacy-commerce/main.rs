//! `legacy-commerce --db DSN --listen ADDR [--seed N]`: the example monolith.

use std::process::ExitCode;

use clap::Parser;
use msa_examples::kit::server::{self, ServerArgs};
use msa_examples::legacy_commerce;

/// The legacy-commerce monolith: users, products and stock, points, coupons,
/// orders, payments and best-sellers, on one shared database.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    server::init_tracing();
    let Args { server: args } = Args::parse();
    server::exit_code(async {
        let app = legacy_commerce::open(&args.db, args.seed).await?;
        server::serve("legacy-commerce", legacy_commerce::router(app), args.listen).await
    })
    .await
}
