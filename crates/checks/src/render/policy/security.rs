//! Pod Security Standard `restricted`, checked before any cluster sees the
//! pod: non-root, no privilege escalation, all capabilities dropped,
//! RuntimeDefault seccomp, no host namespaces or hostPath, and a read-only
//! root filesystem unless the pod template says why it cannot have one
//! (annotation `vitals.dev/writable-root-fs: <reason>`).

use serde_json::Value;

use super::{per_workload, PolicyCx};
use crate::verdict::{Finding, Verdict};
use crate::Role;

pub const WRITABLE_ROOT_FS: &str = "vitals.dev/writable-root-fs";

pub fn check(cx: &PolicyCx<'_>) -> Vec<(String, Verdict)> {
    per_workload(
        cx,
        |_| true,
        |w| {
            let mut findings = Vec::new();
            let pod = w.pod_spec().cloned().unwrap_or(Value::Null);
            let psc = pod.get("securityContext").cloned().unwrap_or(Value::Null);
            let pod_path = w.pod_spec_path();
            let obj = w.object.id().to_string();
            // A node agent (a node exporter, a log shipper, a CNI) exists to
            // see the host: its host namespaces and paths are its job, not
            // a defect; the rest of `restricted` still applies.
            let role = cx.manifests.role(w);
            let host_ok = role == Role::NodeAgent;
            let mut add = |object: String, field: String, problem: &str, fix: &str| {
                findings.push(Finding {
                    object,
                    field,
                    problem: problem.into(),
                    fix: fix.into(),
                })
            };
            for ns in ["hostNetwork", "hostPID", "hostIPC"] {
                if pod.get(ns).and_then(Value::as_bool) == Some(true)
                    && !(host_ok && ns != "hostIPC")
                {
                    add(
                        obj.clone(),
                        format!("{pod_path}.{ns}"),
                        "true (forbidden by PSS)",
                        "remove it; a chart app never needs the host's namespaces",
                    );
                }
            }
            for (i, vol) in pod
                .get("volumes")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                if vol.get("hostPath").is_some() && !host_ok {
                    add(
                        obj.clone(),
                        format!("{pod_path}.volumes[{i}].hostPath"),
                        "hostPath volume (forbidden by PSS)",
                        "use a PVC or an emptyDir",
                    );
                }
            }
            let writable_ok = w
                .pod_annotation(WRITABLE_ROOT_FS)
                .is_some_and(|r| !r.trim().is_empty());
            for c in w.containers() {
                let sc = c
                    .spec
                    .get("securityContext")
                    .cloned()
                    .unwrap_or(Value::Null);
                let field = |f: &str| format!("{}.securityContext.{f}", c.path);
                let get_bool = |v: &Value, k: &str| v.get(k).and_then(Value::as_bool);
                let non_root =
                    get_bool(&sc, "runAsNonRoot").or(get_bool(&psc, "runAsNonRoot")) == Some(true);
                let uid0 = sc
                    .get("runAsUser")
                    .or(psc.get("runAsUser"))
                    .and_then(Value::as_i64)
                    == Some(0);
                if !non_root || uid0 {
                    let helper = if cx.manifests.uses_vitals_common {
                        " (vitals.securityContext.pod/container do this)"
                    } else {
                        ""
                    };
                    add(c.label(), field("runAsNonRoot"), if uid0 { "runs as uid 0" } else { "not set to true (here or on the pod)" },
                    &format!("set `securityContext.runAsNonRoot: true` and a non-zero `runAsUser` on the pod or container{helper}"));
                }
                if get_bool(&sc, "privileged") == Some(true) {
                    add(c.label(), field("privileged"), "true", "remove it");
                }
                if get_bool(&sc, "allowPrivilegeEscalation") != Some(false) {
                    add(
                        c.label(),
                        field("allowPrivilegeEscalation"),
                        "not false",
                        "set `allowPrivilegeEscalation: false`",
                    );
                }
                let drops: Vec<&str> = sc
                    .pointer("/capabilities/drop")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                if !drops.iter().any(|d| d.eq_ignore_ascii_case("ALL")) {
                    add(
                        c.label(),
                        field("capabilities.drop"),
                        "does not drop ALL",
                        "set `capabilities: {drop: [ALL]}`",
                    );
                }
                let adds: Vec<&str> = sc
                    .pointer("/capabilities/add")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                if let Some(bad) = adds.iter().find(|a| **a != "NET_BIND_SERVICE") {
                    add(
                        c.label(),
                        field("capabilities.add"),
                        &format!("adds {bad} (only NET_BIND_SERVICE is allowed)"),
                        "remove it",
                    );
                }
                let seccomp = sc
                    .pointer("/seccompProfile/type")
                    .or(psc.pointer("/seccompProfile/type"))
                    .and_then(Value::as_str);
                if !matches!(seccomp, Some("RuntimeDefault" | "Localhost")) {
                    add(
                        c.label(),
                        field("seccompProfile.type"),
                        "not RuntimeDefault (here or on the pod)",
                        "set `seccompProfile: {type: RuntimeDefault}`",
                    );
                }
                if get_bool(&sc, "readOnlyRootFilesystem") != Some(true) && !writable_ok {
                    add(c.label(), field("readOnlyRootFilesystem"), "not true",
                    &format!("set `readOnlyRootFilesystem: true` and mount emptyDirs where the app writes, or annotate the pod template with `{WRITABLE_ROOT_FS}: <why>`"));
                }
            }
            let expected = if host_ok {
                "pods meet the restricted Pod Security Standard with a read-only root filesystem, host network, PIDs and paths aside (role: node agent)"
            } else {
                "pods meet the restricted Pod Security Standard with a read-only root filesystem"
            };
            Verdict::from_findings(obj, expected, findings)
        },
    )
}

#[cfg(test)]
mod tests {
    use super::super::testing::{deployment, only};
    use super::*;

    const GOOD: &str = "        securityContext: {runAsNonRoot: true, runAsUser: 1000, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}, seccompProfile: {type: RuntimeDefault}}\n";

    #[test]
    fn a_restricted_container_passes() {
        let v = only(
            check,
            &deployment(&format!("      - name: app\n        image: a:1\n{GOOD}")),
        );
        assert!(!v.failed(), "{v}");
    }

    #[test]
    fn privilege_escalation_is_named_with_its_fix() {
        let v = only(
            check,
            &deployment(&format!(
                "      - name: app\n        image: a:1\n{}",
                GOOD.replace(
                    "allowPrivilegeEscalation: false",
                    "allowPrivilegeEscalation: true"
                )
            )),
        );
        let f: Vec<_> = v.findings().collect();
        assert_eq!(f.len(), 1, "{v}");
        assert_eq!(
            f[0].field,
            "spec.template.spec.containers[0].securityContext.allowPrivilegeEscalation"
        );
        assert!(f[0].fix.contains("allowPrivilegeEscalation: false"));
    }

    #[test]
    fn a_node_agent_may_use_the_host() {
        let ds = deployment(&format!("      - name: app\n        image: a:1\n{GOOD}"))
            .replace("kind: Deployment", "kind: DaemonSet")
            .replace("    spec:\n      containers:", "    spec:\n      hostNetwork: true\n      hostPID: true\n      volumes: [{name: root, hostPath: {path: /}}]\n      containers:");
        let v = only(check, &ds);
        assert!(!v.failed(), "{v}");
        assert!(v.expected.contains("role: node agent"), "{v:?}");
        let app = ds.replace("kind: DaemonSet", "kind: Deployment").replace(
            "      hostPID: true\n      volumes: [{name: root, hostPath: {path: /}}]\n",
            "",
        );
        assert!(
            !only(check, &app).failed(),
            "hostNetwork makes it a node agent too"
        );
    }

    #[test]
    fn a_writable_root_needs_a_stated_reason() {
        let writable = GOOD.replace(
            "readOnlyRootFilesystem: true",
            "readOnlyRootFilesystem: false",
        );
        let v = only(
            check,
            &deployment(&format!(
                "      - name: app\n        image: a:1\n{writable}"
            )),
        );
        assert!(v.failed());
        let annotated = deployment(&format!("      - name: app\n        image: a:1\n{writable}"))
            .replace("metadata: {labels: {app: web}}", "metadata: {labels: {app: web}, annotations: {vitals.dev/writable-root-fs: \"rabbitmq rewrites its config\"}}");
        assert!(!only(check, &annotated).failed());
    }
}
