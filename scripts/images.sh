#!/usr/bin/env bash
# Builds the data-service images (and the agent image) the charts need, with
# no registry: a Debian bookworm base from mmdebstrap (images/base), Debian
# packages (postgres, redis, rabbitmq) and Go modules (exporters, minio).
#   images.sh build [NAME...]   build what is missing (default: all); writes
#                               $VITALS_CACHE/images.env (name=ref), which
#                               the runner fills the test overlays'
#                               placeholders from (suites/src/cell/overlay.rs)
#   images.sh list              print name=ref for every image (no build)
#   images.sh load [NAME...]    build, then `kind load docker-image` into
#                               cluster $VITALS_CLUSTER (vitals-<minor>)
# Every image is tagged vitals/<name>:<version>-<key>, key = hash of its
# inputs (versions, base, recipe files, binaries). An unchanged image is not
# rebuilt: `docker image inspect`, then a cached tarball under
# $VITALS_CACHE/images (`docker load`), then a build (+ `docker save`).
# Build times go to $VITALS_CACHE/logs/images-times.log.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/scripts/versions.env"
. "$here/scripts/cache.sh"
export DOCKER_BUILDKIT=0
imgs="$VITALS_CACHE/images"; rootfs_dir="$VITALS_CACHE/rootfs"
mkdir -p "$imgs" "$rootfs_dir" "$VITALS_CACHE/logs"
times="$VITALS_CACHE/logs/images-times.log"
t0=$(date +%s)
log() { echo "INFO: images: $* (+$(( $(date +%s) - t0 ))s)" >&2; }
warn() { echo "WARN: images: $*" >&2; }
hash() { sha256sum | cut -c1-12; }
ALL="base postgres postgres-exporter redis redis-exporter rabbitmq minio agent"

docker_bin=""
docker() {
  if [ -z "$docker_bin" ]; then docker_bin=$("$here/scripts/docker.sh" | tail -n1); fi
  "$docker_bin" "$@"
}
quiet_build() { docker build "$@" 2> >(grep -v -e DEPRECATED -e 'BuildKit is' -e 'environment-variable' -e '^$' >&2); }
# files_key DIR: names + contents of every file in DIR (sorted).
files_key() { (cd "$1" && find . -type f ! -name '*.tar' | LC_ALL=C sort | while read -r f; do echo "$f"; cat "$f"; done); }

# --- base -------------------------------------------------------------------
base_ref() { echo "vitals/debian:bookworm-$(cat "$here/images/base/rootfs.sh" | hash)"; }
build_base() {
  local ref tar key start
  ref=$(base_ref); key=${ref##*-}
  tar="$rootfs_dir/debian-bookworm-$key.tar"
  if docker image inspect "$ref" >/dev/null 2>&1; then echo "$ref"; return; fi
  start=$(date +%s)
  if [ ! -f "$tar" ]; then
    command -v mmdebstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >/dev/null
    log "mmdebstrap Debian bookworm base ($ref)"
    nice -n 10 "$here/images/base/rootfs.sh" "$tar" >&2
  fi
  docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' --change 'CMD ["bash"]' \
    --message "vitals base $key (images/base/rootfs.sh)" "$tar" "$ref" >/dev/null
  echo "$(date -u +%FT%TZ) base $ref $(( $(date +%s) - start ))s" >>"$times"
  echo "$ref"
}

# --- Go binaries ------------------------------------------------------------
# Only some module versions are served by the proxy here, and sum.golang.org
# has no entry for these two modules, so they skip the checksum DB (GONOSUMDB);
# their content still comes from proxy.golang.org.
gobin_postgres_exporter() {
  LDFLAGS="-X github.com/prometheus/common/version.Version=${POSTGRES_EXPORTER_VERSION#v}" \
    nice -n 10 "$here/images/node/build-go.sh" postgres_exporter github.com/prometheus-community/postgres_exporter \
    "$POSTGRES_EXPORTER_VERSION" github.com/prometheus-community/postgres_exporter/cmd/postgres_exporter | tail -n1
}
gobin_redis_exporter() {
  GONOSUMDB=github.com/oliver006/redis_exporter LDFLAGS="-X main.BuildVersion=$REDIS_EXPORTER_VERSION" \
    nice -n 10 "$here/images/node/build-go.sh" redis_exporter github.com/oliver006/redis_exporter \
    "$REDIS_EXPORTER_VERSION" github.com/oliver006/redis_exporter | tail -n1
}
# minio: a pseudo-version (MinIO's RELEASE.* tags are not semver) whose
# .info the proxy refuses, so `go install`/`go mod download` fail; a wrapper
# module that requires it builds (go only needs the .mod and .zip).
minio_tag() { # v0.0.0-20260212201848-7aac2a2c5b7c -> 2026-02-12T20-18-48Z
  local ts=${MINIO_MODULE_VERSION#v0.0.0-}; ts=${ts%%-*}
  echo "${ts:0:4}-${ts:4:2}-${ts:6:2}T${ts:8:2}-${ts:10:2}-${ts:12:2}Z"
}
gobin_minio() {
  local v=$MINIO_MODULE_VERSION tag commit key out wrap ldflags start
  tag=$(minio_tag); commit=${v##*-}
  ldflags="-s -w -X github.com/minio/minio/cmd.Version=$(echo "$tag" | sed 's/T\(..\)-\(..\)-/T\1:\2:/')"
  ldflags="$ldflags -X github.com/minio/minio/cmd.ReleaseTag=RELEASE.$tag -X github.com/minio/minio/cmd.CommitID=$commit"
  key=$( { echo "$v $ldflags $(go env GOVERSION)"; declare -f gobin_minio; } | hash)
  out="$VITALS_CACHE/bin/minio-$v-$key"
  if [ -x "$out/minio" ]; then echo "$out/minio"; return; fi
  wrap="$VITALS_CACHE/src/gowrap-minio-$v"
  mkdir -p "$wrap" "$out"
  printf 'module vitals.local/wrap/minio\n\ngo 1.24.0\n\nrequire github.com/minio/minio %s\n' "$v" >"$wrap/go.mod"
  printf '//go:build tools\npackage tools\nimport _ "github.com/minio/minio"\n' >"$wrap/tools.go"
  rm -f "$wrap/go.sum"
  log "building minio $v from its Go module (large: several minutes)"
  start=$(date +%s)
  (cd "$wrap" && export GONOSUMDB=github.com/minio/minio GOFLAGS=-mod=mod CGO_ENABLED=0 &&
    nice -n 10 go mod tidy -e && grep -q "github.com/minio/minio $v" go.mod &&
    nice -n 10 go build -trimpath -ldflags "$ldflags" -o "$out/minio.tmp" github.com/minio/minio) >&2 \
    || { warn "minio $v did not build (log above)"; return 1; }
  mv "$out/minio.tmp" "$out/minio"
  log "built minio in $(( $(date +%s) - start ))s"
  echo "$out/minio"
}
gobin_agent() {
  # The agent's own build script (static musl binary into images/agent/agent).
  nice -n 10 "$here/images/agent/build.sh" | tail -n1
}

# --- images -----------------------------------------------------------------
# image_ref NAME VERSION BASE [BIN...]: the content-keyed reference.
image_ref() {
  local name=$1 version=$2 base=$3; shift 3
  local key
  key=$( { echo "$name $version $base $(portable "$*")"; files_key "$here/images/$name";
    local b; for b in "$@"; do sha256sum <"$b"; done; } | hash)
  echo "vitals/$name:$version-$key"
}
# build_image NAME VERSION BUILD-ARGS(k=v,...) BIN...: prints the ref.
build_image() {
  local name=$1 version=$2 bargs=$3; shift 3
  local base ref tar start ctx ba=() a
  base=$(build_base)
  ref=$(image_ref "$name" "$version" "$base" "$@")
  tar="$imgs/$(echo "$ref" | tr '/:' '__').tar"
  if docker image inspect "$ref" >/dev/null 2>&1; then echo "$ref"; return; fi
  if [ -f "$tar" ]; then
    log "loading $ref from $tar"
    docker load -i "$tar" >/dev/null; echo "$ref"; return
  fi
  start=$(date +%s)
  ctx=$(mktemp -d "$VITALS_CACHE/ctx.XXXXXX")
  cp -a "$here/images/$name/." "$ctx/"
  for a in "$@"; do cp -L "$a" "$ctx/"; done
  ba=(--build-arg "BASE=$base")
  IFS=, read -ra kv <<<"$bargs"
  for a in "${kv[@]}"; do [ -n "$a" ] && ba+=(--build-arg "$a"); done
  log "building $ref"
  if ! nice -n 10 "$docker_bin" build -q --network host --label "vitals.inputs=${ref##*-}" \
      --label "org.opencontainers.image.version=$version" "${ba[@]}" -t "$ref" "$ctx" >"$ctx.log" 2>&1; then
    grep -v -e DEPRECATED -e 'BuildKit is' -e 'environment-variable' "$ctx.log" >&2 || true
    rm -rf "$ctx" "$ctx.log"; warn "build of $ref failed"; return 1
  fi
  rm -rf "$ctx" "$ctx.log"
  docker save -o "$tar.tmp" "$ref" && mv "$tar.tmp" "$tar"
  echo "$(date -u +%FT%TZ) $name $ref $(( $(date +%s) - start ))s $(docker image inspect -f '{{.Size}}' "$ref")B" >>"$times"
  echo "$ref"
}

# build_one NAME: prints NAME=REF (or nothing, with a warning, for a skipped agent).
build_one() {
  local name=$1 bin ref
  case $name in
    base) echo "base=$(build_base)"; return ;;
    postgres) ref=$(build_image postgres "$DEBIAN_POSTGRES_VERSION" "PG_MAJOR=$DEBIAN_POSTGRES_VERSION") ;;
    redis) ref=$(build_image redis "$DEBIAN_REDIS_VERSION" "REDIS_VERSION=$DEBIAN_REDIS_VERSION") ;;
    rabbitmq) ref=$(build_image rabbitmq "$DEBIAN_RABBITMQ_VERSION" "RABBITMQ_VERSION=$DEBIAN_RABBITMQ_VERSION") ;;
    postgres-exporter) bin=$(gobin_postgres_exporter); ref=$(build_image postgres-exporter "${POSTGRES_EXPORTER_VERSION#v}" "" "$bin") ;;
    redis-exporter) bin=$(gobin_redis_exporter); ref=$(build_image redis-exporter "${REDIS_EXPORTER_VERSION#v}" "" "$bin") ;;
    minio) bin=$(gobin_minio); ref=$(build_image minio "RELEASE.$(minio_tag)" "" "$bin") ;;
    agent)
      if [ ! -f "$here/crates/agent/Cargo.toml" ] || [ ! -f "$here/images/agent/Dockerfile" ]; then
        warn "agent: crates/agent or images/agent/Dockerfile missing; skipped"; return 0
      fi
      if ! bin=$(gobin_agent 2>"$VITALS_CACHE/logs/agent-build.log"); then
        warn "agent: cargo build failed, image skipped (see $VITALS_CACHE/logs/agent-build.log):"
        grep -m3 -E '^error' "$VITALS_CACHE/logs/agent-build.log" >&2 || tail -n3 "$VITALS_CACHE/logs/agent-build.log" >&2
        return 0
      fi
      ref=$(build_agent "$bin") ;;
    *) echo "error: unknown image \`$name\` (known: $ALL)" >&2; exit 2 ;;
  esac
  echo "$name=$ref"
}
# The agent image is its owner's Dockerfile (FROM scratch); its version is
# the crate's. Also tagged with the plain version the charts default to.
build_agent() {
  local bin=$1 version ref tar start ctx
  version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$here/Cargo.toml" | head -n1)
  ref="vitals/agent:${version:-0.1.0}-$( { sha256sum <"$bin"; cat "$here/images/agent/Dockerfile"; } | hash)"
  tar="$imgs/$(echo "$ref" | tr '/:' '__').tar"
  if ! docker image inspect "$ref" >/dev/null 2>&1; then
    if [ -f "$tar" ]; then docker load -i "$tar" >/dev/null
    else
      start=$(date +%s); ctx=$(mktemp -d "$VITALS_CACHE/ctx.XXXXXX")
      cp "$here/images/agent/Dockerfile" "$ctx/"; cp -L "$bin" "$ctx/agent"
      quiet_build -q -t "$ref" "$ctx" >/dev/null; rm -rf "$ctx"
      docker save -o "$tar.tmp" "$ref" && mv "$tar.tmp" "$tar"
      echo "$(date -u +%FT%TZ) agent $ref $(( $(date +%s) - start ))s" >>"$times"
    fi
  fi
  docker tag "$ref" "vitals/agent:${version:-0.1.0}"
  echo "$ref"
}

cmd=${1:-build}; shift || true
case $cmd in
  build|load)
    names=${*:-$ALL}
    docker_bin=$("$here/scripts/docker.sh" | tail -n1)
    env="$VITALS_CACHE/images.env"
    # Keep the refs of images not rebuilt this time.
    declare -A refs=()
    if [ -f "$env" ]; then while IFS='=' read -r n r; do [ -n "$n" ] && refs[$n]=$r; done <"$env"; fi
    failed=""
    for n in $names; do
      if line=$(build_one "$n"); then
        [ -n "$line" ] && { refs[$n]=${line#*=}; echo "$line"; }
      else
        failed="$failed $n"; unset "refs[$n]"
      fi
    done
    : >"$env.tmp"
    for n in $ALL; do [ -n "${refs[$n]:-}" ] && echo "$n=${refs[$n]}" >>"$env.tmp"; done
    mv "$env.tmp" "$env"
    log "wrote $env"
    if [ "$cmd" = load ]; then
      kind="$here/.bin/kind"; [ -x "$kind" ] || "$here/scripts/tools.sh" kind >&2
      cluster=${VITALS_CLUSTER:-vitals}
      for n in $names; do
        [ -n "${refs[$n]:-}" ] || continue
        log "kind load ${refs[$n]} -> $cluster"
        "$kind" load docker-image --name "$cluster" "${refs[$n]}" >&2
        if [ "$n" = agent ]; then "$kind" load docker-image --name "$cluster" "${refs[$n]%-*}" >&2; fi
      done
    fi
    [ -z "$failed" ] || { echo "error: images not built:$failed" >&2; exit 1; }
    ;;
  list)
    [ -f "$VITALS_CACHE/images.env" ] && cat "$VITALS_CACHE/images.env" || { echo "error: no $VITALS_CACHE/images.env yet: run scripts/images.sh build" >&2; exit 1; }
    ;;
  *) echo "usage: images.sh build|list|load [NAME...] (names: $ALL)" >&2; exit 2 ;;
esac
