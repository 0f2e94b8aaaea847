//! Production isolation, judged from the rendered NetworkPolicies:
//! - `default-deny`: a deny-all policy (DNS egress aside) covers every pod;
//! - each allow policy names its peers (no `{}` peer, no rule without
//!   peers, no 0.0.0.0/0), so every allowed flow is explicit;
//! - `flow/<app>-to-<service>`: every Service an app is wired to in its env
//!   (DATABASE_URL and the like) is reachable under the policies, egress and
//!   ingress both. This is the defect a hand-written policy most often has:
//!   default-deny that cuts the app off from its own database.

use std::collections::BTreeMap;

use serde_json::Value;

use super::PolicyCx;
use crate::manifest::{selector_matches, string_map};
use crate::verdict::{Finding, Verdict};
use crate::{Manifests, Object, Workload};

const NS_NAME: &str = "kubernetes.io/metadata.name";

/// Pod-template annotation: comma-separated env var names whose values name
/// a Service without being connections the pod makes (a public base URL).
pub const NOT_CONNECTIONS: &str = "vitals.dev/not-connections";

/// A pod as policies see it: its labels, namespace labels, container ports.
struct Endpoint {
    labels: BTreeMap<String, String>,
    ports: Vec<(Option<String>, i64)>,
}

fn endpoint(w: &Workload<'_>) -> Endpoint {
    Endpoint {
        labels: w.pod_labels(),
        ports: w
            .containers()
            .iter()
            .filter(|c| !c.init)
            .flat_map(|c| c.ports())
            .collect(),
    }
}

fn policies(m: &Manifests) -> Vec<&Object> {
    m.of_kind("NetworkPolicy").collect()
}

fn types(np: &Object) -> Vec<String> {
    let explicit: Vec<String> = np
        .doc
        .pointer("/spec/policyTypes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(String::from))
        .collect();
    if !explicit.is_empty() {
        return explicit;
    }
    let mut t = vec!["Ingress".to_string()];
    if np.doc.pointer("/spec/egress").is_some() {
        t.push("Egress".into());
    }
    t
}

fn selects(np: &Object, labels: &BTreeMap<String, String>) -> bool {
    np.doc
        .pointer("/spec/podSelector")
        .is_some_and(|s| selector_matches(s, labels))
}

fn rules<'a>(np: &'a Object, dir: &str) -> Vec<&'a Value> {
    np.doc
        .pointer(&format!("/spec/{dir}"))
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

/// Does a peer match a pod of the same namespace with these labels?
fn peer_matches(peer: &Value, ns: &str, labels: &BTreeMap<String, String>) -> bool {
    if peer.get("ipBlock").is_some() {
        return false; // pod IPs are not known at render time; treat as not matching
    }
    let ns_ok = match peer.get("namespaceSelector") {
        None => true,
        Some(sel) => selector_matches(
            sel,
            &BTreeMap::from([(NS_NAME.to_string(), ns.to_string())]),
        ),
    };
    let pod_ok = peer
        .get("podSelector")
        .is_none_or(|sel| selector_matches(sel, labels));
    ns_ok && pod_ok
}

fn port_matches(rule: &Value, port: i64, dst: &Endpoint) -> bool {
    let Some(ports) = rule
        .get("ports")
        .and_then(Value::as_array)
        .filter(|p| !p.is_empty())
    else {
        return true;
    };
    ports.iter().any(|p| {
        let proto = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
        let num = match p.get("port") {
            None => return proto == "TCP",
            Some(Value::Number(n)) => n.as_i64(),
            Some(Value::String(name)) => dst
                .ports
                .iter()
                .find(|(n, _)| n.as_deref() == Some(name))
                .map(|(_, p)| *p),
            _ => None,
        };
        let end = p.get("endPort").and_then(Value::as_i64);
        proto == "TCP"
            && num.is_some_and(|n| n == port || end.is_some_and(|e| n <= port && port <= e))
    })
}

/// Kubernetes semantics: a direction is open unless some policy of that
/// type selects the pod; then some rule of those policies must match.
fn allowed(
    nps: &[&Object],
    dir: &str,
    subject: &Endpoint,
    peer: &Endpoint,
    ns: &str,
    port: i64,
    port_owner: &Endpoint,
) -> (bool, Vec<String>) {
    let kind = if dir == "ingress" {
        "Ingress"
    } else {
        "Egress"
    };
    let field = if dir == "ingress" { "from" } else { "to" };
    let governing: Vec<&&Object> = nps
        .iter()
        .filter(|np| types(np).iter().any(|t| t == kind) && selects(np, &subject.labels))
        .collect();
    let names = governing.iter().map(|np| np.name.clone()).collect();
    if governing.is_empty() {
        return (true, names);
    }
    let ok = governing.iter().any(|np| {
        rules(np, dir).iter().any(|r| {
            let peers = r.get(field).and_then(Value::as_array);
            let peer_ok = peers.is_none_or(|ps| {
                ps.is_empty() || ps.iter().any(|p| peer_matches(p, ns, &peer.labels))
            });
            peer_ok && port_matches(r, port, port_owner)
        })
    });
    (ok, names)
}

fn is_deny_all(np: &Object) -> bool {
    let t = types(np);
    let dns_only = rules(np, "egress").iter().all(|r| {
        r.get("ports").and_then(Value::as_array).is_some_and(|ps| {
            !ps.is_empty()
                && ps
                    .iter()
                    .all(|p| p.get("port").and_then(Value::as_i64) == Some(53))
        })
    });
    t.iter().any(|x| x == "Ingress")
        && t.iter().any(|x| x == "Egress")
        && rules(np, "ingress").is_empty()
        && dns_only
}

fn wide_peer(peer: &Value) -> Option<&'static str> {
    if peer.as_object().is_some_and(|m| m.is_empty()) {
        return Some("an empty peer `{}` matches every pod in every namespace");
    }
    if peer
        .pointer("/ipBlock/cidr")
        .and_then(Value::as_str)
        .is_some_and(|c| c == "0.0.0.0/0" || c == "::/0")
    {
        return Some("ipBlock 0.0.0.0/0 matches every address");
    }
    None
}

/// Release Services named in a container's env values, with an explicit
/// port when the value carries one (`host:5432`).
fn wired_services<'a>(m: &'a Manifests, w: &Workload<'_>) -> Vec<(&'a Object, Option<i64>)> {
    let mut out: Vec<(&Object, Option<i64>)> = Vec::new();
    let not_connections: Vec<&str> = w
        .pod_annotation(NOT_CONNECTIONS)
        .map(|a| a.split(',').map(str::trim).collect())
        .unwrap_or_default();
    for c in w.containers() {
        for env in c
            .spec
            .get("env")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(val) = env.get("value").and_then(Value::as_str) else {
                continue;
            };
            if env
                .get("name")
                .and_then(Value::as_str)
                .is_some_and(|n| not_connections.contains(&n))
            {
                continue;
            }
            for svc in m.of_kind("Service") {
                let name = svc.name.as_str();
                let Some(pos) = find_host(val, name) else {
                    continue;
                };
                let rest = &val[pos + name.len()..];
                let rest = rest.trim_start_matches(|c: char| {
                    c == '.' || c.is_ascii_alphanumeric() || c == '-'
                });
                let port = rest
                    .strip_prefix(':')
                    .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
                    .and_then(|p| p.parse().ok());
                if !out.iter().any(|(s, p)| s.name == svc.name && *p == port) {
                    out.push((svc, port));
                }
            }
        }
    }
    out
}

/// Position of `host` in `text` as a whole hostname (not a prefix of a longer name).
fn find_host(text: &str, host: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let is_name = |b: u8| b.is_ascii_alphanumeric() || b == b'-';
    text.match_indices(host).map(|(i, _)| i).find(|&i| {
        let before = i == 0 || !is_name(bytes[i - 1]);
        let after = bytes.get(i + host.len()).is_none_or(|b| !is_name(*b));
        before && after
    })
}

/// The connections a release wires itself: (source workload, Service,
/// Service port), from env values that name a release Service. The cluster
/// tier proves each is ALLOWED from the real source pod.
pub fn wired_flows(m: &Manifests) -> Vec<(String, String, i64)> {
    let mut out = Vec::new();
    for w in m.workloads().filter(|w| w.is_long_running()) {
        for (svc, port) in wired_services(m, &w) {
            let ports: Vec<i64> = svc
                .doc
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|p| p.get("port").and_then(Value::as_i64))
                .collect();
            let Some(p) = port
                .filter(|p| ports.contains(p))
                .or(ports.first().copied())
            else {
                continue;
            };
            let flow = (w.object.name.clone(), svc.name.clone(), p);
            if !out.contains(&flow) && !svc_selects_self(svc, &w) {
                out.push(flow);
            }
        }
    }
    out
}

fn svc_selects_self(svc: &Object, w: &Workload<'_>) -> bool {
    svc.doc.pointer("/spec/selector").is_some_and(|sel| {
        selector_matches(&serde_json::json!({"matchLabels": sel}), &w.pod_labels())
    })
}

pub fn check(cx: &PolicyCx<'_>) -> Vec<(String, Verdict)> {
    if !cx.prod {
        return Vec::new();
    }
    let m = cx.manifests;
    let nps = policies(m);
    let ns = "release-namespace";
    let mut out = Vec::new();

    // default-deny: Kubernetes isolates a pod in a direction as soon as
    // any policy of that type selects it, so a chart's own policies with
    // rules deny by default too; only the rules' peers are judged below.
    // Host-network pods are out of reach of NetworkPolicy altogether.
    let isolated = |w: &Workload<'_>, kind: &str| {
        nps.iter().any(|np| {
            selects(np, &w.pod_labels()) && (is_deny_all(np) || types(np).iter().any(|t| t == kind))
        })
    };
    let uncovered: Vec<Finding> = m
        .workloads()
        .filter(|w| !w.object.is_test_hook())
        .filter(|w| {
            w.pod_spec()
                .and_then(|p| p.get("hostNetwork"))
                .and_then(Value::as_bool)
                != Some(true)
        })
        .filter(|w| !(isolated(w, "Ingress") && isolated(w, "Egress")))
        .map(|w| {
            let missing: Vec<&str> = ["Ingress", "Egress"]
                .into_iter()
                .filter(|k| !isolated(&w, k))
                .collect();
            Finding {
                object: w.object.id().to_string(),
                field: "NetworkPolicy".into(),
                problem: format!(
                    "no NetworkPolicy of type {} selects these pods, so every such flow is allowed",
                    missing.join(" or ")
                ),
                fix: if m.uses_vitals_common {
                    "enable `networkPolicy.enabled` in prod (vitals.networkPolicy.defaultDeny selects every pod of the release)".into()
                } else {
                    "render a NetworkPolicy whose `spec.podSelector` selects these pods with `spec.policyTypes: [Ingress, Egress]` (no rules denies all; add rules for the flows they need)".into()
                },
            }
        })
        .collect();
    out.push((
        "default-deny".into(),
        Verdict::from_findings(
            "NetworkPolicies",
            "a default-deny policy covers every pod in prod",
            uncovered,
        ),
    ));

    // explicit peers; an ingress controller's ingress is open on purpose
    // (it serves traffic from anywhere), so only its egress is judged.
    for np in &nps {
        let mut findings = Vec::new();
        let selected: Vec<Workload<'_>> = m
            .workloads()
            .filter(|w| selects(np, &w.pod_labels()))
            .collect();
        let edge = !selected.is_empty()
            && selected
                .iter()
                .all(|w| m.role(w) == crate::Role::IngressController);
        for (dir, field) in [("ingress", "from"), ("egress", "to")] {
            if edge && dir == "ingress" {
                continue;
            }
            for (i, r) in rules(np, dir).iter().enumerate() {
                match r
                    .get(field)
                    .and_then(Value::as_array)
                    .filter(|p| !p.is_empty())
                {
                    None => findings.push(Finding {
                        object: np.id().to_string(),
                        field: format!("spec.{dir}[{i}].{field}"),
                        problem: format!(
                            "missing: this rule allows {} any peer",
                            if dir == "ingress" { "from" } else { "to" }
                        ),
                        fix: "list the peers (podSelector / namespaceSelector) the flow needs"
                            .into(),
                    }),
                    Some(peers) => {
                        for (j, p) in peers.iter().enumerate() {
                            if let Some(problem) = wide_peer(p) {
                                findings.push(Finding {
                                    object: np.id().to_string(),
                                    field: format!("spec.{dir}[{i}].{field}[{j}]"),
                                    problem: problem.into(),
                                    fix:
                                        "name the peer with a podSelector and/or namespaceSelector"
                                            .into(),
                                });
                            }
                        }
                    }
                }
            }
        }
        let mut v = Verdict::from_findings(
            np.id().to_string(),
            if edge {
                "every allowed egress flow names its peers (role: ingress controller, whose ingress is open by design)"
            } else {
                "every allowed flow names its peers"
            },
            findings,
        );
        if edge && !v.failed() {
            v.observed = "as expected; ingress not judged (role: ingress controller)".into();
        }
        out.push((format!("explicit/{}", np.name), v));
    }

    // flows the chart itself wires
    for w in m.workloads().filter(|w| !w.object.is_test_hook()) {
        let src = endpoint(&w);
        for (svc, port) in wired_services(m, &w) {
            let sel = svc
                .doc
                .pointer("/spec/selector")
                .cloned()
                .unwrap_or(Value::Null);
            let Some(dst_w) = m.workloads().find(|d| {
                d.is_long_running()
                    && !sel.is_null()
                    && selector_matches(&serde_json::json!({"matchLabels": sel}), &d.pod_labels())
            }) else {
                continue;
            };
            if dst_w.object.id() == w.object.id() {
                continue;
            }
            let dst = endpoint(&dst_w);
            // Policies see the pod port behind the Service port.
            let svc_ports: Vec<&Value> = svc
                .doc
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .collect();
            let chosen: Vec<&Value> = svc_ports
                .iter()
                .copied()
                .filter(|p| {
                    port.is_none_or(|want| p.get("port").and_then(Value::as_i64) == Some(want))
                })
                .collect();
            let Some(sp) = chosen.first() else { continue };
            let target = sp
                .get("targetPort")
                .or(sp.get("port"))
                .cloned()
                .unwrap_or(Value::Null);
            let pod_port = match &target {
                Value::Number(n) => n.as_i64(),
                Value::String(name) => dst
                    .ports
                    .iter()
                    .find(|(n, _)| n.as_deref() == Some(name))
                    .map(|(_, p)| *p),
                _ => None,
            };
            let Some(pod_port) = pod_port else { continue };
            let (egress_ok, eg) = allowed(&nps, "egress", &src, &dst, ns, pod_port, &dst);
            let (ingress_ok, ing) = allowed(&nps, "ingress", &dst, &src, ns, pod_port, &dst);
            let mut findings = Vec::new();
            if !egress_ok {
                findings.push(Finding {
                    object: w.object.id().to_string(),
                    field: "egress".into(),
                    problem: format!("its env points at Service {} (port {pod_port} on {}), but policies [{}] allow no egress there", svc.name, dst_w.object.id(), eg.join(", ")),
                    fix: format!("add an egress rule to {}'s pods on port {pod_port}", dst_w.object.id()),
                });
            }
            if !ingress_ok {
                findings.push(Finding {
                    object: dst_w.object.id().to_string(),
                    field: "ingress".into(),
                    problem: format!("{} connects to it on port {pod_port}, but policies [{}] allow no ingress from it", w.object.id(), ing.join(", ")),
                    fix: format!("add an ingress rule from {}'s pods on port {pod_port}", w.object.id()),
                });
            }
            let subject = format!("flow/{}-to-{}", w.object.name, svc.name);
            let expected = format!(
                "{} reaches Service {} (port {pod_port}) under the NetworkPolicies",
                w.object.id(),
                svc.name
            );
            if !out.iter().any(|(s, _)| *s == subject) {
                out.push((
                    subject,
                    Verdict::from_findings(w.object.id().to_string(), expected, findings),
                ));
            }
        }
    }
    let _ = string_map; // selectors are read through selector_matches
    out
}

#[cfg(test)]
mod tests {
    use super::super::testing::run;
    use super::*;

    fn app(env: &str) -> String {
        format!("apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: app}}\nspec:\n  template:\n    metadata: {{labels: {{app: app, rel: r}}}}\n    spec:\n      containers: [{{name: a, image: a:1, env: [{{name: DATABASE_URL, value: \"{env}\"}}]}}]\n---\napiVersion: apps/v1\nkind: StatefulSet\nmetadata: {{name: db}}\nspec:\n  template:\n    metadata: {{labels: {{app: db, rel: r}}}}\n    spec:\n      containers: [{{name: pg, image: pg:16, ports: [{{name: pg, containerPort: 5432}}]}}]\n---\napiVersion: v1\nkind: Service\nmetadata: {{name: db}}\nspec: {{selector: {{app: db}}, ports: [{{port: 5432, targetPort: pg}}]}}\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: deny}}\nspec:\n  podSelector: {{matchLabels: {{rel: r}}}}\n  policyTypes: [Ingress, Egress]\n  egress: [{{to: [{{namespaceSelector: {{}}, podSelector: {{matchLabels: {{k8s-app: kube-dns}}}}}}], ports: [{{port: 53, protocol: UDP}}]}}]\n")
    }

    const ALLOW: &str = "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: app-to-db}\nspec:\n  podSelector: {matchLabels: {app: app}}\n  policyTypes: [Egress]\n  egress: [{to: [{podSelector: {matchLabels: {app: db}}}], ports: [{port: 5432}]}]\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: db-from-app}\nspec:\n  podSelector: {matchLabels: {app: db}}\n  policyTypes: [Ingress]\n  ingress: [{from: [{podSelector: {matchLabels: {app: app}}}], ports: [{port: pg}]}]\n";

    fn flow(v: &[(String, Verdict)]) -> &Verdict {
        &v.iter()
            .find(|(s, _)| s.starts_with("flow/"))
            .expect("a flow verdict")
            .1
    }

    #[test]
    fn default_deny_that_cuts_the_app_off_from_its_database_is_caught() {
        let v = run(check, &app("postgres://u@db:5432/x"));
        let f = flow(&v);
        assert!(f.failed());
        let text = f.to_string();
        assert!(
            text.contains("allow no egress there") && text.contains("allow no ingress from it"),
            "{text}"
        );
    }

    #[test]
    fn explicit_allows_open_the_wired_flow() {
        let v = run(check, &format!("{}{ALLOW}", app("postgres://u@db:5432/x")));
        assert!(!flow(&v).failed(), "{}", flow(&v));
        assert!(v.iter().all(|(_, v)| !v.failed()), "{v:?}");
    }

    #[test]
    fn an_allow_all_peer_is_not_explicit() {
        let v = run(check, &format!("{}---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: open}}\nspec:\n  podSelector: {{}}\n  ingress: [{{from: [{{}}]}}]\n", app("x")));
        let open = &v.iter().find(|(s, _)| s == "explicit/open").unwrap().1;
        assert!(
            open.failed() && open.to_string().contains("empty peer"),
            "{open}"
        );
    }

    #[test]
    fn a_charts_own_policies_with_rules_deny_by_default() {
        let yaml = app("x").replace("metadata: {{name: deny}}", "metadata: {name: deny}").replace(
            "  policyTypes: [Ingress, Egress]\n",
            "  policyTypes: [Ingress, Egress]\n  ingress: [{from: [{podSelector: {matchLabels: {app: app}}}]}]\n",
        );
        let v = run(check, &yaml);
        let dd = &v.iter().find(|(s, _)| s == "default-deny").unwrap().1;
        assert!(!dd.failed(), "{dd}");
    }

    #[test]
    fn an_ingress_controllers_open_ingress_is_by_design() {
        let yaml = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: edge}\nspec:\n  template:\n    metadata: {labels: {app: edge}}\n    spec:\n      containers: [{name: c, image: registry.k8s.io/ingress-nginx/controller:v1.12.0, args: [--ingress-class=nginx], ports: [{name: http, containerPort: 80}]}]\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: edge}\nspec:\n  podSelector: {matchLabels: {app: edge}}\n  policyTypes: [Ingress]\n  ingress: [{ports: [{port: http}]}]\n";
        let v = run(check, yaml);
        let e = &v.iter().find(|(s, _)| s == "explicit/edge").unwrap().1;
        assert!(
            !e.failed() && e.expected.contains("ingress controller"),
            "{e}"
        );
    }

    #[test]
    fn env_declared_not_a_connection_is_not_a_flow() {
        let yaml = app("http://db:5432/").replace(
            "labels: {app: app, rel: r}}",
            "labels: {app: app, rel: r}, annotations: {vitals.dev/not-connections: DATABASE_URL}}",
        );
        assert!(run(check, &yaml)
            .iter()
            .all(|(s, _)| !s.starts_with("flow/")));
    }

    #[test]
    fn hostnames_match_whole_names_only() {
        assert_eq!(find_host("postgres://db-replica:5432", "db"), None);
        assert_eq!(find_host("postgres://u@db:5432", "db"), Some(13));
    }
}
