//! An Ingress routes only public paths. Metrics and admin endpoints stay
//! inside the cluster: an Ingress whose rules send a path that covers one
//! to the pods that serve it publishes the app's internals (request counts,
//! queue dashboards, log levels) to the internet. The sensitive endpoints:
//!
//! - metrics, from what scrapes them: a ServiceMonitor endpoint (its
//!   Service port, `path` default `/metrics`), a PodMonitor endpoint (its
//!   container port), or `prometheus.io/scrape: "true"` on a pod template
//!   or a Service (`prometheus.io/path`, default `/metrics`, on
//!   `prometheus.io/port`, or any port when unset);
//! - metrics an app is told to serve: an env var `*METRICS_PATH` or
//!   `*METRICS_ENDPOINT` holding a path (on `*METRICS_PORT`, or any port),
//!   which catches a ServiceMonitor the render leaves out because
//!   `helm template` does not serve the monitoring API;
//! - admin paths the suite spec declares (`paths.<workload>.admin`), on
//!   any port of that workload.
//!
//! For each endpoint and each host, the rule that wins is found the way an
//! Ingress controller picks one: an `Exact` match first, then the longest
//! `Prefix` (matched by path element, so `/api` covers `/api/x` but not
//! `/apix`); `ImplementationSpecific` is read as a prefix, up to the first
//! regex character; `defaultBackend` is the last resort. The Ingress fails
//! when the winning rule's backend Service leads to the endpoint's pods and
//! port. A more specific rule that sends `/metrics` elsewhere therefore
//! protects it; rewrites (`rewrite-target`) are not modelled.

use std::collections::BTreeSet;

use serde_json::Value;

use super::lookup::{container_ports, service_targets};
use super::PolicyCx;
use crate::manifest::{selector_matches, string_map};
use crate::verdict::{Finding, Verdict};
use crate::{Manifests, Object, ObjectRef};

/// An endpoint that must not be public: served by a workload on a
/// container port (`None`: any of its ports) at a path.
#[derive(Debug, Clone)]
struct Sensitive {
    workload: ObjectRef,
    port: Option<i64>,
    path: String,
    /// What makes it sensitive: `ServiceMonitor/app endpoints[0]`.
    why: String,
}

/// One routing rule of an Ingress.
#[derive(Debug, Clone)]
struct Route<'a> {
    ingress: &'a Object,
    host: String,
    path: String,
    kind: PathKind,
    field: String,
    backend: Option<&'a Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PathKind {
    Exact,
    Prefix,
    Default,
}

fn metrics_path(v: Option<&Value>) -> String {
    v.and_then(Value::as_str)
        .filter(|p| !p.is_empty())
        .unwrap_or("/metrics")
        .to_string()
}

fn sensitive(cx: &PolicyCx<'_>) -> Vec<Sensitive> {
    let m = cx.manifests;
    let mut out = Vec::new();
    for sm in m.of_kind("ServiceMonitor") {
        let sel = sm
            .doc
            .pointer("/spec/selector")
            .cloned()
            .unwrap_or_default();
        let services: Vec<&Object> = m
            .of_kind("Service")
            .filter(|s| {
                !sel.is_null()
                    && selector_matches(&sel, &string_map(s.doc.pointer("/metadata/labels")))
            })
            .collect();
        for (i, ep) in sm
            .doc
            .pointer("/spec/endpoints")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let path = metrics_path(ep.get("path"));
            for svc in &services {
                let targets = match (ep.get("port"), ep.get("targetPort")) {
                    (Some(p), _) => service_targets(m, svc, Some(p)),
                    (None, Some(tp)) => super::lookup::backends(m, svc)
                        .iter()
                        .flat_map(|w| {
                            container_ports(w, tp)
                                .into_iter()
                                .map(|n| (w.object.id(), n))
                                .collect::<Vec<_>>()
                        })
                        .collect(),
                    (None, None) => service_targets(m, svc, None),
                };
                for (workload, port) in targets {
                    out.push(Sensitive {
                        workload,
                        port: Some(port),
                        path: path.clone(),
                        why: format!("{} endpoints[{i}]", sm.id()),
                    });
                }
            }
        }
    }
    for pm in m.of_kind("PodMonitor") {
        let sel = pm
            .doc
            .pointer("/spec/selector")
            .cloned()
            .unwrap_or_default();
        for w in m.workloads().filter(|w| {
            w.is_long_running() && !sel.is_null() && selector_matches(&sel, &w.pod_labels())
        }) {
            for (i, ep) in pm
                .doc
                .pointer("/spec/podMetricsEndpoints")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                let port = ep
                    .get("port")
                    .or_else(|| ep.get("portNumber"))
                    .or_else(|| ep.get("targetPort"));
                let ports = port.map(|p| container_ports(&w, p)).unwrap_or_default();
                let path = metrics_path(ep.get("path"));
                let why = format!("{} podMetricsEndpoints[{i}]", pm.id());
                if ports.is_empty() {
                    out.push(Sensitive {
                        workload: w.object.id(),
                        port: None,
                        path,
                        why,
                    });
                } else {
                    for p in ports {
                        out.push(Sensitive {
                            workload: w.object.id(),
                            port: Some(p),
                            path: path.clone(),
                            why: why.clone(),
                        });
                    }
                }
            }
        }
    }
    let scraped = |annotations: &serde_json::Map<String, Value>| {
        (annotations
            .get("prometheus.io/scrape")
            .and_then(Value::as_str)
            == Some("true"))
        .then(|| {
            (
                metrics_path(annotations.get("prometheus.io/path")),
                annotations
                    .get("prometheus.io/port")
                    .and_then(Value::as_str)
                    .and_then(|p| p.parse::<i64>().ok()),
            )
        })
    };
    for w in m.workloads().filter(|w| w.is_long_running()) {
        if let Some((path, port)) = w
            .template
            .pointer("/metadata/annotations")
            .and_then(Value::as_object)
            .and_then(scraped)
        {
            out.push(Sensitive {
                workload: w.object.id(),
                port,
                path,
                why: format!("{} prometheus.io annotations", w.object.id()),
            });
        }
    }
    for svc in m.of_kind("Service") {
        if let Some((path, port)) = svc
            .doc
            .pointer("/metadata/annotations")
            .and_then(Value::as_object)
            .and_then(scraped)
        {
            for w in super::lookup::backends(m, svc) {
                out.push(Sensitive {
                    workload: w.object.id(),
                    port,
                    path: path.clone(),
                    why: format!("{} prometheus.io annotations", svc.id()),
                });
            }
        }
    }
    // An app told where to serve its metrics serves them there.
    for w in m.workloads().filter(|w| w.is_long_running()) {
        for c in w.containers() {
            let env = super::lookup::env(m, &c);
            let port = env
                .iter()
                .find(|(k, _)| k.ends_with("METRICS_PORT"))
                .and_then(|(_, v)| v.as_deref()?.parse::<i64>().ok());
            for (name, value) in &env {
                let Some(path) = value.as_deref().filter(|v| v.starts_with('/')) else {
                    continue;
                };
                if name.ends_with("METRICS_PATH") || name.ends_with("METRICS_ENDPOINT") {
                    out.push(Sensitive {
                        workload: w.object.id(),
                        port,
                        path: path.to_string(),
                        why: format!("{} env `{name}`", c.label()),
                    });
                }
            }
        }
    }
    for w in m.workloads().filter(|w| w.is_long_running()) {
        for path in cx
            .declared
            .get(&w.object.name)
            .map(|d| d.admin.clone())
            .unwrap_or_default()
        {
            out.push(Sensitive {
                workload: w.object.id(),
                port: None,
                path,
                why: "an admin path the suite spec declares".into(),
            });
        }
    }
    out
}

fn routes(m: &Manifests) -> Vec<Route<'_>> {
    let mut out = Vec::new();
    for ing in m.of_kind("Ingress") {
        let mut hosts = BTreeSet::new();
        for (r, rule) in ing
            .doc
            .pointer("/spec/rules")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let host = rule
                .get("host")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            hosts.insert(host.clone());
            for (p, path) in rule
                .pointer("/http/paths")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                let raw = path.get("path").and_then(Value::as_str).unwrap_or("/");
                let (kind, path_text) = match path.get("pathType").and_then(Value::as_str) {
                    Some("Exact") => (PathKind::Exact, raw.to_string()),
                    Some("ImplementationSpecific") | None => {
                        let literal = raw
                            .split(['(', '[', '*', '$', '?', '+', '^', '|', '\\'])
                            .next()
                            .unwrap_or(raw);
                        (
                            PathKind::Prefix,
                            if literal.is_empty() {
                                "/".into()
                            } else {
                                literal.to_string()
                            },
                        )
                    }
                    Some(_) => (PathKind::Prefix, raw.to_string()),
                };
                out.push(Route {
                    ingress: ing,
                    host: host.clone(),
                    path: path_text,
                    kind,
                    field: format!("spec.rules[{r}].http.paths[{p}]"),
                    backend: path.get("backend"),
                });
            }
        }
        if let Some(backend) = ing.doc.pointer("/spec/defaultBackend") {
            if hosts.is_empty() {
                hosts.insert(String::new());
            }
            for host in hosts {
                out.push(Route {
                    ingress: ing,
                    host,
                    path: "/".into(),
                    kind: PathKind::Default,
                    field: "spec.defaultBackend".into(),
                    backend: Some(backend),
                });
            }
        }
    }
    out
}

fn segments(p: &str) -> Vec<&str> {
    p.split('/').filter(|s| !s.is_empty()).collect()
}

/// How well a route matches a request path: `None` when it does not, else
/// a rank (higher wins).
fn rank(route: &Route<'_>, path: &str) -> Option<(u8, usize)> {
    match route.kind {
        PathKind::Exact => (route.path == path).then_some((2, route.path.len())),
        PathKind::Prefix => {
            let (r, p) = (segments(&route.path), segments(path));
            (p.len() >= r.len() && r.iter().zip(&p).all(|(a, b)| a == b)).then_some((1, r.len()))
        }
        PathKind::Default => Some((0, 0)),
    }
}

/// Where a route's backend leads: workloads and container ports.
fn leads_to(m: &Manifests, route: &Route<'_>) -> Vec<(ObjectRef, i64)> {
    let Some(svc) = route.backend.and_then(|b| b.pointer("/service")) else {
        return Vec::new();
    };
    let Some(service) = svc
        .get("name")
        .and_then(Value::as_str)
        .and_then(|n| m.get("Service", n))
    else {
        return Vec::new();
    };
    let port = svc
        .pointer("/port/name")
        .or_else(|| svc.pointer("/port/number"));
    service_targets(m, service, port)
}

pub fn check(cx: &PolicyCx<'_>) -> Vec<(String, Verdict)> {
    let m = cx.manifests;
    let routes = routes(m);
    let endpoints = sensitive(cx);
    let hosts: BTreeSet<&str> = routes.iter().map(|r| r.host.as_str()).collect();
    let mut findings: Vec<(String, Finding)> = Vec::new();
    for e in &endpoints {
        for host in &hosts {
            let winner = routes
                .iter()
                .filter(|r| r.host == *host)
                .filter_map(|r| rank(r, &e.path).map(|k| (k, r)))
                .max_by_key(|(k, _)| *k)
                .map(|(_, r)| r);
            let Some(route) = winner else { continue };
            let reaches = leads_to(m, route)
                .iter()
                .any(|(w, port)| *w == e.workload && e.port.is_none_or(|p| p == *port));
            if !reaches {
                continue;
            }
            let kind = match route.kind {
                PathKind::Exact => "Exact",
                PathKind::Prefix => "Prefix",
                PathKind::Default => "the default backend",
            };
            let host_text = if host.is_empty() {
                "every host".to_string()
            } else {
                format!("`{host}`")
            };
            findings.push((
                route.ingress.name.clone(),
                Finding {
                    object: route.ingress.id().to_string(),
                    field: route.field.clone(),
                    problem: format!(
                        "`{}` ({kind}) on {host_text} routes `{}` to {}{}, which serves it privately ({})",
                        route.path,
                        e.path,
                        e.workload,
                        e.port.map(|p| format!(" port {p}")).unwrap_or_default(),
                        e.why
                    ),
                    fix: format!(
                        "route only the public paths (e.g. `/api` Prefix, or Exact paths), or serve `{}` on a port the Ingress does not route to",
                        e.path
                    ),
                },
            ));
        }
    }
    m.of_kind("Ingress")
        .map(|ing| {
            let mine: Vec<Finding> = findings
                .iter()
                .filter(|(n, _)| *n == ing.name)
                .map(|(_, f)| f.clone())
                .collect();
            (
                ing.id().slug(),
                Verdict::from_findings(
                    ing.id().to_string(),
                    "the Ingress routes no path that covers a metrics or admin endpoint",
                    mine,
                ),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::testing::{run, run_with};
    use super::super::{Declared, DeclaredPaths};
    use super::*;
    use rstest::rstest;

    const APP: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api}\nspec:\n  template:\n    metadata:\n      labels: {app: api}\n      annotations: {prometheus.io/scrape: \"true\", prometheus.io/port: \"8080\"}\n    spec:\n      containers: [{name: api, image: a:1.0.0, ports: [{name: http, containerPort: 8080}, {name: admin, containerPort: 9000}]}]\n---\napiVersion: v1\nkind: Service\nmetadata: {name: api, labels: {app: api}}\nspec: {selector: {app: api}, ports: [{name: http, port: 80, targetPort: http}, {name: admin, port: 9000, targetPort: admin}]}\n";

    fn ingress(paths: &str) -> String {
        format!("{APP}---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {{name: api}}\nspec:\n  rules:\n  - host: api.example.com\n    http:\n      paths: {paths}\n")
    }

    fn path(p: &str, kind: &str, port: &str) -> String {
        format!("{{path: \"{p}\", pathType: {kind}, backend: {{service: {{name: api, port: {{name: {port}}}}}}}}}")
    }

    #[rstest]
    #[case(&[("/", "Prefix")], true)]
    #[case(&[("/metrics", "Exact")], true)]
    #[case(&[("/api", "Prefix")], false)]
    #[case(&[("/metricsx", "Prefix")], false)]
    #[case(&[("/", "ImplementationSpecific")], true)]
    #[case(&[("/api/v1", "Exact"), ("/healthz", "Exact")], false)]
    fn a_path_that_covers_metrics_on_the_scraped_port_fails(
        #[case] paths: &[(&str, &str)],
        #[case] bad: bool,
    ) {
        let list = format!(
            "[{}]",
            paths
                .iter()
                .map(|(p, k)| path(p, k, "http"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let v = run(check, &ingress(&list));
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].1.failed(), bad, "{paths:?}: {}", v[0].1);
    }

    #[test]
    fn a_slash_prefix_to_a_scraped_service_names_the_rule_the_path_and_the_scraper() {
        let v = run(
            check,
            &ingress(&format!("[{}]", path("/", "Prefix", "http"))),
        );
        let f = v[0].1.findings().next().unwrap().clone();
        assert_eq!(f.field, "spec.rules[0].http.paths[0]");
        assert!(
            f.problem.contains(
                "`/` (Prefix) on `api.example.com` routes `/metrics` to Deployment/api port 8080"
            ),
            "{f:?}"
        );
        assert!(f.problem.contains("prometheus.io annotations"), "{f:?}");
    }

    #[test]
    fn a_more_specific_rule_that_sends_metrics_elsewhere_protects_it() {
        let yaml = format!(
            "{}---\napiVersion: v1\nkind: Service\nmetadata: {{name: deny}}\nspec: {{selector: {{app: nothing}}, ports: [{{port: 80}}]}}\n",
            ingress(&format!("[{}, {{path: /metrics, pathType: Prefix, backend: {{service: {{name: deny, port: {{number: 80}}}}}}}}]", path("/", "Prefix", "http")))
        );
        assert!(!run(check, &yaml)[0].1.failed());
    }

    #[test]
    fn a_service_monitor_on_another_port_leaves_the_app_port_public() {
        let yaml = APP.replace("prometheus.io/scrape: \"true\"", "prometheus.io/scrape: \"false\"")
            + "---\napiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: api}\nspec: {selector: {matchLabels: {app: api}}, endpoints: [{port: admin, path: /prom}]}\n"
            + &ingress(&format!("[{}]", path("/", "Prefix", "http")))[APP.len()..];
        assert!(
            !run(check, &yaml)[0].1.failed(),
            "http port routed, metrics on admin port"
        );
        let exposed = yaml.replace("name: http}}}}", "name: admin}}}}");
        let v = run(check, &exposed);
        assert!(
            v[0].1
                .to_string()
                .contains("routes `/prom` to Deployment/api port 9000"),
            "{}",
            v[0].1
        );
    }

    #[test]
    fn a_metrics_path_the_app_is_told_through_env_counts() {
        let yaml = ingress(&format!("[{}]", path("/", "Prefix", "http")))
            .replace("prometheus.io/scrape: \"true\"", "x: y")
            .replace("containers: [{name: api, image: a:1.0.0,", "containers: [{name: api, image: a:1.0.0, env: [{name: METRICS_PATH, value: /internal/metrics}],");
        let v = run(check, &yaml);
        assert!(v[0].1.to_string().contains("routes `/internal/metrics` to Deployment/api, which serves it privately (Deployment/api container `api` env `METRICS_PATH`)"), "{}", v[0].1);
    }

    #[test]
    fn an_admin_path_the_spec_declares_is_covered_by_a_prefix() {
        let declared: Declared = [(
            "api".to_string(),
            DeclaredPaths {
                admin: vec!["/admin/queues".into()],
                ..Default::default()
            },
        )]
        .into();
        let yaml = ingress(&format!("[{}]", path("/admin", "Prefix", "http")))
            .replace("prometheus.io/scrape: \"true\"", "x: y");
        let v = run_with(check, &yaml, &declared);
        assert!(v[0].1.to_string().contains("routes `/admin/queues` to Deployment/api, which serves it privately (an admin path the suite spec declares)"), "{}", v[0].1);
    }
}
