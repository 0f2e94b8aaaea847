//! Failures, grouped by grid cell: each with its verdict, evidence
//! (findings as one table, commands, notes, drawn timelines), hint and
//! links to its diagnostics bundle and overlay.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use vitals_checks::record::TrialRecord;
use vitals_checks::{Evidence, Finding, Verdict};

use crate::escape::esc;
use crate::{grid, legacy, svg, traffic};

use super::charts::LEGACY_NOTE;
use super::links::{bundle_label, hint_path, resolve};
use super::page::{clip, duration, failure_anchor, install_anchor, Page};

/// chart, profile, tier, check: one grid cell.
type CellKey<'a> = (&'a str, &'a str, &'a str, &'a str);

/// A failure's one-line summary shows this much of `observed`; the body
/// has all of it.
const SUMMARY_CHARS: usize = 180;

impl<'a> Page<'a> {
    pub(super) fn failures(&self, s: &mut String) {
        let g = &self.grid;
        let failed = self.inputs.totals().fail;
        w!(
            s,
            "<section id=\"failures\"><h2>Failures <span class=\"count\">{failed}</span></h2>"
        );
        if failed == 0 {
            s.push_str("<p class=\"empty-note\">Nothing failed.</p>");
        }
        // Grouped once, then listed in grid order (tiers in run order).
        let mut groups: HashMap<CellKey, Vec<(usize, &TrialRecord)>> = HashMap::new();
        for (i, t) in self.trials().filter(|(_, t)| grid::is_fail(t)) {
            groups
                .entry((&t.chart, &t.profile, &t.tier, &t.check))
                .or_default()
                .push((i, t));
        }
        for row in &g.rows {
            for col in &g.columns {
                let key = (
                    row.chart.as_str(),
                    row.profile.as_str(),
                    col.tier.as_str(),
                    col.check.as_str(),
                );
                let Some(group) = groups.remove(&key) else {
                    continue;
                };
                w!(
                    s,
                    "<div class=\"fgroup\" id=\"{}\"><h3>{} / {} · <code>{}</code> \
                     <span class=\"count\">{} failed</span> <a class=\"up\" href=\"#grid\">↑ grid</a></h3>",
                    grid::cell_anchor(row, col),
                    esc(&row.chart),
                    esc(&row.profile),
                    esc(&col.label()),
                    group.len()
                );
                for (i, t) in group {
                    self.failure(s, i, t);
                }
                s.push_str("</div>");
            }
        }
        s.push_str("</section>");
    }

    pub(super) fn failure(&self, s: &mut String, i: usize, t: &TrialRecord) {
        let v = &t.verdict;
        let id = failure_anchor(&t.run, &t.name);
        w!(
            s,
            "<details class=\"failure\" id=\"{id}\"><summary><span class=\"badge fail\">FAIL</span> \
             <code class=\"name\">{}</code> <span class=\"run\">{}</span> \
             <span class=\"observed\">{}</span></summary><div class=\"body\">",
            esc(&t.name),
            esc(&t.run),
            esc(&clip(&v.observed, SUMMARY_CHARS))
        );
        w!(
            s,
            "<dl><dt>subject</dt><dd><code>{}</code></dd><dt>expected</dt><dd>{}</dd>\
             <dt>observed</dt><dd>{}</dd><dt>run</dt><dd><code>{}</code></dd>\
             <dt>took</dt><dd>{}</dd></dl>",
            esc(&v.subject),
            esc(&v.expected),
            esc(&v.observed),
            esc(&t.run),
            duration(t.duration_ms)
        );
        evidence(s, v, &t.object);
        if let Some(h) = &v.hint {
            w!(s, "<p class=\"hint\"><b>hint:</b> {}</p>", esc(h));
        }
        let mut links = Vec::new();
        if let Some(bundle) = self.bundle_for(i, t) {
            if let Some(href) = self.href(&bundle) {
                let why = bundle.join("WHY.txt");
                let mut link = format!(
                    "diagnostics bundle: <a class=\"bundle\" href=\"{}/\">{}</a>",
                    esc(&href),
                    esc(&bundle_label(&bundle))
                );
                if why.is_file() {
                    w!(link, " (<a href=\"{}/WHY.txt\">WHY.txt</a>)", esc(&href));
                }
                links.push(link);
            }
        }
        for ci in self.inputs.cells_of(&t.run, &t.chart, &t.profile) {
            let c = &self.inputs.cells[ci];
            if let Some(o) = &c.overlay {
                links.push(format!(
                    "overlay: <a href=\"#{}\">{}</a>",
                    install_anchor(c),
                    esc(&o.path)
                ));
            }
        }
        links.push(format!("<a href=\"#{id}\">link to this failure</a>"));
        w!(s, "<p class=\"links\">{}</p>", links.join(" · "));
        s.push_str("</div></details>");
    }

    /// The bundle directory of a failed trial: the hint's `diagnostics:`
    /// path, else the cell's `bundle`; taken as written, then relative to the
    /// input directory, then (for a path from another machine) by its part
    /// from `bundles/` on.
    pub(super) fn bundle_for(&self, i: usize, t: &TrialRecord) -> Option<PathBuf> {
        let mut candidates = Vec::new();
        if let Some(p) = t.verdict.hint.as_deref().and_then(hint_path) {
            candidates.extend(resolve(self.inputs.trial_dir(i), Path::new(p)));
        }
        for ci in self.inputs.cells_of(&t.run, &t.chart, &t.profile) {
            if let Some(b) = &self.inputs.cells[ci].bundle {
                candidates.extend(resolve(self.inputs.cell_dir(ci), Path::new(b)));
            }
        }
        candidates.into_iter().find(|p| p.is_dir())
    }
}

pub(super) fn evidence(s: &mut String, v: &Verdict, object: &str) {
    let mut findings: Vec<&Finding> = Vec::new();
    for e in &v.evidence {
        if let Evidence::Finding(f) = e {
            findings.push(f);
            continue;
        }
        findings_table(s, &mut findings);
        match e {
            Evidence::Finding(_) => {}
            Evidence::Command { argv, exit, stderr } => {
                w!(
                    s,
                    "<div class=\"command\"><code class=\"argv\">$ {}</code> <span class=\"exit{}\">exit {exit}</span>",
                    esc(argv),
                    if *exit == 0 { "" } else { " nonzero" }
                );
                if !stderr.trim().is_empty() {
                    w!(s, "<pre class=\"stderr\">{}</pre>", esc(stderr));
                }
                s.push_str("</div>");
            }
            Evidence::Note { text } => {
                match legacy::timeline_from_note(object, text, &v.expected) {
                    Some(tl) => w!(
                        s,
                        "<div class=\"timeline\">{}<details><summary>as recorded</summary><pre class=\"note\">{}</pre></details></div>",
                        svg::timeline(&tl, Some(LEGACY_NOTE)),
                        esc(text)
                    ),
                    None => w!(s, "<pre class=\"note\">{}</pre>", esc(text)),
                };
            }
            Evidence::Timeline(tl) => {
                w!(
                    s,
                    "<div class=\"timeline\">{}</div>",
                    svg::timeline(tl, None)
                );
            }
            // Drawn, with the windows as text below for the exact counts.
            Evidence::Traffic(tr) => {
                w!(
                    s,
                    "<div class=\"timeline\">{}<details><summary>windows</summary><pre class=\"note\">{}</pre></details></div>",
                    traffic::chart(tr),
                    esc(&tr.lines().join("\n"))
                );
            }
        }
    }
    findings_table(s, &mut findings);
}

/// Consecutive findings read best as one table.
pub(super) fn findings_table(s: &mut String, findings: &mut Vec<&Finding>) {
    if findings.is_empty() {
        return;
    }
    s.push_str("<table class=\"findings\"><thead><tr><th>object</th><th>field</th><th>problem</th><th>fix</th></tr></thead><tbody>");
    for f in findings.drain(..) {
        w!(
            s,
            "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            esc(&f.object),
            esc(&f.field),
            esc(&f.problem),
            esc(&f.fix)
        );
    }
    s.push_str("</tbody></table>");
}
#[cfg(test)]
mod tests {
    use super::super::render;
    use super::super::testing::{inputs, trial};
    use vitals_checks::{Evidence, Finding, Verdict};

    #[test]
    fn evidence_with_markup_stays_text() {
        let dir = tempfile::tempdir().unwrap();
        let v = Verdict::fail("Deployment/<script>", "x < y & z", "\"quoted\" <b>")
            .with_evidence(Evidence::Note {
                text: "<script>alert(1)</script>".into(),
            })
            .with_evidence(Evidence::Command {
                argv: "sh -c 'echo <x> && exit 1'".into(),
                exit: 1,
                stderr: "</pre><script>alert(2)</script>".into(),
            })
            .with_evidence(Evidence::Finding(Finding {
                object: "<img src=x onerror=alert(3)>".into(),
                field: "a&b".into(),
                problem: "p".into(),
                fix: "f".into(),
            }))
            .with_hint("<script>alert(4)</script>");
        let i = inputs(
            dir.path(),
            vec![trial("m/dev/render/lint/<script>", v)],
            vec![],
        );
        let html = render(&i, dir.path(), "now");
        // The only script element is the page's own.
        assert_eq!(html.matches("<script>").count(), 1, "{html}");
        assert!(!html.contains("<img"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("&lt;/pre&gt;&lt;script&gt;alert(2)"));
        assert!(html.contains("sh -c &#39;echo &lt;x&gt; &amp;&amp; exit 1&#39;"));
        assert!(html.contains("&quot;quoted&quot; &lt;b&gt;"));
        assert!(html.contains("<td><code>a&amp;b</code></td>"));
    }

    #[test]
    fn bundle_links_are_relative_to_the_report_and_found_from_other_machines_paths() {
        let root = tempfile::tempdir().unwrap();
        let input = root.path().join("cell-a");
        std::fs::create_dir_all(input.join("bundles/m-dev")).unwrap();
        std::fs::write(input.join("bundles/m-dev/WHY.txt"), "why").unwrap();
        let out = root.path().join("out/report");
        std::fs::create_dir_all(&out).unwrap();
        let v = Verdict::fail("x", "", "bad")
            .with_hint("diagnostics: /home/ci/work/target/e2e/bundles/m-dev");
        let i = inputs(&input, vec![trial("m/dev/cluster/probe/x", v)], vec![]);
        let html = render(&i, &out, "now");
        assert!(
            html.contains("<a class=\"bundle\" href=\"../../cell-a/bundles/m-dev/\">bundles/m-dev</a> (<a href=\"../../cell-a/bundles/m-dev/WHY.txt\">WHY.txt</a>)"),
            "{html}"
        );
        // A bundle that is nowhere gets no link.
        let v = Verdict::fail("x", "", "bad").with_hint("diagnostics: bundles/gone");
        let i = inputs(&input, vec![trial("m/dev/cluster/probe/x", v)], vec![]);
        assert!(!render(&i, &out, "now").contains("class=\"bundle\""));
    }
}
