#!/usr/bin/env bash
# Makes Debian's chromium available at /usr/bin/chromium for the report's
# browser test (crates/report/tests/browser.rs). Idempotent and silent when it
# is already there. The package lists are refreshed only when the first
# install fails, because `apt-get update` is the slow part and a fresh
# machine's lists usually already know chromium.
set -euo pipefail

[ -x /usr/bin/chromium ] && exit 0

log() { echo "INFO: browser.sh: $*" >&2; }
sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1

install_chromium() { $sudo apt-get install -y -q --no-install-recommends chromium >/dev/null; }

log "installing Debian's chromium"
if ! install_chromium; then
  log "install failed; refreshing the package lists and retrying"
  $sudo apt-get update -q >/dev/null
  install_chromium
fi
[ -x /usr/bin/chromium ] || { echo "ERROR: browser.sh: /usr/bin/chromium still missing after install" >&2; exit 1; }
log "$(/usr/bin/chromium --version 2>/dev/null || echo chromium installed)"
