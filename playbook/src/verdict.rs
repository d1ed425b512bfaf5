//! Readiness verdicts (issue #7; being built).

use serde::{Deserialize, Serialize};

/// How one gate judged: the four outcomes every gate and verdict has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The evidence shows the gate is met.
    Pass,
    /// The evidence shows the gate is not met.
    Fail,
    /// There is evidence, but not enough to decide either way (too few samples).
    Inconclusive,
    /// There is no evidence at all.
    NoData,
}
