#!/usr/bin/env python3
"""Every HPA trial of one run: its pods' idle cpu before the load, the
margin to its target, when it first scaled up and how far. Issue 17 asked
for these numbers: an HPA whose pods idle close to their target decides on
the machine's noise, not the chart. Usage: bench/hpa_margins.py RUN [results.jsonl]"""
import json
import pathlib
import re
import sys

run = sys.argv[1]
path = pathlib.Path(sys.argv[2] if len(sys.argv) > 2 else "target/e2e/results.jsonl")
rows = []
for line in path.read_text().splitlines():
    if f'"run":"{run}"' not in line or "/hpa/" not in line:
        continue
    r = json.loads(line)
    if r["check"] != "hpa":
        continue
    v = r["verdict"]
    texts = [e.get("text", "") for e in v.get("evidence", []) if e.get("type") == "note"] + (v.get("notes") or [])
    idle = next((t for t in texts if t.startswith("idle:")), "")
    m = re.search(r"idle: (\d+)% .*target (\d+)%, margin (-?\d+)", idle)
    m2 = re.search(r"idle at (\d+)% of their cpu request against a (\d+)% target \(margin (-?\d+)", v.get("observed", ""))
    idle_pct, target, margin = (m or m2).groups() if (m or m2) else ("?", "?", "?")
    up = re.search(r"first scale-up after ([\d.]+)s; peak (\d+)", v.get("observed", ""))
    rows.append((r["name"].split("/cluster/hpa/")[0], r["object"], v["outcome"], idle_pct, target, margin,
                 f"{up.group(1)} s" if up else "-", up.group(2) if up else "-"))
print(f"| cell | HPA | verdict | idle cpu before the load | target | margin (points) | first scale-up | peak |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
for row in sorted(rows):
    print("| " + " | ".join(f"{x}%" if i in (3, 4) and x != "?" else str(x) for i, x in enumerate(row)) + " |")
