#!/usr/bin/env python3
"""Summarises the cluster-tier JSON lines (target/e2e/results.jsonl) of the
latest run of each trial: per cell, trials and outcomes; per HPA, the
reaction time from load start to the first scale-up (seed 000 promises
under 30 s) and the peak. Appends a section to bench/results.md."""
import datetime
import json
import pathlib
import re
import sys

root = pathlib.Path(__file__).resolve().parent.parent
src = root / "target/e2e/results.jsonl"
if not src.exists():
    sys.exit(f"no results at {src}: run the cluster tier first (make e2e)")
latest = {}
for line in src.read_text().splitlines():
    if line.strip():
        r = json.loads(line)
        if r["tier"] == "cluster":
            latest[r["name"]] = r
cells = {}
for r in latest.values():
    c = cells.setdefault(f'{r["chart"]}/{r["profile"]}', {"pass": 0, "fail": 0, "skip": 0, "slowest": 0})
    c[r["verdict"]["outcome"]] += 1
    c["slowest"] = max(c["slowest"], r["duration_ms"])
out = [f"\n## {datetime.date.today()} cluster tier (latest run of each trial)\n",
       "| cell | pass | fail | skip | slowest trial |", "| --- | --- | --- | --- | --- |"]
for k in sorted(cells):
    c = cells[k]
    out.append(f'| {k} | {c["pass"]} | {c["fail"]} | {c["skip"]} | {c["slowest"] / 1000:.0f} s |')
out += ["", "| HPA | first scale-up after load start | peak | outcome |", "| --- | --- | --- | --- |"]
for name in sorted(n for n in latest if "/cluster/hpa/" in n):
    v = latest[name]["verdict"]
    m = re.search(r"first scale-up after ([0-9.]+)s; peak (\d+)", v.get("observed", ""))
    up, peak = (f"{m.group(1)} s", m.group(2)) if m else ("-", "-")
    out.append(f'| {name} | {up} | {peak} | {v["outcome"]} |')
text = "\n".join(out) + "\n"
print(text)
with open(root / "bench/results.md", "a") as f:
    f.write(text)
