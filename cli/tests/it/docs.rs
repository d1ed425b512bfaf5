//! The docs cannot drift from the commands: every (sub)command, walked from
//! the clap definitions, has examples and its exit codes in its `--help` and
//! a page listed in docs/README.md; every link of the index and the guides
//! lands on a file and heading that exist.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::CommandFactory;

/// Every command path below `msa-migrate`, depth first: `["shadow", "report"]`.
fn command_paths() -> Vec<Vec<String>> {
    fn walk(command: &clap::Command, prefix: &[String], out: &mut Vec<Vec<String>>) {
        for sub in command.get_subcommands() {
            if sub.get_name() == "help" {
                continue;
            }
            let mut path = prefix.to_vec();
            path.push(sub.get_name().to_owned());
            out.push(path.clone());
            walk(sub, &path, out);
        }
    }
    let mut out = Vec::new();
    walk(&msa_cli::Cli::command(), &[], &mut out);
    out
}

fn docs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs")
}

fn help(path: &[String]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_msa-migrate"))
        .args(path)
        .arg("--help")
        .env_remove("COLUMNS")
        .output()
        .expect("msa-migrate runs");
    assert!(out.status.success(), "{path:?} --help failed");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_tree_is_walked() {
    let paths: BTreeSet<String> = command_paths().iter().map(|p| p.join(" ")).collect();
    for expected in ["analyze", "shadow suggest-rules", "canary status", "man"] {
        assert!(paths.contains(expected), "{expected} missing: {paths:?}");
    }
}

#[test]
fn every_command_shows_examples_and_exit_codes_in_its_help() {
    let mut missing = Vec::new();
    for path in std::iter::once(Vec::new()).chain(command_paths()) {
        let name = format!("msa-migrate {}", path.join(" "));
        let text = help(&path);
        if !text.contains("\nExample:\n") && !text.contains("\nExamples:\n") {
            missing.push(format!("{name}: no `Example:` section"));
        }
        if !text.contains("Exit code") {
            missing.push(format!("{name}: no `Exit code` text"));
        }
        // Examples are whole command lines: a long one is continued with `\`,
        // never wrapped by clap in the middle of an argument.
        let examples = text.split_once("\nExample").map_or("", |(_, rest)| {
            rest.split_once("\n\n").map_or(rest, |(e, _)| e)
        });
        let mut continued = false;
        for line in examples.lines().skip(1) {
            let ok = line.starts_with("  msa-migrate ") || continued && line.starts_with("    ");
            if !ok {
                missing.push(format!("{name}: a wrapped example line: {line:?}"));
            }
            continued = line.ends_with('\\');
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

/// `| `msa-migrate X` | [page](file.md#anchor) | … |` rows of docs/README.md.
fn index_rows() -> Vec<(String, String)> {
    let index = std::fs::read_to_string(docs().join("README.md")).unwrap();
    index
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("| `msa-migrate ")?;
            let (command, rest) = rest.split_once('`')?;
            let link = links(rest).into_iter().next().unwrap_or_default();
            Some((command.to_owned(), link))
        })
        .collect()
}

#[test]
fn every_command_has_a_page_in_the_docs_index_and_only_real_commands_do() {
    let rows = index_rows();
    let listed: BTreeSet<&str> = rows.iter().map(|(c, _)| c.as_str()).collect();
    let commands: Vec<String> = command_paths().iter().map(|p| p.join(" ")).collect();
    let unlisted: Vec<&String> = commands
        .iter()
        .filter(|c| !listed.contains(c.as_str()))
        .collect();
    assert!(
        unlisted.is_empty(),
        "docs/README.md lists no page for: {unlisted:?}"
    );
    let stale: Vec<&&str> = listed
        .iter()
        .filter(|c| !commands.iter().any(|k| k == **c))
        .collect();
    assert!(
        stale.is_empty(),
        "docs/README.md lists no such command: {stale:?}"
    );
    for (command, link) in &rows {
        assert!(
            link.ends_with(".md") || link.contains(".md#"),
            "`msa-migrate {command}`: no page linked in its row"
        );
    }
}

/// Every `](target)` of a Markdown text, in order.
fn links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("](") {
        rest = &rest[at + 2..];
        if let Some(end) = rest.find(')') {
            out.push(rest[..end].to_owned());
            rest = &rest[end..];
        }
    }
    out
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces to `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

fn anchors(page: &str) -> BTreeSet<String> {
    let mut fenced = false;
    page.lines()
        .filter(|line| {
            if line.starts_with("```") {
                fenced = !fenced;
            }
            !fenced && line.starts_with('#')
        })
        .map(|line| slug(line.trim_start_matches('#')))
        .collect()
}

#[test]
fn links_in_the_index_and_the_guides_land_on_real_files_and_headings() {
    let mut broken = Vec::new();
    let pages = [
        "README.md",
        "getting-started.md",
        "first-domain.md",
        "shadow.md",
        "canary.md",
        "plan.md",
        "completions.md",
    ];
    for page in pages {
        let path = docs().join(page);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for link in links(&text) {
            // Web addresses, and files beside the repository (the source
            // documents), are not this repository's to check.
            if link.contains("://") || link.starts_with("mailto:") || link.starts_with("../../") {
                continue;
            }
            let (file, anchor) = link.split_once('#').unwrap_or((&link, ""));
            let target = if file.is_empty() {
                path.clone()
            } else {
                docs().join(file)
            };
            if !target.exists() {
                broken.push(format!("{page}: {link}: no such file"));
                continue;
            }
            if anchor.is_empty() || target.extension().is_none_or(|e| e != "md") {
                continue;
            }
            let text = std::fs::read_to_string(&target).unwrap();
            if !anchors(&text).contains(anchor) {
                broken.push(format!("{page}: {link}: no such heading"));
            }
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

#[test]
fn the_readme_links_the_docs_index_and_the_guides() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .unwrap();
    for page in [
        "docs/README.md",
        "docs/getting-started.md",
        "docs/first-domain.md",
    ] {
        assert!(
            readme.contains(&format!("]({page}")),
            "README.md does not link {page}"
        );
    }
}
