//! What the demo writes into its work directory: the monolith's source (for
//! `analyze`), the team's domains, the reviewed playbook, the table map and the
//! proxy configurations.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context as _;

/// The monolith's source, embedded so that an installed binary can analyze it.
const SOURCE: &[(&str, &str)] = &[
    (
        "src/mod.rs",
        include_str!("../../../../examples/legacy-commerce/src/mod.rs"),
    ),
    (
        "src/coupons.rs",
        include_str!("../../../../examples/legacy-commerce/src/coupons.rs"),
    ),
    (
        "src/orders.rs",
        include_str!("../../../../examples/legacy-commerce/src/orders.rs"),
    ),
    (
        "src/points.rs",
        include_str!("../../../../examples/legacy-commerce/src/points.rs"),
    ),
    (
        "src/products.rs",
        include_str!("../../../../examples/legacy-commerce/src/products.rs"),
    ),
    (
        "src/seed.rs",
        include_str!("../../../../examples/legacy-commerce/src/seed.rs"),
    ),
    (
        "src/users.rs",
        include_str!("../../../../examples/legacy-commerce/src/users.rs"),
    ),
    (
        "src/schema/sqlite.sql",
        include_str!("../../../../examples/legacy-commerce/src/schema/sqlite.sql"),
    ),
    (
        "src/schema/postgres.sql",
        include_str!("../../../../examples/legacy-commerce/src/schema/postgres.sql"),
    ),
    (
        "src/schema/mysql.sql",
        include_str!("../../../../examples/legacy-commerce/src/schema/mysql.sql"),
    ),
];

/// The bundled playbook the reviewed one is derived from.
pub(super) const BUNDLED_PLAYBOOK: &str = include_str!("../../../../playbooks/coupon.yaml");

/// The team's domains: the boundaries `analyze` proposes, with the coupon domain
/// named as the coupon service and its playbook name it.
const DOMAINS: &str = "\
# The team's domains for legacy-commerce: what `msa-migrate analyze` proposed,
# with the coupon domain named `coupon`, as its service and playbook are.
domains:
  coupon:
    packages: [crate::coupons, crate::users]
    tables: [coupons, user_coupons]
    routes:
    - GET /api/coupons/{id}
    - GET /api/users/{id}
    - GET /api/users/{id}/coupons
    - POST /api/coupons/{id}/issue
  points:
    packages: [crate, crate::points, crate::seed]
    tables: [point_history, points, users]
    routes:
    - GET /api/users/{id}/points
    - GET /healthz
    - POST /api/users/{id}/points/charge
  products:
    packages: [crate::orders, crate::products]
    tables: [order_items, orders, payments, products]
    routes:
    - GET /api/orders/{id}
    - GET /api/products
    - GET /api/products/top
    - GET /api/products/{id}
    - POST /api/orders
";

/// The monolith's coupon tables → the coupon service's schema (backfill's `--map`),
/// the same as the playbook's `tables:` section.
const MAP: &str = "\
# The monolith's coupon tables -> the coupon service's own schema (docs/backfill.md).
# The same as the `tables:` section of playbooks/coupon.yaml.
tables:
  coupons:
    target: coupon
    rename:
      id: coupon_id
      name: title
      discount_amount: discount_won
      max_issue: quantity_total
      issued_count: quantity_issued
      status: state
    values:
      status: {ACTIVE: 1, PAUSED: 2}
  user_coupons:
    target: issued_coupon
    rename:
      id: issued_coupon_id
      user_id: member_id
      order_id: order_ref
";

/// Writes the source tree, the domains and the map; returns nothing but errors.
pub(super) fn write_inputs(dir: &Path) -> anyhow::Result<()> {
    for (path, text) in SOURCE {
        write(&dir.join("legacy-commerce").join(path), text)?;
    }
    write(&dir.join("domains.yaml"), DOMAINS)?;
    write(&dir.join("coupon-map.yaml"), MAP)?;
    std::fs::create_dir_all(dir.join("playbooks"))
        .with_context(|| format!("cannot create {}", dir.join("playbooks").display()))
}

/// The reviewed playbook: the bundled `playbooks/coupon.yaml` at demo scale, with
/// every change from it stated in a comment at the top.
pub(super) fn reviewed_playbook() -> anyhow::Result<String> {
    let mut text = String::from(
        "# playbooks/coupon.yaml as the team reviewed it for this demo: the bundled\n\
         # playbook (which `plan`'s draft beside it was checked against) at demo scale.\n\
         # Changes from the bundled file, each on purpose:\n\
         # - canary: steps 10/50/100, judged every 2s, one pass advances, no approval\n\
         #   (the demo has no person to approve), a second failure rolls back (one\n\
         #   machine runs everything: a single 2s window can catch its hiccup).\n\
         # - shadow: 200 samples at a 98% lower bound (minutes of traffic, not days).\n\
         # - performance: 50 requests per side, and a latency shift of 0.3 as in the\n\
         #   canary step (both services answer in a millisecond or two on one machine:\n\
         #   a sub-millisecond difference crosses the proxy's latency buckets).\n\
         # - coupling is NOT critical: the analysis finds the order transaction and the\n\
         #   shared writes that cross the boundary; the saga that removes them is not\n\
         #   built (docs/examples.md). Readiness still shows the gate failing.\n",
    );
    let replaced = [
        (
            "  min_samples: 200\n  match_rate: 0.99\n",
            "  min_samples: 200\n  match_rate: 0.98\n",
        ),
        (
            "  steps: [1, 5, 25, 50, 100]\n  interval: 10m\n  advance_after: 3\n  max_failures: 1\n  approval: [50, 100]\n",
            "  steps: [10, 50, 100]\n  interval: 2s\n  advance_after: 1\n  max_failures: 2\n",
        ),
        (
            "  coupling:\n    critical: true\n",
            "  coupling:\n    critical: false\n",
        ),
        ("    min_requests: 200\n", "    min_requests: 50\n"),
        (
            "    max_latency_shift: 0.1\n",
            "    max_latency_shift: 0.3\n",
        ),
    ];
    let mut body = BUNDLED_PLAYBOOK.to_owned();
    for (from, to) in replaced {
        anyhow::ensure!(
            body.contains(from),
            "the bundled playbooks/coupon.yaml changed: cannot find {from:?} to adapt it for the demo"
        );
        body = body.replacen(from, to, 1);
    }
    // The schema reference is relative to playbooks/ in the repository.
    body = body.replace("# yaml-language-server: $schema=playbook.schema.json\n", "");
    text.push_str(&body);
    Ok(text)
}

/// Where the coupon routes start in a proxy configuration.
#[derive(Debug, Clone, Copy)]
pub(super) enum Shadowing {
    /// Shadowed from the start: the first look at the quirky build.
    Now,
    /// At `legacy` until the demo moves them.
    Later,
}

/// A proxy configuration for the demo, paths relative to its own directory;
/// with `playbook`, the coupon routes are also claimed by playbooks/coupon.yaml,
/// which makes them the coupon domain's (the dashboard groups them so).
pub(super) fn proxy_config(
    monolith: SocketAddr,
    coupon: SocketAddr,
    shadowing: Shadowing,
    playbook: bool,
) -> String {
    let mode = match shadowing {
        Shadowing::Now => "shadow",
        Shadowing::Later => "legacy",
    };
    let mut yaml = String::new();
    let _ = write!(
        yaml,
        "# Written by `msa-migrate demo`. Reference: docs/proxy.md.\n\
         listen: 127.0.0.1:0\n\
         workers: 2\n\
         legacy: monolith\n\
         mirror:\n  \
           queue: 100000           # never drop a copy: issues must reach the service\n  \
           concurrency: 1          # copies in order, so the service issues in the monolith's order\n\
         admin:\n  \
           listen: 127.0.0.1:0\n\
         state:\n  \
           file: msa-proxy-state.json\n  \
           audit_log: msa-proxy-audit.jsonl\n  \
           shadow_store: msa-shadow.db\n\
         upstreams:\n  \
           monolith:\n    endpoints: [\"{monolith}\"]\n  \
           coupon:\n    endpoints: [\"{coupon}\"]\n"
    );
    if playbook {
        yaml.push_str(
            "playbooks: [playbooks/coupon.yaml]   # the coupon domain: the routes below are its\n",
        );
    }
    yaml.push_str("routes:\n");
    // Each route with the comparison rules the team accepted, and why.
    let routes = [
        (
            "coupon-read",
            "GET",
            "/api/coupons/{id}",
            "      rules:\n        numeric_tolerance:   # a read racing an issue may see the count one apart\n          \"$.issuedCount\": 1\n          \"$.remaining\": 1\n",
        ),
        (
            "coupon-issue",
            "POST",
            "/api/coupons/{id}/issue",
            "      methods: [POST]       # issues are mirrored too: the service keeps its own copy\n      rules:\n        ignore: [\"$.issuedAt\"]   # each side records its own issue time\n",
        ),
        (
            "user-coupons",
            "GET",
            "/api/users/{id}/coupons",
            "      rules:\n        ignore: [\"$.coupons[*].issuedAt\"]   # each side records its own issue time\n",
        ),
    ];
    for (name, method, path, shadow) in routes {
        // While issues go on, the service's copy trails the monolith by up to
        // one catch-up pass (2 s): a canary-time comparison would rightly flag
        // that lag, so in the canary the reads are judged on errors and latency.
        let _ = write!(
            yaml,
            "  - name: {name}\n    methods: [{method}]\n    path: \"{path}\"\n    upstream: coupon\n    \
             mode: {mode}\n    sticky: header:X-User-Id\n    fallback: true\n    shadow:\n      \
             max_in_flight: 100000\n      \
             in_canary: false      # the copy trails by one catch-up pass: see docs/demo.md\n{shadow}"
        );
    }
    yaml
}

/// Writes a file, creating its directory.
pub(super) fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}
