//! The readiness report's formats: table, Markdown, HTML, JSON.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::args::ReportFormat;

/// The report of the log `entries` (`{"at", "verdict"}`) in `format`;
/// `ready` is whether every verdict is.
pub(super) fn render(
    format: ReportFormat,
    entries: &[Value],
    ready: bool,
    explain: bool,
) -> anyhow::Result<String> {
    Ok(match format {
        ReportFormat::Json => {
            let verdicts: Vec<&Value> = entries.iter().map(|e| &e["verdict"]).collect();
            let mut text =
                serde_json::to_string_pretty(&json!({ "ready": ready, "domains": verdicts }))?;
            text.push('\n');
            text
        }
        ReportFormat::Table => table(entries, explain),
        ReportFormat::Md => markdown(entries, explain),
        ReportFormat::Html => html(entries, explain),
    })
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or_default()
}

fn critical(gate: &Value) -> &'static str {
    if gate["critical"] == true {
        "yes"
    } else {
        "no"
    }
}

fn table(entries: &[Value], explain: bool) -> String {
    let mut out = String::new();
    for entry in entries {
        let v = &entry["verdict"];
        let status = if v["ready"] == true {
            "READY"
        } else {
            "NOT READY"
        };
        let _ = writeln!(
            out,
            "{}: {status} ({}) at {}",
            text(&v["domain"]),
            text(&v["outcome"]),
            text(&entry["at"])
        );
        let _ = writeln!(out, "  {}", text(&v["summary"]));
        let _ = writeln!(
            out,
            "  {:<12} {:<8} {:<13} summary",
            "gate", "critical", "outcome"
        );
        for gate in v["gates"].as_array().into_iter().flatten() {
            let _ = writeln!(
                out,
                "  {:<12} {:<8} {:<13} {}",
                text(&gate["gate"]),
                critical(gate),
                text(&gate["outcome"]),
                text(&gate["summary"])
            );
            if explain {
                for detail in gate["details"].as_array().into_iter().flatten() {
                    let _ = writeln!(out, "      - {}", text(detail));
                }
                let _ = writeln!(out, "      inputs: {}", gate["inputs"]);
            }
        }
    }
    out
}

fn markdown(entries: &[Value], explain: bool) -> String {
    let mut out = String::from("# Readiness\n");
    for entry in entries {
        let v = &entry["verdict"];
        let status = if v["ready"] == true {
            "ready"
        } else {
            "**not ready**"
        };
        let _ = write!(
            out,
            "\n## {}: {status}\n\n{} ({}, {})\n\n| gate | critical | outcome | summary |\n| --- | --- | --- | --- |\n",
            text(&v["domain"]),
            text(&v["summary"]),
            text(&v["outcome"]),
            text(&entry["at"])
        );
        for gate in v["gates"].as_array().into_iter().flatten() {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                text(&gate["gate"]),
                critical(gate),
                text(&gate["outcome"]),
                text(&gate["summary"]).replace('|', "\\|")
            );
        }
        if explain {
            for gate in v["gates"].as_array().into_iter().flatten() {
                let _ = writeln!(out, "\n### {}\n", text(&gate["gate"]));
                for detail in gate["details"].as_array().into_iter().flatten() {
                    let _ = writeln!(out, "- {}", text(detail));
                }
                let inputs = serde_json::to_string_pretty(&gate["inputs"]).unwrap_or_default();
                let _ = writeln!(out, "\n```json\n{inputs}\n```");
            }
        }
    }
    out
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn html(entries: &[Value], explain: bool) -> String {
    let mut out = String::from(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Readiness</title>\n<style>\
         body{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem}table{border-collapse:collapse;width:100%}\
         td,th{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top}\
         .pass{background:#e6f4ea}.fail{background:#fce8e6}.inconclusive{background:#fef7e0}.no_data{background:#f1f3f4}\
         pre{white-space:pre-wrap;font-size:.85em}</style></head><body>\n<h1>Readiness</h1>\n",
    );
    for entry in entries {
        let v = &entry["verdict"];
        let status = if v["ready"] == true {
            "ready"
        } else {
            "not ready"
        };
        let _ = write!(
            out,
            "<h2 class=\"{}\">{}: {status}</h2>\n<p>{} <small>({})</small></p>\n<table><tr><th>gate</th><th>critical</th><th>outcome</th><th>summary</th></tr>\n",
            escape(text(&v["outcome"])),
            escape(text(&v["domain"])),
            escape(text(&v["summary"])),
            escape(text(&entry["at"]))
        );
        for gate in v["gates"].as_array().into_iter().flatten() {
            let outcome = escape(text(&gate["outcome"]));
            let _ = write!(
                out,
                "<tr class=\"{outcome}\"><td>{}</td><td>{}</td><td>{outcome}</td><td>{}",
                escape(text(&gate["gate"])),
                critical(gate),
                escape(text(&gate["summary"]))
            );
            if explain {
                out.push_str("<details><summary>why</summary><ul>");
                for detail in gate["details"].as_array().into_iter().flatten() {
                    let _ = write!(out, "<li>{}</li>", escape(text(detail)));
                }
                let inputs = serde_json::to_string_pretty(&gate["inputs"]).unwrap_or_default();
                let _ = write!(out, "</ul><pre>{}</pre></details>", escape(&inputs));
            }
            out.push_str("</td></tr>\n");
        }
        out.push_str("</table>\n");
    }
    out.push_str("</body></html>\n");
    out
}
