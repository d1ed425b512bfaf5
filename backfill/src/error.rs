//! What can go wrong, each naming the database (password masked), table, column or row.

/// A failure of a backfill or verify run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The DSN cannot be used.
    #[error("bad database URL `{dsn}`: {problem}")]
    BadDsn {
        /// The URL, password masked.
        dsn: String,
        /// What is wrong and what to write.
        problem: String,
    },
    /// The server refused us or is not there.
    #[error("cannot connect to {dsn}: {message}")]
    Connect {
        /// The URL, password masked.
        dsn: String,
        /// What the driver said.
        message: String,
    },
    /// The plan does not fit the schemas (missing table, missing key, mapping
    /// naming a column that does not exist, …). Nothing was moved.
    #[error("{}", .problems.join("\n"))]
    Plan {
        /// Every problem, one sentence each, naming the database, table and column.
        problems: Vec<String>,
    },
    /// A statement failed.
    #[error("{dsn}: {context}: {message}")]
    Sql {
        /// The URL, password masked.
        dsn: String,
        /// What we were doing (table, chunk).
        context: String,
        /// What the database said.
        message: String,
    },
    /// A row could not be written: a secondary unique key conflict, a value
    /// that does not fit. Names the row's key.
    #[error("{dsn}: table `{table}`: row with key {key}: {message}")]
    Row {
        /// The URL, password masked.
        dsn: String,
        /// The target table.
        table: String,
        /// The row's key, as `(col=value, …)`.
        key: String,
        /// What went wrong.
        message: String,
    },
    /// Stopped by a signal (SIGINT/SIGTERM); checkpoints are saved.
    #[error("stopped; run the same command again to resume from the checkpoint")]
    Stopped,
}

impl Error {
    /// A one-line hint about what to do next, when there is one.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            Self::BadDsn { .. } => Some(
                "passwords can come from MSA_SOURCE_PASSWORD / MSA_TARGET_PASSWORD or ${VAR} in the URL",
            ),
            Self::Connect { .. } => {
                Some("check that the server runs and that the database and user exist")
            }
            Self::Plan { .. } => Some(
                "nothing was copied; fix the tables, the schema or the --map file, or check the plan with --dry-run",
            ),
            Self::Row { .. } => Some(
                "rows before it are committed with their checkpoint; fix the row or the target's unique keys, then run again to resume",
            ),
            _ => None,
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
