#!/usr/bin/env bash
# Whole-matrix benchmark of the cluster tier against the chart-testing way.
# 1. `make e2e` (every chart x profile, every check) timed end to end, with
#    the peak RSS of the largest process (the test binary);
# 2. the install phases of each cell from target/e2e/cells.jsonl;
# 3. with BASELINE=1, bench/baseline.py: ct-install-style serial install
#    --wait + helm test on the same cluster (~15 min; one cell times out).
# Appends to bench/results.md. Needs the kind cluster (make cluster).
set -euo pipefail
cd "$(dirname "$0")/.."
out=bench/results.md
run="bench-$(date -u +%Y%m%dT%H%M%SZ)"
tmp=$(mktemp)
start=$(date +%s)
# Compile first: the timed run (wall and peak RSS) is the matrix, not rustc.
cargo test -p e2e --test e2e --locked --no-run >"target/bench-$run.build.log" 2>&1
status=pass
E2E_RUN=$run /usr/bin/time -f '%e %M' -o "$tmp" make e2e >"target/bench-$run.log" 2>&1 || status=FAIL
read -r secs kb < <(tail -1 "$tmp")
python3 - "$run" "$secs" "$((kb / 1024))" "$status" "target/bench-$run.log" >>"$out" <<'PY'
import json, pathlib, sys, datetime, collections, re
run, secs, mib, status, log = sys.argv[1:]
root = pathlib.Path("target/e2e")
trials = [json.loads(l) for l in (root / "results.jsonl").read_text().splitlines() if l.strip() and f'"run":"{run}"' in l]
cells = [json.loads(l) for l in (root / "cells.jsonl").read_text().splitlines() if l.strip() and f'"run":"{run}"' in l] if (root / "cells.jsonl").exists() else []
count = collections.Counter(t["verdict"]["outcome"] for t in trials)
print(f"\n## {datetime.date.today()} whole matrix: `make e2e` ({status})\n")
print(f"{len(trials)} chart trials ({count['pass']} pass, {count['fail']} fail, {count['skip']} skip) in {float(secs):.0f} s wall; peak RSS of the largest process {mib} MiB.\n")
# The harness's own trials (fixtures caught) are not in results.jsonl.
summary = re.findall(r"test result: (\w+)\. (\d+) passed; (\d+) failed", pathlib.Path(log).read_text(errors="replace"))
if summary:
    ok, passed, failed = summary[-1]
    failing = re.findall(r"^test (\S+) +\.\.\. FAILED$", pathlib.Path(log).read_text(errors="replace"), re.M)
    print(f"libtest, every trial: {passed} passed, {failed} failed{': ' + ', '.join(failing) if failing else ''}.\n")
# When each cell got its room and gave it back (suites/src/capacity.rs).
timeline, pool = {}, ""
cap = root / "capacity.log"
if cap.exists():
    lines = cap.read_text().splitlines()
    starts = [i for i, l in enumerate(lines) if f"run {run}: pool" in l]
    for l in lines[starts[-1]:] if starts else []:
        m = re.match(r"\s*([\d.]+)s (granted|holding|released) (\S+)", l)
        if m:
            what = "released" if m.group(2) == "released" else "granted"
            timeline.setdefault(m.group(3), {})[what] = float(m.group(1))
        elif ": pool " in l:
            pool = l.split(": pool ", 1)[1]
if pool:
    print(f"Room for cells at start: {pool}.\n")
if cells:
    names = ["prepare", "queued", "dependencies", "install", "ready"]
    print("| cell | " + " | ".join(names) + " | room held (s from start) |")
    print("| --- |" + " --- |" * (len(names) + 1))
    for c in sorted(cells, key=lambda c: (c["chart"], c["profile"])):
        ph = {p["name"]: p["duration_ms"] / 1000 for p in c["phases"]}
        t = timeline.get(c["namespace"], {})
        held = f"{t['granted']:.0f}-{t['released']:.0f}" if "granted" in t and "released" in t else "-"
        print(f"| {c['chart']}/{c['profile']} | " + " | ".join(f"{ph.get(n, 0):.1f} s" for n in names) + f" | {held} |")
PY
{ echo; echo "HPA trials: idle cpu before the load and the margin to the target (bench/hpa_margins.py):"; echo; python3 bench/hpa_margins.py "$run"; } >>"$out"
if [ "${BASELINE:-0}" = 1 ]; then E2E_MATRIX_SECONDS=$secs python3 bench/baseline.py ${BASELINE_ARGS:-}; fi
echo "matrix: ${secs}s ($status), total with baseline $(( $(date +%s) - start ))s"
