//! Every HPA really scales: load drives its target above the minimum within
//! a deadline, never past the maximum, and it comes back down when the load
//! stops. The timeline (replicas, CPU, desired) is recorded from a watch of
//! the HPA, never polled, and kept as evidence.

use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};

use crate::verdict::{Evidence, Timeline, Verdict};

pub use crate::verdict::Sample;

fn sample(h: &HorizontalPodAutoscaler, start: Instant) -> Sample {
    let st = h.status.clone().unwrap_or_default();
    let cpu = st.current_metrics.iter().flatten().find_map(|m| {
        let r = m.resource.as_ref()?;
        (r.name == "cpu")
            .then_some(r.current.average_utilization)
            .flatten()
    });
    Sample {
        t_ms: start.elapsed().as_millis() as u64,
        current: st.current_replicas.unwrap_or(0),
        desired: st.desired_replicas,
        cpu_percent: cpu,
    }
}

/// Watches the HPA until `done` holds or the deadline passes, appending
/// every change to the timeline.
async fn watch_until(
    api: &Api<HorizontalPodAutoscaler>,
    name: &str,
    start: Instant,
    timeline: &mut Vec<Sample>,
    deadline: Duration,
    done: impl Fn(&Sample) -> bool,
) -> bool {
    let cfg = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut stream = watcher::watcher(api.clone(), cfg).boxed();
    let until = tokio::time::Instant::now() + deadline;
    loop {
        tokio::select! {
            ev = stream.next() => match ev {
                Some(Ok(Event::Apply(h) | Event::InitApply(h))) => {
                    let s = sample(&h, start);
                    if timeline.last().map(|l| (l.current, l.desired, l.cpu_percent)) != Some((s.current, s.desired, s.cpu_percent)) {
                        timeline.push(s.clone());
                    }
                    if done(&s) { return true; }
                }
                Some(_) => {}
                None => return false,
            },
            _ = tokio::time::sleep_until(until) => return false,
        }
    }
}

/// How long an HPA may take to report its first cpu reading.
const METRICS_WAIT: Duration = Duration::from_secs(60);

/// The HPA under test and its deadlines.
#[derive(Debug, Clone)]
pub struct Target {
    pub namespace: String,
    pub name: String,
    pub min: i32,
    pub max: i32,
    /// The cpu averageUtilization target, drawn in the report.
    pub target_cpu_percent: Option<i32>,
    pub up_deadline: Duration,
    pub down_deadline: Duration,
}

/// Load attempts when the metrics pipeline went blind during one (see
/// [`blind_during`]): the first and one more.
const LOAD_ATTEMPTS: usize = 2;

/// The first moment of the samples (from `from`) at which the HPA had no
/// cpu reading: metrics-server missed a scrape of the kubelet, so the HPA
/// could not have reacted then, whatever the chart does.
fn blind_during(timeline: &[Sample], from: usize) -> Option<u64> {
    timeline[from..]
        .iter()
        .find(|s| s.cpu_percent.is_none())
        .map(|s| s.t_ms)
}

/// Drives the load `load()` starts (a future that runs the load generator
/// and ends with it) and judges the HPA's reaction. When the HPA had no
/// cpu reading during a load that moved nothing, the load is driven once
/// more (the evidence says when it was blind): a missed scrape is the
/// metrics pipeline's, and a verdict from it would say nothing of the chart.
pub async fn check<F>(client: &Client, t: &Target, mut load: impl FnMut() -> F) -> Verdict
where
    F: std::future::Future<Output = Result<String, String>>,
{
    let (ns, name, min, max, up_deadline, down_deadline) = (
        t.namespace.as_str(),
        t.name.as_str(),
        t.min,
        t.max,
        t.up_deadline,
        t.down_deadline,
    );
    let api: Api<HorizontalPodAutoscaler> = Api::namespaced(client.clone(), ns);
    let subject = format!("HorizontalPodAutoscaler/{name}");
    let expected = format!("scales above {min} under load within {}s, never above {max}, back to {min} within {}s after", up_deadline.as_secs(), down_deadline.as_secs());
    let start = Instant::now();
    let mut timeline = Vec::new();
    // Phase 0: at its minimum before any load, or a scale-up proves nothing
    // (pods that idle above the target share of their request sit at max).
    // At the minimum by a recommendation made from metrics: a new HPA
    // reports desired 0 before its first reading.
    let at_min = |s: &Sample| s.current <= min && s.desired <= min && s.cpu_percent.is_some();
    let mut settled = watch_until(
        &api,
        name,
        start,
        &mut timeline,
        METRICS_WAIT.min(down_deadline),
        at_min,
    )
    .await;
    // No cpu reading at all (pods without cpu requests): phase 1 judges
    // that, with its hint, rather than this wait.
    let no_reading = timeline.iter().all(|s| s.cpu_percent.is_none());
    if !settled && no_reading {
        settled = true;
    } else if !settled {
        settled = watch_until(
            &api,
            name,
            start,
            &mut timeline,
            down_deadline.saturating_sub(METRICS_WAIT),
            at_min,
        )
        .await;
    }
    if !settled {
        let last = timeline
            .last()
            .map(|s| {
                format!(
                    "{} replicas, desired {}, cpu {}",
                    s.current,
                    s.desired,
                    s.cpu_percent
                        .map(|c| format!("{c}%"))
                        .unwrap_or_else(|| "unknown".into())
                )
            })
            .unwrap_or_else(|| "no status".into());
        return Verdict::fail(
            &subject,
            expected,
            format!(
                "above its minimum before any load for {}s ({last}), so no scale-up could be credited to load",
                down_deadline.as_secs()
            ),
        )
        .with_evidence(Evidence::Timeline(Timeline {
            hpa: name.to_string(),
            min,
            max,
            target_cpu_percent: t.target_cpu_percent,
            load_stopped_ms: None,
            samples: timeline,
        }))
        .with_hint("its pods use more than the target share of their cpu request while idle: raise the request or the target");
    }
    let mut load_report = None;
    let mut load_stopped_ms = None;
    let mut up_at = None;
    let mut scaled_up = false;
    let mut blind = Vec::new();
    for _attempt in 0..LOAD_ATTEMPTS {
        let load_from = timeline.len();
        let load_started = start.elapsed().as_millis() as u64;
        let run = load();
        tokio::pin!(run);
        let mut report = None;
        // Phase 1: load runs while we watch for the scale-up.
        scaled_up = {
            let watch = watch_until(&api, name, start, &mut timeline, up_deadline, |s| {
                s.current > min || s.desired > min
            });
            tokio::pin!(watch);
            tokio::select! {
                up = &mut watch => up,
                r = &mut run => { report = Some(r); false }
            }
        };
        up_at = timeline[load_from..]
            .iter()
            .find(|s| s.current > min || s.desired > min)
            .map(|s| s.t_ms.saturating_sub(load_started));
        if report.is_none() {
            report = Some(run.await);
        }
        load_stopped_ms = Some(start.elapsed().as_millis() as u64);
        load_report = report;
        if scaled_up {
            break;
        }
        // Pods that never had a reading (no cpu requests) are the chart's
        // defect, not a missed scrape: no second load for them.
        match blind_during(&timeline, load_from).filter(|_| !no_reading) {
            Some(t) => blind.push(t),
            None => break,
        }
    }
    // Phase 2: load over; wait for the way back down.
    let down = scaled_up
        && watch_until(&api, name, start, &mut timeline, down_deadline, |s| {
            s.current <= min && s.desired <= min
        })
        .await;
    let peak = timeline
        .iter()
        .map(|s| s.current.max(s.desired))
        .max()
        .unwrap_or(0);
    let observed = format!(
        "{}; peak {peak}; {}",
        match up_at {
            Some(t) => format!("first scale-up after {:.1}s", t as f64 / 1000.0),
            None => "never scaled up".into(),
        },
        if down {
            "back to the minimum"
        } else if scaled_up {
            "did not come back down in time"
        } else {
            "-"
        }
    );
    let ok = scaled_up && down && peak <= max;
    let mut v = if ok {
        Verdict::pass(&subject, expected, observed)
    } else {
        Verdict::fail(&subject, expected, observed)
    };
    v = v.with_evidence(Evidence::Timeline(Timeline {
        hpa: name.to_string(),
        min,
        max,
        target_cpu_percent: t.target_cpu_percent,
        load_stopped_ms,
        samples: timeline,
    }));
    if let Some(r) = load_report {
        v = v.with_evidence(Evidence::Note {
            text: format!("load: {}", r.unwrap_or_else(|e| format!("failed: {e}"))),
        });
    }
    for t in &blind {
        v = v.with_evidence(Evidence::Note {
            text: format!(
                "the HPA had no cpu reading at t={:.1}s, during a load it did not react to (metrics-server missed a scrape); the load was driven again",
                *t as f64 / 1000.0
            ),
        });
    }
    if !scaled_up {
        v = v.with_hint("check that metrics-server reports the target's pods (kubectl top pods) and that its containers request cpu");
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t_ms: u64, current: i32, cpu: Option<i32>) -> Sample {
        Sample {
            t_ms,
            current,
            desired: current,
            cpu_percent: cpu,
        }
    }

    #[test]
    fn a_load_window_without_a_reading_is_blind_from_its_first_gap() {
        // open-health-exchange web in a red run: readings, then none while
        // metrics-server could not scrape the kubelet.
        let tl = vec![
            at(0, 3, None),
            at(17_800, 3, Some(40)),
            at(33_100, 3, Some(33)),
            at(48_200, 3, None),
        ];
        assert_eq!(blind_during(&tl, 1), Some(48_200));
        assert_eq!(blind_during(&tl, 4), None, "no sample during the load");
        let seen = vec![at(0, 3, Some(20)), at(25_000, 3, Some(20))];
        assert_eq!(blind_during(&seen, 1), None);
    }
}
