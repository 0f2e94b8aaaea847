//! Every PDB selects pods of the release and can be satisfied: with
//! `minAvailable` equal to the workload's minimum replicas (or
//! `maxUnavailable: 0`) no node can ever be drained.

use serde_json::Value;

use super::PolicyCx;
use crate::manifest::selector_matches;
use crate::verdict::{Finding, Verdict};

/// Pods that must be kept: a percentage rounds up, as the disruption
/// controller does.
fn required(min_available: &Value, replicas: i64) -> Option<i64> {
    match min_available {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => {
            let pct: f64 = s.strip_suffix('%')?.parse().ok()?;
            Some((pct / 100.0 * replicas as f64).ceil() as i64)
        }
        _ => None,
    }
}

pub fn check(cx: &PolicyCx<'_>) -> Vec<(String, Verdict)> {
    cx.manifests
        .of_kind("PodDisruptionBudget")
        .map(|pdb| {
            let obj = pdb.id().to_string();
            let mut findings = Vec::new();
            let selector = pdb.doc.pointer("/spec/selector").cloned().unwrap_or(Value::Null);
            let targets: Vec<_> = cx
                .manifests
                .workloads()
                .filter(|w| w.is_long_running() && !selector.is_null() && selector_matches(&selector, &w.pod_labels()))
                .collect();
            if targets.is_empty() {
                findings.push(Finding {
                    object: obj.clone(),
                    field: "spec.selector".into(),
                    problem: "selects no pod of this release".into(),
                    fix: if cx.manifests.uses_vitals_common {
                        "use the workload's selector labels (vitals.labels.selector)".into()
                    } else {
                        "set `spec.selector` to the selector labels of the workload it protects (its `spec.selector.matchLabels`)".into()
                    },
                });
            }
            for w in &targets {
                // The floor is what the HPA may scale down to, if one scales it.
                let hpa_min = cx.manifests.of_kind("HorizontalPodAutoscaler").find_map(|h| {
                    let t = super::autoscaling::target(cx.manifests, &h.doc)?;
                    (t.id() == w.object.id()).then(|| h.doc.pointer("/spec/minReplicas").and_then(Value::as_i64).unwrap_or(1))
                });
                let floor = hpa_min.unwrap_or_else(|| w.replicas());
                let source = if hpa_min.is_some() { "its HPA's minReplicas" } else { "spec.replicas" };
                if let Some(ma) = pdb.doc.pointer("/spec/minAvailable") {
                    if let Some(req) = required(ma, floor) {
                        if req >= floor {
                            findings.push(Finding {
                                object: obj.clone(),
                                field: "spec.minAvailable".into(),
                                problem: format!("{ma} keeps {req} of {} pods available, but {source} is {floor}: no pod may ever be evicted, so node drains hang", w.object.id()),
                                fix: format!("raise the replicas / HPA minimum above {req}, or lower minAvailable below {floor}"),
                            });
                        }
                    }
                }
                if let Some(mu) = pdb.doc.pointer("/spec/maxUnavailable") {
                    if mu.as_i64() == Some(0) || mu.as_str() == Some("0%") {
                        findings.push(Finding {
                            object: obj.clone(),
                            field: "spec.maxUnavailable".into(),
                            problem: "0: no pod may ever be evicted, so node drains hang".into(),
                            fix: "allow at least 1 unavailable pod".into(),
                        });
                    }
                }
            }
            (pdb.id().slug(), Verdict::from_findings(obj.clone(), "the PDB selects release pods and can be satisfied during a drain", findings))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::testing::run;
    use super::*;

    fn yaml(replicas: i64, min_available: &str) -> String {
        format!("apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: api}}\nspec:\n  replicas: {replicas}\n  selector: {{matchLabels: {{app: api}}}}\n  template:\n    metadata: {{labels: {{app: api}}}}\n    spec: {{containers: [{{name: a, image: a:1}}]}}\n---\napiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {{name: api}}\nspec:\n  minAvailable: {min_available}\n  selector: {{matchLabels: {{app: api}}}}\n")
    }

    #[test]
    fn min_available_equal_to_replicas_blocks_drains() {
        let v = run(check, &yaml(2, "2"));
        assert!(
            v[0].1.failed() && v[0].1.to_string().contains("node drains hang"),
            "{}",
            v[0].1
        );
    }

    #[test]
    fn a_percentage_rounds_up() {
        assert!(run(check, &yaml(3, "\"90%\""))[0].1.failed());
        assert!(!run(check, &yaml(3, "\"50%\""))[0].1.failed());
    }

    #[test]
    fn a_satisfiable_budget_passes() {
        assert!(!run(check, &yaml(3, "2"))[0].1.failed());
    }
}
