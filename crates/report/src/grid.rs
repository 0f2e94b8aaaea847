//! The at-a-glance matrix: one row per chart x profile, one column per check
//! kind, grouped by tier in the order a run goes through them.

use std::collections::{BTreeSet, HashMap};

use vitals_checks::record::TrialRecord;
use vitals_checks::Outcome;

use crate::load::Totals;
use crate::order;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Row {
    pub chart: String,
    pub profile: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Column {
    pub tier: String,
    pub check: String,
}

impl Column {
    /// `tier/check`, as the grid's header and the failure groups name it.
    pub fn label(&self) -> String {
        format!("{}/{}", self.tier, self.check)
    }
}

/// What a grid cell shows: red when anything failed, grey when everything
/// was skipped, empty when no trial of that kind ran for the row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Pass,
    Fail,
    Skip,
    Empty,
}

impl State {
    pub fn class(self) -> &'static str {
        match self {
            State::Pass => "pass",
            State::Fail => "fail",
            State::Skip => "skip",
            State::Empty => "empty",
        }
    }
}

pub fn state(t: &Totals) -> State {
    if t.fail > 0 {
        State::Fail
    } else if t.pass > 0 {
        State::Pass
    } else if t.skip > 0 {
        State::Skip
    } else {
        State::Empty
    }
}

#[derive(Debug, Default)]
pub struct Grid {
    pub rows: Vec<Row>,
    pub columns: Vec<Column>,
    counts: HashMap<(usize, usize), Totals>,
}

impl Grid {
    pub fn build<'a>(trials: impl IntoIterator<Item = &'a TrialRecord>) -> Grid {
        let trials: Vec<_> = trials.into_iter().collect();
        // Runs merged from several Kubernetes versions get a row per chart x
        // profile x version (`prod @1.36`); one version keeps one row per
        // chart x profile, its render trials beside its cluster ones.
        let versions: BTreeSet<&str> = trials.iter().filter_map(|t| t.k8s.as_deref()).collect();
        let profile_of = |t: &TrialRecord| match (&t.k8s, versions.len() > 1) {
            (Some(k), true) => format!("{} @{k}", t.profile),
            _ => t.profile.clone(),
        };
        // Sorted by chart, then profile: chart-level trials (profile "-")
        // head their chart's rows because "-" sorts before letters.
        let rows: Vec<Row> = trials
            .iter()
            .map(|t| Row {
                chart: t.chart.clone(),
                profile: profile_of(t),
            })
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        // Tiers in the order the records first show them (a run writes its
        // unit trials first, then render, then the cluster's), so a new
        // tier needs no entry here; checks by name within a tier.
        let tiers = order::merged([trials.iter().map(|t| t.tier.as_str())]);
        let rank = |tier: &str| tiers.iter().position(|t| *t == tier);
        let mut columns: Vec<Column> = trials
            .iter()
            .map(|t| (t.tier.clone(), t.check.clone()))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .map(|(tier, check)| Column { tier, check })
            .collect();
        columns.sort_by(|a, b| (rank(&a.tier), &a.check).cmp(&(rank(&b.tier), &b.check)));

        let row_of: HashMap<(String, String), usize> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| ((r.chart.clone(), r.profile.clone()), i))
            .collect();
        let col_of: HashMap<(&str, &str), usize> = columns
            .iter()
            .enumerate()
            .map(|(i, c)| ((c.tier.as_str(), c.check.as_str()), i))
            .collect();
        let mut counts: HashMap<(usize, usize), Totals> = HashMap::new();
        for t in &trials {
            let r = row_of[&(t.chart.clone(), profile_of(t))];
            let c = col_of[&(t.tier.as_str(), t.check.as_str())];
            counts.entry((r, c)).or_default().add(&t.verdict.outcome);
        }
        Grid {
            rows,
            columns,
            counts,
        }
    }

    pub fn counts(&self, row: usize, col: usize) -> Totals {
        self.counts.get(&(row, col)).copied().unwrap_or_default()
    }

    pub fn row_totals(&self, row: usize) -> Totals {
        (0..self.columns.len()).fold(Totals::default(), |mut acc, c| {
            let t = self.counts(row, c);
            acc.pass += t.pass;
            acc.fail += t.fail;
            acc.skip += t.skip;
            acc.waived += t.waived;
            acc
        })
    }

    /// The tiers in column order with how many columns each spans.
    pub fn tier_spans(&self) -> Vec<(&str, usize)> {
        let mut spans: Vec<(&str, usize)> = Vec::new();
        for c in &self.columns {
            match spans.last_mut() {
                Some((tier, n)) if *tier == c.tier => *n += 1,
                _ => spans.push((&c.tier, 1)),
            }
        }
        spans
    }
}

/// Grid-cell and failure-group ids share this: the anchor a red cell links to.
pub fn cell_anchor(row: &Row, col: &Column) -> String {
    crate::escape::slug(&format!(
        "cell/{}/{}/{}/{}",
        row.chart, row.profile, col.tier, col.check
    ))
}

pub fn is_fail(t: &TrialRecord) -> bool {
    t.verdict.outcome == Outcome::Fail
}

#[cfg(test)]
mod tests {
    use super::*;
    use vitals_checks::Verdict;

    fn rec(chart: &str, profile: &str, tier: &str, check: &str, v: Verdict) -> TrialRecord {
        TrialRecord {
            run: "local".into(),
            name: format!("{chart}/{profile}/{tier}/{check}/{}", v.subject),
            chart: chart.into(),
            profile: profile.into(),
            tier: tier.into(),
            check: check.into(),
            object: v.subject.clone(),
            duration_ms: 1,
            verdict: v,
            k8s: None,
        }
    }

    #[test]
    fn counts_per_row_and_column_with_tiers_in_record_order() {
        let trials = vec![
            rec("m", "-", "unit", "spec", Verdict::pass("a", "", "")),
            rec("m", "dev", "render", "lint", Verdict::pass("a", "", "")),
            rec("m", "prod", "cluster", "probe", Verdict::pass("a", "", "")),
            rec("m", "dev", "render", "openapi", Verdict::pass("a", "", "")),
            rec("m", "dev", "render", "openapi", Verdict::fail("b", "", "")),
            rec("m", "dev", "render", "openapi", Verdict::skip("c", "crd")),
            // A tier no list names still gets its columns, after the others.
            rec(
                "m",
                "dev",
                "availability",
                "drain",
                Verdict::pass("a", "", ""),
            ),
            rec("m", "dev", "cluster", "probe", Verdict::skip("a", "n/a")),
        ];
        let g = Grid::build(&trials);
        let rows: Vec<_> = g.rows.iter().map(|r| r.profile.as_str()).collect();
        assert_eq!(rows, ["-", "dev", "prod"]);
        let cols: Vec<_> = g.columns.iter().map(Column::label).collect();
        assert_eq!(
            cols,
            [
                "unit/spec",
                "render/lint",
                "render/openapi",
                "cluster/probe",
                "availability/drain"
            ]
        );
        assert_eq!(
            g.tier_spans(),
            [
                ("unit", 1),
                ("render", 2),
                ("cluster", 1),
                ("availability", 1)
            ]
        );

        let openapi = g.counts(1, 2);
        assert_eq!((openapi.pass, openapi.fail, openapi.skip), (1, 1, 1));
        assert_eq!(state(&openapi), State::Fail);
        assert_eq!(state(&g.counts(1, 1)), State::Pass);
        assert_eq!(state(&g.counts(1, 3)), State::Skip);
        assert_eq!(state(&g.counts(0, 1)), State::Empty);
        let dev = g.row_totals(1);
        assert_eq!((dev.pass, dev.fail, dev.skip), (3, 1, 2));
    }

    #[test]
    fn runs_of_several_kubernetes_versions_get_a_row_each() {
        let on = |k: &str, v: Verdict| TrialRecord {
            k8s: Some(k.into()),
            ..rec("medplum", "prod", "cluster", "ready", v)
        };
        let one = Grid::build(&[on("1.37", Verdict::pass("a", "ready", "ok"))]);
        assert_eq!(one.rows[0].profile, "prod");
        let two = Grid::build(&[
            on("1.37", Verdict::pass("a", "ready", "ok")),
            on("1.35", Verdict::pass("a", "ready", "ok")),
        ]);
        let profiles: Vec<_> = two.rows.iter().map(|r| r.profile.as_str()).collect();
        assert_eq!(profiles, ["prod @1.35", "prod @1.37"]);
    }
}
