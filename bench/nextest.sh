#!/usr/bin/env bash
# The whole matrix (unit, render, cluster tiers of every chart x profile, and
# the harness fixtures) under cargo-nextest, one process per trial, timed
# end to end; then what one trial process costs to start
# (bench/trial-start.sh, while the cells are still installed). Issue 16's
# target: no more than 1.5x `make e2e`'s one-process run on the same commit
# and machine (bench/matrix.sh records that one). Appends to bench/results.md.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.bin:$PATH"
bash scripts/tools.sh nextest >/dev/null
log=target/nextest-matrix.log
mkdir -p target
start=$(date +%s)
E2E_TIERS=unit,render,cluster cargo nextest run -p e2e --test e2e --profile ci --locked >"$log" 2>&1
rc=$?
wall=$(( $(date +%s) - start ))
summary=$(grep -E '^ +Summary ' "$log" | tail -1 | sed 's/^ *//')
{
  echo
  echo "## $(date -u +%F) whole matrix under cargo-nextest, $(git rev-parse --short HEAD), $(nproc) cores"
  echo
  echo "\`E2E_TIERS=unit,render,cluster cargo nextest run -p e2e --test e2e --profile ci\`: exit $rc in ${wall} s end to end (build, list, setup script, trials)."
  echo
  echo "nextest: ${summary:-no summary line (see $log)}"
  grep -E '^ +(FAIL|TIMEOUT) ' "$log" | sed 's/^ */- /' | sort -u | head -20
} | tee -a bench/results.md
[ "$rc" = 0 ] && bash bench/trial-start.sh
exit $rc
