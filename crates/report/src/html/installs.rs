//! Install phases per cell (bars on one scale, with overlays and
//! bundles) and the skipped trials with their reasons.

use std::collections::BTreeMap;
use std::path::Path;

use vitals_checks::record::{CellRecord, TrialRecord};
use vitals_checks::Outcome;

use crate::escape::esc;
use crate::order;

use super::links::{bundle_label, resolve};
use super::page::{duration, install_anchor, plural, Page};

impl<'a> Page<'a> {
    pub(super) fn installs(&self, s: &mut String) {
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

    pub(super) fn skips(&self, s: &mut String) {
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
}
