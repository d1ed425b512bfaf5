//! `msa-migrate analyze`: map the monolith and propose (or check) domains.
//!
//! Every input is read and validated before the long parts run, so a typo in
//! `domains.yaml` or a missing log costs nothing; the outputs are written only
//! when the whole analysis succeeded, each through a temporary file.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use msa_analyzers::access_log::Requests;
use msa_analyzers::domains::DomainSpec;
use msa_analyzers::model::{Finding, FindingKind};
use msa_analyzers::{Analysis, Extra, git, report, scan, schema};

use crate::Outcome;
use crate::args::AnalyzeArgs;

/// `msa-migrate analyze`.
#[allow(
    clippy::print_stdout,
    reason = "the summary, the JSON and the violations are the command's output"
)]
pub(crate) fn run(args: AnalyzeArgs) -> anyhow::Result<Outcome> {
    let domains = args.domains.as_deref().map(read_domains).transpose()?;
    let baseline = args.baseline.as_deref().map(read_baseline).transpose()?;
    let access = read_access_logs(&args.access_log)?;
    if let Some(out) = &args.out
        && out.exists()
        && !out.is_dir()
    {
        anyhow::bail!(
            "--out {} is a file; name a directory (created when missing)",
            out.display()
        );
    }

    let files = scan::source_files(&args.source)?;
    let bar = progress(files.len() as u64);
    let facts = scan::extract_all(&files, &|| bar.inc(1));
    bar.finish_and_clear();

    let (schema, database) = match &args.db {
        Some(dsn) => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            let schema = runtime.block_on(schema::introspect(dsn))?;
            (Some(schema), Some(schema::redact_dsn(dsn)))
        }
        None => (None, None),
    };
    let cochange = if args.git {
        Some(git::cochange(&args.source, args.git_max_commits)?)
    } else {
        None
    };
    let analysis = msa_analyzers::analyze(
        facts,
        Extra {
            source: args.source.display().to_string(),
            schema,
            database,
            cochange,
            access,
            domains,
        },
    );

    if let Some(out) = &args.out {
        report::write_all(&analysis, out)?;
    }
    if args.format_is_json() {
        print!("{}", report::json(&analysis));
    } else {
        print!("{}", summary(&analysis, args.out.as_deref()));
    }
    if args.check {
        let (known, violations): (Vec<_>, Vec<_>) = analysis
            .findings
            .iter()
            .filter(|f| f.kind.violates_boundary())
            .partition(|f| baseline.as_ref().is_some_and(|b| known(b, f)));
        if !known.is_empty() && !args.format_is_json() {
            println!(
                "\n{} known violation(s), already in the baseline: not failing on them",
                known.len()
            );
        }
        if !violations.is_empty() {
            if !args.format_is_json() {
                println!(
                    "\n{} boundary violation(s) of {}:",
                    violations.len(),
                    args.domains
                        .as_deref()
                        .map_or(String::new(), |p| p.display().to_string())
                );
                for f in &violations {
                    let at = f
                        .evidence
                        .first()
                        .map(|p| format!(" ({})", p.describe()))
                        .unwrap_or_default();
                    println!(
                        "  {}: {} [{}]{at}: {}\n    next step: {}",
                        kind_name(f.kind),
                        f.subject,
                        f.domains.join(", "),
                        f.detail,
                        f.suggestion
                    );
                }
            }
            return Ok(Outcome::NotReady);
        }
    }
    Ok(Outcome::Success)
}

/// Whether a previous analysis already lists `finding` (same kind and subject).
/// Analyses from before `foreign_write` existed list a table written only by a
/// domain that does not own it as `shared_write`: that counts as the same.
fn known(baseline: &std::collections::HashSet<(FindingKind, String)>, finding: &Finding) -> bool {
    let subject = finding.subject.clone();
    baseline.contains(&(finding.kind, subject.clone()))
        || (finding.kind == FindingKind::ForeignWrite
            && baseline.contains(&(FindingKind::SharedWrite, subject)))
}

/// The boundary violations a previous `analysis.json` lists, by kind and subject.
fn read_baseline(path: &Path) -> anyhow::Result<std::collections::HashSet<(FindingKind, String)>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read --baseline {}", path.display()))?;
    let previous: Analysis = serde_json::from_str(&text).with_context(|| {
        format!(
            "--baseline {} is not an analysis.json written by `msa-migrate analyze --out`",
            path.display()
        )
    })?;
    if previous.schema_version != msa_analyzers::model::SCHEMA_VERSION {
        anyhow::bail!(
            "--baseline {} has schema_version {}, this msa-migrate writes {}: run analyze again to refresh it",
            path.display(),
            previous.schema_version,
            msa_analyzers::model::SCHEMA_VERSION
        );
    }
    Ok(previous
        .findings
        .into_iter()
        .filter(|f| f.kind.violates_boundary())
        .map(|f| (f.kind, f.subject))
        .collect())
}

fn read_domains(path: &Path) -> anyhow::Result<DomainSpec> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read --domains {}", path.display()))?;
    Ok(DomainSpec::parse(&path.display().to_string(), &text)?)
}

fn read_access_logs(paths: &[std::path::PathBuf]) -> anyhow::Result<Option<Requests>> {
    if paths.is_empty() {
        return Ok(None);
    }
    let mut requests = Requests::default();
    for path in paths {
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read --access-log {}", path.display()))?;
        requests.add_file(
            &path.display().to_string(),
            &String::from_utf8_lossy(&bytes),
        )?;
    }
    Ok(Some(requests))
}

/// A progress bar on a terminal; nothing when stderr is piped.
fn progress(files: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(files);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} reading sources {bar:30} {pos}/{len} files {per_sec} eta {eta}",
    ) {
        bar.set_style(style);
    }
    bar
}

fn kind_name(kind: FindingKind) -> &'static str {
    match kind {
        FindingKind::CrossDomainCall => "cross-domain call",
        FindingKind::CrossDomainImport => "cross-domain import",
        FindingKind::CrossDomainRead => "cross-domain read",
        FindingKind::SharedWrite => "table written by several domains",
        FindingKind::ForeignWrite => "table written only by a domain that does not own it",
        FindingKind::CrossDomainForeignKey => "cross-domain foreign key",
        FindingKind::CrossDomainTransaction => "cross-domain transaction",
    }
}

fn summary(a: &Analysis, out: Option<&Path>) -> String {
    use msa_analyzers::model::NodeKind;
    use std::fmt::Write as _;
    let count = |k: NodeKind| a.nodes.iter().filter(|n| n.kind == k).count();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "analyzed {}: {} files, {} lines; {} modules, {} routes, {} tables",
        a.inputs.source,
        a.inputs.files,
        a.inputs.lines,
        count(NodeKind::Module),
        count(NodeKind::Route),
        count(NodeKind::Table)
    );
    if let Some(db) = &a.inputs.database {
        let _ = writeln!(s, "database {db}");
    }
    let _ = writeln!(
        s,
        "domains ({}): {}",
        a.inputs.domains,
        a.domains
            .iter()
            .map(|d| d.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(
        s,
        "metrics: SM {}, IFN {}, ICP {}, modularity {}",
        a.metrics.sm, a.metrics.ifn, a.metrics.icp, a.metrics.modularity
    );
    let spanning: Vec<_> = a
        .transactions
        .iter()
        .filter(|t| t.domains.len() > 1)
        .collect();
    let _ = writeln!(
        s,
        "transactions: {}, {} spanning domains",
        a.transactions.len(),
        spanning.len()
    );
    const SHOWN: usize = 10;
    if spanning.len() > SHOWN {
        let _ = writeln!(
            s,
            "  (the first {SHOWN}; every one is in analysis.json and the report)"
        );
    }
    for t in spanning.into_iter().take(SHOWN) {
        let tables: Vec<&str> = {
            let mut v: Vec<&str> = t.tables.iter().map(|x| x.table.as_str()).collect();
            v.dedup();
            v
        };
        let _ = writeln!(
            s,
            "  {} → {} → {} [{}]",
            if t.support_code {
                format!("({})", report::SUPPORT_ENTRY)
            } else if t.entry_routes.is_empty() {
                "(no route)".to_owned()
            } else {
                t.entry_routes.join(", ")
            },
            t.function,
            tables.join(", "),
            t.domains.join(", ")
        );
    }
    let mut kinds: std::collections::BTreeMap<&str, usize> = Default::default();
    for f in &a.findings {
        *kinds.entry(kind_name(f.kind)).or_default() += 1;
    }
    let _ = writeln!(
        s,
        "findings: {}",
        if kinds.is_empty() {
            "none".to_owned()
        } else {
            kinds
                .iter()
                .map(|(k, n)| format!("{n} {k}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    if !a.unresolved_sql.is_empty() {
        let _ = writeln!(
            s,
            "unresolved SQL: {} site(s), listed in the report",
            a.unresolved_sql.len()
        );
    }
    if let Some(out) = out {
        let _ = writeln!(
            s,
            "wrote {0}/analysis.json, {0}/domains.yaml, {0}/report.md, {0}/report.html",
            out.display()
        );
    }
    s
}
