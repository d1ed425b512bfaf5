//! The committed data of the playbook crate: every playbook under playbooks/
//! is valid, and the published schema and reference are what the types say.
//! `MSA_BLESS=1 cargo nextest run -p msa-playbook` rewrites a stale schema or
//! reference instead of failing.

use std::path::{Path, PathBuf};

use serde_json::Value;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn bless() -> bool {
    std::env::var_os("MSA_BLESS").is_some()
}

#[test]
fn every_playbook_under_playbooks_is_valid() {
    let dir = workspace().join("playbooks");
    let mut checked = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if !matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let name = format!("playbooks/{}", path.file_name().unwrap().to_string_lossy());
        let playbook = msa_playbook::parse(&name, &text).unwrap_or_else(|problems| {
            let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
            panic!("{name} is invalid:\n{}", list.join("\n"))
        });
        assert_eq!(
            Some(playbook.domain.as_str()),
            path.file_stem().and_then(|s| s.to_str()),
            "{name}: a playbook is named after its domain"
        );
        checked.push(name);
    }
    assert!(
        checked.contains(&"playbooks/coupon.yaml".to_owned()),
        "{checked:?}"
    );
}

#[test]
fn the_coupon_playbook_says_what_the_example_does() {
    let text = std::fs::read_to_string(workspace().join("playbooks/coupon.yaml")).unwrap();
    let p = msa_playbook::parse("coupon.yaml", &text).unwrap();
    let routes: Vec<(&str, &str)> = p
        .routes
        .iter()
        .map(|r| (r.name.as_str(), r.path.as_str()))
        .collect();
    assert_eq!(
        routes,
        [
            ("coupon-read", "/api/coupons/{id}"),
            ("coupon-issue", "/api/coupons/{id}/issue"),
            ("user-coupons", "/api/users/{id}/coupons"),
        ]
    );
    assert_eq!(p.upstream, "coupon");
    let coupons = p.tables.table("coupons");
    assert_eq!(coupons.target.as_deref(), Some("coupon"));
    assert_eq!(
        coupons.target_column("discount_amount"),
        Some("discount_won")
    );
    assert_eq!(
        p.tables.table("user_coupons").target_column("user_id"),
        Some("member_id")
    );
    let data = p.data.unwrap();
    assert_eq!(data.target.variables(), ["COUPON_DATABASE_URL"]);
}

/// The published schema, as editors and CI validators read it.
fn published_schema() -> jsonschema::Validator {
    let text = std::fs::read_to_string(workspace().join("playbooks/playbook.schema.json")).unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    jsonschema::validator_for(&schema).expect("the published schema is a valid JSON Schema")
}

/// YAML as the data model a JSON Schema validator sees.
fn as_json(text: &str) -> Value {
    serde_saphyr::from_str(text).expect("YAML")
}

/// Every playbook under playbooks/ validates against the published schema
/// with an independent validator, so the schema editors use and the parser
/// cannot drift apart unnoticed.
#[test]
fn every_playbook_under_playbooks_validates_against_the_published_schema() {
    let validator = published_schema();
    let mut checked = 0;
    for entry in std::fs::read_dir(workspace().join("playbooks")).unwrap() {
        let path = entry.unwrap().path();
        if !matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            continue;
        }
        let instance = as_json(&std::fs::read_to_string(&path).unwrap());
        let errors: Vec<String> = validator
            .iter_errors(&instance)
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{} does not validate against playbooks/playbook.schema.json:\n{}",
            path.display(),
            errors.join("\n")
        );
        checked += 1;
    }
    assert!(checked >= 1, "no playbook was checked");
}

/// The schema and the parser agree on shape: what one refuses for its
/// shape, the other refuses too, and what both take is the same file.
#[test]
fn the_schema_and_the_parser_agree_on_what_is_well_shaped() {
    let validator = published_schema();
    let base = "domain: coupon\nowner: team-coupon\nupstream: coupon\nroutes:\n  - name: coupon-read\n    path: /api/coupons/{id}\n";
    let cases: [(&str, &str, bool); 8] = [
        ("the least playbook", "", true),
        ("an unknown top-level field", "colour: blue\n", false),
        (
            "a canary step that is not a number",
            "canary:\n  steps: [1, five]\n",
            false,
        ),
        (
            "a gate flag that is not a boolean",
            "gates:\n  data: {critical: maybe}\n",
            false,
        ),
        (
            "an unknown rollback field",
            "rollback:\n  automatik: false\n",
            false,
        ),
        (
            "rollback written out",
            "rollback:\n  automatic: false\n  to: shadow\n",
            true,
        ),
        (
            "a cast to an unknown type",
            "tables:\n  orders:\n    cast: {total: money}\n",
            false,
        ),
        (
            "a cast to a known type",
            "tables:\n  orders:\n    cast: {total: decimal}\n",
            true,
        ),
    ];
    for (what, extra, well_shaped) in cases {
        let text = format!("{base}{extra}");
        let schema_ok = validator.is_valid(&as_json(&text));
        let parsed = msa_playbook::parse("coupon.yaml", &text);
        let shape_problems: Vec<String> = parsed
            .as_ref()
            .err()
            .into_iter()
            .flatten()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            schema_ok, well_shaped,
            "{what}: the schema says {schema_ok}\n{text}"
        );
        assert_eq!(
            parsed.is_ok(),
            well_shaped,
            "{what}: the parser says {shape_problems:?}\n{text}"
        );
    }
}

/// Compares `actual` with the committed file, or rewrites it when blessing.
fn committed(path: &Path, actual: &str, what: &str) {
    let expected = std::fs::read_to_string(path).unwrap_or_default();
    if expected == actual {
        return;
    }
    if bless() {
        std::fs::write(path, actual).unwrap();
        return;
    }
    panic!(
        "{} is stale: {what}. Run `MSA_BLESS=1 cargo nextest run -p msa-playbook` and commit the result",
        path.display()
    );
}

#[test]
fn the_published_schema_is_generated_from_the_types() {
    committed(
        &workspace().join("playbooks/playbook.schema.json"),
        &msa_playbook::schema_text(),
        "the playbook types changed",
    );
}

const START: &str = "<!-- reference: generated from the schema by playbook/tests/it/main.rs -->\n";
const END: &str = "<!-- end of reference -->\n";

#[test]
fn the_reference_in_docs_is_generated_from_the_schema() {
    let path = workspace().join("docs/playbook.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let (Some(start), Some(end)) = (doc.find(START), doc.find(END)) else {
        panic!("docs/playbook.md has lost its reference markers: {START:?} … {END:?}");
    };
    let updated = format!(
        "{}{START}{}{}",
        &doc[..start],
        reference(&msa_playbook::schema()),
        &doc[end..]
    );
    committed(&path, &updated, "the schema changed");
}

/// Markdown: one table per object in the schema, root first.
fn reference(schema: &Value) -> String {
    let mut out = String::new();
    object(&mut out, "Playbook", schema);
    if let Some(defs) = schema["$defs"].as_object() {
        for (name, def) in defs {
            if def["properties"].is_object() {
                object(&mut out, name, def);
            } else if let Some(values) = def["enum"].as_array().or(def["oneOf"].as_array()) {
                out.push_str(&format!(
                    "\n### {name}\n\n{}\n\n",
                    one_line(&def["description"])
                ));
                let listed: Vec<String> = values
                    .iter()
                    .map(|v| match v {
                        Value::String(s) => format!("`{s}`"),
                        other => other["const"]
                            .as_str()
                            .or(other["enum"][0].as_str())
                            .map_or_else(|| one_line(&other["description"]), |c| format!("`{c}`")),
                    })
                    .collect();
                out.push_str(&format!("One of: {}.\n", listed.join(", ")));
            } else {
                out.push_str(&format!(
                    "\n### {name}\n\n{}\n",
                    one_line(&def["description"])
                ));
            }
        }
    }
    out
}

fn object(out: &mut String, name: &str, def: &Value) {
    out.push_str(&format!(
        "\n### {name}\n\n{}\n\n",
        one_line(&def["description"])
    ));
    out.push_str("| field | type | required | meaning |\n| --- | --- | --- | --- |\n");
    let required: Vec<&str> = def["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for (field, spec) in def["properties"].as_object().into_iter().flatten() {
        out.push_str(&format!(
            "| `{field}` | {} | {} | {} |\n",
            type_of(spec),
            if required.contains(&field.as_str()) {
                "yes"
            } else {
                ""
            },
            one_line(&spec["description"]).replace('|', "\\|"),
        ));
    }
}

fn one_line(description: &Value) -> String {
    description
        .as_str()
        .unwrap_or_default()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn type_of(spec: &Value) -> String {
    if let Some(target) = spec["$ref"].as_str() {
        let name = target.trim_start_matches("#/$defs/");
        return format!("[{name}](#{})", name.to_lowercase());
    }
    if let Some(any) = spec["anyOf"].as_array() {
        let types: Vec<String> = any
            .iter()
            .filter(|s| s["type"] != "null")
            .map(type_of)
            .collect();
        return types.join(" or ");
    }
    let ty = match &spec["type"] {
        Value::String(t) => t.clone(),
        Value::Array(ts) => ts
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect::<Vec<_>>()
            .join(" or "),
        _ => "any".to_owned(),
    };
    match ty.as_str() {
        "array" => format!("list of {}", type_of(&spec["items"])),
        "object" if spec["additionalProperties"].is_object() => {
            format!("map of {}", type_of(&spec["additionalProperties"]))
        }
        "integer" => "integer".to_owned(),
        "number" => "number".to_owned(),
        other => other.to_owned(),
    }
}
