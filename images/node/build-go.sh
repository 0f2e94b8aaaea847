#!/usr/bin/env bash
# Builds one static Go binary from a Go module (or a local module folder) into
# the cache, keyed by its inputs; prints the binary's path on stdout.
#   build-go.sh NAME MODULE VERSION PKG [REPLACED_MODULE...]
#   build-go.sh NAME local DIR PKG
# A module with `replace` directives (etcd) can't be `go install`ed, so a
# wrapper module under $VITALS_CACHE/src requires MODULE@VERSION and points
# each REPLACED_MODULE at the same VERSION. Extra -ldflags come from LDFLAGS.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
. "$here/scripts/versions.env"
. "$here/scripts/cache.sh"
name=$1 mod=$2 version=$3 pkg=$4; shift 4
replaced=("$@")
ldflags="-s -w ${LDFLAGS:-}"

if [ "$mod" = local ]; then
  src=$(cd "$version" && pwd)
  key=$( { echo "$ldflags $(go env GOVERSION)"; cat "$0"; cd "$src" && find . -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) | sort | xargs cat; } | sha256sum | cut -c1-12)
  out="$VITALS_CACHE/bin/$name-local-$key"
else
  key=$( { echo "$mod $version $pkg ${replaced[*]} $ldflags $(go env GOVERSION)"; cat "$0"; } | sha256sum | cut -c1-12)
  out="$VITALS_CACHE/bin/$name-$version-$key"
fi
if [ -x "$out/$name" ]; then echo "$out/$name"; exit 0; fi

start=$(date +%s)
mkdir -p "$out"
if [ "$mod" = local ]; then
  (cd "$src" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "$ldflags" -o "$out/$name" "$pkg") >&2
else
  wrap="$VITALS_CACHE/src/gowrap-$name-$version"
  mkdir -p "$wrap"
  gover=$(go mod download -json "$mod@$version" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p' | xargs sed -n 's/^go \([0-9.]*\).*/\1/p')
  {
    echo "module vitals.local/wrap/$name"; echo; echo "go ${gover:-1.24}"; echo
    echo "require $mod $version"
    for r in "${replaced[@]}"; do echo "replace $r => $r $version"; done
  } >"$wrap/go.mod"
  printf '//go:build tools\npackage tools\nimport _ "%s"\n' "$pkg" >"$wrap/tools.go"
  (cd "$wrap" && GOFLAGS=-mod=mod go mod tidy -e && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "$ldflags" -o "$out/$name" "$pkg") >&2
fi
echo "INFO: built $name ($mod $version) in $(( $(date +%s) - start ))s" >&2
echo "$out/$name"
