//! The page's inline CSS and its few lines of JS.

/// Opens the failure (or every failure of the grid cell) that the address
/// names, also when the fragment changes after load (a click in the grid).
pub(super) const JS: &str = r#"
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

pub(super) const CSS: &str = r#"
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
svg.hpa-chart, svg.traffic-chart { max-width:100%; height:auto; display:block; }
figure.traffic { margin:0; background:#fff; border:1px solid var(--line); border-radius:6px; padding:8px 10px; }
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
