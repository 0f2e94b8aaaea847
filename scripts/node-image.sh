#!/usr/bin/env bash
# Builds the vitals kind node image with no registry: a Debian rootfs from
# mmdebstrap, Kubernetes $KUBERNETES_VERSION built from its Go module, and
# every image kubeadm and the node manifests need, built FROM scratch (or a
# small Debian base) and imported into containerd on first boot.
# Everything is cached by content under $VITALS_CACHE; an unchanged image is
# not rebuilt (docker image inspect, then a cached tarball, then a build).
# Prints the node image reference as the last line on stdout; also tags it
# vitals/kind-node:$KUBERNETES_VERSION. K8S=1.36 (or E2E_K8S) picks the
# version from scripts/kubernetes-versions.tsv; the default is the newest.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/scripts/versions.env"
. "$here/scripts/cache.sh"
export DOCKER_BUILDKIT=0
node_src="$here/images/node"
imgs="$VITALS_CACHE/images"; rootfs_dir="$VITALS_CACHE/rootfs"
mkdir -p "$imgs" "$rootfs_dir"
t0=$(date +%s)
log() { echo "INFO: node-image: $* (+$(( $(date +%s) - t0 ))s)" >&2; }
hash() { sha256sum | cut -c1-12; }

docker=$("$here/scripts/docker.sh" | tail -n1)
docker() { "$docker" "$@"; }
# The legacy builder (no buildx here) prints a deprecation banner on stderr.
quiet_build() { docker build "$@" 2> >(grep -v -e DEPRECATED -e 'BuildKit is' -e 'environment-variable' -e '^$' >&2); }

need_pkgs=""
command -v mmdebstrap >/dev/null || need_pkgs="$need_pkgs mmdebstrap"
[ -x /bin/busybox ] || need_pkgs="$need_pkgs busybox-static"
command -v gcc >/dev/null || need_pkgs="$need_pkgs gcc libc6-dev"
if [ -n "$need_pkgs" ]; then
  log "installing$need_pkgs"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need_pkgs >/dev/null
fi

# --- binaries ---------------------------------------------------------------
log "Kubernetes $KUBERNETES_VERSION binaries"
k8s=$("$node_src/build-k8s.sh" | tail -n1)
B="$node_src/build-go.sh"
log "Go components"
etcd=$("$B" etcd go.etcd.io/etcd/server/v3 "$ETCD_VERSION" go.etcd.io/etcd/server/v3 \
  go.etcd.io/etcd/api/v3 go.etcd.io/etcd/client/pkg/v3 go.etcd.io/etcd/client/v3 go.etcd.io/etcd/pkg/v3 | tail -n1)
coredns=$("$B" coredns github.com/coredns/coredns "$COREDNS_VERSION" github.com/coredns/coredns | tail -n1)
crictl=$(LDFLAGS="-X sigs.k8s.io/cri-tools/pkg/version.Version=$CRI_TOOLS_VERSION" \
  "$B" crictl sigs.k8s.io/cri-tools "$CRI_TOOLS_VERSION" sigs.k8s.io/cri-tools/cmd/crictl | tail -n1)
kube_router=$(LDFLAGS="-X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=$KUBE_ROUTER_VERSION" \
  "$B" kube-router github.com/cloudnativelabs/kube-router/v2 "$KUBE_ROUTER_VERSION" github.com/cloudnativelabs/kube-router/v2/cmd/kube-router | tail -n1)
netd=$("$B" vitals-netd local "$node_src/netd" . | tail -n1)
lpp=$("$B" local-path-provisioner github.com/rancher/local-path-provisioner "$LOCAL_PATH_PROVISIONER_VERSION" github.com/rancher/local-path-provisioner | tail -n1)

kdir=$(go mod download -json k8s.io/kubernetes@"$KUBERNETES_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
pause_key=$(cat "$kdir/build/pause/linux/pause.c" | hash)
pause="$VITALS_CACHE/bin/pause-$PAUSE_VERSION-$pause_key/pause"
if [ ! -x "$pause" ]; then
  mkdir -p "$(dirname "$pause")"
  gcc -Os -static -Wall -DVERSION="v$PAUSE_VERSION-vitals" -o "$pause" "$kdir/build/pause/linux/pause.c"
  strip "$pause"
fi

# --- rootfs images ----------------------------------------------------------
# rootfs <kind>: prints the docker image ref of a Debian rootfs (rootfs.sh)
rootfs() {
  local kind=$1 key ref tar
  key=$( { cat "$node_src/rootfs.sh"; echo "$kind"; } | hash)
  ref="vitals/rootfs-$kind:$key"; tar="$rootfs_dir/$kind-$key.tar"
  if ! docker image inspect "$ref" >/dev/null 2>&1; then
    if [ ! -f "$tar" ]; then
      log "mmdebstrap $kind rootfs"
      "$node_src/rootfs.sh" "$kind" "$tar" >&2
      for f in "$rootfs_dir/$kind-"*.tar; do [ "$f" = "$tar" ] || rm -f "$f"; done
    fi
    docker import "$tar" "$ref" >/dev/null
  fi
  echo "$ref"
}
node_rootfs=$(rootfs node)
ipt_rootfs=$(rootfs iptables)

# --- component images -------------------------------------------------------
# component REF DOCKERFILE BUILD-ARGS... -- FILES...: builds REF from a context
# holding FILES (and the Dockerfile), saves it to a cached tarball keyed by
# the Dockerfile, the build args and the files' (content-keyed) paths; prints
# the tarball path.
component() {
  local ref=$1 df=$2; shift 2
  local args=() files=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do args+=("$1"); shift; done
  shift
  files=("$@")
  local key tar ctx f
  key=$( { echo "$ref ${args[*]:-} $(portable "${files[*]}")"; cat "$df"; for f in "${files[@]}"; do
    case $f in "$VITALS_CACHE"/bin/*) ;; *) cat "$f" ;; esac; done; } | hash)
  tar="$imgs/$(echo "$ref" | tr '/:' '__')-$key.tar"
  if [ ! -f "$tar" ]; then
    ctx=$(mktemp -d "$VITALS_CACHE/ctx.XXXXXX")
    for f in "${files[@]}"; do cp -L "$f" "$ctx/"; done
    cp "$df" "$ctx/Dockerfile"
    local ba=() a
    for a in "${args[@]}"; do ba+=(--build-arg "$a"); done
    log "building $ref"
    quiet_build -q --label "vitals.key=$key" "${ba[@]}" -t "$ref" "$ctx" >/dev/null
    docker save -o "$tar.tmp" "$ref"
    mv "$tar.tmp" "$tar"
    rm -rf "$ctx"
    # keep one tarball per image reference: the Kubernetes components of
    # every supported minor share repositories and must all stay cached
    local same f
    same=$(echo "$ref" | tr '/:' '__')
    for f in "$imgs/${same}-"*.tar; do [ "$f" = "$tar" ] || rm -f "$f"; done
  fi
  echo "$tar"
}
C="$node_src/components"
busybox_version=$(dpkg-query -W -f '${source:Upstream-Version}' busybox-static | sed 's/[^A-Za-z0-9_.-]/_/g')
NETD_IMAGE="vitals.local/vitals-netd:$(basename "$(dirname "$netd")" | sed 's/^vitals-netd-local-//')"
KUBE_ROUTER_IMAGE="vitals.local/kube-router:$KUBE_ROUTER_VERSION"
LPP_IMAGE="vitals.local/local-path-provisioner:$LOCAL_PATH_PROVISIONER_VERSION"
BUSYBOX_IMAGE="vitals.local/busybox:$busybox_version"
ETCD_TAG="${ETCD_VERSION#v}-0"

tars=()
for c in kube-apiserver kube-controller-manager kube-scheduler; do
  tars+=("$(component "registry.k8s.io/$c:$KUBERNETES_VERSION" "$C/static.Dockerfile" "BIN=$c" -- "$k8s/$c")")
done
tars+=("$(component "registry.k8s.io/kube-proxy:$KUBERNETES_VERSION" "$C/kube-proxy.Dockerfile" "BASE=$ipt_rootfs" -- "$k8s/kube-proxy" "$C/iptables-wrapper")")
tars+=("$(component "registry.k8s.io/etcd:$ETCD_TAG" "$C/static.Dockerfile" BIN=etcd -- "$etcd")")
tars+=("$(component "registry.k8s.io/coredns/coredns:$COREDNS_VERSION" "$C/coredns.Dockerfile" -- "$coredns")")
tars+=("$(component "registry.k8s.io/pause:$PAUSE_VERSION" "$C/pause.Dockerfile" -- "$pause")")
tars+=("$(component "$NETD_IMAGE" "$C/static.Dockerfile" BIN=vitals-netd -- "$netd")")
tars+=("$(component "$KUBE_ROUTER_IMAGE" "$C/kube-router.Dockerfile" "BASE=$ipt_rootfs" -- "$kube_router" "$C/iptables-wrapper")")
tars+=("$(component "$LPP_IMAGE" "$C/static.Dockerfile" BIN=local-path-provisioner -- "$lpp")")
tars+=("$(component "$BUSYBOX_IMAGE" "$here/images/busybox/Dockerfile" -- /bin/busybox)")

# --- node image -------------------------------------------------------------
node_key=$( { echo "$KUBERNETES_VERSION $node_rootfs $(portable "$k8s $crictl ${tars[*]}") $NETD_IMAGE $KUBE_ROUTER_IMAGE $LPP_IMAGE $BUSYBOX_IMAGE $PAUSE_VERSION";
  cat "$node_src/Dockerfile"; (cd "$node_src/files" && find . -type f | sort | xargs cat); } | hash)
ref="vitals/kind-node:$KUBERNETES_VERSION-$node_key"
stable="vitals/kind-node:$KUBERNETES_VERSION"
tar="$imgs/kind-node-$KUBERNETES_VERSION-$node_key.tar"
if docker image inspect "$ref" >/dev/null 2>&1; then
  log "node image $ref present"
elif [ -f "$tar" ]; then
  log "loading node image from $tar"
  docker load -i "$tar" >/dev/null
else
  ctx="$VITALS_CACHE/ctx-node"
  rm -rf "$ctx"; mkdir -p "$ctx/bin" "$ctx/images"
  cp -a "$node_src/files" "$ctx/files"
  cp "$node_src/Dockerfile" "$ctx/"
  for b in kubeadm kubelet kubectl; do ln "$k8s/$b" "$ctx/bin/$b" 2>/dev/null || cp "$k8s/$b" "$ctx/bin/$b"; done
  cp "$crictl" "$ctx/bin/crictl"
  for t in "${tars[@]}"; do ln "$t" "$ctx/images/" 2>/dev/null || cp "$t" "$ctx/images/"; done
  echo "$KUBERNETES_VERSION" >"$ctx/files/kind/version"
  sed -i -e "s|@NETD_IMAGE@|$NETD_IMAGE|g" -e "s|@KUBE_ROUTER_IMAGE@|$KUBE_ROUTER_IMAGE|g" \
    -e "s|@LPP_IMAGE@|$LPP_IMAGE|g" -e "s|@BUSYBOX_IMAGE@|$BUSYBOX_IMAGE|g" \
    "$ctx/files/kind/manifests/"*.yaml
  sed -i "s|@PAUSE_VERSION@|$PAUSE_VERSION|g" "$ctx/files/etc/containerd/config.toml"
  log "building $ref"
  quiet_build -q --label "vitals.key=$node_key" --build-arg "ROOTFS=$node_rootfs" -t "$ref" "$ctx" >/dev/null
  rm -rf "$ctx"
  if [ "${VITALS_SAVE_NODE_IMAGE:-1}" = 1 ]; then
    log "saving $ref to $tar"
    docker save -o "$tar.tmp" "$ref" && mv "$tar.tmp" "$tar"
    # keep only the newest node image tarball of this version (a second
    # supported version keeps its own)
    find "$imgs" -maxdepth 1 -name "kind-node-$KUBERNETES_VERSION-*.tar" ! -name "$(basename "$tar")" -delete
  fi
fi
docker tag "$ref" "$stable"
# Drop older node images of this version (docker refuses while a cluster
# still uses one); other versions' images stay.
for old in $(docker images --format '{{.Repository}}:{{.Tag}}' vitals/kind-node | grep "^vitals/kind-node:$KUBERNETES_VERSION-" | grep -v -x -e "$ref"); do
  docker rmi "$old" >/dev/null 2>&1 || true
done
log "node image ready: $ref (also $stable)"
echo "BUSYBOX_IMAGE=$BUSYBOX_IMAGE" >"$VITALS_CACHE/node-image-$K8S_MINOR.env"
echo "NODE_IMAGE=$ref" >>"$VITALS_CACHE/node-image-$K8S_MINOR.env"
echo "$ref"
