//! The page: header totals, the grid, failures to drill into, HPA charts,
//! install phases with their overlays, skips, and what could not be read.
//! One self-contained file (inline CSS, SVG and a few lines of JS) so it
//! opens from a CI artifact download or a laptop without network.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::path::{Component, Path, PathBuf};

use vitals_checks::record::{CellRecord, TrialRecord};
use vitals_checks::verdict::Timeline;
use vitals_checks::{Evidence, Finding, Outcome, Verdict};

use crate::error::{write_file, Error};
use crate::escape::{esc, slug};
use crate::grid::{self, Grid};
use crate::load::Inputs;
use crate::{legacy, order, svg};

/// Writing to a `String` cannot fail; this keeps that out of every line.
macro_rules! w {
    ($dst:expr, $($arg:tt)*) => {{
        let _ = write!($dst, $($arg)*);
    }};
}

/// chart, profile, tier, check: one grid cell.
type CellKey<'a> = (&'a str, &'a str, &'a str, &'a str);

/// A failure's one-line summary shows this much of `observed`; the body
/// has all of it.
const SUMMARY_CHARS: usize = 180;

/// At most this many malformed lines are listed; the count covers the rest.
const MALFORMED_SHOWN: usize = 200;

/// The id of a failed trial's `<details>`: open it with `index.html#<id>`.
pub fn failure_anchor(run: &str, name: &str) -> String {
    slug(&format!("f/{run}/{name}"))
}

fn install_anchor(c: &CellRecord) -> String {
    slug(&format!(
        "install/{}/{}/{}/{}",
        c.run, c.chart, c.profile, c.namespace
    ))
}

/// Renders the report to `path` (directories created), for trials read
/// from `inputs`. Bundle links are relative to `path`'s directory.
pub fn write_report(inputs: &Inputs, path: &Path) -> Result<(), Error> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(|source| Error::Write {
        path: dir.clone(),
        source,
    })?;
    let generated = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string();
    write_file(path, render(inputs, &dir, &generated).as_bytes())
}

/// The page for `inputs`, as if written into `out_dir` (which must exist
/// for bundle links to be made relative to it).
pub fn render(inputs: &Inputs, out_dir: &Path, generated: &str) -> String {
    let page = Page::new(inputs, out_dir);
    let mut s = String::with_capacity(256 * 1024);
    page.head(&mut s);
    page.header(&mut s, generated);
    s.push_str("<main>");
    page.grid(&mut s);
    page.failures(&mut s);
    page.timelines(&mut s);
    page.installs(&mut s);
    page.skips(&mut s);
    s.push_str("</main>");
    page.footer(&mut s);
    w!(s, "<script>{JS}</script></body></html>\n");
    s
}

struct Page<'a> {
    inputs: &'a Inputs,
    out_dir: Option<PathBuf>,
    grid: Grid,
    /// Trial indexes in the order the page lists them: by chart, profile,
    /// tier, check, name.
    order: Vec<usize>,
}

impl<'a> Page<'a> {
    fn new(inputs: &'a Inputs, out_dir: &Path) -> Page<'a> {
        let mut order: Vec<usize> = (0..inputs.trials.len()).collect();
        order.sort_by(|&a, &b| {
            let (a, b) = (&inputs.trials[a], &inputs.trials[b]);
            (&a.chart, &a.profile, &a.tier, &a.check, &a.name, &a.run)
                .cmp(&(&b.chart, &b.profile, &b.tier, &b.check, &b.name, &b.run))
        });
        Page {
            inputs,
            out_dir: out_dir.canonicalize().ok(),
            grid: Grid::build(&inputs.trials),
            order,
        }
    }

    fn trials(&self) -> impl Iterator<Item = (usize, &'a TrialRecord)> + '_ {
        self.order.iter().map(|&i| (i, &self.inputs.trials[i]))
    }

    fn head(&self, s: &mut String) {
        let t = self.inputs.totals();
        w!(
            s,
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>vitals report: {} failed, {} passed</title><style>{CSS}</style></head><body>",
            t.fail,
            t.pass
        );
    }

    fn header(&self, s: &mut String, generated: &str) {
        let t = self.inputs.totals();
        let runs = self.inputs.runs();
        s.push_str("<header><h1>vitals conformance report</h1><div class=\"totals\">");
        w!(
            s,
            "<a class=\"total fail\" href=\"#failures\"><b>{}</b> failed</a>\
             <span class=\"total pass\"><b>{}</b> passed</span>\
             <a class=\"total skip\" href=\"#skipped\"><b>{}</b> skipped</a></div>",
            t.fail,
            t.pass,
            t.skip
        );
        w!(
            s,
            "<p class=\"meta\">{} trials from <b>{}</b> run{} merged: {}",
            t.total(),
            runs.len(),
            plural(runs.len()),
            runs.iter()
                .map(|r| format!("<code>{}</code>", esc(r)))
                .collect::<Vec<_>>()
                .join(", ")
        );
        if self.inputs.replaced > 0 {
            w!(
                s,
                " · {} earlier record{} replaced by a re-run",
                self.inputs.replaced,
                plural(self.inputs.replaced)
            );
        }
        w!(s, " · generated {}", esc(generated));
        w!(
            s,
            " · from {}</p>",
            self.inputs
                .dirs
                .iter()
                .map(|d| format!("<code>{}</code>", esc(&d.display().to_string())))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let hpa = self.timeline_trials().len();
        let skipped = t.skip;
        let bad = self.inputs.malformed.len();
        w!(
            s,
            "<nav><a href=\"#grid\">grid</a><a href=\"#failures\">failures ({})</a>\
             <a href=\"#hpa\">HPA timelines ({hpa})</a><a href=\"#installs\">installs ({})</a>\
             <a href=\"#skipped\">skipped ({skipped})</a>",
            t.fail,
            self.inputs.cells.len()
        );
        if bad > 0 {
            w!(
                s,
                "<a class=\"warn\" href=\"#input-problems\">{bad} unreadable line{}</a>",
                plural(bad)
            );
        }
        s.push_str("</nav></header>");
    }

    fn grid(&self, s: &mut String) {
        let g = &self.grid;
        s.push_str(
            "<section><h2>Grid</h2><p class=\"legend\">One row per chart × profile \
             (<code>-</code>: chart-level), one column per check. \
             <span class=\"swatch pass\">n</span> all n passed \
             <span class=\"swatch fail\">f✗</span> f failed (click for them) \
             <span class=\"swatch skip\">n</span> only skipped \
             <span class=\"swatch empty\"></span> not run</p>",
        );
        if g.rows.is_empty() {
            s.push_str("<p class=\"empty-note\">No trials were read.</p>");
        }
        s.push_str("<div class=\"grid-wrap\"><table id=\"grid\"><thead><tr>");
        s.push_str(
            "<th rowspan=\"2\" class=\"corner\">chart</th><th rowspan=\"2\" class=\"corner\">profile</th>\
             <th rowspan=\"2\" class=\"corner\">trials</th>",
        );
        for (tier, span) in g.tier_spans() {
            w!(
                s,
                "<th colspan=\"{span}\" class=\"tier\">{}</th>",
                esc(tier)
            );
        }
        s.push_str("</tr><tr>");
        let mut prev_tier = "";
        for c in &g.columns {
            let start = if c.tier != prev_tier {
                " tier-start"
            } else {
                ""
            };
            prev_tier = &c.tier;
            w!(
                s,
                "<th class=\"check{start}\" title=\"{}\"><span>{}</span></th>",
                esc(&c.label()),
                esc(&c.check)
            );
        }
        s.push_str("</tr></thead><tbody>");
        for (ri, row) in g.rows.iter().enumerate() {
            let chart_rows = g.rows.iter().filter(|r| r.chart == row.chart).count();
            let first_of_chart = ri == 0 || g.rows[ri - 1].chart != row.chart;
            w!(
                s,
                "<tr{}>",
                if first_of_chart {
                    " class=\"chart-start\""
                } else {
                    ""
                }
            );
            if first_of_chart {
                w!(
                    s,
                    "<th class=\"chart\" rowspan=\"{chart_rows}\">{}</th>",
                    esc(&row.chart)
                );
            }
            let rt = g.row_totals(ri);
            w!(
                s,
                "<td class=\"profile\">{}</td><td class=\"sum {}\">{}</td>",
                esc(&row.profile),
                grid::state(&rt).class(),
                if rt.fail > 0 {
                    format!("<b>{}✗</b>/{}", rt.fail, rt.total())
                } else {
                    rt.total().to_string()
                }
            );
            let mut prev_tier = "";
            for (ci, col) in g.columns.iter().enumerate() {
                let start = if col.tier != prev_tier {
                    " tier-start"
                } else {
                    ""
                };
                prev_tier = &col.tier;
                let t = g.counts(ri, ci);
                let state = grid::state(&t);
                let title = format!(
                    "{}/{} {}: {} passed, {} failed, {} skipped",
                    row.chart,
                    row.profile,
                    col.label(),
                    t.pass,
                    t.fail,
                    t.skip
                );
                let body = match state {
                    // The failure count alone keeps 40 columns on one
                    // screen; the title has the rest.
                    grid::State::Fail => format!(
                        "<a href=\"#{}\">{}✗</a>",
                        grid::cell_anchor(row, col),
                        t.fail
                    ),
                    grid::State::Pass => t.total().to_string(),
                    grid::State::Skip => t.skip.to_string(),
                    grid::State::Empty => String::new(),
                };
                w!(
                    s,
                    "<td class=\"cell {}{start}\" title=\"{}\">{body}</td>",
                    state.class(),
                    esc(&title)
                );
            }
            s.push_str("</tr>");
        }
        s.push_str("</tbody></table></div></section>");
    }

    fn failures(&self, s: &mut String) {
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

    fn failure(&self, s: &mut String, i: usize, t: &TrialRecord) {
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
    fn bundle_for(&self, i: usize, t: &TrialRecord) -> Option<PathBuf> {
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

    fn href(&self, target: &Path) -> Option<String> {
        relative_href(self.out_dir.as_deref()?, target)
    }

    /// Trials with a timeline to draw, with it and a note when it was
    /// recovered from an old record.
    fn timeline_trials(&self) -> Vec<(&'a TrialRecord, Timeline, Option<&'static str>)> {
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

    fn timelines(&self, s: &mut String) {
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

    fn installs(&self, s: &mut String) {
        let cells = &self.inputs.cells;
        w!(
            s,
            "<section id=\"installs\"><h2>Installs <span class=\"count\">{}</span></h2>",
            cells.len()
        );
        if cells.is_empty() {
            s.push_str(
                "<p class=\"empty-note\">No <code>cells.jsonl</code>: no cluster install was recorded.</p></section>",
            );
            return;
        }
        // In the order the installs went through them, from the records.
        let phases: Vec<&str> = order::merged(
            cells
                .iter()
                .map(|c| c.phases.iter().map(|p| p.name.as_str())),
        );
        let total = |c: &CellRecord| c.phases.iter().map(|p| p.duration_ms).sum::<u64>();
        let longest = cells.iter().map(total).max().unwrap_or(0).max(1);

        s.push_str("<p class=\"legend\">Time from namespace to every workload ready, per install; bars share one scale. ");
        for (k, p) in phases.iter().enumerate() {
            w!(
                s,
                "<span class=\"swatch ph ph{}\"></span> {} ",
                k.min(5),
                esc(p)
            );
        }
        s.push_str("</p><div class=\"table-wrap\"><table class=\"phases\"><thead><tr><th>chart / profile</th><th>run</th><th>namespace</th><th class=\"barcol\">phases</th>");
        for p in &phases {
            w!(s, "<th class=\"num\">{}</th>", esc(p));
        }
        s.push_str("<th class=\"num\">total</th></tr></thead><tbody>");

        let mut order: Vec<usize> = (0..cells.len()).collect();
        order.sort_by(|&a, &b| {
            let (a, b) = (&cells[a], &cells[b]);
            (&a.chart, &a.profile, &a.run, &a.namespace).cmp(&(
                &b.chart,
                &b.profile,
                &b.run,
                &b.namespace,
            ))
        });
        let cols = phases.len() + 5;
        for ci in order {
            let c = &cells[ci];
            let by_name: BTreeMap<&str, u64> = c
                .phases
                .iter()
                .map(|p| (p.name.as_str(), p.duration_ms))
                .collect();
            w!(
                s,
                "<tr id=\"{}\"><td><b>{}</b> / {}</td><td><code>{}</code></td><td><code>{}</code></td><td class=\"barcol\"><div class=\"bar\">",
                install_anchor(c),
                esc(&c.chart),
                esc(&c.profile),
                esc(&c.run),
                esc(&c.namespace)
            );
            for p in &c.phases {
                let k = phases.iter().position(|x| *x == p.name).unwrap_or(0);
                w!(
                    s,
                    "<span class=\"ph ph{}\" style=\"width:{:.2}%\" title=\"{}: {}\"></span>",
                    k.min(5),
                    p.duration_ms as f64 * 100.0 / longest as f64,
                    esc(&p.name),
                    duration(p.duration_ms)
                );
            }
            s.push_str("</div></td>");
            for p in &phases {
                match by_name.get(p) {
                    Some(ms) => w!(s, "<td class=\"num\">{}</td>", duration(*ms)),
                    None => w!(s, "<td class=\"num muted\">–</td>"),
                };
            }
            w!(
                s,
                "<td class=\"num\"><b>{}</b></td></tr>",
                duration(total(c))
            );
            let bundle = c
                .bundle
                .as_deref()
                .and_then(|b| {
                    resolve(self.inputs.cell_dir(ci), Path::new(b))
                        .into_iter()
                        .find(|p| p.is_dir())
                })
                .and_then(|p| Some((self.href(&p)?, bundle_label(&p))));
            if c.overlay.is_some() || bundle.is_some() {
                w!(s, "<tr class=\"extra\"><td colspan=\"{cols}\">");
                if let Some((href, label)) = bundle {
                    w!(
                        s,
                        "<p>diagnostics bundle: <a class=\"bundle\" href=\"{}/\">{}</a></p>",
                        esc(&href),
                        esc(&label)
                    );
                }
                if let Some(o) = &c.overlay {
                    w!(
                        s,
                        "<details class=\"overlay\"><summary>overlay <code>{}</code> ({} lines)</summary><pre>{}</pre></details>",
                        esc(&o.path),
                        o.text.lines().count(),
                        esc(&o.text)
                    );
                }
                s.push_str("</td></tr>");
            }
        }
        s.push_str("</tbody></table></div></section>");
    }

    fn skips(&self, s: &mut String) {
        let skipped: Vec<&TrialRecord> = self
            .trials()
            .map(|(_, t)| t)
            .filter(|t| matches!(t.verdict.outcome, Outcome::Skip(_) | Outcome::Waived(_)))
            .collect();
        w!(
            s,
            "<section id=\"skipped\"><h2>Skipped <span class=\"count\">{}</span></h2>",
            skipped.len()
        );
        if skipped.is_empty() {
            s.push_str("<p class=\"empty-note\">Nothing was skipped.</p></section>");
            return;
        }
        w!(
            s,
            "<details class=\"skips\"><summary>{} trial{} not applicable, with the reason</summary>\
             <table class=\"list\"><thead><tr><th>trial</th><th>run</th><th>reason</th></tr></thead><tbody>",
            skipped.len(),
            plural(skipped.len())
        );
        for t in skipped {
            let reason = match &t.verdict.outcome {
                Outcome::Skip(r) => r.clone(),
                Outcome::Waived(r) => format!("waived: {r}"),
                _ => String::new(),
            };
            w!(
                s,
                "<tr><td><code>{}</code></td><td><code>{}</code></td><td>{}</td></tr>",
                esc(&t.name),
                esc(&t.run),
                esc(&reason)
            );
        }
        s.push_str("</tbody></table></details></section>");
    }

    fn footer(&self, s: &mut String) {
        let bad = &self.inputs.malformed;
        s.push_str("<footer>");
        if bad.is_empty() {
            s.push_str("<p>Every input line was read.</p>");
        } else {
            w!(
                s,
                "<div id=\"input-problems\" class=\"problems\"><h2>{} unreadable line{} left out</h2><ul>",
                bad.len(),
                plural(bad.len())
            );
            for m in bad.iter().take(MALFORMED_SHOWN) {
                w!(s, "<li><code>{}</code></li>", esc(&m.to_string()));
            }
            if bad.len() > MALFORMED_SHOWN {
                w!(s, "<li>… and {} more</li>", bad.len() - MALFORMED_SHOWN);
            }
            s.push_str("</ul></div>");
        }
        s.push_str("<p>Generated by <code>vitals-report</code> (<code>make report</code>); the page needs no network.</p></footer>");
    }
}

const LEGACY_NOTE: &str = "from an old-format record: no cpu target or load-stop mark";

fn evidence(s: &mut String, v: &Verdict, object: &str) {
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
        }
    }
    findings_table(s, &mut findings);
}

/// Consecutive findings read best as one table.
fn findings_table(s: &mut String, findings: &mut Vec<&Finding>) {
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

fn outcome_badge(o: &Outcome) -> (&'static str, &'static str) {
    match o {
        Outcome::Pass => ("pass", "PASS"),
        Outcome::Fail => ("fail", "FAIL"),
        Outcome::Skip(_) => ("skip", "SKIP"),
        Outcome::Waived(_) => ("skip", "WAIVED"),
    }
}

/// The path after `diagnostics: ` in a hint, to the end of its line.
fn hint_path(hint: &str) -> Option<&str> {
    let at = hint.find("diagnostics: ")? + "diagnostics: ".len();
    let p = hint[at..].lines().next()?.trim();
    (!p.is_empty()).then_some(p)
}

/// Where a recorded bundle path may be now, most literal first.
fn resolve(dir: &Path, p: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if p.is_absolute() {
        out.push(p.to_path_buf());
    } else {
        out.push(dir.join(p));
    }
    // Downloaded CI artifacts keep `bundles/<namespace>` under the input
    // directory but not the absolute path of the machine that wrote it.
    let parts: Vec<Component> = p.components().collect();
    if let Some(at) = parts.iter().rposition(|c| c.as_os_str() == "bundles") {
        out.push(dir.join(parts[at..].iter().collect::<PathBuf>()));
    }
    out
}

/// `bundles/<namespace>`: what a person recognises of a bundle path.
fn bundle_label(p: &Path) -> String {
    let parts: Vec<Component> = p.components().collect();
    let from = parts
        .iter()
        .rposition(|c| c.as_os_str() == "bundles")
        .unwrap_or(parts.len().saturating_sub(1));
    parts[from..]
        .iter()
        .collect::<PathBuf>()
        .display()
        .to_string()
}

/// A relative URL from directory `from` to `to`, percent-encoded, or `None`
/// when either does not exist.
pub fn relative_href(from: &Path, to: &Path) -> Option<String> {
    let from = from.canonicalize().ok()?;
    let to = to.canonicalize().ok()?;
    let (f, t): (Vec<_>, Vec<_>) = (from.components().collect(), to.components().collect());
    let common = f.iter().zip(&t).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".into(); f.len() - common];
    parts.extend(
        t[common..]
            .iter()
            .map(|c| percent_encode(&c.as_os_str().to_string_lossy())),
    );
    Some(if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    })
}

fn percent_encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            w!(out, "%{b:02X}");
        }
    }
    out
}

fn duration(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 120_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        format!("{}m {:02}s", ms / 60_000, (ms % 60_000) / 1000)
    }
}

fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_string(),
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Opens the failure (or every failure of the grid cell) that the address
/// names, also when the fragment changes after load (a click in the grid).
const JS: &str = r#"
(function () {
  function reveal() {
    var raw = location.hash.slice(1);
    if (!raw) return;
    var el = document.getElementById(raw);
    if (!el) { try { el = document.getElementById(decodeURIComponent(raw)); } catch (e) {} }
    if (!el) return;
    for (var p = el; p; p = p.parentElement) { if (p.tagName === 'DETAILS') p.open = true; }
    var inner = el.querySelectorAll('details.failure');
    for (var i = 0; i < inner.length; i++) inner[i].open = true;
    el.scrollIntoView();
  }
  window.addEventListener('hashchange', reveal);
  reveal();
})();
"#;

const CSS: &str = r#"
:root { --ink:#1f2933; --muted:#5f6b76; --line:#d5dbe1; --bg:#f5f6f8;
  --pass:#1b5e20; --pass-bg:#c8e6c9; --fail:#c62828; --fail-bg:#d32f2f; --skip-bg:#cfd8dc; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--ink);
  font:14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
code, pre { font-family: ui-monospace, "SFMono-Regular", "DejaVu Sans Mono", Menlo, monospace; font-size:12px; }
header { background:#1f2933; color:#fff; padding:18px 20px 12px; }
header h1 { margin:0 0 10px; font-size:20px; font-weight:600; letter-spacing:.2px; }
header code { color:#e3f2fd; }
.totals { display:flex; gap:12px; flex-wrap:wrap; }
.total { padding:6px 14px; border-radius:6px; font-size:15px; color:#fff; text-decoration:none; }
.total b { font-size:22px; margin-right:4px; }
.total.fail { background:var(--fail-bg); } .total.pass { background:#2e7d32; } .total.skip { background:#607d8b; }
.meta { color:#cfd8dc; margin:10px 0 6px; font-size:13px; }
nav { display:flex; gap:16px; flex-wrap:wrap; font-size:13px; }
nav a { color:#90caf9; } nav a.warn { color:#ffcc80; font-weight:600; }
main { padding:8px 20px 24px; }
section { margin:22px 0; }
h2 { font-size:17px; margin:0 0 8px; border-bottom:2px solid var(--line); padding-bottom:4px; }
h3 { font-size:14px; margin:14px 0 6px; }
.count { background:#e1e5ea; border-radius:10px; padding:1px 8px; font-size:12px; font-weight:600; color:var(--muted); }
.legend { color:var(--muted); font-size:12px; margin:4px 0 10px; }
.swatch { display:inline-block; min-width:26px; height:18px; line-height:18px; text-align:center; border-radius:3px; margin:0 2px 0 10px; vertical-align:middle; font-size:11px; }
.swatch.pass { background:var(--pass-bg); color:var(--pass); } .swatch.fail { background:var(--fail-bg); color:#fff; font-weight:700; }
.swatch.skip { background:var(--skip-bg); color:#37474f; } .swatch.empty { background:#fff; border:1px dashed #c5ccd3; }
.empty-note { color:var(--muted); font-style:italic; }
.grid-wrap, .table-wrap { overflow-x:auto; background:#fff; border:1px solid var(--line); border-radius:6px; padding:8px; }
#grid { border-collapse:separate; border-spacing:2px; font-size:11.5px; }
#grid th { font-weight:600; color:#37474f; }
#grid th.corner { text-align:left; vertical-align:bottom; padding:2px 6px; }
#grid th.tier { background:#eceff1; border-radius:3px; padding:3px 4px; text-transform:uppercase; font-size:11px; letter-spacing:.6px; }
#grid th.check { vertical-align:bottom; padding:4px 0; font-weight:500; }
#grid th.check span { writing-mode:vertical-rl; transform:rotate(180deg); white-space:nowrap; display:inline-block; }
#grid th.chart { text-align:left; vertical-align:top; padding:5px 6px 0 2px; white-space:nowrap; font-size:12.5px; }
#grid tr.chart-start > * { border-top:2px solid #b0bec5; }
#grid td.profile { padding:0 5px; white-space:nowrap; color:#37474f; }
#grid td.sum { padding:0 5px; text-align:right; white-space:nowrap; color:var(--muted); }
#grid td.sum.fail { color:var(--fail); }
#grid .tier-start { border-left:3px solid #fff; box-shadow:-2px 0 0 #b0bec5; }
td.cell { min-width:24px; height:26px; padding:0 2px; text-align:center; border-radius:3px; font-variant-numeric:tabular-nums; }
td.cell.pass { background:var(--pass-bg); color:var(--pass); }
td.cell.fail { background:var(--fail-bg); color:#fff; font-weight:700; }
td.cell.fail a { color:#fff; text-decoration:none; display:block; padding:4px 0; white-space:nowrap; }
td.cell.fail a:hover { background:#b71c1c; border-radius:3px; }
td.cell.skip { background:var(--skip-bg); color:#37474f; }
td.cell.empty { background:#fafbfc; }
.fgroup { background:#fff; border:1px solid var(--line); border-left:4px solid var(--fail); border-radius:6px; padding:2px 14px 10px; margin:12px 0; }
.fgroup h3 a.up { font-weight:400; font-size:12px; margin-left:8px; }
details.failure { border-top:1px solid #eceff1; padding:6px 0; }
details.failure > summary { cursor:pointer; }
details.failure[open] > summary { font-weight:600; }
details.failure .body { padding:6px 0 4px 22px; }
.badge { display:inline-block; font-size:10px; font-weight:700; border-radius:3px; padding:1px 5px; color:#fff; letter-spacing:.5px; }
.badge.fail { background:var(--fail-bg); } .badge.pass { background:#2e7d32; } .badge.skip { background:#78909c; }
.run { color:var(--muted); font-size:12px; }
.observed { color:var(--fail); }
dl { display:grid; grid-template-columns:max-content 1fr; gap:2px 14px; margin:4px 0 10px; }
dt { color:var(--muted); } dd { margin:0; }
table.findings, table.list, table.phases { border-collapse:collapse; margin:6px 0 10px; font-size:13px; }
table.phases { width:100%; } table.phases td { white-space:nowrap; }
table.findings th, table.findings td, table.list th, table.list td, table.phases th, table.phases td {
  border:1px solid #e0e4e8; padding:4px 8px; text-align:left; vertical-align:top; }
table.findings th, table.list th, table.phases th { background:#f1f3f5; font-weight:600; }
.command { margin:6px 0 10px; }
.argv { background:#263238; color:#eceff1; padding:2px 6px; border-radius:3px; }
.exit { font-size:12px; color:var(--muted); } .exit.nonzero { color:var(--fail); font-weight:600; }
pre { white-space:pre-wrap; word-break:break-word; background:#f3f5f7; border:1px solid #e3e7eb; border-radius:4px; padding:8px 10px; max-height:30em; overflow:auto; margin:6px 0; }
pre.stderr { background:#fff8f8; border-color:#f3d4d4; }
.hint { background:#fffbe6; border:1px solid #f5e3a3; border-radius:4px; padding:6px 10px; }
.links { font-size:13px; }
.charts { display:flex; flex-wrap:wrap; gap:14px; }
figure.hpa { margin:0; background:#fff; border:1px solid var(--line); border-radius:6px; padding:8px 10px; }
figcaption { font-size:13px; margin-bottom:4px; }
svg.hpa-chart { max-width:100%; height:auto; display:block; }
.timeline { margin:6px 0; background:#fff; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
td.muted { color:#9aa5b1; }
.barcol { min-width:260px; width:40%; }
.bar { display:flex; height:16px; background:#f1f3f5; border-radius:3px; overflow:hidden; }
.ph { display:inline-block; height:100%; }
.ph0 { background:#90a4ae; } .ph1 { background:#ffb74d; } .ph2 { background:#42a5f5; } .ph3 { background:#66bb6a; }
.ph4 { background:#ab47bc; } .ph5 { background:#8d6e63; }
.swatch.ph { min-width:14px; height:12px; }
tr.extra td { background:#fcfcfd; padding:2px 10px 6px 24px; }
tr.extra p { margin:4px 0; }
details.overlay > summary { cursor:pointer; color:#1565c0; }
details.skips > summary { cursor:pointer; }
footer { padding:10px 20px 28px; color:var(--muted); font-size:12px; border-top:1px solid var(--line); }
.problems { background:#fff4e5; border:1px solid #ffcc80; border-radius:6px; padding:4px 14px; color:#5d4037; }
.problems h2 { border:0; font-size:14px; }
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use vitals_checks::record::{Overlay, Phase};

    fn trial(name: &str, v: Verdict) -> TrialRecord {
        let p: Vec<&str> = name.splitn(5, '/').collect();
        TrialRecord {
            run: "r1".into(),
            name: name.into(),
            chart: p[0].into(),
            profile: p[1].into(),
            tier: p[2].into(),
            check: p[3].into(),
            object: p.get(4).unwrap_or(&"").to_string(),
            duration_ms: 12,
            verdict: v,
            k8s: None,
        }
    }

    fn inputs(dir: &Path, trials: Vec<TrialRecord>, cells: Vec<CellRecord>) -> Inputs {
        let mut inputs = Inputs::default();
        let lines = |v: Vec<String>| v.join("\n").into_bytes();
        inputs.add_trial_lines(
            dir,
            &dir.join("results.jsonl"),
            &lines(
                trials
                    .iter()
                    .map(|t| serde_json::to_string(t).unwrap())
                    .collect(),
            ),
        );
        inputs.add_cell_lines(
            dir,
            &dir.join("cells.jsonl"),
            &lines(
                cells
                    .iter()
                    .map(|c| serde_json::to_string(c).unwrap())
                    .collect(),
            ),
        );
        inputs
    }

    #[test]
    fn failure_anchors_read_like_the_trial_name() {
        assert_eq!(
            failure_anchor("local", "m/dev/render/lint"),
            "f/local/m/dev/render/lint"
        );
    }

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
    fn the_grid_shows_counts_and_red_cells_link_to_their_failures() {
        let dir = tempfile::tempdir().unwrap();
        let i = inputs(
            dir.path(),
            vec![
                trial("m/dev/render/lint", Verdict::pass("m", "", "")),
                trial("m/dev/render/openapi/a", Verdict::pass("a", "", "")),
                trial("m/dev/render/openapi/b", Verdict::fail("b", "", "bad")),
                trial("m/dev/render/openapi/c", Verdict::skip("c", "crd")),
                trial("m/prod/cluster/hpa/web", Verdict::skip("web", "no hpa")),
            ],
            vec![],
        );
        let html = render(&i, dir.path(), "now");
        assert!(html.contains("<table id=\"grid\">"));
        assert_eq!(html.matches("class=\"cell pass").count(), 1);
        assert_eq!(html.matches("class=\"cell fail").count(), 1);
        assert_eq!(html.matches("class=\"cell skip").count(), 1);
        // 2 rows x 3 columns, 3 of them empty.
        assert_eq!(html.matches("class=\"cell empty").count(), 3);
        assert!(html.contains("m/dev render/openapi: 1 passed, 1 failed, 1 skipped"));
        let anchor = "cell/m/dev/render/openapi";
        assert!(html.contains(&format!("<a href=\"#{anchor}\">1✗</a>")));
        assert!(html.contains(&format!("<div class=\"fgroup\" id=\"{anchor}\">")));
        assert_eq!(html.matches("<details class=\"failure\"").count(), 1);
        assert!(html.contains("id=\"f/r1/m/dev/render/openapi/b\""));
        assert!(html.contains("<b>1</b> failed") && html.contains("<b>2</b> passed"));
    }

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

    #[test]
    fn hint_paths_and_relative_hrefs() {
        assert_eq!(hint_path("diagnostics: /a/b c\nmore"), Some("/a/b c"));
        assert_eq!(hint_path("check metrics-server"), None);
        let root = tempfile::tempdir().unwrap();
        let a = root.path().join("x y/a");
        let b = root.path().join("b");
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        assert_eq!(relative_href(&a, &b).unwrap(), "../../b");
        assert_eq!(relative_href(&b, &a).unwrap(), "../x%20y/a");
        assert_eq!(relative_href(&a, &a).unwrap(), ".");
        assert_eq!(relative_href(&a, &root.path().join("nope")), None);
    }

    #[test]
    fn malformed_lines_are_listed_in_the_footer() {
        let dir = tempfile::tempdir().unwrap();
        let mut i = inputs(dir.path(), vec![], vec![]);
        i.add_trial_lines(
            dir.path(),
            Path::new("e2e/results.jsonl"),
            b"{\"name\": <oops>\n",
        );
        let html = render(&i, dir.path(), "now");
        assert!(html.contains("1 unreadable line left out"));
        assert!(
            html.contains("<li><code>e2e/results.jsonl:1: expected value"),
            "{html}"
        );
        assert!(html.contains("No trials were read."));
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(999), "999 ms");
        assert_eq!(duration(15_210), "15.2 s");
        assert_eq!(duration(125_000), "2m 05s");
        assert_eq!(clip("héllo", 2), "hé…");
        assert_eq!(clip("hé", 2), "hé");
    }
}
