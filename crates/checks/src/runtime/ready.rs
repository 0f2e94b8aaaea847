//! Readiness of everything a chart renders that can be ready: Deployments,
//! StatefulSets and DaemonSets roll out, Jobs complete, HPAs see
//! their metrics. Judged from the live status plus the pods behind it, so a
//! stuck rollout fails with the pod's cause instead of a bare timeout.

use std::collections::BTreeMap;
use std::time::Duration;

use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use kube::{Api, Client};
use serde_json::Value;

use super::cx::CheckCx;
use super::explain::{pod_state, PodState};
use super::view::NamespaceView;
use super::wait::{self, Progress, WaitError};
use crate::manifest::selector_matches;
use crate::verdict::Verdict;
use crate::{Manifests, Object};

/// Kinds whose readiness the runner waits for (claims are judged by `pvcs`).
pub fn waits_for(kind: &str) -> bool {
    matches!(
        kind,
        "Deployment" | "StatefulSet" | "DaemonSet" | "Job" | "HorizontalPodAutoscaler"
    )
}

/// One rendered object whose readiness is a trial.
#[derive(Debug, Clone)]
pub struct ReadySpec {
    pub object: Object,
}

impl ReadySpec {
    /// The `<object>` of `cluster/ready/<object>`: `<kind>/<name>`.
    pub fn name(&self) -> String {
        self.object.id().slug()
    }
}

/// Every object that can be ready, except hooks (helm runs and removes
/// those during the install; the install trial judges them).
pub fn derive(m: &Manifests) -> Vec<ReadySpec> {
    m.objects
        .iter()
        .filter(|o| waits_for(&o.kind) && o.hooks().is_empty())
        .map(|o| ReadySpec { object: o.clone() })
        .collect()
}

/// Waits up to `timeout` for the object and says how it ended. (`judge`
/// is the progress of one live object, which the waits share.)
pub async fn check(s: &ReadySpec, cx: &CheckCx<'_>, timeout: Duration) -> Verdict {
    verdict(
        &s.object,
        wait_ready(cx.client, cx.view, &s.object, timeout).await,
    )
}

/// The verdict of one readiness wait (the install phase's gate says the
/// same of each object it waited for).
pub fn verdict(obj: &Object, waited: Result<String, WaitError>) -> Verdict {
    match waited {
        Ok(s) => Verdict::pass(obj.id().to_string(), "ready", s),
        Err(e) => Verdict::fail(obj.id().to_string(), "ready", e.to_string()),
    }
}

pub(crate) fn api_for(
    client: &Client,
    ns: &str,
    api_version: &str,
    kind: &str,
) -> Api<DynamicObject> {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind));
    Api::namespaced_with(client.clone(), ns, &ar)
}

fn int(v: &Value, p: &str) -> i64 {
    v.pointer(p).and_then(Value::as_i64).unwrap_or(0)
}

/// The worst state among the pods a selector matches: a terminal cause
/// first, else the first pending explanation.
fn pods_behind(view: &NamespaceView, selector: &Value) -> (usize, Option<PodState>) {
    let pods: Vec<_> = view
        .pods
        .state()
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| {
            let labels: BTreeMap<String, String> = p.metadata.labels.clone().unwrap_or_default();
            selector_matches(selector, &labels)
        })
        .collect();
    let states: Vec<PodState> = pods.iter().map(|p| pod_state(p, view)).collect();
    let worst = states
        .iter()
        .find(|s| matches!(s, PodState::Terminal(_)))
        .or_else(|| states.iter().find(|s| matches!(s, PodState::Pending(_))))
        .cloned();
    (pods.len(), worst)
}

/// Judges one live object of the given kind.
pub fn judge(kind: &str, obj: Option<&DynamicObject>, view: &NamespaceView) -> Progress {
    let Some(obj) = obj else {
        return Progress::Pending("not created yet".into());
    };
    let d = &obj.data;
    let generation = obj.metadata.generation.unwrap_or(0);
    let observed = int(d, "/status/observedGeneration");
    let selector = d.pointer("/spec/selector").cloned().unwrap_or(Value::Null);
    let (want, have, what) = match kind {
        "Deployment" => {
            let want = d
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            let ready = int(d, "/status/readyReplicas")
                .min(int(d, "/status/updatedReplicas"))
                .min(int(d, "/status/availableReplicas"));
            (want, ready, "replicas updated and available")
        }
        "StatefulSet" => {
            let want = d
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            let updated =
                if d.pointer("/status/updateRevision") == d.pointer("/status/currentRevision") {
                    int(d, "/status/readyReplicas")
                } else {
                    int(d, "/status/updatedReplicas").min(int(d, "/status/readyReplicas"))
                };
            (want, updated, "replicas ready at the current revision")
        }
        "DaemonSet" => (
            int(d, "/status/desiredNumberScheduled").max(1),
            int(d, "/status/numberReady").min(int(d, "/status/updatedNumberScheduled")),
            "nodes ready",
        ),
        "Job" => {
            let failed = d
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|c| {
                    c.get("type").and_then(Value::as_str) == Some("Failed")
                        && c.get("status").and_then(Value::as_str) == Some("True")
                });
            if let Some(c) = failed {
                let sel = Value::Object(
                    [(
                        "matchLabels".to_string(),
                        serde_json::json!({"job-name": obj.metadata.name}),
                    )]
                    .into_iter()
                    .collect(),
                );
                let (_, worst) = pods_behind(view, &sel);
                return Progress::Failed(format!(
                    "Job failed: {}{}",
                    c.get("message")
                        .and_then(Value::as_str)
                        .unwrap_or("backoff limit reached"),
                    match worst {
                        Some(PodState::Terminal(s) | PodState::Pending(s)) => format!(" <- {s}"),
                        _ => String::new(),
                    }
                ));
            }
            let want = d
                .pointer("/spec/completions")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            (want, int(d, "/status/succeeded"), "completions")
        }
        "HorizontalPodAutoscaler" => {
            let able = d
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|c| c.get("type").and_then(Value::as_str) == Some("ScalingActive"));
            return match able {
                Some(c) if c.get("status").and_then(Value::as_str) == Some("True") => {
                    Progress::Done("ScalingActive".into())
                }
                Some(c) => Progress::Pending(format!(
                    "ScalingActive {} <- {}: {}",
                    c.get("status").and_then(Value::as_str).unwrap_or("?"),
                    c.get("reason").and_then(Value::as_str).unwrap_or(""),
                    c.get("message").and_then(Value::as_str).unwrap_or("")
                )),
                None => {
                    Progress::Pending("no ScalingActive condition yet (metrics not read)".into())
                }
            };
        }
        other => return Progress::Done(format!("{other} has no readiness")),
    };
    if observed < generation && kind != "Job" {
        return Progress::Pending(format!(
            "generation {generation} not observed yet (at {observed})"
        ));
    }
    if have >= want {
        return Progress::Done(format!("{have}/{want} {what}"));
    }
    let (n, worst) = if selector.is_null() {
        (0, None)
    } else {
        pods_behind(view, &selector)
    };
    match worst {
        Some(PodState::Terminal(cause)) => {
            Progress::Failed(format!("{have}/{want} {what} <- {cause}"))
        }
        Some(PodState::Pending(s)) => Progress::Pending(format!("{have}/{want} {what} <- {s}")),
        _ => Progress::Pending(format!("{have}/{want} {what} ({n} pods)")),
    }
}

/// Waits for one rendered object to be ready in the namespace.
pub async fn wait_ready(
    client: &Client,
    view: &NamespaceView,
    obj: &Object,
    timeout: Duration,
) -> Result<String, WaitError> {
    let api = api_for(client, &view.namespace, &obj.api_version, &obj.kind);
    let kind = obj.kind.clone();
    let v = view.clone();
    wait::until(
        api,
        &obj.id().to_string(),
        &obj.name,
        timeout,
        view.changes(),
        move |o| judge(&kind, o, &v),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workloads_jobs_and_hpas_are_waited_for_but_hooks_and_services_are_not() {
        let m = Manifests::parse(
            r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: api}
---
apiVersion: batch/v1
kind: Job
metadata: {name: migrate, annotations: {helm.sh/hook: pre-install}}
---
apiVersion: batch/v1
kind: Job
metadata: {name: seed}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: api}
---
apiVersion: v1
kind: Service
metadata: {name: api}
"#,
        )
        .unwrap();
        let names: Vec<String> = derive(&m).iter().map(ReadySpec::name).collect();
        assert_eq!(
            names,
            ["deployment/api", "job/seed", "horizontalpodautoscaler/api"]
        );
    }
}
