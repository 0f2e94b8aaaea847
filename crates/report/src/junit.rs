//! JUnit XML for CI systems that draw their own test views: one testsuite per
//! chart x profile, so a failing cell reads as one red suite there too.

use std::path::Path;

use vitals_checks::record::TrialRecord;

use crate::error::{write_file, Error};

/// The report for `records` (`vitals_checks::junit`, the runner's shape).
pub fn junit(records: &[TrialRecord]) -> vitals_checks::junit::JunitReport {
    vitals_checks::junit::report(records)
}

/// Writes the JUnit XML of `records` to `path`, creating its directory.
pub fn write_junit(records: &[TrialRecord], path: &Path) -> Result<(), Error> {
    let xml = junit(records).to_string().map_err(|source| Error::Junit {
        path: path.to_path_buf(),
        source,
    })?;
    write_file(path, xml.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use quick_junit::{NonSuccessKind, Report, TestCaseStatus};
    use std::time::Duration;
    use vitals_checks::{Evidence, Verdict};

    fn rec(name: &str, v: Verdict) -> TrialRecord {
        let parts: Vec<&str> = name.split('/').collect();
        TrialRecord {
            run: "local".into(),
            name: name.into(),
            chart: parts[0].into(),
            profile: parts[1].into(),
            tier: parts[2].into(),
            check: parts[3].into(),
            object: String::new(),
            duration_ms: 1500,
            verdict: v,
            k8s: None,
        }
    }

    fn records() -> Vec<TrialRecord> {
        vec![
            rec("m/dev/render/lint", Verdict::pass("m", "lints", "ok")),
            rec(
                "m/dev/render/resources/web",
                Verdict::fail("Deployment/web", "limits set", "1 problem <&>").with_evidence(
                    Evidence::Command {
                        argv: "helm lint".into(),
                        exit: 1,
                        stderr: "Error: <bad> & \"worse\"".into(),
                    },
                ),
            ),
            rec(
                "m/dev/render/openapi/crd",
                Verdict::skip("X", "CRD-only kind"),
            ),
            rec(
                "m/prod/cluster/probe/web",
                Verdict::fail("web", "ready", "503"),
            ),
            rec("m/-/unit/spec", Verdict::pass("m", "", "")),
        ]
    }

    #[test]
    fn one_suite_per_chart_and_profile_with_failures_and_skips_counted() {
        let xml = junit(&records()).to_string().unwrap();
        let back = Report::deserialize_from_str(&xml).unwrap();
        assert_eq!(
            (back.tests, back.failures, back.errors, back.skipped),
            (5, 2, 0, 1)
        );
        let names: Vec<_> = back.test_suites.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["m/-", "m/dev", "m/prod"]);
        let dev = &back.test_suites[1];
        assert_eq!((dev.tests, dev.failures, dev.skipped), (3, 1, 1));
        assert_eq!(dev.time, Some(Duration::from_millis(4500)));

        let failed = &dev.test_cases[1];
        assert_eq!(failed.name.as_str(), "m/dev/render/resources/web");
        assert_eq!(
            failed.classname.as_ref().map(|c| c.as_str()),
            Some("m.dev.render")
        );
        match &failed.status {
            TestCaseStatus::NonSuccess {
                kind,
                message,
                description,
                ..
            } => {
                assert_eq!(*kind, NonSuccessKind::Failure);
                assert_eq!(message.as_ref().unwrap().as_str(), "1 problem <&>");
                let body = description.as_ref().unwrap().as_str();
                assert!(body.starts_with("Deployment/web: FAILED\n"), "{body}");
                assert!(body.contains("$ helm lint  (exit 1)"), "{body}");
                assert!(body.contains("Error: <bad> & \"worse\""), "{body}");
            }
            other => panic!("{other:?}"),
        }
        match &dev.test_cases[2].status {
            TestCaseStatus::Skipped { message, .. } => {
                assert_eq!(message.as_ref().unwrap().as_str(), "CRD-only kind")
            }
            other => panic!("{other:?}"),
        }
        // Escaped on the way out, not only round-tripped.
        assert!(xml.contains("1 problem &lt;&amp;&gt;"), "{xml}");
    }

    #[test]
    fn writes_the_file_creating_its_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deep/junit.xml");
        write_junit(&records(), &path).unwrap();
        let xml = std::fs::read_to_string(&path).unwrap();
        assert!(
            xml.contains(r#"<testsuites name="vitals" tests="5" skipped="1" failures="2""#),
            "{xml}"
        );
        assert_eq!(xml.matches("<skipped").count(), 1);
    }
}
