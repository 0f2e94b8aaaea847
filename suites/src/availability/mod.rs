//! The availability tier: a prod cell installed on a multi-node cluster
//! (`make e2e-availability`: `kind-config/multi-node.yaml`), then its HA
//! promises proved as trials `<chart>/<profile>/availability/<check>/<object>`,
//! every check derived from the rendered manifests
//! (`vitals_checks::runtime::availability::derive`).
//!
//! Stage 0 judges without disturbing the cell: `spread` (where the
//! replicas landed) and `restore` (a backup round trip). Stage 1 is one
//! disruption plan per cell, run once by whichever of its trials comes
//! first, the others reading their part of it:
//!
//! 1. every schedulable node drained in turn (`drain/nodes`, and
//!    `drain/<workload>` for each replicated workload: its PDB held at
//!    every moment);
//! 2. the release upgraded with a new `global.rolloutToken` (`helm upgrade`,
//!    the install's values plus that one pod-template change), rolling
//!    every RollingUpdate Deployment at once (`rollout/<deployment>`); a
//!    Deployment the chart renders no token on is patched instead, and its
//!    verdict says so;
//!    through 1 and 2 a request stream runs to every HA Service
//!    (`traffic/service/<name>`);
//! 3. one pod of each HA workload deleted under a stream (`graceful-stop`);
//! 4. one pod of every workload deleted and timed (`recovery`).
//!
//! Drains cordon nodes every cell schedules onto, so one plan runs at a
//! time in the process, and no install or stage-0 judge of another cell
//! runs beside it ([`gate`]). On the `existing` provider the nodes are not the
//! harness's: drains and pod deletes run only with `E2E_DISRUPT=1`, and the
//! trials they would judge are skipped with that reason.
mod fixtures;
pub mod gate;
mod plan;
mod trials;
mod upgrade;

pub use fixtures::{caught, clean_sample_passes, clean_values, fixtures};
pub use plan::{no_disruption, Plan};
pub use trials::checks;

/// The tier's name in trial names and `E2E_TIERS`.
pub const TIER: &str = "availability";
