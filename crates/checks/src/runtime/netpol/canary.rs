//! The two things every NetworkPolicy verdict stands on: the canary (the
//! CNI enforces policy at all) and the sync barrier (it has caught up with
//! every policy that existed when the trial began). Both live in their own
//! namespace, `vitals-canary`, shared by every cell of the run.

use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::{Api, Client};

use super::{expect, Flow};
use crate::runtime::agent_pod::{ensure_agent_pod, AgentPodError};
use crate::runtime::chain;
use crate::runtime::cx::CheckCx;
use crate::verdict::{Evidence, Verdict};

const CANARY_NS: &str = "vitals-canary";

/// Why the canary or a barrier could not be run, or what it showed.
#[derive(Debug, thiserror::Error)]
pub enum BarrierError {
    #[error(transparent)]
    Pod(#[from] AgentPodError),
    #[error("the canary pod {0} has no IP")]
    NoIp(String),
    #[error("creating {what}")]
    Create {
        what: &'static str,
        #[source]
        source: kube::Error,
    },
    #[error("deleting the barrier policy")]
    Delete(#[source] kube::Error),
    #[error("reading the barrier policy")]
    Read(#[source] kube::Error),
    #[error("taking the machine-wide barrier lock")]
    Lock(#[source] std::io::Error),
    #[error("the CNI did not enforce a policy change within {attempts} attempts: {last}")]
    NotEnforced { attempts: usize, last: String },
    #[error("the canary could not connect even without a policy: {0:?}")]
    NeverOpen(Vec<String>),
    #[error("still connects under deny-all: {0:?}: this CNI does not enforce NetworkPolicy, so no isolation trial can be trusted")]
    NotEnforcing(Vec<String>),
}

/// When the last enforced flip of this process started, so callers waiting
/// together share one flip.
fn last_flip() -> &'static tokio::sync::Mutex<Option<tokio::time::Instant>> {
    static B: std::sync::OnceLock<tokio::sync::Mutex<Option<tokio::time::Instant>>> =
        std::sync::OnceLock::new();
    B.get_or_init(Default::default)
}

/// The barrier's policy lives in the cluster, so two processes flipping it
/// at once (nextest runs a process per trial) would each read the other's
/// flip as their own. A machine-wide file lock makes a flip whole: read the
/// policy, flip it, see the flip enforced. The file also records when the
/// last enforced flip began, so another process can share it.
struct FlipLock {
    file: std::fs::File,
}

impl FlipLock {
    async fn take() -> std::io::Result<Self> {
        let path = std::env::temp_dir().join("vitals-netpol-barrier.lock");
        tokio::task::spawn_blocking(move || {
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)?;
            file.lock()?;
            Ok(FlipLock { file })
        })
        .await
        .map_err(std::io::Error::other)?
    }

    /// When the last enforced flip (of any process) began.
    fn last(&self) -> Option<std::time::SystemTime> {
        use std::io::Read;
        let mut text = String::new();
        (&self.file).read_to_string(&mut text).ok()?;
        let micros: u64 = text.trim().parse().ok()?;
        Some(std::time::UNIX_EPOCH + std::time::Duration::from_micros(micros))
    }

    fn record(&self, started: std::time::SystemTime) {
        use std::io::{Seek, Write};
        let micros = started
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_micros();
        let mut f = &self.file;
        // Best effort: a lost record only costs the next caller its own flip.
        let _ = f.set_len(0);
        let _ = f.rewind();
        let _ = write!(f, "{micros}");
    }
}

/// Returns once the CNI has enforced a policy change made after `after`:
/// it then enforces every policy, pod and namespace that existed at
/// `after`. Callers waiting together share one flip. The text says what
/// was seen, for evidence.
///
/// A flip to "denied" proves nothing by itself: a barrier server that is
/// Running but not yet listening refuses too, and so does a deny policy
/// another run left behind. So before a deny the flow is first seen open,
/// which proves the server answers and no deny is in force; a flip to
/// "open" is proven by the connection itself.
pub async fn sync_barrier(
    client: &Client,
    image: &str,
    after: tokio::time::Instant,
) -> Result<String, BarrierError> {
    let mut last = last_flip().lock().await;
    if last.is_some_and(|t| t > after) {
        return Ok("shared a policy sync that began after this trial did".into());
    }
    let after_wall = std::time::SystemTime::now() - after.elapsed();
    let lock = FlipLock::take().await.map_err(BarrierError::Lock)?;
    if lock.last().is_some_and(|t| t > after_wall) {
        return Ok("shared a policy sync another process began after this trial did".into());
    }
    let mut flow = canary_flow(client, image, "barrier", "barrier-server").await?;
    let npapi: Api<NetworkPolicy> = Api::namespaced(client.clone(), CANARY_NS);
    let denied_now = npapi
        .get_opt("barrier")
        .await
        .map_err(BarrierError::Read)?
        .is_some();
    if !denied_now {
        flow.allowed = true;
        let (open, seen) = expect(client, &flow, 30).await;
        if !open {
            return Err(BarrierError::NeverOpen(seen));
        }
    }
    let started = tokio::time::Instant::now();
    let started_wall = std::time::SystemTime::now();
    if denied_now {
        match npapi.delete("barrier", &Default::default()).await {
            Ok(_) => {}
            Err(e) if crate::runtime::create::not_found(&e) => {}
            Err(e) => return Err(BarrierError::Delete(e)),
        }
    } else {
        crate::runtime::create::create_or_get(&npapi, &deny_ingress("barrier", "barrier-server"))
            .await
            .map_err(|source| BarrierError::Create {
                what: "the barrier policy",
                source,
            })?;
    }
    flow.allowed = denied_now;
    let (ok, seen) = expect(client, &flow, 30).await;
    if !ok {
        return Err(BarrierError::NotEnforced {
            attempts: seen.len(),
            last: seen.last().cloned().unwrap_or_default(),
        });
    }
    *last = Some(started);
    lock.record(started_wall);
    Ok(format!(
        "a policy change made after this trial began was enforced {:.1}s later ({} attempt(s))",
        started.elapsed().as_secs_f64(),
        seen.len()
    ))
}

/// A server pod (labelled `app`) and the shared client pod in the canary
/// namespace, and the open flow between them.
async fn canary_flow(
    client: &Client,
    image: &str,
    server: &str,
    app: &str,
) -> Result<Flow, BarrierError> {
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
        .ok_or_else(|| BarrierError::NoIp(server.into()))?;
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
fn deny_ingress(name: &str, app: &str) -> NetworkPolicy {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": { "name": name },
        "spec": { "podSelector": { "matchLabels": { "app": app } }, "policyTypes": ["Ingress"] }
    }))
    .expect("a valid NetworkPolicy")
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
            return Err(BarrierError::NeverOpen(before));
        }
        // Another process's canary may have made it a moment ago: the same
        // policy, so the state asked for.
        crate::runtime::create::create_or_get(&npapi, &deny_ingress("deny", "canary-server"))
            .await
            .map_err(|source| BarrierError::Create {
                what: "the canary's deny policy",
                source,
            })?;
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
            Err(BarrierError::NotEnforcing(after))
        }
    };
    match run.await {
        Ok(s) => Verdict::pass("NetworkPolicy enforcement", expected, s),
        Err(e) => Verdict::fail("NetworkPolicy enforcement", expected, chain(&e)),
    }
}

/// The canary's verdict, run once per process: every cell's flows stand on
/// the same CNI.
pub async fn once(cx: &CheckCx<'_>) -> Verdict {
    static CANARY: tokio::sync::OnceCell<Verdict> = tokio::sync::OnceCell::const_new();
    CANARY
        .get_or_init(|| async {
            match cx.agent_image() {
                Some(img) => canary(cx.client, img).await,
                None => Verdict::fail(
                    "NetworkPolicy enforcement",
                    "an agent image for the canary",
                    "none in images.env",
                ),
            }
        })
        .await
        .clone()
}

/// A failed canary, as the verdict of a flow that cannot be trusted.
pub async fn failed(cx: &CheckCx<'_>) -> Option<Verdict> {
    let c = once(cx).await;
    c.failed().then(|| {
        Verdict::fail(
            &c.subject,
            "the CNI enforces NetworkPolicy (canary)",
            c.observed.clone(),
        )
    })
}

/// A flow judged once the CNI has caught up with every policy that existed
/// when the judging began (`sync_barrier`): otherwise an ALLOWED rule not
/// yet programmed reads as DENIED.
pub async fn judge_flow(cx: &CheckCx<'_>, f: &Flow) -> Verdict {
    let after = tokio::time::Instant::now();
    let subject = format!("{} -> {}:{}", f.from_label, f.host, f.port);
    let Some(img) = cx.agent_image() else {
        return Verdict::fail(
            subject,
            "an agent image for the policy sync barrier",
            "none in images.env",
        );
    };
    match sync_barrier(cx.client, img, after).await {
        Err(e) => Verdict::fail(
            subject,
            "the CNI enforces the current policies before the flow is judged",
            chain(&e),
        ),
        Ok(note) => super::check(cx.client, f)
            .await
            .with_evidence(Evidence::Note {
                text: format!("policy sync: {note}"),
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_flip_recorded_by_one_holder_is_read_back_by_the_next() {
        let when = std::time::UNIX_EPOCH + std::time::Duration::from_micros(1_700_000_000_123_456);
        {
            let held = FlipLock::take().await.unwrap();
            held.record(when);
        }
        let next = FlipLock::take().await.unwrap();
        assert!(next.last().is_some_and(|t| t >= when));
    }

    #[test]
    fn a_barrier_that_was_never_enforced_says_how_often_it_tried_and_what_it_saw() {
        let e = BarrierError::NotEnforced {
            attempts: 30,
            last: "Connected in 1ms".into(),
        };
        assert_eq!(
            chain(&e),
            "the CNI did not enforce a policy change within 30 attempts: Connected in 1ms"
        );
    }

    #[test]
    fn the_deny_policy_selects_only_the_server() {
        let p = deny_ingress("deny", "canary-server");
        let spec = p.spec.unwrap();
        assert_eq!(
            spec.pod_selector.unwrap().match_labels.unwrap()["app"],
            "canary-server"
        );
        assert_eq!(spec.policy_types.unwrap(), ["Ingress"]);
        assert!(spec.ingress.is_none(), "no ingress rule: deny all");
    }
}
