//! `coupon-service --db DSN --listen ADDR [--seed N] [--users-url URL] [--issue-through URL] [--quirks]`:
//! the coupon domain extracted from the monolith.

use std::process::ExitCode;

use clap::Parser;
use msa_examples::coupon_service::{self, Options};
use msa_examples::kit::server::{self, ServerArgs};

/// The coupon service: the monolith's coupon routes, same contract, own database.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    server: ServerArgs,

    /// Base URL of the service that owns users (the monolith, until the user
    /// domain moves), asked whether a member exists; without it every positive
    /// member id is accepted
    #[arg(long, value_name = "URL")]
    users_url: Option<url::Url>,

    /// Base URL of the monolith, asked to decide every client's issue while it
    /// still owns the coupon data; the issue is recorded here under its id.
    /// Shadow copies from the msa-migrate proxy are still decided here
    #[arg(long, value_name = "URL")]
    issue_through: Option<url::Url>,

    /// Answer with realistic rewrite differences: amounts as strings, timestamps
    /// with `+00:00`, a user's coupons newest first, an extra `couponType` field
    #[arg(long)]
    quirks: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    server::init_tracing();
    let args = Args::parse();
    let options = Options {
        quirks: args.quirks,
        users_url: args.users_url,
        issue_through: args.issue_through,
    };
    server::exit_code(async {
        let app = coupon_service::open(&args.server.db, args.server.seed, options).await?;
        server::serve(
            "coupon-service",
            coupon_service::router(app),
            args.server.listen,
        )
        .await
    })
    .await
}
