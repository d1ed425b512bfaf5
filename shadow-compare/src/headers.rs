//! Response headers: every header not on the ignore list, by name and value;
//! `Set-Cookie` by cookie name only, since cookie values are per session.

use std::collections::{BTreeSet, HashSet};

use http::header::{CONTENT_TYPE, SET_COOKIE};
use http::{HeaderMap, HeaderName};
use serde_json::Value;

use crate::report::{DiffKind, Difference};

/// The differences between two header maps, in header-name order.
pub(crate) fn compare(
    legacy: &HeaderMap,
    candidate: &HeaderMap,
    ignored: &HashSet<String>,
) -> Vec<Difference> {
    let names: BTreeSet<&str> = (legacy.keys().chain(candidate.keys()))
        .map(HeaderName::as_str)
        .filter(|name| !ignored.contains(*name))
        .collect();
    let mut out = Vec::new();
    for name in names {
        if name == SET_COOKIE.as_str() {
            cookies(legacy, candidate, &mut out);
            continue;
        }
        // The same values in the same order: equal, with nothing to allocate.
        if legacy
            .get_all(name)
            .iter()
            .eq(candidate.get_all(name).iter())
        {
            continue;
        }
        let path = format!("header:{name}");
        match (joined(legacy, name), joined(candidate, name)) {
            (Some(l), None) => out.push(Difference::new(
                path,
                DiffKind::Missing,
                Some(&l.into()),
                None,
            )),
            (None, Some(c)) => out.push(Difference::new(
                path,
                DiffKind::Extra,
                None,
                Some(&c.into()),
            )),
            (Some(l), Some(c)) if normalise(name, &l) != normalise(name, &c) => {
                out.push(Difference::new(
                    path,
                    DiffKind::ValueChanged,
                    Some(&l.into()),
                    Some(&c.into()),
                ));
            }
            _ => {}
        }
    }
    out
}

/// All values of a header, joined as a list would be sent.
fn joined(headers: &HeaderMap, name: &str) -> Option<String> {
    let values: Vec<String> = headers
        .get_all(name)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    (!values.is_empty()).then(|| values.join(", "))
}

/// `application/json;charset=UTF-8` and `application/json; charset=utf-8` are one type.
fn normalise(name: &str, value: &str) -> String {
    if name == CONTENT_TYPE.as_str() {
        value
            .split_whitespace()
            .collect::<String>()
            .to_ascii_lowercase()
    } else {
        value.to_owned()
    }
}

fn cookies(legacy: &HeaderMap, candidate: &HeaderMap, out: &mut Vec<Difference>) {
    let l = cookie_names(legacy);
    let c = cookie_names(candidate);
    for name in l.difference(&c) {
        let path = format!("header:set-cookie:{name}");
        out.push(Difference::new(
            path,
            DiffKind::Missing,
            Some(&Value::from(name.as_str())),
            None,
        ));
    }
    for name in c.difference(&l) {
        let path = format!("header:set-cookie:{name}");
        out.push(Difference::new(
            path,
            DiffKind::Extra,
            None,
            Some(&Value::from(name.as_str())),
        ));
    }
}

fn cookie_names(headers: &HeaderMap) -> BTreeSet<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| {
            let v = String::from_utf8_lossy(v.as_bytes());
            let pair = v.split(';').next()?;
            let name = pair.split_once('=').map_or(pair, |(n, _)| n).trim();
            (!name.is_empty()).then(|| name.to_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests;
