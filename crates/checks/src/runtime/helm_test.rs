//! `cluster/helm-test`: every `helm test` hook pod of the release succeeds.
//! One trial per cell: helm itself finds the test hooks (none is a pass).
//! The runner runs helm with [`args`] and judges its output here.

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

/// `helm test` for the release, with each test pod's logs (the evidence
/// of a failure) and a deadline; the caller adds `--kubeconfig <file>`.
pub fn args(release: &str, namespace: &str) -> Vec<String> {
    [
        "test",
        release,
        "-n",
        namespace,
        "--logs",
        "--timeout",
        "5m",
        "--kubeconfig",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

const EXPECTED: &str = "every test hook pod succeeds";

/// The verdict of one `helm test` run: its exit, and on failure what helm
/// and the test pods printed.
pub fn judge(out: std::io::Result<std::process::Output>) -> Verdict {
    match out {
        Ok(o) if o.status.success() => Verdict::pass("helm test", EXPECTED, "passed"),
        Ok(o) => {
            let exit = o.status.code().unwrap_or(-1);
            Verdict::fail("helm test", EXPECTED, format!("exit {exit}")).with_evidence(
                Evidence::Command {
                    argv: "helm test --logs".into(),
                    exit,
                    stderr: format!(
                        "{}{}",
                        String::from_utf8_lossy(&o.stdout),
                        String::from_utf8_lossy(&o.stderr)
                    ),
                },
            )
        }
        Err(e) => Verdict::fail("helm test", EXPECTED, e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;
    use std::process::{ExitStatus, Output};

    fn output(code: i32, stdout: &str) -> std::io::Result<Output> {
        Ok(Output {
            status: ExitStatus::from_raw(code << 8),
            stdout: stdout.into(),
            stderr: Vec::new(),
        })
    }

    #[test]
    fn a_failed_test_pod_fails_with_its_logs_as_evidence() {
        let v = judge(output(1, "POD LOGS: medplum-test\ncurl: (7) refused"));
        assert!(v.failed());
        assert_eq!(v.observed, "exit 1");
        let logs = format!("{:?}", v.evidence);
        assert!(logs.contains("curl: (7) refused"), "{logs}");
    }

    #[test]
    fn a_clean_exit_passes_and_helm_missing_fails() {
        assert!(!judge(output(0, "")).failed());
        let v = judge(Err(std::io::Error::from(std::io::ErrorKind::NotFound)));
        assert!(v.failed());
    }

    #[test]
    fn helm_is_asked_for_the_logs_of_the_release_in_its_namespace() {
        assert_eq!(
            args("medplum", "medplum-dev")[..4],
            ["test", "medplum", "-n", "medplum-dev"].map(String::from)
        );
        assert_eq!(
            args("r", "n").last().map(String::as_str),
            Some("--kubeconfig")
        );
    }
}
