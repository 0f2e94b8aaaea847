//! The grid: one row per chart x profile, one column per check, red
//! cells linking to their failures.

use crate::escape::esc;
use crate::grid;

use super::page::Page;

impl<'a> Page<'a> {
    pub(super) fn grid(&self, s: &mut String) {
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
}

#[cfg(test)]
mod tests {
    use super::super::render;
    use super::super::testing::{inputs, trial};
    use vitals_checks::Verdict;

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
}
