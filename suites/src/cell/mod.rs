//! A cell (chart x profile), the checks it runs, and the state it shares
//! across processes (`state`).

use std::path::PathBuf;
use std::sync::Arc;

use vitals_checks::Verdict;

use crate::spec::{Profile, Suite};

pub mod overlay;
pub mod prune;
pub mod state;

/// A check that runs when its trial runs.
pub struct Check {
    /// `render/<check>/<subject>`, appended to `<chart>/<profile>/`.
    pub name: String,
    pub run: Box<dyn Fn() -> Verdict + Send + Sync>,
    /// 0: runs beside the cell's other trials; 1: disrupts the cell (waits
    /// for stage 0); 2: judges the whole run (waits for 0 and 1). See
    /// `stages`.
    pub stage: usize,
    /// Known before the run not to be runnable, and why: the trial is
    /// listed as ignored (console, nextest and JUnit say so) instead of
    /// running to a skip that a summary would count as passed.
    pub ignored: Option<String>,
}

impl Check {
    pub fn new(
        name: impl Into<String>,
        run: impl Fn() -> Verdict + Send + Sync + 'static,
    ) -> Check {
        Check {
            name: name.into(),
            run: Box::new(run),
            stage: 0,
            ignored: None,
        }
    }

    #[must_use]
    pub fn at_stage(mut self, stage: usize) -> Check {
        self.stage = stage;
        self
    }

    pub fn ready(name: impl Into<String>, v: Verdict) -> Check {
        Check::new(name, move || v.clone())
    }

    /// A trial that cannot run, decided before the run: ignored with the
    /// reason (its verdict, if run with `--include-ignored`, is the skip).
    pub fn cannot_run(
        name: impl Into<String>,
        subject: impl Into<String>,
        why: impl Into<String>,
    ) -> Check {
        let why = why.into();
        let v = Verdict::skip(subject, why.clone());
        Check {
            ignored: Some(why),
            ..Check::ready(name, v)
        }
    }
}

/// A chart x profile.
#[derive(Clone)]
pub struct Cell {
    pub suite: Arc<Suite>,
    pub profile: Profile,
    /// Set for an upgrade cell: what is installed first, then upgraded to
    /// this cell's chart and values.
    pub upgrade: Option<Arc<UpgradeFrom>>,
}

impl Cell {
    pub fn new(suite: Arc<Suite>, profile: Profile) -> Cell {
        Cell {
            suite,
            profile,
            upgrade: None,
        }
    }

    pub fn prefix(&self) -> String {
        format!("{}/{}", self.suite.name, self.profile.name)
    }

    /// The tier its cluster trials report under: `cluster`, or `upgrade`.
    pub fn cluster_tier(&self) -> &'static str {
        if self.upgrade.is_some() {
            "upgrade"
        } else {
            "cluster"
        }
    }

    /// The namespace this cell installs into (and renders for).
    pub fn namespace(&self) -> String {
        match self.upgrade {
            Some(_) => format!("{}-{}-upgrade", self.suite.name, self.profile.name),
            None => format!("{}-{}", self.suite.name, self.profile.name),
        }
    }
}

/// The starting point of an upgrade cell.
#[derive(Debug, Clone)]
pub struct UpgradeFrom {
    /// What the evidence calls it: `release medplum-v0.1.0`, `dev values`.
    pub label: String,
    pub chart_dir: PathBuf,
    /// Values of the first install (the suite overlay is added on top).
    pub values: Vec<PathBuf>,
}

/// The file name of an earlier revision's own test overlay among its values
/// (`upgrade::overlay_at`); `overlay::cluster_cell` adds today's overlay
/// only to an upgrade start that does not carry its own.
pub const OWN_OVERLAY: &str = "test-overlay.yaml";

impl UpgradeFrom {
    /// Whether this start carries the test overlay of its own time.
    pub fn carries_overlay(&self) -> bool {
        self.values
            .iter()
            .any(|v| v.file_name().is_some_and(|n| n == OWN_OVERLAY))
    }
}
