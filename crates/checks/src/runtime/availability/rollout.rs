//! Zero-downtime rolling update: a pod-template change (an annotation
//! bump, what `kubectl rollout restart` does and what any `helm upgrade`
//! with a new image or config does) rolls the Deployment while a
//! [`super::Recorder`] counts its healthy and live pods at every change.
//! Ready pods never drop below `replicas - maxUnavailable`, live pods
//! never exceed `replicas + maxSurge`, and the rollout completes.
//!
//! Two budgets a rollout cannot be trusted with are named too: no
//! readiness probe (a new pod counts as available the moment its container
//! starts), and a maxUnavailable that takes an HA workload below its own
//! PDB (PDBs guard evictions, never rollouts).

use std::time::Duration;

use kube::api::{Patch, PatchParams};
use kube::Client;
use serde_json::Value;

use super::{secs, HaWorkload};
use crate::runtime::ready;
use crate::runtime::view::NamespaceView;
use crate::runtime::wait::{self, Progress};
use crate::verdict::{Evidence, Finding, Verdict};

/// The annotation a rollout bumps on the pod template.
pub const ANNOTATION: &str = "vitals.dev/rollout";

/// What one rollout did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutRecord {
    /// `spec.replicas` when the rollout began: an HPA may have moved it
    /// from the rendered minimum (the request streams are load too).
    pub replicas: i32,
    pub started_ms: u64,
    pub ended_ms: u64,
    /// (t, healthy, live) at every change.
    pub samples: Vec<(u64, i32, i32)>,
    pub result: Result<String, RolloutError>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RolloutError {
    #[error("patching the pod template of Deployment/{name}: {message}")]
    Patch { name: String, message: String },
    #[error("{0}")]
    NotDone(String),
}

/// The Deployment's live `spec.replicas`.
pub async fn live_replicas(client: &Client, ns: &str, name: &str) -> Option<i32> {
    let d = ready::api_for(client, ns, "apps/v1", "Deployment")
        .get(name)
        .await
        .ok()?;
    serde_json::to_value(d)
        .ok()?
        .pointer("/spec/replicas")?
        .as_i64()
        .map(|n| n as i32)
}

/// Bumps the pod-template annotation: a new ReplicaSet, rolled.
pub async fn bump(client: &Client, ns: &str, name: &str, value: &str) -> Result<(), RolloutError> {
    ready::api_for(client, ns, "apps/v1", "Deployment")
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"template": {"metadata": {"annotations": {ANNOTATION: value}}}}})),
        )
        .await
        .map(drop)
        .map_err(|e| RolloutError::Patch {
            name: name.into(),
            message: e.to_string(),
        })
}

fn int(v: &Value, p: &str) -> i64 {
    v.pointer(p).and_then(Value::as_i64).unwrap_or(0)
}

/// Waits until the Deployment has rolled to the bumped template: observed,
/// every replica updated and available, the old ones gone.
pub async fn wait_rolled(
    client: &Client,
    view: &NamespaceView,
    w: &HaWorkload,
    value: &str,
    timeout: Duration,
) -> Result<String, RolloutError> {
    let v = view.clone();
    let value = value.to_string();
    wait::until(
        ready::api_for(client, &view.namespace, "apps/v1", "Deployment"),
        &w.id(),
        &w.name,
        timeout,
        view.changes(),
        move |o| {
            let Some(o) = o else {
                return Progress::Pending("not found".into());
            };
            let d = serde_json::to_value(o).unwrap_or_default();
            let want = int(&d, "/spec/replicas");
            let bumped = d
                .pointer("/spec/template/metadata/annotations")
                .and_then(|a| a.get(ANNOTATION))
                .and_then(Value::as_str)
                == Some(value.as_str());
            let observed = int(&d, "/status/observedGeneration") >= int(&d, "/metadata/generation");
            let (updated, available, total) = (
                int(&d, "/status/updatedReplicas"),
                int(&d, "/status/availableReplicas"),
                int(&d, "/status/replicas"),
            );
            if bumped && observed && updated == want && available == want && total == want {
                return Progress::Done(format!("{want} replicas updated and available"));
            }
            // A new pod that will never start ends the wait with its cause.
            if let Progress::Failed(why) = ready::judge("Deployment", Some(o), &v) {
                return Progress::Failed(why);
            }
            Progress::Pending(format!(
                "{updated} updated, {available} available, {total} in all of {want}"
            ))
        },
    )
    .await
    .map_err(|e| RolloutError::NotDone(e.to_string()))
}

/// Judges one rollout against the Deployment's budgets.
pub fn judge(w: &HaWorkload, rec: &RolloutRecord) -> Verdict {
    let subject = w.id();
    let Some(r) = w.rolling else {
        return Verdict::skip(subject, "not a RollingUpdate Deployment");
    };
    let n = rec.replicas;
    let floor = n - r.unavailable(n);
    let ceiling = n + r.surge(n);
    let expected = format!(
        "a pod-template change rolls {n} replicas with ready pods never below {floor} (maxUnavailable {}) and never more than {ceiling} pods (maxSurge {})",
        r.max_unavailable, r.max_surge
    );
    let mut findings = Vec::new();
    if !w.readiness {
        findings.push(Finding {
            object: subject.clone(),
            field: "spec.template.spec.containers[].readinessProbe".into(),
            problem: "no readiness probe: a new pod counts as available the moment its container starts, so the rollout removes old pods before the new ones serve (requests are dropped)".into(),
            fix: "add a readinessProbe that answers only once the app serves".into(),
        });
    }
    if let Some(pdb) = w.pdb.as_ref().filter(|_| w.is_ha()) {
        let keep = pdb.min_healthy(n);
        if floor < keep {
            findings.push(Finding {
                object: subject.clone(),
                field: "spec.strategy.rollingUpdate.maxUnavailable".into(),
                problem: format!(
                    "maxUnavailable {} lets a rollout take {} of {n} replicas down at once, below the {keep} that PodDisruptionBudget/{} keeps (PDBs guard evictions, not rollouts)",
                    r.max_unavailable,
                    n - floor,
                    pdb.name
                ),
                fix: "set maxUnavailable: 0 with maxSurge: 1 (or at most replicas minus the PDB's minimum)".into(),
            });
        }
    }
    let min = rec.samples.iter().min_by_key(|s| s.1).copied();
    let max = rec.samples.iter().max_by_key(|s| s.2).copied();
    if let Some((t, ready, _)) = min.filter(|m| m.1 < floor) {
        findings.push(Finding {
            object: subject.clone(),
            field: "spec.strategy.rollingUpdate.maxUnavailable".into(),
            problem: format!("ready pods fell to {ready} at t={}, below {floor}", secs(t)),
            fix: "check the readiness probe and maxUnavailable".into(),
        });
    }
    if let Some((t, _, live)) = max.filter(|m| m.2 > ceiling) {
        findings.push(Finding {
            object: subject.clone(),
            field: "spec.strategy.rollingUpdate.maxSurge".into(),
            problem: format!("{live} pods at t={}, above {ceiling}", secs(t)),
            fix: "a surge above maxSurge means another controller (an HPA) scaled during the rollout; rerun without load".into(),
        });
    }
    let observed = format!(
        "{}; ready between {} and {n}, at most {} pods",
        match &rec.result {
            Ok(s) => format!(
                "rolled in {} ({s})",
                secs(rec.ended_ms.saturating_sub(rec.started_ms))
            ),
            Err(e) => format!("did not complete: {e}"),
        },
        min.map(|m| m.1).unwrap_or(0),
        max.map(|m| m.2).unwrap_or(0)
    );
    let mut v = if findings.is_empty() && rec.result.is_ok() {
        Verdict::pass(&subject, expected, observed)
    } else {
        let mut v = Verdict::from_findings(&subject, expected, findings);
        v.outcome = crate::verdict::Outcome::Fail;
        v.observed = observed;
        v
    };
    v = v.with_evidence(Evidence::Note {
        text: format!(
            "timeline:\n{}",
            rec.samples
                .iter()
                .map(|(t, r, l)| format!("t={} ready={r} pods={l}", secs(*t)))
                .collect::<Vec<_>>()
                .join("\n")
        ),
    });
    v
}

#[cfg(test)]
mod tests {
    use super::super::{IntOrPercent, Pdb, Rolling};
    use super::*;

    fn web(max_unavailable: IntOrPercent, readiness: bool) -> HaWorkload {
        HaWorkload {
            kind: "Deployment".into(),
            name: "web".into(),
            selector: Value::Null,
            replicas: 3,
            pdb: Some(Pdb {
                name: "web".into(),
                selector: Value::Null,
                min_available: Some(IntOrPercent::Int(2)),
                max_unavailable: None,
            }),
            rolling: Some(Rolling {
                max_surge: IntOrPercent::Int(1),
                max_unavailable,
            }),
            spread: vec![],
            readiness,
            grace_seconds: 30,
            pre_stop: false,
            claims: false,
            fronts: vec![],
        }
    }

    fn rec(samples: Vec<(u64, i32, i32)>) -> RolloutRecord {
        RolloutRecord {
            replicas: 3,
            started_ms: 0,
            ended_ms: 12_000,
            samples,
            result: Ok("3 replicas updated and available".into()),
        }
    }

    #[test]
    fn a_surge_one_rollout_that_kept_every_replica_ready_passes() {
        let v = judge(
            &web(IntOrPercent::Int(0), true),
            &rec(vec![(0, 3, 3), (500, 3, 4), (3000, 3, 3)]),
        );
        assert!(!v.failed(), "{v}");
        assert!(
            v.observed.contains("ready between 3 and 3, at most 4 pods"),
            "{v}"
        );
    }

    #[test]
    fn max_unavailable_100_percent_fails_on_the_field_against_the_pdb_and_what_was_seen() {
        let v = judge(
            &web(IntOrPercent::Percent(100), true),
            &rec(vec![(0, 3, 3), (400, 0, 3), (5000, 3, 3)]),
        );
        assert!(v.failed());
        let text = v.to_string();
        assert!(text.contains("`spec.strategy.rollingUpdate.maxUnavailable`: maxUnavailable 100% lets a rollout take 3 of 3 replicas down at once"), "{text}");
        assert!(text.contains("PodDisruptionBudget/web"), "{text}");
        assert!(text.contains("ready between 0 and 3"), "{text}");
    }

    #[test]
    fn no_readiness_probe_fails_with_why_it_drops_requests() {
        let v = judge(&web(IntOrPercent::Int(0), false), &rec(vec![(0, 3, 3)]));
        assert!(v.failed());
        assert!(
            v.to_string()
                .contains("no readiness probe: a new pod counts as available"),
            "{v}"
        );
    }

    #[test]
    fn a_surge_beyond_max_surge_is_named() {
        let v = judge(
            &web(IntOrPercent::Int(0), true),
            &rec(vec![(0, 3, 3), (900, 3, 6)]),
        );
        assert!(v.failed());
        assert!(v.to_string().contains("6 pods at t=0.9s, above 4"), "{v}");
    }
}
