#!/usr/bin/env bash
# The vitals kind cluster: up | down | status.
#   up:     docker daemon (scripts/docker.sh), kind + kubectl (scripts/tools.sh),
#           node image (scripts/node-image.sh, or VITALS_NODE_IMAGE), kind
#           create, wait for nodes/CoreDNS/storage, add-ons (scripts/addons.sh).
#           A cluster of that name whose nodes are Ready returns in seconds.
#   down:   kind delete cluster.
#   status: nodes and system pods; exit 1 when there is no such cluster.
# Env: K8S (or E2E_K8S; a minor from scripts/kubernetes-versions.tsv, default
# the newest), VITALS_CLUSTER (default vitals-<minor>: clusters of different
# versions coexist), VITALS_KIND_CONFIG (default kind-config/single-node.yaml),
# VITALS_NODE_IMAGE (e.g. kindest/node:v1.37.x for online users: skips the
# local node image build), VITALS_KEEP=1 (keep a cluster whose creation failed).
# A running cluster is reused as it is: after changing the node image recipe
# or versions, `down` then `up` to pick the new image.
# The kubeconfig goes to kind's default (~/.kube/config) and to
# $VITALS_CACHE/kubeconfig-<name>.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/scripts/versions.env"
. "$here/scripts/cache.sh"
export PATH="$here/.bin:$PATH"
name=$VITALS_CLUSTER
config=${VITALS_KIND_CONFIG:-$here/kind-config/single-node.yaml}
kubeconfig="$VITALS_CACHE/kubeconfig-$name"
t0=$(date +%s)
log() { echo "INFO: cluster $name: $* (+$(( $(date +%s) - t0 ))s)" >&2; }
die() { echo "error: cluster $name: $*" >&2; exit 1; }

# `go install k8s.io/kubernetes/cmd/kubectl@v` is refused (kubernetes' go.mod
# has replace directives), so kubectl comes from images/node/build-k8s.sh,
# which links it where tools.sh looks.
ensure_kubectl() {
  [ -x "$VITALS_CACHE/tools/kubectl-$KUBERNETES_VERSION/kubectl" ] || "$here/images/node/build-k8s.sh" >/dev/null
}

# A failed create keeps its evidence (kind export logs) and, unless
# VITALS_KEEP=1, deletes the cluster so the next `up` starts clean.
failed() {
  local dir="$VITALS_CACHE/kind-logs/$name-$(date +%Y%m%d-%H%M%S)"
  kind export logs --name "$name" "$dir" >/dev/null 2>&1 || true
  if [ "${VITALS_KEEP:-0}" != 1 ]; then kind delete cluster --name "$name" >/dev/null 2>&1 || true; fi
  die "$1 (node logs: $dir; VITALS_KEEP=1 keeps the cluster)"
}

# One lock for the shell and the runner: the file crates/cluster's Lease
# holds shared while trials use the cluster, so `down` waits for every test
# process. The runner takes it exclusively before it calls `up` and says so
# (VITALS_LEASE_HELD=1); flocking it again here would wait on ourselves.
take_lease() {
  [ "${VITALS_LEASE_HELD:-0}" = 1 ] && return 0
  mkdir -p "$VITALS_CACHE/leases"
  exec 9>"$VITALS_CACHE/leases/$name.lock"
  if ! flock -n 9; then
    log "waiting for the processes using the cluster (lease $VITALS_CACHE/leases/$name.lock)"
    flock 9
  fi
}

# Not `grep -q`: it exits at the first match, kind dies of SIGPIPE writing the
# next cluster's name, and pipefail turns a present cluster into an absent
# one (seen with two clusters up: `up` then tried to create it again).
exists() { kind get clusters 2>/dev/null | grep -x "$name" >/dev/null; }
write_kubeconfig() { kind get kubeconfig --name "$name" >"$kubeconfig.tmp" && mv "$kubeconfig.tmp" "$kubeconfig"; }
nodes_ready() {
  KUBECONFIG=$kubeconfig kubectl wait --for=condition=Ready nodes --all --timeout="${1:-5s}" >/dev/null 2>&1
}

up() {
  "$here/scripts/docker.sh" >/dev/null
  ensure_kubectl
  "$here/scripts/tools.sh" kind kubectl
  take_lease
  if exists; then
    write_kubeconfig
    if ! nodes_ready 5s; then
      log "exists but nodes are not Ready; waiting up to 120s"
      nodes_ready 120s || die "nodes not Ready (hint: \`scripts/cluster.sh down\` and up again)"
    fi
    # A cluster of this name built from another version is not reused
    # silently: the verdicts would name the wrong Kubernetes.
    local running
    running=$(KUBECONFIG=$kubeconfig kubectl get nodes -o jsonpath='{.items[0].status.nodeInfo.kubeletVersion}' 2>/dev/null || true)
    if [ -n "$running" ] && [ -z "${VITALS_NODE_IMAGE:-}" ] && [ "$running" != "$KUBERNETES_VERSION" ]; then
      die "runs Kubernetes $running, not $KUBERNETES_VERSION (K8S=${K8S:-${E2E_K8S:-}}; hint: \`scripts/cluster.sh down\` then up, or VITALS_CLUSTER=<another name>)"
    fi
    # Add-on manifests change with the checkout; applying an unchanged one
    # restarts nothing.
    KUBECONFIG=$kubeconfig "$here/scripts/addons.sh"
    log "already up, nodes Ready (KUBECONFIG=$kubeconfig)"; return 0
  fi
  local image
  if [ -n "${VITALS_NODE_IMAGE:-}" ]; then
    image=$VITALS_NODE_IMAGE
    log "using node image $image (VITALS_NODE_IMAGE)"
  else
    image=$("$here/scripts/node-image.sh" | tail -n1)
  fi
  [ -f "$config" ] || die "kind config \`$config\` not found (known: $(ls "$here/kind-config" | tr '\n' ' '))"
  log "kind create cluster (Kubernetes $KUBERNETES_VERSION, image $image, config $config)"
  local tc=$(date +%s)
  if ! kind create cluster --name "$name" --image "$image" --config "$config" --retain 2> >(tee "$VITALS_CACHE/kind-create-$name.log" >&2); then
    # Someone else's cluster of this name is not ours to delete.
    grep -q "already exist" "$VITALS_CACHE/kind-create-$name.log" && die "kind create: a cluster named $name already exists (another process created it; \`scripts/cluster.sh status\`)"
    failed "kind create cluster failed"
  fi
  write_kubeconfig
  export KUBECONFIG=$kubeconfig
  kubectl wait --for=condition=Ready nodes --all --timeout=300s >&2 || failed "nodes not Ready within 300s"
  log "all nodes Ready $(( $(date +%s) - tc ))s after kind create started"
  kubectl -n kube-system rollout status deployment/coredns --timeout=180s >&2
  kubectl -n local-path-storage rollout status deployment/local-path-provisioner --timeout=180s >&2 || true
  "$here/scripts/addons.sh"
  log "up (KUBECONFIG=$kubeconfig)"
}

down() {
  command -v kind >/dev/null || "$here/scripts/tools.sh" kind
  take_lease
  if exists; then kind delete cluster --name "$name" >&2; fi
  rm -f "$kubeconfig"
  log "down"
}

status() {
  exists || { echo "cluster $name: absent"; exit 1; }
  write_kubeconfig
  KUBECONFIG=$kubeconfig kubectl get nodes -o wide
  KUBECONFIG=$kubeconfig kubectl get pods -A -o wide
}

case ${1:-up} in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
