//! The vitals runner as a library: suite specs, tiers, cells and the checks
//! each cell derives. `tests/e2e.rs` turns them into libtest-mimic trials.

pub mod availability;
pub mod cell;
pub mod cluster;
pub mod config;
pub mod discovery;
pub mod env;
pub mod events;
pub mod fixtures;
pub mod render;
pub mod schedule;
pub mod spec;
pub mod upgrade;
pub mod userchart;

// The schedulers keep their short paths (`e2e::capacity`, `e2e::stages`).
pub use schedule::{capacity, room, stages};
