//! Every claim the chart asks for is Bound at (at least) the requested size
//! with the requested access modes.

use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kube::{Api, Client};
use serde_json::Value;

use crate::check::Stage;
use crate::quantity;
use crate::verdict::{Finding, Verdict};

/// A claim the manifests imply: a PVC object, or template x replica.
#[derive(Debug, Clone)]
pub struct ClaimSpec {
    pub name: String,
    pub storage: String,
    pub access_modes: Vec<String>,
    /// A claim a CronJob mounts (a backup volume) binds, under
    /// WaitForFirstConsumer, only when the CronJob trial first runs it:
    /// judged after that trial, it is Bound every run, not Bound or "not
    /// yet used" by the order the two trials happened to run in.
    pub stage: Stage,
}

/// Claims a CronJob's pods mount.
fn cronjob_claims(m: &crate::Manifests) -> std::collections::HashSet<String> {
    m.of_kind("CronJob")
        .flat_map(|c| {
            c.doc
                .pointer("/spec/jobTemplate/spec/template/spec/volumes")
                .and_then(|v| v.as_array())
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|v| {
            v.pointer("/persistentVolumeClaim/claimName")
                .and_then(|n| n.as_str())
                .map(String::from)
        })
        .collect()
}

/// Claims implied by the rendered objects.
pub fn derive(m: &crate::Manifests) -> Vec<ClaimSpec> {
    let mut out = Vec::new();
    let late = cronjob_claims(m);
    let spec_of = |name: String, spec: &Value| ClaimSpec {
        stage: if late.contains(&name) {
            Stage::Disrupts
        } else {
            Stage::Beside
        },
        name,
        storage: spec
            .pointer("/resources/requests/storage")
            .map(|v| {
                v.as_str()
                    .map(String::from)
                    .unwrap_or_else(|| v.to_string())
            })
            .unwrap_or_default(),
        access_modes: spec
            .get("accessModes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect(),
    };
    for o in &m.objects {
        match o.kind.as_str() {
            "PersistentVolumeClaim" if o.hooks().is_empty() => out.push(spec_of(
                o.name.clone(),
                o.doc.get("spec").unwrap_or(&Value::Null),
            )),
            "StatefulSet" => {
                let replicas = o
                    .doc
                    .pointer("/spec/replicas")
                    .and_then(Value::as_i64)
                    .unwrap_or(1);
                for t in o
                    .doc
                    .pointer("/spec/volumeClaimTemplates")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let tname = t
                        .pointer("/metadata/name")
                        .and_then(Value::as_str)
                        .unwrap_or("data");
                    for i in 0..replicas {
                        out.push(spec_of(
                            format!("{tname}-{}-{i}", o.name),
                            t.get("spec").unwrap_or(&Value::Null),
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// Waits for the claim to bind in the cell's namespace.
pub async fn judge(c: &ClaimSpec, cx: &super::CheckCx<'_>) -> Verdict {
    check(cx.client, cx.namespace, c).await
}

pub async fn check(client: &Client, ns: &str, c: &ClaimSpec) -> Verdict {
    let subject = format!("PersistentVolumeClaim/{}", c.name);
    let expected = format!("Bound with >= {} and modes {:?}", c.storage, c.access_modes);
    let pvc = match Api::<PersistentVolumeClaim>::namespaced(client.clone(), ns)
        .get(&c.name)
        .await
    {
        Ok(p) => p,
        Err(e) => return Verdict::fail(subject, expected, format!("not found: {e}")),
    };
    let status = pvc.status.unwrap_or_default();
    let phase = status.phase.clone().unwrap_or_default();
    let cap = status
        .capacity
        .as_ref()
        .and_then(|c| c.get("storage"))
        .map(|q| q.0.clone())
        .unwrap_or_default();
    let modes = status.access_modes.clone().unwrap_or_default();
    let mut findings = Vec::new();
    // A WaitForFirstConsumer claim binds when a pod first mounts it; one no
    // pod mounts yet (a backup volume before the CronJob's first run) is
    // not a failure of the chart.
    if phase == "Pending" {
        let pods = Api::<k8s_openapi::api::core::v1::Pod>::namespaced(client.clone(), ns)
            .list(&Default::default())
            .await
            .map(|l| l.items)
            .unwrap_or_default();
        let mounted = pods.iter().any(|p| {
            p.spec
                .iter()
                .flat_map(|s| s.volumes.iter().flatten())
                .any(|v| {
                    v.persistent_volume_claim
                        .as_ref()
                        .is_some_and(|claim| claim.claim_name == c.name)
                })
        });
        if mounted {
            // A pod that just mounted it (a CronJob run triggered beside this
            // trial) is binding it now: judge once it binds, or at the deadline.
            let bound = kube::runtime::wait::await_condition(
                Api::<PersistentVolumeClaim>::namespaced(client.clone(), ns),
                &c.name,
                |p: Option<&PersistentVolumeClaim>| {
                    p.and_then(|p| p.status.as_ref()?.phase.as_deref()) == Some("Bound")
                },
            );
            if let Ok(Ok(Some(_))) =
                tokio::time::timeout(std::time::Duration::from_secs(120), bound).await
            {
                // Bound now: judged afresh (size, modes).
                return Box::pin(check(client, ns, c)).await;
            }
        }
        if !mounted {
            return Verdict::skip(
                subject,
                "Pending until a pod first mounts it (WaitForFirstConsumer); no pod does yet. Note: `helm install --wait` (and so `ct install`) waits on it and times out; bench/results.md shows it",
            );
        }
    }
    if phase != "Bound" {
        findings.push(Finding {
            object: subject.clone(),
            field: "status.phase".into(),
            problem: format!("{phase}, not Bound"),
            fix: "check the StorageClass and the provisioner's events".into(),
        });
    }
    if let (Some(have), Some(want)) = (quantity::parse(&cap), quantity::parse(&c.storage)) {
        if have < want {
            findings.push(Finding {
                object: subject.clone(),
                field: "status.capacity.storage".into(),
                problem: format!("{cap} is less than the {} requested", c.storage),
                fix: "use a StorageClass that provisions the requested size".into(),
            });
        }
    } else if phase == "Bound" {
        findings.push(Finding {
            object: subject.clone(),
            field: "status.capacity.storage".into(),
            problem: format!("capacity `{cap}` is unreadable"),
            fix: "-".into(),
        });
    }
    for m in &c.access_modes {
        if phase == "Bound" && !modes.contains(m) {
            findings.push(Finding {
                object: subject.clone(),
                field: "status.accessModes".into(),
                problem: format!("{modes:?} lacks {m}"),
                fix: "use a StorageClass that supports the requested access mode".into(),
            });
        }
    }
    let mut v = Verdict::from_findings(&subject, expected, findings);
    if !v.failed() {
        v.observed = format!("Bound, {cap}, {modes:?}");
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    const RENDER: &str = r#"
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: backups}
spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 2Gi}}}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  replicas: 2
  volumeClaimTemplates:
    - metadata: {name: data}
      spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: db-backup}
spec:
  jobTemplate:
    spec:
      template:
        spec:
          volumes: [{name: out, persistentVolumeClaim: {claimName: backups}}]
"#;

    #[test]
    fn each_replica_of_a_template_is_its_own_claim() {
        let claims = derive(&crate::Manifests::parse(RENDER).unwrap());
        let names: Vec<&str> = claims.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["backups", "data-db-0", "data-db-1"]);
        assert_eq!(claims[1].storage, "1Gi");
        assert_eq!(claims[1].access_modes, ["ReadWriteOnce"]);
    }

    #[test]
    fn a_claim_only_a_cronjob_mounts_is_judged_after_the_cronjob_ran() {
        let claims = derive(&crate::Manifests::parse(RENDER).unwrap());
        let stages: Vec<Stage> = claims.iter().map(|c| c.stage).collect();
        assert_eq!(stages, [Stage::Disrupts, Stage::Beside, Stage::Beside]);
    }
}
