//! Graceful shutdown: one pod of an HA workload is deleted while a request
//! stream runs to its Service. The pod must be gone within its
//! `terminationGracePeriodSeconds` (not killed at the end of it), and no
//! request may fail: the endpoints stop sending to it (a preStop pause
//! gives kube-proxy the time to notice) and it finishes what it has in
//! flight before it exits. An app that exits on SIGTERM at once, with no
//! preStop, refuses the requests kube-proxy still sends it.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::DeleteParams;
use kube::{Api, Client};

use super::traffic::{self, Span, Window};
use super::{healthy, live_pods, secs, until_view, HaWorkload, PodDeleteError};
use crate::runtime::view::NamespaceView;
use crate::runtime::wait::Progress;
use crate::verdict::{Evidence, Finding, Verdict};

/// Time the kubelet and the API server take beyond the grace period to
/// report a pod gone (status update, deletion).
pub const MARGIN: Duration = Duration::from_secs(5);

/// What stopping one pod did.
#[derive(Debug, Clone)]
pub struct StopRecord {
    pub pod: String,
    /// From the delete to the pod object gone.
    pub stopped: Result<u64, PodDeleteError>,
    pub span: Span,
}

/// Deletes one healthy pod of `w` and waits until it is gone.
pub async fn stop_one(
    client: &Client,
    view: &NamespaceView,
    w: &HaWorkload,
    clock: tokio::time::Instant,
) -> StopRecord {
    let from_ms = clock.elapsed().as_millis() as u64;
    let victim = live_pods(view, &w.selector)
        .into_iter()
        .find(|p| healthy(p));
    let Some(victim) = victim else {
        return StopRecord {
            pod: String::new(),
            stopped: Err(PodDeleteError::NoHealthyPod("stop")),
            span: Span {
                label: format!("stop of a {} pod", w.name),
                from_ms,
                to_ms: from_ms,
            },
        };
    };
    let name = victim.metadata.name.clone().unwrap_or_default();
    let uid = victim.metadata.uid.clone().unwrap_or_default();
    let start = tokio::time::Instant::now();
    let api: Api<Pod> = Api::namespaced(client.clone(), &view.namespace);
    let stopped = match api.delete(&name, &DeleteParams::default()).await {
        Err(e) => Err(PodDeleteError::Delete(std::sync::Arc::new(e))),
        Ok(_) => {
            let bound = Duration::from_secs(w.grace_seconds.max(0) as u64)
                + MARGIN
                + Duration::from_secs(30);
            until_view(view, &format!("Pod/{name}"), bound, || {
                let there = view
                    .pods
                    .state()
                    .iter()
                    .any(|p| p.metadata.uid.as_deref() == Some(uid.as_str()));
                if there {
                    Progress::Pending("terminating".into())
                } else {
                    Progress::Done(String::new())
                }
            })
            .await
            .map(|_| start.elapsed().as_millis() as u64)
            .map_err(|e| PodDeleteError::Wait(std::sync::Arc::new(e)))
        }
    };
    StopRecord {
        span: Span {
            label: format!("stop of {name}"),
            from_ms,
            to_ms: clock.elapsed().as_millis() as u64,
        },
        pod: name,
        stopped,
    }
}

/// Gone within the grace period, and no request lost around it.
pub fn judge(w: &HaWorkload, rec: &StopRecord, url: &str, windows: &[Window]) -> Verdict {
    let subject = w.id();
    let grace = Duration::from_secs(w.grace_seconds.max(0) as u64);
    let expected = format!(
        "a pod deleted under a steady stream to {url} stops within terminationGracePeriodSeconds ({}s) and no request fails",
        grace.as_secs()
    );
    let stream = traffic::judge(
        w.fronts.first().map(|f| f.service.as_str()).unwrap_or("?"),
        url,
        windows,
        std::slice::from_ref(&rec.span),
    );
    let pre_stop = if w.pre_stop {
        "a preStop hook"
    } else {
        "no preStop hook"
    };
    let v = match &rec.stopped {
        Err(e) => Verdict::fail(&subject, expected, format!("pod {}: {e}", rec.pod)),
        Ok(ms) if *ms > (grace + MARGIN).as_millis() as u64 => Verdict::fail(
            &subject,
            expected,
            format!("pod {} took {} to stop, past its {}s grace period: killed, not stopped ({pre_stop}; {})", rec.pod, secs(*ms), grace.as_secs(), stream.observed),
        )
        .with_hint("the app must exit on SIGTERM once its in-flight requests are done, well inside the grace period"),
        Ok(ms) if stream.failed() => Verdict::fail(
            &subject,
            expected,
            format!("pod {} stopped in {} ({pre_stop}), but requests failed: {}", rec.pod, secs(*ms), stream.observed),
        )
        .with_hint("on SIGTERM the app stopped serving while kube-proxy still sent it requests: add `lifecycle.preStop.sleep.seconds: 5` (so the endpoints drop the pod first) and let the app drain in-flight requests before it exits"),
        // No preStop: the kubelet sends SIGTERM while the endpoints still
        // route to the pod, so whether a request is refused depends on who
        // wins the race (a medplum drain lost 9 requests to it; a deliberate
        // stop of the same pod lost none). Judged from the render, with the
        // stream as evidence, so the verdict does not depend on the race.
        Ok(ms) if !w.pre_stop => Verdict::from_findings(
            &subject,
            expected.clone(),
            vec![Finding {
                object: subject.clone(),
                field: "spec.template.spec.containers[].lifecycle.preStop".into(),
                problem: format!(
                    "no preStop hook: SIGTERM reaches the app while kube-proxy may still send it requests, which an app that stops serving at once refuses (this stop: {} in {}; {})",
                    rec.pod,
                    secs(*ms),
                    stream.observed
                ),
                fix: "add `lifecycle.preStop.sleep.seconds: 5` so the endpoints drop the pod before SIGTERM, and drain in-flight requests on SIGTERM".into(),
            }],
        ),
        Ok(ms) => Verdict::pass(&subject, expected, format!("pod {} stopped in {} ({pre_stop}); {}", rec.pod, secs(*ms), stream.observed)),
    };
    stream
        .evidence
        .into_iter()
        .fold(v, Verdict::with_evidence)
        .with_evidence(Evidence::Note {
            text: format!(
                "terminationGracePeriodSeconds {}, {pre_stop}",
                grace.as_secs()
            ),
        })
}

#[cfg(test)]
mod tests {
    use super::super::Front;
    use super::*;

    fn web(pre_stop: bool) -> HaWorkload {
        HaWorkload {
            kind: "Deployment".into(),
            name: "web".into(),
            selector: serde_json::Value::Null,
            replicas: 2,
            pdb: None,
            rolling: None,
            spread: vec![],
            readiness: true,
            grace_seconds: 30,
            pre_stop,
            claims: false,
            fronts: vec![Front {
                service: "web".into(),
                port: 80,
                path: "/readyz".into(),
            }],
        }
    }

    fn rec(ms: u64) -> StopRecord {
        StopRecord {
            pod: "web-a".into(),
            stopped: Ok(ms),
            span: Span {
                label: "stop of web-a".into(),
                from_ms: 2000,
                to_ms: 9000,
            },
        }
    }

    fn win(t: u64, failed: u64) -> Window {
        Window {
            t_ms: t,
            sent: 40,
            failed,
            outcomes: Default::default(),
            lost: None,
        }
    }

    #[test]
    fn a_pod_that_stops_in_time_without_losing_a_request_passes() {
        let v = judge(
            &web(true),
            &rec(6200),
            "http://web/readyz",
            &[win(0, 0), win(2100, 0), win(4200, 0)],
        );
        assert!(!v.failed(), "{v}");
        assert!(
            v.observed.contains("stopped in 6.2s (a preStop hook)"),
            "{v}"
        );
    }

    #[test]
    fn an_app_that_exits_at_once_and_drops_requests_fails_with_the_prestop_fix() {
        let v = judge(
            &web(false),
            &rec(300),
            "http://web/readyz",
            &[win(0, 0), win(2100, 6)],
        );
        assert!(v.failed());
        let text = v.to_string();
        assert!(
            text.contains("stopped in 0.3s (no preStop hook), but requests failed"),
            "{text}"
        );
        assert!(text.contains("lifecycle.preStop.sleep.seconds"), "{text}");
    }

    #[test]
    fn no_prestop_fails_from_the_render_even_when_the_race_was_won() {
        let v = judge(
            &web(false),
            &rec(900),
            "http://web/readyz",
            &[win(0, 0), win(2100, 0)],
        );
        assert!(v.failed());
        let text = v.to_string();
        assert!(
            text.contains("`spec.template.spec.containers[].lifecycle.preStop`: no preStop hook"),
            "{text}"
        );
        assert!(text.contains("80 sent, 0 failed"), "{text}");
    }

    #[test]
    fn a_pod_killed_at_the_end_of_its_grace_period_fails() {
        let v = judge(&web(true), &rec(36_000), "http://web/readyz", &[win(0, 0)]);
        assert!(v.failed());
        assert!(v.to_string().contains("past its 30s grace period"), "{v}");
    }
}
