//! Queries the newer policies share: how far a workload can scale, which
//! pods and container ports a Service reaches, a container's env as text.
//! They live here rather than in `manifest.rs` so the policies that need
//! them own them.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::manifest::{selector_matches, string_map};
use crate::{Container, Manifests, Object, ObjectRef, Workload};

/// The most replicas a workload can run: `spec.replicas`, or the
/// `maxReplicas` of an HPA that scales it, whichever is higher.
pub fn max_replicas(m: &Manifests, w: &Workload<'_>) -> i64 {
    let hpa_max = m
        .of_kind("HorizontalPodAutoscaler")
        .filter(|h| {
            h.doc
                .pointer("/spec/scaleTargetRef/kind")
                .and_then(Value::as_str)
                == Some(w.object.kind.as_str())
                && h.doc
                    .pointer("/spec/scaleTargetRef/name")
                    .and_then(Value::as_str)
                    == Some(w.object.name.as_str())
        })
        .filter_map(|h| h.doc.pointer("/spec/maxReplicas").and_then(Value::as_i64))
        .max()
        .unwrap_or(0);
    w.replicas().max(hpa_max)
}

/// Long-running workloads whose pods a Service selects.
pub fn backends<'a>(m: &'a Manifests, service: &Object) -> Vec<Workload<'a>> {
    let Some(selector) = service
        .doc
        .pointer("/spec/selector")
        .and_then(Value::as_object)
    else {
        return Vec::new();
    };
    if selector.is_empty() {
        return Vec::new();
    }
    let sel = serde_json::json!({ "matchLabels": selector });
    m.workloads()
        .filter(|w| w.is_long_running() && selector_matches(&sel, &w.pod_labels()))
        .collect()
}

/// The container port numbers a port reference (a number or a port name)
/// means on a workload's app containers.
pub fn container_ports(w: &Workload<'_>, port: &Value) -> Vec<i64> {
    let mut out = Vec::new();
    for c in w.containers().iter().filter(|c| !c.init || is_sidecar(c)) {
        for (name, number) in c.ports() {
            let hit = match port {
                Value::String(s) => {
                    name.as_deref() == Some(s.as_str()) || s.parse::<i64>().ok() == Some(number)
                }
                Value::Number(n) => n.as_i64() == Some(number),
                _ => false,
            };
            if hit {
                out.push(number);
            }
        }
    }
    // A numeric targetPort need not be declared to be served.
    if out.is_empty() {
        if let Some(n) = port.as_i64() {
            out.push(n);
        }
    }
    out
}

/// An init container with `restartPolicy: Always` serves like an app container.
pub fn is_sidecar(c: &Container<'_>) -> bool {
    c.init && c.spec.get("restartPolicy").and_then(Value::as_str) == Some("Always")
}

/// Where a Service port leads: each backend workload with the container
/// port number the Service's `targetPort` resolves to there. `port` picks
/// the Service port by name or number; `None` means every port.
pub fn service_targets(
    m: &Manifests,
    service: &Object,
    port: Option<&Value>,
) -> Vec<(ObjectRef, i64)> {
    let ports = service
        .doc
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut out = Vec::new();
    for p in &ports {
        let chosen = match port {
            None => true,
            Some(Value::String(name)) => p.get("name").and_then(Value::as_str) == Some(name),
            Some(Value::Number(n)) => p.get("port").and_then(Value::as_i64) == n.as_i64(),
            Some(_) => false,
        };
        if !chosen {
            continue;
        }
        let target = p
            .get("targetPort")
            .cloned()
            .or_else(|| p.get("port").cloned())
            .unwrap_or_default();
        for w in backends(m, service) {
            for n in container_ports(&w, &target) {
                out.push((w.object.id(), n));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// A container's env as the app sees it: literal values with `$(VAR)`
/// references to earlier literals expanded, and ConfigMap values pulled in
/// by `envFrom` or `configMapKeyRef`. Names set from Secrets or fields map
/// to `None` (present, value unknown).
pub fn env(m: &Manifests, c: &Container<'_>) -> BTreeMap<String, Option<String>> {
    let mut out: BTreeMap<String, Option<String>> = BTreeMap::new();
    for from in c
        .spec
        .get("envFrom")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(name) = from.pointer("/configMapRef/name").and_then(Value::as_str) {
            let prefix = from
                .get("prefix")
                .and_then(Value::as_str)
                .unwrap_or_default();
            for (k, v) in config_map(m, name) {
                out.insert(format!("{prefix}{k}"), Some(v));
            }
        }
    }
    for e in c
        .spec
        .get("env")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(name) = e.get("name").and_then(Value::as_str) else {
            continue;
        };
        let value = match (e.get("value").and_then(Value::as_str), e.get("valueFrom")) {
            (Some(v), _) => Some(expand(v, &out)),
            (None, Some(from)) => from
                .pointer("/configMapKeyRef/name")
                .and_then(Value::as_str)
                .and_then(|cm| {
                    let key = from
                        .pointer("/configMapKeyRef/key")
                        .and_then(Value::as_str)?;
                    config_map(m, cm).remove(key)
                }),
            (None, None) => Some(String::new()),
        };
        out.insert(name.to_string(), value);
    }
    out
}

/// Kubernetes' `$(VAR)` expansion against the env defined so far; unknown
/// references stay as written.
pub fn expand(value: &str, env: &BTreeMap<String, Option<String>>) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("$(") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find(')') {
            Some(end) => {
                let name = &after[..end];
                match env.get(name) {
                    Some(Some(v)) => out.push_str(v),
                    _ => out.push_str(&rest[start..start + 2 + end + 1]),
                }
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// The data of a rendered ConfigMap (empty when the release has none by that name).
pub fn config_map(m: &Manifests, name: &str) -> BTreeMap<String, String> {
    m.get("ConfigMap", name)
        .map(|cm| string_map(cm.doc.get("data")))
        .unwrap_or_default()
}

/// The ConfigMaps a pod mounts or reads env from, by name.
pub fn config_maps_of<'a>(m: &'a Manifests, w: &Workload<'_>) -> Vec<&'a Object> {
    let mut names: Vec<String> = Vec::new();
    if let Some(spec) = w.pod_spec() {
        for v in spec
            .get("volumes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(n) = v.pointer("/configMap/name").and_then(Value::as_str) {
                names.push(n.into());
            }
            for s in v
                .pointer("/projected/sources")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(n) = s.pointer("/configMap/name").and_then(Value::as_str) {
                    names.push(n.into());
                }
            }
        }
    }
    for c in w.containers() {
        for from in c
            .spec
            .get("envFrom")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(n) = from.pointer("/configMapRef/name").and_then(Value::as_str) {
                names.push(n.into());
            }
        }
    }
    names.sort();
    names.dedup();
    names.iter().filter_map(|n| m.get("ConfigMap", n)).collect()
}

/// A host that is the pod itself.
pub fn is_local_host(host: &str) -> bool {
    let h = host
        .trim()
        .trim_matches(|c| c == '[' || c == ']' || c == '"' || c == '\'');
    h.is_empty()
        || h.starts_with('/')
        || matches!(
            h,
            "127.0.0.1" | "localhost" | "::1" | "0.0.0.0" | "$(POD_IP)" | "$POD_IP" | "${POD_IP}"
        )
        || h.starts_with("127.")
}

/// The host of a location: `scheme://user:pw@host:port/path`, `host:port`,
/// or a bare host name.
pub fn host_of(location: &str) -> &str {
    let s = location.trim();
    let s = s.split_once("://").map_or(s, |(_, rest)| rest);
    let s = s.rsplit_once('@').map_or(s, |(_, rest)| rest);
    let s = s.split(['/', '?', ',']).next().unwrap_or(s);
    if s.starts_with('[') {
        return s.split(']').next().map_or(s, |h| h.trim_start_matches('['));
    }
    s.split(':').next().unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("postgres://u:p@db:5432/app?sslmode=disable", "db")]
    #[case("redis://:secret@cache.ns.svc:6379/0", "cache.ns.svc")]
    #[case("127.0.0.1:5432/healthdb", "127.0.0.1")]
    #[case("api", "api")]
    fn a_location_yields_its_host(#[case] location: &str, #[case] host: &str) {
        assert_eq!(host_of(location), host);
    }

    #[test]
    fn references_expand_against_earlier_env() {
        let env: BTreeMap<_, _> = [
            ("H".to_string(), Some("db".to_string())),
            ("P".to_string(), None),
        ]
        .into();
        assert_eq!(
            expand("pg://$(H):5432/$(P)/$(X)", &env),
            "pg://db:5432/$(P)/$(X)"
        );
    }
}
