//! `cluster/helm-test`: every `helm test` hook pod of the release succeeds.
//! One trial per cell: helm itself finds the test hooks (none is a pass).
//! The runner runs `Helm::test` (with the hook pods' logs and a deadline)
//! and judges its outcome here.

use crate::verdict::{Evidence, Verdict};
use crate::Manifests;

/// The release's `helm test`; its name is the kind's alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelmTestSpec;

impl HelmTestSpec {
    /// The `<object>` of `cluster/helm-test`: none.
    pub fn name(&self) -> String {
        String::new()
    }
}

/// One trial per cell, whatever the manifests hold.
pub fn derive(_m: &Manifests) -> Vec<HelmTestSpec> {
    vec![HelmTestSpec]
}

const EXPECTED: &str = "every test hook pod succeeds";

/// The verdict of one `helm test` run: its exit, and on failure what helm
/// and the test pods printed.
pub fn judge(run: Result<vitals_helm::TestRun, vitals_helm::Error>) -> Verdict {
    match run {
        Ok(r) if r.passed() => Verdict::pass("helm test", EXPECTED, "passed"),
        Ok(r) => Verdict::fail("helm test", EXPECTED, format!("exit {}", r.exit)).with_evidence(
            Evidence::Command {
                argv: r.argv,
                exit: r.exit,
                stderr: r.output,
            },
        ),
        Err(e) => Verdict::fail("helm test", EXPECTED, e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(exit: i32, output: &str) -> Result<vitals_helm::TestRun, vitals_helm::Error> {
        Ok(vitals_helm::TestRun {
            argv: "helm test medplum --namespace medplum-dev --logs".into(),
            exit,
            output: output.into(),
        })
    }

    #[test]
    fn a_failed_test_pod_fails_with_its_logs_as_evidence() {
        let v = judge(run(1, "POD LOGS: medplum-test\ncurl: (7) refused"));
        assert!(v.failed());
        assert_eq!(v.observed, "exit 1");
        let logs = format!("{:?}", v.evidence);
        assert!(logs.contains("curl: (7) refused"), "{logs}");
        assert!(
            logs.contains("helm test medplum --namespace medplum-dev"),
            "{logs}"
        );
    }

    #[test]
    fn a_clean_exit_passes_and_helm_missing_fails() {
        assert!(!judge(run(0, "")).failed());
        let v = judge(Err(vitals_helm::Error::NotFound {
            tried: "`helm` (E2E_HELM, then PATH)".into(),
        }));
        assert!(v.failed());
        assert!(v.to_string().contains("helm not found"), "{v}");
    }
}
