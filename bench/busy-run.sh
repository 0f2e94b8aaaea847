#!/usr/bin/env bash
# Runs a make target (default: e2e) with one core kept busy beside it, to show
# the verdicts do not depend on a quiet machine (issue 17): a CPU burner at
# nice 0 (the same priority as the run), bounded both by the run's end and by
# a hard cap, so a killed run never leaves it spinning.
# Usage: bench/busy-run.sh [make target...]; BURN_CAP (seconds, default 7200).
set -u
cd "$(dirname "$0")/.."
cap=${BURN_CAP:-7200}
log=${BUSY_LOG:-target/busy-run.log}
mkdir -p "$(dirname "$log")"
# `yes` keeps exactly one core at 100% user time and does no I/O.
nice -n 0 timeout "$cap" yes >/dev/null &
burner=$!
trap 'kill "$burner" 2>/dev/null' EXIT
start=$(date +%s)
make "${@:-e2e}" >"$log" 2>&1; rc=$?
kill "$burner" 2>/dev/null
echo "busy run of '${*:-e2e}' at $(git rev-parse --short HEAD) beside one busy core: rc=$rc in $(( $(date +%s) - start ))s"
grep -E 'test result:' "$log" | tail -n 1
grep -E '^test .* FAILED$' "$log" | sort -u
echo "log: $log"
exit $rc
