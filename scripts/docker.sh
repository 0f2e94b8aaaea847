#!/usr/bin/env bash
# Makes a Docker daemon answer on this machine, for kind. Idempotent and fast
# when one already answers (prints the client to use as its last line).
#   - installs Debian's docker.io when no dockerd is present,
#   - on hosts whose capability bounding set lacks CAP_SYS_RESOURCE (sandboxed
#     VMs), installs the vitals-runc OCI runtime wrapper
#     (images/runtime-wrapper) as dockerd's default runtime, because Docker
#     asks for every capability on --privileged and runc fails with
#     "unable to apply caps: operation not permitted",
#   - starts dockerd in the background (log: $VITALS_CACHE/dockerd.log) when
#     PID 1 is not systemd or no service answers,
#   - raises inotify sysctls kind nodes need.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/scripts/versions.env"
. "$here/scripts/cache.sh"

log() { echo "INFO: docker.sh: $*" >&2; }
sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo

# Pick the client that talks to the daemon (a newer /usr/local/bin client is
# fine; fall back to Debian's).
client() {
  local c
  for c in docker /usr/bin/docker /usr/local/bin/docker; do
    if command -v "$c" >/dev/null && timeout 10 "$c" version --format '{{.Server.Version}}' >/dev/null 2>&1; then
      command -v "$c"; return 0
    fi
  done
  return 1
}

fix_sysctls() {
  local k v
  for kv in fs.inotify.max_user_instances=512 fs.inotify.max_user_watches=524288; do
    k=${kv%=*}; v=${kv#*=}
    if [ "$(sysctl -n "$k" 2>/dev/null || echo 0)" -lt "$v" ]; then
      $sudo sysctl -qw "$kv" || echo "WARN: docker.sh: cannot set $kv" >&2
    fi
  done
}

# CAP_SYS_RESOURCE is capability 24.
needs_wrapper() {
  local bnd
  bnd=$(awk '/^CapBnd:/ {print $2}' /proc/self/status)
  (( (0x$bnd >> 24) & 1 )) && return 1 || return 0
}

install_wrapper() {
  local src="$here/images/runtime-wrapper" key dest
  key=$(cat "$src/go.mod" "$src/main.go" | sha256sum | cut -c1-12)
  dest="$VITALS_CACHE/bin/vitals-runc-$key"
  if [ ! -x "$dest" ]; then
    log "building runtime wrapper ($dest)"
    mkdir -p "$(dirname "$dest")"
    (cd "$src" && GOFLAGS= CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$dest" .)
  fi
  if ! cmp -s "$dest" /usr/local/bin/vitals-runc 2>/dev/null; then
    $sudo install -m 0755 "$dest" /usr/local/bin/vitals-runc
    log "installed /usr/local/bin/vitals-runc"
  fi
  local want='{"runtimes":{"vitals-runc":{"path":"/usr/local/bin/vitals-runc"}},"default-runtime":"vitals-runc"}'
  if [ -f /etc/docker/daemon.json ] && grep -q vitals-runc /etc/docker/daemon.json; then return 0; fi
  if [ -s /etc/docker/daemon.json ] && [ "$(tr -d ' \n' </etc/docker/daemon.json)" != "{}" ]; then
    echo "WARN: docker.sh: /etc/docker/daemon.json exists; add $want to it by hand" >&2
    return 0
  fi
  $sudo mkdir -p /etc/docker
  echo "$want" | $sudo tee /etc/docker/daemon.json >/dev/null
  log "registered vitals-runc as default runtime in /etc/docker/daemon.json"
  WRAPPER_CHANGED=1
}

WRAPPER_CHANGED=0
fix_sysctls
if c=$(client) && ! needs_wrapper; then echo "$c"; exit 0; fi

if ! command -v dockerd >/dev/null; then
  log "installing docker.io from Debian"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq docker.io >/dev/null
fi
if needs_wrapper; then install_wrapper; fi

if c=$(client); then
  if [ "$WRAPPER_CHANGED" = 0 ]; then echo "$c"; exit 0; fi
  if [ -f "$VITALS_CACHE/dockerd.pid" ] && kill -0 "$(cat "$VITALS_CACHE/dockerd.pid")" 2>/dev/null; then
    log "reloading dockerd for the new runtime"
    kill -HUP "$(cat "$VITALS_CACHE/dockerd.pid")"; sleep 1; echo "$c"; exit 0
  fi
  echo "WARN: docker.sh: restart your Docker daemon to use the vitals-runc runtime" >&2
  echo "$c"; exit 0
fi

if [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ]; then
  log "starting docker.service"
  $sudo systemctl start docker || true
fi
if ! client >/dev/null; then
  log "starting dockerd in the background (log: $VITALS_CACHE/dockerd.log)"
  # setsid: the daemon outlives this script and its process group.
  $sudo setsid nohup dockerd >>"$VITALS_CACHE/dockerd.log" 2>&1 </dev/null &
  echo $! >"$VITALS_CACHE/dockerd.pid"
fi
for _ in $(seq 1 60); do
  if c=$(client); then log "dockerd answers ($($c version --format '{{.Server.Version}}'))"; echo "$c"; exit 0; fi
  sleep 1
done
echo "error: dockerd did not answer within 60s (see \`$VITALS_CACHE/dockerd.log\`)" >&2
tail -20 "$VITALS_CACHE/dockerd.log" >&2 || true
exit 1
