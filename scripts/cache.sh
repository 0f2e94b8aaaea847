# Sourced by every script: one cache directory outside the checkout holds the
# Go module and build caches, built tools and image tarballs, so a clean
# checkout (CI) on a warm machine reuses them. Override with VITALS_CACHE.
export VITALS_CACHE=${VITALS_CACHE:-$HOME/.cache/vitals}
export GOMODCACHE=${GOMODCACHE:-$VITALS_CACHE/go/mod}
export GOCACHE=${GOCACHE:-$VITALS_CACHE/go/build}
export GOFLAGS=${GOFLAGS:--mod=mod}
mkdir -p "$VITALS_CACHE"
