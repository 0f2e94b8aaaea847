//! The JUnit sink: this process's trials as `junit-run.xml`, for CI
//! systems that draw their own test views. One testsuite per chart x
//! profile, so a failing cell reads as one red suite there too; the same
//! shape `make report` gives the merged `junit.xml` of many runs.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use vitals_checks::record::TrialRecord;
use vitals_checks::Outcome;

use super::{RunEvent, Sink, SinkError};

/// Collects every trial's record and writes the file when the run ends.
pub struct Junit {
    path: PathBuf,
    records: Mutex<Vec<TrialRecord>>,
}

impl Junit {
    pub fn new(path: PathBuf) -> Junit {
        Junit {
            path,
            records: Mutex::default(),
        }
    }

    fn write(&self) -> Result<(), SinkError> {
        let records = self.records.lock().map(|r| r.clone()).unwrap_or_default();
        let xml = report(&records)
            .to_string()
            .map_err(|source| SinkError::Junit {
                path: self.path.clone(),
                source,
            })?;
        let write = |e| SinkError::Write {
            path: self.path.clone(),
            source: e,
        };
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(write)?;
        }
        std::fs::write(&self.path, xml).map_err(write)
    }
}

impl Sink for Junit {
    fn name(&self) -> &'static str {
        "JUnit"
    }

    fn on(&self, event: &RunEvent<'_>) -> Result<(), SinkError> {
        match event {
            RunEvent::TrialFinished { record } | RunEvent::TrialIgnored { record } => {
                if let Ok(mut r) = self.records.lock() {
                    r.push((*record).clone());
                }
                Ok(())
            }
            RunEvent::RunFinished => self.write(),
            _ => Ok(()),
        }
    }
}

/// The report for `records`: suites in chart, profile order, trials in the
/// order they ended.
fn report(records: &[TrialRecord]) -> Report {
    let mut suites: BTreeMap<(&str, &str), TestSuite> = BTreeMap::new();
    for r in records {
        suites
            .entry((&r.chart, &r.profile))
            .or_insert_with(|| TestSuite::new(format!("{}/{}", r.chart, r.profile)))
            .add_test_case(case(r));
    }
    let mut report = Report::new("vitals");
    report.set_timestamp(chrono::Utc::now().fixed_offset());
    for (_, mut suite) in suites {
        let total: Duration = suite.test_cases.iter().filter_map(|c| c.time).sum();
        suite.set_time(total);
        report.add_test_suite(suite);
    }
    report
}

fn case(r: &TrialRecord) -> TestCase {
    let v = &r.verdict;
    let status = match &v.outcome {
        Outcome::Pass => TestCaseStatus::success(),
        Outcome::Fail => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(&v.observed)
                .set_type(&r.check)
                .set_description(v.to_string());
            s
        }
        Outcome::Skip(reason) => {
            let mut s = TestCaseStatus::skipped();
            s.set_message(reason);
            s
        }
        // JUnit has no "waived": a skip whose message says so, and why.
        Outcome::Waived(reason) => {
            let mut s = TestCaseStatus::skipped();
            s.set_message(format!("waived: {reason}"))
                .set_type("waived")
                .set_description(v.to_string());
            s
        }
    };
    let mut case = TestCase::new(&r.name, status);
    case.set_classname(format!("{}.{}.{}", r.chart, r.profile, r.tier))
        .set_time(Duration::from_millis(r.duration_ms));
    case
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use vitals_checks::Verdict;

    pub(crate) fn rec(name: &str, v: Verdict) -> TrialRecord {
        let parts: Vec<&str> = name.split('/').collect();
        TrialRecord {
            run: "local".into(),
            name: name.into(),
            chart: parts[0].into(),
            profile: parts[1].into(),
            tier: parts[2].into(),
            check: parts.get(3).unwrap_or(&"").to_string(),
            object: String::new(),
            duration_ms: 1500,
            verdict: v,
            k8s: None,
        }
    }

    #[test]
    fn the_file_has_one_suite_per_cell_with_failures_skips_and_ignored_trials() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e2e/junit-run.xml");
        let sink = Junit::new(path.clone());
        let pass = rec("m/dev/render/lint", Verdict::pass("m", "lints", "ok"));
        let fail = rec(
            "m/dev/render/resources/web",
            Verdict::fail("web", "limits", "<&>"),
        );
        let waived = rec(
            "m/prod/render/x",
            Verdict::pass("m", "", "").waived("later"),
        );
        let ignored = rec(
            "m/prod/upgrade/install",
            Verdict::skip("m/prod", "no release"),
        );
        for r in [&pass, &fail, &waived] {
            sink.on(&RunEvent::TrialFinished { record: r }).unwrap();
        }
        sink.on(&RunEvent::TrialIgnored { record: &ignored })
            .unwrap();
        assert!(!path.exists(), "written only when the run ends");
        sink.on(&RunEvent::RunFinished).unwrap();
        let xml = std::fs::read_to_string(&path).unwrap();
        assert!(
            xml.contains(
                r#"<testsuites name="vitals" tests="4" skipped="2" failures="1" errors="0""#
            ),
            "{xml}"
        );
        assert!(
            xml.contains(
                r#"<testsuite name="m/dev" tests="2" skipped="0" errors="0" failures="1" time="3.000""#
            ),
            "{xml}"
        );
        assert!(xml.contains(r#"classname="m.prod.upgrade""#), "{xml}");
        assert!(xml.contains("message=\"waived: later\""), "{xml}");
        assert!(xml.contains("&lt;&amp;&gt;"), "{xml}");
    }
}
