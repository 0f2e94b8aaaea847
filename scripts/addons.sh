#!/usr/bin/env bash
# Installs the cluster add-ons the suites rely on, after the cluster is up:
#   - metrics-server (built from sigs.k8s.io/metrics-server@$METRICS_SERVER_VERSION,
#     image loaded with `kind load docker-image`, manifest images/addons/metrics-server.yaml),
#     waited on until the v1beta1.metrics.k8s.io APIService is Available.
# Dynamic storage (local-path-provisioner, default StorageClass `standard`)
# ships in the node image's /kind/manifests/default-storage.yaml, which kind
# applies itself (upstream kindest/node images ship the same class).
# Env: VITALS_CLUSTER (default vitals-<minor>, from scripts/versions.env), KUBECONFIG (default: the cluster's file).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/scripts/versions.env"
. "$here/scripts/cache.sh"
export DOCKER_BUILDKIT=0 PATH="$here/.bin:$PATH"
name=${VITALS_CLUSTER:-vitals}
export KUBECONFIG=${KUBECONFIG:-$VITALS_CACHE/kubeconfig-$name}
log() { echo "INFO: addons: $*" >&2; }
docker=$("$here/scripts/docker.sh" | tail -n1)

bin=$("$here/images/node/build-go.sh" metrics-server sigs.k8s.io/metrics-server "$METRICS_SERVER_VERSION" \
  sigs.k8s.io/metrics-server/cmd/metrics-server | tail -n1)
df="$here/images/addons/metrics-server.Dockerfile"
key=$( { portable "$bin"; echo; cat "$df"; } | sha256sum | cut -c1-12)
image="vitals.local/metrics-server:$METRICS_SERVER_VERSION-$key"
tar="$VITALS_CACHE/images/metrics-server-$METRICS_SERVER_VERSION-$key.tar"
if ! "$docker" image inspect "$image" >/dev/null 2>&1; then
  if [ -f "$tar" ]; then
    "$docker" load -i "$tar" >/dev/null
  else
    log "building $image"
    ctx=$(mktemp -d "$VITALS_CACHE/ctx.XXXXXX")
    cp "$bin" "$ctx/metrics-server"; cp "$df" "$ctx/Dockerfile"
    "$docker" build -q -t "$image" "$ctx" >/dev/null
    rm -rf "$ctx"
    mkdir -p "$(dirname "$tar")"
    "$docker" save -o "$tar.tmp" "$image" && mv "$tar.tmp" "$tar"
  fi
fi
log "loading $image into kind cluster $name"
kind load docker-image --name "$name" "$image" >&2
sed "s|@IMAGE@|$image|" "$here/images/addons/metrics-server.yaml" | kubectl apply -f - >/dev/null
log "waiting for metrics-server"
kubectl -n kube-system rollout status deployment/metrics-server --timeout=180s >&2
kubectl wait --for=condition=Available apiservice/v1beta1.metrics.k8s.io --timeout=120s >&2
# The default StorageClass comes with the node image (or kind's own).
kubectl get storageclass standard >/dev/null 2>&1 || echo "WARN: addons: no StorageClass \`standard\` (the node image should ship one)" >&2
log "done"
