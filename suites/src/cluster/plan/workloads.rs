//! The trials every cell derives from its workloads and Services: install,
//! readiness, claims, DNS, probes, RBAC, CronJobs, persistence, restarts
//! and `helm test`.

use std::time::Duration;

use vitals_checks::runtime::{
    cronjobs, dns, exec, persistence, probes, pvcs, rbac, ready, restarts,
};
use vitals_checks::{Evidence, Manifests, Verdict};

use super::{rt, Plan};
use crate::cell::Cell;
use crate::cluster::env::READY_TIMEOUT;

/// Install, readiness, claims, DNS, probes and RBAC: stage 0, beside the rest.
pub(super) fn derive_first(p: &mut Plan, manifests: &Manifests) {
    p.add(
        "cluster/install".into(),
        Box::new(|_, inst, _| inst.install.clone()),
    );
    for o in manifests
        .objects
        .iter()
        .filter(|o| ready::waits_for(&o.kind) && o.hooks().is_empty())
    {
        let slug = o.id().slug();
        let obj = o.clone();
        p.add(
            format!("cluster/ready/{slug}"),
            Box::new(move |env, inst, _| {
                if let Some(v) = inst.ready.get(&slug) {
                    return v.clone();
                }
                match rt().block_on(ready::wait_ready(
                    &env.client,
                    &inst.view,
                    &obj,
                    Duration::from_secs(180),
                )) {
                    Ok(s) => Verdict::pass(obj.id().to_string(), "ready", s),
                    Err(e) => Verdict::fail(obj.id().to_string(), "ready", e.to_string()),
                }
            }),
        );
    }
    // A claim a CronJob mounts (a backup volume) binds, under
    // WaitForFirstConsumer, only when the CronJob trial first runs it: judged
    // after that trial, it is Bound every run, not Bound or "not yet used"
    // by the order the two trials happened to run in.
    let cronjob_claims: std::collections::HashSet<String> = manifests
        .of_kind("CronJob")
        .flat_map(|c| {
            c.doc
                .pointer("/spec/jobTemplate/spec/template/spec/volumes")
                .and_then(|v| v.as_array())
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|v| {
            v.pointer("/persistentVolumeClaim/claimName")
                .and_then(|n| n.as_str())
                .map(String::from)
        })
        .collect();
    for claim in pvcs::derive(manifests) {
        let name = format!("cluster/pvc/{}", claim.name);
        let stage = usize::from(cronjob_claims.contains(&claim.name));
        p.add_at(
            stage,
            name,
            Box::new(move |env, inst, _| {
                rt().block_on(pvcs::check(&env.client, &inst.namespace, &claim))
            }),
        );
    }
    for svc in manifests
        .of_kind("Service")
        .filter(|s| s.hooks().is_empty())
    {
        let svc_name = svc.name.clone();
        p.add(
            format!("cluster/dns/{svc_name}"),
            Box::new(move |env, inst, _| {
                let pod = match &inst.client_pod {
                    Ok(p) => p.clone(),
                    Err(e) => {
                        return Verdict::fail(
                            format!("Service/{svc_name}"),
                            "a client pod to resolve from",
                            e.clone(),
                        )
                    }
                };
                let c = exec::InPod {
                    client: &env.client,
                    namespace: &inst.namespace,
                    pod: &pod,
                    container: None,
                };
                rt().block_on(dns::check(&c, &svc_name))
            }),
        );
    }
    for w in manifests.workloads().filter(|w| w.is_long_running()) {
        for c in w.containers().into_iter().filter(|c| !c.init) {
            for kind in ["livenessProbe", "readinessProbe", "startupProbe"] {
                let Some(probe) = c.spec.get(kind).filter(|p| p.is_object()).cloned() else {
                    continue;
                };
                let spec = probes::ProbeSpec {
                    container: c.name.clone(),
                    kind: kind.into(),
                    probe,
                    ports: c.ports(),
                };
                let selector = w.selector();
                let short = kind.trim_end_matches("Probe");
                p.add(
                    format!("cluster/probe/{}/{}/{short}", w.object.name, c.name),
                    Box::new(move |env, inst, _| {
                        let pod = inst.view.pods.state().into_iter().find(|p| {
                            let labels = p.metadata.labels.clone().unwrap_or_default();
                            p.metadata.deletion_timestamp.is_none()
                                && vitals_checks::manifest::selector_matches(&selector, &labels)
                        });
                        match pod {
                            Some(p) => rt().block_on(probes::check(
                                &env.client,
                                &inst.namespace,
                                &p,
                                &spec,
                            )),
                            None => Verdict::fail(
                                &spec.container,
                                "a pod to probe",
                                "no pod of the workload exists",
                            ),
                        }
                    }),
                );
            }
        }
    }
    for sa in manifests.of_kind("ServiceAccount") {
        let sa_name = sa.name.clone();
        p.add(
            format!("cluster/rbac/{sa_name}"),
            Box::new(move |env, inst, m| {
                let asks = rbac::derive(m, &sa_name, &inst.namespace);
                rt().block_on(rbac::check(&env.client, &inst.namespace, &sa_name, &asks))
            }),
        );
    }
}

/// CronJobs, an upgrade's data, then the disruptive stages: persistence
/// (stage 1) and restarts (stage 2), and `helm test`.
pub(super) fn derive_last(p: &mut Plan, manifests: &Manifests, cell: &Cell) {
    for cron in cronjobs::derive(manifests) {
        p.add(
            format!("cluster/cronjob/{}", cron.name),
            Box::new(move |env, inst, _| {
                rt().block_on(cronjobs::check(&env.client, &inst.view, &cron))
            }),
        );
    }
    super::upgrade::data_kept(p, manifests, cell);
    // Stage 1: deleting a data pod would break the trials judged beside it.
    for st in persistence::derive(manifests) {
        p.add_at(
            1,
            format!("cluster/persistence/{}", st.statefulset),
            Box::new(move |env, inst, _| {
                rt().block_on(persistence::check(
                    &env.client,
                    &inst.view,
                    &st,
                    READY_TIMEOUT,
                ))
            }),
        );
    }
    // Stage 2: restarts are judged over the whole run, so last.
    for w in manifests
        .workloads()
        .filter(|w| w.is_long_running() && w.object.hooks().is_empty())
    {
        let subject = w.object.id().to_string();
        let selector = w.selector();
        p.add_at(
            2,
            format!("cluster/restarts/{}", w.object.id().slug()),
            Box::new(move |env, inst, _| {
                rt().block_on(restarts::check(
                    &env.client,
                    &inst.view,
                    &subject,
                    &selector,
                ))
            }),
        );
    }
    p.add(
        "cluster/helm-test".into(),
        Box::new(|env, inst, _| {
            let out = std::process::Command::new(crate::env::root().join(".bin/helm"))
                .args([
                    "test",
                    &inst.release,
                    "-n",
                    &inst.namespace,
                    "--logs",
                    "--timeout",
                    "5m",
                    "--kubeconfig",
                ])
                .arg(&env.handle.kubeconfig)
                .output();
            match out {
                Ok(o) if o.status.success() => {
                    Verdict::pass("helm test", "every test hook pod succeeds", "passed")
                }
                Ok(o) => Verdict::fail(
                    "helm test",
                    "every test hook pod succeeds",
                    format!("exit {}", o.status.code().unwrap_or(-1)),
                )
                .with_evidence(Evidence::Command {
                    argv: "helm test --logs".into(),
                    exit: o.status.code().unwrap_or(-1),
                    stderr: format!(
                        "{}{}",
                        String::from_utf8_lossy(&o.stdout),
                        String::from_utf8_lossy(&o.stderr)
                    ),
                }),
                Err(e) => Verdict::fail("helm test", "every test hook pod succeeds", e.to_string()),
            }
        }),
    );
}
