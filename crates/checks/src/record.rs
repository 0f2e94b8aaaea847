//! Machine-readable results: one JSON line per trial. Serde types only, so
//! the report and the CI merge read exactly what the runner writes.

use serde::{Deserialize, Serialize};

use crate::Verdict;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrialRecord {
    /// The run this trial belongs to (`E2E_RUN`, else `local`).
    #[serde(default)]
    pub run: String,
    /// Full trial name: `<chart>/<profile>/<tier>/<check>/<object>`.
    pub name: String,
    pub chart: String,
    pub profile: String,
    pub tier: String,
    pub check: String,
    pub object: String,
    pub duration_ms: u64,
    pub verdict: Verdict,
    /// The Kubernetes minor a cluster-backed trial ran against (`1.37`);
    /// absent for unit and render trials, whose names carry the version
    /// they validate against (`render/openapi@1.35/...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k8s: Option<String>,
}

/// How one chart x profile cell was installed on the cluster: the phases it
/// went through and the overlay the suite put on top of the profile's values.
/// Written once per install to `target/e2e/cells.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CellRecord {
    /// The run this install belongs to (`E2E_RUN`, else `local`); the report
    /// merges runs from many machines.
    #[serde(default)]
    pub run: String,
    pub chart: String,
    pub profile: String,
    pub namespace: String,
    /// In order: `prepare` (namespace, Secrets), `dependencies`, `install`
    /// (helm, hooks included), `ready` (the runner's watch on every workload).
    pub phases: Vec<Phase>,
    /// The suite overlay file, relative to the repository, and its text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlay: Option<Overlay>,
    /// The diagnostics bundle, relative to the output directory, once a
    /// trial of the cell failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Phase {
    pub name: String,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Overlay {
    pub path: String,
    pub text: String,
}
