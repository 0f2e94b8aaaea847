//! The tier's own fixtures: each breaks one HA promise of
//! `fixtures/cluster-sample` and names the trial that must catch it, and
//! the clean sample that must pass every trial.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use vitals_helm::Helm;

use super::trials::checks;
use crate::cluster;
use crate::render::{self, Cell, Check};

/// Availability fixtures: `suites/fixtures/broken-cluster/availability/*.yaml`,
/// each breaking one HA promise of `fixtures/cluster-sample` (its `web` and
/// `db` parts, enabled through values) and naming the trial that must
/// catch it. In a folder of their own: the cluster tier's fixture list is
/// the folder above.
pub fn fixtures() -> Vec<PathBuf> {
    let dir = crate::fixtures::dir().join("broken-cluster/availability");
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The cluster-sample cell a fixture installs (a prod cell of its own).
fn fixture_cell(name: &str, values: &serde_json::Value) -> Result<Cell, String> {
    let env = cluster::cluster()?;
    let mut values = values.clone();
    values["image"] = env
        .images
        .get("agent")
        .cloned()
        .ok_or("no agent image in images.env")?
        .into();
    for (key, image) in [("baseImage", "base"), ("postgresImage", "postgres")] {
        if let Some(img) = env.images.get(image) {
            values[key] = img.clone().into();
        }
    }
    let file = render::write_values(&format!("availability-{name}"), &values)
        .map_err(|e| e.to_string())?;
    Ok(Cell::new(
        Arc::new(crate::spec::Suite {
            spec_file: None,
            chart_dir: crate::fixtures::dir().join("cluster-sample"),
            name: "cluster-sample".into(),
            release: "cluster-sample".into(),
            profiles: Vec::new(),
            invariants: Vec::new(),
            refused_upgrades: Default::default(),
            load: Default::default(),
            ..Default::default()
        }),
        crate::spec::Profile {
            name: name.into(),
            values: vec![file],
            prod: true,
        },
    ))
}

/// The fixture is caught by the trial it names, the message carrying every
/// expected mention.
pub fn caught(helm: &Arc<Result<Helm, vitals_helm::Error>>, path: &Path) -> Result<(), String> {
    let name = crate::fixtures::name(path);
    let fx = crate::fixtures::load(path).map_err(|e| e.to_string())?;
    let cell = fixture_cell(&name, &fx.values)?;
    let checks = checks(helm, &cell);
    let Some(check) = checks.iter().find(|c| c.name == fx.catches.trial) else {
        crate::cluster::forget(&cell);
        return Err(format!(
            "fixture `{name}` ({}) expected trial `{}`, which was not derived; trials were:\n  {}",
            fx.breaks,
            fx.catches.trial,
            checks
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join("\n  ")
        ));
    };
    let v = (check.run)();
    crate::cluster::forget(&cell);
    if !v.failed() {
        return Err(format!(
            "fixture `{name}` breaks: {}\nbut `{}` passed:\n{v}",
            fx.breaks, fx.catches.trial
        ));
    }
    let text = v.to_string();
    let missing: Vec<_> = fx
        .catches
        .mentions
        .iter()
        .filter(|m| !text.contains(m.as_str()))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "fixture `{name}`: `{}` failed, but its message lacks {missing:?}:\n{text}",
            fx.catches.trial
        ));
    }
    Ok(())
}

/// The correct sample (HA web tier and a database with a backup) passes
/// every availability trial: no check of the tier cries wolf.
pub fn clean_sample_passes(helm: &Arc<Result<Helm, vitals_helm::Error>>) -> Result<(), String> {
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
    if failed.is_empty() {
        eprintln!(
            "availability clean sample: {} trials green in {:.0}s",
            checks.len(),
            started.elapsed().as_secs_f64()
        );
        Ok(())
    } else {
        Err(format!(
            "the clean availability sample fails trials it should pass:\n{}",
            failed.join("\n")
        ))
    }
}

/// The cluster-sample's HA parts, as a correct chart would set them.
pub fn clean_values() -> serde_json::Value {
    serde_json::json!({
        "web": {"enabled": true},
        "db": {"enabled": true},
        "backup": {"enabled": true, "script": "pg_dump --format=custom --file=/backups/db-`date +%s`.dump; echo wrote a dump"}
    })
}
