//! Phase `prepare`: the cell's namespace (PSS labels), the Secrets a prod
//! profile expects to exist, and the harness's client pod.

use std::collections::hash_map::DefaultHasher;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use serde::Deserialize;

use crate::cluster::env::CLIENT_POD;
use vitals_checks::runtime::agent_pod::AgentPodError;

/// How long a namespace left terminating by an earlier run may take to go.
const TERMINATING: Duration = Duration::from_secs(300);

/// What failed while preparing a cell, named for the step and the object,
/// the cause kept as the source.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error("namespace {ns}")]
    Namespace {
        ns: String,
        #[source]
        source: kube::Error,
    },
    #[error("namespace {ns} is still terminating after {}s (a finalizer stuck?)", TERMINATING.as_secs())]
    StillTerminating { ns: String },
    #[error("namespace {ns}: waiting for the old one to go")]
    Terminating {
        ns: String,
        #[source]
        source: kube::runtime::wait::Error,
    },
    #[error(transparent)]
    AgentPod(#[from] AgentPodError),
    #[error("the Secrets list `{}`", path.display())]
    ReadList {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the Secrets list `{}`", path.display())]
    ParseList {
        path: std::path::PathBuf,
        #[source]
        source: serde_yaml::Error,
    },
    #[error("secret {name}")]
    Secret {
        name: String,
        #[source]
        source: kube::Error,
    },
}

/// The install verdict's text: the error and its causes on one line.
impl From<PrepareError> for String {
    fn from(e: PrepareError) -> String {
        let mut out = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            out.push_str(&format!(": {s}"));
            src = s.source();
        }
        out
    }
}

#[derive(Debug, Deserialize)]
struct SecretSpec {
    name: String,
    keys: Vec<String>,
}

fn random(n: usize) -> String {
    // Random enough for throwaway test credentials, without a crate.
    let mut h = DefaultHasher::new();
    std::time::SystemTime::now().hash(&mut h);
    std::process::id().hash(&mut h);
    let mut out = String::new();
    let mut x = h.finish();
    let alphabet = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push(alphabet[(x % alphabet.len() as u64) as usize] as char);
    }
    out
}

pub async fn ensure_namespace(client: &Client, ns: &str, prod: bool) -> Result<(), PrepareError> {
    let api_err = |source| PrepareError::Namespace {
        ns: ns.to_string(),
        source,
    };
    // A namespace left by an earlier run may still be terminating; applying
    // into it fails, so wait (watched, with a deadline) until it is gone.
    let nsapi: Api<Namespace> = Api::all(client.clone());
    if let Some(old) = nsapi.get_opt(ns).await.map_err(api_err)? {
        if old.metadata.deletion_timestamp.is_some() {
            let uid = old.metadata.uid.clone().unwrap_or_default();
            let gone = kube::runtime::wait::await_condition(
                nsapi.clone(),
                ns,
                kube::runtime::conditions::is_deleted(&uid),
            );
            tokio::time::timeout(TERMINATING, gone)
                .await
                .map_err(|_| PrepareError::StillTerminating { ns: ns.to_string() })?
                .map_err(|source| PrepareError::Terminating {
                    ns: ns.to_string(),
                    source,
                })?;
        }
    }
    let mut labels = serde_json::json!({ crate::capacity::CELL_LABEL: ns, "pod-security.kubernetes.io/warn": "restricted" });
    if prod {
        labels["pod-security.kubernetes.io/enforce"] = "restricted".into();
    }
    let patch = serde_json::json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": ns, "labels": labels } });
    Api::<Namespace>::all(client.clone())
        .patch(
            ns,
            &PatchParams::apply("vitals").force(),
            &Patch::Apply(&patch),
        )
        .await
        .map_err(api_err)?;
    Ok(vitals_checks::runtime::agent_pod::wait_default_sa(client, ns).await?)
}

pub async fn ensure_secrets(
    client: &Client,
    ns: &str,
    list: Option<&Path>,
) -> Result<(), PrepareError> {
    let Some(list) = list else { return Ok(()) };
    let text = std::fs::read_to_string(list).map_err(|source| PrepareError::ReadList {
        path: list.to_path_buf(),
        source,
    })?;
    let specs: Vec<SecretSpec> =
        serde_yaml::from_str(&text).map_err(|source| PrepareError::ParseList {
            path: list.to_path_buf(),
            source,
        })?;
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    for s in specs {
        let secret_err = |source| PrepareError::Secret {
            name: s.name.clone(),
            source,
        };
        // Kept when present: a reinstall must not change the passwords the
        // running data services were initialised with.
        if api.get_opt(&s.name).await.map_err(secret_err)?.is_some() {
            continue;
        }
        let data: BTreeMap<String, String> =
            s.keys.iter().map(|k| (k.clone(), random(24))).collect();
        let secret = Secret {
            metadata: kube::api::ObjectMeta {
                name: Some(s.name.clone()),
                ..Default::default()
            },
            string_data: Some(data),
            ..Default::default()
        };
        // Another process preparing the same cell may have made it first:
        // its Secret is the one the release uses.
        vitals_checks::runtime::create::create_or_get(&api, &secret)
            .await
            .map_err(secret_err)?;
    }
    Ok(())
}

pub async fn ensure_client_pod(
    client: &Client,
    ns: &str,
    image: &str,
) -> Result<String, PrepareError> {
    // Labelled with no release label, so no release policy selects it: it
    // is the "unlabelled pod" of the denied flows, and its own egress is open.
    vitals_checks::runtime::agent_pod::ensure_agent_pod(
        client,
        ns,
        CLIENT_POD,
        image,
        serde_json::json!({ "app.kubernetes.io/name": CLIENT_POD }),
    )
    .await
    .map(|_| CLIENT_POD.to_string())
    .map_err(PrepareError::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreadable_secrets_list_is_named_with_its_cause() {
        let e = PrepareError::ReadList {
            path: "suites/overlays/x.secrets.yaml".into(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "No such file"),
        };
        assert_eq!(
            String::from(e),
            "the Secrets list `suites/overlays/x.secrets.yaml`: No such file"
        );
    }
}
