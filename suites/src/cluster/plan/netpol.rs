//! NetworkPolicy trials: the enforcement canary, denied flows from an
//! unlabelled pod and another namespace, allowed flows from the real
//! sources, DNS egress; each flow judged after the policy-sync barrier.

use std::sync::OnceLock;

use vitals_checks::runtime::{dns, exec, netpol};
use vitals_checks::{Evidence, Manifests, Object, Verdict};

use super::{first_pod, rt, Plan};
use crate::cell::Check;
use crate::cluster::env::{ClusterEnv, CLIENT_POD};

pub(super) fn derive(p: &mut Plan, manifests: &Manifests) {
    let has_policies = manifests.of_kind("NetworkPolicy").next().is_some();
    if has_policies {
        p.add(
            "cluster/netpol/canary".into(),
            Box::new(|env, _, _| canary(env)),
        );
        // Data services behind an ingress policy: nobody outside the
        // release's allowed clients may reach them.
        let governed: Vec<&Object> = manifests
            .of_kind("Service")
            .filter(|svc| {
                let sel = svc
                    .doc
                    .pointer("/spec/selector")
                    .cloned()
                    .unwrap_or_default();
                manifests.workloads().any(|w| {
                    w.object.kind == "StatefulSet"
                        && vitals_checks::manifest::selector_matches(
                            &serde_json::json!({"matchLabels": sel}),
                            &w.pod_labels(),
                        )
                }) && svc.doc.pointer("/spec/clusterIP").and_then(|v| v.as_str()) != Some("None")
            })
            .collect();
        for svc in governed {
            let Some(port) = svc
                .doc
                .pointer("/spec/ports/0/port")
                .and_then(|v| v.as_i64())
            else {
                continue;
            };
            let name = svc.name.clone();
            let n2 = name.clone();
            p.add(
                format!("cluster/netpol/denied/unlabelled-pod-to-{name}"),
                Box::new(move |env, inst, _| {
                    if let Some(v) = canary_failed(env) {
                        return v;
                    }
                    let f = netpol::Flow {
                        from_ns: inst.namespace.clone(),
                        from_pod: CLIENT_POD.into(),
                        from_container: None,
                        from_label: format!("unlabelled pod in {}", inst.namespace),
                        host: n2.clone(),
                        port: port as u16,
                        allowed: false,
                        service: Some(netpol::ServiceRef {
                            namespace: inst.namespace.clone(),
                            name: n2.clone(),
                        }),
                    };
                    judge_flow(env, &f)
                }),
            );
            p.add(
                format!("cluster/netpol/denied/other-namespace-to-{name}"),
                Box::new(move |env, inst, _| {
                    if let Some(v) = canary_failed(env) {
                        return v;
                    }
                    let Some(img) = env.images.get("agent") else {
                        return Verdict::fail("outsider", "an agent image", "none");
                    };
                    if let Err(e) =
                        rt().block_on(vitals_checks::runtime::agent_pod::ensure_agent_pod(
                            &env.client,
                            "vitals-outsider",
                            "outsider",
                            img,
                            serde_json::json!({"app": "outsider"}),
                        ))
                    {
                        return Verdict::fail("outsider", "a pod in another namespace", e);
                    }
                    let f = netpol::Flow {
                        from_ns: "vitals-outsider".into(),
                        from_pod: "outsider".into(),
                        from_container: None,
                        from_label: "pod in namespace vitals-outsider".into(),
                        host: format!("{name}.{}.svc.cluster.local", inst.namespace),
                        port: port as u16,
                        allowed: false,
                        service: Some(netpol::ServiceRef {
                            namespace: inst.namespace.clone(),
                            name: name.clone(),
                        }),
                    };
                    judge_flow(env, &f)
                }),
            );
        }
        // What the chart wires must still work under its own policies.
        let mut dns_done = std::collections::BTreeSet::new();
        for (src, svc, port) in vitals_checks::render::policy::network::wired_flows(manifests) {
            let Some(w) = manifests.workloads().find(|w| w.object.name == src) else {
                continue;
            };
            let selector = w.selector();
            let agent_container = w
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
            let sel2 = selector.clone();
            let ac2 = agent_container.clone();
            let allowed_name = format!("cluster/netpol/allowed/{src}-to-{svc}");
            // Known from the render: a source with no agent binary cannot
            // connect on the harness's behalf, so the trial cannot run.
            let Some(container) = agent_container.clone() else {
                p.push(Check::cannot_run(
                    allowed_name,
                    format!("{src} -> {svc}"),
                    "the source runs no agent binary to connect from (not an app stand-in)",
                ));
                let src2 = w.object.name.clone();
                if dns_done.insert(src2.clone()) {
                    p.push(Check::cannot_run(
                        format!("cluster/netpol/dns/{src2}"),
                        format!("{src2} DNS"),
                        "the source runs no agent binary (not an app stand-in)",
                    ));
                }
                continue;
            };
            p.add(
                allowed_name,
                Box::new(move |env, inst, _| {
                    if let Some(v) = canary_failed(env) {
                        return v;
                    }
                    let container = container.clone();
                    let Some(pod) = first_pod(inst, &selector) else {
                        return Verdict::fail(&src, "a source pod", "none running");
                    };
                    let f = netpol::Flow {
                        from_ns: inst.namespace.clone(),
                        from_pod: pod,
                        from_container: Some(container),
                        from_label: format!("{src} (its own pod)"),
                        host: svc.clone(),
                        port: port as u16,
                        allowed: true,
                        service: None,
                    };
                    judge_flow(env, &f)
                }),
            );
            let src2 = w.object.name.clone();
            if !dns_done.insert(src2.clone()) {
                continue;
            }
            p.add(
                format!("cluster/netpol/dns/{src2}"),
                Box::new(move |env, inst, _| {
                    let Some(container) = ac2.clone() else {
                        // Listed as ignored above, before the run.
                        return Verdict::skip(format!("{src2} DNS"), "no agent binary");
                    };
                    let Some(pod) = first_pod(inst, &sel2) else {
                        return Verdict::fail(&src2, "a source pod", "none running");
                    };
                    let c = exec::InPod {
                        client: &env.client,
                        namespace: &inst.namespace,
                        pod: &pod,
                        container: Some(&container),
                    };
                    rt().block_on(dns::resolves(&c, "kubernetes.default.svc.cluster.local"))
                }),
            );
        }
    }
}

/// The enforcement canary, once per process.
fn canary(env: &ClusterEnv) -> Verdict {
    static CANARY: OnceLock<Verdict> = OnceLock::new();
    CANARY
        .get_or_init(|| match env.images.get("agent") {
            Some(img) => rt().block_on(netpol::canary(&env.client, img)),
            None => Verdict::fail(
                "NetworkPolicy enforcement",
                "an agent image for the canary",
                "none in images.env",
            ),
        })
        .clone()
}

/// A flow judged once the CNI has caught up with every policy that existed
/// when the trial began (`netpol::sync_barrier`): otherwise an ALLOWED rule
/// not yet programmed reads as DENIED.
fn judge_flow(env: &ClusterEnv, f: &netpol::Flow) -> Verdict {
    let after = tokio::time::Instant::now();
    let subject = format!("{} -> {}:{}", f.from_label, f.host, f.port);
    let Some(img) = env.images.get("agent") else {
        return Verdict::fail(
            subject,
            "an agent image for the policy sync barrier",
            "none in images.env",
        );
    };
    rt().block_on(async {
        match netpol::sync_barrier(&env.client, img, after).await {
            Err(e) => Verdict::fail(
                subject,
                "the CNI enforces the current policies before the flow is judged",
                e,
            ),
            Ok(note) => netpol::check(&env.client, f)
                .await
                .with_evidence(Evidence::Note {
                    text: format!("policy sync: {note}"),
                }),
        }
    })
}

fn canary_failed(env: &ClusterEnv) -> Option<Verdict> {
    let c = canary(env);
    c.failed().then(|| {
        Verdict::fail(
            &c.subject,
            "the CNI enforces NetworkPolicy (canary)",
            c.observed.clone(),
        )
    })
}
