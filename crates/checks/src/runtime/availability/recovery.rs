//! Recovery time: one pod of each workload is deleted (as a node failure
//! or an OOM kill would take it), and the workload must be whole again,
//! a new pod Ready in its place, within the seed's bound (Medplum's: "a
//! deleted pod is replaced and Ready within 5 minutes"). Every workload's
//! time is recorded, pass or fail.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::DeleteParams;
use kube::{Api, Client};

use super::{healthy, live_pods, secs, until_view, HaWorkload, PodDeleteError};
use crate::runtime::explain::{pod_state, PodState};
use crate::runtime::view::NamespaceView;
use crate::runtime::wait::Progress;
use crate::verdict::Verdict;

/// The seed's bound (Medplum, seed 000), applied to every workload.
pub const BOUND: Duration = Duration::from_secs(300);

/// What deleting one pod cost.
#[derive(Debug, Clone)]
pub struct RecoveryRecord {
    pub pod: String,
    /// From the delete to the workload whole again with a new pod Ready.
    pub result: Result<u64, PodDeleteError>,
}

/// Deletes the workload's first healthy pod and times its replacement.
pub async fn run(
    client: &Client,
    view: &NamespaceView,
    w: &HaWorkload,
    bound: Duration,
) -> RecoveryRecord {
    let pods = live_pods(view, &w.selector);
    let Some(victim) = pods.iter().find(|p| healthy(p)).cloned() else {
        return RecoveryRecord {
            pod: String::new(),
            result: Err(PodDeleteError::NoHealthyPod("delete")),
        };
    };
    let name = victim.metadata.name.clone().unwrap_or_default();
    let uid = victim.metadata.uid.clone().unwrap_or_default();
    let start = tokio::time::Instant::now();
    let api: Api<Pod> = Api::namespaced(client.clone(), &view.namespace);
    if let Err(e) = api.delete(&name, &DeleteParams::default()).await {
        return RecoveryRecord {
            pod: name,
            result: Err(PodDeleteError::Delete(std::sync::Arc::new(e))),
        };
    }
    let waited = until_view(view, &w.id(), bound, || {
        let all = view.pods.state();
        let old_gone_or_going = !all.iter().any(|p| {
            p.metadata.uid.as_deref() == Some(uid.as_str())
                && p.metadata.deletion_timestamp.is_none()
        });
        let live = live_pods(view, &w.selector);
        let ready = live.iter().filter(|p| healthy(p)).count() as i32;
        let replaced = live.iter().any(|p| {
            p.metadata.uid.as_deref() != Some(uid.as_str())
                && healthy(p)
                && !pods.iter().any(|o| o.metadata.uid == p.metadata.uid)
        });
        if old_gone_or_going && replaced && ready >= w.replicas {
            return Progress::Done(String::new());
        }
        let worst = live
            .iter()
            .filter(|p| !pods.iter().any(|o| o.metadata.uid == p.metadata.uid))
            .map(|p| pod_state(p, view))
            .find(|s| !matches!(s, PodState::Ready));
        match worst {
            Some(PodState::Terminal(why)) => Progress::Failed(why),
            Some(PodState::Pending(why)) => {
                Progress::Pending(format!("{ready}/{} Ready <- {why}", w.replicas))
            }
            _ => Progress::Pending(format!(
                "{ready}/{} Ready, replacement not created yet",
                w.replicas
            )),
        }
    })
    .await;
    RecoveryRecord {
        pod: name,
        result: waited
            .map(|_| start.elapsed().as_millis() as u64)
            .map_err(|e| PodDeleteError::Wait(std::sync::Arc::new(e))),
    }
}

/// The bound held, with the time in the verdict either way.
pub fn judge(w: &HaWorkload, rec: &RecoveryRecord, bound: Duration) -> Verdict {
    let subject = w.id();
    let expected = format!(
        "a deleted pod is replaced and Ready, the workload whole ({} replicas), within {}s",
        w.replicas,
        bound.as_secs()
    );
    match &rec.result {
        Ok(ms) if *ms <= bound.as_millis() as u64 => Verdict::pass(
            subject,
            expected,
            format!("pod {} deleted; whole again after {}", rec.pod, secs(*ms)),
        ),
        Ok(ms) => Verdict::fail(subject, expected, format!("pod {} deleted; whole again only after {}", rec.pod, secs(*ms))),
        Err(e) => Verdict::fail(subject, expected, format!("pod {} deleted; {e}", rec.pod))
            .with_hint("a pod that cannot come back in time: look at its events (image, scheduling, volume attach) and its startup and readiness probes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> HaWorkload {
        HaWorkload {
            kind: "StatefulSet".into(),
            name: "db".into(),
            selector: serde_json::Value::Null,
            replicas: 1,
            pdb: None,
            rolling: None,
            spread: vec![],
            readiness: true,
            grace_seconds: 30,
            pre_stop: false,
            claims: true,
            fronts: vec![],
        }
    }

    #[test]
    fn a_replacement_within_the_bound_passes_with_its_time() {
        let v = judge(
            &db(),
            &RecoveryRecord {
                pod: "db-0".into(),
                result: Ok(14_300),
            },
            BOUND,
        );
        assert!(!v.failed());
        assert_eq!(v.observed, "pod db-0 deleted; whole again after 14.3s");
    }

    #[test]
    fn a_replacement_that_never_came_fails_with_its_last_state() {
        let rec = RecoveryRecord {
            pod: "db-0".into(),
            result: Err(PodDeleteError::Wait(std::sync::Arc::new(
                crate::runtime::wait::WaitError::Timeout {
                    object: "StatefulSet/db".into(),
                    secs: 300,
                    last: "0/1 Ready <- Pod db-0 Pending".into(),
                },
            ))),
        };
        let v = judge(&db(), &rec, BOUND);
        assert!(v.failed());
        assert!(v.to_string().contains("within 300s"), "{v}");
        assert!(
            v.to_string().contains("0/1 Ready <- Pod db-0 Pending"),
            "{v}"
        );
    }
}
