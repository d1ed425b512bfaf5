//! What a run reports while it works (rendered by the CLI as progress bars or
//! JSON lines), and the flag that stops it.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use serde::Serialize;

/// Something a run reports while it works (rendered by the CLI as progress
/// bars or JSON lines).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A table's copy starts or resumes.
    Start {
        /// `source → target`.
        table: String,
        /// Source rows in range when the copy started (exact).
        rows_total: i64,
        /// Rows already copied (resuming from a checkpoint).
        rows_copied: i64,
        /// Whether this resumes an interrupted copy.
        resumed: bool,
    },
    /// A chunk was committed.
    Progress {
        /// `source → target`.
        table: String,
        /// Rows copied so far.
        rows_copied: i64,
        /// Source rows in range.
        rows_total: i64,
        /// Rows in this chunk.
        chunk_rows: usize,
        /// Rows per second over this run.
        rows_per_second: f64,
    },
    /// A table's copy is complete.
    Done {
        /// `source → target`.
        table: String,
        /// Rows copied in total.
        rows_copied: i64,
        /// Seconds this run spent on it.
        seconds: f64,
    },
    /// A table was not copied again.
    Skipped {
        /// `source → target`.
        table: String,
        /// Why.
        reason: String,
    },
    /// The copy waits: a throttle check fails (sent every check interval
    /// while the pause lasts).
    Paused {
        /// `source → target`.
        table: String,
        /// Which check, and by how much.
        reason: String,
        /// Seconds paused so far.
        seconds: f64,
    },
    /// The pause is over.
    Resumed {
        /// `source → target`.
        table: String,
        /// Seconds it lasted.
        seconds: f64,
    },
    /// `--follow` finished a pass over a table.
    Lag {
        /// `source → target`.
        table: String,
        /// The age, by the source's clock at the start of the pass, of the
        /// oldest change the pass found not yet applied (0 when it found none).
        seconds: i64,
        /// Rows upserted in this pass (the overlap window included).
        applied: usize,
        /// Target rows deleted in this pass (gone from the source).
        deleted: usize,
    },
    /// Verify saved a table's progress (after each chunk, or each range of
    /// chunks when counts and hashes are computed in SQL).
    Checked {
        /// `source → target`.
        table: String,
        /// Source rows checked so far (runs resumed from included).
        rows_checked: i64,
        /// Mismatches found so far.
        mismatches: i64,
        /// Whether this run resumed the table from saved progress.
        resumed: bool,
    },
    /// Verify finished a table.
    Verified {
        /// `source → target`.
        table: String,
        /// Rows checked.
        rows_checked: i64,
        /// Mismatching rows.
        mismatches: i64,
    },
}

/// Receives events; called from several tasks.
pub type Events = Arc<dyn Fn(&Event) + Send + Sync>;

/// Set to stop a run between chunks (the CLI sets it on SIGINT / SIGTERM).
pub type Stop = Arc<AtomicBool>;
