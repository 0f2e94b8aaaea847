#!/usr/bin/env bash
# Renders the report of the last run (make report) in headless chromium and
# saves a PNG, e.g. for the README: scripts/report-screenshot.sh docs/report.png
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/e2e/report/screenshot.png}
page=target/e2e/report/index.html
[ -f "$page" ] || { echo "error: no $page: run \`make report\` first" >&2; exit 2; }
bash scripts/browser.sh >/dev/null
mkdir -p "$(dirname "$out")"
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
timeout 60 /usr/bin/chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
  --disable-dev-shm-usage --no-first-run --user-data-dir="$profile" --hide-scrollbars \
  --window-size="${WIDTH:-1400},${HEIGHT:-1800}" --screenshot="$PWD/$out" "file://$PWD/$page" >/dev/null 2>&1
echo "$out"
