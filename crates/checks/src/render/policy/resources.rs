//! Every container (init, hook and test containers too) requests and limits
//! CPU and memory: without requests the scheduler overcommits and HPAs have
//! nothing to measure against; without limits one pod can starve a node.

use serde_json::Value;

use super::{per_workload, PolicyCx};
use crate::quantity;
use crate::verdict::{Finding, Verdict};

pub fn check(cx: &PolicyCx<'_>) -> Vec<(String, Verdict)> {
    per_workload(
        cx,
        |_| true,
        |w| {
            let mut findings = Vec::new();
            for c in w.containers() {
                let res = c.spec.get("resources");
                for kind in ["requests", "limits"] {
                    for r in ["cpu", "memory"] {
                        let v = res.and_then(|x| x.get(kind)).and_then(|x| x.get(r));
                        if v.is_none_or(Value::is_null) {
                            findings.push(Finding {
                            object: c.label(),
                            field: format!("{}.resources.{kind}.{r}", c.path),
                            problem: "missing".into(),
                            fix: format!(
                                "set `resources.{kind}.{r}` for this container in the chart's values (e.g. {}){}",
                                if r == "cpu" { "100m" } else { "128Mi" },
                                // Presets are the vitals-common charts' convention.
                                if cx.manifests.uses_vitals_common { ", or a resourcesPreset" } else { "" }
                            ),
                        });
                        }
                    }
                    let req = res
                        .and_then(|x| x.pointer("/requests"))
                        .cloned()
                        .unwrap_or(Value::Null);
                    let lim = res
                        .and_then(|x| x.pointer("/limits"))
                        .cloned()
                        .unwrap_or(Value::Null);
                    if kind == "limits" {
                        for r in ["cpu", "memory"] {
                            let (Some(q), Some(l)) = (
                                req.get(r).and_then(quantity::from_value),
                                lim.get(r).and_then(quantity::from_value),
                            ) else {
                                continue;
                            };
                            if q > l {
                                findings.push(Finding {
                                object: c.label(),
                                field: format!("{}.resources.requests.{r}", c.path),
                                problem: format!("request is above the limit ({} > {})", req[r], lim[r]),
                                fix: "lower the request or raise the limit; the API server rejects request > limit".into(),
                            });
                            }
                        }
                    }
                }
            }
            Verdict::from_findings(
                w.object.id().to_string(),
                "every container sets cpu and memory requests and limits",
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
    fn a_container_without_a_cpu_limit_is_named_with_the_field() {
        let v = only(check, &deployment("      - name: app\n        image: a:1\n        resources: {requests: {cpu: 10m, memory: 1Mi}, limits: {memory: 1Mi}}\n"));
        assert!(v.failed());
        let f: Vec<_> = v.findings().collect();
        assert_eq!(f.len(), 1);
        assert_eq!(
            f[0].field,
            "spec.template.spec.containers[0].resources.limits.cpu"
        );
        assert!(f[0].object.contains("container `app`"));
    }

    #[test]
    fn a_request_above_its_limit_fails() {
        let v = only(check, &deployment("      - name: app\n        image: a:1\n        resources: {requests: {cpu: 2, memory: 1Mi}, limits: {cpu: 500m, memory: 1Mi}}\n"));
        assert!(v.to_string().contains("request is above the limit"), "{v}");
    }

    #[test]
    fn complete_resources_pass() {
        let v = only(check, &deployment("      - name: app\n        image: a:1\n        resources: {requests: {cpu: 10m, memory: 1Mi}, limits: {cpu: 1, memory: 2Mi}}\n"));
        assert!(!v.failed(), "{v}");
    }
}
