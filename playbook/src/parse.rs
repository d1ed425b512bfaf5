//! Stage two: the raw YAML checked into a [`Playbook`], every problem at once.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::time::Duration;

use serde_saphyr::Spanned;

use crate::mapping::Mapping;
use crate::model::{
    CanaryPolicy, CouplingGate, DataConfig, Dsn, GateFlag, Gates, Mode, PerformanceGate, Playbook,
    RollbackPolicy, Route, ShadowPolicy, StageGate,
};
use crate::raw;

/// One thing wrong in a playbook: where, which field, what is wrong and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// The file, as given to [`parse`].
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<u64>,
    /// 1-based column, when known (the typed checks and YAML syntax errors;
    /// not the schema scan's shape problems nor the table mapping's).
    pub column: Option<u64>,
    /// The field, as a path: `routes[2].path`.
    pub field: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// The words a fix begins with, after `: ` or `; `, in every message of
/// this crate and of the rules it checks with shadow-compare.
const FIX_LEADS: &[&str] = &[
    "write",
    "list",
    "name",
    "give",
    "keep",
    "add",
    "use",
    "see",
    "put",
    "move",
    "make",
    "fix",
    "leave",
    "remove",
    "rename",
    "set",
    "did you mean",
];

impl Problem {
    /// What is wrong: the message without [`Self::fix`].
    pub fn what(&self) -> &str {
        self.split().0
    }

    /// How to fix it, when the message says: the part after the first `: `
    /// or `; ` (outside backquotes) that begins with an instruction (`write
    /// …`, `list …`, `did you mean …`). Messages are written "what is wrong:
    /// how to fix it"; one that only states a rule has no separate fix.
    pub fn fix(&self) -> Option<&str> {
        self.split().1
    }

    fn split(&self) -> (&str, Option<&str>) {
        let text = self.message.as_str();
        let mut quoted = false;
        for (at, c) in text.char_indices() {
            if c == '`' {
                quoted = !quoted;
            }
            if quoted || !(text[at..].starts_with(": ") || text[at..].starts_with("; ")) {
                continue;
            }
            let rest = &text[at + 2..];
            let leads = FIX_LEADS.iter().any(|lead| {
                rest.strip_prefix(lead)
                    .is_some_and(|after| after.starts_with([' ', ':']))
            });
            if leads && at > 0 {
                return (&text[..at], Some(rest));
            }
        }
        (text, None)
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}: {}", self.file, self.field, self.message),
            None => write!(f, "{}: {}: {}", self.file, self.field, self.message),
        }
    }
}

/// Parses and validates playbook text; `file` only names it in problems.
/// Every problem is reported, not just the first.
pub fn parse(file: &str, text: &str) -> Result<Playbook, Vec<Problem>> {
    let raw: raw::RawPlaybook = match serde_saphyr::from_str(text) {
        Ok(raw) => raw,
        Err(err) => return Err(misshapen(file, text, &err)),
    };
    let mut problems = Problems {
        file: file.to_owned(),
        list: Vec::new(),
    };
    let playbook = resolve(raw, text, &mut problems);
    if problems.list.is_empty() {
        Ok(playbook)
    } else {
        Err(problems.list)
    }
}

/// The problems of a file whose shape is wrong: every unknown field, wrong
/// type and missing field the schema scan finds, then the rules' problems
/// in what is left once those entries are taken out. Without anything the
/// scan can name, the parser's one message.
fn misshapen(file: &str, text: &str, err: &serde_saphyr::Error) -> Vec<Problem> {
    let scan = crate::shape::scan(text, &crate::schema());
    let parser_problem = |err: &serde_saphyr::Error| {
        let line = err.location().map(|l| l.line()).filter(|l| *l > 0);
        let column = err
            .location()
            .map(|l| l.column())
            .filter(|c| *c > 0 && line.is_some());
        let message = err.to_string();
        let message = message.trim_start_matches("error: ").trim();
        Problem {
            file: file.to_owned(),
            line,
            column,
            field: field_of(message),
            message: format!(
                "{}; see playbooks/playbook.schema.json for every field",
                first_line(message)
            ),
        }
    };
    if scan.misfits.is_empty() {
        return vec![parser_problem(err)];
    }
    let mut problems = Problems {
        file: file.to_owned(),
        list: scan
            .misfits
            .iter()
            .map(|m| Problem {
                file: file.to_owned(),
                line: Some(m.line as u64),
                column: None,
                field: m.field.clone(),
                message: m.message.clone(),
            })
            .collect(),
    };
    // Lines are kept, so the rules' problems point at the right lines.
    match serde_saphyr::from_str::<raw::RawPlaybook>(&scan.rest) {
        Ok(raw) => {
            resolve(raw, &scan.rest, &mut problems);
        }
        Err(again) => {
            let problem = parser_problem(&again);
            // "missing field `x`" for an `x` taken out is already said.
            if !scan.blanked.contains(&problem.field) {
                problems.list.push(problem);
            }
        }
    }
    problems.list.sort_by_key(|p| p.line);
    problems.list
}

fn first_line(message: &str) -> &str {
    message.lines().next().unwrap_or(message)
}

/// The field a serde message names, when it names one (`unknown field `x``, `missing field `y``).
fn field_of(message: &str) -> String {
    for marker in ["unknown field `", "missing field `", "duplicate field `"] {
        if let Some(start) = message.find(marker) {
            let rest = &message[start + marker.len()..];
            if let Some(end) = rest.find('`') {
                return rest[..end].to_owned();
            }
        }
    }
    "(file)".to_owned()
}

struct Problems {
    file: String,
    list: Vec<Problem>,
}

impl Problems {
    fn at<T>(
        &mut self,
        spanned: &Spanned<T>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) {
        let line = spanned.referenced.line();
        let column = spanned.referenced.column();
        self.list.push(Problem {
            file: self.file.clone(),
            line: (line > 0).then_some(line),
            column: (line > 0 && column > 0).then_some(column),
            field: field.into(),
            message: message.into(),
        });
    }

    fn duration(
        &mut self,
        value: Option<&Spanned<String>>,
        field: &str,
        default: Duration,
    ) -> Duration {
        let Some(value) = value else { return default };
        match humantime::parse_duration(value.value.trim()) {
            Ok(d) if !d.is_zero() => d,
            _ => {
                self.at(
                    value,
                    field,
                    format!(
                        "`{}` is not a duration: write e.g. `30s`, `10m`, `24h`",
                        value.value
                    ),
                );
                default
            }
        }
    }

    fn fraction(
        &mut self,
        value: Option<&Spanned<f64>>,
        field: &str,
        default: f64,
        open: bool,
    ) -> f64 {
        let Some(value) = value else { return default };
        let v = value.value;
        let ok = if open {
            v > 0.0 && v < 1.0
        } else {
            (0.0..=1.0).contains(&v)
        };
        if ok {
            v
        } else {
            let range = if open {
                "strictly between 0 and 1"
            } else {
                "between 0 and 1"
            };
            self.at(
                value,
                field,
                format!("{v} is not {range}: write e.g. `0.99` for 99%"),
            );
            default
        }
    }
}

const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

fn is_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 64
        && text.starts_with(|c: char| c.is_ascii_lowercase())
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

fn is_identifier(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '$')
}

/// What is wrong with a path or template, if anything.
fn path_problem(path: &str) -> Option<String> {
    if !path.starts_with('/') {
        return Some(format!(
            "`{path}` must start with `/`: write e.g. `/api/coupons/{{id}}`"
        ));
    }
    if path.contains(['?', '#', ' ']) {
        return Some(format!(
            "`{path}` has a query, fragment or space: write the path only"
        ));
    }
    let mut names = HashSet::new();
    for segment in path.split('/').skip(1) {
        let opens = segment.matches('{').count();
        let closes = segment.matches('}').count();
        if opens == 0 && closes == 0 {
            continue;
        }
        let inner = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}'));
        match inner {
            Some(name) if opens == 1 && closes == 1 && is_identifier(name) => {
                if !names.insert(name) {
                    return Some(format!(
                        "`{path}` uses `{{{name}}}` twice: name each parameter once"
                    ));
                }
            }
            _ => {
                return Some(format!(
                    "segment `{segment}` of `{path}`: a parameter is a whole segment, `{{name}}`"
                ));
            }
        }
    }
    None
}

/// The template with parameter names erased, so `/a/{id}` and `/a/{code}` compare equal.
pub(crate) fn path_shape(path: &str) -> String {
    path.split('/')
        .map(|s| if s.starts_with('{') { "{}" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

/// What is wrong with a DSN, if anything: a literal password, an unclosed `${`.
fn dsn_problem(dsn: &str) -> Option<String> {
    let fix = "keep secrets out of the file: write `${DATABASE_URL}` for the whole DSN, or \
               `${PGPASSWORD}` in the password's place, and set the variable in the environment";
    if dsn.trim().is_empty() {
        return Some("is empty: write the DSN, e.g. `${COUPON_DATABASE_URL}`".to_owned());
    }
    let mut rest = dsn;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) if is_env_name(&after[..end]) => rest = &after[end + 1..],
            _ => {
                return Some(
                    "has a `${` that is not a variable reference: write `${NAME}` with letters, \
                     digits and `_`"
                        .to_owned(),
                );
            }
        }
    }
    // scheme://user:password@host… : the password must be a reference.
    if let Some((_, after_scheme)) = dsn.split_once("://") {
        let authority = after_scheme.split(['/', '?']).next().unwrap_or("");
        if let Some((userinfo, _)) = authority.rsplit_once('@')
            && let Some((_, password)) = userinfo.split_once(':')
            && !password.is_empty()
            && !(password.starts_with("${") && password.ends_with('}'))
        {
            return Some(format!("has a literal password; {fix}"));
        }
    }
    // key=value DSNs (libpq, ODBC): password=… / pwd=…
    for pair in dsn.split([' ', ';', '&', '?']) {
        if let Some((key, value)) = pair.split_once('=') {
            let key = key.trim().to_ascii_lowercase();
            if (key == "password" || key == "pwd")
                && !value.is_empty()
                && !(value.starts_with("${") && value.ends_with('}'))
            {
                return Some(format!("has a literal password; {fix}"));
            }
        }
    }
    None
}

fn is_env_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Percent to basis points, when it is a whole number of basis points in 0–100%.
fn percent_bp(percent: f64) -> Option<u16> {
    let bp = percent * 100.0;
    if !(0.0..=10_000.0).contains(&bp) || (bp - bp.round()).abs() > 1e-6 {
        return None;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "checked range"
    )]
    Some(bp.round() as u16)
}

fn resolve(raw: raw::RawPlaybook, text: &str, p: &mut Problems) -> Playbook {
    if !is_name(&raw.domain.value) {
        p.at(
            &raw.domain,
            "domain",
            format!(
                "`{}` is not a domain name: lowercase letters, digits, `-` and `_`, starting with a letter, e.g. `coupon`",
                raw.domain.value
            ),
        );
    }
    if raw.owner.value.trim().is_empty() {
        p.at(
            &raw.owner,
            "owner",
            "is empty: name the team or person who answers for this domain",
        );
    }
    if raw.upstream.value.trim().is_empty() {
        p.at(
            &raw.upstream,
            "upstream",
            "is empty: name the new service's upstream as in the proxy configuration, e.g. `coupon`",
        );
    }

    let routes = resolve_routes(&raw.routes, p);
    let tables = resolve_tables(raw.tables, text, p);
    let data = raw.data.as_ref().map(|d| resolve_data(d, p));
    let shadow = resolve_shadow(raw.shadow.unwrap_or_default(), &routes, p);
    let canary = resolve_canary(raw.canary.unwrap_or_default(), p);
    let gates = resolve_gates(raw.gates.unwrap_or_default(), p);
    let rollback = resolve_rollback(raw.rollback.unwrap_or_default(), p);

    Playbook {
        domain: raw.domain.value,
        owner: raw.owner.value,
        upstream: raw.upstream.value,
        routes,
        tables,
        data,
        shadow,
        canary,
        gates,
        rollback,
    }
}

fn resolve_routes(raw: &Spanned<Vec<Spanned<raw::RawRoute>>>, p: &mut Problems) -> Vec<Route> {
    if raw.value.is_empty() {
        p.at(
            raw,
            "routes",
            "is empty: list the routes the domain claims, each with `name` and `path`",
        );
    }
    let mut names: BTreeMap<String, u64> = BTreeMap::new();
    let mut shapes: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut routes = Vec::new();
    for (i, route) in raw.value.iter().enumerate() {
        let r = &route.value;
        let name = &r.name.value;
        if !is_name(name) {
            p.at(
                &r.name,
                format!("routes[{i}].name"),
                format!(
                    "`{name}` is not a route name: lowercase letters, digits, `-` and `_`, as in the proxy configuration"
                ),
            );
        } else if let Some(first) = names.insert(name.clone(), r.name.referenced.line()) {
            p.at(
                &r.name,
                format!("routes[{i}].name"),
                format!(
                    "`{name}` is already claimed on line {first}: give each route its own name"
                ),
            );
        }
        let mut methods = Vec::new();
        for (j, m) in r.methods.iter().flatten().enumerate() {
            let upper = m.value.to_ascii_uppercase();
            if !METHODS.contains(&upper.as_str()) {
                p.at(
                    m,
                    format!("routes[{i}].methods[{j}]"),
                    format!(
                        "`{}` is not an HTTP method: write one of {}",
                        m.value,
                        METHODS.join(", ")
                    ),
                );
            } else if methods.contains(&upper) {
                p.at(
                    m,
                    format!("routes[{i}].methods[{j}]"),
                    format!("`{upper}` is listed twice"),
                );
            } else {
                methods.push(upper);
            }
        }
        if r.methods.as_ref().is_some_and(Vec::is_empty) {
            p.at(
                &r.path,
                format!("routes[{i}].methods"),
                "is empty: list the methods, or leave `methods` out to claim every method",
            );
        }
        if let Some(problem) = path_problem(&r.path.value) {
            p.at(&r.path, format!("routes[{i}].path"), problem);
        } else {
            let shape = path_shape(&r.path.value);
            let claimed: Vec<String> = if methods.is_empty() {
                vec!["*".to_owned()]
            } else {
                methods.clone()
            };
            for method in claimed {
                if let Some(other) = shapes.insert((method.clone(), shape.clone()), name.clone()) {
                    p.at(
                        &r.path,
                        format!("routes[{i}].path"),
                        format!(
                            "{method} `{}` is already claimed by route `{other}`: a request must belong to one route",
                            r.path.value
                        ),
                    );
                }
            }
        }
        routes.push(Route {
            name: name.clone(),
            methods,
            path: r.path.value.clone(),
        });
    }
    routes
}

fn resolve_tables(
    tables: std::collections::BTreeMap<String, crate::mapping::TableMapping>,
    text: &str,
    p: &mut Problems,
) -> Mapping {
    let mapping = Mapping { tables };
    if let Err(found) = mapping.validate() {
        for problem in found {
            p.list.push(Problem {
                file: p.file.clone(),
                line: crate::mapping::locate(text, &problem.field).map(|l| l as u64),
                column: None,
                field: problem.field,
                message: problem.message,
            });
        }
    }
    mapping
}

fn resolve_data(raw: &raw::RawData, p: &mut Problems) -> DataConfig {
    for (field, dsn) in [("data.source", &raw.source), ("data.target", &raw.target)] {
        if let Some(problem) = dsn_problem(&dsn.value) {
            p.at(dsn, field, problem);
        }
    }
    DataConfig {
        source: Dsn(raw.source.value.clone()),
        target: Dsn(raw.target.value.clone()),
        verify_max_age: p.duration(
            raw.verify_max_age.as_ref(),
            "data.verify_max_age",
            Duration::from_secs(24 * 3600),
        ),
        max_lag: p.duration(
            raw.max_lag.as_ref(),
            "data.max_lag",
            Duration::from_secs(60),
        ),
    }
}

fn check_rules(rules: &Spanned<msa_shadow_compare::Rules>, field: &str, p: &mut Problems) {
    if let Err(err) = rules.value.resolve() {
        for problem in err.problems {
            p.at(
                rules,
                format!("{field}.{}", problem.field),
                format!("`{}`: {}", problem.entry, problem.problem),
            );
        }
    }
}

fn resolve_shadow(raw: raw::RawShadow, routes: &[Route], p: &mut Problems) -> ShadowPolicy {
    let defaults = ShadowPolicy::default();
    let min_samples = match &raw.min_samples {
        Some(n) if n.value == 0 => {
            p.at(
                n,
                "shadow.min_samples",
                "must be at least 1: write e.g. `100`",
            );
            defaults.min_samples
        }
        Some(n) => n.value,
        None => defaults.min_samples,
    };
    let match_rate = p.fraction(
        raw.match_rate.as_ref(),
        "shadow.match_rate",
        defaults.match_rate,
        false,
    );
    let confidence = match &raw.confidence {
        Some(c) if !(c.value >= 0.5 && c.value < 1.0) => {
            p.at(
                c,
                "shadow.confidence",
                format!("{} is not in [0.5, 1): write e.g. `0.95`", c.value),
            );
            defaults.confidence
        }
        Some(c) => c.value,
        None => defaults.confidence,
    };
    if let Some(rules) = &raw.rules {
        check_rules(rules, "shadow.rules", p);
    }
    for (name, rules) in &raw.routes {
        if routes.iter().all(|r| &r.name != name) {
            let known: Vec<&str> = routes.iter().map(|r| r.name.as_str()).collect();
            p.at(
                rules,
                format!("shadow.routes.{name}"),
                format!(
                    "no claimed route is named `{name}`; the routes are: {}",
                    known.join(", ")
                ),
            );
        }
        check_rules(rules, &format!("shadow.routes.{name}"), p);
    }
    ShadowPolicy {
        min_samples,
        match_rate,
        confidence,
        rules: raw.rules.map(|r| r.value).unwrap_or_default(),
        routes: raw.routes.into_iter().map(|(k, v)| (k, v.value)).collect(),
    }
}

fn resolve_canary(raw: raw::RawCanary, p: &mut Problems) -> CanaryPolicy {
    let defaults = CanaryPolicy::default();
    let steps_bp = match &raw.steps {
        None => defaults.steps_bp.clone(),
        Some(steps) => {
            if steps.value.is_empty() {
                p.at(
                    steps,
                    "canary.steps",
                    "is empty: write e.g. `[1, 5, 25, 50, 100]`",
                );
            }
            let mut out: Vec<u16> = Vec::new();
            for (i, step) in steps.value.iter().enumerate() {
                match percent_bp(step.value) {
                    Some(0) | None => p.at(
                        step,
                        format!("canary.steps[{i}]"),
                        format!(
                            "{} is not a share of users: write a percentage above 0 and at most 100, \
                             in steps of 0.01",
                            step.value
                        ),
                    ),
                    Some(bp) if out.last().is_some_and(|last| *last >= bp) => p.at(
                        step,
                        format!("canary.steps[{i}]"),
                        format!("{} does not go up from the step before: list steps in increasing order", step.value),
                    ),
                    Some(bp) => out.push(bp),
                }
            }
            out
        }
    };
    let interval = p.duration(raw.interval.as_ref(), "canary.interval", defaults.interval);
    let advance_after = match &raw.advance_after {
        Some(n) if n.value == 0 => {
            p.at(
                n,
                "canary.advance_after",
                "must be at least 1: write e.g. `3`",
            );
            defaults.advance_after
        }
        Some(n) => n.value,
        None => defaults.advance_after,
    };
    let max_failures = match &raw.max_failures {
        Some(n) if n.value == 0 => {
            p.at(
                n,
                "canary.max_failures",
                "must be at least 1 (1 rolls back on the first failure)",
            );
            defaults.max_failures
        }
        Some(n) => n.value,
        None => defaults.max_failures,
    };
    let mut approval_bp = Vec::new();
    for (i, a) in raw.approval.iter().enumerate() {
        match percent_bp(a.value) {
            Some(bp) if steps_bp.contains(&bp) => approval_bp.push(bp),
            _ => p.at(
                a,
                format!("canary.approval[{i}]"),
                format!(
                    "{} is not one of the canary steps: list step percentages from `canary.steps`",
                    a.value
                ),
            ),
        }
    }
    CanaryPolicy {
        steps_bp,
        interval,
        advance_after,
        max_failures,
        approval_bp,
    }
}

fn resolve_gates(raw: raw::RawGates, p: &mut Problems) -> Gates {
    let d = Gates::default();
    let coupling = raw.coupling.map_or(d.coupling, |c| CouplingGate {
        critical: c.critical.unwrap_or(d.coupling.critical),
        max_cross_domain_writes: c.max_cross_domain_writes.unwrap_or(0),
        max_foreign_keys: c.max_foreign_keys.unwrap_or(0),
        max_transactions: c.max_transactions.unwrap_or(0),
    });
    let flag = |g: Option<raw::RawPlainGate>, default: GateFlag| GateFlag {
        critical: g.and_then(|g| g.critical).unwrap_or(default.critical),
    };
    let data = flag(raw.data, d.data);
    let behaviour = flag(raw.behaviour, d.behaviour);
    let performance = match raw.performance {
        None => d.performance,
        Some(g) => {
            let dp = d.performance;
            PerformanceGate {
                critical: g.critical.unwrap_or(dp.critical),
                min_requests: match &g.min_requests {
                    Some(n) if n.value == 0 => {
                        p.at(
                            n,
                            "gates.performance.min_requests",
                            "must be at least 1: write e.g. `200`",
                        );
                        dp.min_requests
                    }
                    Some(n) => n.value,
                    None => dp.min_requests,
                },
                max_error_rate_delta: p.fraction(
                    g.max_error_rate_delta.as_ref(),
                    "gates.performance.max_error_rate_delta",
                    dp.max_error_rate_delta,
                    false,
                ),
                alpha: match &g.alpha {
                    Some(a) if !(a.value > 0.0 && a.value <= 0.2) => {
                        p.at(
                            a,
                            "gates.performance.alpha",
                            format!("{} is not in (0, 0.2]: write e.g. `0.05`", a.value),
                        );
                        dp.alpha
                    }
                    Some(a) => a.value,
                    None => dp.alpha,
                },
                max_latency_shift: match &g.max_latency_shift {
                    Some(s) if !(0.0..0.5).contains(&s.value) => {
                        p.at(
                            s,
                            "gates.performance.max_latency_shift",
                            format!("{} is not in [0, 0.5): write e.g. `0.1` (a new request slower 60% of the time)", s.value),
                        );
                        dp.max_latency_shift
                    }
                    Some(s) => s.value,
                    None => dp.max_latency_shift,
                },
                max_p99: g.max_p99.as_ref().map(|v| {
                    p.duration(Some(v), "gates.performance.max_p99", Duration::from_secs(1))
                }),
            }
        }
    };
    let stage = match raw.stage {
        None => d.stage,
        Some(g) => StageGate {
            critical: g.critical.unwrap_or(d.stage.critical),
            require: match &g.require {
                None => d.stage.require,
                Some(m) => Mode::parse(&m.value).unwrap_or_else(|| {
                    p.at(
                        m,
                        "gates.stage.require",
                        format!(
                            "`{}` is not a stage: write legacy, shadow, canary or cutover",
                            m.value
                        ),
                    );
                    d.stage.require
                }),
            },
            min_weight_bp: match &g.min_weight_bp {
                Some(w) if w.value > 10_000 => {
                    p.at(
                        w,
                        "gates.stage.min_weight_bp",
                        "basis points go from 0 to 10000 (100%)",
                    );
                    0
                }
                #[allow(clippy::cast_possible_truncation, reason = "checked above")]
                Some(w) => w.value as u16,
                None => 0,
            },
        },
    };
    Gates {
        coupling,
        data,
        behaviour,
        performance,
        stage,
    }
}

fn resolve_rollback(raw: raw::RawRollback, p: &mut Problems) -> RollbackPolicy {
    let d = RollbackPolicy::default();
    RollbackPolicy {
        automatic: raw.automatic.unwrap_or(d.automatic),
        to: match &raw.to {
            None => d.to,
            Some(m) => match Mode::parse(&m.value) {
                Some(mode @ (Mode::Legacy | Mode::Shadow)) => mode,
                _ => {
                    p.at(
                        m,
                        "rollback.to",
                        format!(
                            "`{}` is not a stage to roll back to: write legacy or shadow",
                            m.value
                        ),
                    );
                    d.to
                }
            },
        },
    }
}

#[cfg(test)]
mod tests;
