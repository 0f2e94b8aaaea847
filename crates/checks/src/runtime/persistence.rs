//! Data survives a pod delete, for every stateful service: a marker written
//! onto the claim of the StatefulSet's first pod is read back from the pod
//! the controller recreates. Proves the claim is really the one mounted
//! where the data lives (not an emptyDir shadowing it) and that the
//! replacement gets the same volume.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use k8s_openapi::api::core::v1::Pod;
use kube::api::DeleteParams;
use kube::{Api, Client};
use serde_json::Value;

use super::chain;
use super::exec::{self, ExecError};
use super::explain::{pod_state, PodState};
use super::view::NamespaceView;
use super::wait::{self, Progress, WaitError};
use crate::verdict::{Evidence, Verdict};
use crate::Manifests;

/// A StatefulSet container that mounts a volumeClaimTemplate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stateful {
    pub statefulset: String,
    pub container: String,
    pub claim: String,
    pub mount: String,
}

pub fn derive(m: &Manifests) -> Vec<Stateful> {
    m.of_kind("StatefulSet")
        .filter(|o| o.hooks().is_empty())
        .filter_map(|o| {
            let claims: Vec<&str> = o
                .doc
                .pointer("/spec/volumeClaimTemplates")
                .and_then(Value::as_array)?
                .iter()
                .filter_map(|t| t.pointer("/metadata/name").and_then(Value::as_str))
                .collect();
            let w = o.as_workload()?;
            w.containers()
                .into_iter()
                .filter(|c| !c.init)
                .find_map(|c| {
                    let vm = c
                        .spec
                        .get("volumeMounts")
                        .and_then(Value::as_array)?
                        .iter()
                        .find(|vm| {
                            vm.get("name")
                                .and_then(Value::as_str)
                                .is_some_and(|n| claims.contains(&n))
                                && vm.get("readOnly").and_then(Value::as_bool) != Some(true)
                        })?;
                    Some(Stateful {
                        statefulset: o.name.clone(),
                        container: c.name.clone(),
                        claim: vm.get("name")?.as_str()?.to_string(),
                        mount: vm.get("mountPath")?.as_str()?.to_string(),
                    })
                })
        })
        .collect()
}

/// The file the pod-delete check leaves on the claim (and removes).
pub const DELETE_MARKER: &str = ".vitals-persistence-marker";
/// The file an upgrade trial writes before the upgrade and reads after.
pub const UPGRADE_MARKER: &str = ".vitals-upgrade-marker";

/// A shell step in the data container that did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum ShError {
    #[error("exit {exit}: {stderr}")]
    Exited { exit: i32, stderr: String },
    #[error(transparent)]
    Exec(#[from] ExecError),
}

/// Why a marker could not be written or read back.
#[derive(Debug, thiserror::Error)]
pub enum MarkerError {
    #[error("no pod {pod}")]
    NoPod {
        pod: String,
        #[source]
        source: kube::Error,
    },
    #[error("writing {path} in {pod}/{container}")]
    Write {
        path: String,
        pod: String,
        container: String,
        #[source]
        source: ShError,
    },
    #[error("reading {path}")]
    Read {
        path: String,
        #[source]
        source: ShError,
    },
}

async fn sh(
    client: &Client,
    ns: &str,
    pod: &str,
    container: &str,
    script: &str,
    args: &[&str],
) -> Result<String, ShError> {
    let mut argv = vec![
        "/bin/sh".to_string(),
        "-c".into(),
        script.into(),
        "sh".into(),
    ];
    argv.extend(args.iter().map(|a| a.to_string()));
    let at = exec::InPod {
        client,
        namespace: ns,
        pod,
        container: Some(container),
    };
    match at.exec(&argv, Duration::from_secs(30)).await {
        Ok(o) if o.exit == 0 => Ok(o.stdout),
        Ok(o) => Err(ShError::Exited {
            exit: o.exit,
            stderr: o.stderr.trim().into(),
        }),
        Err(e) => Err(e.into()),
    }
}

impl Stateful {
    pub fn pod(&self) -> String {
        format!("{}-0", self.statefulset)
    }

    fn path(&self, file: &str) -> String {
        format!("{}/{file}", self.mount.trim_end_matches('/'))
    }
}

/// Writes a fresh marker into the claim of pod 0 and returns it.
pub async fn write_marker(
    client: &Client,
    ns: &str,
    s: &Stateful,
    file: &str,
) -> Result<String, MarkerError> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let pod = s.pod();
    let uid = pods
        .get(&pod)
        .await
        .map_err(|source| MarkerError::NoPod {
            pod: pod.clone(),
            source,
        })?
        .metadata
        .uid
        .unwrap_or_default();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let marker = format!("{uid}/{nanos}");
    let path = s.path(file);
    sh(
        client,
        ns,
        &pod,
        &s.container,
        r#"printf '%s' "$1" > "$2" && sync"#,
        &[&marker, &path],
    )
    .await
    .map_err(|source| MarkerError::Write {
        path: path.clone(),
        pod: pod.clone(),
        container: s.container.clone(),
        source,
    })?;
    Ok(marker)
}

/// Reads the marker back from pod 0 (and removes it when `remove`).
pub async fn read_marker(
    client: &Client,
    ns: &str,
    s: &Stateful,
    file: &str,
    remove: bool,
) -> Result<String, MarkerError> {
    let path = s.path(file);
    let script = if remove {
        r#"cat "$1" && rm -f "$1""#
    } else {
        r#"cat "$1""#
    };
    sh(client, ns, &s.pod(), &s.container, script, &[&path])
        .await
        .map_err(|source| MarkerError::Read {
            path: path.clone(),
            source,
        })
}

/// Waits (watched) until pod 0 exists, is not the pod with `not_uid`, and is Ready.
pub async fn wait_pod_ready(
    view: &NamespaceView,
    client: &Client,
    s: &Stateful,
    not_uid: Option<String>,
    within: Duration,
) -> Result<String, WaitError> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), &view.namespace);
    let pod_name = s.pod();
    let v = view.clone();
    wait::until(
        pods,
        &format!("Pod/{pod_name}"),
        &pod_name,
        within,
        view.changes(),
        move |p| match p {
            None => Progress::Pending("not created yet".into()),
            Some(p) if not_uid.is_some() && p.metadata.uid == not_uid => {
                Progress::Pending("the old pod is still terminating".into())
            }
            Some(p) => match pod_state(p, &v) {
                PodState::Ready => Progress::Done("Ready".into()),
                PodState::Terminal(why) => Progress::Failed(why),
                PodState::Pending(s) => Progress::Pending(s),
                PodState::Succeeded => Progress::Failed("the pod exited".into()),
            },
        },
    )
    .await
}

/// The persistence trial in the cell, each wait up to `ready_within`.
pub async fn judge(s: &Stateful, cx: &super::CheckCx<'_>, ready_within: Duration) -> Verdict {
    check(cx.client, cx.view, s, ready_within).await
}

/// Writes a marker, deletes pod 0, waits (watched) for its replacement to be
/// Ready, reads the marker back.
pub async fn check(
    client: &Client,
    view: &NamespaceView,
    s: &Stateful,
    ready_within: Duration,
) -> Verdict {
    let ns = view.namespace.as_str();
    let pod_name = s.pod();
    let subject = format!("StatefulSet/{}", s.statefulset);
    let expected = format!(
        "a marker written to {} ({}) in {pod_name} is still there after the pod is deleted and recreated",
        s.mount, s.claim
    );
    // A pod that never came up says why here, not as a failed exec.
    if let Err(e) = wait_pod_ready(view, client, s, None, ready_within).await {
        return Verdict::fail(
            &subject,
            expected,
            format!("before the delete: {}", chain(&e)),
        );
    }
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let old_uid = match pods.get(&pod_name).await {
        Ok(p) => p.metadata.uid,
        Err(e) => return Verdict::fail(&subject, expected, format!("no pod {pod_name}: {e}")),
    };
    let marker = match write_marker(client, ns, s, DELETE_MARKER).await {
        Ok(m) => m,
        Err(e) => {
            return Verdict::fail(&subject, expected, chain(&e))
                .with_hint("the container needs /bin/sh and a writable mount for this check")
        }
    };
    let start = Instant::now();
    if let Err(e) = pods.delete(&pod_name, &DeleteParams::default()).await {
        return Verdict::fail(&subject, expected, format!("deleting {pod_name}: {e}"));
    }
    if let Err(e) = wait_pod_ready(view, client, s, old_uid, ready_within).await {
        return Verdict::fail(
            &subject,
            expected,
            format!("after the delete: {}", chain(&e)),
        );
    }
    let took = start.elapsed();
    let observed = |what: &str| {
        format!(
            "{pod_name} recreated and Ready in {:.1}s; {what}",
            took.as_secs_f64()
        )
    };
    judge_marker(
        &subject,
        expected,
        &marker,
        read_marker(client, ns, s, DELETE_MARKER, true).await,
        observed,
        &s.claim,
    )
}

/// The verdict on a marker read back: intact, changed or gone.
pub fn judge_marker(
    subject: &str,
    expected: String,
    marker: &str,
    read: Result<String, MarkerError>,
    observed: impl Fn(&str) -> String,
    claim: &str,
) -> Verdict {
    match read {
        Ok(got) if got == marker => Verdict::pass(subject, expected, observed("the marker read back intact")),
        Ok(got) => Verdict::fail(subject, expected, observed("the marker is different"))
            .with_evidence(Evidence::Note { text: format!("wrote {marker:?}, read {got:?}") }),
        Err(e) => Verdict::fail(subject, expected, observed("the marker is gone"))
            .with_evidence(Evidence::Note { text: chain(&e) })
            .with_hint(format!("mount the claim `{claim}` at the path the service writes its data to, and do not shadow it with another volume")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_gone_names_the_file_and_the_shells_words() {
        let gone = MarkerError::Read {
            path: "/data/.vitals-marker".into(),
            source: ShError::Exited {
                exit: 1,
                stderr: "cat: can't open '/data/.vitals-marker': No such file".into(),
            },
        };
        let v = judge_marker(
            "StatefulSet/db",
            "kept".into(),
            "m1",
            Err(gone),
            |w| w.into(),
            "data-db-0",
        );
        assert!(v.failed());
        assert_eq!(v.observed, "the marker is gone");
        let note = format!("{:?}", v.evidence);
        assert!(
            note.contains("reading /data/.vitals-marker: exit 1: cat: can't open"),
            "{note}"
        );
    }

    #[test]
    fn the_claim_mounted_writable_in_an_app_container_is_the_one_checked() {
        let m = Manifests::parse(
            r#"
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      initContainers:
        - {name: init, image: x, volumeMounts: [{name: data, mountPath: /init}]}
      containers:
        - name: postgres
          image: x
          volumeMounts:
            - {name: config, mountPath: /etc/pg, readOnly: true}
            - {name: data, mountPath: /var/lib/postgresql/data}
  volumeClaimTemplates:
    - metadata: {name: data}
      spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
"#,
        )
        .unwrap();
        assert_eq!(
            derive(&m),
            vec![Stateful {
                statefulset: "db".into(),
                container: "postgres".into(),
                claim: "data".into(),
                mount: "/var/lib/postgresql/data".into(),
            }]
        );
    }

    #[test]
    fn a_statefulset_without_claims_is_not_stateful() {
        let m = Manifests::parse(
            "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: cache}\nspec:\n  template:\n    spec:\n      containers: [{name: c, image: x}]\n",
        )
        .unwrap();
        assert!(derive(&m).is_empty());
    }
}
