//! Phase `teardown`: a cell's trials are done; a passed cell's namespace
//! is deleted (its room returned), a failed one scaled to zero and kept.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::DeleteParams;
use kube::Api;

use crate::cell::state::CellState;
use crate::cell::Cell;
use crate::cluster::env::{cluster, rt, CLIENT_POD};

/// Cells with at least one failed cluster trial keep their namespace.
pub fn failed_cells() -> &'static Mutex<BTreeMap<String, bool>> {
    static F: OnceLock<Mutex<BTreeMap<String, bool>>> = OnceLock::new();
    F.get_or_init(Default::default)
}

/// A cell's trials are all done: a passed cell's namespace (and its load
/// generator) is deleted and, once gone, its room on the nodes returned; a
/// failed cell stays for inspection and keeps its room.
pub fn finished(cell: &Cell) {
    if crate::env::process_per_trial() {
        return;
    }
    let ns = cell.namespace();
    let failed = failed_cells()
        .lock()
        .map(|m| m.get(&ns).copied().unwrap_or(false))
        .unwrap_or(true);
    if crate::config::get().keep {
        return;
    }
    let Ok(env) = cluster() else { return };
    rt().block_on(take_down(&env.client, &ns, failed));
    if !failed {
        if let Ok(mut f) = failed_cells().lock() {
            f.remove(&ns);
        }
    }
    crate::capacity::release(&ns);
}

/// Takes a cell's pods off the nodes. A passed cell's namespace (and its
/// load generator) is deleted, watched until gone. A failed one keeps its
/// objects, claims and events, and the bundle is written; its pods go, so
/// cells queued for room (one needing the whole node) can run, and `kubectl
/// scale` brings them back for a live look. Either way the next run of the
/// cell starts from scratch, not from this shell.
pub async fn take_down(client: &kube::Client, ns: &str, failed: bool) {
    if failed {
        scale_to_zero(client, ns).await;
        CellState::of(ns).mark_scaled_down();
    } else {
        let pods = Api::<Pod>::namespaced(client.clone(), "ingress-nginx");
        let _ = pods
            .delete(&format!("vitals-load-{ns}"), &DeleteParams::default())
            .await;
        vitals_checks::runtime::agent_pod::delete_namespace(client, ns, Duration::from_secs(300))
            .await;
    }
    CellState::of(ns).forget_install();
}

async fn scale_to_zero(client: &kube::Client, ns: &str) {
    use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
    use kube::api::{ListParams, Patch, PatchParams};
    let zero = Patch::Merge(serde_json::json!({"spec": {"replicas": 0}}));
    let pp = PatchParams::default();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    for d in deployments
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default()
    {
        if let Some(n) = d.metadata.name {
            let _ = deployments.patch_scale(&n, &pp, &zero).await;
        }
    }
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), ns);
    for d in sets
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default()
    {
        if let Some(n) = d.metadata.name {
            let _ = sets.patch_scale(&n, &pp, &zero).await;
        }
    }
    // Room is returned once the pods are gone, watched, with a deadline.
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    // A reflector keeps the namespace's pods from the watch itself, so each
    // event is judged without listing again.
    let _ = tokio::time::timeout(Duration::from_secs(180), async {
        use futures::StreamExt;
        let (reader, writer) = kube::runtime::reflector::store();
        let stream = kube::runtime::reflector(
            writer,
            kube::runtime::watcher(pods.clone(), Default::default()),
        );
        let mut stream = std::pin::pin!(stream);
        // Judged only once the initial list is in the store.
        let mut listed = false;
        while let Some(ev) = stream.next().await {
            use kube::runtime::watcher::Event;
            listed |= !matches!(ev, Ok(Event::Init | Event::InitApply(_)) | Err(_));
            let running = reader
                .state()
                .iter()
                .filter(|p| {
                    p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
                        && p.metadata.name.as_deref() != Some(CLIENT_POD)
                })
                .count();
            if listed && running == 0 {
                break;
            }
        }
    })
    .await;
    let _ = pods.delete(CLIENT_POD, &DeleteParams::default()).await;
}

/// Deletes the namespaces of cells whose cluster trials all passed, unless
/// `E2E_KEEP` is set; failed ones stay for a person to look at.
pub fn cleanup() {
    if crate::config::get().keep || crate::env::process_per_trial() {
        return;
    }
    let Ok(env) = cluster() else { return };
    let cells: Vec<(String, bool)> = failed_cells()
        .lock()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), *v)).collect())
        .unwrap_or_default();
    rt().block_on(async {
        for (ns, failed) in cells {
            if !failed {
                let _ = Api::<Namespace>::all(env.client.clone()).delete(&ns, &DeleteParams::default()).await;
                CellState::of(&ns).clear_stamp();
            } else {
                eprintln!("kept namespace {ns} for inspection (diagnostics under target/e2e/bundles/{ns})");
            }
        }
    });
}

/// A fixture cell that failed on purpose: delete its namespace and do not
/// report it as a kept failure.
pub fn forget(cell: &Cell) {
    let ns = cell.namespace();
    if let Ok(mut f) = failed_cells().lock() {
        f.remove(&ns);
    }
    // Its room returns once its pods are really gone.
    if let Ok(env) = cluster() {
        rt().block_on(vitals_checks::runtime::agent_pod::delete_namespace(
            &env.client,
            &ns,
            Duration::from_secs(300),
        ));
    }
    CellState::of(&ns).clear_stamp();
    crate::capacity::release(&ns);
}
