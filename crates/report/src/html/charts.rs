//! The drawn sections: every HPA timeline, and every request stream of the
//! availability tier through its drains, rollouts and stopped pods.

use vitals_checks::record::TrialRecord;
use vitals_checks::verdict::{Timeline, Traffic};
use vitals_checks::Evidence;

use crate::escape::esc;
use crate::{legacy, svg, traffic};

use super::page::{failure_anchor, outcome_badge, Page};

pub(super) const LEGACY_NOTE: &str = "from an old-format record: no cpu target or load-stop mark";

impl<'a> Page<'a> {
    /// Trials with a timeline to draw, with it and a note when it was
    /// recovered from an old record.
    pub(super) fn timeline_trials(&self) -> Vec<(&'a TrialRecord, Timeline, Option<&'static str>)> {
        let mut out = Vec::new();
        for (_, t) in self.trials() {
            for e in &t.verdict.evidence {
                match e {
                    Evidence::Timeline(tl) => out.push((t, tl.clone(), None)),
                    Evidence::Note { text } => {
                        if let Some(tl) =
                            legacy::timeline_from_note(&t.object, text, &t.verdict.expected)
                        {
                            out.push((t, tl, Some(LEGACY_NOTE)));
                        }
                    }
                    _ => {}
                }
            }
        }
        out
    }

    pub(super) fn timelines(&self, s: &mut String) {
        let all = self.timeline_trials();
        w!(
            s,
            "<section id=\"hpa\"><h2>HPA timelines <span class=\"count\">{}</span></h2>",
            all.len()
        );
        if all.is_empty() {
            s.push_str("<p class=\"empty-note\">No HPA trial recorded a timeline.</p>");
        }
        s.push_str("<div class=\"charts\">");
        for (t, tl, note) in all {
            let (class, label) = outcome_badge(&t.verdict.outcome);
            w!(
                s,
                "<figure class=\"hpa\"><figcaption><span class=\"badge {class}\">{label}</span> \
                 <code class=\"name\">{}</code> <span class=\"run\">{}</span><br>{}",
                esc(&t.name),
                esc(&t.run),
                esc(&t.verdict.observed)
            );
            if t.verdict.failed() {
                w!(
                    s,
                    " · <a href=\"#{}\">failure details</a>",
                    failure_anchor(&t.run, &t.name)
                );
            }
            w!(s, "</figcaption>{}</figure>", svg::timeline(&tl, note));
        }
        s.push_str("</div></section>");
    }

    /// Trials with a request stream to draw (the availability tier's
    /// traffic and graceful-stop trials), each stream once.
    pub(super) fn traffic_trials(&self) -> Vec<(&'a TrialRecord, &'a Traffic)> {
        self.trials()
            .flat_map(|(_, t)| {
                t.verdict.evidence.iter().filter_map(move |e| match e {
                    Evidence::Traffic(tr) => Some((t, tr)),
                    _ => None,
                })
            })
            .collect()
    }

    pub(super) fn traffic(&self, s: &mut String) {
        let all = self.traffic_trials();
        w!(
            s,
            "<section id=\"traffic\"><h2>Traffic through disruption <span class=\"count\">{}</span></h2>",
            all.len()
        );
        if all.is_empty() {
            s.push_str(
                "<p class=\"empty-note\">No availability trial recorded a request stream.</p>",
            );
        } else {
            s.push_str(
                "<p class=\"legend\">A steady request stream to each HA Service while nodes drain, \
                 Deployments roll and pods stop: requests sent per window, the failed ones in red, \
                 the disruption's moments as bands, the longest gap bracketed.</p>",
            );
        }
        s.push_str("<div class=\"charts\">");
        for (t, tr) in all {
            let (class, label) = outcome_badge(&t.verdict.outcome);
            let sent: u64 = tr.windows.iter().map(|w| w.sent).sum();
            let failed: u64 = tr.windows.iter().map(|w| w.failed).sum();
            w!(
                s,
                "<figure class=\"traffic\"><figcaption><span class=\"badge {class}\">{label}</span> \
                 <code class=\"name\">{}</code> <span class=\"run\">{}</span><br>\
                 Service/{}: <b>{sent}</b> sent, <b>{failed}</b> failed, longest gap ~{:.1}s",
                esc(&t.name),
                esc(&t.run),
                esc(&tr.service),
                tr.longest_gap_ms as f64 / 1000.0
            );
            if !tr.spans.is_empty() {
                w!(
                    s,
                    "<br><span class=\"run\">through {}</span>",
                    esc(&tr
                        .spans
                        .iter()
                        .map(|sp| sp.label.as_str())
                        .collect::<Vec<_>>()
                        .join(", "))
                );
            }
            if t.verdict.failed() {
                w!(
                    s,
                    " · <a href=\"#{}\">failure details</a>",
                    failure_anchor(&t.run, &t.name)
                );
            }
            w!(s, "</figcaption>{}</figure>", traffic::chart(tr));
        }
        s.push_str("</div></section>");
    }
}

#[cfg(test)]
mod tests {
    use super::super::render;
    use super::super::testing::{inputs, trial};
    use vitals_checks::record::{CellRecord, Overlay, Phase};
    use vitals_checks::verdict::{Timeline, Traffic, TrafficSpan, TrafficWindow};
    use vitals_checks::{Evidence, Verdict};

    #[test]
    fn hpa_timelines_phases_and_overlays_are_drawn() {
        let dir = tempfile::tempdir().unwrap();
        let tl = Timeline {
            hpa: "web".into(),
            min: 1,
            max: 4,
            target_cpu_percent: Some(50),
            load_stopped_ms: Some(30_000),
            samples: (0..5)
                .map(|k| vitals_checks::verdict::Sample {
                    t_ms: k * 10_000,
                    current: 1,
                    desired: 2,
                    cpu_percent: Some(10),
                })
                .collect(),
        };
        let cell = CellRecord {
            run: "r1".into(),
            chart: "m".into(),
            profile: "prod".into(),
            namespace: "m-prod".into(),
            phases: ["prepare", "dependencies", "install", "ready"]
                .iter()
                .enumerate()
                .map(|(k, n)| Phase {
                    name: n.to_string(),
                    duration_ms: 1000 * k as u64,
                })
                .collect(),
            overlay: Some(Overlay {
                path: "suites/overlays/m.yaml".into(),
                text: "a: <1>\nb: 2\n".into(),
            }),
            bundle: None,
        };
        let i = inputs(
            dir.path(),
            vec![trial(
                "m/prod/cluster/hpa/web",
                Verdict::fail("web", "", "never scaled up").with_evidence(Evidence::Timeline(tl)),
            )],
            vec![cell],
        );
        let html = render(&i, dir.path(), "now");
        // Once in the HPA section, once in the failure's evidence.
        assert_eq!(html.matches("<svg class=\"hpa-chart\"").count(), 2);
        assert!(html.contains("<tr id=\"install/r1/m/prod/m-prod\">"));
        assert!(html.contains("title=\"ready: 3.0 s\""));
        assert!(html.contains("<details class=\"overlay\"><summary>overlay <code>suites/overlays/m.yaml</code> (2 lines)</summary><pre>a: &lt;1&gt;\nb: 2\n</pre></details>"));
        assert!(html.contains("overlay: <a href=\"#install/r1/m/prod/m-prod\">"));
    }

    #[test]
    fn every_request_stream_is_drawn_in_its_section_and_in_its_failure() {
        let dir = tempfile::tempdir().unwrap();
        let tr = Traffic {
            service: "web".into(),
            url: "http://web.m-prod.svc.cluster.local:80/readyz".into(),
            rate_per_s: 20,
            window_ms: 2000,
            windows: vec![
                TrafficWindow {
                    t_ms: 0,
                    sent: 40,
                    failed: 0,
                    outcomes: Default::default(),
                    lost: None,
                },
                TrafficWindow {
                    t_ms: 2000,
                    sent: 40,
                    failed: 9,
                    outcomes: [("refused".to_string(), 9)].into(),
                    lost: None,
                },
            ],
            spans: vec![TrafficSpan {
                label: "drain vitals-ha-1-37-worker".into(),
                from_ms: 1000,
                to_ms: 3000,
            }],
            longest_gap_ms: 450,
        };
        let i = inputs(
            dir.path(),
            vec![
                trial(
                    "m/prod/availability/traffic/service/web",
                    Verdict::fail("Service/web", "", "80 sent, 9 failed")
                        .with_evidence(Evidence::Traffic(tr.clone())),
                ),
                trial(
                    "m/prod/availability/graceful-stop/deployment/web",
                    Verdict::pass("Deployment/web", "", "stopped")
                        .with_evidence(Evidence::Traffic(tr)),
                ),
            ],
            vec![],
        );
        let html = render(&i, dir.path(), "now");
        assert!(
            html.contains("<a href=\"#traffic\">traffic (2)</a>"),
            "{html}"
        );
        assert!(html.contains("<section id=\"traffic\">"));
        // Two in the section, one more in the failure's evidence.
        assert_eq!(html.matches("<svg class=\"traffic-chart\"").count(), 3);
        assert!(html.contains("Service/web: <b>80</b> sent, <b>9</b> failed, longest gap ~0.5s"));
        assert!(html.contains("through drain vitals-ha-1-37-worker"));
        assert!(html
            .contains("t=2.0s sent=40 failed=9 (refused: 9) during drain vitals-ha-1-37-worker"));
        assert!(html.contains("failure details"));
    }
}
