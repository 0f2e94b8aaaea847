//! NetworkPolicy isolation, proven with real connections:
//! - a canary first proves the CNI enforces policy at all (else every
//!   isolation trial would pass on a cluster that enforces nothing);
//! - DENIED: an unlabelled pod in the namespace and a pod in another
//!   namespace cannot reach the release's data services;
//! - ALLOWED: each flow the chart wires (app -> its database) connects from
//!   the real source pod (exec'd in it, as netassert does), and the source
//!   can still resolve names (DNS egress).
//!
//! Retries cover only the enforcement delay, and are bounded.
//!
//! Enforcement lags the API: under load the CNI may not yet have programmed
//! a policy that ALLOWS a flow, and the refusal of the namespace's
//! default-deny would then read as DENIED (a whole-matrix run passed an
//! allow-all fixture that way). So every flow is judged after a sync
//! barrier: a policy change made after the cell's own objects existed has
//! been enforced, and the CNI syncs from its informers' whole current state.
//!
//! A refused connection is what this CNI's policy does (REJECT), but it is
//! also what kube-proxy does for a Service with no ready endpoint. So a
//! DENIED flow to a Service counts only while the Service has a ready
//! endpoint, before and after the attempt; otherwise the attempt proves
//! nothing and is made again.

//!
//! Files: `flows.rs` derives the trials from the render and judges each;
//! `canary.rs` holds the enforcement canary and the sync barrier; this
//! file connects and judges one flow.

use std::time::Duration;

use std::collections::BTreeMap;

use futures::StreamExt;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::ListParams;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};
use vitals_agent::report::{ConnectKind, Report};

use super::chain;
use super::exec::InPod;
use crate::verdict::{Evidence, Verdict};

pub mod canary;
pub mod flows;

pub use canary::{canary, sync_barrier, BarrierError};
pub use flows::{derive, judge, NetpolSpec, Outside};

/// Outcome of one connection attempt from a pod.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub kind: Option<ConnectKind>,
    pub detail: String,
}

pub async fn connect(from: &InPod<'_>, host: &str, port: u16) -> Attempt {
    let argv: Vec<String> = [
        "agent",
        "tcp",
        "--host",
        host,
        "--port",
        &port.to_string(),
        "--timeout",
        "3s",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    match from.agent(&argv, Duration::from_secs(20)).await {
        Ok((out, report)) => match report {
            Some(Report::Tcp(r)) => Attempt {
                kind: Some(r.kind),
                detail: format!(
                    "{:?} in {:.0}ms{}",
                    r.kind,
                    r.elapsed_ms,
                    r.error.map(|e| format!(" ({e})")).unwrap_or_default()
                ),
            },
            _ => Attempt {
                kind: None,
                detail: format!(
                    "no report from the agent (exit {}): {}",
                    out.exit,
                    out.stderr.trim()
                ),
            },
        },
        Err(e) => Attempt {
            kind: None,
            detail: e.to_string(),
        },
    }
}

/// Tries up to `tries` times, paced, until the flow's expectation holds:
/// policy programming lags object creation by a moment on some CNIs.
pub async fn expect(client: &Client, f: &Flow, tries: u32) -> (bool, Vec<String>) {
    let mut seen = Vec::new();
    let mut pace = tokio::time::interval(Duration::from_secs(2));
    for _ in 0..tries.max(1) {
        pace.tick().await;
        let a = connect(&f.source(client), &f.host, f.port).await;
        let connected = a.kind == Some(ConnectKind::Connected);
        seen.push(a.detail);
        if a.kind.is_some() && connected == f.allowed {
            return (true, seen);
        }
    }
    (false, seen)
}

/// A flow to prove, and from where.
#[derive(Debug, Clone)]
pub struct Flow {
    pub from_ns: String,
    pub from_pod: String,
    pub from_container: Option<String>,
    pub from_label: String,
    pub host: String,
    pub port: u16,
    pub allowed: bool,
    /// The Service `host` names, when it names one: a DENIED flow to it is
    /// judged only while it has a ready endpoint.
    pub service: Option<ServiceRef>,
}

impl Flow {
    pub(crate) fn source<'a>(&'a self, client: &'a Client) -> InPod<'a> {
        InPod {
            client,
            namespace: &self.from_ns,
            pod: &self.from_pod,
            container: self.from_container.as_deref(),
        }
    }
}

pub async fn check(client: &Client, f: &Flow) -> Verdict {
    let verb = if f.allowed { "ALLOWED" } else { "DENIED" };
    let subject = format!("{} -> {}:{}", f.from_label, f.host, f.port);
    let expected = format!("{verb}: {subject}");
    let (ok, seen) = match (&f.service, f.allowed) {
        (Some(svc), false) => expect_denied(client, f, svc, 3).await,
        _ => expect(client, f, 3).await,
    };
    let observed = seen.last().cloned().unwrap_or_default();
    let v = if ok {
        Verdict::pass(&subject, expected, observed)
    } else {
        Verdict::fail(&subject, expected, observed)
    };
    v.with_evidence(Evidence::Note {
        text: format!(
            "tested from pod {}/{} ({} attempt(s): {})",
            f.from_ns,
            f.from_pod,
            seen.len(),
            seen.join("; ")
        ),
    })
}

/// A DENIED flow to a Service: each attempt counts only if the Service had
/// a ready endpoint just before and just after it (else kube-proxy, not the
/// policy, may have refused it).
async fn expect_denied(
    client: &Client,
    f: &Flow,
    svc: &ServiceRef,
    tries: u32,
) -> (bool, Vec<String>) {
    let mut seen = Vec::new();
    for _ in 0..tries.max(1) {
        match ready_endpoints(client, svc, ENDPOINT_WAIT).await {
            Ok(_) => {}
            Err(e) => {
                seen.push(format!("not judged: {}", chain(&e)));
                continue;
            }
        }
        let a = connect(&f.source(client), &f.host, f.port).await;
        match a.kind {
            Some(ConnectKind::Connected) => {
                seen.push(a.detail);
                return (false, seen);
            }
            None => seen.push(a.detail),
            Some(_) => match count_ready(client, svc).await {
                Ok(n) if n > 0 => {
                    seen.push(format!(
                        "{} while {}/{} had {n} ready endpoint(s)",
                        a.detail, svc.namespace, svc.name
                    ));
                    return (true, seen);
                }
                Ok(_) => seen.push(format!(
                    "{} but not judged: {}/{} lost its ready endpoints meanwhile",
                    a.detail, svc.namespace, svc.name
                )),
                Err(e) => seen.push(format!("{} but not judged: {}", a.detail, chain(&e))),
            },
        }
    }
    (false, seen)
}

/// Why a DENIED flow's Service could not be shown to have a ready endpoint.
#[derive(Debug, thiserror::Error)]
pub enum EndpointsError {
    #[error("listing the EndpointSlices of {namespace}/{name}")]
    List {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("Service {namespace}/{name} had no ready endpoint for {secs}s ({slices} EndpointSlice(s)), so a refused connection would prove nothing")]
    NoneReady {
        namespace: String,
        name: String,
        secs: u64,
        slices: usize,
    },
    #[error("the EndpointSlice watch ended")]
    WatchEnded,
    #[error("the EndpointSlice watch failed")]
    Watch(#[source] watcher::Error),
}

/// How long a DENIED flow waits for its Service to have a ready endpoint.
const ENDPOINT_WAIT: Duration = Duration::from_secs(90);

/// The Service behind a flow's host name.
#[derive(Debug, Clone)]
pub struct ServiceRef {
    pub namespace: String,
    pub name: String,
}

fn ready_in(slices: &BTreeMap<String, EndpointSlice>) -> usize {
    slices
        .values()
        .flat_map(|s| s.endpoints.iter())
        .filter(|e| e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true))
        .count()
}

fn slices_api(client: &Client, svc: &ServiceRef) -> (Api<EndpointSlice>, String) {
    (
        Api::namespaced(client.clone(), &svc.namespace),
        format!("kubernetes.io/service-name={}", svc.name),
    )
}

async fn count_ready(client: &Client, svc: &ServiceRef) -> Result<usize, EndpointsError> {
    let (api, selector) = slices_api(client, svc);
    let list = api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|source| EndpointsError::List {
            namespace: svc.namespace.clone(),
            name: svc.name.clone(),
            source,
        })?;
    let slices = list
        .items
        .into_iter()
        .map(|s| (s.metadata.name.clone().unwrap_or_default(), s))
        .collect();
    Ok(ready_in(&slices))
}

/// Watches the Service's EndpointSlices until one has a ready endpoint.
async fn ready_endpoints(
    client: &Client,
    svc: &ServiceRef,
    within: Duration,
) -> Result<usize, EndpointsError> {
    let (api, selector) = slices_api(client, svc);
    let mut stream = watcher::watcher(api, watcher::Config::default().labels(&selector)).boxed();
    let mut slices: BTreeMap<String, EndpointSlice> = BTreeMap::new();
    let mut listed = false;
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if listed {
            let n = ready_in(&slices);
            if n > 0 {
                return Ok(n);
            }
        }
        let ev = tokio::time::timeout_at(deadline, stream.next()).await;
        let name = |s: &EndpointSlice| s.metadata.name.clone().unwrap_or_default();
        match ev {
            Err(_) => {
                return Err(EndpointsError::NoneReady {
                    namespace: svc.namespace.clone(),
                    name: svc.name.clone(),
                    secs: within.as_secs(),
                    slices: slices.len(),
                })
            }
            Ok(None) => return Err(EndpointsError::WatchEnded),
            Ok(Some(Err(e))) => return Err(EndpointsError::Watch(e)),
            Ok(Some(Ok(Event::Apply(s) | Event::InitApply(s)))) => {
                slices.insert(name(&s), s);
            }
            Ok(Some(Ok(Event::Delete(s)))) => {
                slices.remove(&name(&s));
            }
            Ok(Some(Ok(Event::Init))) => {
                slices.clear();
                listed = false;
            }
            Ok(Some(Ok(Event::InitDone))) => listed = true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slice(name: &str, ready: &[Option<bool>]) -> (String, EndpointSlice) {
        let s: EndpointSlice = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name},
            "addressType": "IPv4",
            "endpoints": ready.iter().map(|r| match r {
                Some(r) => serde_json::json!({"addresses": ["10.0.0.1"], "conditions": {"ready": r}}),
                None => serde_json::json!({"addresses": ["10.0.0.1"]}),
            }).collect::<Vec<_>>(),
        }))
        .unwrap();
        (name.to_string(), s)
    }

    #[test]
    fn only_ready_endpoints_make_a_refusal_count() {
        let none: BTreeMap<_, _> = [slice("a", &[Some(false), Some(false)])].into();
        assert_eq!(ready_in(&none), 0, "a Service whose pods are not Ready");
        // No condition reported means ready (the EndpointSlice API's rule).
        let some: BTreeMap<_, _> =
            [slice("a", &[Some(false)]), slice("b", &[None, Some(true)])].into();
        assert_eq!(ready_in(&some), 2);
        assert_eq!(ready_in(&BTreeMap::new()), 0, "no slices yet");
    }
}
