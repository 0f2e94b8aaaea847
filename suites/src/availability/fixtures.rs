//! The tier's own fixtures: each breaks one HA promise of
//! `fixtures/cluster-sample` and names the trial that must catch it, and
//! the clean sample that must pass every trial. Loading, installing and
//! judging are the cluster tier's (`crate::fixtures`); only the folder,
//! the prod cell and the trial list are this tier's.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use vitals_helm::Helm;

use super::trials::checks;
use crate::fixtures::{self as shared, FixtureError};
use crate::render::{self, Cell, Check};

/// Availability fixtures: `suites/fixtures/broken-cluster/availability/*.yaml`,
/// each breaking one HA promise of `fixtures/cluster-sample` (its `web` and
/// `db` parts, enabled through values) and naming the trial that must
/// catch it. In a folder of their own: the cluster tier's fixture list is
/// the folder above.
pub fn fixtures() -> Vec<PathBuf> {
    shared::yaml_files("broken-cluster/availability")
}

/// The cluster-sample cell a fixture installs (a prod cell of its own).
fn fixture_cell(name: &str, values: &serde_json::Value) -> Result<Cell, FixtureError> {
    let values = shared::with_local_images(values)?;
    let file = render::write_values(&format!("availability-{name}"), &values)
        .map_err(FixtureError::write_values("values", name))?;
    Ok(shared::cluster_sample_cell(name, file, true))
}

/// The fixture is caught by the trial it names, the message carrying every
/// expected mention.
pub fn caught(
    helm: &Arc<Result<Helm, vitals_helm::Error>>,
    path: &Path,
) -> Result<(), FixtureError> {
    let name = shared::name(path);
    let fx = shared::load(path)?;
    let cell = fixture_cell(&name, &fx.values)?;
    let checks = checks(helm, &cell);
    let judged = shared::judge(&name, &fx, &checks, |_| {});
    crate::cluster::forget(&cell);
    judged
}

/// The correct sample (HA web tier and a database with a backup) passes
/// every availability trial: no check of the tier cries wolf.
pub fn clean_sample_passes(
    helm: &Arc<Result<Helm, vitals_helm::Error>>,
) -> Result<(), FixtureError> {
    let cell = fixture_cell("availability-clean", &clean_values())?;
    let checks = checks(helm, &cell);
    let started = Instant::now();
    // Stage 0 first, then the plan, as the runner orders a cell.
    let mut failed = Vec::new();
    let mut stages: Vec<&Check> = checks.iter().collect();
    stages.sort_by_key(|c| c.stage);
    for c in stages {
        let v = (c.run)();
        if v.failed() {
            failed.push(format!("{}:\n{v}", c.name));
        }
    }
    crate::cluster::forget(&cell);
    if !failed.is_empty() {
        return Err(FixtureError::CleanSampleFails {
            sample: "availability sample",
            failed,
        });
    }
    eprintln!(
        "availability clean sample: {} trials green in {:.0}s",
        checks.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The cluster-sample's HA parts, as a correct chart would set them.
pub fn clean_values() -> serde_json::Value {
    serde_json::json!({
        "web": {"enabled": true},
        "db": {"enabled": true},
        "backup": {"enabled": true, "script": "pg_dump --format=custom --file=/backups/db-`date +%s`.dump; echo wrote a dump"}
    })
}
