//! The cluster tier: one leased cluster per run (`env`), one namespace per
//! cell (chart x profile) installed once through ordered `phases`
//! (in-process `OnceCell`, cross-process lock + stamp for nextest), then one
//! trial per derived fact (`plan`).
//!
//! This module is the index: the names other modules and the runner use
//! are re-exported here, so `crate::cluster::checks` and friends keep
//! their paths.

pub mod env;
pub mod phases;
pub mod plan;

pub use crate::cell::overlay::{cluster_cell, overlay};
pub use env::{cluster, rt, ClusterEnv};
pub use phases::collect::bundle;
pub use phases::install::{installed, Installed};
pub use phases::teardown::{cleanup, failed_cells, finished, forget, take_down};
pub use plan::checks;
