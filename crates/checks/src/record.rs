//! Machine-readable results: one JSON line per trial. Serde types only, so
//! the report and the CI merge read exactly what the runner writes.

use serde::{Deserialize, Serialize};

use crate::Verdict;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrialRecord {
    /// Full trial name: `<chart>/<profile>/<tier>/<check>/<object>`.
    pub name: String,
    pub chart: String,
    pub profile: String,
    pub tier: String,
    pub check: String,
    pub object: String,
    pub duration_ms: u64,
    pub verdict: Verdict,
}
