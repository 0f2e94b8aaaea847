//! Why a pod is not ready, as a chain of causes read off the live objects:
//! `Pod web-0 Pending <- PVC data-web-0 Pending <- storageclass "fast-ssd" not found`.
//! Terminal causes (that will not fix themselves) end a wait at once.

use k8s_openapi::api::core::v1::Pod;

use super::view::NamespaceView;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodState {
    Ready,
    Succeeded,
    Pending(String),
    Terminal(String),
}

/// Waiting reasons that do not resolve without a change to the release.
const TERMINAL_WAITING: [&str; 7] = [
    "ImagePullBackOff",
    "ErrImagePull",
    "ErrImageNeverPull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "CrashLoopBackOff",
];

/// Whether a container waiting for `reason` ends a wait at once. A
/// CreateContainerConfigError that says "failed to sync secret cache" (or
/// configmap cache) is the kubelet's own watch lagging under load, and the
/// kubelet retries it: a whole-matrix run failed a MinIO StatefulSet on it
/// while its Secret existed. A missing Secret or key stays terminal.
fn terminal(reason: &str, message: Option<&str>) -> bool {
    TERMINAL_WAITING.contains(&reason)
        && !(reason == "CreateContainerConfigError"
            && message.is_some_and(|m| m.contains("failed to sync")))
}

fn latest_event(
    view: &NamespaceView,
    kind: &str,
    name: &str,
    reasons: &[&str],
) -> Option<(String, String)> {
    view.events_for(kind, name)
        .iter()
        .rev()
        .find(|e| reasons.is_empty() || e.reason.as_deref().is_some_and(|r| reasons.contains(&r)))
        .map(|e| {
            (
                e.reason.clone().unwrap_or_default(),
                e.message.clone().unwrap_or_default().trim().to_string(),
            )
        })
}

/// The state of one pod with the chain of causes when it is not ready.
pub fn pod_state(pod: &Pod, view: &NamespaceView) -> PodState {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let Some(status) = &pod.status else {
        return PodState::Pending(format!("Pod {name} has no status yet"));
    };
    match status.phase.as_deref() {
        Some("Succeeded") => return PodState::Succeeded,
        Some("Failed") => {
            // The container that ended it says why (exit code, StartError...).
            let ended = status
                .init_container_statuses
                .iter()
                .flatten()
                .chain(status.container_statuses.iter().flatten())
                .find_map(|cs| {
                    let t = cs.state.as_ref()?.terminated.as_ref()?;
                    (t.exit_code != 0).then(|| {
                        format!(
                            "container `{}` exited {} ({}){}",
                            cs.name,
                            t.exit_code,
                            t.reason.clone().unwrap_or_default(),
                            t.message
                                .clone()
                                .map(|m| format!(": {}", m.trim()))
                                .unwrap_or_default()
                        )
                    })
                });
            return PodState::Terminal(format!(
                "Pod {name} Failed <- {}",
                ended
                    .or(status.message.clone())
                    .or(status.reason.clone())
                    .unwrap_or_else(|| "a container exited non-zero".into())
            ));
        }
        _ => {}
    }
    let statuses = status
        .init_container_statuses
        .iter()
        .flatten()
        .map(|s| (true, s))
        .chain(
            status
                .container_statuses
                .iter()
                .flatten()
                .map(|s| (false, s)),
        );
    for (init, cs) in statuses {
        let Some(w) = cs.state.as_ref().and_then(|s| s.waiting.as_ref()) else {
            continue;
        };
        let reason = w.reason.clone().unwrap_or_default();
        if terminal(&reason, w.message.as_deref()) {
            let last = cs
                .last_state
                .as_ref()
                .and_then(|l| l.terminated.as_ref())
                .map(|t| {
                    format!(
                        " (last exit {}: {})",
                        t.exit_code,
                        t.reason.clone().unwrap_or_default()
                    )
                })
                .unwrap_or_default();
            let msg = w
                .message
                .clone()
                .map(|m| format!(": {}", m.trim()))
                .unwrap_or_default();
            return PodState::Terminal(format!(
                "Pod {name} not ready <- {}container `{}` {reason}{msg}{last}",
                if init { "init " } else { "" },
                cs.name
            ));
        }
    }
    let cond = |t: &str| status.conditions.iter().flatten().find(|c| c.type_ == t);
    if cond("Ready").is_some_and(|c| c.status == "True") {
        return PodState::Ready;
    }
    if let Some(c) = cond("PodScheduled").filter(|c| c.status == "False") {
        let msg = c.message.clone().unwrap_or_default();
        // Unbound claims are the usual cause; follow them.
        for claim in pod
            .spec
            .iter()
            .flat_map(|s| s.volumes.iter().flatten())
            .filter_map(|v| v.persistent_volume_claim.as_ref())
        {
            let pvc = view
                .pvcs
                .state()
                .into_iter()
                .find(|p| p.metadata.name.as_deref() == Some(claim.claim_name.as_str()));
            let phase = pvc
                .as_ref()
                .and_then(|p| p.status.as_ref())
                .and_then(|s| s.phase.clone())
                .unwrap_or_else(|| "missing".into());
            if phase != "Bound" {
                let why = latest_event(
                    view,
                    "PersistentVolumeClaim",
                    &claim.claim_name,
                    &[
                        "ProvisioningFailed",
                        "ExternalProvisioning",
                        "WaitForFirstConsumer",
                        "WaitForPodScheduled",
                    ],
                );
                let chain = format!(
                    "Pod {name} Pending <- PVC {} {phase}{}",
                    claim.claim_name,
                    why.as_ref()
                        .map(|(r, m)| format!(" <- {r}: {m}"))
                        .unwrap_or_default()
                );
                let terminal = why
                    .as_ref()
                    .is_some_and(|(r, m)| r == "ProvisioningFailed" || m.contains("not found"));
                return if terminal {
                    PodState::Terminal(chain)
                } else {
                    PodState::Pending(chain)
                };
            }
        }
        let chain = format!("Pod {name} Pending <- FailedScheduling: {msg}");
        // Nothing adds nodes or capacity to a test cluster.
        return if msg.contains("Insufficient") || msg.contains("didn't match") {
            PodState::Terminal(chain)
        } else {
            PodState::Pending(chain)
        };
    }
    // A probe path that answers 404 again and again will not start existing:
    // that is a wrong path in the chart, not a slow start.
    let missing_path = view
        .events_for("Pod", &name)
        .iter()
        .rev()
        .find(|e| {
            e.reason.as_deref() == Some("Unhealthy")
                && e.message
                    .as_deref()
                    .is_some_and(|m| m.contains("statuscode: 404"))
                && e.count.unwrap_or(1) >= 3
        })
        .map(|e| e.message.clone().unwrap_or_default());
    if let Some(m) = missing_path {
        return PodState::Terminal(format!("Pod {name} Running, not Ready <- Unhealthy: {} (3+ times: the probe path does not exist)", m.trim()));
    }
    let unhealthy = latest_event(view, "Pod", &name, &["Unhealthy", "BackOff", "Failed"]);
    PodState::Pending(format!(
        "Pod {name} {} not Ready{}",
        status.phase.clone().unwrap_or_default(),
        unhealthy
            .map(|(r, m)| format!(" <- {r}: {m}"))
            .unwrap_or_default()
    ))
}

#[cfg(test)]
mod tests {
    use super::terminal;

    #[test]
    fn a_kubelet_cache_that_has_not_synced_is_waited_out_but_a_missing_secret_is_not() {
        let lag = "failed to sync secret cache: timed out waiting for the condition";
        assert!(!terminal("CreateContainerConfigError", Some(lag)));
        assert!(terminal(
            "CreateContainerConfigError",
            Some("secret \"minio-creds\" not found")
        ));
        assert!(terminal("ImagePullBackOff", None));
        assert!(!terminal("ContainerCreating", None));
    }
}
