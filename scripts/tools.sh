#!/usr/bin/env bash
# Builds the pinned CLI tools from their Go modules into the shared cache and
# links them into .bin/. A tool already on PATH at the pinned version is used
# as it is; a cached build is reused (keyed by module@version), so a clean
# checkout on a warm machine spends seconds here.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=versions.env
. "$here/scripts/versions.env"
. "$here/scripts/cache.sh"

bin="$here/.bin"
mkdir -p "$bin"

# tool <name> <module path of main package> <version> <version probe cmd...>
tool() {
  local name=$1 pkg=$2 version=$3; shift 3
  local dest="$VITALS_CACHE/tools/$name-$version"
  if [ -x "$dest/$name" ]; then
    ln -sf "$dest/$name" "$bin/$name"; return 0
  fi
  # A binary on PATH at the pinned version (outside .bin) is good enough.
  local found
  found=$(PATH=${PATH//$bin:/} command -v "$name" || true)
  if [ -n "$found" ] && "$found" "$@" 2>/dev/null | grep -- "${version#v}" >/dev/null; then
    echo "INFO: using $found ($name $version)"
    ln -sf "$found" "$bin/$name"; return 0
  fi
  echo "INFO: building $name $version from $pkg (cached in $dest)"
  mkdir -p "$dest"
  local ldflags=""
  case $name in
    helm|helm3) ldflags="-X ${pkg%/cmd/helm}/internal/version.version=$version" ;;
  esac
  GOBIN="$dest" CGO_ENABLED=0 go install -trimpath -ldflags "-s -w $ldflags" "$pkg@$version"
  if [ "$name" = helm3 ]; then mv "$dest/helm" "$dest/helm3"; fi
  ln -sf "$dest/$name" "$bin/$name"
}

# crate_tool <name> <crate> <version> <cargo install flags...>: a Rust binary
# from crates.io, built once with its lock file into the cache (cargo install
# --root keyed by version) and linked into .bin/, where cargo finds
# `cargo-<sub>` as the subcommand `cargo <sub>` (.bin is first on PATH here).
crate_tool() {
  local name=$1 crate=$2 version=$3; shift 3
  local dest="$VITALS_CACHE/tools/$name-$version"
  if [ ! -x "$dest/bin/$name" ]; then
    echo "INFO: building $crate $version from crates.io (cached in $dest; several minutes on 2 cores)"
    # The build's own target dir sits beside the result, so an interrupted
    # build resumes instead of starting over.
    CARGO_TARGET_DIR="$VITALS_CACHE/tools/.build-$name" \
      cargo install --locked --root "$dest" --version "=$version" "$@" "$crate"
    rm -rf "$VITALS_CACHE/tools/.build-$name"
  fi
  ln -sf "$dest/bin/$name" "$bin/$name"
  # cargo also looks for subcommands in $CARGO_HOME/bin, where `cargo
  # install` would have put it: `cargo nextest` then works from any shell,
  # not only under make (whose PATH starts with .bin). Another install there
  # is left alone; a link to an older cached version is moved on.
  local home_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
  if [ -d "$home_bin" ] && { [ ! -e "$home_bin/$name" ] || [[ $(readlink "$home_bin/$name") == "$VITALS_CACHE/tools/"* ]]; }; then
    ln -sf "$dest/bin/$name" "$home_bin/$name"
  fi
}

want=${*:-helm}
for t in $want; do
  case $t in
    helm)  tool helm  helm.sh/helm/v4/cmd/helm "$HELM_VERSION" version --short ;;
    helm3) tool helm3 helm.sh/helm/v3/cmd/helm "$HELM3_VERSION" version --short ;;
    kind)  tool kind  sigs.k8s.io/kind "$KIND_VERSION" version ;;
    # `go install k8s.io/kubernetes/cmd/kubectl@v` is refused (kubernetes'
    # go.mod has replace directives); the node image's build links it.
    kubectl)
      [ -x "$VITALS_CACHE/tools/kubectl-$KUBERNETES_VERSION/kubectl" ] || bash "$here/images/node/build-k8s.sh" >/dev/null
      ln -sf "$VITALS_CACHE/tools/kubectl-$KUBERNETES_VERSION/kubectl" "$bin/kubectl" ;;
    actionlint) tool actionlint github.com/rhysd/actionlint/cmd/actionlint "$ACTIONLINT_VERSION" --version ;;
    # Without self-update: nextest is pinned here, and that feature's HTTP
    # stack would roughly double the build.
    nextest) crate_tool cargo-nextest cargo-nextest "$NEXTEST_VERSION" --no-default-features --features default-no-update ;;
    *) echo "error: unknown tool \`$t\` (known: helm helm3 kind kubectl actionlint nextest)" >&2; exit 2 ;;
  esac
done
