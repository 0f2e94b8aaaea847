//! A request stream through a disruption as an inline SVG chart: one bar
//! per window of the stream (requests sent, and in red the ones that
//! failed; a grey bar where a window could not report), the disruption's
//! moments (each drain, rollout, stopped pod) as labelled bands behind the
//! bars, and the longest run of failing windows bracketed with its
//! estimated gap.
//!
//! Bars, not a line: the stream reports counts per window, so a bar says
//! exactly what is known (how many, in which window) and no more.

use std::fmt::Write;

use vitals_checks::verdict::{Traffic, TrafficWindow};

use crate::escape::esc;
use crate::svg::axis;

const W: f64 = 600.0;
const H: f64 = 260.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 58.0;
const BOTTOM: f64 = 40.0;

const SENT: &str = "#90caf9";
const FAILED: &str = "#c62828";
const LOST: &str = "#9e9e9e";
const GRID: &str = "#e3e7ea";
const TEXT: &str = "#263238";
/// Alternating band colours, so two adjacent spans stay apart.
const BANDS: [&str; 2] = ["#fff3e0", "#e8f5e9"];
const BAND_EDGE: &str = "#8d6e63";
const HALO: &str = r##"paint-order="stroke" stroke="#fafbfc" stroke-width="3""##;

/// The windows (first and last index) of the longest run of failing or
/// lost windows, the run `longest_gap_ms` was estimated from.
pub fn worst_run(windows: &[TrafficWindow]) -> Option<(usize, usize)> {
    let bad = |w: &TrafficWindow| w.failed > 0 || w.lost.is_some();
    let mut best: Option<(usize, usize, u64)> = None;
    let mut start: Option<(usize, u64)> = None;
    for (i, w) in windows.iter().enumerate() {
        if bad(w) {
            let (from, lost) = start.unwrap_or((i, 0));
            let weight = lost + w.failed + if w.lost.is_some() { u64::MAX / 4 } else { 0 };
            start = Some((from, weight));
            if best.is_none_or(|b| weight > b.2) {
                best = Some((from, i, weight));
            }
        } else {
            start = None;
        }
    }
    best.map(|(a, b, _)| (a, b))
}

/// Renders one stream's timeline.
pub fn chart(t: &Traffic) -> String {
    let ws = &t.windows;
    let window_ms = t.window_ms.max(1);
    let last = ws
        .iter()
        .map(|w| w.t_ms + window_ms)
        .chain(t.spans.iter().map(|s| s.to_ms))
        .max()
        .unwrap_or(0)
        .max(1000);
    let (t_step, t_end_s) = axis(
        last as f64 / 1000.0,
        &[
            1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0,
        ],
        10.0,
    );
    let peak = ws.iter().map(|w| w.sent).max().unwrap_or(0).max(1);
    let (r_step, r_top) = axis(
        peak as f64,
        &[1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0],
        6.0,
    );
    let x = |ms: u64| LEFT + (ms as f64 / 1000.0) / t_end_s * (W - LEFT - RIGHT);
    let y = |n: u64| H - BOTTOM - n as f64 / r_top * (H - TOP - BOTTOM);
    let (x0, x1, y0, y1) = (LEFT, W - RIGHT, TOP, H - BOTTOM);
    let sent: u64 = ws.iter().map(|w| w.sent).sum();
    let failed: u64 = ws.iter().map(|w| w.failed).sum();

    let mut s = String::with_capacity(8 * 1024);
    let _ = write!(
        s,
        r#"<svg class="traffic-chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-label="Service {name}: requests sent and failed over time" font-family="system-ui, sans-serif" font-size="11" fill="{TEXT}">"#,
        name = esc(&t.service)
    );
    let _ = write!(
        s,
        "<title>Service {}: {sent} sent, {failed} failed, longest gap ~{:.1}s ({}/s to {})</title>",
        esc(&t.service),
        t.longest_gap_ms as f64 / 1000.0,
        t.rate_per_s,
        esc(&t.url)
    );
    let _ = write!(
        s,
        r##"<rect x="0" y="0" width="{W}" height="{H}" fill="#fafbfc"/>"##
    );
    // The disruption's moments behind everything else.
    for (k, sp) in t.spans.iter().enumerate() {
        let (a, b) = (x(sp.from_ms), x(sp.to_ms.max(sp.from_ms)));
        let _ = write!(
            s,
            r#"<g class="span"><rect x="{a:.1}" y="{y0}" width="{w:.1}" height="{h}" fill="{fill}"/><line x1="{a:.1}" y1="{top}" x2="{a:.1}" y2="{y1}" stroke="{BAND_EDGE}" stroke-width="1" stroke-dasharray="3 2"/><text x="{tx:.1}" y="{ty}" {HALO}>{label}</text></g>"#,
            w = (b - a).max(1.0),
            h = y1 - y0,
            fill = BANDS[k % 2],
            top = y0 - 14.0 * (k % 2) as f64 - 4.0,
            tx = a + 2.0,
            ty = y0 - 14.0 * (k % 2) as f64 - 6.0,
            label = esc(&sp.label)
        );
    }
    // Axes and grid.
    let mut r = 0.0;
    while r <= r_top + 1e-9 {
        let py = y(r as u64);
        let _ = write!(
            s,
            r#"<line x1="{x0}" y1="{py:.1}" x2="{x1}" y2="{py:.1}" stroke="{GRID}"/><text x="{tx}" y="{ty:.1}" text-anchor="end">{r}</text>"#,
            tx = x0 - 6.0,
            ty = py + 4.0
        );
        r += r_step;
    }
    let mut tt = 0.0;
    while tt <= t_end_s + 1e-9 {
        let px = x((tt * 1000.0) as u64);
        let _ = write!(
            s,
            r#"<line x1="{px:.1}" y1="{y1}" x2="{px:.1}" y2="{y2}" stroke="{TEXT}"/><text x="{px:.1}" y="{ty}" text-anchor="middle">{tt}s</text>"#,
            y2 = y1 + 4.0,
            ty = y1 + 16.0
        );
        tt += t_step;
    }
    let _ = write!(
        s,
        r#"<line x1="{x0}" y1="{y1}" x2="{x1}" y2="{y1}" stroke="{TEXT}"/><line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}" stroke="{TEXT}"/><text x="14" y="{my:.1}" transform="rotate(-90 14 {my:.1})" text-anchor="middle">requests per {ws_s:.0}s window</text>"#,
        my = (y0 + y1) / 2.0,
        ws_s = window_ms as f64 / 1000.0
    );
    // One bar per window.
    for w in ws {
        let (a, b) = (x(w.t_ms), x(w.t_ms + window_ms));
        let bw = (b - a - 1.0).max(1.0);
        match &w.lost {
            Some(why) => {
                let _ = write!(
                    s,
                    r#"<rect class="lost" x="{a:.1}" y="{y0}" width="{bw:.1}" height="{h}" fill="{LOST}" fill-opacity="0.5"><title>t={:.1}s: window lost: {}</title></rect>"#,
                    w.t_ms as f64 / 1000.0,
                    esc(why),
                    h = y1 - y0
                );
            }
            None => {
                let _ = write!(
                    s,
                    r#"<rect class="sent" x="{a:.1}" y="{ys:.1}" width="{bw:.1}" height="{hs:.1}" fill="{SENT}"><title>t={:.1}s: {} sent, {} failed</title></rect>"#,
                    w.t_ms as f64 / 1000.0,
                    w.sent,
                    w.failed,
                    ys = y(w.sent),
                    hs = y1 - y(w.sent)
                );
                if w.failed > 0 {
                    let _ = write!(
                        s,
                        r#"<rect class="failed" x="{a:.1}" y="{yf:.1}" width="{bw:.1}" height="{hf:.1}" fill="{FAILED}"/>"#,
                        yf = y(w.failed),
                        hf = y1 - y(w.failed)
                    );
                }
            }
        }
    }
    // The longest gap, bracketed over its windows.
    if let Some((a, b)) = worst_run(ws) {
        let (xa, xb) = (x(ws[a].t_ms), x(ws[b].t_ms + window_ms));
        let by = y0 + 10.0;
        let _ = write!(
            s,
            r#"<g class="gap"><path d="M{xa:.1},{b2:.1} L{xa:.1},{by:.1} L{xb:.1},{by:.1} L{xb:.1},{b2:.1}" fill="none" stroke="{FAILED}" stroke-width="1.5"/><text x="{tx:.1}" y="{ty:.1}" text-anchor="middle" fill="{FAILED}" {HALO}>longest gap ~{:.1}s</text></g>"#,
            t.longest_gap_ms as f64 / 1000.0,
            b2 = by + 6.0,
            tx = (xa + xb) / 2.0,
            ty = by + 18.0
        );
    }
    if ws.is_empty() {
        let _ = write!(
            s,
            r#"<text x="{cx}" y="{cy}" text-anchor="middle">no window was recorded</text>"#,
            cx = (x0 + x1) / 2.0,
            cy = (y0 + y1) / 2.0
        );
    }
    legend(&mut s);
    s.push_str("</svg>");
    s
}

fn legend(s: &mut String) {
    let items: [(&str, &str); 3] = [("sent", SENT), ("failed", FAILED), ("window lost", LOST)];
    let mut lx = 12.0;
    let ly = 14.0;
    s.push_str(r#"<g class="legend">"#);
    for (label, colour) in items {
        let _ = write!(
            s,
            r#"<rect x="{lx}" y="{ry}" width="14" height="10" fill="{colour}"/><text x="{tx}" y="{ty}">{label}</text>"#,
            ry = ly - 6.0,
            tx = lx + 19.0,
            ty = ly + 4.0
        );
        lx += 34.0 + 6.2 * label.len() as f64;
    }
    s.push_str("</g>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use vitals_checks::verdict::TrafficSpan;

    fn win(t_ms: u64, sent: u64, failed: u64) -> TrafficWindow {
        TrafficWindow {
            t_ms,
            sent,
            failed,
            outcomes: Default::default(),
            lost: None,
        }
    }

    fn traffic(windows: Vec<TrafficWindow>) -> Traffic {
        Traffic {
            service: "web<&>".into(),
            url: "http://web/readyz".into(),
            rate_per_s: 20,
            window_ms: 2000,
            windows,
            spans: vec![
                TrafficSpan {
                    label: "drain worker".into(),
                    from_ms: 0,
                    to_ms: 5000,
                },
                TrafficSpan {
                    label: "rollout web".into(),
                    from_ms: 5000,
                    to_ms: 9000,
                },
            ],
            longest_gap_ms: 1500,
        }
    }

    #[test]
    fn draws_a_bar_per_window_failures_in_red_every_span_and_the_gap() {
        let mut lost = win(6000, 0, 0);
        lost.lost = Some("exec <timed out>".into());
        let svg = chart(&traffic(vec![
            win(0, 40, 0),
            win(2000, 40, 10),
            win(4000, 40, 20),
            lost,
            win(8000, 40, 0),
        ]));
        assert!(svg.starts_with("<svg class=\"traffic-chart\""), "{svg}");
        assert!(svg.ends_with("</svg>"));
        assert_eq!(svg.matches("class=\"sent\"").count(), 4);
        assert_eq!(svg.matches("class=\"failed\"").count(), 2);
        assert_eq!(svg.matches("class=\"lost\"").count(), 1);
        assert!(svg.contains("window lost: exec &lt;timed out&gt;"), "{svg}");
        assert_eq!(svg.matches("<g class=\"span\">").count(), 2);
        assert!(svg.contains(">drain worker</text>") && svg.contains(">rollout web</text>"));
        assert!(svg.contains("longest gap ~1.5s"), "{svg}");
        assert!(svg.contains("160 sent, 30 failed"), "{svg}");
        // Markup in names stays text.
        assert!(svg.contains("Service web&lt;&amp;&gt;") && !svg.contains("web<&>"));
    }

    #[test]
    fn a_clean_stream_has_no_gap_bracket_and_an_empty_one_says_so() {
        let clean = chart(&traffic(vec![win(0, 40, 0), win(2000, 40, 0)]));
        assert!(!clean.contains("class=\"gap\"") && !clean.contains("class=\"failed\""));
        let empty = chart(&traffic(vec![]));
        assert!(empty.contains("no window was recorded"));
    }

    #[test]
    fn the_worst_run_is_the_longest_stretch_of_failing_windows() {
        let ws = [
            win(0, 40, 5),
            win(1, 40, 0),
            win(2, 40, 5),
            win(3, 40, 5),
            win(4, 40, 0),
        ];
        assert_eq!(worst_run(&ws), Some((2, 3)));
        assert_eq!(worst_run(&[win(0, 40, 0)]), None);
    }
}
