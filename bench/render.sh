#!/usr/bin/env bash
# Render-tier benchmark: wall time and peak memory of the whole render
# matrix (every chart x profile, every check, plus the harness fixtures),
# cold (no render cache: helm runs for every cell) and warm (cached renders),
# and `helm template` + `helm lint` alone per cell for comparison with the
# way people run chart checks by hand. Appends to bench/results.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.bin:$PATH"
# Render tier only: the cluster tier is measured from real runs (see below).
export E2E_TIERS=unit,render
cargo test -p e2e --test e2e --no-run --locked 2>/dev/null
bin=$(cargo test -p e2e --test e2e --no-run --locked --message-format=json 2>/dev/null | python3 -c '
import json,sys
for l in sys.stdin:
    m=json.loads(l)
    if m.get("reason")=="compiler-artifact" and m.get("executable") and m["target"]["name"]=="e2e": print(m["executable"])' | tail -1)
out=bench/results.md
tmp=$(mktemp)
run() { # label, then test-binary arguments (a filter)
  local label=$1; shift
  ( cd suites && /usr/bin/time -f '%e %M' "$bin" -q "$@" >/dev/null 2>"$tmp" ) || true
  read -r secs kb < <(tail -1 "$tmp")
  printf '| %s | %s s | %s MiB |\n' "$label" "$secs" "$((kb / 1024))"
}
trials=$(cd suites && "$bin" --list 2>/dev/null | grep -c ': test$')
{
  echo
  echo "## $(date -u +%F) render tier on $(nproc) cores, $(helm version --short 2>/dev/null)"
  echo
  echo "$trials trials (5 charts x 2 profiles + harness fixtures)."
  echo
  echo "| run | wall | peak RSS |"
  echo "| --- | --- | --- |"
  rm -rf target/e2e/render-cache
  run "cold: no render cache (helm dependency build + template per cell)"
  run "warm: renders cached by content"
  run "warm, one cell (filter medplum/prod/)" medplum/prod/
  start=$(date +%s.%N)
  for c in medplum health-platform developer-mesh healthcare-backend open-health-exchange; do
    for p in dev prod; do
      helm lint --strict "charts/$c" -f "charts/$c/values-$p.yaml" >/dev/null 2>&1 || true
      helm template "$c" "charts/$c" -f "charts/$c/values-$p.yaml" >/dev/null 2>&1 || true
    done
  done
  printf '| baseline: serial `helm lint --strict` + `helm template`, 10 cells, no checks | %.2f s | - |\n' "$(echo "$(date +%s.%N) - $start" | bc)"
} | tee -a "$out"
rm -f "$tmp"
