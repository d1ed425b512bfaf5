//! `msa-migrate demo`: the whole path on the bundled example monolith.
//!
//! The example services run in this process (each on a free loopback port);
//! every step runs the real `msa-migrate` command as a child process, shown as a
//! person would type it in the work directory.

mod catchup;
mod files;
mod server;
mod steps;
mod traffic;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use msa_examples::{coupon_service, legacy_commerce};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use self::catchup::CatchUp;
use self::files::Shadowing;
use self::server::{Server, ServerDatabases};
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

/// The coupon domain's routes, as proxy.yaml and the playbook name them.
const ROUTES: [&str; 3] = ["coupon-read", "coupon-issue", "user-coupons"];

/// Time between two catch-up passes.
const CATCH_UP_EVERY: Duration = Duration::from_secs(2);

/// What the demo writes for scripts and tests, in its work directory.
pub(crate) const SUMMARY: &str = "demo-summary.json";

/// `msa-migrate demo`.
pub(crate) fn run(args: DemoArgs) -> anyhow::Result<Outcome> {
    // Bad input is refused before anything is created.
    let server = args.db.as_deref().map(Server::parse).transpose()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        // The databases before the directory: a server that refuses leaves nothing behind.
        let databases = match &server {
            Some(server) => Some(server.create().await?),
            None => None,
        };
        let dir = work_dir(&args).map_err(|err| match &databases {
            Some(made) => err.context(format!(
                "the demo's databases are made; drop them: {}",
                made.drop_hint
            )),
            None => err,
        })?;
        let engine = server.as_ref().map_or("sqlite", Server::engine);
        // Ctrl-C before the end drops the walk, and with it the proxy (killed on drop).
        tokio::select! {
            outcome = walk(&args, &dir, engine, databases) => outcome,
            _ = tokio::signal::ctrl_c() => bail!("interrupted; the work directory is kept: {}", dir.display()),
        }
    })
}

/// `--dir`, made if missing; else a new directory under the system's
/// temporary directory, kept afterwards.
fn work_dir(args: &DemoArgs) -> anyhow::Result<PathBuf> {
    if let Some(dir) = &args.dir {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        return dir
            .canonicalize()
            .with_context(|| format!("cannot resolve {}", dir.display()));
    }
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
async fn walk(
    args: &DemoArgs,
    dir: &Path,
    engine: &str,
    databases: Option<ServerDatabases>,
) -> anyhow::Result<Outcome> {
    let token = format!("demo-{:x}", std::process::id() ^ 0x5eed_cafe);
    // The services open these; the commands, run in `dir`, are shown the short ones.
    let (monolith_db, coupon_db, monolith_dsn, coupon_dsn, drop_hint) = match databases {
        None => (
            format!("sqlite://{}", dir.join("monolith.db").display()),
            format!("sqlite://{}", dir.join("coupon.db").display()),
            "sqlite://monolith.db".to_owned(),
            "sqlite://coupon.db".to_owned(),
            None,
        ),
        Some(made) => (
            made.monolith.clone(),
            made.coupon.clone(),
            made.monolith,
            made.coupon,
            Some(made.drop_hint),
        ),
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
    let monolith_url = url::Url::parse(&format!("http://{monolith_addr}/"))?;
    // No seed: the coupon service gets its data from the backfill. The fixed
    // build has the monolith decide its clients' issues (--issue-through).
    let fixed = coupon_service::open(
        &coupon_db,
        None,
        coupon_service::Options {
            quirks: false,
            users_url: None,
            issue_through: Some(monolith_url),
        },
    )
    .await
    .context("cannot open the coupon service's database")?;
    let coupon_addr = serve(coupon_service::router(fixed)).await?;
    let quirky = coupon_service::open(
        &coupon_db,
        None,
        coupon_service::Options {
            quirks: true,
            ..coupon_service::Options::default()
        },
    )
    .await
    .context("cannot open the coupon service's database")?;
    let quirky_addr = serve(coupon_service::router(quirky)).await?;
    steps.say(&format!(
        "monolith       http://{monolith_addr}  ({monolith_dsn}, seeded: {} users and products)\n\
         coupon service http://{coupon_addr}  ({coupon_dsn}, empty until the backfill;\n                \
         --issue-through http://{monolith_addr}: the monolith decides its clients' issues)\n\
         coupon service http://{quirky_addr}  (the same database, --quirks: a first build with four differences)",
        args.users
    ));
    files::write_inputs(dir)?;
    files::write(
        &dir.join("proxy.yaml"),
        &files::proxy_config(monolith_addr, coupon_addr, Shadowing::Later, false),
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
    let traffic = Traffic::start(&proxy_url, args.users, 4, "before issuing");
    steps.say(
        "traffic: 4 browsing users and 1 writer (points, orders; coupons once every issue\n\
         reaches the coupon service too), each request with an X-User-Id",
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
    files::write(
        &dir.join("proxy.yaml"),
        &files::proxy_config(monolith_addr, coupon_addr, Shadowing::Later, true),
    )?;
    reload(&admin_url, &token).await?;
    steps.say(&format!(
        "proxy.yaml now lists the playbook (`playbooks: [playbooks/coupon.yaml]`), reloaded\n\
         (POST {admin_url}/reload): its routes are the coupon domain's, on the dashboard too"
    ));
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
        &files::proxy_config(monolith_addr, quirky_addr, Shadowing::Now, false),
    )?;
    let (mut quirky_proxy, quirky_addrs) = steps
        .spawn(
            &["proxy", "--config", "shadow-quirks/proxy.yaml"],
            &quirks_dir.join("proxy.log"),
            &["listening on ", "admin on "],
        )
        .await?;
    let domain = ["coupon", "--playbooks", "playbooks", "--admin", &admin_url];
    steps
        .run(
            &with(
                &["rollback"],
                &domain,
                &[
                    "--routes",
                    "coupon-issue",
                    "--to",
                    "shadow",
                    "--reason",
                    "mirror every issue to the coupon service, from the first one on",
                ],
            ),
            &[0],
            4,
        )
        .await?;
    steps.say(
        "coupon issuing starts, through the main proxy, whose coupon-issue route mirrors\n\
         every issue to the coupon service (one copy at a time, in the monolith's order);\n\
         the browsing users go through a second proxy, its routes in shadow of the first build",
    );
    traffic.retarget_readers(&quirky_addrs[0]);
    traffic.set_phase("shadow").await;
    traffic.set_issuing(true);
    wait_for_pairs(
        &quirky_addrs[1],
        &["coupon-read", "user-coupons"],
        SHADOW_PAIRS,
    )
    .await?;
    traffic.retarget_readers(&proxy_url);
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
    wait_for_pairs(&admin_url, &ROUTES, CLEAN_PAIRS).await?;
    wait_for_store(&steps, "msa-shadow.db", &ROUTES, CLEAN_PAIRS).await?;
    steps
        .run(&["shadow", "report", "--store", "msa-shadow.db"], &[0], 8)
        .await?;
    steps.done("clean: every compared pair equal");

    // 8. The canary, on the reads.
    steps.begin("canary on the reads: 10% → 50% → 100%, judged every 2s; issuing goes on");
    steps.say(
        "a canary that split issues between two databases could issue a coupon past its\n\
         limit, each side counting only its own. So the canary moves the reads, and the\n\
         monolith alone decides issues until the cutover. The shadow evidence is in: the\n\
         routes go back to the monolith, and the catch-up, not the mirror, keeps the coupon\n\
         service's copy from here (with the monolith's exact issue times)",
    );
    let answered = traffic.issues_answered();
    // Every route at once: reads compared against a copy the catch-up keeps
    // would show its lag as differences.
    steps
        .run(
            &with(
                &["rollback"],
                &domain,
                &[
                    "--to",
                    "legacy",
                    "--reason",
                    "shadow evidence in; the monolith alone decides issues until the cutover",
                ],
            ),
            &[0],
            4,
        )
        .await?;
    let copies = wait_for_copies(&admin_url, answered).await?;
    steps.say(&format!(
        "every issue mirrored so far has reached the coupon service ({copies} copies); the catch-up\n\
         takes over: a full pass now, then every {}s (the coupon tables have no updated_at\n\
         column for `backfill --follow`)",
        CATCH_UP_EVERY.as_secs()
    ));
    let catch_up_args = with(&["backfill"], &data, &["--restart", "--progress", "none"]);
    steps.run(&catch_up_args, &[0], 3).await?;
    let catch_up = CatchUp::start(
        steps.background(),
        catch_up_args.iter().map(|a| (*a).to_owned()).collect(),
        CATCH_UP_EVERY,
        dir.join("catch-up.log"),
    );
    traffic.set_phase("canary").await;
    steps
        .run(
            &with(
                &["canary"],
                &[
                    "coupon",
                    "--playbooks",
                    "playbooks",
                    "--routes",
                    "coupon-read,user-coupons",
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
    steps.done("walk completed at 100% of the reads");

    // 9. Readiness.
    steps.begin("readiness");
    traffic.set_phase("readiness").await;
    steps.say(
        "`verify` compares the two databases at rest; with issues flowing, a row can be\n\
         between them when it is read. The data gate takes the last verify (step 5, clean,\n\
         within the playbook's verify_max_age) and the catch-up's lag; the demo verifies\n\
         again at the end, once the traffic stops",
    );
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
    steps.begin("cutover: every coupon route, issues included, under traffic");
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
    traffic.set_phase("cutover").await;
    steps.say(
        "issues now reach the coupon service, which has the monolith decide each one\n\
         (--issue-through) and records it under the monolith's id: one place still\n\
         counts every coupon against its limit",
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    steps.done("the coupon service serves every coupon route");

    // 11. Rollback rehearsal.
    steps.begin("rollback rehearsal: back to the monolith and over again, under traffic");
    let (sent_before, failed_before) = traffic.counts();
    let before = routes_view(&admin_url).await?;
    steps
        .run(
            &with(
                &["rollback"],
                &domain,
                &["--to", "legacy", "--reason", "rehearsal"],
            ),
            &[0],
            4,
        )
        .await?;
    traffic.set_phase("rolled back").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rolled_back = routes_view(&admin_url).await?;
    steps.run(&cutover, &[0], 4).await?;
    traffic.set_phase("cut over again").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (sent_after, failed_after) = traffic.counts();
    let failed = failed_after - failed_before;
    let rehearsal_routes: serde_json::Map<String, Value> = ROUTES
        .iter()
        .map(|route| {
            let entry = json!({
                "stage_after_rollback": rolled_back.get(*route).map(|r| r["stage"].clone()),
                "legacy_answers_before": before.get(*route).map_or(0, legacy_answers),
                "legacy_answers_after": rolled_back.get(*route).map_or(0, legacy_answers),
            });
            ((*route).to_owned(), entry)
        })
        .collect();
    let moved = ROUTES
        .iter()
        .filter(|route| {
            let entry = &rehearsal_routes[**route];
            entry["stage_after_rollback"]["mode"] == "legacy"
                && entry["legacy_answers_after"].as_u64() > entry["legacy_answers_before"].as_u64()
        })
        .count();
    steps.say(&format!(
        "{} requests during the rehearsal, {failed} failed; after the rollback the monolith\n\
         answered on {moved} of the {} coupon routes",
        sent_after - sent_before,
        ROUTES.len()
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
    steps.begin("the traffic stops; the data compared at rest, and the readiness report");
    traffic.stop().await;
    let (passes, passes_failed) = catch_up.stop().await;
    steps.say(&format!(
        "the traffic has stopped; the catch-up ran {passes} passes ({passes_failed} failed), and a last one now"
    ));
    steps.run(&catch_up_args, &[0], 3).await?;
    steps.run(&verify_args, &[0, 1], 4).await?.expect_code(
        0,
        "after the cutover, the coupon service's data differs from the monolith's",
    )?;
    steps.run(&readiness, &[0], 12).await?;
    steps.say("the evidence behind each gate: the same command with --explain; the analysis: analysis/report.html");
    steps.done("coupon: READY, cut over");
    // What the dashboard shows of the domain now (GET /domains), for the summary.
    let domains: Value = match reqwest::get(format!("{admin_url}/domains")).await {
        Ok(response) => response.json().await.unwrap_or(Value::Null),
        Err(_) => Value::Null,
    };

    let (sent, failed) = traffic.counts();
    let summary = json!({
        "completed": true,
        "engine": engine,
        "databases": { "monolith": monolith_db, "coupon": coupon_db },
        "admin": admin_url,
        "traffic": traffic.summary().await,
        "rehearsal": {
            "requests": sent_after - sent_before,
            "failed": failed_after - failed_before,
            "routes": rehearsal_routes,
        },
        "catch_up": { "passes": passes, "failed": passes_failed },
        "domains": domains,
    });
    files::write(
        &dir.join(SUMMARY),
        &serde_json::to_string_pretty(&summary).context("the summary serialises")?,
    )?;
    println!(
        "\ntraffic: {sent} requests through the proxy, {failed} failed, {} coupons issued (ledger: {SUMMARY})",
        traffic.issued().await
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
        let _ = proxy.start_kill();
        let _ = proxy.wait().await;
        return Ok(Outcome::Success);
    }
    // Traffic again, for the dashboard; the catch-up follows the monolith's issues.
    let traffic = Traffic::start(&proxy_url, args.users, 4, "serving");
    traffic.set_issuing(true);
    let catch_up = CatchUp::start(
        steps.background(),
        catch_up_args.iter().map(|a| (*a).to_owned()).collect(),
        CATCH_UP_EVERY,
        dir.join("catch-up.log"),
    );
    println!("serving until Ctrl-C, with traffic (the proxy at {proxy_url})");
    let _ = tokio::signal::ctrl_c().await;
    traffic.stop().await;
    catch_up.stop().await;
    let _ = proxy.start_kill();
    let _ = proxy.wait().await;
    Ok(Outcome::Success)
}

/// Asks the proxy to re-read its configuration.
async fn reload(admin: &str, token: &str) -> anyhow::Result<()> {
    let response = reqwest::Client::new()
        .post(format!("{admin}/reload"))
        .bearer_auth(token)
        .header("x-msa-actor", "demo")
        .send()
        .await
        .with_context(|| format!("cannot reach the proxy's admin API at {admin}"))?;
    if !response.status().is_success() {
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        bail!(StepFailed {
            message: format!("the proxy refused the new proxy.yaml: {status} {text}"),
            hint: "check it: msa-migrate proxy --config proxy.yaml --check".to_owned(),
        });
    }
    Ok(())
}

/// The proxy's routes (GET /routes), by name.
async fn routes_view(admin: &str) -> anyhow::Result<serde_json::Map<String, Value>> {
    let view: Value = reqwest::get(format!("{admin}/routes"))
        .await
        .and_then(reqwest::Response::error_for_status)
        .with_context(|| format!("cannot read {admin}/routes"))?
        .json()
        .await
        .with_context(|| format!("{admin}/routes is not JSON"))?;
    Ok(view["routes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| Some((r["name"].as_str()?.to_owned(), r.clone())))
        .collect())
}

/// Requests the monolith answered on a route, every status class together.
fn legacy_answers(route: &Value) -> u64 {
    route["requests"]["legacy"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(_, n)| n.as_u64())
        .sum()
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

/// Issue copies the proxy has finished with (compared, unanalysed, failed or skipped).
async fn copies_done(client: &reqwest::Client, admin: &str) -> Option<u64> {
    let report: Value = client
        .get(format!("{admin}/shadow"))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    let route = report["routes"]
        .as_array()?
        .iter()
        .find(|r| r["route"] == "coupon-issue")?;
    let count = |key: &str| route[key].as_u64().unwrap_or(0);
    let skipped: u64 = route["skipped"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(_, n)| n.as_u64())
        .sum();
    Some(count("compared") + count("unanalysed") + count("candidate_failed") + skipped)
}

/// Once coupon-issue has left `shadow`, waits until the proxy has finished
/// with the copy of every issue it mirrored: at least `answered` (the issues
/// answered before the change, all mirrored), and no more coming for half a
/// second (one issue may have been in flight during the change). Returns the
/// number of copies.
async fn wait_for_copies(admin: &str, answered: u64) -> anyhow::Result<u64> {
    let client = reqwest::Client::new();
    let started = Instant::now();
    let mut last = (0, Instant::now());
    while started.elapsed() < Duration::from_secs(60) {
        if let Some(done) = copies_done(&client, admin).await {
            if done != last.0 {
                last = (done, Instant::now());
            } else if done >= answered && last.1.elapsed() >= Duration::from_millis(500) {
                return Ok(done);
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!(StepFailed {
        message: format!(
            "the proxy at {admin} finished {} of at least {answered} issue copies in 60s",
            last.0
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
