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

pub async fn ensure_namespace(client: &Client, ns: &str, prod: bool) -> Result<(), String> {
    // A namespace left by an earlier run may still be terminating; applying
    // into it fails, so wait (watched, with a deadline) until it is gone.
    let nsapi: Api<Namespace> = Api::all(client.clone());
    if let Some(old) = nsapi.get_opt(ns).await.map_err(|e| e.to_string())? {
        if old.metadata.deletion_timestamp.is_some() {
            let uid = old.metadata.uid.clone().unwrap_or_default();
            let gone = kube::runtime::wait::await_condition(
                nsapi.clone(),
                ns,
                kube::runtime::conditions::is_deleted(&uid),
            );
            tokio::time::timeout(Duration::from_secs(300), gone)
                .await
                .map_err(|_| {
                    format!("namespace {ns} is still terminating after 300s (a finalizer stuck?)")
                })?
                .map_err(|e| e.to_string())?;
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
        .map_err(|e| format!("namespace {ns}: {e}"))?;
    Ok(vitals_checks::runtime::agent_pod::wait_default_sa(client, ns).await?)
}

pub async fn ensure_secrets(client: &Client, ns: &str, list: Option<&Path>) -> Result<(), String> {
    let Some(list) = list else { return Ok(()) };
    let text = std::fs::read_to_string(list).map_err(|e| format!("`{}`: {e}", list.display()))?;
    let specs: Vec<SecretSpec> =
        serde_yaml::from_str(&text).map_err(|e| format!("`{}`: {e}", list.display()))?;
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    for s in specs {
        // Kept when present: a reinstall must not change the passwords the
        // running data services were initialised with.
        if api
            .get_opt(&s.name)
            .await
            .map_err(|e| e.to_string())?
            .is_some()
        {
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
            .map_err(|e| format!("secret {}: {e}", s.name))?;
    }
    Ok(())
}

pub async fn ensure_client_pod(client: &Client, ns: &str, image: &str) -> Result<String, String> {
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
    .map_err(String::from)
}
