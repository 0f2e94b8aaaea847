//! Drain vs PDB: each worker is cordoned and the cell's pods on it are
//! evicted through the Eviction API, as `kubectl drain` does (evictions the
//! API refuses with 429 because of a PDB are retried as the pods change).
//! Meanwhile a [`super::Recorder`] counts every PDB's healthy pods at every
//! change of the namespace. Judged:
//!
//! - per PDB: healthy pods never below what the budget allows, at any moment;
//! - per node: the drain completes, replacements Ready on other nodes (a
//!   pod whose volume lives on the drained node can only come back there,
//!   after the uncordon: named, not failed);
//! - a PDB that can never allow an eviction (minAvailable equal to the
//!   replicas) is a clear failure at once, where `kubectl drain` would
//!   retry forever.
//!
//! Only the cell's namespace is drained: other namespaces' pods on the
//! node (system pods, other cells) are not the cell's to move.

use std::time::Duration;

use futures::future::join_all;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{EvictParams, Patch, PatchParams};
use kube::{Api, Client};

use super::{healthy, live_pods, secs, until_view, HaWorkload, Pdb, Sample};
use crate::manifest::selector_matches;
use crate::runtime::view::NamespaceView;
use crate::runtime::wait::Progress;
use crate::verdict::{Evidence, Finding, Verdict};

/// Why a drain did not complete.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DrainError {
    #[error("cordoning node {node}: {message}")]
    Cordon { node: String, message: String },
    #[error("PodDisruptionBudget/{pdb} ({rule}) can never allow an eviction: it wants {desired} healthy of {expected} expected pods, so pod {pod} cannot leave node {node} (kubectl drain would retry forever)")]
    Unsatisfiable {
        pdb: String,
        rule: String,
        desired: i32,
        expected: i32,
        pod: String,
        node: String,
    },
    #[error("evicting pod {pod}: {message}")]
    Eviction { pod: String, message: String },
    #[error("evictions of {pods} still refused by a PDB after {secs}s")]
    Blocked { pods: String, secs: u64 },
    #[error("after draining {node}: {message}")]
    NotWhole { node: String, message: String },
}

/// What draining one node did, in the clock of the cell's recorder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrainRecord {
    pub node: String,
    pub started_ms: u64,
    pub ended_ms: u64,
    pub evicted: Vec<String>,
    /// Pods the drain leaves alone (no controller to replace them: the
    /// harness's own client pod), as `kubectl drain` without `--force`.
    pub skipped: Vec<String>,
    /// Evictions first refused by a PDB (429), retried: the PDB at work.
    pub refused: Vec<String>,
    /// Workloads whose pods can come back only on this node (their volume
    /// lives there), Ready again after the uncordon.
    pub pinned: Vec<String>,
    pub result: Result<String, DrainError>,
}

/// Marks a node (un)schedulable, as `kubectl cordon` / `uncordon`.
pub async fn cordon(client: &Client, node: &str, on: bool) -> Result<(), DrainError> {
    Api::<Node>::all(client.clone())
        .patch(
            node,
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"unschedulable": on}})),
        )
        .await
        .map(drop)
        .map_err(|e| DrainError::Cordon {
            node: node.into(),
            message: e.to_string(),
        })
}

fn on_node(p: &Pod, node: &str) -> bool {
    p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node)
}

fn finished(p: &Pod) -> bool {
    matches!(
        p.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

/// A PDB that can never allow a disruption, read off its live status: it
/// wants as many healthy pods as it expects in all.
fn never_allows(pdb: &PodDisruptionBudget) -> Option<(i32, i32)> {
    let s = pdb.status.as_ref()?;
    (s.expected_pods > 0 && s.desired_healthy >= s.expected_pods)
        .then_some((s.desired_healthy, s.expected_pods))
}

/// Evicts one pod, retrying while a PDB refuses (429) until the pods
/// change enough; a budget that can never allow it fails at once.
async fn evict(
    client: &Client,
    view: &NamespaceView,
    pod: &str,
    node: &str,
    deadline: tokio::time::Instant,
) -> Result<bool, DrainError> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), &view.namespace);
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), &view.namespace);
    let mut refused = false;
    let mut changes = view.changes();
    loop {
        match pods.evict(pod, &EvictParams::default()).await {
            Ok(_) => return Ok(refused),
            Err(kube::Error::Api(e)) if e.code == 404 => return Ok(refused),
            Err(kube::Error::Api(e)) if e.code == 429 => {
                refused = true;
                let labels = view
                    .pods
                    .state()
                    .iter()
                    .find(|p| p.metadata.name.as_deref() == Some(pod))
                    .and_then(|p| p.metadata.labels.clone())
                    .unwrap_or_default();
                let live = pdbs
                    .list(&Default::default())
                    .await
                    .map(|l| l.items)
                    .unwrap_or_default();
                for b in &live {
                    let sel =
                        serde_json::to_value(b.spec.as_ref().and_then(|s| s.selector.clone()))
                            .unwrap_or_default();
                    if !selector_matches(&sel, &labels) {
                        continue;
                    }
                    if let Some((desired, expected)) = never_allows(b) {
                        let spec = b.spec.as_ref();
                        let rule = match (
                            spec.and_then(|s| s.min_available.as_ref()),
                            spec.and_then(|s| s.max_unavailable.as_ref()),
                        ) {
                            (Some(m), _) => format!("minAvailable {}", intstr(m)),
                            (None, Some(u)) => format!("maxUnavailable {}", intstr(u)),
                            _ => "no limit".into(),
                        };
                        return Err(DrainError::Unsatisfiable {
                            pdb: b.metadata.name.clone().unwrap_or_default(),
                            rule,
                            desired,
                            expected,
                            pod: pod.into(),
                            node: node.into(),
                        });
                    }
                }
                // Retried on the next change of the namespace (a
                // replacement turning Ready is what frees the budget).
                tokio::select! {
                    _ = changes.changed() => {}
                    _ = tokio::time::sleep_until(deadline) => return Err(DrainError::Blocked { pods: pod.into(), secs: 0 }),
                }
            }
            Err(e) => {
                return Err(DrainError::Eviction {
                    pod: pod.into(),
                    message: e.to_string(),
                })
            }
        }
    }
}

fn intstr(v: &k8s_openapi::apimachinery::pkg::util::intstr::IntOrString) -> String {
    match v {
        k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(n) => n.to_string(),
        k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(s) => s.clone(),
    }
}

/// Healthy replicas of `w`, not counting any on `off` (the cordoned node).
fn healthy_off(view: &NamespaceView, w: &HaWorkload, off: Option<&str>) -> i32 {
    live_pods(view, &w.selector)
        .iter()
        .filter(|p| healthy(p))
        .filter(|p| off.is_none_or(|n| !on_node(p, n)))
        .count() as i32
}

/// Evicts `pods` concurrently; the first failure wins.
async fn evict_all(
    client: &Client,
    view: &NamespaceView,
    pods: &[String],
    node: &str,
    deadline: tokio::time::Instant,
    timeout: Duration,
    rec: &mut DrainRecord,
) -> Result<(), DrainError> {
    let results = join_all(pods.iter().map(|p| evict(client, view, p, node, deadline))).await;
    let mut out = Ok(());
    for (pod, r) in pods.iter().zip(results) {
        match r {
            Ok(refused) => {
                rec.evicted.push(pod.clone());
                if refused {
                    rec.refused.push(pod.clone());
                }
            }
            Err(DrainError::Blocked { .. }) => {
                out = Err(DrainError::Blocked {
                    pods: pod.clone(),
                    secs: timeout.as_secs(),
                })
            }
            Err(e) => {
                if out.is_ok() {
                    out = Err(e)
                }
            }
        }
    }
    out
}

/// Waits until each of `ws` has all its replicas healthy (off `off`).
async fn wait_whole(
    view: &NamespaceView,
    ws: &[&HaWorkload],
    evicted: &[String],
    node: &str,
    off: Option<&str>,
    deadline: tokio::time::Instant,
) -> Result<(), DrainError> {
    let what = if off.is_some() {
        format!("replacements off {node}")
    } else {
        format!("pods back after the uncordon of {node}")
    };
    until_view(
        view,
        &what,
        deadline.saturating_duration_since(tokio::time::Instant::now()),
        || {
            let gone = evicted.iter().all(|n| {
                !view.pods.state().iter().any(|p| {
                    p.metadata.name.as_deref() == Some(n.as_str())
                        && on_node(p, node)
                        && p.metadata.deletion_timestamp.is_some()
                })
            });
            let missing: Vec<String> = ws
                .iter()
                .filter_map(|w| {
                    let n = healthy_off(view, w, off);
                    (n < w.replicas).then(|| format!("{} {n}/{} healthy", w.id(), w.replicas))
                })
                .collect();
            if !gone {
                Progress::Pending("evicted pods still terminating".into())
            } else if missing.is_empty() {
                Progress::Done(String::new())
            } else {
                Progress::Pending(missing.join(", "))
            }
        },
    )
    .await
    .map(drop)
    .map_err(|e| DrainError::NotWhole {
        node: node.into(),
        message: e.to_string(),
    })
}

/// Drains one node. Pods of workloads without claims go first, and the
/// drain waits for their replacements Ready on other nodes. Pods with
/// claims go last: with node-local volumes (kind's local-path) they can
/// only come back on this node, so the node is uncordoned once they are
/// evicted and the drain waits for them there. The uncordon happens on
/// every path: a failed drain must not leave the cluster a node short.
pub async fn drain_node(
    client: &Client,
    view: &NamespaceView,
    node: &str,
    workloads: &[HaWorkload],
    clock: tokio::time::Instant,
    timeout: Duration,
) -> DrainRecord {
    let started_ms = clock.elapsed().as_millis() as u64;
    let mut rec = DrainRecord {
        node: node.into(),
        started_ms,
        ended_ms: started_ms,
        evicted: Vec::new(),
        skipped: Vec::new(),
        refused: Vec::new(),
        pinned: Vec::new(),
        result: Ok(String::new()),
    };
    if let Err(e) = cordon(client, node, true).await {
        rec.result = Err(e);
        return rec;
    }
    let deadline = tokio::time::Instant::now() + timeout;
    let on_it: Vec<_> = view
        .pods
        .state()
        .into_iter()
        .filter(|p| on_node(p, node) && p.metadata.deletion_timestamp.is_none() && !finished(p))
        .collect();
    let owner = |p: &Pod| {
        workloads
            .iter()
            .find(|w| w.matches(&p.metadata.labels.clone().unwrap_or_default()))
    };
    let (mut movable, mut pinned) = (Vec::new(), Vec::new());
    for p in &on_it {
        let name = p.metadata.name.clone().unwrap_or_default();
        if p.metadata
            .owner_references
            .as_ref()
            .is_none_or(|o| o.is_empty())
        {
            rec.skipped.push(name);
        } else if owner(p).is_some_and(|w| w.claims) {
            pinned.push(name);
        } else {
            movable.push(name);
        }
    }
    let touched = |claims: bool| -> Vec<&HaWorkload> {
        workloads
            .iter()
            .filter(|w| {
                w.claims == claims
                    && on_it
                        .iter()
                        .any(|p| w.matches(&p.metadata.labels.clone().unwrap_or_default()))
            })
            .collect()
    };
    let (stateless, stateful) = (touched(false), touched(true));
    rec.pinned = stateful.iter().map(|w| w.id()).collect();
    let mut result = evict_all(client, view, &movable, node, deadline, timeout, &mut rec).await;
    if result.is_ok() {
        result = wait_whole(view, &stateless, &movable, node, Some(node), deadline).await;
    }
    if result.is_ok() && !pinned.is_empty() {
        result = evict_all(client, view, &pinned, node, deadline, timeout, &mut rec).await;
    }
    let un = cordon(client, node, false).await;
    if result.is_ok() && !pinned.is_empty() {
        let all: Vec<&HaWorkload> = stateless.iter().chain(stateful.iter()).copied().collect();
        result = wait_whole(view, &all, &pinned, node, None, deadline).await;
    }
    let mut result = result.map(|()| String::new());
    if let (Ok(_), Err(e)) = (&result, un) {
        result = Err(e);
    }
    rec.ended_ms = clock.elapsed().as_millis() as u64;
    if let Ok(s) = &mut result {
        *s = format!(
            "drained in {}: {} pod(s) evicted{}{}",
            secs(rec.ended_ms - rec.started_ms),
            rec.evicted.len(),
            if rec.refused.is_empty() {
                String::new()
            } else {
                format!(", {} first refused by a PDB and retried", rec.refused.len())
            },
            if rec.pinned.is_empty() {
                String::new()
            } else {
                format!("; evicted last and back on {node} after the uncordon (their volumes live there): {}", rec.pinned.join(", "))
            }
        );
    }
    rec.result = result;
    rec
}

/// One drain's verdict: it completed with every workload whole again.
pub fn judge_drain(rec: &DrainRecord) -> Verdict {
    let subject = format!("Node/{}", rec.node);
    let expected = "cordon, every pod of the cell evicted through the Eviction API (PDBs respected), replacements Ready on other nodes, uncordon";
    let mut v = match &rec.result {
        Ok(s) => Verdict::pass(&subject, expected, s.clone()),
        Err(e @ DrainError::Unsatisfiable { pdb, .. }) => Verdict::from_findings(
            &subject,
            expected,
            vec![Finding {
                object: format!("PodDisruptionBudget/{pdb}"),
                field: "spec.minAvailable".into(),
                problem: e.to_string(),
                fix: "keep minAvailable below the replica count (or use maxUnavailable: 1), or run more replicas than the budget keeps".into(),
            }],
        ),
        Err(e) => Verdict::fail(&subject, expected, e.to_string()),
    };
    if !rec.evicted.is_empty() {
        v = v.with_evidence(Evidence::Note {
            text: format!("evicted: {}", rec.evicted.join(", ")),
        });
    }
    if !rec.skipped.is_empty() {
        v = v.with_evidence(Evidence::Note {
            text: format!(
                "left alone (no controller; kubectl drain would need --force): {}",
                rec.skipped.join(", ")
            ),
        });
    }
    v
}

/// One PDB's verdict over every drain: the fewest healthy pods seen at
/// any change of the namespace against what the budget allows.
pub fn judge_pdb(
    pdb: &Pdb,
    expected: i32,
    samples: &[(u64, i32)],
    drains: &[DrainRecord],
) -> Verdict {
    let subject = format!("PodDisruptionBudget/{}", pdb.name);
    let floor = pdb.min_healthy(expected);
    let exp = format!(
        "healthy pods never below {floor} of {expected} ({}) at any moment while {} drained",
        pdb.rule(),
        if drains.is_empty() {
            "the nodes were".to_string()
        } else {
            drains
                .iter()
                .map(|d| d.node.as_str())
                .collect::<Vec<_>>()
                .join(" then ")
        }
    );
    let timeline = samples
        .iter()
        .map(|(t, n)| format!("t={} healthy={n}", secs(*t)))
        .collect::<Vec<_>>()
        .join("\n");
    let Some(&(t_min, min)) = samples.iter().min_by_key(|(_, n)| *n) else {
        return Verdict::fail(subject, exp, "nothing was recorded");
    };
    let during = |t: u64| {
        drains
            .iter()
            .find(|d| d.started_ms <= t && t <= d.ended_ms)
            .map(|d| format!(" (draining {})", d.node))
            .unwrap_or_default()
    };
    let v = if min >= floor {
        Verdict::pass(
            &subject,
            exp,
            format!(
                "fewest healthy: {min} at t={}{}; {} changes watched",
                secs(t_min),
                during(t_min),
                samples.len()
            ),
        )
    } else {
        Verdict::fail(
            &subject,
            exp,
            format!("healthy pods fell to {min} at t={}{}, below the budget's {floor}", secs(t_min), during(t_min)),
        )
        .with_hint("a PDB holds only against evictions: a pod that is not Ready for another reason (its readiness depends on a service the drain moved) still counts against it; make readiness depend on the pod alone, or keep the dependency highly available")
    };
    v.with_evidence(Evidence::Note {
        text: format!("timeline:\n{timeline}"),
    })
}

/// The healthy count of one recorder column as (t, count) pairs.
pub fn column(samples: &[Sample], i: usize) -> Vec<(u64, i32)> {
    let mut out: Vec<(u64, i32)> = Vec::new();
    for s in samples {
        let v = s.values.get(i).copied().unwrap_or(0);
        if out.last().map(|(_, x)| *x) != Some(v) {
            out.push((s.t_ms, v));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::IntOrPercent;
    use super::*;

    fn pdb(min: i32) -> Pdb {
        Pdb {
            name: "web".into(),
            selector: serde_json::Value::Null,
            min_available: Some(IntOrPercent::Int(min)),
            max_unavailable: None,
        }
    }

    fn drain(node: &str, from: u64, to: u64) -> DrainRecord {
        DrainRecord {
            node: node.into(),
            started_ms: from,
            ended_ms: to,
            evicted: vec!["web-a".into()],
            skipped: vec![],
            refused: vec![],
            pinned: vec![],
            result: Ok("drained".into()),
        }
    }

    #[test]
    fn a_pdb_that_held_passes_with_the_fewest_healthy_pods_seen() {
        let v = judge_pdb(
            &pdb(1),
            2,
            &[(0, 2), (1200, 1), (9000, 2)],
            &[drain("worker", 1000, 10000)],
        );
        assert!(!v.failed(), "{v}");
        assert!(
            v.observed
                .contains("fewest healthy: 1 at t=1.2s (draining worker)"),
            "{v}"
        );
    }

    #[test]
    fn a_dip_below_the_budget_fails_with_when_and_which_drain() {
        let v = judge_pdb(
            &pdb(2),
            3,
            &[(0, 3), (4100, 1), (8000, 3)],
            &[drain("worker2", 4000, 9000)],
        );
        assert!(v.failed());
        let text = v.to_string();
        assert!(
            text.contains("fell to 1 at t=4.1s (draining worker2), below the budget's 2"),
            "{text}"
        );
        assert!(text.contains("t=4.1s healthy=1"), "{text}");
    }

    #[test]
    fn an_unsatisfiable_pdb_names_the_budget_the_field_and_the_fix() {
        let mut rec = drain("worker", 0, 10);
        rec.result = Err(DrainError::Unsatisfiable {
            pdb: "web".into(),
            rule: "minAvailable 2".into(),
            desired: 2,
            expected: 2,
            pod: "web-a".into(),
            node: "worker".into(),
        });
        let text = judge_drain(&rec).to_string();
        assert!(
            text.contains("PodDisruptionBudget/web `spec.minAvailable`"),
            "{text}"
        );
        assert!(text.contains("can never allow an eviction"), "{text}");
        assert!(
            text.contains("fix: keep minAvailable below the replica count"),
            "{text}"
        );
    }

    #[test]
    fn a_recorder_column_keeps_only_changes() {
        let s = vec![
            Sample {
                t_ms: 0,
                values: vec![2, 1],
            },
            Sample {
                t_ms: 5,
                values: vec![2, 0],
            },
            Sample {
                t_ms: 9,
                values: vec![1, 0],
            },
        ];
        assert_eq!(column(&s, 0), vec![(0, 2), (9, 1)]);
    }

    #[test]
    fn a_budget_wanting_every_expected_pod_never_allows_an_eviction() {
        let b: PodDisruptionBudget = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web"},
            "spec": {"minAvailable": 2},
            "status": {"currentHealthy": 2, "desiredHealthy": 2, "expectedPods": 2, "disruptionsAllowed": 0}
        }))
        .unwrap();
        assert_eq!(never_allows(&b), Some((2, 2)));
        let ok: PodDisruptionBudget = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web"},
            "status": {"currentHealthy": 1, "desiredHealthy": 1, "expectedPods": 2, "disruptionsAllowed": 0}
        }))
        .unwrap();
        assert_eq!(
            never_allows(&ok),
            None,
            "a budget waiting for a replacement frees up"
        );
    }
}
