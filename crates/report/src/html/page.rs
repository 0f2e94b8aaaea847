//! What every section shares: the page over its inputs (trials in
//! listing order), anchors, and small text helpers.

use std::path::{Path, PathBuf};

use vitals_checks::record::{CellRecord, TrialRecord};
use vitals_checks::Outcome;

use crate::escape::slug;
use crate::grid::Grid;
use crate::load::Inputs;

use super::links::relative_href;

/// The id of a failed trial's `<details>`: open it with `index.html#<id>`.
pub fn failure_anchor(run: &str, name: &str) -> String {
    slug(&format!("f/{run}/{name}"))
}

pub(super) fn install_anchor(c: &CellRecord) -> String {
    slug(&format!(
        "install/{}/{}/{}/{}",
        c.run, c.chart, c.profile, c.namespace
    ))
}

pub(super) struct Page<'a> {
    pub(super) inputs: &'a Inputs,
    pub(super) out_dir: Option<PathBuf>,
    pub(super) grid: Grid,
    /// Trial indexes in the order the page lists them: by chart, profile,
    /// tier, check, name.
    pub(super) order: Vec<usize>,
}

impl<'a> Page<'a> {
    pub(super) fn new(inputs: &'a Inputs, out_dir: &Path) -> Page<'a> {
        let mut order: Vec<usize> = (0..inputs.trials.len()).collect();
        order.sort_by(|&a, &b| {
            let (a, b) = (&inputs.trials[a], &inputs.trials[b]);
            (&a.chart, &a.profile, &a.tier, &a.check, &a.name, &a.run)
                .cmp(&(&b.chart, &b.profile, &b.tier, &b.check, &b.name, &b.run))
        });
        Page {
            inputs,
            out_dir: out_dir.canonicalize().ok(),
            grid: Grid::build(&inputs.trials),
            order,
        }
    }

    pub(super) fn trials(&self) -> impl Iterator<Item = (usize, &'a TrialRecord)> + '_ {
        self.order.iter().map(|&i| (i, &self.inputs.trials[i]))
    }

    pub(super) fn href(&self, target: &Path) -> Option<String> {
        relative_href(self.out_dir.as_deref()?, target)
    }
}

pub(super) fn outcome_badge(o: &Outcome) -> (&'static str, &'static str) {
    match o {
        Outcome::Pass => ("pass", "PASS"),
        Outcome::Fail => ("fail", "FAIL"),
        Outcome::Skip(_) => ("skip", "SKIP"),
        Outcome::Waived(_) => ("skip", "WAIVED"),
    }
}

pub(super) fn duration(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 120_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        format!("{}m {:02}s", ms / 60_000, (ms % 60_000) / 1000)
    }
}

pub(super) fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_string(),
    }
}

pub(super) fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_anchors_read_like_the_trial_name() {
        assert_eq!(
            failure_anchor("local", "m/dev/render/lint"),
            "f/local/m/dev/render/lint"
        );
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(999), "999 ms");
        assert_eq!(duration(15_210), "15.2 s");
        assert_eq!(duration(125_000), "2m 05s");
        assert_eq!(clip("héllo", 2), "hé…");
        assert_eq!(clip("hé", 2), "hé");
    }
}
