//! `msa-migrate demo`: the whole path on the bundled example monolith.
//!
//! The example services run in this process (each on a free loopback port);
//! every step runs the real `msa-migrate` command as a child process, shown as a
//! person would type it in the work directory.

mod files;
mod server;
mod steps;
mod traffic;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use msa_examples::{coupon_service, legacy_commerce};
use serde_json::Value;
use tokio::net::TcpListener;

use self::files::Shadowing;
use self::steps::{StepFailed, Steps};
use self::traffic::Traffic;
use crate::Outcome;
use crate::args::DemoArgs;

/// Steps in the list.
const STEPS: usize = 12;

/// Compared pairs per route before the quirky build's report is read.
const SHADOW_PAIRS: u64 = 220;

/// Compared pairs per route before the fixed build's report is read: enough
/// that the match rate's 95% lower bound clears the playbook's 98% with room.
const CLEAN_PAIRS: u64 = 320;

/// `msa-migrate demo`.
pub(crate) fn run(args: DemoArgs) -> anyhow::Result<Outcome> {
    let dir = match &args.dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            dir.canonicalize()
                .with_context(|| format!("cannot resolve {}", dir.display()))?
        }
        None => tempfile_dir()?,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        // Ctrl-C before the end drops the walk, and with it the proxy (killed on drop).
        tokio::select! {
            outcome = walk(&args, &dir) => outcome,
            _ = tokio::signal::ctrl_c() => bail!("interrupted; the work directory is kept: {}", dir.display()),
        }
    })
}

/// A new directory under the system's temporary directory, kept afterwards.
fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let dir = std::env::temp_dir().join(format!("msa-demo-{}-{stamp}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// Serves a router on a free loopback port, in this process.
async fn serve(router: axum::Router) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("cannot listen on 127.0.0.1")?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok(addr)
}

#[allow(
    clippy::print_stdout,
    clippy::too_many_lines,
    reason = "the demo's step list is its output; one function reads as the path it walks"
)]
async fn walk(args: &DemoArgs, dir: &Path) -> anyhow::Result<Outcome> {
    let token = format!("demo-{:x}", std::process::id() ^ 0x5eed_cafe);
    // The services open these; the commands, run in `dir`, are shown the short ones.
    let (monolith_db, coupon_db, monolith_dsn, coupon_dsn, drop_hint) = match &args.db {
        None => (
            format!("sqlite://{}", dir.join("monolith.db").display()),
            format!("sqlite://{}", dir.join("coupon.db").display()),
            "sqlite://monolith.db".to_owned(),
            "sqlite://coupon.db".to_owned(),
            None,
        ),
        Some(url) => {
            let made = server::create(url).await?;
            (
                made.monolith.clone(),
                made.coupon.clone(),
                made.monolith,
                made.coupon,
                Some(made.drop_hint),
            )
        }
    };
    let env = vec![
        ("MSA_ADMIN_TOKEN".to_owned(), token.clone()),
        ("LEGACY_DATABASE_URL".to_owned(), monolith_db.clone()),
        ("COUPON_DATABASE_URL".to_owned(), coupon_db.clone()),
        ("USER".to_owned(), "demo".to_owned()),
    ];
    let mut steps = Steps::new(STEPS, dir, env)?;
    println!("msa-migrate demo: the whole path on the example monolith");
    println!("work directory: {}", dir.display());
    println!(
        "every command below runs there, as shown; to repeat one by hand:\n  cd {} && export MSA_ADMIN_TOKEN={token} LEGACY_DATABASE_URL={monolith_db} COUPON_DATABASE_URL={coupon_db}",
        dir.display()
    );

    // 1. The services and the proxy.
    steps.begin("start the monolith, the coupon service and the proxy");
    let monolith = legacy_commerce::open(&monolith_db, Some(args.users))
        .await
        .context("cannot open the monolith's database")?;
    let monolith_addr = serve(legacy_commerce::router(monolith)).await?;
    let options = |quirks| coupon_service::Options {
        quirks,
        users_url: None,
    };
    // No seed: the coupon service gets its data from the backfill.
    let fixed = coupon_service::open(&coupon_db, None, options(false))
        .await
        .context("cannot open the coupon service's database")?;
    let coupon_addr = serve(coupon_service::router(fixed)).await?;
    let quirky = coupon_service::open(&coupon_db, None, options(true))
        .await
        .context("cannot open the coupon service's database")?;
    let quirky_addr = serve(coupon_service::router(quirky)).await?;
    steps.say(&format!(
        "monolith       http://{monolith_addr}  ({monolith_dsn}, seeded: {} users and products)\n\
         coupon service http://{coupon_addr}  ({coupon_dsn}, empty until the backfill)\n\
         coupon service http://{quirky_addr}  (the same, --quirks: a first build with four differences)",
        args.users
    ));
    files::write_inputs(dir)?;
    files::write(
        &dir.join("proxy.yaml"),
        &files::proxy_config(monolith_addr, coupon_addr, Shadowing::Later),
    )?;
    let (mut proxy, addrs) = steps
        .spawn(
            &["proxy", "--config", "proxy.yaml"],
            &dir.join("proxy.log"),
            &["listening on ", "admin on "],
        )
        .await?;
    let (proxy_url, admin_url) = (addrs[0].clone(), addrs[1].clone());
    steps.say(&format!(
        "proxy {proxy_url}, admin and dashboard {admin_url}"
    ));
    let traffic = Traffic::start(proxy_url.clone(), args.users, 4);
    traffic.set_issuing(false);
    steps.say(
        "traffic: 4 browsing users and 1 writer (points, orders; coupons once the service is\n\
         shadowed with writes: the coupon tables have no updated_at column for\n\
         `backfill --follow`), each request with an X-User-Id",
    );
    steps.done(&format!("proxy on {proxy_url}"));

    // 2. Analyze.
    steps.begin("analyze the monolith");
    let analysis = steps
        .run(
            &[
                "analyze",
                "--source",
                "legacy-commerce",
                "--db",
                &monolith_dsn,
                "--domains",
                "domains.yaml",
                "--out",
                "analysis",
            ],
            &[0],
            12,
        )
        .await?;
    let transactions = analysis
        .stdout
        .lines()
        .find(|l| l.starts_with("transactions:"))
        .unwrap_or("")
        .to_owned();
    steps.done(&transactions);

    // 3. Plan.
    steps.begin("plan the coupon domain (playbook)");
    steps
        .run(
            &[
                "plan",
                "--analysis",
                "analysis",
                "--domain",
                "coupon",
                "--out",
                "playbooks/coupon.draft.yaml",
                "--force",
            ],
            &[0],
            4,
        )
        .await?;
    files::write(
        &dir.join("playbooks/coupon.yaml"),
        &files::reviewed_playbook()?,
    )?;
    steps.say(
        "draft: playbooks/coupon.draft.yaml; it names routes by method and path. The team\n\
         reviewed it into playbooks/coupon.yaml: route names as in proxy.yaml, tables mapped\n\
         to the coupon service's schema, demo timings (each change listed at its top)",
    );
    steps
        .run(&["playbook", "check", "playbooks/coupon.yaml"], &[0], 4)
        .await?;
    steps.done("playbooks/coupon.yaml checks");

    // 4. Backfill.
    steps.begin("backfill the coupon tables into the coupon service's database");
    let data = [
        "--source",
        &monolith_dsn,
        "--target",
        &coupon_dsn,
        "--tables",
        "coupons,user_coupons",
        "--map",
        "coupon-map.yaml",
    ];
    let backfill_args = with(&["backfill"], &data, &["--progress", "none"]);
    steps.run(&backfill_args, &[0], 6).await?;
    steps.done("");

    // 5. Verify.
    steps.begin("verify the copy");
    let verify_args = with(&["verify"], &data, &[]);
    steps.run(&verify_args, &[0, 1], 6).await?.expect_code(
        0,
        "the copy differs from the monolith's tables right after the backfill",
    )?;
    steps.done("identical");

    // 6. Shadow the quirky build.
    steps.begin("shadow the coupon service's first build (--quirks)");
    let quirks_dir = dir.join("shadow-quirks");
    files::write(
        &quirks_dir.join("proxy.yaml"),
        &files::proxy_config(monolith_addr, quirky_addr, Shadowing::Now),
    )?;
    let (mut quirky_proxy, quirky_addrs) = steps
        .spawn(
            &["proxy", "--config", "shadow-quirks/proxy.yaml"],
            &quirks_dir.join("proxy.log"),
            &["listening on ", "admin on "],
        )
        .await?;
    steps.say(
        "a second proxy, its routes in shadow (issues mirrored too); the traffic goes through it\n\
         for now, and coupon issuing starts: the proxy copies every issue to the service",
    );
    traffic.retarget(quirky_addrs[0].clone());
    let issues_before = traffic.issues_sent();
    traffic.set_issuing(true);
    wait_for_pairs(
        &quirky_addrs[1],
        &["coupon-read", "user-coupons"],
        SHADOW_PAIRS,
    )
    .await?;
    // Hold issuing while the traffic moves back to the main proxy, whose
    // routes are not shadowed yet; every issue's copy reaches the service first.
    let issues = traffic.pause_issuing().await - issues_before;
    traffic.retarget(proxy_url.clone());
    wait_for_copies(&quirky_addrs[1], issues).await?;
    wait_for_store(
        &steps,
        "shadow-quirks/msa-shadow.db",
        &["coupon-read", "user-coupons"],
        SHADOW_PAIRS,
    )
    .await?;
    let _ = quirky_proxy.start_kill();
    let _ = quirky_proxy.wait().await;
    let report = steps
        .run(
            &["shadow", "report", "--store", "shadow-quirks/msa-shadow.db"],
            &[1],
            16,
        )
        .await?;
    // The four documented quirks (docs/examples.md), as the report names them.
    let quirks = [
        ("amounts as strings", "type_changed", "$.discountAmount"),
        ("timestamps with an offset", "value_changed", "$.createdAt"),
        ("an extra field", "extra", "$.couponType"),
        ("another array order", "value_changed", "$.coupons[0].id"),
    ];
    let found: Vec<String> = quirks
        .iter()
        .filter(|(_, kind, path)| {
            report.stdout.lines().any(|line| {
                let words: Vec<&str> = line.split_whitespace().collect();
                words.ends_with(&[kind, path])
            })
        })
        .map(|(what, kind, path)| format!("{what} ({kind} {path})"))
        .collect();
    let quirks_found = found.len();
    steps.say(&format!(
        "the report found {quirks_found} of the 4 documented quirks (exit 1: differences): {}",
        found.join(", ")
    ));
    if quirks_found < quirks.len() {
        bail!(StepFailed {
            message: format!(
                "step 6/{STEPS}: the shadow report found only {quirks_found} of the 4 quirks"
            ),
            hint: "read it: msa-migrate shadow report --store shadow-quirks/msa-shadow.db"
                .to_owned(),
        });
    }
    steps.done(&format!("differences found: {quirks_found} quirks"));

    // 7. Shadow the fixed build.
    steps.begin("shadow the fixed build (quirks off), issues mirrored too");

    let domain = ["coupon", "--playbooks", "playbooks", "--admin", &admin_url];
    steps
        .run(
            &with(
                &["rollback"],
                &domain,
                &["--to", "shadow", "--reason", "shadow the fixed build"],
            ),
            &[0],
            4,
        )
        .await?;
    let issues_before = traffic.issues_sent();
    traffic.set_issuing(true);
    wait_for_pairs(
        &admin_url,
        &["coupon-read", "coupon-issue", "user-coupons"],
        CLEAN_PAIRS,
    )
    .await?;
    wait_for_store(
        &steps,
        "msa-shadow.db",
        &["coupon-read", "coupon-issue", "user-coupons"],
        CLEAN_PAIRS,
    )
    .await?;
    steps
        .run(&["shadow", "report", "--store", "msa-shadow.db"], &[0], 8)
        .await?;
    steps.done("clean: every compared pair equal");

    // 8. Canary.
    steps.begin("canary: 10% → 50% → 100%, judged every 2s");
    let issues = traffic.pause_issuing().await - issues_before;
    steps.say(&format!(
        "waiting for the proxy to deliver the copies of all {issues} issues to the service"
    ));
    wait_for_copies(&admin_url, issues).await?;
    steps.say(
        "coupon issuing pauses from here: what the coupon service issues is not copied back to\n\
         the monolith until the order saga exists (not built), so the two would drift",
    );
    steps
        .run(
            &with(
                &["canary"],
                &[
                    "coupon",
                    "--playbooks",
                    "playbooks",
                    "--state",
                    "msa-proxy-state.json",
                ],
                &[
                    "--admin",
                    &admin_url,
                    "--min-requests",
                    "10",
                    // Both services answer in a millisecond or two on one
                    // machine: a sub-millisecond difference crosses the
                    // proxy's latency buckets (0.5, 1, 2 ms) and shows in the
                    // rank test. Slower than the monolith 80% of the time fails.
                    "--max-latency-shift",
                    "0.3",
                    "--reason",
                    "demo canary",
                ],
            ),
            &[0],
            12,
        )
        .await?;
    steps.done("walk completed at 100%");

    // 9. Readiness.
    steps.begin("catch up, verify again, readiness");
    steps.say(
        "the coupon tables have no updated_at column, so `backfill --follow` cannot catch up;\n\
         a full pass again (--restart) brings the checkpoints up to date",
    );
    steps
        .run(
            &with(&["backfill"], &data, &["--restart", "--progress", "none"]),
            &[0],
            3,
        )
        .await?;
    steps
        .run(&verify_args, &[0, 1], 4)
        .await?
        .expect_code(0, "the coupon service's data differs from the monolith's")?;
    let readiness = [
        "readiness",
        "coupon",
        "--playbooks",
        "playbooks",
        "--admin",
        &admin_url,
        "--shadow-store",
        "msa-shadow.db",
        "--analysis",
        "analysis",
    ];
    ready(&steps, &readiness).await?;
    steps.done("READY");

    // 10. Cutover.
    steps.begin("cutover");
    let cutover = with(
        &["cutover"],
        &domain,
        &[
            "--shadow-store",
            "msa-shadow.db",
            "--analysis",
            "analysis",
            "--reason",
            "readiness passed",
        ],
    );
    steps.run(&cutover, &[0], 4).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    steps.done("the coupon service serves every coupon route");

    // 11. Rollback rehearsal.
    steps.begin("rollback rehearsal: back to the monolith and over again, under traffic");
    let (sent_before, failed_before) = traffic.counts();
    steps
        .run(
            &with(&["rollback"], &domain, &["--reason", "rehearsal"]),
            &[0],
            4,
        )
        .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    steps.run(&cutover, &[0], 4).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (sent_after, failed_after) = traffic.counts();
    let failed = failed_after - failed_before;
    steps.say(&format!(
        "{} requests during the rehearsal, {failed} failed",
        sent_after - sent_before
    ));
    if failed > 0 {
        bail!(StepFailed {
            message: format!(
                "step 11/{STEPS}: {failed} request(s) failed during the rollback rehearsal: {:?}",
                traffic.failure_examples().await
            ),
            hint: format!("see {}", dir.join("proxy.log").display()),
        });
    }
    steps.done("zero failed requests");

    // 12. The readiness report.
    steps.begin("the readiness report");
    steps.run(&verify_args, &[0, 1], 4).await?.expect_code(
        0,
        "after the cutover, the coupon service's data differs from the monolith's",
    )?;
    steps.run(&readiness, &[0], 12).await?;
    steps.say("the evidence behind each gate: the same command with --explain; the analysis: analysis/report.html");
    steps.done("coupon: READY, cut over");

    let (sent, failed) = traffic.counts();
    println!(
        "\ntraffic: {sent} requests through the proxy, {failed} failed, {} coupons issued",
        traffic.issued()
    );
    for example in traffic.failure_examples().await {
        println!("  failed: {example}");
    }
    println!("dashboard: {admin_url}/dashboard");
    println!("work directory: {}", dir.display());
    if let Some(hint) = &drop_hint {
        println!("the demo's databases are kept; to drop them: {hint}");
    }
    if args.exit {
        traffic.stop();
        let _ = proxy.start_kill();
        let _ = proxy.wait().await;
        return Ok(Outcome::Success);
    }
    println!("serving until Ctrl-C (the proxy at {proxy_url})");
    let _ = tokio::signal::ctrl_c().await;
    traffic.stop();
    let _ = proxy.start_kill();
    let _ = proxy.wait().await;
    Ok(Outcome::Success)
}

/// Runs readiness until it passes; an inconclusive verdict (not enough traffic
/// yet) waits for more, a failing one stops the demo.
async fn ready(steps: &Steps, readiness: &[&str]) -> anyhow::Result<()> {
    for attempt in 1..=6 {
        let ran = steps.run(readiness, &[0, 1], 14).await?;
        if ran.code == Some(0) {
            return Ok(());
        }
        let first = ran.stdout.lines().next().unwrap_or_default().to_owned();
        if !first.contains("(inconclusive)") && !first.contains("(no_data)") || attempt == 6 {
            bail!(StepFailed {
                message: format!("readiness does not pass: {first}"),
                hint: "the gates above say why; `msa-migrate readiness coupon --explain` shows the numbers"
                    .to_owned(),
            });
        }
        steps.say("not enough evidence yet: 3s more traffic, then again");
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    Ok(())
}

/// `head` + `middle` + `tail` as one argument list.
fn with<'a>(head: &[&'a str], middle: &[&'a str], tail: &[&'a str]) -> Vec<&'a str> {
    head.iter().chain(middle).chain(tail).copied().collect()
}

impl steps::Ran {
    /// Stops the demo unless the command exited with `code`.
    fn expect_code(&self, code: i32, what: &str) -> anyhow::Result<()> {
        if self.code == Some(code) {
            return Ok(());
        }
        bail!(StepFailed {
            message: what.to_owned(),
            hint: "the output above says where".to_owned(),
        })
    }
}

/// Waits until the shadow store (which the proxy writes every 2 s) holds
/// `pairs` compared pairs on each route.
async fn wait_for_store(
    steps: &Steps,
    store: &str,
    routes: &[&str],
    pairs: u64,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let ask = ["shadow", "report", "--store", store, "--format", "json"];
    let mut last = String::new();
    while started.elapsed() < Duration::from_secs(30) {
        last = steps.quiet(&ask).await;
        if let Ok(report) = serde_json::from_str::<Value>(&last)
            && routes.iter().all(|route| {
                report["routes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|r| r["route"] == *route)
                    .and_then(|r| r["compared"].as_u64())
                    .is_some_and(|n| n >= pairs)
            })
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    bail!(StepFailed {
        message: format!(
            "the shadow store {store} did not reach {pairs} compared pairs per route in 30s"
        ),
        hint: format!("it said: {last}"),
    })
}

/// Waits until the proxy has sent the service a copy of each of `issues` issue
/// requests (compared, unanalysed, failed or skipped), so none is lost.
async fn wait_for_copies(admin: &str, issues: u64) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let started = Instant::now();
    let mut copied = 0;
    while started.elapsed() < Duration::from_secs(60) {
        if let Ok(response) = client.get(format!("{admin}/shadow")).send().await
            && let Ok(report) = response.json::<Value>().await
            && let Some(route) = report["routes"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|r| r["route"] == "coupon-issue")
        {
            let count = |key: &str| route[key].as_u64().unwrap_or(0);
            let skipped: u64 = route["skipped"]
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(_, n)| n.as_u64())
                .sum();
            copied = count("compared") + count("unanalysed") + count("candidate_failed") + skipped;
            if copied >= issues {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!(StepFailed {
        message: format!(
            "the proxy at {admin} sent the coupon service {copied} of {issues} issue copies in 60s"
        ),
        hint: format!("see GET {admin}/shadow"),
    })
}

/// Waits until the proxy's admin API shows `pairs` compared pairs on each route.
async fn wait_for_pairs(admin: &str, routes: &[&str], pairs: u64) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let started = Instant::now();
    let mut last = Value::Null;
    while started.elapsed() < Duration::from_secs(90) {
        if let Ok(response) = client.get(format!("{admin}/shadow")).send().await
            && let Ok(report) = response.json::<Value>().await
        {
            let compared = |route: &str| {
                report["routes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|r| r["route"] == route)
                    .and_then(|r| r["compared"].as_u64())
                    .unwrap_or(0)
            };
            if routes.iter().all(|r| compared(r) >= pairs) {
                return Ok(());
            }
            last = report;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    bail!(StepFailed {
        message: format!("shadow traffic did not reach {pairs} compared pairs per route in 90s"),
        hint: format!("the proxy's GET /shadow said: {last}"),
    })
}
