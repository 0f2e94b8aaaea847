//! The agent as a plain pod (client, canary, load generator): restricted
//! security context, tiny requests, created once and reused.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::{Api, Client};

use super::create::create_or_get;

/// What went wrong making an agent pod or its namespace usable, named for
/// the step and the object, the cause kept as the source.
#[derive(Debug, thiserror::Error)]
pub enum AgentPodError {
    #[error("namespace {ns} has no default ServiceAccount after {secs}s (is kube-controller-manager running?)")]
    NoServiceAccount { ns: String, secs: u64 },
    #[error("{what} is still terminating after {secs}s (a finalizer stuck?)")]
    StillTerminating { what: String, secs: u64 },
    #[error("pod {ns}/{name} did not start within {secs}s")]
    NotStarted { ns: String, name: String, secs: u64 },
    #[error("pod {ns}/{name} vanished while starting")]
    Vanished { ns: String, name: String },
    #[error("{what}")]
    Api {
        what: String,
        #[source]
        source: kube::Error,
    },
    #[error("{what}")]
    Wait {
        what: String,
        #[source]
        source: kube::runtime::wait::Error,
    },
}

impl AgentPodError {
    fn api(what: impl Into<String>) -> impl FnOnce(kube::Error) -> AgentPodError {
        let what = what.into();
        move |source| AgentPodError::Api { what, source }
    }

    fn wait(what: impl Into<String>) -> impl FnOnce(kube::runtime::wait::Error) -> AgentPodError {
        let what = what.into();
        move |source| AgentPodError::Wait { what, source }
    }
}

/// Verdicts and the callers that still speak `String` get the whole chain.
impl From<AgentPodError> for String {
    fn from(e: AgentPodError) -> String {
        let mut out = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(c) = src {
            out.push_str(&format!(": {c}"));
            src = c.source();
        }
        out
    }
}

fn agent_pod(name: &str, image: &str, labels: serde_json::Value) -> Pod {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": { "name": name, "labels": labels },
        "spec": {
            "automountServiceAccountToken": false,
            "securityContext": { "runAsNonRoot": true, "runAsUser": 65532, "seccompProfile": { "type": "RuntimeDefault" } },
            "containers": [{
                "name": "agent", "image": image, "imagePullPolicy": "IfNotPresent",
                "args": ["serve", "--port", "8080"],
                "ports": [{ "name": "http", "containerPort": 8080 }],
                "resources": { "requests": { "cpu": "5m", "memory": "16Mi" }, "limits": { "cpu": "500m", "memory": "64Mi" } },
                "securityContext": { "allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "capabilities": { "drop": ["ALL"] } }
            }]
        }
    }))
    .expect("a valid pod")
}

/// Pods are refused until a namespace's `default` ServiceAccount exists, and
/// the controller that creates it can lag (just after a control-plane
/// restart, say): wait for it, watched, with a deadline.
pub async fn wait_default_sa(client: &Client, ns: &str) -> Result<(), AgentPodError> {
    let api: Api<k8s_openapi::api::core::v1::ServiceAccount> = Api::namespaced(client.clone(), ns);
    let exists = kube::runtime::wait::await_condition(
        api,
        "default",
        |sa: Option<&k8s_openapi::api::core::v1::ServiceAccount>| sa.is_some(),
    );
    tokio::time::timeout(Duration::from_secs(120), exists)
        .await
        .map_err(|_| AgentPodError::NoServiceAccount {
            ns: ns.into(),
            secs: 120,
        })?
        .map(drop)
        .map_err(AgentPodError::wait(format!("ServiceAccount {ns}/default")))
}

/// Deletes a namespace and waits (watched, bounded) until it and so every
/// pod in it is gone: what returning a cell's room on the nodes needs.
/// `is_deleted` compares uids, so it is given the namespace's real one.
pub async fn delete_namespace(client: &Client, ns: &str, within: Duration) {
    let api: Api<Namespace> = Api::all(client.clone());
    let uid = api
        .get_opt(ns)
        .await
        .ok()
        .flatten()
        .and_then(|n| n.metadata.uid);
    let Some(uid) = uid else { return };
    if api.delete(ns, &Default::default()).await.is_err() {
        return;
    }
    let gone =
        kube::runtime::wait::await_condition(api, ns, kube::runtime::conditions::is_deleted(&uid));
    let _ = tokio::time::timeout(within, gone).await;
}

/// A namespace the harness owns (outsider, canary, load): created if
/// missing, left as it is if present (a cell's namespace carries labels,
/// PSS enforcement, that this must not touch), and usable once its
/// `default` ServiceAccount exists. Idempotent: two trials asking at once
/// on a fresh cluster both succeed.
pub async fn ensure_plain_namespace(client: &Client, ns: &str) -> Result<(), AgentPodError> {
    let nsapi: Api<Namespace> = Api::all(client.clone());
    let n = Namespace {
        metadata: kube::api::ObjectMeta {
            name: Some(ns.to_string()),
            ..Default::default()
        },
        ..Default::default()
    };
    let mut got = create_or_get(&nsapi, &n)
        .await
        .map_err(AgentPodError::api(format!("namespace {ns}")))?;
    if got.metadata.deletion_timestamp.is_some() {
        // Left terminating by an earlier run: pods are refused in it, so
        // wait (watched, bounded) until it is gone and make it again.
        let uid = got.metadata.uid.clone().unwrap_or_default();
        let gone = kube::runtime::wait::await_condition(
            nsapi.clone(),
            ns,
            kube::runtime::conditions::is_deleted(&uid),
        );
        tokio::time::timeout(Duration::from_secs(300), gone)
            .await
            .map_err(|_| AgentPodError::StillTerminating {
                what: format!("namespace {ns}"),
                secs: 300,
            })?
            .map_err(AgentPodError::wait(format!("namespace {ns}")))?;
        got = create_or_get(&nsapi, &n)
            .await
            .map_err(AgentPodError::api(format!("namespace {ns}")))?;
    }
    drop(got);
    // Whoever created it, pods are refused until its ServiceAccount exists.
    wait_default_sa(client, ns).await
}

/// Creates (or reuses) an agent pod and waits until it runs.
pub async fn ensure_agent_pod(
    client: &Client,
    ns: &str,
    name: &str,
    image: &str,
    labels: serde_json::Value,
) -> Result<Pod, AgentPodError> {
    ensure_plain_namespace(client, ns).await?;
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    let existing = api
        .get_opt(name)
        .await
        .map_err(AgentPodError::api(format!("pod {ns}/{name}")))?;
    // A pod of that name still terminating (a cell of an earlier run) must
    // be gone before ours can be created.
    if let Some(old) = existing
        .as_ref()
        .filter(|p| p.metadata.deletion_timestamp.is_some())
    {
        let gone = kube::runtime::wait::await_condition(
            api.clone(),
            name,
            kube::runtime::conditions::is_deleted(old.metadata.uid.as_deref().unwrap_or("")),
        );
        tokio::time::timeout(Duration::from_secs(120), gone)
            .await
            .map_err(|_| AgentPodError::StillTerminating {
                what: format!("pod {ns}/{name}"),
                secs: 120,
            })?
            .map_err(AgentPodError::wait(format!("pod {ns}/{name}")))?;
    }
    if existing.is_none() || existing.is_some_and(|p| p.metadata.deletion_timestamp.is_some()) {
        // Two trials of a cell may ask at once; the other one's pod is ours too.
        create_or_get(&api, &agent_pod(name, image, labels))
            .await
            .map_err(AgentPodError::api(format!("pod {ns}/{name}")))?;
    }
    let running = kube::runtime::wait::await_condition(
        api,
        name,
        kube::runtime::conditions::is_pod_running(),
    );
    tokio::time::timeout(Duration::from_secs(120), running)
        .await
        .map_err(|_| AgentPodError::NotStarted {
            ns: ns.into(),
            name: name.into(),
            secs: 120,
        })?
        .map_err(AgentPodError::wait(format!("pod {ns}/{name}")))?
        .ok_or_else(|| AgentPodError::Vanished {
            ns: ns.into(),
            name: name.into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_agent_pod_error_names_the_object_and_keeps_its_cause() {
        let cause = kube::Error::Api(
            kube::core::Status::failure("forbidden", "Forbidden")
                .with_code(403)
                .boxed(),
        );
        let text: String = AgentPodError::api("namespace vitals-outsider")(cause).into();
        assert!(text.starts_with("namespace vitals-outsider: "), "{text}");
        assert!(text.contains("forbidden"), "{text}");
    }
}
