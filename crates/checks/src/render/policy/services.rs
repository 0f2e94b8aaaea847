//! Every long-running workload is reachable: a Service selects its pods and
//! each targetPort exists on them. And every Service selects something, since
//! a Service with no endpoints resolves in DNS and then refuses every
//! connection, which is harder to debug than a missing name.

use serde_json::Value;

use super::PolicyCx;
use crate::manifest::string_map;
use crate::verdict::{Finding, Verdict};
use crate::{Manifests, Role, Workload};

/// Workloads may opt out with a reason (a pure queue consumer, say).
pub const NO_SERVICE: &str = "vitals.dev/no-service";

/// Labels the workload's controller adds at runtime count (a per-pod
/// Service on `statefulset.kubernetes.io/pod-name`): see `Workload::selected_by`.
fn service_selects(svc: &Value, w: &Workload<'_>) -> bool {
    w.selected_by(&string_map(svc.pointer("/spec/selector")))
}

fn port_exists(w: &Workload<'_>, target: &Value) -> bool {
    let ports: Vec<_> = w
        .containers()
        .into_iter()
        .filter(|c| !c.init)
        .flat_map(|c| c.ports())
        .collect();
    match target {
        Value::String(name) => ports
            .iter()
            .any(|(n, _)| n.as_deref() == Some(name.as_str())),
        Value::Number(n) => ports.iter().any(|(_, p)| Some(*p) == n.as_i64()),
        _ => false,
    }
}

fn services(m: &Manifests) -> impl Iterator<Item = &crate::Object> {
    m.of_kind("Service")
        .filter(|s| s.doc.pointer("/spec/type").and_then(Value::as_str) != Some("ExternalName"))
}

pub fn check(cx: &PolicyCx<'_>) -> Vec<(String, Verdict)> {
    let mut out = Vec::new();
    for w in cx.manifests.workloads().filter(|w| w.is_long_running()) {
        let obj = w.object.id().to_string();
        let expected = "a Service selects the pods and its targetPorts exist on them";
        if let Some(reason) = w
            .object
            .annotation(NO_SERVICE)
            .or(w.pod_annotation(NO_SERVICE))
        {
            out.push((
                w.object.id().slug(),
                Verdict::pass(obj, expected, format!("exempt: {reason}")),
            ));
            continue;
        }
        let mut findings = Vec::new();
        let selecting: Vec<_> = services(cx.manifests)
            .filter(|s| service_selects(&s.doc, &w))
            .collect();
        // Only what serves traffic needs a Service: a controller or worker
        // that declares no port (or watches the API), or a node agent, does not.
        let role = cx.manifests.role(&w);
        if selecting.is_empty() && matches!(role, Role::Controller | Role::NodeAgent) {
            out.push((
                w.object.id().slug(),
                Verdict::pass(
                    obj,
                    format!("{expected} (role: {role})"),
                    format!("no Service needed: {role}, {}", role.because()),
                ),
            ));
            continue;
        }
        if selecting.is_empty() {
            findings.push(Finding {
                object: obj.clone(),
                field: format!("{}.metadata.labels", w.pod_spec_path().trim_end_matches(".spec")),
                problem: "no Service selects these pods".into(),
                fix: format!("add a Service with the workload's selector labels, or annotate the workload `{NO_SERVICE}: <why>`"),
            });
        }
        for svc in selecting {
            for (i, p) in svc
                .doc
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                let target = p
                    .get("targetPort")
                    .or(p.get("port"))
                    .cloned()
                    .unwrap_or(Value::Null);
                if !port_exists(&w, &target) {
                    findings.push(Finding {
                        object: svc.id().to_string(),
                        field: format!("spec.ports[{i}].targetPort"),
                        problem: format!("{target} is not a container port of {obj}"),
                        fix: "use the name of a containerPort the pods declare".into(),
                    });
                }
            }
        }
        out.push((
            w.object.id().slug(),
            Verdict::from_findings(obj, expected, findings),
        ));
    }
    for svc in services(cx.manifests) {
        let has_selector = svc
            .doc
            .pointer("/spec/selector")
            .and_then(Value::as_object)
            .is_some_and(|m| !m.is_empty());
        if !has_selector {
            continue; // a selector-less Service has hand-managed endpoints on purpose
        }
        let selects_any = cx
            .manifests
            .workloads()
            .any(|w| w.is_long_running() && service_selects(&svc.doc, &w));
        let v = if selects_any {
            Verdict::pass(
                svc.id().to_string(),
                "the Service selects pods of this release",
                "selects a workload",
            )
        } else {
            Verdict::from_findings(
                svc.id().to_string(),
                "the Service selects pods of this release",
                vec![Finding {
                    object: svc.id().to_string(),
                    field: "spec.selector".into(),
                    problem: "matches no pod template of this release: it would have no endpoints"
                        .into(),
                    fix: "use the selector labels of the workload it fronts".into(),
                }],
            )
        };
        out.push((svc.id().slug(), v));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::testing::run;
    use super::*;

    const DEPLOY: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers: [{name: a, image: a:1, ports: [{name: http, containerPort: 8080}]}]\n---\n";

    #[test]
    fn a_target_port_the_pods_lack_is_named() {
        let v = run(check, &format!("{DEPLOY}apiVersion: v1\nkind: Service\nmetadata: {{name: web}}\nspec:\n  selector: {{app: web}}\n  ports: [{{port: 80, targetPort: web}}]\n"));
        let text = v[0].1.to_string();
        assert!(
            v[0].1.failed() && text.contains("\"web\" is not a container port of Deployment/web"),
            "{text}"
        );
    }

    #[test]
    fn an_unselected_workload_and_a_dangling_service_both_fail() {
        let v = run(check, &format!("{DEPLOY}apiVersion: v1\nkind: Service\nmetadata: {{name: api}}\nspec:\n  selector: {{app: api}}\n  ports: [{{port: 80, targetPort: http}}]\n"));
        assert_eq!(v.len(), 2);
        assert!(
            v[0].1.to_string().contains("no Service selects"),
            "{}",
            v[0].1
        );
        assert!(v[1].1.to_string().contains("no endpoints"), "{}", v[1].1);
    }

    #[test]
    fn a_per_pod_service_selects_the_statefulsets_pods() {
        let sts = "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db}\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: db}}\n  template:\n    metadata: {labels: {app: db}}\n    spec:\n      containers: [{name: a, image: a:1, ports: [{name: pg, containerPort: 5432}]}]\n---\n";
        let v = run(check, &format!("{sts}apiVersion: v1\nkind: Service\nmetadata: {{name: db-0}}\nspec:\n  selector: {{app: db, statefulset.kubernetes.io/pod-name: db-0}}\n  ports: [{{port: 5432, targetPort: pg}}]\n"));
        assert!(v.iter().all(|(_, v)| !v.failed()), "{v:?}");
        let v = run(check, &format!("{sts}apiVersion: v1\nkind: Service\nmetadata: {{name: db-x}}\nspec:\n  selector: {{app: db, statefulset.kubernetes.io/pod-name: other-0}}\n  ports: [{{port: 5432, targetPort: pg}}]\n"));
        assert!(
            v.iter().any(|(s, v)| s == "service/db-x" && v.failed()),
            "{v:?}"
        );
    }

    #[test]
    fn a_controller_that_serves_nothing_needs_no_service() {
        let v = run(
            check,
            &DEPLOY.replace(", ports: [{name: http, containerPort: 8080}]", ""),
        );
        assert_eq!(v.len(), 1);
        assert!(
            !v[0].1.failed() && v[0].1.observed.contains("controller"),
            "{:?}",
            v[0].1
        );
    }

    #[test]
    fn a_matching_service_passes() {
        let v = run(check, &format!("{DEPLOY}apiVersion: v1\nkind: Service\nmetadata: {{name: web}}\nspec:\n  selector: {{app: web}}\n  ports: [{{port: 80, targetPort: http}}]\n"));
        assert!(v.iter().all(|(_, v)| !v.failed()), "{v:?}");
    }
}
