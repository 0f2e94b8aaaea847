#!/usr/bin/env bash
# What one trial process costs to start under nextest, which runs every
# trial as its own `e2e --exact <name>` process (issue 16's target: under
# 0.5 s warm). Measures wall time and CPU of a process whose trial itself
# does nothing (the verdict was decided while deriving), so what is left is
# the start: config, the one cell's derivation from its cached render, helm
# discovery, and for a cluster trial attaching to the cluster nextest's
# setup script brought up (E2E_CLUSTER_READY). One process at a time, then
# four at once (nextest starts many). Appends to bench/results.md.
# Usage: bench/trial-start.sh [rounds]; the cluster rows need a cluster
# whose cells are still installed (right after `cargo nextest run -p e2e`).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.bin:$PATH"
rounds=${1:-10}
. scripts/versions.env
export E2E_TIERS=unit,render,cluster NEXTEST_RUN_ID=bench-trial-start
bin=$(cargo test -p e2e --test e2e --no-run --locked --message-format=json 2>/dev/null | python3 -c '
import json,sys
for l in sys.stdin:
    m=json.loads(l)
    if m.get("reason")=="compiler-artifact" and m.get("executable") and m["target"]["name"]=="e2e": print(m["executable"])' | tail -1)
render_trial=medplum/dev/render/template
cluster_trial=medplum/dev/cluster/install
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# one <trial> <parallel>: prints the median wall and CPU seconds per process
one() {
  local trial=$1 par=$2 i j
  for ((i = 0; i < rounds; i++)); do
    for ((j = 0; j < par; j++)); do
      ( cd suites && /usr/bin/time -f '%e %U %S' -o "$tmp/t.$i.$j" "$bin" --exact "$trial" --nocapture >"$tmp/out.$i.$j" 2>&1 ) &
    done
    wait
    for ((j = 0; j < par; j++)); do
      grep -q '1 passed' "$tmp/out.$i.$j" || { echo "error: $trial did not pass:" >&2; tail -5 "$tmp/out.$i.$j" >&2; exit 1; }
    done
  done
  cat "$tmp"/t.* | python3 -c '
import sys, statistics
rows=[list(map(float,l.split())) for l in sys.stdin if l.strip()]
wall=statistics.median(r[0] for r in rows); cpu=statistics.median(r[1]+r[2] for r in rows)
print(f"{wall:.2f} s | {cpu:.2f} s")'
  rm -f "$tmp"/t.*
}
cluster_ready=
if kubectl --kubeconfig "${VITALS_CACHE:-$HOME/.cache/vitals}/kubeconfig-$VITALS_CLUSTER" get ns "medplum-dev" >/dev/null 2>&1; then
  cluster_ready=$VITALS_CLUSTER
fi
{
  echo
  echo "## $(date -u +%F) trial-process start under nextest, $(git rev-parse --short HEAD), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"
  echo
  echo "Median of $rounds rounds; each process runs one trial that is decided while deriving, so its time is the start. Target: under 0.5 s warm."
  echo
  echo "| trial | at once | wall per process | CPU per process |"
  echo "| --- | --- | --- | --- |"
  for par in 1 4; do echo "| \`$render_trial\` | $par | $(one $render_trial $par) |"; done
  if [ -n "$cluster_ready" ]; then
    export E2E_CLUSTER_READY=$cluster_ready
    for par in 1 4; do echo "| \`$cluster_trial\` (installed cell, E2E_CLUSTER_READY) | $par | $(one $cluster_trial $par) |"; done
  else
    echo "| \`$cluster_trial\` | - | not measured: no installed medplum-dev on $VITALS_CLUSTER | |"
  fi
} | tee -a bench/results.md
