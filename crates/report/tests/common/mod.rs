//! The checked-in fixture runs under `tests/data`: two CI cells of one
//! pipeline (`run-a`: medplum dev, `run-b`: medplum prod), downloaded into
//! separate directories the way CI hands them to the report.

use std::path::PathBuf;

pub fn data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

pub fn fixture_dirs() -> Vec<PathBuf> {
    vec![data().join("run-a"), data().join("run-b")]
}

/// `target/e2e/report-test` of the workspace: kept after the test so a
/// person can open what the browser saw.
#[allow(dead_code)]
pub fn report_test_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/e2e/report-test")
}
