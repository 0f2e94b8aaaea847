//! Traffic through disruption: while nodes drain and Deployments roll, a
//! steady request stream goes from a client pod to each HA Service, and
//! every request counts. The stream is the agent's own `load` (open loop,
//! a fixed rate) run in back-to-back windows of [`WINDOW`], so it can stop
//! when the disruption ends; each window reports what it sent and what
//! failed, and the windows are the timeline. An HA Service must lose none.
//!
//! The longest gap is estimated from the failures: `failed / rate` seconds
//! per window, summed over consecutive windows with failures (the agent
//! reports counts per window, so the gap is known to a window's length).

use std::collections::BTreeMap;
use std::time::Duration;

use kube::Client;

use super::secs;
use crate::runtime::exec::{self, InPod};
use crate::verdict::{Evidence, Traffic, Verdict};

/// One stream window's length; the rate is per second.
pub const WINDOW: Duration = Duration::from_secs(2);
pub const RATE: f64 = 20.0;

/// A labelled span of the disruption (`drain worker2`, `rollout web`).
pub use crate::verdict::TrafficSpan as Span;
/// What one window of the stream saw (the record's own type: the report
/// draws these).
pub use crate::verdict::TrafficWindow as Window;

/// The longest stretch without answers, estimated from the windows.
pub fn longest_gap_ms(windows: &[Window]) -> u64 {
    let mut best = 0u64;
    let mut run = 0u64;
    for w in windows {
        if w.failed > 0 || w.lost.is_some() {
            run += if w.lost.is_some() {
                WINDOW.as_millis() as u64
            } else {
                (w.failed as f64 / RATE * 1000.0) as u64
            };
            best = best.max(run);
        } else {
            run = 0;
        }
    }
    best
}

/// The stream's verdict: nothing lost while the spans ran.
pub fn judge(service: &str, url: &str, windows: &[Window], spans: &[Span]) -> Verdict {
    let subject = format!("Service/{service}");
    let what = if spans.is_empty() {
        "the disruptions".to_string()
    } else {
        spans
            .iter()
            .map(|s| s.label.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let expected =
        format!("a steady stream of GET {url} ({RATE}/s) loses no request through {what}");
    let sent: u64 = windows.iter().map(|w| w.sent).sum();
    let failed: u64 = windows.iter().map(|w| w.failed).sum();
    let lost: Vec<&Window> = windows.iter().filter(|w| w.lost.is_some()).collect();
    let gap = longest_gap_ms(windows);
    let record = Traffic {
        service: service.into(),
        url: url.into(),
        rate_per_s: RATE as u32,
        window_ms: WINDOW.as_millis() as u64,
        windows: windows.to_vec(),
        spans: spans.to_vec(),
        longest_gap_ms: gap,
    };
    let during = |t: u64| {
        record
            .span_at(t)
            .map(|s| format!(" during {}", s.label))
            .unwrap_or_default()
    };
    let observed = format!(
        "{sent} sent, {failed} failed, longest gap ~{}{}",
        secs(gap),
        if lost.is_empty() {
            String::new()
        } else {
            format!(", {} window(s) without a report", lost.len())
        }
    );
    let v = if sent == 0 {
        Verdict::fail(&subject, expected, "no request was sent")
    } else if failed == 0 && lost.is_empty() {
        Verdict::pass(&subject, expected, observed)
    } else {
        let first = windows
            .iter()
            .find(|w| w.failed > 0 || w.lost.is_some())
            .map(|w| w.t_ms)
            .unwrap_or(0);
        Verdict::fail(&subject, expected, format!("{observed}; first failure at t={}{}", secs(first), during(first)))
            .with_hint("requests fail when a pod stops before the endpoints stop sending to it: give the container a preStop pause (`lifecycle.preStop.sleep.seconds: 5`) so kube-proxy drops it first, keep a readiness probe, and let the app finish in-flight requests on SIGTERM")
    };
    v.with_evidence(Evidence::Traffic(record))
}

/// The agent command for one window.
pub fn argv(url: &str) -> Vec<String> {
    [
        "agent",
        "load",
        "--url",
        url,
        "--rate",
        &format!("{RATE}"),
        "--duration",
        &format!("{}s", WINDOW.as_secs()),
        "--concurrency",
        "8",
        "--timeout",
        "2s",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Runs windows back to back until `stop` turns true, from `at`.
pub async fn stream(
    client: Client,
    namespace: String,
    pod: String,
    url: String,
    clock: tokio::time::Instant,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Vec<Window> {
    let mut out = Vec::new();
    let argv = argv(&url);
    loop {
        if *stop.borrow_and_update() {
            break;
        }
        let t_ms = clock.elapsed().as_millis() as u64;
        let at = InPod {
            client: &client,
            namespace: &namespace,
            pod: &pod,
            container: None,
        };
        let w = match at.exec(&argv, WINDOW + Duration::from_secs(20)).await {
            Ok(o) => match exec::agent_report(&o) {
                Some(vitals_agent::report::Report::Load(r)) => Window {
                    t_ms,
                    sent: r.count,
                    failed: r.errors,
                    outcomes: r
                        .outcomes
                        .into_iter()
                        .filter(|(k, _)| !k.starts_with('2'))
                        .collect(),
                    lost: None,
                },
                _ => Window {
                    t_ms,
                    sent: 0,
                    failed: 0,
                    outcomes: BTreeMap::new(),
                    lost: Some(format!(
                        "no load report (exit {}): {}",
                        o.exit,
                        o.stderr.trim()
                    )),
                },
            },
            Err(e) => Window {
                t_ms,
                sent: 0,
                failed: 0,
                outcomes: BTreeMap::new(),
                lost: Some(e.to_string()),
            },
        };
        out.push(w);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(t: u64, sent: u64, failed: u64) -> Window {
        Window {
            t_ms: t,
            sent,
            failed,
            outcomes: if failed > 0 {
                BTreeMap::from([("refused".to_string(), failed)])
            } else {
                BTreeMap::new()
            },
            lost: None,
        }
    }

    #[test]
    fn a_stream_that_lost_nothing_passes_with_its_counts() {
        let v = judge("web", "http://web/", &[w(0, 40, 0), w(2100, 40, 0)], &[]);
        assert!(!v.failed(), "{v}");
        assert_eq!(v.observed, "80 sent, 0 failed, longest gap ~0.0s");
    }

    #[test]
    fn failures_during_a_drain_fail_with_when_what_and_the_gap() {
        let spans = [Span {
            label: "drain worker2".into(),
            from_ms: 2000,
            to_ms: 9000,
        }];
        let v = judge(
            "web",
            "http://web/",
            &[
                w(0, 40, 0),
                w(2100, 40, 10),
                w(4200, 40, 10),
                w(6300, 40, 0),
            ],
            &spans,
        );
        assert!(v.failed());
        let text = v.to_string();
        assert!(
            text.contains("160 sent, 20 failed, longest gap ~1.0s"),
            "{text}"
        );
        assert!(
            text.contains("first failure at t=2.1s during drain worker2"),
            "{text}"
        );
        assert!(text.contains("refused: 10"), "{text}");
        assert!(text.contains("preStop"), "{text}");
    }

    #[test]
    fn the_timeline_is_recorded_for_the_report_with_its_spans_and_gap() {
        let spans = [Span {
            label: "rollout web".into(),
            from_ms: 1000,
            to_ms: 3000,
        }];
        let v = judge(
            "web",
            "http://web/",
            &[w(0, 40, 0), w(2100, 40, 20)],
            &spans,
        );
        let t = v
            .evidence
            .iter()
            .find_map(|e| match e {
                Evidence::Traffic(t) => Some(t),
                _ => None,
            })
            .expect("a traffic timeline in the evidence");
        assert_eq!((t.service.as_str(), t.url.as_str()), ("web", "http://web/"));
        assert_eq!(
            (t.rate_per_s, t.window_ms, t.longest_gap_ms),
            (20, 2000, 1000)
        );
        assert_eq!(t.windows.len(), 2);
        assert_eq!(t.spans, spans.to_vec());
        // The terminal keeps the text timeline.
        let text = v.to_string();
        assert!(
            text.contains("t=2.1s sent=40 failed=20 (refused: 20) during rollout web"),
            "{text}"
        );
        // And the record round-trips through its JSON line.
        let back: Verdict = serde_json::from_str(&serde_json::to_string(&v).unwrap()).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn the_gap_resets_after_a_clean_window() {
        assert_eq!(
            longest_gap_ms(&[w(0, 40, 20), w(1, 40, 0), w(2, 40, 10)]),
            1000
        );
    }
}
