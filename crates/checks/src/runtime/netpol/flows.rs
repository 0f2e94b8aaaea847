//! The NetworkPolicy trials a render implies, and how each is judged:
//! the canary; for each data service behind an ingress policy, a denied
//! flow from an unlabelled pod and from another namespace; for each flow
//! the chart wires (app -> its database), the allowed flow from the real
//! source and that source's DNS egress.

use serde_json::Value;

use super::{canary, Flow, ServiceRef};
use crate::manifest::selector_matches;
use crate::runtime::agent_pod::ensure_agent_pod;
use crate::runtime::cx::CheckCx;
use crate::runtime::dns;
use crate::runtime::exec::InPod;
use crate::verdict::Verdict;
use crate::{Manifests, Object};

/// Where a denied flow comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outside {
    /// The cell's client pod: in the namespace, with no release label.
    UnlabelledPod,
    /// A pod in `vitals-outsider`, a namespace no policy admits.
    OtherNamespace,
}

/// The namespace and pod of [`Outside::OtherNamespace`].
const OUTSIDER_NS: &str = "vitals-outsider";
const OUTSIDER_POD: &str = "outsider";

#[derive(Debug, Clone, PartialEq)]
pub enum NetpolSpec {
    /// The CNI enforces policy at all; every other verdict stands on it.
    Canary,
    /// Nobody outside the release's allowed clients reaches a data service.
    Denied {
        from: Outside,
        service: String,
        port: u16,
    },
    /// A flow the chart wires connects from its real source. `container`
    /// is the source's agent container; without one nothing can connect
    /// on the harness's behalf and the trial cannot run.
    Allowed {
        source: String,
        selector: Value,
        service: String,
        port: u16,
        container: Option<String>,
    },
    /// A wired flow's source still resolves names (its DNS egress is open).
    Dns {
        source: String,
        selector: Value,
        container: Option<String>,
    },
}

impl NetpolSpec {
    /// The `<object>` of `cluster/netpol/<object>`.
    pub fn name(&self) -> String {
        match self {
            NetpolSpec::Canary => "canary".into(),
            NetpolSpec::Denied {
                from: Outside::UnlabelledPod,
                service,
                ..
            } => format!("denied/unlabelled-pod-to-{service}"),
            NetpolSpec::Denied {
                from: Outside::OtherNamespace,
                service,
                ..
            } => format!("denied/other-namespace-to-{service}"),
            NetpolSpec::Allowed {
                source, service, ..
            } => format!("allowed/{source}-to-{service}"),
            NetpolSpec::Dns { source, .. } => format!("dns/{source}"),
        }
    }

    /// Known from the render: the trial cannot run. The subject and why.
    pub fn cannot_run(&self) -> Option<(String, &'static str)> {
        match self {
            NetpolSpec::Allowed {
                source,
                service,
                container: None,
                ..
            } => Some((
                format!("{source} -> {service}"),
                "the source runs no agent binary to connect from (not an app stand-in)",
            )),
            NetpolSpec::Dns {
                source,
                container: None,
                ..
            } => Some((
                format!("{source} DNS"),
                "the source runs no agent binary (not an app stand-in)",
            )),
            _ => None,
        }
    }
}

/// Data services behind an ingress policy: the non-headless Services in
/// front of a StatefulSet's pods.
fn governed(m: &Manifests) -> Vec<&Object> {
    m.of_kind("Service")
        .filter(|svc| {
            let sel = svc
                .doc
                .pointer("/spec/selector")
                .cloned()
                .unwrap_or_default();
            m.workloads().any(|w| {
                w.object.kind == "StatefulSet"
                    && selector_matches(&serde_json::json!({ "matchLabels": sel }), &w.pod_labels())
            }) && svc.doc.pointer("/spec/clusterIP").and_then(|v| v.as_str()) != Some("None")
        })
        .collect()
}

/// The trials of a render with NetworkPolicies (none without: nothing
/// claims isolation), in the order they are listed.
pub fn derive(m: &Manifests) -> Vec<NetpolSpec> {
    let mut out = Vec::new();
    if m.of_kind("NetworkPolicy").next().is_none() {
        return out;
    }
    out.push(NetpolSpec::Canary);
    for svc in governed(m) {
        let Some(port) = svc
            .doc
            .pointer("/spec/ports/0/port")
            .and_then(|v| v.as_i64())
        else {
            continue;
        };
        for from in [Outside::UnlabelledPod, Outside::OtherNamespace] {
            out.push(NetpolSpec::Denied {
                from,
                service: svc.name.clone(),
                port: port as u16,
            });
        }
    }
    // What the chart wires must still work under its own policies; each
    // source's DNS once, after its first flow.
    let mut dns_done = std::collections::BTreeSet::new();
    for (src, svc, port) in crate::render::policy::network::wired_flows(m) {
        let Some(w) = m.workloads().find(|w| w.object.name == src) else {
            continue;
        };
        let container = w
            .containers()
            .into_iter()
            .filter(|c| !c.init)
            .find(|c| {
                c.spec
                    .get("image")
                    .and_then(|i| i.as_str())
                    .is_some_and(|i| i.contains("vitals/agent"))
            })
            .map(|c| c.name.clone());
        out.push(NetpolSpec::Allowed {
            source: src.clone(),
            selector: w.selector(),
            service: svc,
            port: port as u16,
            container: container.clone(),
        });
        if dns_done.insert(src.clone()) {
            out.push(NetpolSpec::Dns {
                source: src,
                selector: w.selector(),
                container,
            });
        }
    }
    out
}

/// Judges one trial; each flow after the canary passed and the policy
/// sync barrier.
pub async fn judge(s: &NetpolSpec, cx: &CheckCx<'_>) -> Verdict {
    if let Some((subject, why)) = s.cannot_run() {
        // Listed as ignored before the run; run anyway, it is the skip.
        return Verdict::skip(subject, why);
    }
    match s {
        NetpolSpec::Canary => canary::once(cx).await,
        NetpolSpec::Denied {
            from,
            service,
            port,
        } => {
            if let Some(v) = canary::failed(cx).await {
                return v;
            }
            denied(cx, *from, service, *port).await
        }
        NetpolSpec::Allowed {
            source,
            selector,
            service,
            port,
            container,
        } => {
            if let Some(v) = canary::failed(cx).await {
                return v;
            }
            let Some(pod) = cx.running_pod(selector) else {
                return Verdict::fail(source, "a source pod", "none running");
            };
            let f = Flow {
                from_ns: cx.namespace.into(),
                from_pod: pod,
                from_container: container.clone(),
                from_label: format!("{source} (its own pod)"),
                host: service.clone(),
                port: *port,
                allowed: true,
                service: None,
            };
            canary::judge_flow(cx, &f).await
        }
        NetpolSpec::Dns {
            source,
            selector,
            container,
        } => {
            let Some(pod) = cx.running_pod(selector) else {
                return Verdict::fail(source, "a source pod", "none running");
            };
            let c = InPod {
                client: cx.client,
                namespace: cx.namespace,
                pod: &pod,
                container: container.as_deref(),
            };
            dns::resolves(&c, "kubernetes.default.svc.cluster.local").await
        }
    }
}

async fn denied(cx: &CheckCx<'_>, from: Outside, service: &str, port: u16) -> Verdict {
    let target = Some(ServiceRef {
        namespace: cx.namespace.into(),
        name: service.into(),
    });
    let f = match from {
        Outside::UnlabelledPod => Flow {
            from_ns: cx.namespace.into(),
            from_pod: cx.client_pod.name.into(),
            from_container: None,
            from_label: format!("unlabelled pod in {}", cx.namespace),
            host: service.into(),
            port,
            allowed: false,
            service: target,
        },
        Outside::OtherNamespace => {
            let Some(img) = cx.agent_image() else {
                return Verdict::fail(OUTSIDER_POD, "an agent image", "none");
            };
            if let Err(e) = ensure_agent_pod(
                cx.client,
                OUTSIDER_NS,
                OUTSIDER_POD,
                img,
                serde_json::json!({ "app": OUTSIDER_POD }),
            )
            .await
            {
                return Verdict::fail(OUTSIDER_POD, "a pod in another namespace", String::from(e));
            }
            Flow {
                from_ns: OUTSIDER_NS.into(),
                from_pod: OUTSIDER_POD.into(),
                from_container: None,
                from_label: format!("pod in namespace {OUTSIDER_NS}"),
                host: format!("{service}.{}.svc.cluster.local", cx.namespace),
                port,
                allowed: false,
                service: target,
            }
        }
    };
    canary::judge_flow(cx, &f).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An app wired to its database through the database's Service, both
    /// behind policies; `image` is the app's.
    fn render(image: &str) -> Manifests {
        Manifests::parse(&format!(
            r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: api}}
spec:
  selector: {{matchLabels: {{app: api}}}}
  template:
    metadata: {{labels: {{app: api}}}}
    spec:
      containers:
        - name: api
          image: {image}
          env: [{{name: DB_HOST, value: db}}, {{name: DB_PORT, value: "5432"}}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: db}}
spec:
  selector: {{matchLabels: {{app: db}}}}
  template:
    metadata: {{labels: {{app: db}}}}
    spec:
      containers: [{{name: db, image: postgres}}]
---
apiVersion: v1
kind: Service
metadata: {{name: db}}
spec:
  selector: {{app: db}}
  ports: [{{port: 5432}}]
---
apiVersion: v1
kind: Service
metadata: {{name: db-headless}}
spec:
  clusterIP: None
  selector: {{app: db}}
  ports: [{{port: 5432}}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: db}}
spec:
  podSelector: {{matchLabels: {{app: db}}}}
  policyTypes: [Ingress]
  ingress:
    - from: [{{podSelector: {{matchLabels: {{app: api}}}}}}]
      ports: [{{port: 5432}}]
"#
        ))
        .unwrap()
    }

    fn names(specs: &[NetpolSpec]) -> Vec<String> {
        specs.iter().map(NetpolSpec::name).collect()
    }

    #[test]
    fn without_policies_nothing_claims_isolation() {
        let m = Manifests::parse("apiVersion: v1\nkind: Service\nmetadata: {name: db}\n").unwrap();
        assert!(derive(&m).is_empty());
    }

    #[test]
    fn the_canary_first_then_denied_flows_to_each_data_service_but_not_its_headless_one() {
        let specs = derive(&render("vitals/agent:dev"));
        let names = names(&specs);
        assert_eq!(
            names[..3],
            [
                "canary",
                "denied/unlabelled-pod-to-db",
                "denied/other-namespace-to-db"
            ]
        );
        assert!(
            !names.iter().any(|n| n.contains("db-headless")),
            "{names:?}"
        );
        assert_eq!(
            specs[1],
            NetpolSpec::Denied {
                from: Outside::UnlabelledPod,
                service: "db".into(),
                port: 5432
            }
        );
    }

    #[test]
    fn a_wired_flow_from_an_agent_is_allowed_and_its_source_resolves_names() {
        let specs = derive(&render("vitals/agent:dev"));
        let wired: Vec<&NetpolSpec> = specs
            .iter()
            .filter(|s| matches!(s, NetpolSpec::Allowed { .. } | NetpolSpec::Dns { .. }))
            .collect();
        assert!(!wired.is_empty(), "{:?}", names(&specs));
        assert!(wired.iter().all(|s| s.cannot_run().is_none()));
        let n = names(&specs);
        let dns = n.iter().position(|n| n == "dns/api").expect("dns/api");
        let first_flow = n
            .iter()
            .position(|n| n.starts_with("allowed/api-to-"))
            .unwrap();
        assert!(first_flow < dns, "DNS after the source's first flow: {n:?}");
        assert_eq!(n.iter().filter(|n| *n == "dns/api").count(), 1);
    }

    #[test]
    fn a_source_without_an_agent_cannot_run_and_says_so() {
        let specs = derive(&render("ghcr.io/acme/api:1"));
        let wired: Vec<&NetpolSpec> = specs
            .iter()
            .filter(|s| matches!(s, NetpolSpec::Allowed { .. } | NetpolSpec::Dns { .. }))
            .collect();
        assert!(!wired.is_empty());
        for s in wired {
            let (subject, why) = s.cannot_run().expect("cannot run");
            assert!(subject.starts_with("api"), "{subject}");
            assert!(why.contains("no agent binary"), "{why}");
        }
    }
}
