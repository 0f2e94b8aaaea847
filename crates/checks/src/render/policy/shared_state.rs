//! A workload that can run more than one pod (replicas > 1, or an HPA whose
//! maxReplicas > 1) keeps no state on an emptyDir: each pod has its own,
//! it is empty after every restart, and a file one pod wrote is missing on
//! the next request that lands on another. A path counts as state when:
//!
//! - an env var named for stored data (`*STORAGE*`, `*UPLOAD*`,
//!   `*DATA_DIR*`, `*DATA_PATH*`, `*MEDIA*`, `*ATTACHMENT*`, `*BINARY*`,
//!   `*BLOB*`, `*FILES_DIR*`) holds a path or a `file:` URL inside an
//!   emptyDir mount; names that say scratch (`TMP`, `TEMP`, `CACHE`,
//!   `SCRATCH`) are not state;
//! - any env var, or a ConfigMap the pod reads, holds a `file:` URL inside
//!   an emptyDir mount (`"binaryStorage": "file:/data/binary/"`);
//! - the suite spec declares the path as data (`paths.<workload>.data`).
//!
//! `/tmp` and caches on an emptyDir stay fine: only paths named as data count.

use std::collections::BTreeMap;

use serde_json::Value;

use super::lookup::{config_maps_of, env, max_replicas};
use super::PolicyCx;
use crate::verdict::{Finding, Verdict};
use crate::{Container, Workload};

const DATA_WORDS: [&str; 10] = [
    "STORAGE",
    "UPLOAD",
    "DATA_DIR",
    "DATADIR",
    "DATA_PATH",
    "MEDIA",
    "ATTACHMENT",
    "BINARY",
    "BLOB",
    "FILES_DIR",
];
const SCRATCH_WORDS: [&str; 4] = ["TMP", "TEMP", "CACHE", "SCRATCH"];

/// The emptyDir mounts of a container: mount path -> volume name.
fn empty_dir_mounts(w: &Workload<'_>, c: &Container<'_>) -> BTreeMap<String, String> {
    let empty: Vec<&str> = w
        .pod_spec()
        .and_then(|s| s.get("volumes"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|v| v.get("emptyDir").is_some())
        .filter_map(|v| v.get("name").and_then(Value::as_str))
        .collect();
    c.spec
        .get("volumeMounts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| {
            let name = m.get("name").and_then(Value::as_str)?;
            let path = m.get("mountPath").and_then(Value::as_str)?;
            empty
                .contains(&name)
                .then(|| (path.trim_end_matches('/').to_string(), name.to_string()))
        })
        .collect()
}

/// A path inside one of the mounts: the mount path and the volume.
fn inside<'m>(
    path: &str,
    mounts: &'m BTreeMap<String, String>,
) -> Option<(&'m String, &'m String)> {
    let p = path.trim_end_matches('/');
    mounts
        .iter()
        .filter(|(m, _)| p == m.as_str() || p.starts_with(&format!("{m}/")) || m.is_empty())
        .max_by_key(|(m, _)| m.len())
}

/// The filesystem path of a value: `/data/x`, `file:/data/x`, `file:///data/x`.
fn as_path(value: &str) -> Option<&str> {
    let v = value.trim();
    let v = v
        .strip_prefix("file://")
        .or_else(|| v.strip_prefix("file:"))
        .unwrap_or(v);
    v.starts_with('/').then_some(v)
}

/// `file:` URLs anywhere in a text (a JSON or properties config).
fn file_urls(text: &str) -> Vec<&str> {
    text.match_indices("file:")
        .filter_map(|(i, _)| {
            let rest = &text[i..];
            let end = rest
                .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ',' | '}' | ']'))
                .unwrap_or(rest.len());
            let url = &rest[..end];
            as_path(url).map(|_| url)
        })
        .collect()
}

pub fn check(cx: &PolicyCx<'_>) -> Vec<(String, Verdict)> {
    cx.manifests
        .workloads()
        .filter(|w| matches!(w.object.kind.as_str(), "Deployment" | "StatefulSet" | "ReplicaSet"))
        .filter_map(|w| {
            let replicas = max_replicas(cx.manifests, &w);
            if replicas < 2 {
                return None;
            }
            let declared = cx.declared.get(&w.object.name).map(|d| d.data.clone()).unwrap_or_default();
            let config_urls: Vec<(String, String)> = config_maps_of(cx.manifests, &w)
                .into_iter()
                .flat_map(|cm| {
                    crate::manifest::string_map(cm.doc.get("data"))
                        .into_iter()
                        .flat_map(|(key, text)| {
                            file_urls(&text)
                                .into_iter()
                                .map(|u| (format!("{} data.{key}", cm.id()), u.to_string()))
                                .collect::<Vec<_>>()
                        })
                        .collect::<Vec<_>>()
                })
                .collect();
            let mut findings = Vec::new();
            let mut any_mount = false;
            for c in w.containers() {
                let mounts = empty_dir_mounts(&w, &c);
                if mounts.is_empty() {
                    continue;
                }
                any_mount = true;
                let mut hit = |source: String, path: &str, why: &str| {
                    if let Some((mount, volume)) = inside(as_path(path).unwrap_or(path), &mounts) {
                        findings.push(Finding {
                            object: c.label(),
                            field: format!("{}.volumeMounts (`{mount}`, emptyDir `{volume}`)", c.path),
                            problem: format!(
                                "{source} keeps {why} at `{path}` on an emptyDir, while {} runs up to {replicas} pods: \
                                 each pod has its own copy, lost on every restart",
                                w.object.id()
                            ),
                            fix: "put the data on a shared volume (a ReadWriteMany claim) or object storage, \
                                  or keep the workload at one replica"
                                .into(),
                        });
                    }
                };
                for (name, value) in env(cx.manifests, &c) {
                    let Some(value) = value else { continue };
                    let upper = name.to_ascii_uppercase();
                    let named_data = DATA_WORDS.iter().any(|w| upper.contains(w)) && !SCRATCH_WORDS.iter().any(|w| upper.contains(w));
                    let is_file_url = value.trim().starts_with("file:");
                    if (named_data || (is_file_url && !SCRATCH_WORDS.iter().any(|w| upper.contains(w)))) && as_path(&value).is_some() {
                        hit(format!("env `{name}`"), &value, "data");
                    }
                }
                for (source, url) in &config_urls {
                    hit(source.clone(), url, "files");
                }
                for path in &declared {
                    hit("the suite spec".into(), path, "declared data");
                }
            }
            any_mount.then(|| {
                (
                    w.object.id().slug(),
                    Verdict::from_findings(
                        w.object.id().to_string(),
                        "a workload with more than one pod keeps no data on an emptyDir",
                        findings,
                    ),
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::testing::{run, run_with};
    use super::super::{Declared, DeclaredPaths};
    use super::*;

    fn web(replicas: u32, env: &str) -> String {
        format!("apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web}}\nspec:\n  replicas: {replicas}\n  template:\n    spec:\n      volumes: [{{name: scratch, emptyDir: {{}}}}, {{name: config, configMap: {{name: web-config}}}}]\n      containers:\n      - name: web\n        image: a:1.0.0\n        env: {env}\n        volumeMounts: [{{name: scratch, mountPath: /data}}, {{name: config, mountPath: /etc/web}}]\n")
    }

    #[test]
    fn uploads_on_an_emptydir_of_two_replicas_fail_with_the_env_and_mount() {
        let v = run(check, &web(2, "[{name: UPLOAD_DIR, value: /data/uploads}]"));
        assert!(v[0].1.failed());
        let f = v[0].1.findings().next().unwrap();
        assert!(
            f.field
                .ends_with("volumeMounts (`/data`, emptyDir `scratch`)"),
            "{f:?}"
        );
        assert!(
            f.problem
                .contains("env `UPLOAD_DIR` keeps data at `/data/uploads`"),
            "{f:?}"
        );
        assert!(f.problem.contains("up to 2 pods"), "{f:?}");
    }

    #[test]
    fn a_file_url_in_a_mounted_configmap_counts_as_state() {
        let yaml = format!("{}---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: web-config}}\ndata:\n  config.json: '{{\"binaryStorage\": \"file:/data/binary/\"}}'\n", web(2, "[]"));
        let v = run(check, &yaml);
        assert!(
            v[0].1.to_string().contains("`file:/data/binary/`"),
            "{}",
            v[0].1
        );
    }

    #[test]
    fn an_hpa_above_one_makes_a_single_replica_workload_multi_pod() {
        let yaml = format!("{}---\napiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {{name: web}}\nspec: {{scaleTargetRef: {{kind: Deployment, name: web}}, minReplicas: 1, maxReplicas: 4}}\n", web(1, "[{name: FILE_STORAGE_PATH, value: 'file:/data/files'}]"));
        assert!(run(check, &yaml)[0].1.failed());
    }

    #[test]
    fn scratch_space_and_single_pods_pass() {
        assert!(!run(
            check,
            &web(
                3,
                "[{name: UPLOAD_TMP_DIR, value: /data/tmp}, {name: HOME, value: /data}]"
            )
        )[0]
        .1
        .failed());
        assert!(run(check, &web(1, "[{name: UPLOAD_DIR, value: /data/uploads}]")).is_empty());
    }

    #[test]
    fn a_path_the_spec_declares_as_data_fails() {
        let declared: Declared = [(
            "web".to_string(),
            DeclaredPaths {
                data: vec!["/data/state".into()],
                ..Default::default()
            },
        )]
        .into();
        let v = run_with(check, &web(2, "[]"), &declared);
        assert!(
            v[0].1
                .to_string()
                .contains("the suite spec keeps declared data at `/data/state`"),
            "{}",
            v[0].1
        );
    }
}
