#!/usr/bin/env bash
# Builds the Kubernetes server/node binaries (kubeadm, kubelet, kubectl,
# kube-apiserver, kube-controller-manager, kube-scheduler, kube-proxy) from the
# k8s.io/kubernetes Go module, with no git checkout: a wrapper module under the
# cache requires k8s.io/kubernetes@$KUBERNETES_VERSION and replaces every
# staging module (v0.0.0 in kubernetes' go.mod) with its published
# $KUBE_STAGING_VERSION. The version is stamped with -ldflags so kubeadm
# accepts it. Output: $VITALS_CACHE/bin/k8s-<version>-<key>/, keyed by the
# versions and this script; kubectl is also linked where tools.sh looks.
# Prints the output directory on stdout.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
. "$here/scripts/versions.env"
. "$here/scripts/cache.sh"

key=$( { echo "$KUBERNETES_VERSION $KUBE_STAGING_VERSION $(go env GOVERSION)"; cat "$0"; } | sha256sum | cut -c1-12)
out="$VITALS_CACHE/bin/k8s-$KUBERNETES_VERSION-$key"
cmds="kubeadm kubelet kubectl kube-apiserver kube-controller-manager kube-scheduler kube-proxy"

link_kubectl() {
  mkdir -p "$VITALS_CACHE/tools/kubectl-$KUBERNETES_VERSION"
  ln -sf "$out/kubectl" "$VITALS_CACHE/tools/kubectl-$KUBERNETES_VERSION/kubectl"
}

if [ -f "$out/.done" ]; then link_kubectl; echo "$out"; exit 0; fi

mod="$VITALS_CACHE/src/k8s-wrapper-$KUBERNETES_VERSION"
mkdir -p "$mod" "$out"
go mod download k8s.io/kubernetes@"$KUBERNETES_VERSION" >&2
kdir=$(go mod download -json k8s.io/kubernetes@"$KUBERNETES_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
gover=$(sed -n 's/^go \(.*\)/\1/p' "$kdir/go.mod")
{
  echo "module vitals.local/k8s-build"
  echo
  echo "go $gover"
  echo
  echo "require k8s.io/kubernetes $KUBERNETES_VERSION"
  echo
  echo "replace ("
  sed -n '/^replace (/,/^)/s#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$kdir/go.mod" |
    grep -v -e sample- | while read -r m; do echo "	$m => $m $KUBE_STAGING_VERSION"; done
  echo ")"
} > "$mod/go.mod"
# A blank import of every command keeps `go mod tidy` honest.
{
  echo "//go:build tools"
  echo "package tools"
  echo "import ("
  for c in $cmds; do echo "	_ \"k8s.io/kubernetes/cmd/$c\""; done
  echo ")"
} > "$mod/tools.go"
cd "$mod"
echo "INFO: resolving k8s.io/kubernetes@$KUBERNETES_VERSION dependencies in $mod" >&2
GOFLAGS=-mod=mod go mod tidy -e >&2

minor=${KUBERNETES_VERSION#v1.}; minor=${minor%%.*}
date=$(date -u -d @0 +%Y-%m-%dT%H:%M:%SZ)
ld="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ld="$ld -X $p.gitVersion=$KUBERNETES_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
  ld="$ld -X $p.gitCommit=0000000000000000000000000000000000000000 -X $p.gitTreeState=clean -X $p.buildDate=$date"
done
pkgs=""; for c in $cmds; do pkgs="$pkgs k8s.io/kubernetes/cmd/$c"; done
echo "INFO: building $cmds ($KUBERNETES_VERSION) into $out" >&2
start=$(date +%s)
# shellcheck disable=SC2086
CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "$ld" -o "$out/" $pkgs >&2
echo "INFO: k8s binaries built in $(( $(date +%s) - start ))s" >&2
"$out/kubeadm" version -o short >&2
touch "$out/.done"
link_kubectl
echo "$out"
