//! Arguments of `msa-migrate canary`, `cutover` and `rollback` (issue #7).

use std::path::PathBuf;
use std::time::Duration;

use super::OutputFormat;

/// The domain whose routes move, and where its routes come from.
#[derive(Debug, Clone, clap::Args)]
pub struct DomainArgs {
    /// The domain, e.g. `coupon`
    #[arg(value_name = "DOMAIN")]
    pub domain: String,

    /// Where the playbooks are: the domain's routes come from DIR/DOMAIN.yaml
    #[arg(long, value_name = "DIR", default_value = "playbooks")]
    pub playbooks: PathBuf,

    /// The domain's routes (proxy route names), instead of its playbook's
    #[arg(long, value_name = "ROUTE,…", value_delimiter = ',')]
    pub routes: Vec<String>,
}

/// Who changes what, and why: every change is audited.
#[derive(Debug, Clone, clap::Args)]
pub struct AuditArgs {
    /// Who is making the change, for the audit log (default: $USER@HOSTNAME)
    #[arg(long, value_name = "NAME")]
    pub actor: Option<String>,

    /// Why, for the audit log (recorded as "(no reason given)" when omitted)
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
}

/// Where route stages are changed: the shared state store, or a running
/// proxy's admin API (which writes its own store). The admin APIs are also
/// where cutover reads its readiness evidence (metrics, routes) from.
#[derive(Debug, Clone, clap::Args)]
pub struct TargetArgs {
    /// The state store the proxies follow, where the change is made: a state file, or
    /// postgres://USER@HOST/DB (password in PGPASSWORD)
    #[arg(
        long,
        value_name = "DSN|FILE",
        env = "MSA_STATE",
        required_unless_present = "admins"
    )]
    pub state: Option<String>,

    /// A proxy's admin API (http://HOST:PORT); repeat for every replica. Without --state the
    /// change goes through the first one (replicas sharing a store follow it)
    #[arg(long = "admin", value_name = "URL")]
    pub admins: Vec<String>,

    /// The environment variable that holds the admin API's bearer token
    #[arg(long, value_name = "VAR", default_value = "MSA_ADMIN_TOKEN")]
    pub token_env: String,
}

/// `msa-migrate cutover DOMAIN`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Refuses unless the domain's readiness passes, judged on the evidence the\n\
    options point at (--admin for every replica's metrics and routes, --state\n\
    for the stages, --shadow-store, --analysis). --force overrides, and the\n\
    override is audited. Exit code: 0 done, 1 refused (not ready), 2 an error.\n\n\
    Examples:\n  \
    msa-migrate cutover coupon --state postgres://msa@db/msa \\\n      \
    --admin http://10.0.0.5:9901 --admin http://10.0.0.6:9901 \\\n      \
    --shadow-store postgres://msa@db/msa --reason \"CAB-142\"\n  \
    msa-migrate cutover coupon --admin http://127.0.0.1:9901 --force \\\n      \
    --reason \"readiness not built for this domain\" --format json"
)]
pub struct CutoverArgs {
    #[command(flatten)]
    pub domain: DomainArgs,

    #[command(flatten)]
    pub target: TargetArgs,

    /// Who is making the change, for the audit log (default: $USER@HOSTNAME)
    #[arg(long, value_name = "NAME")]
    pub actor: Option<String>,

    /// Why, for the audit log: a change ticket, an incident, a decision
    #[arg(long, value_name = "TEXT", required = true)]
    pub reason: String,

    /// Cut over even though readiness does not pass (audited with the verdict)
    #[arg(long)]
    pub force: bool,

    /// Readiness evidence: the proxy's shadow store (see `msa-migrate readiness`)
    #[arg(long, value_name = "FILE|DSN")]
    pub shadow_store: Option<PathBuf>,

    /// Readiness evidence: the analysis directory (see `msa-migrate readiness`)
    #[arg(long, value_name = "DIR")]
    pub analysis: Option<PathBuf>,

    /// Where the readiness verdict is appended (see `msa-migrate readiness --log`)
    #[arg(
        long,
        value_name = "FILE",
        env = "MSA_READINESS_LOG",
        default_value = ".msa/readiness-log.jsonl"
    )]
    pub log: PathBuf,
    /// Output format: text, or json (one object: the routes changed, before and after,
    /// who, why, when, where, forced or not)
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

/// `msa-migrate rollback DOMAIN`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Instant and always allowed; also stops a running canary of the domain.\n\
    Exit code: 0 done, 2 an error (the state store or the proxy could not be\n\
    reached).\n\n\
    Examples:\n  \
    msa-migrate rollback coupon --state postgres://msa@db/msa \\\n      \
    --reason \"5xx on checkout\"\n  \
    msa-migrate rollback coupon --state s.json --to shadow --format json"
)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub domain: DomainArgs,

    #[command(flatten)]
    pub target: TargetArgs,

    #[command(flatten)]
    pub audit: AuditArgs,

    /// The stage to go back to (default: the playbook's `rollback.to`, else legacy)
    #[arg(long, value_enum, value_name = "STAGE")]
    pub to: Option<BackTo>,
    /// Output format: text, or json (one object: the routes changed, before and after,
    /// who, why, when, where)
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

/// Where a rollback sends the routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BackTo {
    /// The monolith only.
    Legacy,
    /// The monolith, still mirrored to the new service.
    Shadow,
}

/// `msa-migrate canary …`: `canary DOMAIN` runs the controller; `canary
/// promote|pause|resume|abort|status DOMAIN` talks to a running one.
#[derive(Debug, clap::Args)]
#[command(
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = "The controller moves the domain's routes through the steps, judging the\n\
    new service against the monolith at each (5xx rate and latency from the\n\
    proxies' /metrics, new shadow differences from their /shadow), and rolls\n\
    back on its own on failure (or halts for a person, with the playbook's\n\
    `rollback.automatic: false`). Its progress is kept in the state store: a\n\
    killed controller started again resumes where it was. One controller per\n\
    domain at a time.\n\n\
    Exit code: 0 the walk completed (then `msa-migrate cutover`), 1 it rolled\n\
    back, halted or someone else moved the routes, 2 an error (another\n\
    controller runs, bad input).\n\n\
    Examples:\n  \
    msa-migrate canary coupon --state postgres://msa@db/msa \\\n      \
    --admin http://10.0.0.5:9901 --admin http://10.0.0.6:9901\n  \
    msa-migrate canary coupon --steps 1,5,25,50,100 --interval 10m \\\n      \
    --approval 50 --state s.json --admin http://127.0.0.1:9901\n  \
    msa-migrate canary coupon --state s.json --admin http://127.0.0.1:9901 \\\n      \
    --progress json | jq -c 'select(.event == \"judged\")'\n  \
    msa-migrate canary promote coupon --state postgres://msa@db/msa"
)]
pub struct CanaryArgs {
    #[command(subcommand)]
    pub action: Option<CanaryAction>,

    #[command(flatten)]
    pub run: CanaryRunArgs,
}

/// `msa-migrate canary DOMAIN`: the controller. (Options, so that the
/// subcommands need none of them; clap still requires DOMAIN and --state.)
#[derive(Debug, clap::Args)]
pub struct CanaryRunArgs {
    /// The domain, e.g. `coupon`
    #[arg(value_name = "DOMAIN", required = true)]
    pub domain: Option<String>,

    /// Where the playbooks are: the domain's routes come from DIR/DOMAIN.yaml
    #[arg(long, value_name = "DIR", default_value = "playbooks")]
    pub playbooks: PathBuf,

    /// The domain's routes (proxy route names), instead of its playbook's
    #[arg(long, value_name = "ROUTE,…", value_delimiter = ',')]
    pub routes: Vec<String>,

    /// The state store the proxies follow: a state file, or postgres://USER@HOST/DB
    #[arg(long, value_name = "DSN|FILE", env = "MSA_STATE", required = true)]
    pub state: Option<String>,

    /// A proxy's admin API, whose /metrics judge the steps; repeat for every replica
    /// (reading needs no token)
    #[arg(long = "admin", value_name = "URL")]
    pub admins: Vec<String>,

    /// Canary weights in percent (default: the playbook's, else 1,5,25,50,100)
    #[arg(long, value_name = "PERCENT,…", value_delimiter = ',')]
    pub steps: Vec<String>,

    /// Time between two judgements (default: the playbook's, else 10m)
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub interval: Option<Duration>,

    /// Consecutive passes that advance a step (default: the playbook's, else 3)
    #[arg(long, value_name = "N")]
    pub advance_after: Option<u32>,

    /// Failures that roll back (default: the playbook's, else 1)
    #[arg(long, value_name = "N")]
    pub max_failures: Option<u32>,

    /// Steps (percent) that wait for `canary promote` once they pass
    #[arg(long, value_name = "PERCENT,…", value_delimiter = ',')]
    pub approval: Vec<String>,

    /// Requests each side (new, legacy) must have served in an interval to judge it
    /// (default: the playbook's, else 100)
    #[arg(long, value_name = "N")]
    pub min_requests: Option<u64>,

    /// How much higher the new service's 5xx rate may be than the monolith's (0.005 = 0.5
    /// points; default: the playbook's, else 0.005)
    #[arg(long, value_name = "RATE")]
    pub max_error_rate_delta: Option<f64>,

    /// How much more often than half the time a new request may be slower than a legacy
    /// one (0.1 = 60%; default: the playbook's, else 0.1)
    #[arg(long, value_name = "SHARE")]
    pub max_latency_shift: Option<f64>,

    /// Print the plan and change nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Progress: text lines, or one JSON event per line (as `backfill --progress json`),
    /// both on stdout
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = ProgressFormat::Text)]
    pub progress: ProgressFormat,

    #[command(flatten)]
    pub audit: AuditArgs,
}

/// How the canary controller reports its walk, event by event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ProgressFormat {
    /// One line per event, for people.
    #[default]
    Text,
    /// One JSON object per event and line, for scripts (the events: docs/canary.md).
    Json,
}

impl ProgressFormat {
    /// Whether events are printed as JSON lines.
    pub fn is_json(self) -> bool {
        self == Self::Json
    }
}

/// What a person asks of a running canary.
#[derive(Debug, clap::Subcommand)]
pub enum CanaryAction {
    /// Advance to the next step now (approves a step waiting for approval).
    #[command(
        after_help = "With a controller running, the request goes to it (acted on within\n\
        200 ms); with none, it acts on the stored walk. Exit code: 0 done or handed\n\
        over, 2 an error (no canary of the domain in progress, an unreadable store).\n\n\
        Example:\n  msa-migrate canary promote coupon --state postgres://msa@db/msa \\\n      \
        --reason \"CAB-142\""
    )]
    Promote(CanaryControlArgs),
    /// Hold at the current step (still judged; failures still roll back).
    #[command(
        after_help = "With a controller running, the request goes to it (acted on within\n\
        200 ms); with none, it acts on the stored walk. Exit code: 0 done or handed\n\
        over, 2 an error (no canary of the domain in progress, an unreadable store).\n\n\
        Example:\n  msa-migrate canary pause coupon --state postgres://msa@db/msa \\\n      \
        --reason \"peak hour\""
    )]
    Pause(CanaryControlArgs),
    /// Go on after a pause.
    #[command(
        after_help = "With a controller running, the request goes to it (acted on within\n\
        200 ms); with none, it acts on the stored walk. Exit code: 0 done or handed\n\
        over, 2 an error (no canary of the domain in progress, an unreadable store).\n\n\
        Example:\n  msa-migrate canary resume coupon --state postgres://msa@db/msa"
    )]
    Resume(CanaryControlArgs),
    /// Roll back now and end the canary.
    #[command(
        after_help = "With a controller running, the request goes to it (acted on within\n\
        200 ms); with none, it acts on the stored walk. Exit code: 0 done or handed\n\
        over, 2 an error (no canary of the domain in progress, an unreadable store).\n\n\
        Examples:\n  msa-migrate canary abort coupon --state postgres://msa@db/msa \\\n      \
        --reason \"refund errors\"\n  \
        msa-migrate canary abort coupon --state s.json --format json"
    )]
    Abort(CanaryControlArgs),
    /// Show where the canary is.
    #[command(
        after_help = "The step, weight, passes and failures, the last judgement, and whether a\n\
        controller is running (--format json: the whole record, for scripts).\n\
        Exit code: 0 shown (also when no canary has run), 2 an error (an unreadable\n\
        store).\n\n\
        Examples:\n  msa-migrate canary status coupon --state postgres://msa@db/msa\n  \
        msa-migrate canary status coupon --state s.json --format json"
    )]
    Status(CanaryStatusArgs),
}

impl CanaryAction {
    /// The verb, and the domain and store it is for; `None` for `status`,
    /// which changes nothing.
    pub fn split(self) -> Result<(&'static str, CanaryControlArgs), CanaryStatusArgs> {
        match self {
            Self::Promote(args) => Ok(("promote", args)),
            Self::Pause(args) => Ok(("pause", args)),
            Self::Resume(args) => Ok(("resume", args)),
            Self::Abort(args) => Ok(("abort", args)),
            Self::Status(args) => Err(args),
        }
    }
}

impl BackTo {
    /// The proxy's name for the stage.
    pub fn mode(self) -> &'static str {
        match self {
            Self::Legacy => "legacy",
            Self::Shadow => "shadow",
        }
    }
}

/// The domain of a running canary and its state store.
#[derive(Debug, clap::Args)]
pub struct CanaryControlArgs {
    /// The domain, e.g. `coupon`
    #[arg(value_name = "DOMAIN")]
    pub domain: String,

    /// The state store the controller uses
    #[arg(long, value_name = "DSN|FILE", env = "MSA_STATE")]
    pub state: String,

    #[command(flatten)]
    pub audit: AuditArgs,
    /// Output format: text, or json (one object: what was done or handed over, the
    /// routes changed, the walk after)
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

/// `canary status DOMAIN`: read-only, so nothing to audit.
#[derive(Debug, clap::Args)]
pub struct CanaryStatusArgs {
    /// The domain, e.g. `coupon`
    #[arg(value_name = "DOMAIN")]
    pub domain: String,

    /// The state store the controller uses
    #[arg(long, value_name = "DSN|FILE", env = "MSA_STATE")]
    pub state: String,
    /// Output format: text (one line), or json (the walk's record, for scripts)
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use crate::args::Cli;

    /// clap wraps help at the terminal's width (100 columns when it cannot
    /// tell): an example longer than that breaks mid-command, and one copied
    /// from the wrapped text does not run. Every line of these commands'
    /// `--help` epilogues fits in 80.
    #[test]
    fn the_examples_in_help_fit_without_wrapping() {
        let cli = Cli::command();
        let mut checked = 0;
        for name in [
            "canary",
            "cutover",
            "rollback",
            "readiness",
            "plan",
            "playbook",
        ] {
            let command = cli.find_subcommand(name).expect(name);
            for command in std::iter::once(command).chain(command.get_subcommands()) {
                let help = command.get_after_help().map(ToString::to_string);
                for line in help.iter().flat_map(|h| h.lines()) {
                    assert!(
                        line.chars().count() <= 80,
                        "`{}`: {} columns: {line}",
                        command.get_name(),
                        line.chars().count()
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 20, "{checked} lines");
    }

    #[test]
    fn canary_status_takes_no_audit_options_and_the_rest_do() {
        let status = Cli::command().try_get_matches_from([
            "msa-migrate",
            "canary",
            "status",
            "coupon",
            "--state",
            "s.json",
            "--actor",
            "x",
        ]);
        assert!(status.is_err(), "status is read-only: no --actor");
        let pause = Cli::command().try_get_matches_from([
            "msa-migrate",
            "canary",
            "pause",
            "coupon",
            "--state",
            "s.json",
            "--actor",
            "x",
            "--reason",
            "lunch",
        ]);
        assert!(pause.is_ok(), "{pause:?}");
    }

    #[test]
    fn cutover_needs_a_reason_and_takes_several_admin_apis_with_a_store() {
        let parse = |args: &[&str]| {
            Cli::command()
                .try_get_matches_from(["msa-migrate", "cutover", "coupon"].iter().chain(args))
        };
        let without = parse(&["--state", "s.json"]).unwrap_err().to_string();
        assert!(without.contains("--reason"), "{without}");
        assert!(
            parse(&[
                "--state",
                "postgres://msa@db/msa",
                "--admin",
                "http://10.0.0.5:9901",
                "--admin",
                "http://10.0.0.6:9901",
                "--reason",
                "CAB-142",
            ])
            .is_ok()
        );
    }
}
