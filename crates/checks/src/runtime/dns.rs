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

use super::chain;
use super::cx::CheckCx;
use super::exec::{ExecError, InPod};
use crate::verdict::{Evidence, Finding, Verdict};
use crate::Manifests;

/// One Service whose names must resolve from the cell's client pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsSpec {
    pub service: String,
}

impl DnsSpec {
    /// The `<object>` of `cluster/dns/<object>`: the Service's name.
    pub fn name(&self) -> String {
        self.service.clone()
    }
}

/// Every Service the release keeps (hook Services are gone after install).
pub fn derive(m: &Manifests) -> Vec<DnsSpec> {
    m.of_kind("Service")
        .filter(|s| s.hooks().is_empty())
        .map(|s| DnsSpec {
            service: s.name.clone(),
        })
        .collect()
}

/// Resolves the Service's three name forms from the cell's client pod.
pub async fn judge(s: &DnsSpec, cx: &CheckCx<'_>) -> Verdict {
    if let Err(e) = cx.client_pod.made {
        return Verdict::fail(
            format!("Service/{}", s.service),
            "a client pod to resolve from",
            chain(e),
        );
    }
    let c = InPod {
        client: cx.client,
        namespace: cx.namespace,
        pod: cx.client_pod.name,
        container: None,
    };
    check(&c, &s.service).await
}

/// Why a name did not resolve from a pod.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("{name}: asking the agent in the pod")]
    Exec {
        name: String,
        #[source]
        source: ExecError,
    },
    #[error("{name}: {desc}{}", error.as_ref().map(|e| format!(": {e}")).unwrap_or_default())]
    NoAnswer {
        name: String,
        desc: String,
        error: Option<String>,
    },
    #[error("{name}: the agent gave no DNS report (exit {exit}): {stderr}")]
    NoReport {
        name: String,
        exit: i32,
        stderr: String,
    },
}

/// A name resolves at all from the pod (its DNS egress works).
pub async fn resolves(c: &InPod<'_>, name: &str) -> Verdict {
    let subject = format!("DNS from pod {}", c.pod);
    let expected = format!("{name} resolves");
    match resolve(c, name).await {
        Ok((ips, desc)) => Verdict::pass(subject, expected, format!("{ips:?} ({desc})")),
        Err(e) => Verdict::fail(subject, expected, chain(&e)).with_hint(
            "the pod's egress policy must allow UDP and TCP 53 to kube-dns in kube-system",
        ),
    }
}

async fn resolve(c: &InPod<'_>, name: &str) -> Result<(BTreeSet<String>, String), ResolveError> {
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
        .map_err(|source| ResolveError::Exec {
            name: name.into(),
            source,
        })?;
    match report {
        Some(Report::Dns(r)) => {
            let desc = format!(
                "{:?} in {:.1}ms via {}",
                r.kind,
                r.elapsed_ms,
                r.resolver.nameservers.join(",")
            );
            if r.answers.is_empty() {
                Err(ResolveError::NoAnswer {
                    name: name.into(),
                    desc,
                    error: r.error,
                })
            } else {
                Ok((r.answers.into_iter().collect(), desc))
            }
        }
        _ => Err(ResolveError::NoReport {
            name: name.into(),
            exit: out.exit,
            stderr: out.stderr.trim().into(),
        }),
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
                problem: chain(&e),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_service_but_a_hook_one_is_resolved() {
        let m = Manifests::parse(
            r#"
apiVersion: v1
kind: Service
metadata: {name: api}
---
apiVersion: v1
kind: Service
metadata: {name: db-headless}
spec: {clusterIP: None}
---
apiVersion: v1
kind: Service
metadata: {name: test-echo, annotations: {helm.sh/hook: test}}
"#,
        )
        .unwrap();
        let names: Vec<String> = derive(&m).iter().map(DnsSpec::name).collect();
        assert_eq!(names, ["api", "db-headless"]);
    }

    #[test]
    fn an_empty_answer_names_the_name_and_the_resolver_error() {
        let e = ResolveError::NoAnswer {
            name: "db".into(),
            desc: "NxDomain in 2.0ms via 10.96.0.10".into(),
            error: Some("no such host".into()),
        };
        assert_eq!(
            chain(&e),
            "db: NxDomain in 2.0ms via 10.96.0.10: no such host"
        );
    }
}
