//! Every cluster-tier trial of a cell, derived from its rendered manifests
//! (the suite spec adds loads and declared refusals). One file per family;
//! each adds its trials to a [`Plan`] in the order the trials always had.

use std::sync::Arc;

use vitals_checks::{Manifests, Verdict};
use vitals_helm::Helm;

use crate::cell::overlay::cluster_cell;
use crate::cell::state::CellState;
use crate::cell::{Cell, Check};
pub(crate) use crate::cluster::env::rt;
use crate::cluster::env::{cluster, ClusterEnv};
use crate::cluster::phases::collect::bundle;
use crate::cluster::phases::install::{installed, Installed};
use crate::cluster::phases::teardown::failed_cells;
use crate::render;

mod hpa;
mod netpol;
mod upgrade;
mod workloads;

/// The cluster trials of a cell; an upgrade cell's are the same checks under
/// `upgrade/`, plus whether the data written before the upgrade is still there.
pub fn checks(helm: &Arc<Result<Helm, vitals_helm::Error>>, cell: &Cell) -> Vec<Check> {
    let mut out = cluster_checks(helm, cell);
    if cell.upgrade.is_some() {
        for c in &mut out {
            if let Some(rest) = c.name.strip_prefix("cluster/") {
                c.name = format!("upgrade/{rest}");
            }
        }
    }
    out
}

/// The trials of one cell under construction: each judge is wrapped so it
/// gets the cluster, installs the cell once, then judges (and on failure
/// marks the cell failed and writes its bundle).
pub(crate) struct Plan {
    ctx: Arc<(Helm, Cell, Arc<Manifests>)>,
    out: Vec<Check>,
}

impl Plan {
    /// A trial that is already decided (a refusal, a trial that cannot run).
    pub(crate) fn push(&mut self, c: Check) {
        self.out.push(c);
    }

    pub(crate) fn add(&mut self, name: String, f: Judge) {
        self.add_at(0, name, f)
    }

    /// A trial at a later stage (see `stages`).
    pub(crate) fn add_at(&mut self, stage: usize, name: String, f: Judge) {
        let ctx = self.ctx.clone();
        let check = Check::new(name.clone(), move || {
            let (helm, cell, m) = &*ctx;
            let env = match cluster() {
                Ok(e) => e,
                Err(e) => return Verdict::fail(cell.prefix(), "a cluster to run on", e),
            };
            let inst = installed(&env, helm, cell, m);
            let mut v = {
                let _permit = crate::stages::permit();
                f(&env, &inst, m)
            };
            let mut failed = failed_cells().lock().unwrap_or_else(|p| p.into_inner());
            let entry = failed.entry(inst.namespace.clone()).or_insert(false);
            if v.failed() {
                *entry = true;
                drop(failed);
                if crate::env::process_per_trial() {
                    // Other trial processes see the cell as failed: it is
                    // scaled down, not deleted, when its room is needed.
                    CellState::of(&inst.namespace).mark_failed();
                }
                let dir = bundle(&env, cell, &inst, &format!("{name}: {}", v.observed));
                let diag = format!("diagnostics: {}", dir.display());
                let hint = match v.hint.take() {
                    Some(h) => format!("{h}; {diag}"),
                    None => diag,
                };
                v = v.with_hint(hint);
            }
            v
        })
        .at_stage(stage);
        self.out.push(check);
    }
}

fn cluster_checks(helm: &Arc<Result<Helm, vitals_helm::Error>>, cell: &Cell) -> Vec<Check> {
    let ccell = cluster_cell(cell);
    let helm_ok = match helm.as_ref() {
        Ok(h) => h.clone(),
        Err(e) => {
            return vec![Check::ready(
                "cluster/install",
                Verdict::fail(cell.prefix(), "helm is available", e.to_string()),
            )]
        }
    };
    let manifests = match render::render(&helm_ok, &ccell)
        .map_err(|e| e.to_string())
        .and_then(|t| Manifests::parse(&t).map_err(|e| e.to_string()))
    {
        Ok(m) => Arc::new(m),
        Err(e) => {
            return vec![Check::ready(
                "cluster/install",
                Verdict::fail(cell.prefix(), "the chart renders with the test overlay", e),
            )]
        }
    };
    crate::capacity::plan(&ccell.namespace(), crate::capacity::cell_need(&manifests));
    if let Some(up) = &ccell.upgrade {
        if let Some(early) = upgrade::refused_upgrade(&helm_ok, &ccell, up, &manifests) {
            return vec![early];
        }
    }
    let ctx = Arc::new((helm_ok, ccell, manifests.clone()));
    let mut p = Plan {
        ctx,
        out: Vec::new(),
    };
    workloads::derive_first(&mut p, &manifests);
    netpol::derive(&mut p, &manifests);
    hpa::derive(&mut p, &manifests, cell);
    workloads::derive_last(&mut p, &manifests, cell);
    p.out
}

pub(crate) fn first_pod(inst: &Installed, selector: &serde_json::Value) -> Option<String> {
    inst.view
        .pods
        .state()
        .into_iter()
        .filter(|p| {
            p.metadata.deletion_timestamp.is_none()
                && p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
        })
        .find(|p| {
            vitals_checks::manifest::selector_matches(
                selector,
                &p.metadata.labels.clone().unwrap_or_default(),
            )
        })
        .and_then(|p| p.metadata.name.clone())
}

/// One cluster check, given the cluster, the installed cell and its manifests.
pub(crate) type Judge =
    Box<dyn Fn(&Arc<ClusterEnv>, &Installed, &Manifests) -> Verdict + Send + Sync>;

#[cfg(test)]
mod tests {
    /// Every `cluster/<kind>/` a plan file names is a kind of
    /// `checks::runtime::ALL`, so the registry lists what the tier reports.
    #[test]
    fn every_kind_the_plan_derives_is_in_the_runtime_registry() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/cluster/plan");
        let mut kinds = std::collections::BTreeSet::new();
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let text = std::fs::read_to_string(e.path()).unwrap();
            for (i, _) in text.match_indices("\"cluster/") {
                let rest = &text[i + "\"cluster/".len()..];
                let kind: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '-')
                    .collect();
                if !kind.is_empty() {
                    kinds.insert(kind);
                }
            }
        }
        assert!(
            kinds.contains("hpa") && kinds.contains("netpol"),
            "{kinds:?}"
        );
        for k in &kinds {
            assert!(
                vitals_checks::runtime::ALL.iter().any(|r| r.name == k.as_str()),
                "cluster/{k} is derived in suites/src/cluster/plan but has no row in checks::runtime::ALL"
            );
        }
    }
}
