//! The JUnit sink: this process's trials as `junit-run.xml`, for CI
//! systems that draw their own test views. One testsuite per chart x
//! profile, so a failing cell reads as one red suite there too; the same
//! shape `make report` gives the merged `junit.xml` of many runs.

use std::path::PathBuf;
use std::sync::Mutex;

use vitals_checks::record::TrialRecord;

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
        let xml = vitals_checks::junit::report(&records)
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
