//! `msa-migrate shadow diff`: compare two saved answers offline, exactly as
//! the proxy compares a shadowed pair.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail};
use msa_shadow_compare::{Comparison, Exchange, RuleSet, Rules, compare};

use crate::Outcome;
use crate::args::{DiffFormat, ShadowDiffArgs, SuggestFormat};

#[allow(
    clippy::print_stdout,
    reason = "the comparison is the command's output"
)]
pub(crate) fn diff(args: &ShadowDiffArgs) -> anyhow::Result<Outcome> {
    let legacy = read_exchange(&args.legacy)?;
    let candidate = read_exchange(&args.candidate)?;
    let rules = match &args.rules {
        Some(path) => read_rules(path)?,
        None => RuleSet::default(),
    };
    let comparison = compare(&legacy, &candidate, &rules);
    match args.format {
        DiffFormat::Json => println!("{}", serde_json::to_string_pretty(&comparison)?),
        DiffFormat::Table => print!("{}", table(&comparison)),
    }
    Ok(if comparison.is_equal() {
        Outcome::Success
    } else {
        Outcome::NotReady
    })
}

fn read_exchange(path: &Path) -> anyhow::Result<Exchange> {
    let saved = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Exchange::parse(&saved).with_context(|| format!("{} is not a saved response", path.display()))
}

fn read_rules(path: &Path) -> anyhow::Result<RuleSet> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let rules: Rules = serde_saphyr::from_str(&text).map_err(|err| {
        InvalidRules(format!(
            "{}: {}",
            path.display(),
            err.to_string().trim_start_matches("error: ")
        ))
    })?;
    match rules.resolve() {
        Ok(rules) => Ok(rules),
        Err(err) => {
            let problems: Vec<String> = err
                .problems
                .iter()
                .map(|p| {
                    format!(
                        "  {}: {}: `{}`: {}",
                        path.display(),
                        p.field,
                        p.entry,
                        p.problem
                    )
                })
                .collect();
            Err(InvalidRules(format!(
                "{} has {} problem(s):\n{}",
                path.display(),
                problems.len(),
                problems.join("\n")
            ))
            .into())
        }
    }
}

/// A rules file that does not read or resolve, with every problem; known by
/// its type for its `hint:` line.
#[derive(Debug)]
pub(crate) struct InvalidRules(String);

impl std::fmt::Display for InvalidRules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvalidRules {}

/// `equal`, or one line per difference: severity, kind, path, both values.
fn table(comparison: &Comparison) -> String {
    if comparison.is_equal() {
        return "equal\n".to_owned();
    }
    let c = &comparison.counts;
    let mut out = format!(
        "{} difference(s): {} high, {} medium, {} low; {} unanalysed\n",
        comparison.differences.len(),
        c.high,
        c.medium,
        c.low,
        c.unanalysed
    );
    let show = |v: &Option<serde_json::Value>| {
        v.as_ref()
            .map_or_else(|| "-".to_owned(), ToString::to_string)
    };
    let rows: Vec<[String; 5]> = comparison
        .differences
        .iter()
        .map(|d| {
            let kind = serde_json::to_value(d.kind)
                .ok()
                .and_then(|k| k.as_str().map(str::to_owned))
                .unwrap_or_default();
            let severity = serde_json::to_value(d.severity)
                .ok()
                .and_then(|s| s.as_str().map(str::to_owned))
                .unwrap_or_default();
            [
                severity,
                kind,
                d.path.clone(),
                show(&d.legacy),
                show(&d.candidate),
            ]
        })
        .collect();
    let header = ["SEVERITY", "KIND", "PATH", "LEGACY", "CANDIDATE"].map(str::to_owned);
    let widths: Vec<usize> = (0..4)
        .map(|i| {
            rows.iter()
                .chain(std::iter::once(&header))
                .map(|r| r[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in std::iter::once(&header).chain(&rows) {
        for (i, cell) in row.iter().enumerate() {
            if i < 4 {
                out.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            } else {
                out.push_str(cell);
            }
        }
        out.push('\n');
    }
    for why in &comparison.unanalysed {
        out.push_str(&format!("unanalysed: {why}\n"));
    }
    out
}

/// `msa-migrate shadow report`: what the proxy's shadow store holds.
#[allow(clippy::print_stdout, reason = "the report is the command's output")]
pub(crate) fn report(args: &crate::args::ShadowReportArgs) -> anyhow::Result<Outcome> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let playbook = args
        .playbook
        .as_deref()
        .map(super::playbook::load)
        .transpose()?;
    if let (Some(playbook), Some(route), Some(path)) = (&playbook, &args.route, &args.playbook)
        && playbook.route(route).is_none()
    {
        bail!(
            "{} does not claim route `{route}`; it claims: {}",
            path.display(),
            route_names(playbook)
        );
    }
    let (report, everything) = runtime.block_on(async {
        let store = msa_proxy::shadow_store::ShadowStore::open_existing(&args.store).await?;
        let report = store.report(args.route.as_deref()).await?;
        // Not a route's name: perhaps a template, looked for in every route.
        let unknown = args.route.is_some() && report["routes"].as_array().is_none_or(Vec::is_empty);
        let everything = if unknown {
            Some(store.report(None).await?)
        } else {
            None
        };
        Ok::<_, msa_proxy::shadow_store::StoreError>((report, everything))
    })?;
    let routes = report["routes"].as_array().cloned().unwrap_or_default();
    if let Some(route) = &args.route
        && routes.is_empty()
    {
        let stored = everything
            .as_ref()
            .and_then(|e| e["routes"].as_array().cloned())
            .unwrap_or_default();
        if playbook.is_none()
            && let Some(query) = TemplateQuery::parse(route)
        {
            let selected = query.select(&stored);
            if !selected.is_empty() {
                return template_report(&selected, args.format);
            }
            bail!(
                "the shadow store {} has no route `{route}` and no template it names; templates: {}",
                args.store.display(),
                known_templates(&stored)
            );
        }
        bail!(
            "the shadow store {} has no results for route `{route}`",
            args.store.display()
        );
    }
    if let (Some(playbook), Some(path)) = (&playbook, &args.playbook) {
        return domain_report(
            playbook,
            &path.display().to_string(),
            args.route.as_deref(),
            &routes,
            args.format,
        );
    }
    match args.format {
        crate::args::ReportFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        crate::args::ReportFormat::Table => print!("{}", report_table(&routes)),
        crate::args::ReportFormat::Md => print!("{}", report_markdown(&routes)),
        crate::args::ReportFormat::Html => print!("{}", report_html(&routes)),
    }
    let all_equal = routes.iter().all(fully_matched);
    Ok(if all_equal {
        Outcome::Success
    } else {
        Outcome::NotReady
    })
}

/// `shadow report 'GET /api/coupons/{id}/issue'`: a template (with or
/// without its method), or a request path, instead of a route's name.
#[derive(Debug)]
struct TemplateQuery<'a> {
    method: Option<&'a str>,
    path: &'a str,
}

impl<'a> TemplateQuery<'a> {
    /// A path (`/…`), perhaps after a method; `None` for anything else.
    fn parse(query: &'a str) -> Option<Self> {
        let query = query.trim();
        let (method, path) = match query.split_once(char::is_whitespace) {
            Some((method, path)) => (Some(method), path.trim()),
            None => (None, query),
        };
        path.starts_with('/').then_some(Self { method, path })
    }

    /// Each stored template the query names, with its route's name added: its
    /// pattern as written, or the template a request path falls under.
    fn select(&self, routes: &[serde_json::Value]) -> Vec<serde_json::Value> {
        let mut selected = Vec::new();
        for route in routes {
            for template in route["templates"].as_array().into_iter().flatten() {
                let (Some(method), Some(pattern)) =
                    (template["method"].as_str(), template["pattern"].as_str())
                else {
                    continue;
                };
                let method_fits = self.method.is_none_or(|m| m.eq_ignore_ascii_case(method));
                let known = [pattern.to_owned()];
                let path_fits = self.path == pattern
                    || msa_shadow_compare::template_of(self.path, &known).is_some();
                if method_fits && path_fits {
                    let mut entry = template.clone();
                    entry["route"] = route["route"].clone();
                    selected.push(entry);
                }
            }
        }
        selected
    }
}

/// Every stored template, for a message.
fn known_templates(routes: &[serde_json::Value]) -> String {
    let names: Vec<String> = routes
        .iter()
        .flat_map(|route| {
            route["templates"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|t| t["pattern"].is_string())
                .map(|t| format!("`{}`", label(t)))
        })
        .collect();
    if names.is_empty() {
        "none yet".to_owned()
    } else {
        names.join(", ")
    }
}

/// `shadow report TEMPLATE`: the templates it names, each like a route.
#[allow(clippy::print_stdout, reason = "the report is the command's output")]
fn template_report(
    templates: &[serde_json::Value],
    format: crate::args::ReportFormat,
) -> anyhow::Result<Outcome> {
    match format {
        crate::args::ReportFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "templates": templates }))?
        ),
        crate::args::ReportFormat::Table => print!("{}", report_table(templates)),
        crate::args::ReportFormat::Md => print!("{}", report_markdown(templates)),
        crate::args::ReportFormat::Html => print!("{}", report_html(templates)),
    }
    Ok(if templates.iter().all(fully_matched) {
        Outcome::Success
    } else {
        Outcome::NotReady
    })
}

/// A report entry's name: the route's, then the template's when it is one
/// (`coupons POST /api/coupons/{id}/issue`).
fn label(entry: &serde_json::Value) -> String {
    let route = entry["route"].as_str();
    let template = entry["template"].as_str();
    match (route, template) {
        (Some(route), Some(template)) => format!("{route} {template}"),
        (Some(name), None) | (None, Some(name)) => name.to_owned(),
        (None, None) => "?".to_owned(),
    }
}

/// A route's templates, when there are several: one alone says nothing the
/// route's own line does not.
fn split_templates(route: &serde_json::Value) -> &[serde_json::Value] {
    match route["templates"].as_array() {
        Some(templates) if templates.len() > 1 => templates,
        _ => &[],
    }
}

fn route_names(playbook: &msa_playbook::Playbook) -> String {
    playbook
        .routes
        .iter()
        .map(|r| r.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn fully_matched(route: &serde_json::Value) -> bool {
    route["compared"] == route["equal"] && route["unanalysed"] == 0
}

/// `shadow report --playbook`: the playbook's routes only, in its order, under
/// its domain. A route without results is listed, and is not a match.
#[allow(clippy::print_stdout, reason = "the report is the command's output")]
fn domain_report(
    playbook: &msa_playbook::Playbook,
    file: &str,
    only: Option<&str>,
    stored: &[serde_json::Value],
    format: crate::args::ReportFormat,
) -> anyhow::Result<Outcome> {
    let mut routes = Vec::new();
    let mut without = Vec::new();
    for claimed in &playbook.routes {
        if only.is_some_and(|only| only != claimed.name) {
            continue;
        }
        match stored.iter().find(|r| r["route"] == claimed.name.as_str()) {
            Some(route) => routes.push(route.clone()),
            None => without.push(claimed.name.clone()),
        }
    }
    let domain = &playbook.domain;
    let missing = if without.is_empty() {
        String::new()
    } else {
        format!("no shadow results yet for: {}", without.join(", "))
    };
    match format {
        crate::args::ReportFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "domain": domain,
                "playbook": file,
                "routes": routes,
                "without_results": without,
            }))?
        ),
        crate::args::ReportFormat::Table => {
            let mut out = format!(
                "domain {domain} ({file}): {} route(s)\n",
                routes.len() + without.len()
            );
            for claimed in &playbook.routes {
                if let Some(route) = routes.iter().find(|r| r["route"] == claimed.name.as_str()) {
                    for line in report_table(std::slice::from_ref(route)).lines() {
                        out.push_str(&format!("  {line}\n"));
                    }
                } else if without.contains(&claimed.name) {
                    out.push_str(&format!("  {}: no shadow results yet\n", claimed.name));
                }
            }
            print!("{out}");
        }
        crate::args::ReportFormat::Md => {
            let mut heading =
                format!("# Shadow report: domain `{domain}`\n\nRoutes claimed by `{file}`.");
            if !without.is_empty() {
                let names: Vec<String> = without.iter().map(|n| format!("`{n}`")).collect();
                heading.push_str(&format!(
                    " No shadow results yet for: {}.",
                    names.join(", ")
                ));
            }
            print!(
                "{}",
                report_markdown(&routes).replacen("# Shadow report", &heading, 1)
            );
        }
        crate::args::ReportFormat::Html => {
            let mut heading = format!(
                "<h1>Shadow report: domain {}</h1>\n<p>Routes claimed by <code>{}</code>.",
                escape(domain),
                escape(file)
            );
            if !missing.is_empty() {
                heading.push_str(&format!(" {}.", escape(&missing)));
            }
            heading.push_str("</p>");
            print!(
                "{}",
                report_html(&routes).replacen("<h1>Shadow report</h1>", &heading, 1)
            );
        }
    }
    Ok(if without.is_empty() && routes.iter().all(fully_matched) {
        Outcome::Success
    } else {
        Outcome::NotReady
    })
}

fn number(value: &serde_json::Value) -> String {
    value
        .as_u64()
        .map_or_else(|| "-".to_owned(), |n| n.to_string())
}

fn percent(value: &serde_json::Value) -> String {
    value
        .as_f64()
        .map_or_else(|| "-".to_owned(), |rate| format!("{:.2}%", rate * 100.0))
}

fn severity_counts(route: &serde_json::Value) -> String {
    let different = &route["different"];
    ["high", "medium", "low"]
        .iter()
        .map(|s| format!("{} {s}", different[*s].as_u64().unwrap_or(0)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A route's (or a template's) summary cells: name, compared, equal, match
/// rate, its 95% lower bound, differences by severity, unanalysed, failed.
fn summary(route: &serde_json::Value) -> [String; 8] {
    [
        label(route),
        number(&route["compared"]),
        number(&route["equal"]),
        percent(&route["match_rate"]),
        percent(&route["match_rate_lower_95"]),
        severity_counts(route),
        number(&route["unanalysed"]),
        number(&route["candidate_failed"]),
    ]
}

/// One line of counts, then the differing fields below it, each indented by
/// `indent`.
fn table_entry(out: &mut String, entry: &serde_json::Value, name: &str, indent: &str) {
    let [
        _,
        compared,
        equal,
        rate,
        lower,
        different,
        unanalysed,
        failed,
    ] = summary(entry);
    out.push_str(&format!(
        "{indent}{name}: {compared} compared, {equal} equal ({rate}, 95% lower bound {lower}); \
         different: {different}; {unanalysed} unanalysed, {failed} failed\n"
    ));
    for path in entry["paths"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "{indent}  {:>7}  {:<6}  {:<13}  {}\n",
            number(&path["count"]),
            path["severity"].as_str().unwrap_or("-"),
            path["kind"].as_str().unwrap_or("-"),
            path["path"].as_str().unwrap_or("-"),
        ));
    }
}

fn report_table(routes: &[serde_json::Value]) -> String {
    let mut out = String::new();
    for route in routes {
        let templates = split_templates(route);
        if templates.is_empty() {
            table_entry(&mut out, route, &label(route), "");
            continue;
        }
        // The route's counts, then each template's with its own fields.
        let mut totals = route.clone();
        totals["paths"] = serde_json::json!([]);
        table_entry(&mut out, &totals, &label(route), "");
        for template in templates {
            let name = template["template"].as_str().unwrap_or("?");
            table_entry(&mut out, template, name, "  ");
        }
    }
    if routes.is_empty() {
        out.push_str("no shadow results yet\n");
    }
    out
}

fn report_markdown(routes: &[serde_json::Value]) -> String {
    let mut out = String::from(
        "# Shadow report\n\n| route | compared | equal | match rate | 95% lower bound | different | unanalysed | failed |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for route in routes {
        out.push_str(&format!("| {} |\n", summary(route).join(" | ")));
    }
    for route in routes {
        let templates = split_templates(route);
        if templates.is_empty() {
            markdown_paths(&mut out, route, &format!("## {}", label(route)));
            continue;
        }
        out.push_str(&format!(
            "\n## {}\n\nPer template:\n\n| template | compared | equal | match rate | 95% lower bound | different | unanalysed | failed |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n",
            label(route)
        ));
        for template in templates {
            let mut cells = summary(template);
            cells[0] = format!("`{}`", template["template"].as_str().unwrap_or("?"));
            out.push_str(&format!("| {} |\n", cells.join(" | ")));
        }
        for template in templates {
            let heading = format!(
                "### {} `{}`",
                label(route),
                template["template"].as_str().unwrap_or("?")
            );
            markdown_paths(&mut out, template, &heading);
        }
    }
    out
}

/// The differing fields of a route or template under `heading`; nothing when none.
fn markdown_paths(out: &mut String, entry: &serde_json::Value, heading: &str) {
    let paths = entry["paths"].as_array().cloned().unwrap_or_default();
    if paths.is_empty() {
        return;
    }
    out.push_str(&format!(
        "\n{heading}\n\n| path | kind | severity | count |\n| --- | --- | --- | --- |\n"
    ));
    for path in paths {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            path["path"].as_str().unwrap_or("-"),
            path["kind"].as_str().unwrap_or("-"),
            path["severity"].as_str().unwrap_or("-"),
            number(&path["count"]),
        ));
    }
}

/// `msa-migrate shadow suggest-rules`: rules for what the evidence says is a
/// rewrite's harmless difference, each with its evidence; never applied.
#[allow(
    clippy::print_stdout,
    reason = "the suggested rules are the command's output"
)]
pub(crate) fn suggest_rules(args: &crate::args::SuggestRulesArgs) -> anyhow::Result<Outcome> {
    let playbook = args
        .playbook
        .as_deref()
        .map(super::playbook::load)
        .transpose()?;
    let existing = match (&playbook, &args.playbook) {
        (Some(playbook), Some(path)) => {
            if playbook.route(&args.route).is_none() {
                bail!(
                    "{} does not claim route `{}`; it claims: {}",
                    path.display(),
                    args.route,
                    route_names(playbook)
                );
            }
            Some(Existing {
                rules: playbook.shadow.rules_for(&args.route).clone(),
                file: path.display().to_string(),
            })
        }
        _ => None,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(async {
        let store = msa_proxy::shadow_store::ShadowStore::open_existing(&args.store).await?;
        store.report(Some(&args.route)).await
    })?;
    let Some(route) = report["routes"].as_array().and_then(|r| r.first()).cloned() else {
        bail!(
            "the shadow store {} has no results for route `{}`",
            args.store.display(),
            args.route
        );
    };
    let suggested = suggest(&args.route, &route, existing.as_ref());
    let text = match args.format {
        SuggestFormat::Yaml => suggested.yaml(),
        SuggestFormat::Json => format!("{:#}\n", suggested.json()),
    };
    match &args.out {
        None => print!("{text}"),
        Some(out) => {
            // A sibling file renamed over the target: never half a rules file.
            let mut temporary = out.as_os_str().to_owned();
            temporary.push(".tmp");
            let temporary = std::path::PathBuf::from(temporary);
            std::fs::write(&temporary, &text)
                .with_context(|| format!("cannot write {}", temporary.display()))?;
            std::fs::rename(&temporary, out)
                .with_context(|| format!("cannot write {}", out.display()))?;
        }
    }
    Ok(Outcome::Success)
}

/// `$.items[3].id` → `$.items[*].id`: a rule for every element, not one index.
fn generalise(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '[' && chars.peek().is_some_and(char::is_ascii_digit) {
            while chars.peek().is_some_and(char::is_ascii_digit) {
                chars.next();
            }
            out.push('*');
        }
    }
    out
}

/// The rules a playbook already gives a route, and where they are written.
#[derive(Debug)]
struct Existing {
    rules: Rules,
    file: String,
}

/// What `suggest-rules` found for one route: each rule with its evidence,
/// and the differences no rule should hide. Printed as YAML or JSON.
struct Suggestions<'a> {
    route: &'a str,
    compared: u64,
    existing: Option<&'a Existing>,
    /// `string_number`, `timestamps`: the evidence for each.
    flags: BTreeMap<&'static str, Vec<String>>,
    tolerance_ms: u64,
    /// Path → evidence.
    ignore: BTreeMap<String, String>,
    unordered: BTreeMap<String, String>,
    left: Vec<String>,
}

fn suggest<'a>(
    route_name: &'a str,
    route: &serde_json::Value,
    existing: Option<&'a Existing>,
) -> Suggestions<'a> {
    let compared = route["compared"].as_u64().unwrap_or(0);
    let mut flags: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    let mut ignore: BTreeMap<String, String> = BTreeMap::new();
    let mut unordered: BTreeMap<String, String> = BTreeMap::new();
    let mut left: Vec<String> = Vec::new();
    // What the playbook already has is kept, and said to be kept, so the output
    // is the route's whole rule set: `shadow.routes.ROUTE` replaces `shadow.rules`.
    let mut tolerance_ms = 1000;
    if let Some(existing) = existing {
        let already = format!("already in {}", existing.file);
        let rules = &existing.rules;
        if rules.string_number {
            flags
                .entry("string_number")
                .or_default()
                .push(already.clone());
        }
        if let Some(timestamps) = rules.timestamps {
            tolerance_ms = timestamps.tolerance_ms;
            flags.entry("timestamps").or_default().push(already.clone());
        }
        for path in &rules.ignore {
            ignore.insert(path.clone(), already.clone());
        }
        for path in &rules.unordered {
            unordered.insert(path.clone(), already.clone());
        }
    }
    for path in route["paths"].as_array().into_iter().flatten() {
        let name = path["path"].as_str().unwrap_or_default();
        let count = path["count"].as_u64().unwrap_or(0);
        let hint = path["hints"].as_object().and_then(|h| {
            h.iter()
                .max_by_key(|(_, n)| n.as_u64())
                .map(|(k, n)| (k.clone(), n.as_u64().unwrap_or(0)))
        });
        let noise = path["noise"]["verdict"].as_str();
        let evidence =
            |what: &str, n: u64| format!("{what} in {n} of {count} differences at {name}");
        match (hint.as_ref().map(|(h, n)| (h.as_str(), *n)), noise) {
            (_, Some("regression")) => left.push(format!(
                "{name}: differs more often than the monolith differs from itself (a regression)"
            )),
            (Some(("string_number", n)), _) => flags
                .entry("string_number")
                .or_default()
                .push(evidence("a number written as a string", n)),
            (Some(("timestamps", n)), _) => flags
                .entry("timestamps")
                .or_default()
                .push(evidence("the same instant spelled differently", n)),
            (Some(("unordered", n)), _) => {
                unordered
                    .entry(generalise(name))
                    .or_insert_with(|| evidence("the same elements in another order", n));
            }
            (Some(("volatile", n)), _) => {
                ignore
                    .entry(generalise(name))
                    .or_insert_with(|| evidence("values unique to each request (ids, times)", n));
            }
            (Some(("extra", n)), _) => {
                ignore.entry(generalise(name)).or_insert_with(|| {
                    format!(
                        "{}; ignore it only if no client reads it",
                        evidence("a field only the new service sends", n)
                    )
                });
            }
            (_, Some("noise")) => {
                ignore.entry(generalise(name)).or_insert_with(|| format!("the monolith differs from itself here as often (noise baseline), {count} differences"));
            }
            _ => left.push(format!(
                "{name}: {} ({count}); no rule suggested: look at it",
                path["kind"].as_str().unwrap_or("?")
            )),
        }
    }
    Suggestions {
        route: route_name,
        compared,
        existing,
        flags,
        tolerance_ms,
        ignore,
        unordered,
        left,
    }
}

impl Suggestions<'_> {
    /// The rules as YAML, each with its evidence as a comment, for a person to
    /// review and paste.
    fn yaml(&self) -> String {
        let (route_name, compared, existing) = (self.route, self.compared, self.existing);
        let (flags, tolerance_ms) = (&self.flags, self.tolerance_ms);
        let (ignore, unordered, left) = (&self.ignore, &self.unordered, &self.left);
        let mut yaml = match existing {
            None => format!(
                "# Suggested shadow rules for route `{route_name}`, from {compared} compared pairs.\n\
                 # Nothing here is applied: review each rule, then put the ones you accept\n\
                 # under the route's `shadow.rules` in the proxy's configuration.\n"
            ),
            Some(existing) => format!(
                "# Shadow rules for route `{route_name}`: those {file} already gives it, and\n\
                 # suggestions from {compared} compared pairs. Nothing here is applied: review each\n\
                 # new rule, then put the whole set under `shadow.routes.{route_name}` in {file}\n\
                 # (a route's own rules replace the domain's `shadow.rules`).\n",
                file = existing.file
            ),
        };
        for (flag, evidence) in flags {
            for line in evidence {
                yaml.push_str(&format!("# {line}\n"));
            }
            match *flag {
                "timestamps" => {
                    yaml.push_str(&format!("timestamps: {{tolerance_ms: {tolerance_ms}}}\n"));
                }
                other => yaml.push_str(&format!("{other}: true\n")),
            }
        }
        for (key, entries) in [("unordered", unordered), ("ignore", ignore)] {
            if entries.is_empty() {
                continue;
            }
            yaml.push_str(&format!("{key}:\n"));
            for (path, evidence) in entries {
                yaml.push_str(&format!("  # {evidence}\n  - \"{path}\"\n"));
            }
        }
        if let Some(existing) = existing {
            yaml.push_str(&kept_as_written(existing));
        }
        if !left.is_empty() {
            yaml.push_str("# Differences no rule should hide (fix the service):\n");
            for line in left {
                yaml.push_str(&format!("#   {line}\n"));
            }
        }
        yaml
    }

    /// The same as data: the whole rule set (what the YAML would parse to),
    /// the evidence behind each rule, and what no rule should hide.
    fn json(&self) -> serde_json::Value {
        let mut evidence: Vec<serde_json::Value> = self
            .flags
            .iter()
            .map(|(rule, lines)| serde_json::json!({"rule": rule, "path": null, "evidence": lines}))
            .collect();
        for (rule, entries) in [("unordered", &self.unordered), ("ignore", &self.ignore)] {
            evidence.extend(entries.iter().map(
                |(path, line)| serde_json::json!({"rule": rule, "path": path, "evidence": [line]}),
            ));
        }
        if let Some(existing) = self.existing {
            let rules = &existing.rules;
            let kept = [
                ("keyed", !rules.keyed.is_empty()),
                ("numeric_tolerance", !rules.numeric_tolerance.is_empty()),
                ("status_only", rules.status_only),
                (
                    "headers",
                    rules.headers != msa_shadow_compare::HeaderRules::default(),
                ),
            ];
            let already = format!("already in {}", existing.file);
            evidence.extend(kept.iter().filter(|(_, kept)| *kept).map(
                |(rule, _)| serde_json::json!({"rule": rule, "path": null, "evidence": [already]}),
            ));
        }
        serde_json::json!({
            "route": self.route,
            "compared": self.compared,
            "playbook": self.existing.map(|e| e.file.as_str()),
            "rules": self.rules(),
            "evidence": evidence,
            "unresolved": self.left,
        })
    }

    /// The rule set the YAML writes: the suggestions, and with a playbook,
    /// the rules it already gives the route.
    fn rules(&self) -> Rules {
        let mut rules = self.existing.map(|e| e.rules.clone()).unwrap_or_default();
        rules.ignore = self.ignore.keys().cloned().collect();
        rules.unordered = self.unordered.keys().cloned().collect();
        rules.string_number = self.flags.contains_key("string_number");
        rules.timestamps =
            self.flags
                .contains_key("timestamps")
                .then_some(msa_shadow_compare::TimestampRule {
                    tolerance_ms: self.tolerance_ms,
                });
        rules
    }
}

/// The rules a playbook gives that no suggestion is about, as YAML (JSON flow
/// style is YAML): keyed arrays, numeric tolerances, status-only, headers.
fn kept_as_written(existing: &Existing) -> String {
    let rules = &existing.rules;
    let mut out = String::new();
    let mut keep = |key: &str, value: String| {
        out.push_str(&format!("# already in {}\n{key}: {value}\n", existing.file));
    };
    if !rules.keyed.is_empty() {
        keep(
            "keyed",
            serde_json::to_string(&rules.keyed).unwrap_or_default(),
        );
    }
    if !rules.numeric_tolerance.is_empty() {
        keep(
            "numeric_tolerance",
            serde_json::to_string(&rules.numeric_tolerance).unwrap_or_default(),
        );
    }
    if rules.status_only {
        keep("status_only", "true".to_owned());
    }
    if rules.headers != msa_shadow_compare::HeaderRules::default() {
        keep(
            "headers",
            serde_json::to_string(&rules.headers).unwrap_or_default(),
        );
    }
    out
}

/// Text made safe for HTML: examples come from upstream answers.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn report_html(routes: &[serde_json::Value]) -> String {
    let mut out = String::from(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Shadow report</title>\n<style>\n\
         body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#1d2330}table{border-collapse:collapse;width:100%;margin:8px 0}\n\
         th,td{text-align:left;padding:5px 9px;border-bottom:1px solid #e4e7ec;vertical-align:top}th{color:#667085;font-size:12px}\n\
         pre{margin:0;font:12px ui-monospace,monospace;white-space:pre-wrap;word-break:break-all}.high{color:#b42318;font-weight:600}\n\
         .medium{color:#b54708}\n</style></head><body>\n<h1>Shadow report</h1>\n<table><tr><th>route</th><th>compared</th><th>equal</th>\
         <th>match rate</th><th>95% lower bound</th><th>different</th><th>unanalysed</th><th>failed</th></tr>\n",
    );
    for route in routes {
        let cells: Vec<String> = summary(route)
            .iter()
            .map(|c| format!("<td>{}</td>", escape(c)))
            .collect();
        out.push_str(&format!("<tr>{}</tr>\n", cells.join("")));
    }
    out.push_str("</table>\n");
    for route in routes {
        out.push_str(&format!("<h2>{}</h2>\n", escape(&label(route))));
        let templates = split_templates(route);
        if templates.is_empty() {
            html_paths(&mut out, route);
            continue;
        }
        out.push_str(
            "<table class=\"templates\"><tr><th>template</th><th>compared</th><th>equal</th><th>match rate</th>\
             <th>95% lower bound</th><th>different</th><th>unanalysed</th><th>failed</th></tr>\n",
        );
        for template in templates {
            let mut cells = summary(template);
            cells[0] = template["template"].as_str().unwrap_or("?").to_owned();
            let cells: Vec<String> = cells
                .iter()
                .map(|c| format!("<td>{}</td>", escape(c)))
                .collect();
            out.push_str(&format!("<tr>{}</tr>\n", cells.join("")));
        }
        out.push_str("</table>\n");
        for template in templates {
            out.push_str(&format!(
                "<h3>{}</h3>\n",
                escape(template["template"].as_str().unwrap_or("?"))
            ));
            html_paths(&mut out, template);
        }
    }
    out.push_str("</body></html>\n");
    out
}

/// The differing fields of a route or template, with their examples.
fn html_paths(out: &mut String, entry: &serde_json::Value) {
    out.push_str("<table><tr><th>field</th><th>kind</th><th>severity</th><th>count</th><th>examples (legacy / new service)</th></tr>\n");
    for path in entry["paths"].as_array().into_iter().flatten() {
        let severity = path["severity"].as_str().unwrap_or("");
        let examples: Vec<String> = path["examples"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                format!(
                    "<pre>{} / {}</pre>",
                    escape(&e["legacy"].to_string()),
                    escape(&e["candidate"].to_string())
                )
            })
            .collect();
        out.push_str(&format!(
            "<tr><td><code>{}</code></td><td>{}</td><td class=\"{}\">{}</td><td>{}</td><td>{}</td></tr>\n",
            escape(path["path"].as_str().unwrap_or("-")),
            escape(path["kind"].as_str().unwrap_or("-")),
            escape(severity),
            escape(severity),
            number(&path["count"]),
            examples.join(""),
        ));
    }
    out.push_str("</table>\n");
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{Existing, TemplateQuery, report_html, report_markdown, report_table, suggest};

    /// A prefix route whose reads match and whose issue endpoint does not.
    fn split_route() -> serde_json::Value {
        let template = |key: &str, compared: u64, equal: u64, paths: serde_json::Value| {
            let (method, pattern) = key.split_once(' ').unwrap();
            json!({
                "template": key, "method": method, "pattern": pattern,
                "compared": compared, "equal": equal, "unanalysed": 0, "candidate_failed": 0,
                "different": {"high": compared - equal},
                "match_rate": equal as f64 / compared as f64, "paths": paths,
            })
        };
        let issue_paths = json!([{"path": "$.discountAmount", "kind": "type_changed",
            "severity": "high", "count": 2, "examples": [{"legacy": 1000, "candidate": "1000"}]}]);
        json!({
            "route": "coupons", "compared": 302, "equal": 300, "unanalysed": 0,
            "candidate_failed": 0, "different": {"high": 2}, "paths": issue_paths,
            "templates": [
                template("GET /api/coupons/{id}", 300, 300, json!([])),
                template("POST /api/coupons/{id}/issue", 2, 0, issue_paths),
            ],
        })
    }

    #[test]
    fn a_routes_templates_are_reported_under_it() {
        let route = split_route();
        let table = report_table(std::slice::from_ref(&route));
        let lines: Vec<&str> = table.lines().collect();
        assert!(
            lines[0].starts_with("coupons: 302 compared, 300 equal"),
            "{table}"
        );
        assert!(
            lines[1].starts_with("  GET /api/coupons/{id}: 300 compared, 300 equal (100.00%"),
            "{table}"
        );
        assert!(
            lines[2].starts_with("  POST /api/coupons/{id}/issue: 2 compared, 0 equal (0.00%"),
            "{table}"
        );
        assert!(
            lines[3].ends_with("$.discountAmount"),
            "the field under its template: {table}"
        );
        assert_eq!(
            lines.len(),
            4,
            "the route's fields are not listed twice: {table}"
        );

        let md = report_markdown(std::slice::from_ref(&route));
        assert!(
            md.contains("| `POST /api/coupons/{id}/issue` | 2 | 0 | 0.00% |"),
            "{md}"
        );
        assert!(
            md.contains("### coupons `POST /api/coupons/{id}/issue`"),
            "{md}"
        );
        let html = report_html(&[route]);
        assert!(
            html.contains("<td>POST /api/coupons/{id}/issue</td><td>2</td>"),
            "{html}"
        );
        // Each template's fields under its own heading: the reads have none.
        let (reads, issues) = html
            .split_once("<h3>POST /api/coupons/{id}/issue</h3>")
            .expect("a heading per template");
        let reads = &reads[reads
            .find("<h3>GET /api/coupons/{id}</h3>")
            .expect("the reads' heading")..];
        assert!(!reads.contains("$.discountAmount"), "{html}");
        assert!(
            issues.contains("<code>$.discountAmount</code>")
                && issues.contains("<pre>1000 / &quot;1000&quot;</pre>"),
            "{html}"
        );

        // One template alone: the route's line and fields, as before.
        let mut single = split_route();
        single["templates"] = json!([single["templates"][1].clone()]);
        let table = report_table(&[single]);
        assert_eq!(table.lines().count(), 2, "{table}");
    }

    #[test]
    fn a_template_is_named_by_pattern_method_or_request_path() {
        let routes = [split_route()];
        let selected = |query: &str| -> Vec<String> {
            TemplateQuery::parse(query)
                .unwrap()
                .select(&routes)
                .iter()
                .map(|t| {
                    format!(
                        "{} {}",
                        t["route"].as_str().unwrap(),
                        t["template"].as_str().unwrap()
                    )
                })
                .collect()
        };
        assert_eq!(
            selected("POST /api/coupons/{id}/issue"),
            ["coupons POST /api/coupons/{id}/issue"]
        );
        assert_eq!(
            selected("post /api/coupons/17/issue"),
            ["coupons POST /api/coupons/{id}/issue"]
        );
        assert_eq!(
            selected("/api/coupons/{id}"),
            ["coupons GET /api/coupons/{id}"]
        );
        assert_eq!(
            selected("/api/coupons/17"),
            ["coupons GET /api/coupons/{id}"]
        );
        assert!(selected("DELETE /api/coupons/17").is_empty());
        assert!(
            TemplateQuery::parse("coupon-read").is_none(),
            "a route's name"
        );
        let table = report_table(
            &TemplateQuery::parse("/api/coupons/5/issue")
                .unwrap()
                .select(&routes),
        );
        assert!(
            table.starts_with("coupons POST /api/coupons/{id}/issue: 2 compared, 0 equal"),
            "{table}"
        );
    }

    #[test]
    fn html_reports_escape_what_upstreams_answered() {
        let route = json!({
            "route": "coupon-read", "compared": 1, "equal": 0, "different": {"high": 1},
            "paths": [{"path": "$.name", "kind": "value_changed", "severity": "medium", "count": 1,
                       "examples": [{"legacy": "<script>alert(1)</script>", "candidate": "Tom & Jerry"}]}],
        });
        let html = report_html(&[route]);
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;")
                && html.contains("Tom &amp; Jerry"),
            "{html}"
        );
        assert!(html.contains("<td>coupon-read</td>"));
    }

    #[test]
    fn suggestions_keep_the_playbooks_rules_and_do_not_repeat_them() {
        let route = json!({
            "route": "coupon-read", "compared": 5,
            "paths": [
                {"path": "$.discountAmount", "kind": "type_changed", "count": 5, "hints": {"string_number": 5}},
                {"path": "$.createdAt", "kind": "value_changed", "count": 5, "hints": {"timestamps": 5}},
                {"path": "$.couponType", "kind": "extra", "count": 5, "hints": {"extra": 5}},
                {"path": "$.issuedAt", "kind": "value_changed", "count": 2, "hints": {"volatile": 2}},
            ],
        });
        let existing = Existing {
            rules: serde_saphyr::from_str(
                "ignore: [\"$.issuedAt\"]\ntimestamps: {tolerance_ms: 5000}\nkeyed: {\"$.coupons\": couponId}\n",
            )
            .unwrap(),
            file: "playbooks/coupon.yaml".to_owned(),
        };
        let yaml = suggest("coupon-read", &route, Some(&existing)).yaml();
        let rules: msa_shadow_compare::Rules =
            serde_saphyr::from_str(&yaml).unwrap_or_else(|err| panic!("{err}\n{yaml}"));
        assert_eq!(rules.ignore, ["$.couponType", "$.issuedAt"], "{yaml}");
        assert!(rules.string_number, "{yaml}");
        assert_eq!(
            rules.timestamps.map(|t| t.tolerance_ms),
            Some(5000),
            "{yaml}"
        );
        assert_eq!(
            rules.keyed.get("$.coupons").map(String::as_str),
            Some("couponId")
        );
        assert_eq!(
            yaml.matches("# already in playbooks/coupon.yaml").count(),
            3,
            "ignore $.issuedAt, timestamps and keyed:\n{yaml}"
        );
        assert!(
            yaml.contains("`shadow.routes.coupon-read` in playbooks/coupon.yaml"),
            "{yaml}"
        );
        assert!(!yaml.contains("values unique to each request"), "{yaml}");

        // Without a playbook: the suggestions alone, as before.
        let alone = suggest("coupon-read", &route, None).yaml();
        let rules: msa_shadow_compare::Rules = serde_saphyr::from_str(&alone).unwrap();
        assert_eq!(rules.timestamps.map(|t| t.tolerance_ms), Some(1000));
        assert!(rules.keyed.is_empty());
        assert!(!alone.contains("already in"), "{alone}");
    }

    #[test]
    fn json_suggestions_are_the_same_rules_as_the_yaml_with_their_evidence() {
        let route = json!({
            "route": "coupon-read", "compared": 5,
            "paths": [
                {"path": "$.discountAmount", "kind": "type_changed", "count": 5, "hints": {"string_number": 5}},
                {"path": "$.coupons", "kind": "order_changed", "count": 5, "hints": {"unordered": 5}},
                {"path": "$.couponType", "kind": "extra", "count": 5, "hints": {"extra": 5}},
                {"path": "$.name", "kind": "removed", "count": 2},
            ],
        });
        let existing = Existing {
            rules: serde_saphyr::from_str(
                "timestamps: {tolerance_ms: 5000}\nkeyed: {\"$.items\": id}\n",
            )
            .unwrap(),
            file: "playbooks/coupon.yaml".to_owned(),
        };
        for existing in [None, Some(&existing)] {
            let suggested = suggest("coupon-read", &route, existing);
            let yaml: msa_shadow_compare::Rules =
                serde_saphyr::from_str(&suggested.yaml()).unwrap();
            let json = suggested.json();
            let rules: msa_shadow_compare::Rules =
                serde_json::from_value(json["rules"].clone()).unwrap();
            assert_eq!(rules, yaml, "{json:#}");
            assert_eq!(json["route"], "coupon-read");
            assert_eq!(json["compared"], 5);
            let evidence = |rule: &str| {
                json["evidence"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|e| e["rule"] == rule)
                    .map(|e| e["evidence"][0].as_str().unwrap().to_owned())
            };
            assert_eq!(
                evidence("string_number").as_deref(),
                Some("a number written as a string in 5 of 5 differences at $.discountAmount")
            );
            assert!(evidence("ignore").unwrap().contains("$.couponType"));
            assert!(evidence("unordered").is_some());
            assert_eq!(
                json["unresolved"],
                json!(["$.name: removed (2); no rule suggested: look at it"])
            );
            match existing {
                None => {
                    assert_eq!(json["playbook"], serde_json::Value::Null);
                    assert!(evidence("keyed").is_none());
                }
                Some(_) => {
                    assert_eq!(json["playbook"], "playbooks/coupon.yaml");
                    assert_eq!(
                        evidence("keyed").as_deref(),
                        Some("already in playbooks/coupon.yaml")
                    );
                    assert_eq!(rules.timestamps.map(|t| t.tolerance_ms), Some(5000));
                }
            }
        }
    }
}
