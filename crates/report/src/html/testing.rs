//! Records and inputs for the sections' tests.
#![cfg(test)]

use std::path::Path;

use vitals_checks::record::{CellRecord, TrialRecord};
use vitals_checks::Verdict;

use crate::load::Inputs;

pub(super) fn trial(name: &str, v: Verdict) -> TrialRecord {
    let p: Vec<&str> = name.splitn(5, '/').collect();
    TrialRecord {
        run: "r1".into(),
        name: name.into(),
        chart: p[0].into(),
        profile: p[1].into(),
        tier: p[2].into(),
        check: p[3].into(),
        object: p.get(4).unwrap_or(&"").to_string(),
        duration_ms: 12,
        verdict: v,
        k8s: None,
    }
}

pub(super) fn inputs(dir: &Path, trials: Vec<TrialRecord>, cells: Vec<CellRecord>) -> Inputs {
    let mut inputs = Inputs::default();
    let lines = |v: Vec<String>| v.join("\n").into_bytes();
    inputs.add_trial_lines(
        dir,
        &dir.join("results.jsonl"),
        &lines(
            trials
                .iter()
                .map(|t| serde_json::to_string(t).unwrap())
                .collect(),
        ),
    );
    inputs.add_cell_lines(
        dir,
        &dir.join("cells.jsonl"),
        &lines(
            cells
                .iter()
                .map(|c| serde_json::to_string(c).unwrap())
                .collect(),
        ),
    );
    inputs
}
