//! One module per command; this one dispatches.

mod analyze;
mod clock;
mod completions;
mod data;
mod demo;
mod playbook;
mod proxy;
mod rollout;
mod runtime;
mod shadow;
mod stdout;

use crate::Outcome;
use crate::args::Command;

/// Dispatches a parsed command.
pub(crate) fn run(command: Command) -> anyhow::Result<Outcome> {
    use crate::args::{PlaybookCommand, ShadowCommand};
    match command {
        Command::Analyze(args) => analyze::run(args),
        Command::Plan(args) => playbook::plan(args),
        Command::Playbook(PlaybookCommand::Check(args)) => playbook::check(args),
        Command::Backfill(args) => data::backfill(args),
        Command::Verify(args) => data::verify(args),
        Command::Proxy(args) => proxy::run(args),
        Command::Shadow(ShadowCommand::Diff(args)) => shadow::diff(&args),
        Command::Shadow(ShadowCommand::Report(args)) => shadow::report(&args),
        Command::Shadow(ShadowCommand::SuggestRules(args)) => shadow::suggest_rules(&args),
        Command::Canary(args) => rollout::canary(args),
        Command::Readiness(args) => playbook::readiness(args),
        Command::Cutover(args) => rollout::cutover(args),
        Command::Rollback(args) => rollout::rollback(args),
        Command::Completions(args) => completions::completions(&args),
        Command::Man(args) => completions::man(&args),
        Command::Demo(args) => demo::run(args),
    }
}

/// What to do next about an error, when we know: the hint for the outermost
/// cause whose type says what went wrong (a library error, found by
/// downcasting; the words around it may be the CLI's own).
pub(crate) fn hint(err: &anyhow::Error) -> Option<String> {
    let hint = err.chain().find_map(hint_for)?;
    // A refused connection says nothing of what was refused; the message does.
    Some(
        if hint == NOTHING_LISTENS && err.to_string().contains("admin API") {
            ADMIN_DOWN.to_owned()
        } else {
            hint
        },
    )
}

const NOTHING_LISTENS: &str =
    "nothing listens at that address: check that the server runs and the address is right";

const ADMIN_DOWN: &str = "start the proxy (msa-migrate proxy --config proxy.yaml), or point --admin at its admin \
     listener: `admin.listen` in its configuration, 127.0.0.1:9901 by default";

/// A library error told in the CLI's own words (pointing at a file's line, or
/// naming the option it came from), still known by its type so that [`hint`]
/// finds it. Its message replaces the library's, which is not repeated.
#[derive(Debug)]
pub(crate) struct Reworded<E> {
    message: String,
    error: E,
}

impl<E> Reworded<E> {
    pub(crate) fn new(message: impl Into<String>, error: E) -> Self {
        Self {
            message: message.into(),
            error,
        }
    }
}

impl<E> std::fmt::Display for Reworded<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl<E: std::fmt::Debug> std::error::Error for Reworded<E> {}

fn hint_for(cause: &(dyn std::error::Error + 'static)) -> Option<String> {
    use msa_analyzers::{access_log, domains, git, report, scan, schema};
    use msa_proxy::shadow_store::StoreError;
    use msa_proxy::state::{StateError, client::ClientError};

    let text = |hint: &str| Some(hint.to_owned());
    if cause.is::<playbook::InvalidPlaybook>() {
        return text(
            "fix the file (reference: docs/playbook.md), then: msa-migrate playbook check FILE",
        );
    }
    if cause.is::<msa_proxy::ConfigError>() {
        return text(
            "fix the file, then check it without starting: msa-migrate proxy --config FILE --check",
        );
    }
    if let Some(err) = cause.downcast_ref::<msa_backfill::Error>() {
        return data_hint(err);
    }
    if let Some(err) = cause.downcast_ref::<Reworded<msa_backfill::Error>>() {
        return data_hint(&err.error);
    }
    if cause.is::<shadow::InvalidRules>() {
        return text(
            "the vocabulary is the playbooks' `rules` (docs/playbook.md#rules); \
             `msa-migrate shadow suggest-rules ROUTE` writes a reviewed starting set from the evidence",
        );
    }
    if cause.is::<msa_shadow_compare::ParseError>() {
        return text(
            "save a response whole, e.g. `curl -si URL > legacy.http` (status line, headers, \
             an empty line, the body), or save only its body",
        );
    }
    if let Some(err) = cause.downcast_ref::<StoreError>() {
        return match err {
            StoreError::Missing(_) => text(
                "the proxy writes it every 2 s, by default as msa-shadow.db beside its configuration; \
                 replicas share a postgres:// store: give --store that URL",
            ),
            StoreError::Sqlite { .. } => text(
                "give --store the file the proxy writes (`state.shadow_store`); a postgres:// store \
                 needs its password in PGPASSWORD",
            ),
            _ => None,
        };
    }
    if let Some(err) = cause.downcast_ref::<StateError>() {
        return match err {
            StateError::Database { .. } => text(
                "check that the state store's PostgreSQL runs and the user may connect (the password \
                 goes in PGPASSWORD, never in the URL); it is the proxies' `state.store`",
            ),
            StateError::Io { .. } => text(
                "--state takes the proxy's state file (`state.file`, msa-proxy-state.json beside its \
                 configuration by default) or its postgres:// store",
            ),
            _ => None,
        };
    }
    if let Some(err) = cause.downcast_ref::<ClientError>() {
        return match err {
            ClientError::Unreachable { .. } => text(ADMIN_DOWN),
            ClientError::Refused { status, .. } if matches!(status.as_u16(), 401 | 403) => text(
                "changes through the admin API need its bearer token: export MSA_ADMIN_TOKEN \
                 (or name another variable with --token-env) with the proxy's `admin.token_env` \
                 or `admin.token_file` value",
            ),
            _ => None,
        };
    }
    if cause.is::<scan::ScanError>() {
        return text(
            "--source takes the monolith's source tree, e.g. --source ./monolith (the directory \
             holding its code, not a file)",
        );
    }
    if let Some(err) = cause.downcast_ref::<schema::SchemaError>() {
        return text(match err {
            schema::SchemaError::Query { .. } => {
                "the user needs read access to information_schema (MySQL, MariaDB) or pg_catalog \
                 (PostgreSQL); or leave --db out: the code is analysed without the live schema"
            }
            _ => {
                "check that the server runs and the user exists (MSA_ANALYZE_DB keeps the URL and its \
                 password out of the shell history); or leave --db out: the code is analysed without \
                 the live schema"
            }
        });
    }
    if cause.is::<git::GitError>() {
        return text(
            "--git reads `git log` of --source: it needs git on PATH and --source inside a \
             repository; leave --git out otherwise",
        );
    }
    if cause.is::<access_log::AccessLogError>() {
        return text(
            "--access-log reads NGINX/Apache combined log format, or JSON lines with `method` and \
             `path` (docs/analyze.md#what-is-read)",
        );
    }
    if cause.is::<domains::DomainsError>() {
        return text(
            "fix the file (format: docs/analyze.md#domainsyaml); `msa-migrate analyze --source DIR \
             --out DIR` writes a proposed domains.yaml to start from",
        );
    }
    if cause.is::<report::WriteError>() {
        return text("--out must be a directory this user may write");
    }
    if let Some(err) = cause.downcast_ref::<std::io::Error>()
        && matches!(
            err.kind(),
            std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::TimedOut
        )
    {
        return text(NOTHING_LISTENS);
    }
    None
}

/// `backfill` and `verify`: what to do about the database or the plan.
fn data_hint(err: &msa_backfill::Error) -> Option<String> {
    use msa_backfill::Error;
    let hint = match err {
        Error::BadDsn { .. } => {
            "write mysql://USER@HOST:PORT/DB, postgres://USER@HOST:PORT/DB or sqlite://FILE, without \
             the password: it comes from MSA_SOURCE_PASSWORD / MSA_TARGET_PASSWORD, or ${VAR} in the URL"
        }
        Error::Connect { dsn, .. } if dsn.starts_with("sqlite:") => {
            "a SQLite database must exist first: start its service once (or run its migrations), \
             or correct the path"
        }
        Error::Connect { .. } => {
            "check that the server runs and that the database and user exist; passwords come from \
             MSA_SOURCE_PASSWORD / MSA_TARGET_PASSWORD or ${VAR} in the URL"
        }
        Error::Plan { .. } => {
            "fix the names (--tables, --map or the playbook's `tables`) or the target's schema, then \
             run again; --dry-run shows the plan and the type mapping without moving a row"
        }
        Error::Sql { .. } => {
            "what was committed before it is kept (backfill resumes from its checkpoint): fix the \
             cause, then run the same command again"
        }
        other => return other.hint().map(str::to_owned),
    };
    Some(hint.to_owned())
}
