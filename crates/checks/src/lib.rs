//! Checks over a chart's rendered manifests (render tier) and, later, over
//! the live cluster (runtime tier). Every check returns a [`Verdict`] that
//! carries what was expected, what was seen and where to look, so a failed
//! trial explains itself without a re-run.

pub mod check;
pub mod junit;
pub mod manifest;
pub mod quantity;
pub mod record;
pub mod render;
pub mod runtime;
pub mod values;
pub mod verdict;
pub mod yaml;

pub use manifest::{Container, Manifests, Object, ObjectRef, Role, Workload};
pub use verdict::{Evidence, Finding, Outcome, Verdict};
