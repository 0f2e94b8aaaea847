//! Every probe in the rendered spec answers as the kubelet expects, within
//! the probe's own timeoutSeconds, asked the way the kubelet asks: from the
//! node (HTTP through the API server's pod proxy, TCP through a port-forward
//! from the pod's network namespace), or exec'd in the container. The
//! measured latency is in the evidence, so a probe that passes only just is
//! visible before it flaps in production.

use std::time::{Duration, Instant};

use http::Request;
use k8s_openapi::api::core::v1::Pod;
use kube::{Api, Client};
use serde_json::Value;

use super::chain;
use super::cx::CheckCx;
use super::exec::InPod;
use crate::verdict::{Evidence, Verdict};
use crate::Manifests;

/// The probe kinds of a container, in the order their trials are listed.
const KINDS: [&str; 3] = ["livenessProbe", "readinessProbe", "startupProbe"];

/// One probe trial: a probe of one app container of a long-running
/// workload, asked of one of the workload's pods.
#[derive(Debug, Clone)]
pub struct ProbeTrial {
    pub workload: String,
    /// The workload's pod selector: which pod to ask.
    pub selector: Value,
    pub spec: ProbeSpec,
}

impl ProbeTrial {
    /// The `<object>` of `cluster/probe/<object>`:
    /// `<workload>/<container>/<liveness|readiness|startup>`.
    pub fn name(&self) -> String {
        format!(
            "{}/{}/{}",
            self.workload,
            self.spec.container,
            self.spec.kind.trim_end_matches("Probe")
        )
    }
}

/// Every probe of every app container (init containers are not probed)
/// of the Deployments, StatefulSets and DaemonSets.
pub fn derive(m: &Manifests) -> Vec<ProbeTrial> {
    let mut out = Vec::new();
    for w in m.workloads().filter(|w| w.is_long_running()) {
        for c in w.containers().into_iter().filter(|c| !c.init) {
            for kind in KINDS {
                let Some(probe) = c.spec.get(kind).filter(|p| p.is_object()).cloned() else {
                    continue;
                };
                out.push(ProbeTrial {
                    workload: w.object.name.clone(),
                    selector: w.selector(),
                    spec: ProbeSpec {
                        container: c.name.clone(),
                        kind: kind.into(),
                        probe,
                        ports: c.ports(),
                    },
                });
            }
        }
    }
    out
}

/// Asks the probe of the first live pod of its workload.
pub async fn judge(t: &ProbeTrial, cx: &CheckCx<'_>) -> Verdict {
    match cx.live_pod(&t.selector) {
        Some(p) => check(cx.client, cx.namespace, &p, &t.spec).await,
        None => Verdict::fail(
            &t.spec.container,
            "a pod to probe",
            "no pod of the workload exists",
        ),
    }
}

/// Why a probe could not be asked, or how its asking failed.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("building the request {uri}")]
    Request {
        uri: String,
        #[source]
        source: http::Error,
    },
    #[error("GET {path} on port {port}: no answer")]
    NoAnswer { path: String, port: i64 },
    #[error("GET {path} on port {port}")]
    Send {
        path: String,
        port: i64,
        #[source]
        source: kube::Error,
    },
    #[error("port-forward to port {port}")]
    Forward {
        port: u16,
        #[source]
        source: kube::Error,
    },
    #[error("port-forward to port {port} opened no stream")]
    NoStream { port: u16 },
    /// The kubelet's own words on the port-forward's error channel.
    #[error("{0}")]
    Refused(String),
}

/// One probe to check, from the rendered container spec.
#[derive(Debug, Clone)]
pub struct ProbeSpec {
    pub container: String,
    pub kind: String, // livenessProbe | readinessProbe | startupProbe
    pub probe: Value,
    pub ports: Vec<(Option<String>, i64)>,
}

fn resolve_port(p: &ProbeSpec, port: &Value) -> Option<i64> {
    match port {
        Value::Number(n) => n.as_i64(),
        Value::String(name) => p
            .ports
            .iter()
            .find(|(n, _)| n.as_deref() == Some(name))
            .map(|(_, n)| *n),
        _ => None,
    }
}

async fn http_via_proxy(
    client: &Client,
    ns: &str,
    pod: &str,
    scheme: &str,
    port: i64,
    path: &str,
    timeout: Duration,
) -> Result<(u16, Duration), ProbeError> {
    let prefix = if scheme.eq_ignore_ascii_case("HTTPS") {
        "https:"
    } else {
        ""
    };
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    let uri = format!("/api/v1/namespaces/{ns}/pods/{prefix}{pod}:{port}/proxy{path}");
    let req = Request::get(&uri)
        .body(Vec::new())
        .map_err(|source| ProbeError::Request {
            uri: uri.clone(),
            source,
        })?;
    let start = Instant::now();
    let res = tokio::time::timeout(
        timeout + Duration::from_secs(5),
        client.send(req.map(Into::into)),
    )
    .await
    .map_err(|_| ProbeError::NoAnswer {
        path: path.clone(),
        port,
    })?
    .map_err(|source| ProbeError::Send {
        path: path.clone(),
        port,
        source,
    })?;
    Ok((res.status().as_u16(), start.elapsed()))
}

/// Checks one probe on one pod.
pub async fn check(client: &Client, ns: &str, pod: &Pod, p: &ProbeSpec) -> Verdict {
    let pod_name = pod.metadata.name.clone().unwrap_or_default();
    let subject = format!("Pod {pod_name} container `{}` {}", p.container, p.kind);
    let timeout = Duration::from_secs(
        p.probe
            .get("timeoutSeconds")
            .and_then(Value::as_u64)
            .unwrap_or(1),
    );
    if let Some(h) = p.probe.get("httpGet") {
        let path = h.get("path").and_then(Value::as_str).unwrap_or("/");
        let scheme = h.get("scheme").and_then(Value::as_str).unwrap_or("HTTP");
        let Some(port) = h.get("port").and_then(|v| resolve_port(p, v)) else {
            return Verdict::fail(
                subject,
                "the probe's port is declared",
                format!("port {:?} is not a declared containerPort", h.get("port")),
            );
        };
        let expected = format!(
            "GET {path} on :{port} answers 200-399 within {}s",
            timeout.as_secs()
        );
        return match http_via_proxy(client, ns, &pod_name, scheme, port, path, timeout).await {
            Ok((status, took)) => {
                let observed = format!("{status} in {}ms", took.as_millis());
                let ok = (200..400).contains(&status) && took <= timeout;
                let mut v = if ok {
                    Verdict::pass(&subject, expected, observed)
                } else {
                    Verdict::fail(&subject, expected, observed)
                };
                if took > timeout {
                    v = v.with_hint(format!("the answer took longer than timeoutSeconds ({}s): the kubelet counts that as a failure", timeout.as_secs()));
                }
                v
            }
            Err(e) => Verdict::fail(subject, expected, chain(&e)),
        };
    }
    if let Some(t) = p.probe.get("tcpSocket") {
        let Some(port) = t.get("port").and_then(|v| resolve_port(p, v)) else {
            return Verdict::fail(
                subject,
                "the probe's port is declared",
                format!("port {:?} is not a declared containerPort", t.get("port")),
            );
        };
        let expected = format!(
            "TCP :{port} accepts a connection within {}s",
            timeout.as_secs()
        );
        let api: Api<Pod> = Api::namespaced(client.clone(), ns);
        let start = Instant::now();
        let port16 = port as u16;
        let attempt = async {
            let mut pf = api
                .portforward(&pod_name, &[port16])
                .await
                .map_err(|source| ProbeError::Forward {
                    port: port16,
                    source,
                })?;
            let _stream = pf
                .take_stream(port16)
                .ok_or(ProbeError::NoStream { port: port16 })?;
            let err = pf.take_error(port16);
            // The kubelet dials the port as soon as the stream opens; a
            // refusal comes back on the error channel at once.
            let refused = match err {
                Some(e) => tokio::time::timeout(Duration::from_millis(1500), e)
                    .await
                    .ok()
                    .flatten(),
                None => None,
            };
            pf.abort();
            match refused {
                Some(msg) => Err(ProbeError::Refused(msg)),
                None => Ok(()),
            }
        };
        return match tokio::time::timeout(timeout + Duration::from_secs(10), attempt).await {
            Ok(Ok(())) => Verdict::pass(
                subject,
                expected,
                format!("accepted (checked in {}ms)", start.elapsed().as_millis()),
            ),
            Ok(Err(e)) => Verdict::fail(subject, expected, chain(&e)),
            Err(_) => Verdict::fail(subject, expected, "no answer"),
        };
    }
    if let Some(cmd) = p.probe.pointer("/exec/command").and_then(Value::as_array) {
        let argv: Vec<String> = cmd
            .iter()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect();
        let expected = format!("`{}` exits 0 within {}s", argv.join(" "), timeout.as_secs());
        let at = InPod {
            client,
            namespace: ns,
            pod: &pod_name,
            container: Some(&p.container),
        };
        return match at.exec(&argv, timeout + Duration::from_secs(10)).await {
            Ok(out) => {
                // Over the limit: was it the command, or the exec path (API
                // server, kubelet, runc) on a busy node? A no-op through the
                // same path tells, where the probe runs a shell.
                let overhead = if out.exit == 0 && out.elapsed > timeout + EXEC_SLACK {
                    match noop_for(&argv) {
                        Some(noop) => at
                            .exec(&noop, timeout + Duration::from_secs(10))
                            .await
                            .ok()
                            .filter(|o| o.exit == 0)
                            .map(|o| o.elapsed),
                        None => None,
                    }
                } else {
                    None
                };
                let (ok, observed) = judge_exec(out.exit, out.elapsed, overhead, timeout);
                if ok {
                    Verdict::pass(subject, expected, observed)
                } else {
                    Verdict::fail(&subject, expected, observed).with_evidence(Evidence::Command {
                        argv: argv.join(" "),
                        exit: out.exit,
                        stderr: format!("{}{}", out.stdout, out.stderr),
                    })
                }
            }
            Err(e) => Verdict::fail(subject, expected, e.to_string()),
        };
    }
    Verdict::skip(subject, "grpc probes are not checked yet")
}

/// What an exec is allowed over timeoutSeconds for its round trip through
/// the API server when nothing was measured.
const EXEC_SLACK: Duration = Duration::from_secs(1);

/// A command that does nothing in the probe's own shell, to time the exec
/// path alone; none when the probe does not run a shell.
fn noop_for(argv: &[String]) -> Option<Vec<String>> {
    let first = argv.first()?;
    let shell = matches!(
        first.rsplit('/').next(),
        Some("sh" | "bash" | "ash" | "dash")
    );
    (shell && argv.get(1).map(String::as_str) == Some("-c"))
        .then(|| vec![first.clone(), "-c".into(), ":".into()])
}

/// An exec probe passes when it exits 0 within timeoutSeconds: its own time
/// is the exec's minus what a no-op through the same path took, when that
/// was measured, else the exec's with [`EXEC_SLACK`] for the round trip.
fn judge_exec(
    exit: i32,
    took: Duration,
    overhead: Option<Duration>,
    timeout: Duration,
) -> (bool, String) {
    let mut observed = format!("exit {exit} in {}ms", took.as_millis());
    let ok = match overhead {
        Some(o) => {
            let own = took.saturating_sub(o);
            observed.push_str(&format!(
                "; a no-op through the same exec path took {}ms, so the command itself ~{}ms",
                o.as_millis(),
                own.as_millis()
            ));
            own <= timeout
        }
        None => took <= timeout + EXEC_SLACK,
    };
    (exit == 0 && ok, observed)
}

#[cfg(test)]
mod exec_timing_tests {
    use super::*;

    const FIVE: Duration = Duration::from_secs(5);

    #[test]
    fn a_slow_exec_path_is_not_charged_to_the_command() {
        let (ok, seen) = judge_exec(
            0,
            Duration::from_millis(6326),
            Some(Duration::from_millis(5100)),
            FIVE,
        );
        assert!(ok, "{seen}");
        assert!(seen.contains("the command itself ~1226ms"), "{seen}");
    }

    #[test]
    fn a_slow_command_still_fails() {
        let (ok, seen) = judge_exec(
            0,
            Duration::from_millis(9000),
            Some(Duration::from_millis(300)),
            FIVE,
        );
        assert!(!ok, "{seen}");
        let (ok, _) = judge_exec(0, Duration::from_millis(6500), None, FIVE);
        assert!(!ok, "unmeasured: only a second of slack");
    }

    #[test]
    fn a_failing_command_fails_however_fast() {
        assert!(!judge_exec(1, Duration::from_millis(10), None, FIVE).0);
    }

    #[test]
    fn only_a_shell_probe_gets_a_noop() {
        let argv = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            noop_for(&argv(&["/bin/sh", "-c", "pg_isready"])),
            Some(argv(&["/bin/sh", "-c", ":"]))
        );
        assert_eq!(noop_for(&argv(&["pg_isready", "-h", "x"])), None);
        assert_eq!(noop_for(&argv(&["/bin/sh", "/probe.sh"])), None);
    }
}

#[cfg(test)]
mod derive_tests {
    use super::*;

    #[test]
    fn each_probe_of_each_app_container_is_a_trial_named_by_its_short_kind() {
        let m = Manifests::parse(
            r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: api}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      initContainers:
        - name: wait
          readinessProbe: {tcpSocket: {port: 1}}
      containers:
        - name: server
          ports: [{name: http, containerPort: 8080}]
          startupProbe: {httpGet: {path: /up, port: http}}
          livenessProbe: {httpGet: {path: /live, port: http}}
          readinessProbe: {httpGet: {path: /ready, port: http}}
---
apiVersion: batch/v1
kind: Job
metadata: {name: migrate}
spec:
  template:
    spec:
      containers:
        - name: m
          livenessProbe: {exec: {command: [true]}}
"#,
        )
        .unwrap();
        let trials = derive(&m);
        let names: Vec<String> = trials.iter().map(ProbeTrial::name).collect();
        assert_eq!(
            names,
            [
                "api/server/liveness",
                "api/server/readiness",
                "api/server/startup"
            ]
        );
        assert_eq!(trials[0].spec.ports, [(Some("http".into()), 8080)]);
        assert_eq!(
            trials[0].selector,
            serde_json::json!({"matchLabels": {"app": "api"}})
        );
    }
}
