//! What cells and nodes request: a cell's peak need from its rendered
//! manifests ([`cell_need`]) and what the cluster's nodes have and run.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use kube::api::ListParams;
use kube::{Api, Client};
use serde_json::Value;
use vitals_checks::{quantity, Manifests};

/// Millicores and mebibytes.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Need {
    pub cpu_m: f64,
    pub mem_mi: f64,
}

impl Need {
    pub fn fits(&self, free: &Need) -> bool {
        self.cpu_m <= free.cpu_m && self.mem_mi <= free.mem_mi
    }

    fn add(&mut self, per: Need, n: i64) {
        self.cpu_m += per.cpu_m * n as f64;
        self.mem_mi += per.mem_mi * n as f64;
    }

    /// Each resource at the larger of the two.
    pub fn max(self, other: Need) -> Need {
        Need {
            cpu_m: self.cpu_m.max(other.cpu_m),
            mem_mi: self.mem_mi.max(other.mem_mi),
        }
    }
}

impl std::fmt::Display for Need {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.0}m cpu, {:.0}Mi memory", self.cpu_m, self.mem_mi)
    }
}

/// What the scheduler counts for a pod: the larger of its containers' sum
/// and its biggest init container (they run one at a time, before).
fn requests(pod_spec: Option<&Value>) -> Need {
    let one = |c: &Value| {
        let r = c.pointer("/resources/requests");
        let q = |k: &str| {
            r.and_then(|r| r.get(k))
                .and_then(quantity::from_value)
                .unwrap_or(0.0)
        };
        Need {
            cpu_m: q("cpu") * 1000.0,
            mem_mi: q("memory") / 1_048_576.0,
        }
    };
    let list = |k: &str| {
        pod_spec
            .and_then(|s| s.get(k))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let mut n = Need::default();
    for c in list("containers") {
        let r = one(&c);
        n.cpu_m += r.cpu_m;
        n.mem_mi += r.mem_mi;
    }
    for c in list("initContainers") {
        let r = one(&c);
        n.cpu_m = n.cpu_m.max(r.cpu_m);
        n.mem_mi = n.mem_mi.max(r.mem_mi);
    }
    n
}

/// What a cell's pods request at most, at the busier of its two moments:
/// - install: the workloads at their rendered replicas, plus the largest
///   hook pod (Helm runs hooks one at a time and waits for each);
/// - the trials: each long-running workload at its HPA's maxReplicas (the
///   HPA trial drives it there), the CronJob runs and `helm test` pods
///   beside them, and the harness's client and load pods.
///
/// Counting every hook beside the HPA peak would reserve room for pods that
/// never coexist (a 250m migration Job is long gone when the HPA scales).
pub fn cell_need(m: &Manifests) -> Need {
    let hpa_max = |kind: &str, name: &str| {
        m.of_kind("HorizontalPodAutoscaler")
            .filter(|h| {
                let target = |f: &str| {
                    h.doc
                        .pointer(&format!("/spec/scaleTargetRef/{f}"))
                        .and_then(Value::as_str)
                };
                target("kind") == Some(kind) && target("name") == Some(name)
            })
            .filter_map(|h| h.doc.pointer("/spec/maxReplicas").and_then(Value::as_i64))
            .max()
            .unwrap_or(0)
    };
    let mut install = CLIENT_PODS;
    let mut largest_hook = Need::default();
    let mut trials = CLIENT_PODS;
    for w in m.workloads() {
        let per = requests(w.pod_spec());
        let kind = w.object.kind.as_str();
        let hooks = w.object.hooks();
        if w.object.is_test_hook() {
            trials.add(per, 1);
        } else if !hooks.is_empty() {
            largest_hook = largest_hook.max(per);
        } else {
            match kind {
                "Deployment" | "StatefulSet" | "ReplicaSet" => {
                    let n = w.replicas();
                    install.add(per, n);
                    trials.add(per, n.max(hpa_max(kind, &w.object.name)));
                }
                // Triggered by its trial, beside the others.
                "CronJob" => trials.add(per, 1),
                // DaemonSets, plain Jobs and Pods run from install on.
                _ => {
                    install.add(per, 1);
                    trials.add(per, 1);
                }
            }
        }
    }
    install.add(largest_hook, 1);
    install.max(trials)
}

/// The agent pod every cell gets, and its load generator.
const CLIENT_PODS: Need = Need {
    cpu_m: 10.0,
    mem_mi: 32.0,
};

/// A list call to the API server failed, named by what it listed
/// ("nodes", "pods", "namespaces").
#[derive(Debug, thiserror::Error)]
#[error("listing {what}: {source}")]
pub struct ListError {
    pub what: &'static str,
    pub source: kube::Error,
}

impl ListError {
    fn of(what: &'static str) -> impl FnOnce(kube::Error) -> ListError {
        move |source| ListError { what, source }
    }
}

/// The label every cell namespace carries (suites/src/cluster.rs).
pub const CELL_LABEL: &str = "vitals.dev/cell";
/// The namespaces of this runner's cells (labelled [`CELL_LABEL`]).
pub async fn cell_namespaces(
    client: &Client,
) -> Result<std::collections::HashSet<String>, ListError> {
    Ok(Api::<Namespace>::all(client.clone())
        .list(&ListParams::default().labels(CELL_LABEL))
        .await
        .map_err(ListError::of("namespaces"))?
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect())
}

/// The nodes' allocatable minus what the running pods request, pods in the
/// namespaces `skip` names aside.
pub async fn free_outside(client: &Client, skip: impl Fn(&str) -> bool) -> Result<Need, ListError> {
    let mut free = allocatable(client).await?;
    for (ns, n) in used_by_namespace(client).await? {
        if !skip(&ns) {
            free.cpu_m -= n.cpu_m;
            free.mem_mi -= n.mem_mi;
        }
    }
    Ok(free)
}

/// What the nodes offer pods, summed.
pub async fn allocatable(client: &Client) -> Result<Need, ListError> {
    let nodes = Api::<Node>::all(client.clone())
        .list(&ListParams::default())
        .await
        .map_err(ListError::of("nodes"))?;
    let mut all = Need::default();
    for n in &nodes.items {
        let a = n.status.as_ref().and_then(|s| s.allocatable.as_ref());
        let q = |k: &str| {
            a.and_then(|a| a.get(k))
                .and_then(|v| quantity::parse(&v.0))
                .unwrap_or(0.0)
        };
        all.cpu_m += q("cpu") * 1000.0;
        all.mem_mi += q("memory") / 1_048_576.0;
    }
    Ok(all)
}

/// What the pods that are not done request, per namespace.
pub async fn used_by_namespace(client: &Client) -> Result<HashMap<String, Need>, ListError> {
    let pods = Api::<Pod>::all(client.clone())
        .list(&ListParams::default().fields("status.phase!=Succeeded,status.phase!=Failed"))
        .await
        .map_err(ListError::of("pods"))?;
    let mut used: HashMap<String, Need> = HashMap::new();
    for p in &pods.items {
        let spec = serde_json::to_value(&p.spec).unwrap_or_default();
        let r = requests(Some(&spec));
        let n = used
            .entry(p.metadata.namespace.clone().unwrap_or_default())
            .or_default();
        n.cpu_m += r.cpu_m;
        n.mem_mi += r.mem_mi;
    }
    Ok(used)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_init_container_larger_than_the_app_sets_the_pod_request() {
        let spec = serde_json::json!({
            "initContainers": [{"resources": {"requests": {"cpu": "250m", "memory": "8Mi"}}}],
            "containers": [{"resources": {"requests": {"cpu": "50m", "memory": "64Mi"}}}]
        });
        assert_eq!(
            requests(Some(&spec)),
            Need {
                cpu_m: 250.0,
                mem_mi: 64.0
            }
        );
    }

    #[test]
    fn a_cell_needs_its_requests_times_replicas() {
        let m = Manifests::parse(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api}\nspec:\n  replicas: 3\n  template:\n    spec:\n      containers:\n        - {name: a, image: x, resources: {requests: {cpu: 100m, memory: 64Mi}}}\n        - {name: b, image: x, resources: {requests: {cpu: \"0.05\", memory: 16Mi}}}\n",
        )
        .unwrap();
        assert_eq!(
            cell_need(&m),
            Need {
                cpu_m: 460.0,
                mem_mi: 272.0
            }
        );
    }

    #[test]
    fn an_install_hook_counts_at_install_not_beside_the_hpa_peak() {
        let m = Manifests::parse(concat!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api}\nspec:\n  replicas: 2\n  template:\n    spec:\n      containers: [{name: a, image: x, resources: {requests: {cpu: 10m, memory: 10Mi}}}]\n",
            "---\napiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: api}\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: api}\n  minReplicas: 2\n  maxReplicas: 10\n",
            "---\napiVersion: batch/v1\nkind: Job\nmetadata: {name: migrate, annotations: {helm.sh/hook: pre-install}}\nspec:\n  template:\n    spec:\n      containers: [{name: m, image: x, resources: {requests: {cpu: 250m, memory: 256Mi}}}]\n",
            "---\napiVersion: batch/v1\nkind: Job\nmetadata: {name: seed, annotations: {helm.sh/hook: post-install}}\nspec:\n  template:\n    spec:\n      containers: [{name: s, image: x, resources: {requests: {cpu: 100m, memory: 16Mi}}}]\n",
            "---\napiVersion: v1\nkind: Pod\nmetadata: {name: t, annotations: {helm.sh/hook: test}}\nspec:\n  containers: [{name: t, image: x, resources: {requests: {cpu: 50m, memory: 8Mi}}}]\n",
        ))
        .unwrap();
        // Install: 2 x 10m + the larger hook (250m) + client 10m = 280m;
        // trials: 10 x 10m + the test pod 50m + client 10m = 160m.
        // Memory: install 20 + 256 + 32 = 308Mi; trials 100 + 8 + 32 = 140Mi.
        assert_eq!(
            cell_need(&m),
            Need {
                cpu_m: 280.0,
                mem_mi: 308.0
            }
        );
    }

    #[test]
    fn an_hpa_target_counts_at_its_max_replicas() {
        let m = Manifests::parse(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api}\nspec:\n  template:\n    spec:\n      containers: [{name: a, image: x, resources: {requests: {cpu: 100m, memory: 10Mi}}}]\n---\napiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: api}\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: api}\n  minReplicas: 2\n  maxReplicas: 5\n",
        )
        .unwrap();
        assert_eq!(
            cell_need(&m),
            Need {
                cpu_m: 510.0,
                mem_mi: 82.0
            }
        );
    }
}
