//! JUnit XML for CI systems that draw their own test views: one testsuite per
//! chart x profile, so a failing cell reads as one red suite there too. One
//! shape for the runner's `junit-run.xml` and the report's merged
//! `junit.xml`, so both are built here, beside the record they read.

use std::collections::BTreeMap;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
pub use quick_junit::{Report as JunitReport, SerializeError};

use crate::record::TrialRecord;
use crate::Outcome;

/// The report for `records`, suites in chart, profile order and trials in the
/// order given.
pub fn report(records: &[TrialRecord]) -> Report {
    let mut suites: BTreeMap<(&str, &str), TestSuite> = BTreeMap::new();
    for r in records {
        let suite = suites
            .entry((&r.chart, &r.profile))
            .or_insert_with(|| TestSuite::new(format!("{}/{}", r.chart, r.profile)));
        suite.add_test_case(case(r));
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
