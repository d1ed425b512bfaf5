//! `playbooks:` in the proxy's configuration: every route a playbook claims
//! becomes a proxy route, so a domain's routes are written once.
//!
//! The merge works on the raw configuration, before it is resolved, so a route
//! that came from a playbook is checked exactly like one written in the file.
//! For each playbook route:
//!
//! - no route of that name in the file: the playbook's route is added, with
//!   its `methods`, `path`, the playbook's `upstream`, the playbook's shadow
//!   rules for it, and every other field at its default (it starts `legacy`);
//! - a route of that name in the file: what the file writes wins, what it
//!   leaves out comes from the playbook (`methods`, `path`, `upstream`, and
//!   `shadow.rules` when the file gives none). A `path`, `prefix` or `methods`
//!   that says something else than the playbook is refused, naming both files.
//!
//! A route of another name claiming the same method on the same path template
//! is refused too: it would silently shadow the playbook's.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use msa_shadow_compare::Rules;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::raw::{RawRoute, RawShadow, RawUpstream};
use super::{DomainConfig, Problems};

/// Where a playbook writes what a message may point at. Read leniently, after
/// `msa_playbook::parse` has accepted the file, only for line numbers.
#[derive(Debug, Deserialize)]
struct Lines {
    #[serde(default)]
    upstream: Option<Spanned<String>>,
    #[serde(default)]
    routes: Vec<Spanned<RouteLines>>,
}

#[derive(Debug, Deserialize)]
struct RouteLines {
    #[serde(default)]
    path: Option<Spanned<String>>,
}

/// One playbook route, with where it was written.
struct Claimed {
    route: msa_playbook::Route,
    /// `file:line` of the route, or `file` when the line is not known.
    at: String,
    /// `file:line` of its `path`.
    path_at: String,
}

/// Reads the playbooks named in the configuration and merges their routes into
/// `routes` (see the module's comment). Problems are reported at the
/// `playbooks[k]` entry or at the written route, with the playbook's
/// `file:line` in the message. Returns the playbook files, for the watcher,
/// and the domains they name, with the routes each claims.
pub(super) fn merge(
    entries: &[Spanned<String>],
    routes: &mut Vec<Spanned<RawRoute>>,
    upstreams: &BTreeMap<String, Spanned<RawUpstream>>,
    base: &Path,
    problems: &mut Problems,
) -> (Vec<PathBuf>, Vec<DomainConfig>) {
    let written = routes.len();
    let mut files = Vec::with_capacity(entries.len());
    let mut domains: Vec<DomainConfig> = Vec::with_capacity(entries.len());
    let mut claimed: Vec<Claimed> = Vec::new();
    for (k, entry) in entries.iter().enumerate() {
        let field = format!("playbooks[{k}]");
        let path = base.join(&entry.value);
        files.push(path.clone());
        let shown = path.display().to_string();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) => {
                problems.at(entry, field, format!("cannot read {shown}: {err}"));
                continue;
            }
        };
        let playbook = match msa_playbook::parse(&shown, &text) {
            Ok(playbook) => playbook,
            Err(found) => {
                for problem in found {
                    problems.at(entry, field.as_str(), problem.to_string());
                }
                continue;
            }
        };
        let lines = serde_saphyr::from_str::<Lines>(&text).ok();
        let at = |line: Option<u64>| match line {
            Some(line) if line > 0 => format!("{shown}:{line}"),
            _ => shown.clone(),
        };
        if !upstreams.contains_key(&playbook.upstream) {
            let line = lines
                .as_ref()
                .and_then(|l| l.upstream.as_ref())
                .map(|u| u.referenced.line());
            let names: Vec<&str> = upstreams.keys().map(String::as_str).collect();
            problems.at(
                entry,
                field,
                format!(
                    "{}: upstream: no upstream of this configuration is named `{}`; the upstreams are: {}",
                    at(line),
                    playbook.upstream,
                    names.join(", ")
                ),
            );
            continue;
        }
        if let Some(other) = domains.iter().find(|d| d.name == playbook.domain) {
            problems.at(
                entry,
                field.as_str(),
                format!(
                    "{shown} is domain `{}`, as {} is: a domain has one playbook",
                    playbook.domain,
                    other.playbook.display()
                ),
            );
            continue;
        }
        let mut domain = DomainConfig {
            name: playbook.domain.clone(),
            playbook: path.clone(),
            routes: Vec::with_capacity(playbook.routes.len()),
            // Set with the state settings (config/mod.rs).
            readiness_log: PathBuf::new(),
        };
        for (j, route) in playbook.routes.iter().enumerate() {
            let written_at = lines.as_ref().and_then(|l| l.routes.get(j));
            let here = Claimed {
                route: route.clone(),
                at: at(written_at.map(|r| r.referenced.line())),
                path_at: at(written_at
                    .and_then(|r| r.value.path.as_ref())
                    .map(|p| p.referenced.line())),
            };
            if let Some(other) = claimed.iter().find(|c| c.route.name == route.name) {
                problems.at(
                    entry,
                    field.as_str(),
                    format!(
                        "route `{}` at {} is also claimed at {}: a route belongs to one playbook",
                        route.name, here.at, other.at
                    ),
                );
                continue;
            }
            if let Some(other) = claimed.iter().find(|c| {
                shape(&c.route.path) == shape(&route.path)
                    && overlap(&c.route.methods, &route.methods)
            }) {
                problems.at(
                    entry,
                    field.as_str(),
                    format!(
                        "route `{}` at {} claims `{}`, as route `{}` at {} does: a request is claimed by one route",
                        route.name, here.at, route.path, other.route.name, other.at
                    ),
                );
                continue;
            }
            let rules = playbook.shadow.rules_for(&route.name);
            match routes[..written]
                .iter_mut()
                .position(|r| r.value.name.value == route.name)
            {
                Some(i) => overlay(
                    problems,
                    i,
                    &mut routes[i],
                    &here,
                    &playbook.upstream,
                    rules,
                ),
                None => routes.push(added(entry, &here.route, &playbook.upstream, rules)),
            }
            domain.routes.push(route.name.clone());
            claimed.push(here);
        }
        domains.push(domain);
    }
    refuse_lookalikes(problems, &routes[..written], &claimed);
    (files, domains)
}

/// Fills what the written route `routes[i]` leaves out from the playbook's,
/// and refuses what contradicts it.
fn overlay(
    problems: &mut Problems,
    i: usize,
    written: &mut Spanned<RawRoute>,
    playbook: &Claimed,
    upstream: &str,
    rules: &Rules,
) {
    let field = |f: &str| format!("routes[{i}].{f}");
    let (referenced, defined) = (written.referenced, written.defined);
    let spanned = |value: String| Spanned::new(value, referenced, defined);
    let whole = Spanned::new((), referenced, defined);
    let route = &playbook.route;
    let raw = &mut written.value;
    match (&raw.path, &raw.prefix) {
        (None, None) => raw.path = Some(spanned(route.path.clone())),
        (Some(path), None) if shape(&path.value) == shape(&route.path) => {}
        (Some(path), _) => problems.at(
            path,
            field("path"),
            format!(
                "`{}` is not the path {} gives route `{}` (`{}`): leave `path` out to take the playbook's, or make the two agree",
                path.value, playbook.path_at, route.name, route.path
            ),
        ),
        (None, Some(prefix)) => problems.at(
            prefix,
            field("prefix"),
            format!(
                "{} gives route `{}` the path `{}`, not a prefix: leave `prefix` out to take the playbook's",
                playbook.path_at, route.name, route.path
            ),
        ),
    }
    match &raw.methods {
        None if route.methods.is_empty() => {}
        None => {
            raw.methods = Some(route.methods.iter().cloned().map(spanned).collect());
        }
        Some(methods) => {
            let mine = method_set(methods.iter().map(|m| m.value.as_str()));
            if mine != method_set(route.methods.iter().map(String::as_str)) {
                let list = |m: &[String]| {
                    if m.is_empty() {
                        "every method".to_owned()
                    } else {
                        format!("[{}]", m.join(", "))
                    }
                };
                let message = format!(
                    "{} is not what {} gives route `{}` ({}): leave `methods` out to take the playbook's, or make the two agree",
                    list(&mine),
                    playbook.at,
                    route.name,
                    list(&method_set(route.methods.iter().map(String::as_str)))
                );
                match methods.first() {
                    Some(first) => problems.at(first, field("methods"), message),
                    None => problems.at(&whole, field("methods"), message),
                }
            }
        }
    }
    if raw.upstream.is_none() {
        raw.upstream = Some(spanned(upstream.to_owned()));
    }
    if *rules != Rules::default() {
        match &mut raw.shadow {
            None => {
                raw.shadow = Some(Spanned::new(
                    RawShadow {
                        rules: Some(Spanned::new(rules.clone(), referenced, defined)),
                        ..RawShadow::default()
                    },
                    referenced,
                    defined,
                ));
            }
            Some(shadow) if shadow.value.rules.is_none() => {
                shadow.value.rules = Some(Spanned::new(
                    rules.clone(),
                    shadow.referenced,
                    shadow.defined,
                ));
            }
            Some(_) => {}
        }
    }
}

/// The proxy route for a playbook route no written route names: every field
/// the playbook does not give at its default. Located at the `playbooks[k]`
/// entry, so a later problem points there.
fn added(
    entry: &Spanned<String>,
    route: &msa_playbook::Route,
    upstream: &str,
    rules: &Rules,
) -> Spanned<RawRoute> {
    let spanned = |value: String| Spanned::new(value, entry.referenced, entry.defined);
    let raw = RawRoute {
        name: spanned(route.name.clone()),
        methods: (!route.methods.is_empty())
            .then(|| route.methods.iter().cloned().map(spanned).collect()),
        host: None,
        path: Some(spanned(route.path.clone())),
        prefix: None,
        upstream: Some(spanned(upstream.to_owned())),
        mode: None,
        weight_bp: None,
        sticky: None,
        split_seed: None,
        fallback: None,
        shadow: (*rules != Rules::default()).then(|| {
            Spanned::new(
                RawShadow {
                    rules: Some(Spanned::new(rules.clone(), entry.referenced, entry.defined)),
                    ..RawShadow::default()
                },
                entry.referenced,
                entry.defined,
            )
        }),
    };
    Spanned::new(raw, entry.referenced, entry.defined)
}

/// Refuses a written route of another name that claims a method a playbook
/// route claims on the same path template: whichever came first would win,
/// silently.
fn refuse_lookalikes(problems: &mut Problems, written: &[Spanned<RawRoute>], claimed: &[Claimed]) {
    for (i, raw) in written.iter().enumerate() {
        let raw_route = &raw.value;
        let Some(path) = &raw_route.path else {
            continue;
        };
        let mine = raw_route
            .methods
            .as_ref()
            .map(|m| method_set(m.iter().map(|m| m.value.as_str())));
        for other in claimed {
            let theirs = &other.route;
            if theirs.name == raw_route.name.value || shape(&theirs.path) != shape(&path.value) {
                continue;
            }
            let overlaps = match &mine {
                None => true,
                Some(mine) if mine.is_empty() => false,
                Some(mine) => overlap(mine, &theirs.methods),
            };
            if overlaps {
                problems.at(
                    path,
                    format!("routes[{i}].path"),
                    format!(
                        "route `{}` claims `{}`, which {} gives route `{}`: name this route `{}` to configure the playbook's, or remove one",
                        raw_route.name.value, path.value, other.at, theirs.name, theirs.name
                    ),
                );
            }
        }
    }
}

/// Whether two method lists share a method; an empty list is every method.
fn overlap(a: &[String], b: &[String]) -> bool {
    a.is_empty()
        || b.is_empty()
        || a.iter()
            .any(|m| b.iter().any(|n| m.eq_ignore_ascii_case(n)))
}

/// Methods upper-cased, sorted, once each.
fn method_set<'a>(methods: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut set: Vec<String> = methods.map(str::to_ascii_uppercase).collect();
    set.sort();
    set.dedup();
    set
}

/// A path with each `{param}` segment's name dropped: `/a/{id}` and `/a/{code}`
/// claim the same requests.
fn shape(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.starts_with('{') && segment.ends_with('}') {
                "{}"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests;
