//! Choosing how to compare two bodies from their content type, after decoding.

use serde_json::{Value, json};

use crate::decode::{self, DecodeError};
use crate::exchange::Exchange;
use crate::report::{DiffKind, Difference};
use crate::rules::RuleSet;
use crate::{json as json_diff, text};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Json,
    Text,
    Bytes,
}

impl Kind {
    fn of(media: Option<&str>, body: &[u8]) -> Kind {
        let Some(media) = media else {
            // No type given: JSON if it looks like it (a failed parse falls back to lines).
            let first = body.iter().find(|b| !b.is_ascii_whitespace());
            return match first {
                Some(b'{' | b'[') => Kind::Json,
                _ => Kind::Bytes,
            };
        };
        if media == "application/json" || media.ends_with("+json") {
            Kind::Json
        } else if media.starts_with("text/")
            || media.ends_with("+xml")
            || matches!(
                media,
                "application/xml"
                    | "application/javascript"
                    | "application/x-www-form-urlencoded"
                    | "application/x-ndjson"
                    | "application/yaml"
            )
        {
            Kind::Text
        } else {
            Kind::Bytes
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Json => "json",
            Kind::Text => "text",
            Kind::Bytes => "bytes",
        }
    }
}

/// Compares the bodies, adding to `differences`, or says in `unanalysed` why not.
pub(crate) fn compare(
    legacy: &Exchange,
    candidate: &Exchange,
    rules: &RuleSet,
    differences: &mut Vec<Difference>,
    unanalysed: &mut Vec<String>,
) {
    if legacy.truncated || candidate.truncated {
        unanalysed.push("body: cut at the capture limit, not comparable whole".into());
        return;
    }
    let decoded = (
        decode::content(&legacy.headers, &legacy.body),
        decode::content(&candidate.headers, &candidate.body),
    );
    let (l, c) = match decoded {
        (Ok(l), Ok(c)) => (l, c),
        (l, c) => {
            note(unanalysed, "legacy", l.err());
            note(unanalysed, "candidate", c.err());
            return;
        }
    };
    if l.is_empty() && c.is_empty() {
        return;
    }
    let l_kind = Kind::of(decode::media_type(&legacy.headers).as_deref(), &l);
    let c_kind = Kind::of(decode::media_type(&candidate.headers).as_deref(), &c);
    if l_kind != c_kind {
        differences.push(Difference::new(
            "body".into(),
            DiffKind::TypeChanged,
            Some(&l_kind.name().into()),
            Some(&c_kind.name().into()),
        ));
        return;
    }
    if l_kind == Kind::Bytes {
        differences.extend(text::bytes(&l, &c));
        return;
    }
    let texts = (
        decode::text(&legacy.headers, &l),
        decode::text(&candidate.headers, &c),
    );
    let (l_text, c_text) = match texts {
        (Ok(l), Ok(c)) => (l, c),
        (l, c) => {
            note(unanalysed, "legacy", l.err());
            note(unanalysed, "candidate", c.err());
            return;
        }
    };
    // The same text: equal under every rule, whatever its kind; no parse needed.
    if l_text == c_text {
        return;
    }
    if l_kind == Kind::Text {
        differences.extend(text::lines(&l_text, &c_text));
        return;
    }
    match (
        serde_json::from_str::<Value>(&l_text),
        serde_json::from_str::<Value>(&c_text),
    ) {
        (Ok(l), Ok(c)) => differences.extend(json_diff::diff(&l, &c, rules)),
        (Err(_), Err(_)) => differences.extend(text::lines(&l_text, &c_text)),
        (l, c) => {
            let describe = |r: Result<Value, serde_json::Error>| match r {
                Ok(_) => json!("json"),
                Err(e) => json!(format!("not json: {e}")),
            };
            differences.push(Difference::new(
                "body".into(),
                DiffKind::TypeChanged,
                Some(&describe(l)),
                Some(&describe(c)),
            ));
        }
    }
}

fn note(unanalysed: &mut Vec<String>, side: &str, error: Option<DecodeError>) {
    if let Some(e) = error {
        unanalysed.push(format!("{side} body: {e}"));
    }
}
