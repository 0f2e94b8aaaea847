//! Where things are and which tiers run: the workspace root, the helm to
//! use, `E2E_TIERS`, and the output directory.

use std::path::{Path, PathBuf};

/// The tiers a run can include. `E2E_TIERS` narrows a run on purpose; the
/// default is every tier this build implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    Unit,
    Render,
    /// Image smoke tests: `cargo test -p vitals-images` reads E2E_TIERS too.
    Images,
    Cluster,
    /// Upgrade cells: the previous release (or the dev values) first, then
    /// the working copy, with every cluster check after.
    Upgrade,
    /// HA promises (spread, drain vs PDB, traffic, rollout, graceful stop,
    /// recovery, restore) of the prod cells on a multi-node cluster. Opt-in
    /// (`E2E_TIERS=availability`, `make e2e-availability`): it needs a
    /// cluster of its own, and on one node every drain would fail.
    Availability,
}

impl Tier {
    pub const ALL: [Tier; 5] = [
        Tier::Unit,
        Tier::Render,
        Tier::Images,
        Tier::Cluster,
        Tier::Upgrade,
    ];

    /// Every tier `E2E_TIERS` may name: the default ones and the opt-in.
    pub const KNOWN: [Tier; 6] = [
        Tier::Unit,
        Tier::Render,
        Tier::Images,
        Tier::Cluster,
        Tier::Upgrade,
        Tier::Availability,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Tier::Unit => "unit",
            Tier::Render => "render",
            Tier::Images => "images",
            Tier::Cluster => "cluster",
            Tier::Upgrade => "upgrade",
            Tier::Availability => "availability",
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error(
    "E2E_TIERS: unknown tier `{0}` (known: unit, render, images, cluster, upgrade, availability)"
)]
pub struct UnknownTier(pub String);

pub fn tiers() -> Result<Vec<Tier>, UnknownTier> {
    match &crate::config::get().tiers {
        None => Ok(Tier::ALL.to_vec()),
        Some(list) => list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                Tier::KNOWN
                    .into_iter()
                    .find(|t| t.name() == s)
                    .ok_or_else(|| UnknownTier(s.to_string()))
            })
            .collect(),
    }
}

/// The workspace root (the `e2e` package lives in `<root>/suites`).
pub fn root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// Where runs write results, render caches and fixtures' values.
pub fn out_dir() -> PathBuf {
    crate::config::get()
        .out
        .clone()
        .unwrap_or_else(|| root().join("target/e2e"))
}

/// A cell's file beside its install lease,
/// `<out>/cells/<cluster>/<namespace>.<ext>` (lock, stamp, need, failed,
/// markers.json, ...): the state that trial processes and later runs share
/// about the cell. Keyed by cluster too: with clusters of several Kubernetes
/// versions (or the availability tier's) on one machine, `medplum-prod`
/// installed on one is not installed on another (a run once reused a stamp
/// written for the multi-node cluster and found no objects).
pub fn cell_file(ns: &str, ext: &str) -> PathBuf {
    out_dir()
        .join("cells")
        .join(cluster_key())
        .join(format!("{ns}.{ext}"))
}

/// The Kubernetes minor this run's cluster-backed trials target (`E2E_K8S`,
/// else the newest supported), as results and the report name it.
pub fn k8s_minor() -> String {
    vitals_cluster::kubernetes::selected()
        .map(|v| v.minor)
        .unwrap_or_else(|e| e.asked)
}

/// The cluster the cell files belong to: the kind cluster's name
/// (`VITALS_CLUSTER`, else `vitals-<minor>` of `E2E_K8S`), or `existing`.
pub fn cluster_key() -> String {
    if std::env::var("E2E_CLUSTER").as_deref() == Ok("existing") {
        return "existing".into();
    }
    std::env::var("VITALS_CLUSTER").unwrap_or_else(|_| {
        vitals_cluster::kubernetes::selected()
            .map(|v| v.cluster_name())
            .unwrap_or_else(|_| "unsupported-version".into())
    })
}

/// `suites/fixtures`: the harness's own charts and broken values, which the
/// fixture trials and the schema negatives read.
pub fn fixtures_dir() -> PathBuf {
    root().join("suites/fixtures")
}

/// The shared cache outside the checkout (`VITALS_CACHE`, as the Makefile
/// and scripts use it): built images' refs, the cells' measured durations.
pub fn cache_dir() -> PathBuf {
    crate::config::get().cache.clone()
}

/// `E2E_HELM`, else the pinned build in `.bin/` (from `make setup`), else PATH.
pub fn helm() -> Result<vitals_helm::Helm, vitals_helm::Error> {
    if crate::config::get().helm.is_some() {
        return vitals_helm::Helm::discover();
    }
    let pinned = root().join(".bin/helm");
    if pinned.exists() {
        return vitals_helm::Helm::at(pinned);
    }
    vitals_helm::Helm::discover()
}

/// The run a result belongs to: `E2E_RUN` (set per CI cell or by `make e2e`),
/// else `local`. The report merges results of many runs and keeps them apart.
pub fn run_id() -> String {
    crate::config::get().run.clone()
}

/// Under nextest every trial is its own process: a process seeing its one
/// trial of a cell end must not take the cell down (the next trial process
/// reuses the install). Namespaces stay until the next `cargo test` run or
/// `make cluster-down`.
pub fn process_per_trial() -> bool {
    crate::config::get().process_per_trial
}

/// The locally built images, `name=ref` per line of
/// `$VITALS_CACHE/images.env` (written by `scripts/images.sh`), and the
/// file they were read from.
pub fn images() -> (PathBuf, std::collections::BTreeMap<String, String>) {
    let file = cache_dir().join("images.env");
    let map = std::fs::read_to_string(&file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            l.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        })
        .collect();
    (file, map)
}
