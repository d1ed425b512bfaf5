//! `msa-migrate plan`: a first playbook for a domain, from `analyze`'s
//! `analysis.json`.

use std::fmt::Write as _;

use anyhow::{Context, bail};
use serde_json::Value;

use crate::Outcome;
use crate::args::PlanArgs;

/// `msa-migrate plan`: a first playbook from `analyze`'s `analysis.json`.
#[allow(
    clippy::print_stdout,
    reason = "without --out the playbook is the command's output"
)]
pub(crate) fn plan(args: PlanArgs) -> anyhow::Result<Outcome> {
    let path = args.analysis.join("analysis.json");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "cannot read {}: run `msa-migrate analyze --out {}` first",
            path.display(),
            args.analysis.display()
        )
    })?;
    let analysis: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let yaml =
        plan_yaml(&analysis, &args.domain).with_context(|| format!("in {}", path.display()))?;
    // What we write must pass our own check.
    if let Err(problems) = msa_playbook::parse("(planned)", &yaml) {
        let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
        bail!(
            "the planned playbook does not validate (a bug): {}",
            list.join("; ")
        );
    }
    match &args.out {
        None => print!("{yaml}"),
        Some(out) => {
            if out.exists() && !args.force {
                bail!(
                    "{} exists: edit it, or pass --force to overwrite it",
                    out.display()
                );
            }
            std::fs::write(out, &yaml)
                .with_context(|| format!("cannot write {}", out.display()))?;
        }
    }
    Ok(Outcome::Success)
}

/// `GET /api/coupons/{id}` → (`GET`, `/api/coupons/{id}`), from a route
/// string or node id (`route:GET /api/…`).
fn split_route(route: &str) -> Option<(String, String)> {
    let route = route.trim_start_matches("route:").trim();
    let (method, path) = route.split_once(' ')?;
    let path = path.trim();
    path.starts_with('/')
        .then(|| (method.to_ascii_uppercase(), path.to_owned()))
}

/// `get` + `/api/coupons/{id}/issue` → `get-coupons-id-issue`.
fn route_name(method: &str, path: &str) -> String {
    let mut parts = vec![method.to_ascii_lowercase()];
    for segment in path.split('/').filter(|s| !s.is_empty() && *s != "api") {
        let clean: String = segment
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect();
        let clean = clean.trim_matches('-').to_owned();
        if !clean.is_empty() {
            parts.push(clean);
        }
    }
    parts.join("-")
}

fn plan_yaml(analysis: &Value, domain: &str) -> anyhow::Result<String> {
    let domains = analysis["domains"]
        .as_array()
        .context("no `domains` list: is this analyze's analysis.json?")?;
    let Some(found) = domains.iter().find(|d| d["name"] == domain) else {
        let names: Vec<&str> = domains.iter().filter_map(|d| d["name"].as_str()).collect();
        bail!(
            "the analysis has no domain `{domain}`; its domains are: {}",
            names.join(", ")
        );
    };
    let mut out = String::new();
    let _ = writeln!(out, "# yaml-language-server: $schema=playbook.schema.json");
    let _ = writeln!(
        out,
        "# Written by `msa-migrate plan` from the analysis; review every line."
    );
    let _ = writeln!(
        out,
        "# Reference: docs/playbook.md. Check: msa-migrate playbook check FILE"
    );
    let _ = writeln!(out, "domain: {domain}");
    let _ = writeln!(
        out,
        "owner: TODO-team             # who answers for this domain"
    );
    let _ = writeln!(
        out,
        "upstream: {domain}              # the new service's upstream in the proxy configuration"
    );
    let _ = writeln!(
        out,
        "\nroutes:                        # names must match the proxy configuration's routes"
    );
    let mut seen = std::collections::BTreeSet::new();
    let mut routes = 0;
    for route in found["routes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        let Some((method, path)) = split_route(route) else {
            continue;
        };
        let path = path.replace(['\'', '"'], "");
        let mut name = route_name(&method, &path);
        while !seen.insert(name.clone()) {
            name.push('x');
        }
        let methods = if method == "ANY" || method == "*" {
            String::new()
        } else {
            format!("\n    methods: [{method}]")
        };
        let _ = writeln!(out, "  - name: {name}{methods}\n    path: \"{path}\"");
        routes += 1;
    }
    if routes == 0 {
        bail!(
            "the analysis assigns no route to domain `{domain}`: name its routes in domains.yaml and analyze again"
        );
    }
    let mut tables: Vec<&str> = found["tables"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    tables.sort_unstable();
    tables.dedup();
    if tables.is_empty() {
        let _ = writeln!(
            out,
            "\ntables: {{}}                      # the analysis assigns no table to {domain}"
        );
    } else {
        let _ = writeln!(
            out,
            "\ntables:                        # monolith table → service table (backfill's --map vocabulary)"
        );
        for table in tables {
            let table = table.trim_start_matches("table:");
            let _ = writeln!(out, "  {table}:\n    target: {table}");
        }
    }
    let upper = domain.to_ascii_uppercase().replace('-', "_");
    let _ = write!(
        out,
        "\ndata:                          # secrets from the environment only\n  source: ${{LEGACY_DATABASE_URL}}\n  target: ${{{upper}_DATABASE_URL}}\n  verify_max_age: 24h\n  max_lag: 1m\n\
         \nshadow:\n  min_samples: 100\n  match_rate: 0.99\n  confidence: 0.95\n\
         \ncanary:\n  steps: [1, 5, 25, 50, 100]\n  interval: 10m\n  advance_after: 3\n  max_failures: 1\n\
         \ngates:\n  coupling: {{critical: true}}\n  data: {{critical: true}}\n  behaviour: {{critical: true}}\n  performance: {{critical: true}}\n  stage: {{critical: false, require: canary}}\n\
         \nrollback:\n  automatic: true\n  to: legacy\n"
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn plan_writes_a_playbook_that_checks() {
        let analysis = json!({"domains": [{
            "name": "coupon",
            "routes": ["route:GET /api/coupons/{id}", "POST /api/coupons/{id}/issue"],
            "tables": ["table:coupons", "user_coupons"]
        }]});
        let yaml = plan_yaml(&analysis, "coupon").unwrap();
        let p = msa_playbook::parse("planned", &yaml).unwrap();
        let names: Vec<&str> = p.routes.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["get-coupons-id", "post-coupons-id-issue"]);
        assert_eq!(p.routes[1].methods, ["POST"]);
        assert_eq!(
            p.tables.tables.keys().collect::<Vec<_>>(),
            ["coupons", "user_coupons"]
        );
        assert_eq!(p.data.unwrap().target.variables(), ["COUPON_DATABASE_URL"]);
        let err = plan_yaml(&analysis, "ranking").unwrap_err();
        assert!(err.to_string().contains("its domains are: coupon"), "{err}");
    }
}
