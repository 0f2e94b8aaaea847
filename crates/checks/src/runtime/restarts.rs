//! No container restarted during the run. A pod can be Ready now and still
//! have crashed twice on the way (a race with its database, an OOM kill under
//! load): readiness alone hides that, the restart count does not. Judged
//! last, after every other trial of the cell, so it covers the whole run.

use k8s_openapi::api::core::v1::Pod;
use kube::Client;

use super::cx::CheckCx;
use super::logs;
use super::view::NamespaceView;
use crate::manifest::selector_matches;
use crate::verdict::{Evidence, Verdict};
use crate::Manifests;

/// One long-running workload whose pods' restart counts are judged.
#[derive(Debug, Clone, PartialEq)]
pub struct RestartSpec {
    /// `Kind/name`, the verdict's subject.
    pub subject: String,
    /// The `<object>` of `cluster/restarts/<object>`: `<kind>/<name>`.
    pub slug: String,
    pub selector: serde_json::Value,
}

impl RestartSpec {
    pub fn name(&self) -> String {
        self.slug.clone()
    }
}

/// Every Deployment, StatefulSet and DaemonSet the release keeps (a Job's
/// pod may rerun by design; hooks are gone after install).
pub fn derive(m: &Manifests) -> Vec<RestartSpec> {
    m.workloads()
        .filter(|w| w.is_long_running() && w.object.hooks().is_empty())
        .map(|w| RestartSpec {
            subject: w.object.id().to_string(),
            slug: w.object.id().slug(),
            selector: w.selector(),
        })
        .collect()
}

/// The restarts of the workload's pods so far (judged last in the cell).
pub async fn judge(s: &RestartSpec, cx: &CheckCx<'_>) -> Verdict {
    check(cx.client, cx.view, &s.subject, &s.selector).await
}

/// One container that restarted, with why it last ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restart {
    pub pod: String,
    pub container: String,
    pub count: i32,
    pub last: String,
}

/// The restarts of the pods a selector matches.
pub fn restarts(pods: &[Pod], selector: &serde_json::Value) -> Vec<Restart> {
    let mut out = Vec::new();
    for p in pods {
        let labels = p.metadata.labels.clone().unwrap_or_default();
        if !selector_matches(selector, &labels) {
            continue;
        }
        let Some(st) = &p.status else { continue };
        for c in st
            .init_container_statuses
            .iter()
            .flatten()
            .chain(st.container_statuses.iter().flatten())
            .filter(|c| c.restart_count > 0)
        {
            let last = c
                .last_state
                .as_ref()
                .and_then(|s| s.terminated.as_ref())
                .map(|t| {
                    format!(
                        "last ended {} (exit {}){}",
                        t.reason.as_deref().unwrap_or("?"),
                        t.exit_code,
                        t.finished_at
                            .as_ref()
                            .map(|f| format!(" at {}", f.0))
                            .unwrap_or_default()
                    )
                })
                .unwrap_or_else(|| "no record of how it ended".into());
            out.push(Restart {
                pod: p.metadata.name.clone().unwrap_or_default(),
                container: c.name.clone(),
                count: c.restart_count,
                last,
            });
        }
    }
    out
}

pub async fn check(
    client: &Client,
    view: &NamespaceView,
    workload: &str,
    selector: &serde_json::Value,
) -> Verdict {
    let pods: Vec<Pod> = view.pods.state().iter().map(|p| (**p).clone()).collect();
    let found = restarts(&pods, selector);
    let n = pods
        .iter()
        .filter(|p| selector_matches(selector, &p.metadata.labels.clone().unwrap_or_default()))
        .count();
    let expected = "no container of its pods restarted during the run";
    if found.is_empty() {
        return Verdict::pass(workload, expected, format!("{n} pod(s), 0 restarts"));
    }
    let mut v = Verdict::fail(
        workload,
        expected,
        found
            .iter()
            .map(|r| {
                format!(
                    "{}/{} restarted {}x ({})",
                    r.pod, r.container, r.count, r.last
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
    );
    for r in found.iter().take(3) {
        let text = logs::tail(
            client,
            &view.namespace,
            &r.pod,
            Some(&r.container),
            true,
            15,
        )
        .await;
        if !text.is_empty() {
            v = v.with_evidence(Evidence::Note {
                text: format!(
                    "log of {}/{} before its last restart:\n{text}",
                    r.pod, r.container
                ),
            });
        }
    }
    v.with_hint("an OOMKilled container needs a higher memory limit; an Error exit right after start usually means a dependency was not up yet (add a startupProbe or an init wait)")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, app: &str, restarts: i32, reason: &str) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "labels": {"app": app}},
            "status": {"containerStatuses": [{
                "name": "main", "image": "x", "imageID": "", "ready": true,
                "restartCount": restarts,
                "lastState": {"terminated": {"exitCode": 137, "reason": reason}}
            }]}
        }))
        .unwrap()
    }

    #[test]
    fn long_running_workloads_are_judged_but_jobs_and_hooks_are_not() {
        let m = Manifests::parse(
            r#"
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  selector: {matchLabels: {app: db}}
  template: {spec: {containers: [{name: db}]}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: pre, annotations: {helm.sh/hook: pre-install}}
spec: {template: {spec: {containers: [{name: pre}]}}}
---
apiVersion: batch/v1
kind: Job
metadata: {name: migrate}
spec: {template: {spec: {containers: [{name: m}]}}}
"#,
        )
        .unwrap();
        assert_eq!(
            derive(&m),
            [RestartSpec {
                subject: "StatefulSet/db".into(),
                slug: "statefulset/db".into(),
                selector: serde_json::json!({"matchLabels": {"app": "db"}}),
            }]
        );
    }

    #[test]
    fn a_restarted_container_is_named_with_its_count_and_last_exit() {
        let pods = [
            pod("api-1", "api", 2, "OOMKilled"),
            pod("api-2", "api", 0, ""),
            pod("db-0", "db", 5, "Error"),
        ];
        let got = restarts(&pods, &serde_json::json!({"matchLabels": {"app": "api"}}));
        assert_eq!(
            got,
            vec![Restart {
                pod: "api-1".into(),
                container: "main".into(),
                count: 2,
                last: "last ended OOMKilled (exit 137)".into()
            }]
        );
    }

    #[test]
    fn pods_that_never_restarted_give_nothing() {
        let pods = [pod("api-1", "api", 0, "")];
        assert!(restarts(&pods, &serde_json::json!({"matchLabels": {"app": "api"}})).is_empty());
    }
}
