//! Running a command in a container (the client pod's agent, a probe's exec
//! command, a shell in a data service) and reading its output and exit.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::api::AttachParams;
use kube::{Api, Client};
use tokio::io::AsyncReadExt;

#[derive(Debug, Clone)]
pub struct ExecOutput {
    pub stdout: String,
    pub stderr: String,
    pub exit: i32,
    pub elapsed: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("exec `{argv}` in pod {pod}: {source}")]
    Kube {
        pod: String,
        argv: String,
        #[source]
        source: kube::Error,
    },
    #[error("exec `{argv}` in pod {pod}: no answer within {secs}s")]
    Timeout {
        pod: String,
        argv: String,
        secs: u64,
    },
}

/// A container to run commands in: the client pod's agent, a probe's own
/// container, a shell in a data service.
#[derive(Clone, Copy)]
pub struct InPod<'a> {
    pub client: &'a Client,
    pub namespace: &'a str,
    pub pod: &'a str,
    /// None: the pod's first container, as `kubectl exec` does.
    pub container: Option<&'a str>,
}

impl InPod<'_> {
    /// Runs `argv` with a deadline.
    pub async fn exec(&self, argv: &[String], timeout: Duration) -> Result<ExecOutput, ExecError> {
        exec(self, argv, timeout).await
    }

    /// Runs an agent subcommand that only looks (dns, tcp, http-get) and
    /// reads its report. The agent prints its one JSON line whatever its
    /// exit, so an exec whose stdout came back empty lost it between the
    /// container and us: a whole-matrix run failed a DNS trial on "no
    /// report (exit 0)" while the two other names of the same Service
    /// resolved. Such a probe runs once more; a second empty answer is
    /// reported as it is.
    pub async fn agent(
        &self,
        argv: &[String],
        timeout: Duration,
    ) -> Result<(ExecOutput, Option<vitals_agent::report::Report>), ExecError> {
        let mut out = self.exec(argv, timeout).await?;
        if out.stdout.trim().is_empty() {
            out = self.exec(argv, timeout).await?;
        }
        let report = agent_report(&out);
        Ok((out, report))
    }
}

async fn exec(at: &InPod<'_>, argv: &[String], timeout: Duration) -> Result<ExecOutput, ExecError> {
    let (pod, container) = (at.pod, at.container);
    let api: Api<Pod> = Api::namespaced(at.client.clone(), at.namespace);
    let joined = argv.join(" ");
    let mut ap = AttachParams::default()
        .stdout(true)
        .stderr(true)
        .stdin(false);
    if let Some(c) = container {
        ap = ap.container(c);
    }
    let start = Instant::now();
    let run = async {
        let mut proc =
            api.exec(pod, argv.to_vec(), &ap)
                .await
                .map_err(|source| ExecError::Kube {
                    pod: pod.into(),
                    argv: joined.clone(),
                    source,
                })?;
        let mut out = String::new();
        let mut err = String::new();
        let status = proc.take_status();
        if let Some(mut s) = proc.stdout() {
            let _ = s.read_to_string(&mut out).await;
        }
        if let Some(mut s) = proc.stderr() {
            let _ = s.read_to_string(&mut err).await;
        }
        let status = match status {
            Some(f) => f.await,
            None => None,
        };
        let _ = proc.join().await;
        // A failure without an exit code (the container is gone, the
        // command does not exist) only says why in the status message.
        if let Some(m) = status
            .as_ref()
            .filter(|st| st.status.as_deref() != Some("Success"))
            .and_then(|st| st.message.as_deref())
            .filter(|_| err.trim().is_empty())
        {
            err = m.to_string();
        }
        let exit = match status {
            Some(st) if st.status.as_deref() == Some("Success") => 0,
            Some(st) => st
                .details
                .and_then(|d| d.causes)
                .into_iter()
                .flatten()
                .find(|c| c.reason.as_deref() == Some("ExitCode"))
                .and_then(|c| c.message)
                .and_then(|m| m.parse().ok())
                .unwrap_or(-1),
            None => -1,
        };
        Ok(ExecOutput {
            stdout: out,
            stderr: err,
            exit,
            elapsed: start.elapsed(),
        })
    };
    tokio::time::timeout(timeout, run)
        .await
        .unwrap_or_else(|_| {
            Err(ExecError::Timeout {
                pod: pod.into(),
                argv: joined,
                secs: timeout.as_secs(),
            })
        })
}

/// The agent's one JSON line, typed.
pub fn agent_report(out: &ExecOutput) -> Option<vitals_agent::report::Report> {
    out.stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l.trim()).ok())
}
