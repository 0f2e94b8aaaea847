//! Every HPA can work: it has a metric, its target exists in the release,
//! the target's containers request each resource a utilization metric is a
//! percentage of (else the HPA reports `<unknown>` and never scales), and
//! helm does not fight it over `spec.replicas`.

use serde_json::Value;

use super::PolicyCx;
use crate::verdict::{Finding, Verdict};
use crate::Manifests;

/// The workload an HPA scales, if the release renders it.
pub fn target<'a>(m: &'a Manifests, hpa: &Value) -> Option<&'a crate::Object> {
    let kind = hpa
        .pointer("/spec/scaleTargetRef/kind")
        .and_then(Value::as_str)?;
    let name = hpa
        .pointer("/spec/scaleTargetRef/name")
        .and_then(Value::as_str)?;
    m.get(kind, name)
}

pub fn check(cx: &PolicyCx<'_>) -> Vec<(String, Verdict)> {
    cx.manifests
        .of_kind("HorizontalPodAutoscaler")
        .map(|hpa| {
            let obj = hpa.id().to_string();
            let mut findings = Vec::new();
            let mut add = |field: &str, problem: String, fix: &str| {
                findings.push(Finding { object: obj.clone(), field: field.into(), problem, fix: fix.into() })
            };
            let metrics = hpa.doc.pointer("/spec/metrics").and_then(Value::as_array).cloned().unwrap_or_default();
            if metrics.is_empty() {
                add("spec.metrics", "no metric: the HPA has nothing to scale on".into(),
                    "set `autoscaling.targetCPUUtilizationPercentage` and/or `targetMemoryUtilizationPercentage`");
            }
            let min = hpa.doc.pointer("/spec/minReplicas").and_then(Value::as_i64).unwrap_or(1);
            let max = hpa.doc.pointer("/spec/maxReplicas").and_then(Value::as_i64).unwrap_or(0);
            if min > max {
                add("spec.minReplicas", format!("minReplicas {min} is above maxReplicas {max}"), "make `autoscaling.minReplicas` <= `autoscaling.maxReplicas`");
            }
            match target(cx.manifests, &hpa.doc) {
                None => add(
                    "spec.scaleTargetRef",
                    format!(
                        "targets {}/{} which this release does not render",
                        hpa.doc.pointer("/spec/scaleTargetRef/kind").and_then(Value::as_str).unwrap_or("?"),
                        hpa.doc.pointer("/spec/scaleTargetRef/name").and_then(Value::as_str).unwrap_or("?")
                    ),
                    "point scaleTargetRef at the Deployment or StatefulSet the chart renders",
                ),
                Some(t) => {
                    let w = t.as_workload();
                    for (i, m) in metrics.iter().enumerate() {
                        let resource = m.pointer("/resource/name").and_then(Value::as_str);
                        let utilization = m.pointer("/resource/target/type").and_then(Value::as_str) == Some("Utilization");
                        let (Some(resource), true) = (resource, utilization) else { continue };
                        for c in w.iter().flat_map(|w| w.containers()).filter(|c| !c.init) {
                            let req = c.spec.pointer(&format!("/resources/requests/{resource}"));
                            if req.is_none_or(Value::is_null) {
                                add(
                                    &format!("spec.metrics[{i}]"),
                                    format!("{resource} utilization, but {} requests no {resource} (at {}.resources.requests)", c.label(), c.path),
                                    &format!("set `resources.requests.{resource}` on every container of {}", t.id()),
                                );
                            }
                        }
                    }
                    if t.doc.pointer("/spec/replicas").is_some_and(|r| !r.is_null()) {
                        add(
                            "scaleTargetRef",
                            format!("{} also sets spec.replicas, so every helm upgrade resets what the HPA chose", t.id()),
                            "omit `replicas` from the workload when autoscaling is enabled",
                        );
                    }
                }
            }
            (hpa.id().slug(), Verdict::from_findings(obj.clone(), "the HPA has a metric, a rendered target and the requests its metrics need", findings))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::testing::run;
    use super::*;

    const TARGET: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers:\n      - name: app\n        image: a:1\n        resources: {requests: {memory: 64Mi}}\n---\n";
    const HPA: &str = "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: web}\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}\n  minReplicas: 2\n  maxReplicas: 5\n  metrics:\n  - type: Resource\n    resource: {name: cpu, target: {type: Utilization, averageUtilization: 80}}\n";

    #[test]
    fn a_cpu_metric_on_a_target_without_cpu_requests_fails() {
        let v = run(check, &format!("{TARGET}{HPA}"));
        assert_eq!(v.len(), 1);
        let text = v[0].1.to_string();
        assert!(
            v[0].1.failed() && text.contains("requests no cpu"),
            "{text}"
        );
    }

    #[test]
    fn an_hpa_without_metrics_fails() {
        let hpa = HPA.split("  metrics:").next().unwrap();
        let v = run(
            check,
            &format!(
                "{}{hpa}",
                TARGET.replace("memory: 64Mi", "memory: 64Mi, cpu: 10m")
            ),
        );
        assert!(v[0].1.to_string().contains("no metric"), "{}", v[0].1);
    }

    #[test]
    fn a_workable_hpa_passes() {
        let v = run(
            check,
            &format!(
                "{}{HPA}",
                TARGET.replace("memory: 64Mi", "memory: 64Mi, cpu: 10m")
            ),
        );
        assert!(!v[0].1.failed(), "{}", v[0].1);
    }
}
