//! Phase `collect`: the diagnostics bundle of a failed cell.

use std::path::PathBuf;

use k8s_openapi::api::core::v1::Pod;
use kube::Api;

use super::install::Installed;
use crate::cell::Cell;
use crate::cluster::env::{rt, ClusterEnv};

/// Writes the diagnostics bundle of a failed cell once: events, pod states
/// and logs (current and previous), `helm get all`, with a "why" on top.
pub fn bundle(env: &ClusterEnv, cell: &Cell, inst: &Installed, why: &str) -> PathBuf {
    let dir = crate::env::out_dir().join("bundles").join(&inst.namespace);
    if dir.join("WHY.txt").exists() {
        return dir;
    }
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(dir.join("WHY.txt"), format!("{why}\n"));
    let mut events = String::new();
    for e in inst.view.events.state() {
        events.push_str(&format!(
            "{} {}/{} {}: {}\n",
            e.type_.clone().unwrap_or_default(),
            e.involved_object.kind.clone().unwrap_or_default(),
            e.involved_object.name.clone().unwrap_or_default(),
            e.reason.clone().unwrap_or_default(),
            e.message.clone().unwrap_or_default().trim()
        ));
    }
    let _ = std::fs::write(dir.join("events.txt"), events);
    let client = env.client.clone();
    let ns = inst.namespace.clone();
    let pods = inst.view.pods.state();
    let logs_dir = dir.join("logs");
    let _ = std::fs::create_dir_all(&logs_dir);
    let mut summary = String::new();
    rt().block_on(async {
        let api: Api<Pod> = Api::namespaced(client, &ns);
        for p in &pods {
            let name = p.metadata.name.clone().unwrap_or_default();
            let state = match vitals_checks::runtime::explain::pod_state(p, &inst.view) {
                vitals_checks::runtime::explain::PodState::Ready => format!("Pod {name} Ready"),
                vitals_checks::runtime::explain::PodState::Succeeded => {
                    format!("Pod {name} Succeeded")
                }
                vitals_checks::runtime::explain::PodState::Pending(s)
                | vitals_checks::runtime::explain::PodState::Terminal(s) => s,
            };
            summary.push_str(&format!("{state}\n"));
            for c in p.spec.iter().flat_map(|s| {
                s.init_containers
                    .iter()
                    .flatten()
                    .chain(s.containers.iter())
            }) {
                for previous in [false, true] {
                    let lp = kube::api::LogParams {
                        container: Some(c.name.clone()),
                        previous,
                        tail_lines: Some(300),
                        ..Default::default()
                    };
                    if let Ok(text) = api.logs(&name, &lp).await {
                        let suffix = if previous { ".previous" } else { "" };
                        let _ = std::fs::write(
                            logs_dir.join(format!("{name}.{}{suffix}.log", c.name)),
                            text,
                        );
                    }
                }
            }
        }
    });
    let _ = std::fs::write(dir.join("pods.txt"), summary);
    // The release as helm stored it; helm's own error in its place if not.
    let helm_all = crate::env::helm()
        .and_then(|h| {
            h.get_all(
                &cell.suite.release,
                &inst.namespace,
                Some(&env.handle.kubeconfig),
            )
        })
        .unwrap_or_else(|e| e.to_string());
    let _ = std::fs::write(dir.join("helm-get-all.txt"), helm_all);
    dir
}
