//! Zero-downtime rolling update: a release upgrade that changes the pod
//! template (`helm upgrade` of the installed release with its own values
//! plus a new [`TOKEN_VALUE`], which the chart renders as the
//! [`ANNOTATION`] of every Deployment's pod template) rolls the
//! Deployments while a [`super::Recorder`] counts their healthy and live
//! pods at every change. Ready pods never drop below `replicas -
//! maxUnavailable`, live pods never exceed `replicas + maxSurge`, and the
//! rollout completes. Through helm, the upgrade is the release's own: its
//! apply, its pre- and post-upgrade hooks (migrations), the strategy the
//! chart renders.
//!
//! A chart that offers no token (a user's chart) is rolled by patching the
//! annotation onto the live template instead, as `kubectl rollout
//! restart` does, and the verdict says so: that measures the strategy, not
//! the release's upgrade.
//!
//! Two budgets a rollout cannot be trusted with are named too: no
//! readiness probe (a new pod counts as available the moment its container
//! starts), and a maxUnavailable that takes an HA workload below its own
//! PDB (PDBs guard evictions, never rollouts).

use std::collections::BTreeSet;
use std::time::Duration;

use kube::api::{Patch, PatchParams};
use kube::Client;
use serde_json::Value;

use super::{secs, HaWorkload, Sample};
use crate::runtime::ready;
use crate::runtime::view::NamespaceView;
use crate::runtime::wait::{self, Progress};
use crate::verdict::{Evidence, Finding, Verdict};
use crate::Manifests;

/// The annotation a rollout changes on the pod template.
pub const ANNOTATION: &str = "vitals.dev/rollout";

/// The value a chart offers for it (vitals-common's
/// `vitals.rollout.annotation`), set with `--set-string`.
pub const TOKEN_VALUE: &str = "global.rolloutToken";

/// How the pod template was changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// `helm upgrade` of the release with a new [`TOKEN_VALUE`]: every
    /// Deployment in `together` rolled from the one upgrade, at once.
    HelmUpgrade {
        release: String,
        token: String,
        /// How long helm itself ran (pre-upgrade hooks, apply,
        /// post-upgrade hooks); the rollout goes on after it returns.
        helm_ms: u64,
        together: Vec<String>,
    },
    /// The annotation patched onto the live template, and why not
    /// through helm.
    Patch { why: String },
}

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
    pub via: Via,
    pub result: Result<String, RolloutError>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RolloutError {
    #[error("patching the pod template of Deployment/{name}: {message}")]
    Patch { name: String, message: String },
    #[error("`helm upgrade` of release {release}: {message}")]
    Upgrade { release: String, message: String },
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

/// The Deployments whose pod template carries `token` as [`ANNOTATION`] in
/// a render with `--set-string global.rolloutToken=<token>`: the ones a
/// release upgrade with that token rolls.
pub fn offered(with_token: &Manifests, token: &str) -> BTreeSet<String> {
    with_token
        .of_kind("Deployment")
        .filter(|d| {
            d.doc
                .pointer("/spec/template/metadata/annotations")
                .and_then(|a| a.get(ANNOTATION))
                .and_then(Value::as_str)
                == Some(token)
        })
        .map(|d| d.name.clone())
        .collect()
}

/// Workload `i`'s (t, healthy, live) from a recorder that measured two
/// values per workload, one sample per change of the pair.
pub fn pair_column(samples: &[Sample], i: usize) -> Vec<(u64, i32, i32)> {
    let mut out: Vec<(u64, i32, i32)> = Vec::new();
    for s in samples {
        let at = |k: usize| s.values.get(2 * i + k).copied().unwrap_or(0);
        let (h, l) = (at(0), at(1));
        if out.last().map(|&(_, a, b)| (a, b)) != Some((h, l)) {
            out.push((s.t_ms, h, l));
        }
    }
    out
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
    let how = match &rec.via {
        Via::HelmUpgrade { release, .. } => format!("`helm upgrade {release}`"),
        Via::Patch { .. } => "a patched pod template (not helm)".to_string(),
    };
    let observed = format!(
        "{}; ready between {} and {n}, at most {} pods",
        match &rec.result {
            Ok(s) => format!(
                "{how} rolled it in {} ({s})",
                secs(rec.ended_ms.saturating_sub(rec.started_ms))
            ),
            Err(e) => format!("{how} did not complete: {e}"),
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
        text: match &rec.via {
            Via::HelmUpgrade {
                release,
                token,
                helm_ms,
                together,
            } => format!(
                "rolled by `helm upgrade {release}` with the install's values and `--set-string {TOKEN_VALUE}={token}` (the chart's {ANNOTATION} pod annotation): the release's own apply, hooks and rendered strategy; helm ran {}, and the upgrade rolled {}",
                secs(*helm_ms),
                match together.as_slice() {
                    [one] => format!("Deployment/{one}"),
                    all => format!(
                        "{} at once",
                        all.iter()
                            .map(|d| format!("Deployment/{d}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                }
            ),
            Via::Patch { why } => format!(
                "not rolled through helm: {why}; the {ANNOTATION} annotation was patched onto the live pod template instead (as `kubectl rollout restart` does), so this measured the Deployment's strategy, not the release's upgrade (its hooks and apply)"
            ),
        },
    });
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
            via: Via::HelmUpgrade {
                release: "web".into(),
                token: "1700000000000".into(),
                helm_ms: 4_000,
                together: vec!["web".into(), "worker".into()],
            },
            result: Ok("3 replicas updated and available".into()),
        }
    }

    fn notes(v: &Verdict) -> String {
        v.evidence
            .iter()
            .filter_map(|e| match e {
                Evidence::Note { text } => Some(text.as_str()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn a_helm_upgrade_rollout_says_which_release_token_and_deployments_rolled() {
        let v = judge(
            &web(IntOrPercent::Int(0), true),
            &rec(vec![(0, 3, 3), (500, 3, 4), (3000, 3, 3)]),
        );
        assert!(!v.failed(), "{v}");
        assert!(
            v.observed
                .starts_with("`helm upgrade web` rolled it in 12.0s"),
            "{v}"
        );
        let n = notes(&v);
        assert!(
            n.contains("--set-string global.rolloutToken=1700000000000"),
            "{n}"
        );
        assert!(n.contains("helm ran 4.0s"), "{n}");
        assert!(
            n.contains("Deployment/web, Deployment/worker at once"),
            "{n}"
        );
    }

    #[test]
    fn a_chart_without_the_token_is_patched_and_the_evidence_says_not_through_helm() {
        let mut r = rec(vec![(0, 3, 3), (500, 3, 4), (3000, 3, 3)]);
        r.via = Via::Patch {
            why: "the chart renders no vitals.dev/rollout annotation from global.rolloutToken"
                .into(),
        };
        let v = judge(&web(IntOrPercent::Int(0), true), &r);
        assert!(!v.failed(), "{v}");
        assert!(
            v.observed
                .starts_with("a patched pod template (not helm) rolled it"),
            "{v}"
        );
        let n = notes(&v);
        assert!(
            n.contains("not rolled through helm: the chart renders no vitals.dev/rollout"),
            "{n}"
        );
        assert!(n.contains("not the release's upgrade"), "{n}");
    }

    #[test]
    fn a_failed_upgrade_fails_the_rollout_with_helms_words() {
        let mut r = rec(vec![(0, 3, 3)]);
        r.result = Err(RolloutError::Upgrade {
            release: "web".into(),
            message: "pre-upgrade hooks failed: job web-migrate failed".into(),
        });
        let v = judge(&web(IntOrPercent::Int(0), true), &r);
        assert!(v.failed());
        assert!(
            v.observed.contains(
                "did not complete: `helm upgrade` of release web: pre-upgrade hooks failed"
            ),
            "{v}"
        );
    }

    #[test]
    fn only_deployments_whose_pod_template_carries_the_token_are_offered() {
        let m = Manifests::parse(
            r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec: {template: {metadata: {annotations: {vitals.dev/rollout: "42"}}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: legacy}
spec: {template: {metadata: {annotations: {other: "42"}}}}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec: {template: {metadata: {annotations: {vitals.dev/rollout: "42"}}}}
"#,
        )
        .unwrap();
        assert_eq!(offered(&m, "42").into_iter().collect::<Vec<_>>(), ["web"]);
        assert!(offered(&m, "43").is_empty());
    }

    #[test]
    fn each_workload_reads_its_own_pair_of_one_shared_recorder() {
        let s = |t_ms, values: Vec<i32>| Sample { t_ms, values };
        let samples = vec![
            s(0, vec![3, 3, 2, 2]),
            s(100, vec![3, 4, 2, 2]),
            s(200, vec![3, 4, 2, 3]),
            s(900, vec![3, 3, 2, 2]),
        ];
        assert_eq!(
            pair_column(&samples, 0),
            [(0, 3, 3), (100, 3, 4), (900, 3, 3)]
        );
        assert_eq!(
            pair_column(&samples, 1),
            [(0, 2, 2), (200, 2, 3), (900, 2, 2)]
        );
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
