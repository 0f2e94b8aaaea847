//! Every cluster-tier trial of a cell: for each row of
//! `checks::runtime::ALL`, in its order, the kind's own `derive` over the
//! rendered manifests (the suite spec adds loads and declared refusals),
//! each spec's judge wrapped to run against the installed cell (`kinds`).

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

mod kinds;
mod upgrade;

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

/// Why a cell has no manifests to derive its trials from.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RenderError {
    #[error(transparent)]
    Helm(#[from] vitals_helm::Error),
    #[error(transparent)]
    Parse(#[from] vitals_checks::manifest::ParseError),
}

/// The cell's render (cached by its inputs), parsed.
pub(crate) fn render_manifests(helm: &Helm, cell: &Cell) -> Result<Manifests, RenderError> {
    Ok(Manifests::parse(&render::render(helm, cell)?)?)
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
    let manifests = match render_manifests(&helm_ok, &ccell) {
        Ok(m) => Arc::new(m),
        Err(e) => {
            return vec![Check::ready(
                "cluster/install",
                Verdict::fail(
                    cell.prefix(),
                    "the chart renders with the test overlay",
                    vitals_checks::runtime::chain(&e),
                ),
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
    for k in vitals_checks::runtime::ALL {
        let wire = kinds::wiring(k.name).unwrap_or_else(|| {
            panic!(
                "runtime::ALL has {}, which plan/kinds.rs does not wire",
                k.name
            )
        });
        wire(&mut p, k, &manifests, cell);
    }
    p.out
}

/// One cluster check, given the cluster, the installed cell and its manifests.
pub(crate) type Judge =
    Box<dyn Fn(&Arc<ClusterEnv>, &Installed, &Manifests) -> Verdict + Send + Sync>;

#[cfg(test)]
mod tests {
    /// A row added to `checks::runtime::ALL` is a kind the tier runs: the
    /// plan refuses to derive a cell's trials without its wiring.
    #[test]
    fn every_kind_in_the_runtime_registry_is_wired() {
        for k in vitals_checks::runtime::ALL {
            assert!(
                super::kinds::wiring(k.name).is_some(),
                "cluster/{} is in checks::runtime::ALL but suites/src/cluster/plan/kinds.rs does not wire it",
                k.name
            );
        }
        assert!(super::kinds::wiring("nonsense").is_none());
    }
}
