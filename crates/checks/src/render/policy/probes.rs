//! Long-running containers have liveness and readiness probes, and every
//! probe (on any container) that names its port names one the container
//! declares: the kubelet cannot resolve an unknown port name, so the probe
//! fails forever and restarts a healthy pod. A numbered port need not be
//! listed under `ports` (Kubernetes does not require it; the list is
//! informational), so it is not judged here.

use serde_json::Value;

use super::{per_workload, PolicyCx};
use crate::verdict::{Finding, Verdict};
use crate::Container;

const PROBES: [&str; 3] = ["livenessProbe", "readinessProbe", "startupProbe"];

/// A probe's port problem, if its handler names a port the container lacks.
fn port_problem(c: &Container<'_>, probe: &Value) -> Option<(String, String)> {
    let ports = c.ports();
    for handler in ["httpGet", "tcpSocket", "grpc"] {
        let Some(port) = probe.get(handler).and_then(|h| h.get("port")) else {
            continue;
        };
        let ok = match port {
            // A number (or a numeric string, as IntOrString allows) is
            // probed as it is, listed or not.
            Value::String(name) => {
                name.parse::<u16>().is_ok() || ports.iter().any(|(n, _)| n.as_deref() == Some(name))
            }
            Value::Number(_) => true,
            _ => false,
        };
        if !ok {
            let declared: Vec<String> = ports
                .iter()
                .map(|(n, p)| n.as_ref().map_or(p.to_string(), |n| format!("{n}={p}")))
                .collect();
            return Some((
                format!("{handler}.port"),
                format!(
                    "port {port} is not declared on the container (declared: {}), so the kubelet cannot resolve the name",
                    if declared.is_empty() {
                        "none".into()
                    } else {
                        declared.join(", ")
                    }
                ),
            ));
        }
    }
    None
}

pub fn check(cx: &PolicyCx<'_>) -> Vec<(String, Verdict)> {
    per_workload(
        cx,
        |_| true,
        |w| {
            let mut findings = Vec::new();
            for c in w.containers() {
                // Init containers and Jobs finish by design; a sidecar declared
                // as an init container with restartPolicy Always serves and is
                // probed like an app container.
                let sidecar =
                    c.init && c.spec.get("restartPolicy").and_then(Value::as_str) == Some("Always");
                if w.is_long_running() && (!c.init || sidecar) {
                    for p in ["livenessProbe", "readinessProbe"] {
                        if c.spec.get(p).is_none_or(Value::is_null) {
                            findings.push(Finding {
                            object: c.label(),
                            field: format!("{}.{p}", c.path),
                            problem: "missing".into(),
                            fix: format!(
                                "add a {} probe on the app's health endpoint (an httpGet on a named port, or exec/tcpSocket)",
                                if p == "livenessProbe" { "liveness" } else { "readiness" }
                            ),
                        });
                        }
                    }
                }
                for p in PROBES {
                    if let Some(probe) = c.spec.get(p).filter(|v| v.is_object()) {
                        if let Some((field, problem)) = port_problem(&c, probe) {
                            findings.push(Finding {
                            object: c.label(),
                            field: format!("{}.{p}.{field}", c.path),
                            problem,
                            fix: "point the probe at a named containerPort, or declare the port under `ports` with that name (or give its number)".into(),
                        });
                        }
                    }
                }
            }
            Verdict::from_findings(
                w.object.id().to_string(),
                "long-running containers have liveness and readiness probes, and named probe ports exist",
                findings,
            )
        },
    )
}

#[cfg(test)]
mod tests {
    use super::super::testing::{deployment, only};
    use super::*;

    #[test]
    fn a_probe_on_an_undeclared_port_names_the_declared_ones() {
        let v = only(check, &deployment("      - name: app\n        image: a:1\n        ports: [{name: http, containerPort: 8080}]\n        livenessProbe: {httpGet: {path: /health, port: metrics}}\n        readinessProbe: {httpGet: {path: /ready, port: 8080}}\n"));
        assert!(v.failed());
        let f = v.findings().next().unwrap();
        assert_eq!(
            f.field,
            "spec.template.spec.containers[0].livenessProbe.httpGet.port"
        );
        assert!(f.problem.contains("declared: http=8080"), "{f:?}");
    }

    #[test]
    fn a_probe_on_a_numbered_port_not_under_ports_is_fine() {
        let v = only(check, &deployment("      - name: app\n        image: a:1\n        ports: [{name: http, containerPort: 8080}]\n        livenessProbe: {httpGet: {path: /health, port: 9090}}\n        readinessProbe: {tcpSocket: {port: \"9090\"}}\n"));
        assert!(!v.failed(), "{v}");
    }

    #[test]
    fn a_missing_readiness_probe_fails() {
        let v = only(check, &deployment("      - name: app\n        image: a:1\n        livenessProbe: {exec: {command: [true]}}\n"));
        assert!(v.to_string().contains("readinessProbe`: missing"), "{v}");
    }
}
