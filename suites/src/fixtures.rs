//! Tests of the harness itself: a small correct chart (`fixtures/sample`)
//! must pass every render check, and each file in `fixtures/broken/` breaks
//! one promise of it through values; the named check must fail, and its
//! message must mention the object, the field and the fix. A check that
//! cannot fail is a defect.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use vitals_checks::render::invariants::Invariant;
use vitals_checks::render::policy::Declared;
use vitals_helm::Helm;

use crate::render::{self, Cell, Overlaid};
use crate::spec::{Profile, Suite};

/// Why a harness trial fails: its fixture could not be read or set up, or
/// the check it names did not catch it as it should. Each message names
/// the fixture and keeps its cause.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    #[error("fixture `{}` cannot be read: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("fixture `{}`: field `{field}`: {source}", path.display())]
    Parse {
        path: PathBuf,
        field: String,
        source: serde_yaml::Error,
    },
    /// `what`: "values", "the overlay".
    #[error("cannot write {what} of `{name}`: {source}")]
    WriteValues {
        what: &'static str,
        name: String,
        source: std::io::Error,
    },
    #[error("cannot copy the sample chart for `{name}` to `{}`: {source}", to.display())]
    CopySample {
        name: String,
        to: PathBuf,
        source: std::io::Error,
    },
    #[error("the sample's values.schema.json is not JSON: {0}")]
    SampleSchema(serde_json::Error),
    #[error("cannot write the patched schema of `{name}`: {source}")]
    PatchedSchema {
        name: String,
        source: serde_json::Error,
    },
    #[error(transparent)]
    Cluster(#[from] crate::cluster::env::SetupError),
    #[error("no agent image in images.env")]
    NoAgentImage,
    /// The clean sample failed checks: each `name:\nverdict`. `sample`:
    /// "sample chart", "availability sample".
    #[error("the clean {sample} fails checks it should pass:\n{}", failed.join("\n"))]
    CleanSampleFails {
        sample: &'static str,
        failed: Vec<String>,
    },
    #[error("the clean sample with a test overlay derived no `render/overlay` check")]
    NoOverlayCheck,
    #[error("fixture `{name}` ({breaks}) expected check `{trial}`, which was not derived; checks were:\n  {}", derived.join("\n  "))]
    NotDerived {
        name: String,
        breaks: String,
        trial: String,
        derived: Vec<String>,
    },
    #[error("fixture `{name}` breaks: {breaks}\nbut `{trial}` passed:\n{verdict}")]
    Passed {
        name: String,
        breaks: String,
        trial: String,
        verdict: String,
    },
    #[error("fixture `{name}`: `{trial}` failed, but its message lacks {missing:?}:\n{text}")]
    MentionsMissing {
        name: String,
        trial: String,
        missing: Vec<String>,
        text: String,
    },
}

impl FixtureError {
    pub(crate) fn write_values(
        what: &'static str,
        name: &str,
    ) -> impl FnOnce(std::io::Error) -> FixtureError {
        let name = name.to_string();
        move |source| FixtureError::WriteValues { what, name, source }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    /// What the fixture breaks, in one sentence.
    pub breaks: String,
    /// Values merged over the sample chart's values.yaml.
    pub values: serde_json::Value,
    /// Values applied over `values` as the cell's test overlay (what
    /// `suites/overlays/<chart>.yaml` is to a real chart), so that the
    /// `render/overlay` check is derived for the fixture.
    #[serde(default)]
    pub overlay: Option<serde_json::Value>,
    /// Cluster fixtures only: install with these values first, then upgrade
    /// to `values` (the trial names then start with `upgrade/`).
    #[serde(default)]
    pub upgrade_from: Option<serde_json::Value>,
    #[serde(default)]
    pub invariants: Vec<Invariant>,
    /// What the fixture's suite spec declares about workloads' paths (as
    /// `paths` in `suites/specs/<chart>.yaml`).
    #[serde(default)]
    pub paths: Declared,
    /// A JSON merge patch (RFC 7386) applied to a copy of the sample's
    /// `values.schema.json`: the one break values cannot make, a schema
    /// that lets nonsense through.
    #[serde(default)]
    pub schema: Option<serde_json::Value>,
    pub catches: Catch,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catch {
    /// Check name after `<chart>/<profile>/`, e.g. `render/probes/deployment/sample-web`.
    pub trial: String,
    /// Substrings the failure message must contain.
    pub mentions: Vec<String>,
}

pub fn dir() -> PathBuf {
    crate::env::fixtures_dir()
}

fn sample_cell(values: Vec<PathBuf>, invariants: Vec<Invariant>) -> Cell {
    sample_cell_at(
        dir().join("sample"),
        values,
        invariants,
        Declared::default(),
    )
}

fn sample_cell_at(
    chart_dir: PathBuf,
    values: Vec<PathBuf>,
    invariants: Vec<Invariant>,
    paths: Declared,
) -> Cell {
    Cell::new(
        Arc::new(Suite {
            spec_file: None,
            chart_dir,
            name: "sample".into(),
            release: "sample".into(),
            profiles: Vec::new(),
            invariants,
            refused_upgrades: Default::default(),
            load: Default::default(),
            paths,
            ..Default::default()
        }),
        Profile {
            name: "prod".into(),
            values,
            prod: true,
        },
    )
}

/// A test overlay within the rules: local image, smaller requests, an added
/// env var, a lower HPA ceiling. `render/overlay` must let it through.
fn fair_overlay() -> serde_json::Value {
    serde_json::json!({
        "web": {
            "image": "vitals/agent:0.1.0-sample",
            "resources": {
                "requests": {"cpu": "10m", "memory": "32Mi"},
                "limits": {"cpu": "200m", "memory": "128Mi"}
            },
            "env": [
                {"name": "DATABASE_HOST", "value": "sample-db"},
                {"name": "AGENT_PORTS", "value": "8080"}
            ]
        },
        "autoscaling": {"maxReplicas": 3}
    })
}

/// The sample cell plus `overlay` as its test overlay, written next to the
/// fixture's values.
fn overlaid(
    cell: &Cell,
    name: &str,
    overlay: &serde_json::Value,
) -> Result<Overlaid, FixtureError> {
    let file = render::write_values(&format!("{name}.overlay"), overlay)
        .map_err(FixtureError::write_values("the overlay", name))?;
    let mut overlaid = cell.clone();
    overlaid.profile.values.push(file.clone());
    Ok(Overlaid {
        file,
        cell: overlaid,
    })
}

/// Every check of the clean sample passes (no check cries wolf), a fair
/// test overlay included.
pub fn clean_sample_passes(helm: &Result<Helm, vitals_helm::Error>) -> Result<(), FixtureError> {
    let cell = sample_cell(Vec::new(), Vec::new());
    let overlay = overlaid(&cell, "clean-sample", &fair_overlay())?;
    let checks = render::checks_with_overlay(helm, &cell, Some(overlay));
    let failed: Vec<String> = checks
        .iter()
        .map(|c| (c.name.clone(), (c.run)()))
        .filter(|(_, v)| v.failed())
        .map(|(n, v)| format!("{n}:\n{v}"))
        .collect();
    if !failed.is_empty() {
        return Err(FixtureError::CleanSampleFails {
            sample: "sample chart",
            failed,
        });
    }
    // Every check passed, so the chart rendered: the overlay check must be there.
    if !checks.iter().any(|c| c.name == "render/overlay") {
        return Err(FixtureError::NoOverlayCheck);
    }
    Ok(())
}

pub fn load(path: &Path) -> Result<Fixture, FixtureError> {
    let text = std::fs::read_to_string(path).map_err(|source| FixtureError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let de = serde_yaml::Deserializer::from_str(&text);
    serde_path_to_error::deserialize(de).map_err(|e| FixtureError::Parse {
        path: path.to_path_buf(),
        field: e.path().to_string(),
        source: e.into_inner(),
    })
}

/// The broken fixture is caught by the check it names, with a message that
/// carries every expected mention.
pub fn caught(helm: &Result<Helm, vitals_helm::Error>, path: &Path) -> Result<(), FixtureError> {
    let name = name(path);
    let fx = load(path)?;
    let values = render::write_values(&name, &fx.values)
        .map_err(FixtureError::write_values("values", &name))?;
    let chart_dir = match &fx.schema {
        None => dir().join("sample"),
        Some(patch) => patched_sample(&name, patch)?,
    };
    let cell = sample_cell_at(
        chart_dir,
        vec![values],
        fx.invariants.clone(),
        fx.paths.clone(),
    );
    let overlay = match &fx.overlay {
        Some(o) => Some(overlaid(&cell, &name, o)?),
        None => None,
    };
    judge(
        &name,
        &fx,
        &render::checks_with_overlay(helm, &cell, overlay),
        |_| {},
    )
}

/// A copy of the sample chart whose `values.schema.json` has `patch`
/// merged in, under the run's output (named by the fixture, rewritten on
/// every run).
fn patched_sample(name: &str, patch: &serde_json::Value) -> Result<PathBuf, FixtureError> {
    let from = dir().join("sample");
    let to = crate::env::out_dir()
        .join("fixtures")
        .join(format!("{name}.chart"));
    let fail = |source| FixtureError::CopySample {
        name: name.to_string(),
        to: to.clone(),
        source,
    };
    let _ = std::fs::remove_dir_all(&to);
    copy_tree(&from, &to).map_err(fail)?;
    let schema_file = to.join("values.schema.json");
    let text = std::fs::read_to_string(&schema_file).map_err(fail)?;
    let mut schema: serde_json::Value =
        serde_json::from_str(&text).map_err(FixtureError::SampleSchema)?;
    merge_patch(&mut schema, patch);
    let text =
        serde_json::to_string_pretty(&schema).map_err(|source| FixtureError::PatchedSchema {
            name: name.to_string(),
            source,
        })?;
    std::fs::write(&schema_file, text).map_err(fail)?;
    Ok(to)
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let target = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_tree(&e.path(), &target)?;
        } else {
            std::fs::copy(e.path(), target)?;
        }
    }
    Ok(())
}

/// RFC 7386: objects merge key by key, `null` removes, anything else replaces.
fn merge_patch(target: &mut serde_json::Value, patch: &serde_json::Value) {
    let serde_json::Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = serde_json::Value::Object(Default::default());
    }
    if let serde_json::Value::Object(t) = target {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(serde_json::Value::Null), v);
            }
        }
    }
}

/// Runs the check the fixture names and holds it to the fixture: it must
/// fail, and its message must carry every expected mention. `after` runs
/// once the check has (e.g. to drop a fixture's namespace).
pub(crate) fn judge(
    name: &str,
    fx: &Fixture,
    checks: &[render::Check],
    after: impl FnOnce(&str),
) -> Result<(), FixtureError> {
    let Some(check) = checks.iter().find(|c| c.name == fx.catches.trial) else {
        return Err(FixtureError::NotDerived {
            name: name.to_string(),
            breaks: fx.breaks.clone(),
            trial: fx.catches.trial.clone(),
            derived: checks.iter().map(|c| c.name.clone()).collect(),
        });
    };
    let v = (check.run)();
    after(name);
    if !v.failed() {
        return Err(FixtureError::Passed {
            name: name.to_string(),
            breaks: fx.breaks.clone(),
            trial: fx.catches.trial.clone(),
            verdict: v.to_string(),
        });
    }
    let text = v.to_string();
    let missing: Vec<String> = fx
        .catches
        .mentions
        .iter()
        .filter(|m| !text.contains(m.as_str()))
        .cloned()
        .collect();
    if !missing.is_empty() {
        return Err(FixtureError::MentionsMissing {
            name: name.to_string(),
            trial: fx.catches.trial.clone(),
            missing,
            text,
        });
    }
    Ok(())
}

/// The fixture files of a folder under `suites/fixtures`, sorted.
pub(crate) fn yaml_files(folder: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir().join(folder))
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// A fixture's name: its file stem.
pub fn name(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Render-tier fixtures: each breaks one promise of `fixtures/sample`.
pub fn broken() -> Vec<PathBuf> {
    yaml_files("broken")
}

/// Cluster-tier fixtures: each breaks one runtime promise of
/// `fixtures/cluster-sample`, installed into its own namespace.
pub fn broken_cluster() -> Vec<PathBuf> {
    yaml_files("broken-cluster")
}

pub fn caught_on_cluster(
    helm: &Arc<Result<Helm, vitals_helm::Error>>,
    path: &Path,
) -> Result<(), FixtureError> {
    let name = name(path);
    let fx = load(path)?;
    let values = with_local_images(&fx.values)?;
    let file = render::write_values(&format!("cluster-{name}"), &values)
        .map_err(FixtureError::write_values("values", &name))?;
    let mut cell = cluster_sample_cell(&name, file, false);
    // An upgrade fixture installs the sample with its first values, then
    // upgrades to the second.
    if let Some(from) = &fx.upgrade_from {
        let from = with_local_images(from)?;
        let file = render::write_values(&format!("cluster-{name}-from"), &from)
            .map_err(FixtureError::write_values("the first values", &name))?;
        cell.upgrade = Some(Arc::new(crate::upgrade::UpgradeFrom {
            label: "the fixture's first values".into(),
            chart_dir: dir().join("cluster-sample"),
            values: vec![file],
        }));
    }
    let checks = crate::cluster::checks(helm, &cell);
    judge(&name, &fx, &checks, |_| crate::cluster::forget(&cell))
}

/// `values` with the sample's images replaced by the ones built here (the
/// agent for its apps, the base and postgres images where built), so a
/// fixture installs without a registry.
pub(crate) fn with_local_images(
    values: &serde_json::Value,
) -> Result<serde_json::Value, FixtureError> {
    let env = crate::cluster::cluster()?;
    let mut values = values.clone();
    let agent = env
        .images
        .get("agent")
        .cloned()
        .ok_or(FixtureError::NoAgentImage)?;
    values["image"] = serde_json::Value::String(agent);
    for (key, image) in [("baseImage", "base"), ("postgresImage", "postgres")] {
        if let Some(img) = env.images.get(image) {
            values[key] = serde_json::Value::String(img.clone());
        }
    }
    Ok(values)
}

/// A cell of `fixtures/cluster-sample` with one values file: what every
/// cluster and availability fixture installs (`prod` for the availability
/// tier, which runs prod cells only).
pub(crate) fn cluster_sample_cell(profile: &str, values: PathBuf, prod: bool) -> Cell {
    Cell::new(
        Arc::new(Suite {
            spec_file: None,
            chart_dir: dir().join("cluster-sample"),
            name: "cluster-sample".into(),
            release: "cluster-sample".into(),
            ..Default::default()
        }),
        Profile {
            name: profile.to_string(),
            values: vec![values],
            prod,
        },
    )
}
