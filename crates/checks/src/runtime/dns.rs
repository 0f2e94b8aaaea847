//! Every Service name resolves, from a client pod in the namespace, in its
//! short, namespaced and fully qualified forms, to what the Service really
//! serves: its ClusterIP, or for a headless Service the addresses of its
//! endpoints (and each StatefulSet pod's own record).

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::ListParams;
use kube::Api;
use vitals_agent::report::Report;

use super::exec::InPod;
use crate::verdict::{Evidence, Finding, Verdict};

/// A name resolves at all from the pod (its DNS egress works).
pub async fn resolves(c: &InPod<'_>, name: &str) -> Verdict {
    let subject = format!("DNS from pod {}", c.pod);
    let expected = format!("{name} resolves");
    match resolve(c, name).await {
        Ok((ips, desc)) => Verdict::pass(subject, expected, format!("{ips:?} ({desc})")),
        Err(e) => Verdict::fail(subject, expected, e).with_hint(
            "the pod's egress policy must allow UDP and TCP 53 to kube-dns in kube-system",
        ),
    }
}

async fn resolve(c: &InPod<'_>, name: &str) -> Result<(BTreeSet<String>, String), String> {
    let argv: Vec<String> = [
        "agent",
        "dns",
        "--name",
        name,
        "--type",
        "A",
        "--timeout",
        "5s",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let (out, report) = c
        .agent(&argv, Duration::from_secs(20))
        .await
        .map_err(|e| e.to_string())?;
    match report {
        Some(Report::Dns(r)) => {
            let desc = format!(
                "{:?} in {:.1}ms via {}",
                r.kind,
                r.elapsed_ms,
                r.resolver.nameservers.join(",")
            );
            if r.answers.is_empty() {
                Err(format!(
                    "{name}: {desc}{}",
                    r.error.map(|e| format!(": {e}")).unwrap_or_default()
                ))
            } else {
                Ok((r.answers.into_iter().collect(), desc))
            }
        }
        _ => Err(format!(
            "{name}: the agent gave no DNS report (exit {}): {}",
            out.exit,
            out.stderr.trim()
        )),
    }
}

pub async fn check(c: &InPod<'_>, service: &str) -> Verdict {
    let ns = c.namespace;
    let subject = format!("Service/{service}");
    let svc = match Api::<Service>::namespaced(c.client.clone(), ns)
        .get(service)
        .await
    {
        Ok(s) => s,
        Err(e) => {
            return Verdict::fail(
                subject,
                "the Service exists",
                format!("cannot read it: {e}"),
            )
        }
    };
    let spec = svc.spec.unwrap_or_default();
    let headless = spec.cluster_ip.as_deref() == Some("None");
    let expected_ips: BTreeSet<String> = if headless {
        let slices = Api::<EndpointSlice>::namespaced(c.client.clone(), ns)
            .list(&ListParams::default().labels(&format!("kubernetes.io/service-name={service}")))
            .await
            .map(|l| l.items)
            .unwrap_or_default();
        slices
            .iter()
            .flat_map(|s| s.endpoints.iter().flat_map(|e| e.addresses.clone()))
            .collect()
    } else {
        spec.cluster_ip.clone().into_iter().collect()
    };
    let expected = if headless {
        format!("{service}, {service}.{ns} and {service}.{ns}.svc.cluster.local resolve to its endpoints {expected_ips:?}")
    } else {
        format!("{service}, {service}.{ns} and {service}.{ns}.svc.cluster.local resolve to ClusterIP {expected_ips:?}")
    };
    let mut findings = Vec::new();
    let mut notes = Vec::new();
    for name in [
        service.to_string(),
        format!("{service}.{ns}"),
        format!("{service}.{ns}.svc.cluster.local"),
    ] {
        match resolve(c, &name).await {
            Ok((got, desc)) => {
                notes.push(format!("{name} -> {got:?} ({desc})"));
                if got != expected_ips {
                    findings.push(Finding {
                        object: subject.clone(),
                        field: name.clone(),
                        problem: format!("resolves to {got:?}, not {expected_ips:?}"),
                        fix: "check the Service selector and that its pods are Ready (or publishNotReadyAddresses)".into(),
                    });
                }
            }
            Err(e) => findings.push(Finding {
                object: subject.clone(),
                field: name.clone(),
                problem: e,
                fix: "check CoreDNS and the client pod's DNS egress".into(),
            }),
        }
    }
    let mut v = Verdict::from_findings(subject, expected, findings);
    for n in notes {
        v = v.with_evidence(Evidence::Note { text: n });
    }
    if !v.failed() {
        v.observed = format!("{} names resolved to {expected_ips:?}", 3);
    }
    v
}
