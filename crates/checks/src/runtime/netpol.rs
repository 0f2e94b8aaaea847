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

use std::time::Duration;

use std::collections::BTreeMap;

use futures::StreamExt;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::ListParams;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};
use vitals_agent::report::{ConnectKind, Report};

use super::agent_pod::ensure_agent_pod;
use super::exec::InPod;
use crate::verdict::{Evidence, Verdict};

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

/// State of the sync barrier: its own server in the canary namespace,
/// behind a deny policy that each barrier adds or removes.
#[derive(Default)]
struct Barrier {
    /// When the last completed flip started.
    last: Option<tokio::time::Instant>,
    denied: bool,
}

fn barrier() -> &'static tokio::sync::Mutex<Barrier> {
    static B: std::sync::OnceLock<tokio::sync::Mutex<Barrier>> = std::sync::OnceLock::new();
    B.get_or_init(Default::default)
}

/// Returns once the CNI has enforced a policy change made after `after`:
/// it then enforces every policy, pod and namespace that existed at
/// `after`. Callers waiting together share one flip. The text says what
/// was seen, for evidence.
pub async fn sync_barrier(
    client: &Client,
    image: &str,
    after: tokio::time::Instant,
) -> Result<String, String> {
    let mut b = barrier().lock().await;
    if b.last.is_some_and(|t| t > after) {
        return Ok("shared a policy sync that began after this trial did".into());
    }
    let mut flow = canary_flow(client, image, "barrier", "barrier-server").await?;
    let started = tokio::time::Instant::now();
    let npapi: Api<NetworkPolicy> = Api::namespaced(client.clone(), CANARY_NS);
    let deny = !b.denied;
    if deny {
        // Left by an earlier run or another process: the state asked for.
        super::create::create_or_get(&npapi, &deny_ingress("barrier", "barrier-server")?)
            .await
            .map_err(|e| format!("creating the barrier policy: {e}"))?;
    } else {
        match npapi.delete("barrier", &Default::default()).await {
            Ok(_) => {}
            Err(e) if super::create::not_found(&e) => {}
            Err(e) => return Err(format!("deleting the barrier policy: {e}")),
        }
    }
    flow.allowed = !deny;
    let (ok, seen) = expect(client, &flow, 30).await;
    if !ok {
        // Unknown state: the next barrier starts over from "denied".
        b.denied = true;
        return Err(format!(
            "the CNI did not enforce a policy change within {} attempts: {}",
            seen.len(),
            seen.last().cloned().unwrap_or_default()
        ));
    }
    b.denied = deny;
    b.last = Some(started);
    Ok(format!(
        "a policy change made after this trial began was enforced {:.1}s later ({} attempt(s))",
        started.elapsed().as_secs_f64(),
        seen.len()
    ))
}

const CANARY_NS: &str = "vitals-canary";

/// A server pod (labelled `app`) and the shared client pod in the canary
/// namespace, and the open flow between them.
async fn canary_flow(
    client: &Client,
    image: &str,
    server: &str,
    app: &str,
) -> Result<Flow, String> {
    let pod = ensure_agent_pod(
        client,
        CANARY_NS,
        server,
        image,
        serde_json::json!({ "app": app }),
    )
    .await?;
    ensure_agent_pod(
        client,
        CANARY_NS,
        "client",
        image,
        serde_json::json!({ "app": "canary-client" }),
    )
    .await?;
    let ip = pod
        .status
        .and_then(|s| s.pod_ip)
        .ok_or(format!("the canary pod {server} has no IP"))?;
    Ok(Flow {
        from_ns: CANARY_NS.into(),
        from_pod: "client".into(),
        from_container: None,
        from_label: "canary client".into(),
        host: ip,
        port: 8080,
        allowed: true,
        service: None,
    })
}

/// A policy denying all ingress to the pods labelled `app`.
fn deny_ingress(name: &str, app: &str) -> Result<NetworkPolicy, String> {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": { "name": name },
        "spec": { "podSelector": { "matchLabels": { "app": app } }, "policyTypes": ["Ingress"] }
    }))
    .map_err(|e| e.to_string())
}

/// The canary: a server behind a deny-all policy must become unreachable.
pub async fn canary(client: &Client, image: &str) -> Verdict {
    let expected =
        "a connection that works is refused once a deny-all ingress policy selects the server";
    let run = async {
        let mut flow = canary_flow(client, image, "server", "canary-server").await?;
        let npapi: Api<NetworkPolicy> = Api::namespaced(client.clone(), CANARY_NS);
        let _ = npapi.delete("deny", &Default::default()).await;
        let (open, before) = expect(client, &flow, 5).await;
        if !open {
            return Err(format!(
                "the canary could not connect even without a policy: {before:?}"
            ));
        }
        // Another process's canary may have made it a moment ago: the same
        // policy, so the state asked for.
        super::create::create_or_get(&npapi, &deny_ingress("deny", "canary-server")?)
            .await
            .map_err(|e| format!("creating the canary's deny policy: {e}"))?;
        flow.allowed = false;
        let (denied, after) = expect(client, &flow, 10).await;
        let _ = npapi.delete("deny", &Default::default()).await;
        if denied {
            Ok(format!(
                "open before ({}), denied after ({})",
                before.last().cloned().unwrap_or_default(),
                after.last().cloned().unwrap_or_default()
            ))
        } else {
            Err(format!("still connects under deny-all: {after:?}: this CNI does not enforce NetworkPolicy, so no isolation trial can be trusted"))
        }
    };
    match run.await {
        Ok(s) => Verdict::pass("NetworkPolicy enforcement", expected, s),
        Err(e) => Verdict::fail("NetworkPolicy enforcement", expected, e),
    }
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
    fn source<'a>(&'a self, client: &'a Client) -> InPod<'a> {
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
                seen.push(format!("not judged: {e}"));
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
                Err(e) => seen.push(format!("{} but not judged: {e}", a.detail)),
            },
        }
    }
    (false, seen)
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

async fn count_ready(client: &Client, svc: &ServiceRef) -> Result<usize, String> {
    let (api, selector) = slices_api(client, svc);
    let list = api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|e| {
            format!(
                "listing the EndpointSlices of {}/{}: {e}",
                svc.namespace, svc.name
            )
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
) -> Result<usize, String> {
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
                return Err(format!(
                    "Service {}/{} had no ready endpoint for {}s ({} EndpointSlice(s)), so a refused connection would prove nothing",
                    svc.namespace,
                    svc.name,
                    within.as_secs(),
                    slices.len()
                ))
            }
            Ok(None) => return Err("the EndpointSlice watch ended".into()),
            Ok(Some(Err(e))) => return Err(format!("the EndpointSlice watch failed: {e}")),
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
