//! `msa-migrate playbook check FILE...`: validate playbooks, report every problem.

use std::path::Path;

use anyhow::bail;
use msa_playbook::Playbook;
use serde::Serialize;

use super::files::{InvalidPlaybook, load, parse};
use crate::Outcome;
use crate::args::PlaybookCheckArgs;

/// `playbook check --format json`: every file, with its problems.
#[derive(Debug, Serialize)]
struct CheckReport {
    /// Whether every file is valid (exit 0).
    ok: bool,
    files: Vec<FileReport>,
}

/// One file checked.
#[derive(Debug, Serialize)]
struct FileReport {
    file: String,
    ok: bool,
    /// The playbook's domain, when the file is valid.
    domain: Option<String>,
    /// The route names it claims, when valid.
    routes: Option<Vec<String>>,
    /// The tables it maps, when valid.
    tables: Option<Vec<String>>,
    errors: Vec<ProblemReport>,
}

/// One problem of a file.
#[derive(Debug, Serialize)]
struct ProblemReport {
    file: String,
    /// 1-based, when known.
    line: Option<u64>,
    /// 1-based, when known.
    column: Option<u64>,
    /// The field as a path (`routes[2].path`); `null` when the file cannot be read.
    field: Option<String>,
    /// What is wrong.
    message: String,
    /// How to fix it, when the check says.
    fix: Option<String>,
}

impl FileReport {
    fn valid(path: &Path, playbook: &Playbook) -> Self {
        Self {
            file: path.display().to_string(),
            ok: true,
            domain: Some(playbook.domain.clone()),
            routes: Some(playbook.routes.iter().map(|r| r.name.clone()).collect()),
            tables: Some(playbook.tables.tables.keys().cloned().collect()),
            errors: Vec::new(),
        }
    }

    fn invalid(path: &Path, errors: Vec<ProblemReport>) -> Self {
        Self {
            file: path.display().to_string(),
            ok: false,
            domain: None,
            routes: None,
            tables: None,
            errors,
        }
    }
}

/// One file as JSON: its text read and checked.
fn report(path: &Path) -> FileReport {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) => {
            let unread = ProblemReport {
                file: path.display().to_string(),
                line: None,
                column: None,
                field: None,
                message: format!("cannot read {}: {err}", path.display()),
                fix: None,
            };
            return FileReport::invalid(path, vec![unread]);
        }
    };
    match parse(path, &text) {
        Ok(playbook) => FileReport::valid(path, &playbook),
        Err(invalid) => FileReport::invalid(path, problems(&invalid)),
    }
}

fn problems(invalid: &InvalidPlaybook) -> Vec<ProblemReport> {
    invalid
        .problems()
        .iter()
        .map(|p| ProblemReport {
            file: p.file.clone(),
            line: p.line,
            column: p.column,
            field: Some(p.field.clone()),
            message: p.what().to_owned(),
            fix: p.fix().map(str::to_owned),
        })
        .collect()
}

/// `msa-migrate playbook check`.
#[allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "the check's findings are the command's output"
)]
pub(crate) fn check(args: PlaybookCheckArgs) -> anyhow::Result<Outcome> {
    if args.format.is_json() {
        let files: Vec<FileReport> = args.files.iter().map(|p| report(p)).collect();
        let invalid = files.iter().filter(|f| !f.ok).count();
        let checked = CheckReport {
            ok: invalid == 0,
            files,
        };
        println!("{}", serde_json::to_string_pretty(&checked)?);
        if invalid > 0 {
            // The problems are on stdout; stderr says why the exit code is 2.
            bail!(
                "{invalid} of {} playbook(s) invalid (listed on stdout)",
                args.files.len()
            );
        }
        return Ok(Outcome::Success);
    }
    let mut invalid = Vec::new();
    for path in &args.files {
        match load(path) {
            Ok(playbook) => println!(
                "{}: valid: domain {}, {} route(s), {} table(s)",
                path.display(),
                playbook.domain,
                playbook.routes.len(),
                playbook.tables.tables.len()
            ),
            Err(err) => invalid.push(err),
        }
    }
    match invalid.len() {
        0 => Ok(Outcome::Success),
        1 => Err(invalid.remove(0)),
        n => {
            // Every file's problems, then one error for the exit code.
            for err in &invalid {
                eprintln!("error: {err}");
            }
            bail!("{n} of {} playbooks are invalid", args.files.len())
        }
    }
}
