//! The availability tier: the HA promises a chart makes (replicas, PDBs,
//! anti-affinity, rolling-update budgets, backups) proved on a multi-node
//! cluster, where they can fail. One file per check kind, each a pure
//! `judge` over what was watched plus the async part that watches:
//!
//! - [`spread`]: replicas land on distinct nodes as far as the rules and
//!   the nodes allow;
//! - [`drain`]: every worker drained through the Eviction API, every PDB
//!   held at every moment (watched, not sampled);
//! - [`traffic`]: a steady request stream to each HA Service through the
//!   drains and rollouts loses nothing;
//! - [`rollout`]: a pod-template change rolls within maxSurge and
//!   maxUnavailable;
//! - [`graceful`]: a pod deleted under a request stream stops within its
//!   grace period and loses no request;
//! - [`recovery`]: a deleted pod of each workload is back and Ready within
//!   the seed's bound;
//! - [`restore`]: a backup, restored into a scratch database, holds the rows
//!   written before it.
//!
//! Everything a check needs is derived here from the rendered manifests
//! ([`derive`]); nothing is configured per chart.

pub mod drain;
pub mod graceful;
pub mod recovery;
pub mod restore;
pub mod rollout;
pub mod spread;
pub mod traffic;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use serde_json::Value;

use crate::manifest::{selector_matches, string_map};
use crate::runtime::view::NamespaceView;
use crate::runtime::wait::{Progress, WaitError};
use crate::Manifests;

/// `3`, or `"25%"` of something: how PDBs and rolling updates count pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntOrPercent {
    Int(i32),
    Percent(i32),
}

impl IntOrPercent {
    pub fn parse(v: &Value) -> Option<IntOrPercent> {
        match v {
            Value::Number(n) => n.as_i64().map(|n| IntOrPercent::Int(n as i32)),
            Value::String(s) => match s.strip_suffix('%') {
                Some(p) => p.trim().parse().ok().map(IntOrPercent::Percent),
                None => s.trim().parse().ok().map(IntOrPercent::Int),
            },
            _ => None,
        }
    }

    /// Scaled against `total` the way Kubernetes does
    /// (`intstr.GetScaledValueFromIntOrPercent`): a percentage rounds up or
    /// down as the caller's rule says.
    pub fn of(self, total: i32, round_up: bool) -> i32 {
        match self {
            IntOrPercent::Int(n) => n,
            IntOrPercent::Percent(p) => {
                let x = f64::from(p) * f64::from(total) / 100.0;
                if round_up {
                    x.ceil() as i32
                } else {
                    x.floor() as i32
                }
            }
        }
    }
}

impl std::fmt::Display for IntOrPercent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IntOrPercent::Int(n) => write!(f, "{n}"),
            IntOrPercent::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// A PodDisruptionBudget as rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pdb {
    pub name: String,
    pub selector: Value,
    pub min_available: Option<IntOrPercent>,
    pub max_unavailable: Option<IntOrPercent>,
}

impl Pdb {
    /// The fewest healthy pods the budget allows out of `expected`, as the
    /// disruption controller computes it (both forms round up).
    pub fn min_healthy(&self, expected: i32) -> i32 {
        match (self.min_available, self.max_unavailable) {
            (Some(m), _) => m.of(expected, true),
            (None, Some(u)) => (expected - u.of(expected, true)).max(0),
            (None, None) => 0,
        }
    }

    /// The rule in the chart's words: `minAvailable 2`, `maxUnavailable 1`.
    pub fn rule(&self) -> String {
        match (self.min_available, self.max_unavailable) {
            (Some(m), _) => format!("minAvailable {m}"),
            (None, Some(u)) => format!("maxUnavailable {u}"),
            (None, None) => "no limit".into(),
        }
    }
}

/// A Deployment's RollingUpdate budget, as rendered (Kubernetes' defaults
/// where unset: 25% each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rolling {
    pub max_surge: IntOrPercent,
    pub max_unavailable: IntOrPercent,
}

impl Rolling {
    /// Pods above `replicas` a rollout may add (a percentage rounds up).
    pub fn surge(&self, replicas: i32) -> i32 {
        self.max_surge.of(replicas, true)
    }

    /// Ready pods a rollout may take away (a percentage rounds down; if
    /// both come to zero, the Deployment controller uses one unavailable).
    pub fn unavailable(&self, replicas: i32) -> i32 {
        let u = self.max_unavailable.of(replicas, false);
        if u == 0 && self.surge(replicas) == 0 {
            1
        } else {
            u
        }
    }
}

/// One rule that asks for replicas on different topology domains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpreadRule {
    /// `required` anti-affinity or a `DoNotSchedule` spread constraint;
    /// otherwise the scheduler only prefers it.
    pub required: bool,
    pub topology_key: String,
    /// Spread constraints only.
    pub max_skew: Option<i32>,
    /// Where the rule is written, for the message.
    pub field: String,
}

/// A Service in front of a workload: what the traffic stream calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Front {
    pub service: String,
    pub port: i64,
    /// The readiness probe's path, which the app answers 200 on while it
    /// is ready.
    pub path: String,
}

/// A long-running workload and every HA fact about it the manifests state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaWorkload {
    pub kind: String,
    pub name: String,
    pub selector: Value,
    /// `spec.replicas`, or the HPA's minimum when an HPA owns the count.
    pub replicas: i32,
    pub pdb: Option<Pdb>,
    /// Deployments with a RollingUpdate strategy.
    pub rolling: Option<Rolling>,
    pub spread: Vec<SpreadRule>,
    /// Every app container has a readiness probe.
    pub readiness: bool,
    pub grace_seconds: i64,
    pub pre_stop: bool,
    /// Claim templates (StatefulSets): with node-local storage, a pod
    /// can come back only on the node its volume lives on.
    pub claims: bool,
    pub fronts: Vec<Front>,
}

impl HaWorkload {
    pub fn id(&self) -> String {
        format!("{}/{}", self.kind, self.name)
    }

    pub fn slug(&self) -> String {
        format!("{}/{}", self.kind.to_ascii_lowercase(), self.name)
    }

    /// Highly available as the seeds mean it: two or more replicas behind
    /// a PDB. Traffic to such a workload's Services must lose nothing.
    pub fn is_ha(&self) -> bool {
        self.replicas >= 2 && self.pdb.is_some()
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        selector_matches(&self.selector, labels)
    }
}

fn hpa_min(m: &Manifests, kind: &str, name: &str) -> Option<i32> {
    m.of_kind("HorizontalPodAutoscaler").find_map(|h| {
        let t = h.doc.pointer("/spec/scaleTargetRef")?;
        (t.get("kind")?.as_str()? == kind && t.get("name")?.as_str()? == name)
            .then(|| h.doc.pointer("/spec/minReplicas").and_then(Value::as_i64))
            .map(|n| n.unwrap_or(1) as i32)
    })
}

fn spread_rules(pod_spec: &Value, base: &str) -> Vec<SpreadRule> {
    let mut out = Vec::new();
    let anti = pod_spec.pointer("/affinity/podAntiAffinity");
    for (key, required) in [
        ("requiredDuringSchedulingIgnoredDuringExecution", true),
        ("preferredDuringSchedulingIgnoredDuringExecution", false),
    ] {
        for (i, term) in anti
            .and_then(|a| a.get(key))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            // A preferred term wraps the affinity term with a weight.
            let t = term.get("podAffinityTerm").unwrap_or(term);
            if let Some(k) = t.get("topologyKey").and_then(Value::as_str) {
                out.push(SpreadRule {
                    required,
                    topology_key: k.to_string(),
                    max_skew: None,
                    field: format!("{base}.affinity.podAntiAffinity.{key}[{i}]"),
                });
            }
        }
    }
    for (i, c) in pod_spec
        .get("topologySpreadConstraints")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let Some(k) = c.get("topologyKey").and_then(Value::as_str) else {
            continue;
        };
        out.push(SpreadRule {
            required: c.get("whenUnsatisfiable").and_then(Value::as_str) != Some("ScheduleAnyway"),
            topology_key: k.to_string(),
            max_skew: c.get("maxSkew").and_then(Value::as_i64).map(|n| n as i32),
            field: format!("{base}.topologySpreadConstraints[{i}]"),
        });
    }
    out
}

/// Every long-running workload (not a hook) with its HA facts.
pub fn derive(m: &Manifests) -> Vec<HaWorkload> {
    let pdbs: Vec<Pdb> = m
        .of_kind("PodDisruptionBudget")
        .map(|p| Pdb {
            name: p.name.clone(),
            selector: p.doc.pointer("/spec/selector").cloned().unwrap_or_default(),
            min_available: p
                .doc
                .pointer("/spec/minAvailable")
                .and_then(IntOrPercent::parse),
            max_unavailable: p
                .doc
                .pointer("/spec/maxUnavailable")
                .and_then(IntOrPercent::parse),
        })
        .collect();
    m.workloads()
        .filter(|w| w.is_long_running() && w.object.hooks().is_empty())
        .filter(|w| matches!(w.object.kind.as_str(), "Deployment" | "StatefulSet"))
        .map(|w| {
            let o = w.object;
            let labels = w.pod_labels();
            let pod_spec = w.pod_spec().cloned().unwrap_or_default();
            let replicas = match o.doc.pointer("/spec/replicas").and_then(Value::as_i64) {
                Some(n) => n as i32,
                None => hpa_min(m, &o.kind, &o.name).unwrap_or(1),
            };
            let rolling = (o.kind == "Deployment"
                && o.doc.pointer("/spec/strategy/type").and_then(Value::as_str)
                    != Some("Recreate"))
            .then(|| {
                let ru = o.doc.pointer("/spec/strategy/rollingUpdate");
                let get = |k: &str| {
                    ru.and_then(|r| r.get(k))
                        .and_then(IntOrPercent::parse)
                        .unwrap_or(IntOrPercent::Percent(25))
                };
                Rolling {
                    max_surge: get("maxSurge"),
                    max_unavailable: get("maxUnavailable"),
                }
            });
            let app: Vec<_> = w.containers().into_iter().filter(|c| !c.init).collect();
            let readiness = !app.is_empty()
                && app
                    .iter()
                    .all(|c| c.spec.get("readinessProbe").is_some_and(Value::is_object));
            let pre_stop = app
                .iter()
                .any(|c| c.spec.pointer("/lifecycle/preStop").is_some());
            let probe_path = app.iter().find_map(|c| {
                c.spec
                    .pointer("/readinessProbe/httpGet/path")
                    .and_then(Value::as_str)
                    .map(String::from)
            });
            // Only an HTTP app (an httpGet readiness probe) gets a request
            // stream: a Redis or PostgreSQL Service speaks no HTTP.
            let fronts = m
                .of_kind("Service")
                .filter(|_| probe_path.is_some())
                .filter(|s| s.hooks().is_empty())
                .filter(|s| {
                    s.doc.pointer("/spec/clusterIP").and_then(Value::as_str) != Some("None")
                })
                .filter(|s| {
                    let sel = string_map(s.doc.pointer("/spec/selector"));
                    !sel.is_empty() && sel.iter().all(|(k, v)| labels.get(k) == Some(v))
                })
                .filter_map(|s| {
                    Some(Front {
                        service: s.name.clone(),
                        port: s.doc.pointer("/spec/ports/0/port")?.as_i64()?,
                        path: probe_path.clone()?,
                    })
                })
                .collect();
            HaWorkload {
                kind: o.kind.clone(),
                name: o.name.clone(),
                selector: w.selector(),
                replicas,
                pdb: pdbs
                    .iter()
                    .find(|p| selector_matches(&p.selector, &labels))
                    .cloned(),
                rolling,
                spread: spread_rules(&pod_spec, &w.pod_spec_path()),
                readiness,
                grace_seconds: pod_spec
                    .get("terminationGracePeriodSeconds")
                    .and_then(Value::as_i64)
                    .unwrap_or(30),
                pre_stop,
                claims: o
                    .doc
                    .pointer("/spec/volumeClaimTemplates")
                    .and_then(Value::as_array)
                    .is_some_and(|v| !v.is_empty()),
                fronts,
            }
        })
        .collect()
}

/// Healthy as the disruption controller counts it: Ready and not being
/// deleted (a terminating pod still answering is already going away).
pub fn healthy(p: &Pod) -> bool {
    p.metadata.deletion_timestamp.is_none()
        && p.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "True")
}

/// Pods of a selector in the view, not being deleted.
pub fn live_pods(view: &NamespaceView, selector: &Value) -> Vec<Arc<Pod>> {
    view.pods
        .state()
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| selector_matches(selector, &p.metadata.labels.clone().unwrap_or_default()))
        .collect()
}

/// Healthy pods of a selector right now.
pub fn healthy_count(view: &NamespaceView, selector: &Value) -> i32 {
    live_pods(view, selector)
        .iter()
        .filter(|p| healthy(p))
        .count() as i32
}

/// Why one pod of a workload could not be deleted and followed to its end
/// (the graceful-stop and recovery trials). Shared and cheap to clone: the
/// records that carry it are kept for the report.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PodDeleteError {
    /// `what`: "stop", "delete".
    #[error("no healthy pod to {0}")]
    NoHealthyPod(&'static str),
    #[error("deleting: {0}")]
    Delete(#[source] Arc<kube::Error>),
    #[error(transparent)]
    Wait(Arc<WaitError>),
}

/// Waits, re-judging on every change the namespace's watches see (pods,
/// claims, events), until `judge` says Done or Failed or the deadline
/// passes; a timeout names the states seen. For conditions over many
/// objects at once, where `wait::until` watches one.
pub async fn until_view(
    view: &NamespaceView,
    object: &str,
    timeout: Duration,
    mut judge: impl FnMut() -> Progress,
) -> Result<String, WaitError> {
    let mut changes = view.changes();
    let deadline = tokio::time::Instant::now() + timeout;
    let mut seen: Vec<String> = Vec::new();
    loop {
        match judge() {
            Progress::Done(s) => return Ok(s),
            Progress::Failed(cause) => {
                return Err(WaitError::Terminal {
                    object: object.into(),
                    cause,
                })
            }
            Progress::Pending(s) => {
                if seen.last() != Some(&s) {
                    seen.retain(|x| x != &s);
                    seen.push(s);
                }
            }
        }
        let timed_out = || {
            let last = seen.last().cloned().unwrap_or_default();
            let earlier: Vec<_> = seen.iter().rev().skip(1).take(3).cloned().collect();
            WaitError::Timeout {
                object: object.into(),
                secs: timeout.as_secs(),
                last: if earlier.is_empty() {
                    last
                } else {
                    format!("{last} (earlier: {})", earlier.join("; "))
                },
            }
        };
        tokio::select! {
            changed = changes.changed() => {
                if changed.is_err() {
                    return Err(timed_out());
                }
            }
            _ = tokio::time::sleep_until(deadline) => return Err(timed_out()),
        }
    }
}

/// One observation of a recorder: when, and the values it watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    pub t_ms: u64,
    pub values: Vec<i32>,
}

/// Records `measure` at every change the namespace's watches see, keeping
/// a sample whenever a value changes: watched, not sampled on a clock, so
/// a dip between two polls cannot hide. Stopped by [`Recorder::stop`].
pub struct Recorder {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<Vec<Sample>>,
    pub start: tokio::time::Instant,
}

impl Recorder {
    /// Samples carry milliseconds since `start`, the clock every record of
    /// one disruption plan shares.
    pub fn start(
        view: &NamespaceView,
        start: tokio::time::Instant,
        mut measure: impl FnMut() -> Vec<i32> + Send + 'static,
    ) -> Recorder {
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let mut changes = view.changes();
        let task = tokio::spawn(async move {
            let mut out: Vec<Sample> = Vec::new();
            loop {
                let values = measure();
                if out.last().map(|s| &s.values) != Some(&values) {
                    out.push(Sample {
                        t_ms: start.elapsed().as_millis() as u64,
                        values,
                    });
                }
                tokio::select! {
                    c = changes.changed() => if c.is_err() { break },
                    _ = stopped.changed() => break,
                }
            }
            out
        });
        Recorder { stop, task, start }
    }

    pub fn elapsed_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    /// Takes one last sample and returns them all.
    pub async fn stop(self) -> Vec<Sample> {
        let _ = self.stop.send(true);
        self.task.await.unwrap_or_default()
    }
}

/// Milliseconds as seconds for messages: `12.3s`.
pub fn secs(ms: u64) -> String {
    format!("{:.1}s", ms as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifests() -> Manifests {
        Manifests::parse(
            r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web, tier: front}}
    spec:
      terminationGracePeriodSeconds: 45
      affinity:
        podAntiAffinity:
          preferredDuringSchedulingIgnoredDuringExecution:
            - weight: 100
              podAffinityTerm: {topologyKey: kubernetes.io/hostname, labelSelector: {matchLabels: {app: web}}}
      containers:
        - name: app
          image: x
          readinessProbe: {httpGet: {path: /healthcheck, port: 8080}}
          lifecycle: {preStop: {sleep: {seconds: 5}}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec: {scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}, minReplicas: 3, maxReplicas: 9}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web}
spec: {minAvailable: 2, selector: {matchLabels: {app: web}}}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  replicas: 1
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: db, image: y}]
  volumeClaimTemplates: [{metadata: {name: data}}]
"#,
        )
        .unwrap()
    }

    #[test]
    fn a_deployment_behind_an_hpa_and_a_pdb_is_ha_with_every_fact_read_from_the_render() {
        let ws = derive(&manifests());
        let web = ws.iter().find(|w| w.name == "web").unwrap();
        assert_eq!(
            web.replicas, 3,
            "the HPA's minimum stands in for spec.replicas"
        );
        assert!(web.is_ha());
        assert_eq!(web.pdb.as_ref().unwrap().min_healthy(3), 2);
        let r = web.rolling.unwrap();
        assert_eq!((r.surge(3), r.unavailable(3)), (1, 0));
        assert_eq!(web.spread.len(), 1);
        assert!(!web.spread[0].required);
        assert_eq!(web.spread[0].topology_key, "kubernetes.io/hostname");
        assert!(web.readiness && web.pre_stop);
        assert_eq!(web.grace_seconds, 45);
        assert_eq!(
            web.fronts,
            vec![Front {
                service: "web".into(),
                port: 80,
                path: "/healthcheck".into()
            }]
        );
    }

    #[test]
    fn a_single_database_is_not_ha_and_is_pinned_by_its_claims() {
        let ws = derive(&manifests());
        let db = ws.iter().find(|w| w.name == "db").unwrap();
        assert!(!db.is_ha());
        assert!(db.claims && !db.readiness && db.rolling.is_none());
    }

    #[test]
    fn percentages_round_as_kubernetes_rounds_them() {
        let pdb = Pdb {
            name: "p".into(),
            selector: Value::Null,
            min_available: None,
            max_unavailable: Some(IntOrPercent::Percent(25)),
        };
        // 25% of 10 unavailable rounds up to 3: at least 7 healthy.
        assert_eq!(pdb.min_healthy(10), 7);
        let r = Rolling {
            max_surge: IntOrPercent::Percent(25),
            max_unavailable: IntOrPercent::Percent(25),
        };
        assert_eq!((r.surge(10), r.unavailable(10)), (3, 2));
        let all = Rolling {
            max_surge: IntOrPercent::Int(0),
            max_unavailable: IntOrPercent::Percent(100),
        };
        assert_eq!(all.unavailable(3), 3);
        let none = Rolling {
            max_surge: IntOrPercent::Int(0),
            max_unavailable: IntOrPercent::Int(0),
        };
        assert_eq!(none.unavailable(3), 1, "the controller's own floor");
        assert_eq!(
            IntOrPercent::parse(&"100%".into()),
            Some(IntOrPercent::Percent(100))
        );
    }
}
