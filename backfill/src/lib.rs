//! Data copy, verification and catch-up between the monolith's database and a
//! service's own (issue #6): SQLite, PostgreSQL and MySQL/MariaDB in any direction.
//!
//! - [`backfill`] copies tables in keyset chunks by key, upserting, with a
//!   checkpoint committed in the target in the same transaction as each chunk,
//!   so a run killed at any moment resumes with no row lost or doubled.
//! - [`verify`] compares source and target by key-range chunks (count, then an
//!   order-independent hash of canonical rows after the mapping, then rows) and
//!   can repair exactly the rows that differ; each run is recorded in the target.
//! - [`last_verify`] and [`catch_up_lag`] read that evidence back for readiness.
//!
//! Entry points take resolved types ([`BackfillPlan`], [`VerifyPlan`]) so the
//! command line and playbooks build them the same way.

mod copy;
mod db;
mod dsn;
mod error;
mod event;
mod follow;
mod lookup;
mod payload;
mod pgcopy;
mod plan;
mod resolve;
mod schema;
mod store;
mod throttle;
mod value;
mod verify;
mod write;

pub use copy::{BackfillReport, TableCopy, backfill};
pub use db::{Column, Db, TableSchema};
pub use dsn::{Dsn, Engine, Side, redact};
pub use error::{Error, Result};
pub use event::{Event, Events, Stop};
pub use plan::{
    BackfillPlan, CopyOptions, Feed, FollowOptions, PlanProblem, TablePlan, ThrottleOptions,
    VerifyPlan, WriteColumn, describe,
};
pub use resolve::{plan_problems, resolve};
pub use store::{
    CHECKPOINTS, Checkpoint, Lag, RANGES, VERIFY_PROGRESS, VERIFY_RUNS, VerifyRun, catch_up_lag,
    last_verify,
};
pub use value::{Kind, Value};
pub use verify::{ColumnDiff, DETAILS, RowDiff, TableReport, VerifyReport, verify};
