# Sourced by every script: one cache directory outside the checkout holds the
# Go module and build caches, built tools and image tarballs, so a clean
# checkout (CI) on a warm machine reuses them. Override with VITALS_CACHE.
export VITALS_CACHE=${VITALS_CACHE:-$HOME/.cache/vitals}
export GOMODCACHE=${GOMODCACHE:-$VITALS_CACHE/go/mod}
export GOCACHE=${GOCACHE:-$VITALS_CACHE/go/build}
export GOFLAGS=${GOFLAGS:--mod=mod}
mkdir -p "$VITALS_CACHE"

# portable TEXT: TEXT with the cache and checkout directories written as
# names, for content keys. A key that holds an absolute path changes with
# the clone or the cache's place, so a fresh clone (CI, a new user, another
# VITALS_CACHE) rebuilt every node and component image it had been handed.
portable() {
  local s=$1 src
  src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  s=${s//"$VITALS_CACHE"/'$VITALS_CACHE'}
  s=${s//"$src"/'$SRC'}
  printf '%s' "$s"
}
