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

use std::time::Duration;

use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::PostParams;
use kube::{Api, Client};
use vitals_agent::report::{ConnectKind, Report};

use super::agent_pod::ensure_agent_pod;
use super::exec::{agent_report, exec};
use crate::verdict::{Evidence, Verdict};

/// Outcome of one connection attempt from a pod.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub kind: Option<ConnectKind>,
    pub detail: String,
}

pub async fn connect(
    client: &Client,
    ns: &str,
    pod: &str,
    container: Option<&str>,
    host: &str,
    port: u16,
) -> Attempt {
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
    match exec(client, ns, pod, container, &argv, Duration::from_secs(20)).await {
        Ok(out) => match agent_report(&out) {
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
        let a = connect(
            client,
            &f.from_ns,
            &f.from_pod,
            f.from_container.as_deref(),
            &f.host,
            f.port,
        )
        .await;
        let connected = a.kind == Some(ConnectKind::Connected);
        seen.push(a.detail);
        if a.kind.is_some() && connected == f.allowed {
            return (true, seen);
        }
    }
    (false, seen)
}

/// The canary: a server behind a deny-all policy must become unreachable.
pub async fn canary(client: &Client, image: &str) -> Verdict {
    let ns = "vitals-canary";
    let expected =
        "a connection that works is refused once a deny-all ingress policy selects the server";
    let run = async {
        let server = ensure_agent_pod(
            client,
            ns,
            "server",
            image,
            serde_json::json!({ "app": "canary-server" }),
        )
        .await?;
        ensure_agent_pod(
            client,
            ns,
            "client",
            image,
            serde_json::json!({ "app": "canary-client" }),
        )
        .await?;
        let ip = server
            .status
            .and_then(|s| s.pod_ip)
            .ok_or("the canary server has no IP")?;
        let npapi: Api<NetworkPolicy> = Api::namespaced(client.clone(), ns);
        let _ = npapi.delete("deny", &Default::default()).await;
        let mut flow = Flow {
            from_ns: ns.into(),
            from_pod: "client".into(),
            from_container: None,
            from_label: "canary client".into(),
            host: ip.clone(),
            port: 8080,
            allowed: true,
        };
        let (open, before) = expect(client, &flow, 5).await;
        if !open {
            return Err(format!(
                "the canary could not connect even without a policy: {before:?}"
            ));
        }
        let np: NetworkPolicy = serde_json::from_value(serde_json::json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": { "name": "deny" },
            "spec": { "podSelector": { "matchLabels": { "app": "canary-server" } }, "policyTypes": ["Ingress"] }
        }))
        .map_err(|e| e.to_string())?;
        npapi
            .create(&PostParams::default(), &np)
            .await
            .map_err(|e| e.to_string())?;
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
}

pub async fn check(client: &Client, f: &Flow) -> Verdict {
    let verb = if f.allowed { "ALLOWED" } else { "DENIED" };
    let subject = format!("{} -> {}:{}", f.from_label, f.host, f.port);
    let expected = format!("{verb}: {subject}");
    let (ok, seen) = expect(client, f, 3).await;
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
