//! An HPA's reaction to load as an inline SVG chart: replicas and desired
//! replicas as step lines (the HPA changes them in jumps, not slopes), cpu%
//! on a second axis, the HPA's bounds and cpu target as horizontal lines and
//! the end of the load as a vertical one.
//!
//! Colours and strokes are attributes rather than page CSS so a chart copied
//! out of the page (or opened on its own) still reads the same.

use std::fmt::Write;

use vitals_checks::verdict::{Sample, Timeline};

use crate::escape::esc;

const W: f64 = 600.0;
const H: f64 = 300.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 64.0;
const TOP: f64 = 44.0;
const BOTTOM: f64 = 44.0;

const CURRENT: &str = "#1565c0";
const DESIRED: &str = "#ef6c00";
const CPU: &str = "#8e24aa";
const BOUND: &str = "#455a64";
const LOAD_STOP: &str = "#c62828";
const GRID: &str = "#e3e7ea";
const TEXT: &str = "#263238";
/// Labels drawn over the lines keep a background-coloured outline.
const HALO: &str = r##"paint-order="stroke" stroke="#fafbfc" stroke-width="3""##;

/// Maps data to plot coordinates; y grows downwards in SVG.
struct Scale {
    t_end_s: f64,
    replicas_top: f64,
    cpu_top: f64,
}

impl Scale {
    fn x(&self, t_ms: u64) -> f64 {
        LEFT + (t_ms as f64 / 1000.0) / self.t_end_s * (W - LEFT - RIGHT)
    }
    fn y_replicas(&self, r: i32) -> f64 {
        H - BOTTOM - (r.max(0) as f64) / self.replicas_top * (H - TOP - BOTTOM)
    }
    fn y_cpu(&self, c: i32) -> f64 {
        H - BOTTOM - (c.max(0) as f64) / self.cpu_top * (H - TOP - BOTTOM)
    }
}

/// The smallest step from `steps` that keeps the axis to `max_ticks` ticks,
/// and the axis end rounded up to it.
pub(crate) fn axis(value: f64, steps: &[f64], max_ticks: f64) -> (f64, f64) {
    let step = steps
        .iter()
        .copied()
        .find(|s| value / s <= max_ticks)
        .unwrap_or_else(|| (value / max_ticks).ceil());
    let end = ((value / step).ceil() * step).max(step);
    (step, end)
}

/// Renders one timeline; `note` is shown under the title (e.g. that the
/// timeline was recovered from an old record and lacks the target).
pub fn timeline(t: &Timeline, note: Option<&str>) -> String {
    let samples = &t.samples;
    let last_t = samples.iter().map(|s| s.t_ms).max().unwrap_or(0);
    let t_end_ms = last_t.max(t.load_stopped_ms.unwrap_or(0)).max(1000);
    let (t_step, t_end_s) = axis(
        t_end_ms as f64 / 1000.0,
        &[
            1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0,
        ],
        10.0,
    );
    let peak = samples
        .iter()
        .map(|s| s.current.max(s.desired))
        .max()
        .unwrap_or(0);
    // One replica of headroom so the max line is not drawn on the frame.
    let (r_step, replicas_top) = axis(
        (t.max.max(peak).max(1) + 1) as f64,
        &[1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0],
        8.0,
    );
    let cpu_peak = samples
        .iter()
        .filter_map(|s| s.cpu_percent)
        .chain(t.target_cpu_percent)
        .max()
        .unwrap_or(0)
        .max(100);
    let (c_step, cpu_top) = axis(
        cpu_peak as f64 * 1.05,
        &[10.0, 25.0, 50.0, 100.0, 200.0, 250.0, 500.0, 1000.0],
        8.0,
    );
    let sc = Scale {
        t_end_s,
        replicas_top,
        cpu_top,
    };
    let (x0, x1, y0, y1) = (LEFT, W - RIGHT, TOP, H - BOTTOM);

    let mut s = String::with_capacity(8 * 1024);
    let _ = write!(
        s,
        r#"<svg class="hpa-chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-label="HPA {name}: replicas and cpu over time" font-family="system-ui, sans-serif" font-size="11" fill="{TEXT}">"#,
        name = esc(&t.hpa)
    );
    let _ = write!(
        s,
        "<title>HPA {}: replicas (min {}, max {}) and cpu over time</title>",
        esc(&t.hpa),
        t.min,
        t.max
    );
    let _ = write!(
        s,
        r##"<rect x="{x0}" y="{y0}" width="{w:.1}" height="{h:.1}" fill="#fafbfc" stroke="#b0bec5"/>"##,
        w = x1 - x0,
        h = y1 - y0
    );

    // Gridlines and tick labels: replicas left, cpu right, seconds below.
    let mut r = 0.0;
    while r <= replicas_top + 1e-9 {
        let y = sc.y_replicas(r as i32);
        let _ = write!(
            s,
            r#"<line x1="{x0}" y1="{y:.1}" x2="{x1}" y2="{y:.1}" stroke="{GRID}"/><text x="{tx:.1}" y="{ty:.1}" text-anchor="end">{r}</text>"#,
            tx = x0 - 6.0,
            ty = y + 4.0
        );
        r += r_step;
    }
    let mut c = 0.0;
    while c <= cpu_top + 1e-9 {
        let _ = write!(
            s,
            r#"<text x="{tx:.1}" y="{ty:.1}" fill="{CPU}">{c}%</text>"#,
            tx = x1 + 6.0,
            ty = sc.y_cpu(c as i32) + 4.0
        );
        c += c_step;
    }
    let mut ts = 0.0;
    while ts <= t_end_s + 1e-9 {
        let x = sc.x((ts * 1000.0) as u64);
        let _ = write!(
            s,
            r##"<line x1="{x:.1}" y1="{y1}" x2="{x:.1}" y2="{y2}" stroke="#90a4ae"/><text x="{x:.1}" y="{ty}" text-anchor="middle">{ts}</text>"##,
            y2 = y1 + 4.0,
            ty = y1 + 16.0
        );
        ts += t_step;
    }
    let _ = write!(
        s,
        r#"<text class="axis-label" x="{cx:.1}" y="{by}" text-anchor="middle">seconds since the load started</text>"#,
        cx = (x0 + x1) / 2.0,
        by = H - 6.0
    );
    let _ = write!(
        s,
        r#"<text class="axis-label" transform="translate(14 {cy:.1}) rotate(-90)" text-anchor="middle">replicas</text>"#,
        cy = (y0 + y1) / 2.0
    );
    let _ = write!(
        s,
        r#"<text class="axis-label" transform="translate({rx} {cy:.1}) rotate(90)" text-anchor="middle" fill="{CPU}">cpu % of request</text>"#,
        rx = W - 12.0,
        cy = (y0 + y1) / 2.0
    );

    // The HPA's bounds, its cpu target and the end of the load; their
    // labels go on top of the data, drawn last.
    let mut labels = String::new();
    for (class, value, label) in [("max", t.max, "max"), ("min", t.min, "min")] {
        let y = sc.y_replicas(value);
        let _ = write!(
            s,
            r#"<line class="{class}" x1="{x0}" y1="{y:.1}" x2="{x1}" y2="{y:.1}" stroke="{BOUND}" stroke-width="1.5" stroke-dasharray="8 4"/>"#
        );
        let _ = write!(
            labels,
            r#"<text x="{tx:.1}" y="{ty:.1}" text-anchor="end" fill="{BOUND}" {HALO}>{label} {value}</text>"#,
            tx = x1 - 4.0,
            ty = y - 4.0
        );
    }
    if let Some(target) = t.target_cpu_percent {
        let y = sc.y_cpu(target);
        let _ = write!(
            s,
            r#"<line class="target" x1="{x0}" y1="{y:.1}" x2="{x1}" y2="{y:.1}" stroke="{CPU}" stroke-width="1.2" stroke-dasharray="2 3"/>"#
        );
        let _ = write!(
            labels,
            r#"<text x="{tx:.1}" y="{ty:.1}" fill="{CPU}" {HALO}>cpu target {target}%</text>"#,
            tx = x0 + 4.0,
            ty = y - 4.0
        );
    }
    if let Some(stop) = t.load_stopped_ms {
        let x = sc.x(stop);
        let _ = write!(
            s,
            r#"<line class="load-stop" x1="{x:.1}" y1="{y0}" x2="{x:.1}" y2="{y1}" stroke="{LOAD_STOP}" stroke-width="1.5" stroke-dasharray="6 3"/>"#
        );
        let _ = write!(
            labels,
            r#"<text x="{tx:.1}" y="{ty}" fill="{LOAD_STOP}" {HALO}>load stopped ({secs:.0}s)</text>"#,
            tx = x + 4.0,
            ty = y0 + 12.0,
            secs = stop as f64 / 1000.0
        );
    }

    if samples.is_empty() {
        let _ = write!(
            s,
            r#"<text x="{cx:.1}" y="{cy:.1}" text-anchor="middle" font-size="14">no samples recorded</text>"#,
            cx = (x0 + x1) / 2.0,
            cy = (y0 + y1) / 2.0
        );
    } else {
        let _ = write!(
            s,
            r#"<path class="cpu" d="{d}" fill="none" stroke="{CPU}" stroke-width="1.5" stroke-opacity="0.8"/>"#,
            d = cpu_path(&sc, samples)
        );
        let _ = write!(
            s,
            r#"<polyline class="desired" points="{p}" fill="none" stroke="{DESIRED}" stroke-width="2" stroke-dasharray="5 3"/>"#,
            p = steps(&sc, samples, |x| x.desired)
        );
        let _ = write!(
            s,
            r#"<polyline class="current" points="{p}" fill="none" stroke="{CURRENT}" stroke-width="2.5"/>"#,
            p = steps(&sc, samples, |x| x.current)
        );
        for x in samples {
            let _ = write!(
                s,
                r#"<circle class="sample" cx="{cx:.1}" cy="{cy:.1}" r="3" fill="{CURRENT}"><title>t={t:.1}s replicas={cur} desired={des} cpu={cpu}</title></circle>"#,
                cx = sc.x(x.t_ms),
                cy = sc.y_replicas(x.current),
                t = x.t_ms as f64 / 1000.0,
                cur = x.current,
                des = x.desired,
                cpu = x
                    .cpu_percent
                    .map(|c| format!("{c}%"))
                    .unwrap_or_else(|| "?".into()),
            );
        }
    }

    s.push_str(&labels);
    legend(&mut s);
    if let Some(note) = note {
        let _ = write!(
            s,
            r##"<text x="{x0}" y="{y}" font-style="italic" fill="#607d8b">{n}</text>"##,
            y = TOP - 10.0,
            n = esc(note)
        );
    }
    s.push_str("</svg>");
    s
}

/// A step line: each value holds until the next sample.
fn steps(sc: &Scale, samples: &[Sample], value: impl Fn(&Sample) -> i32) -> String {
    let mut pts = String::new();
    let mut prev: Option<i32> = None;
    for x in samples {
        let (px, v) = (sc.x(x.t_ms), value(x));
        if let Some(p) = prev.filter(|p| *p != v) {
            let _ = write!(pts, "{px:.1},{:.1} ", sc.y_replicas(p));
        }
        let _ = write!(pts, "{px:.1},{:.1} ", sc.y_replicas(v));
        prev = Some(v);
    }
    pts.trim_end().to_string()
}

/// cpu% as a plain line, broken where metrics were not yet available.
fn cpu_path(sc: &Scale, samples: &[Sample]) -> String {
    let mut d = String::new();
    let mut pen_down = false;
    for x in samples {
        match x.cpu_percent {
            Some(c) => {
                let cmd = if pen_down { 'L' } else { 'M' };
                let _ = write!(d, "{cmd}{:.1},{:.1} ", sc.x(x.t_ms), sc.y_cpu(c));
                pen_down = true;
            }
            None => pen_down = false,
        }
    }
    d.trim_end().to_string()
}

fn legend(s: &mut String) {
    let items: [(&str, &str, &str, f64); 6] = [
        ("replicas", CURRENT, "", 2.5),
        ("desired", DESIRED, "5 3", 2.0),
        ("cpu %", CPU, "", 1.5),
        ("min / max", BOUND, "8 4", 1.5),
        ("cpu target", CPU, "2 3", 1.2),
        ("load stopped", LOAD_STOP, "6 3", 1.5),
    ];
    let mut x = 12.0;
    let y = 14.0;
    s.push_str(r#"<g class="legend">"#);
    for (label, colour, dash, width) in items {
        let _ = write!(
            s,
            r#"<line x1="{x}" y1="{y}" x2="{x2}" y2="{y}" stroke="{colour}" stroke-width="{width}" stroke-dasharray="{dash}"/><text x="{tx}" y="{ty}">{label}</text>"#,
            x2 = x + 22.0,
            tx = x + 27.0,
            ty = y + 4.0
        );
        x += 36.0 + 6.2 * label.len() as f64;
    }
    s.push_str("</g>");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tl(n: usize) -> Timeline {
        Timeline {
            hpa: "web<&>".into(),
            min: 2,
            max: 10,
            target_cpu_percent: Some(70),
            load_stopped_ms: Some(60_000),
            samples: (0..n)
                .map(|i| Sample {
                    t_ms: i as u64 * 7_500,
                    current: 2 + (i as i32 % 5),
                    desired: 2 + ((i as i32 + 1) % 5),
                    cpu_percent: if i == 1 { None } else { Some(40 * i as i32) },
                })
                .collect(),
        }
    }

    #[test]
    fn draws_bounds_target_load_stop_and_one_marker_per_sample() {
        let svg = timeline(&tl(15), None);
        assert!(svg.starts_with(r#"<svg class="hpa-chart""#));
        assert!(svg.ends_with("</svg>"));
        assert_eq!(svg.matches(r#"<line class="min""#).count(), 1);
        assert_eq!(svg.matches(r#"<line class="max""#).count(), 1);
        assert!(svg.contains(">min 2<") && svg.contains(">max 10<"));
        assert!(svg.contains(r#"<line class="target""#));
        assert!(svg.contains(">cpu target 70%<"));
        assert!(svg.contains(r#"<line class="load-stop""#));
        assert_eq!(svg.matches(r#"<circle class="sample""#).count(), 15);
        assert!(svg.contains(r#"<polyline class="current""#));
        assert!(svg.contains(r#"<polyline class="desired""#));
        // The sample without cpu breaks the line: two pen-downs.
        let d = svg.split(r#"class="cpu" d=""#).nth(1).unwrap();
        let d = &d[..d.find('"').unwrap()];
        assert_eq!(d.matches('M').count(), 2, "{d}");
        assert!(svg.contains("HPA web&lt;&amp;&gt;"));
        assert!(!svg.contains("web<&>"));
        for label in [
            "replicas",
            "cpu % of request",
            "seconds since the load started",
        ] {
            assert!(svg.contains(&format!(">{label}</text>")), "{label}");
        }
    }

    #[test]
    fn a_step_line_holds_each_value_until_the_next_sample() {
        let sc = Scale {
            t_end_s: 10.0,
            replicas_top: 10.0,
            cpu_top: 100.0,
        };
        let samples = [(0, 2), (5_000, 2), (10_000, 5)].map(|(t_ms, current)| Sample {
            t_ms,
            current,
            desired: current,
            cpu_percent: None,
        });
        let pts = steps(&sc, &samples, |s| s.current);
        // Three samples, one jump: the jump adds the corner point.
        assert_eq!(pts.split(' ').count(), 4, "{pts}");
        let ys: Vec<&str> = pts
            .split(' ')
            .map(|p| p.split(',').nth(1).unwrap())
            .collect();
        assert_eq!(ys[2], ys[1], "holds 2 until t=10s: {pts}");
    }

    #[test]
    fn no_samples_still_draws_a_chart() {
        let svg = timeline(&tl(0), Some("note"));
        assert!(svg.contains("no samples recorded"));
        assert!(svg.contains(r#"<line class="min""#));
        assert_eq!(svg.matches("<circle").count(), 0);
    }

    #[test]
    fn axis_steps_keep_the_tick_count_small() {
        assert_eq!(
            axis(118.0, &[1.0, 2.0, 5.0, 10.0, 15.0, 20.0], 10.0),
            (15.0, 120.0)
        );
        assert_eq!(axis(11.0, &[1.0, 2.0, 5.0], 8.0), (2.0, 12.0));
        assert_eq!(axis(5000.0, &[10.0, 100.0], 8.0), (625.0, 5000.0));
    }
}
