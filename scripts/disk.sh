#!/usr/bin/env bash
# Disk preflight for CI and `make test`. A cold `cargo test --workspace`
# writes ~5 GiB into target/; a session's CI run once died half-way through
# compiling with "No space left on device". This prints what is free and, when
# less than VITALS_MIN_FREE_GIB (default 12) is left on the checkout's file
# system, frees what can be rebuilt from inputs, cheapest rebuild first:
#   1. dangling Docker images (superseded builds; the tagged ones stay),
#   2. the Go build cache (only a tool rebuild reads it; tools and images are
#      cached as finished binaries and tarballs under $VITALS_CACHE/bin, images),
#   3. the Go module cache (a tool rebuild then downloads modules again).
# It never touches the finished tools, image tarballs or the kind cluster.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/scripts/cache.sh"

min=${VITALS_MIN_FREE_GIB:-12}
free_gib() { df -P -k "$here" | awk 'NR==2 {printf "%d", $4 / 1048576}'; }
say() { echo "INFO: disk.sh: $*" >&2; }

say "$(free_gib) GiB free on $(df -P "$here" | awk 'NR==2 {print $6}') (want ${min})"
[ "$(free_gib)" -ge "$min" ] && exit 0

if command -v docker >/dev/null && timeout 10 docker info >/dev/null 2>&1; then
  docker image prune -f >/dev/null 2>&1 || true
  say "pruned dangling Docker images: $(free_gib) GiB free"
  [ "$(free_gib)" -ge "$min" ] && exit 0
fi
if [ -d "$GOCACHE" ]; then
  rm -rf "$GOCACHE"
  say "removed the Go build cache ($GOCACHE): $(free_gib) GiB free"
  [ "$(free_gib)" -ge "$min" ] && exit 0
fi
if [ -d "$GOMODCACHE" ]; then
  chmod -R u+w "$GOMODCACHE" 2>/dev/null || true
  rm -rf "$GOMODCACHE"
  say "removed the Go module cache ($GOMODCACHE): $(free_gib) GiB free"
  [ "$(free_gib)" -ge "$min" ] && exit 0
fi
echo "ERROR: disk.sh: only $(free_gib) GiB free on the file system of $here after freeing every rebuildable cache;" \
  "a cold build needs ~${min} GiB. Free space (old checkouts' target/ directories are the usual culprit) and rerun." >&2
exit 1
