//! Spread: replicas of a workload with a required anti-affinity or a
//! `DoNotSchedule` topology spread constraint land on distinct topology
//! domains (nodes, for `kubernetes.io/hostname`), as many as the rule and
//! the schedulable nodes allow. A rule that cannot be met leaves replicas
//! Pending forever: that is the failure, named with the scheduler's words.
//! Preferred rules are reported with where the pods landed.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::ListParams;
use kube::{Api, Client};

use super::HaWorkload;
use crate::runtime::ready;
use crate::runtime::view::NamespaceView;
use crate::runtime::wait::{self, Progress};
use crate::verdict::{Evidence, Finding, Verdict};

/// A schedulable node and its labels (the topology domains).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

/// Where one replica is: its node, or why the scheduler gave it none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub pod: String,
    pub node: Option<String>,
    /// The scheduler's message for a pod it could not place.
    pub unschedulable: Option<String>,
}

fn domain(nodes: &[NodeInfo], node: &str, key: &str) -> Option<String> {
    nodes
        .iter()
        .find(|n| n.name == node)
        .and_then(|n| n.labels.get(key).cloned())
}

fn placement_text(placements: &[Placement]) -> String {
    let mut by_node: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for p in placements {
        by_node
            .entry(p.node.as_deref().unwrap_or("(unscheduled)"))
            .or_default()
            .push(&p.pod);
    }
    by_node
        .iter()
        .map(|(n, pods)| format!("{n}: {} ({})", pods.len(), pods.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Judges the placement of `w`'s replicas against its rules.
pub fn judge(w: &HaWorkload, placements: &[Placement], nodes: &[NodeInfo]) -> Verdict {
    let subject = w.id();
    let where_ = placement_text(placements);
    let node_names: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
    let required: Vec<_> = w.spread.iter().filter(|r| r.required).collect();
    if required.is_empty() {
        let expected =
            "replicas placed by the scheduler (no required spread rule: reported, not judged)";
        let mut v = Verdict::pass(&subject, expected, format!("placement: {where_}"));
        let used: BTreeSet<_> = placements
            .iter()
            .filter_map(|p| p.node.as_deref())
            .collect();
        if w.replicas >= 2 && used.len() == 1 && nodes.len() > 1 {
            v = v.with_evidence(Evidence::Note {
                text: format!(
                    "every replica is on one node of {}; a node failure takes the workload down{}",
                    nodes.len(),
                    if w.spread.is_empty() {
                        " (no anti-affinity or spread constraint)"
                    } else {
                        " (the preferred rule was not honoured)"
                    }
                ),
            });
        }
        return v;
    }
    let mut findings = Vec::new();
    let mut expected = Vec::new();
    for r in &required {
        let domains: BTreeSet<String> = nodes
            .iter()
            .filter_map(|n| n.labels.get(&r.topology_key).cloned())
            .collect();
        let mut counts: BTreeMap<String, i32> = domains.iter().map(|d| (d.clone(), 0)).collect();
        for p in placements {
            if let Some(d) = p
                .node
                .as_deref()
                .and_then(|n| domain(nodes, n, &r.topology_key))
            {
                *counts.entry(d).or_default() += 1;
            }
        }
        let want = w.replicas.min(domains.len() as i32);
        let distinct = counts.values().filter(|c| **c > 0).count() as i32;
        let pending: Vec<&Placement> = placements.iter().filter(|p| p.node.is_none()).collect();
        match r.max_skew {
            // Anti-affinity: at most one replica per domain.
            None => {
                expected.push(format!(
                    "{want} replicas on {want} distinct `{}` domains (required anti-affinity; {} schedulable: {})",
                    r.topology_key,
                    domains.len(),
                    node_names.join(", ")
                ));
                if w.replicas > domains.len() as i32 {
                    let why = pending
                        .first()
                        .and_then(|p| p.unschedulable.clone())
                        .map(|m| format!("; the scheduler: {m}"))
                        .unwrap_or_default();
                    findings.push(Finding {
                        object: subject.clone(),
                        field: r.field.clone(),
                        problem: format!(
                            "required anti-affinity on `{}` cannot be met: {} replicas, only {} schedulable {} ({}); {} pod(s) stay Pending{why}",
                            r.topology_key,
                            w.replicas,
                            domains.len(),
                            if domains.len() == 1 { "domain" } else { "domains" },
                            node_names.join(", "),
                            pending.len().max((w.replicas - domains.len() as i32) as usize)
                        ),
                        fix: "make the rule preferred (`preferredDuringSchedulingIgnoredDuringExecution`, the soft preset), or run at most as many replicas as there are nodes".into(),
                    });
                } else if distinct < want || counts.values().any(|c| *c > 1) {
                    findings.push(Finding {
                        object: subject.clone(),
                        field: r.field.clone(),
                        problem: format!(
                            "replicas share a `{}` domain despite the required rule: {where_}",
                            r.topology_key
                        ),
                        fix:
                            "check the rule's labelSelector: it must select the workload's own pods"
                                .into(),
                    });
                } else if !pending.is_empty() {
                    findings.push(Finding {
                        object: subject.clone(),
                        field: r.field.clone(),
                        problem: format!(
                            "{} replica(s) Pending: {}",
                            pending.len(),
                            pending
                                .iter()
                                .map(|p| format!(
                                    "{} ({})",
                                    p.pod,
                                    p.unschedulable.as_deref().unwrap_or("not scheduled")
                                ))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                        fix: "free room on the nodes or lower the requests".into(),
                    });
                }
            }
            // A spread constraint: domains differ by at most maxSkew.
            Some(skew) => {
                expected.push(format!(
                    "replicas spread over `{}` with a skew of at most {skew} (DoNotSchedule)",
                    r.topology_key
                ));
                let (lo, hi) = (
                    counts.values().min().copied().unwrap_or(0),
                    counts.values().max().copied().unwrap_or(0),
                );
                if hi - lo > skew || !pending.is_empty() {
                    findings.push(Finding {
                        object: subject.clone(),
                        field: r.field.clone(),
                        problem: format!(
                            "skew {} over `{}` (max {skew}); {} pod(s) Pending; placement: {where_}",
                            hi - lo,
                            r.topology_key,
                            pending.len()
                        ),
                        fix: "raise maxSkew, use whenUnsatisfiable: ScheduleAnyway, or fit the replicas to the nodes".into(),
                    });
                }
            }
        }
    }
    let expected = expected.join("; ");
    if findings.is_empty() {
        Verdict::pass(subject, expected, format!("placement: {where_}"))
    } else {
        let mut v = Verdict::from_findings(subject, expected, findings);
        v.observed = format!("placement: {where_}");
        v
    }
}

/// Nodes new pods can land on: not cordoned, no NoSchedule/NoExecute taint
/// (the control plane of a multi-node kind cluster carries one).
pub async fn schedulable_nodes(client: &Client) -> Result<Vec<NodeInfo>, kube::Error> {
    let nodes = Api::<Node>::all(client.clone())
        .list(&ListParams::default())
        .await?;
    Ok(nodes
        .items
        .into_iter()
        .filter(|n| {
            let spec = n.spec.as_ref();
            !spec.and_then(|s| s.unschedulable).unwrap_or(false)
                && !spec
                    .and_then(|s| s.taints.as_ref())
                    .into_iter()
                    .flatten()
                    .any(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
        })
        .map(|n| NodeInfo {
            name: n.metadata.name.clone().unwrap_or_default(),
            labels: n.metadata.labels.clone().unwrap_or_default(),
        })
        .collect())
}

/// The workload's live pods as placements.
pub fn placements(view: &NamespaceView, w: &HaWorkload) -> Vec<Placement> {
    let mut out: Vec<Placement> = view
        .pods
        .state()
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| w.matches(&p.metadata.labels.clone().unwrap_or_default()))
        .map(|p| placement_of(p))
        .collect();
    out.sort_by(|a, b| a.pod.cmp(&b.pod));
    out
}

fn placement_of(p: &Pod) -> Placement {
    let unschedulable = p
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False")
        .map(|c| c.message.clone().unwrap_or_else(|| "Unschedulable".into()));
    Placement {
        pod: p.metadata.name.clone().unwrap_or_default(),
        node: p.spec.as_ref().and_then(|s| s.node_name.clone()),
        unschedulable,
    }
}

/// Waits until every replica is placed (or the scheduler has refused one),
/// then judges the placement.
pub async fn check(
    client: &Client,
    view: &NamespaceView,
    w: &HaWorkload,
    timeout: Duration,
) -> Verdict {
    let v = view.clone();
    let w2 = w.clone();
    let settled = wait::until(
        ready::api_for(client, &view.namespace, "apps/v1", &w.kind),
        &w.id(),
        &w.name,
        timeout,
        view.changes(),
        move |_| {
            let ps = placements(&v, &w2);
            let placed = ps.iter().filter(|p| p.node.is_some()).count() as i32;
            if ps.iter().any(|p| p.unschedulable.is_some()) || placed >= w2.replicas {
                Progress::Done(String::new())
            } else {
                Progress::Pending(format!("{placed} of {} replicas placed", w2.replicas))
            }
        },
    )
    .await;
    if let Err(e) = settled {
        return Verdict::fail(
            w.id(),
            "every replica placed or refused by the scheduler",
            e.to_string(),
        );
    }
    match schedulable_nodes(client).await {
        Ok(nodes) => judge(w, &placements(view, w), &nodes),
        Err(e) => Verdict::fail(w.id(), "the nodes can be listed", e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::SpreadRule;
    use super::*;

    fn nodes(n: usize) -> Vec<NodeInfo> {
        (1..=n)
            .map(|i| NodeInfo {
                name: format!("worker{i}"),
                labels: BTreeMap::from([("kubernetes.io/hostname".into(), format!("worker{i}"))]),
            })
            .collect()
    }

    fn web(replicas: i32, required: bool) -> HaWorkload {
        HaWorkload {
            kind: "Deployment".into(),
            name: "web".into(),
            selector: serde_json::json!({"matchLabels": {"app": "web"}}),
            replicas,
            pdb: None,
            rolling: None,
            spread: vec![SpreadRule {
                required,
                topology_key: "kubernetes.io/hostname".into(),
                max_skew: None,
                field: "spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0]".into(),
            }],
            readiness: true,
            grace_seconds: 30,
            pre_stop: false,
            claims: false,
            fronts: vec![],
        }
    }

    fn at(pod: &str, node: Option<&str>) -> Placement {
        Placement {
            pod: pod.into(),
            node: node.map(String::from),
            unschedulable: node.is_none().then(|| {
                "0/3 nodes are available: 2 node(s) didn't match pod anti-affinity rules".into()
            }),
        }
    }

    #[test]
    fn required_anti_affinity_on_distinct_nodes_passes_with_the_placement() {
        let v = judge(
            &web(2, true),
            &[at("web-a", Some("worker1")), at("web-b", Some("worker2"))],
            &nodes(2),
        );
        assert!(!v.failed(), "{v}");
        assert!(
            v.observed
                .contains("worker1: 1 (web-a); worker2: 1 (web-b)"),
            "{v}"
        );
    }

    #[test]
    fn more_replicas_than_nodes_under_a_required_rule_fails_with_the_schedulers_words_and_a_fix() {
        let v = judge(
            &web(3, true),
            &[
                at("web-a", Some("worker1")),
                at("web-b", Some("worker2")),
                at("web-c", None),
            ],
            &nodes(2),
        );
        assert!(v.failed());
        let text = v.to_string();
        assert!(
            text.contains("cannot be met: 3 replicas, only 2 schedulable domains"),
            "{text}"
        );
        assert!(
            text.contains("didn't match pod anti-affinity rules"),
            "{text}"
        );
        assert!(
            text.contains("preferredDuringSchedulingIgnoredDuringExecution"),
            "{text}"
        );
        assert!(
            text.contains("podAntiAffinity.requiredDuringScheduling"),
            "{text}"
        );
    }

    #[test]
    fn a_preferred_rule_is_reported_not_judged_and_says_when_all_replicas_share_a_node() {
        let v = judge(
            &web(2, false),
            &[at("web-a", Some("worker1")), at("web-b", Some("worker1"))],
            &nodes(2),
        );
        assert!(!v.failed());
        assert!(
            v.to_string().contains("every replica is on one node of 2"),
            "{v}"
        );
    }

    #[test]
    fn a_spread_constraint_is_judged_by_its_skew() {
        let mut w = web(3, true);
        w.spread[0].max_skew = Some(1);
        let ok = judge(
            &w,
            &[
                at("a", Some("worker1")),
                at("b", Some("worker2")),
                at("c", Some("worker1")),
            ],
            &nodes(2),
        );
        assert!(!ok.failed(), "{ok}");
        let bad = judge(
            &w,
            &[
                at("a", Some("worker1")),
                at("b", Some("worker1")),
                at("c", Some("worker1")),
            ],
            &nodes(2),
        );
        assert!(bad.failed());
        assert!(bad.to_string().contains("skew 3"), "{bad}");
    }
}
