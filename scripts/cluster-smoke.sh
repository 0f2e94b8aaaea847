#!/usr/bin/env bash
# Proves the vitals kind cluster does what the suites rely on, with kubectl
# only; exits non-zero with a clear message at the first failure:
#   1 nodes Ready            2 CoreDNS resolves kubernetes.default from a pod
#   3 a locally built image (kind load docker-image) runs
#   4 a PVC binds at its requested size (StorageClass standard)
#   5 kubectl top pods -A answers (metrics-server APIService Available)
#   6 a default-deny NetworkPolicy blocks a TCP flow that worked, an allow
#     policy opens it again (client and server on different nodes when the
#     cluster has more than one schedulable node)
# --once: a cluster instance (kube-system's uid) that passed this smoke with
# the same script and add-on manifests only gets the instant checks (nodes
# Ready, metrics APIService Available); the pod-creating steps cost ~10 s of
# every warm `make e2e`, and the suites' own canaries (NetworkPolicy
# enforcement, DNS, PVCs) run anyway. `make cluster-smoke` always runs all.
# Env: VITALS_CLUSTER (default vitals-<minor>, from scripts/versions.env), KUBECONFIG (default: the cluster's).
set -euo pipefail
once=0
[ "${1:-}" = --once ] && once=1
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/scripts/versions.env"
. "$here/scripts/cache.sh"
export PATH="$here/.bin:$PATH" DOCKER_BUILDKIT=0
name=${VITALS_CLUSTER:-vitals}
export KUBECONFIG=${KUBECONFIG:-$VITALS_CACHE/kubeconfig-$name}
ns=vitals-smoke-$(date +%s)
t0=$(date +%s)
step() { echo "--- $* (+$(( $(date +%s) - t0 ))s)"; }
ok() { echo "ok: $*"; }
fail() {
  echo "FAIL: $*" >&2
  echo "--- evidence (namespace $ns kept):" >&2
  kubectl -n "$ns" get pods,pvc,networkpolicy -o wide >&2 2>/dev/null || true
  kubectl -n "$ns" get events --sort-by=.lastTimestamp 2>/dev/null | tail -15 >&2 || true
  exit 1
}
k() { kubectl -n "$ns" "$@"; }

[ -f "$KUBECONFIG" ] || fail "no kubeconfig \`$KUBECONFIG\` (hint: scripts/cluster.sh up)"

step "1 nodes Ready"
kubectl wait --for=condition=Ready nodes --all --timeout=60s >/dev/null || fail "nodes not Ready: $(kubectl get nodes --no-headers 2>&1 | tr '\n' ';')"
ok "$(kubectl get nodes --no-headers | wc -l) node(s) Ready"

uid=$(kubectl get namespace kube-system -o jsonpath='{.metadata.uid}' 2>/dev/null || true)
key=$(cat "$0" "$here"/images/addons/*.yaml | sha256sum | cut -c1-12)
stamp="$VITALS_CACHE/smoke-$name-$uid-$key"
if [ "$once" = 1 ] && [ -n "$uid" ] && [ -f "$stamp" ]; then
  kubectl wait --for=condition=Available apiservice/v1beta1.metrics.k8s.io --timeout=120s >/dev/null \
    || fail "APIService v1beta1.metrics.k8s.io not Available: $(kubectl get apiservice v1beta1.metrics.k8s.io -o jsonpath='{.status.conditions[0].message}' 2>&1)"
  echo "PASS: cluster $name smoke passed before on this instance (uid $uid); nodes Ready, metrics Available in $(( $(date +%s) - t0 ))s (make cluster-smoke reruns every step)"
  exit 0
fi

# Earlier runs' namespaces go away in the background (kept ones too: rerun = fresh evidence).
kubectl get namespaces -o name | grep '^namespace/vitals-smoke-' | xargs -r kubectl delete --wait=false >/dev/null 2>&1 || true
kubectl create namespace "$ns" >/dev/null
# Pods are refused until the namespace's default ServiceAccount exists; the
# controller that makes it can lag (e.g. just after a dockerd restart).
kubectl wait --for=create -n "$ns" serviceaccount/default --timeout=120s >/dev/null
kubectl label namespace "$ns" pod-security.kubernetes.io/enforce=baseline >/dev/null

nodes=$(kubectl get nodes --no-headers -l '!node-role.kubernetes.io/control-plane' 2>/dev/null | wc -l)
spread=""
if [ "$nodes" -gt 1 ]; then
  spread='  affinity: {podAntiAffinity: {requiredDuringSchedulingIgnoredDuringExecution: [{labelSelector: {matchLabels: {smoke: pair}}, topologyKey: kubernetes.io/hostname}]}}'
fi

step "3 locally built image via kind load"
docker=$("$here/scripts/docker.sh" | tail -n1)
busybox=$(sed -n 's/^BUSYBOX_IMAGE=//p' "$VITALS_CACHE/node-image-$K8S_MINOR.env" 2>/dev/null || true)
if [ -z "$busybox" ] || ! "$docker" image inspect "$busybox" >/dev/null 2>&1; then
  ctx=$(mktemp -d); cp "$here/images/busybox/Dockerfile" /bin/busybox "$ctx/"
  busybox="vitals.local/busybox:local"
  "$docker" build -q -t "$busybox" "$ctx" >/dev/null; rm -rf "$ctx"
fi
# A name the node image did not preload, so kind load really has to carry it.
smoke_image="vitals.local/smoke-busybox:$(date +%s)"
"$docker" tag "$busybox" "$smoke_image"
kind load docker-image --name "$name" "$smoke_image" >/dev/null || fail "kind load docker-image $smoke_image failed"
"$docker" rmi "$smoke_image" >/dev/null || true
cat <<YAML | k apply -f - >/dev/null
apiVersion: v1
kind: Pod
metadata: {name: server, labels: {app: server, smoke: pair}}
spec:
$spread
  containers:
  - name: httpd
    image: $smoke_image
    imagePullPolicy: Never
    command: ["sh", "-c", "echo hello-vitals > /tmp/index.html && exec httpd -f -p 8080 -h /tmp"]
    ports: [{containerPort: 8080}]
    readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: server}
spec:
  selector: {app: server}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: client, labels: {app: client, smoke: pair}}
spec:
$spread
  containers:
  - name: sh
    image: $smoke_image
    imagePullPolicy: Never
    command: ["sleep", "3600"]
YAML
k wait --for=condition=Ready pod/server pod/client --timeout=120s >/dev/null || fail "pods from $smoke_image not Ready"
ok "pods from locally built $smoke_image are Ready (server on $(k get pod server -o jsonpath='{.spec.nodeName}'), client on $(k get pod client -o jsonpath='{.spec.nodeName}'))"

step "2 CoreDNS resolves kubernetes.default from a pod"
out=$(k exec client -- nslookup kubernetes.default.svc.cluster.local 2>&1) || fail "nslookup kubernetes.default failed: $out"
echo "$out" | grep -q 'Address.*10\.96\.0\.1' || fail "kubernetes.default did not resolve to 10.96.0.1: $out"
ok "kubernetes.default.svc.cluster.local -> 10.96.0.1"

step "6a TCP client -> server works before any policy"
# (busybox-static 1.35 wget segfaults with -T; use timeout instead)
fetch() { k exec client -- timeout 5 wget -q -O - "http://server.$ns.svc.cluster.local/" 2>&1; }
out=$(fetch) || fail "client could not reach server before any NetworkPolicy: $out"
[ "$out" = hello-vitals ] || fail "unexpected answer from server: $out"
ok "client reaches server through its Service"

step "4 PVC binds at its requested size"
cat <<YAML | k apply -f - >/dev/null
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 64Mi}}
---
apiVersion: v1
kind: Pod
metadata: {name: pvc-user}
spec:
  containers:
  - name: sh
    image: $smoke_image
    imagePullPolicy: Never
    command: ["sh", "-c", "echo ok > /data/f && sleep 3600"]
    volumeMounts: [{name: data, mountPath: /data}]
  volumes: [{name: data, persistentVolumeClaim: {claimName: data}}]
YAML
k wait --for=jsonpath='{.status.phase}'=Bound pvc/data --timeout=120s >/dev/null || fail "PVC data not Bound (StorageClass standard)"
size=$(k get pvc data -o jsonpath='{.status.capacity.storage}')
[ "$size" = 64Mi ] || fail "PVC data bound at $size, requested 64Mi"
k wait --for=condition=Ready pod/pvc-user --timeout=60s >/dev/null || fail "pod using PVC data not Ready"
ok "PVC data Bound at 64Mi (class $(k get pvc data -o jsonpath='{.spec.storageClassName}'))"

step "5 kubectl top pods -A (metrics-server)"
kubectl wait --for=condition=Available apiservice/v1beta1.metrics.k8s.io --timeout=120s >/dev/null \
  || fail "APIService v1beta1.metrics.k8s.io not Available: $(kubectl get apiservice v1beta1.metrics.k8s.io -o jsonpath='{.status.conditions[0].message}' 2>&1)"
# Metrics need one scrape after a pod starts; allow up to a minute.
deadline=$(( $(date +%s) + 90 ))
until out=$(kubectl top pods -A --no-headers 2>&1) && [ -n "$out" ]; do
  [ "$(date +%s)" -lt "$deadline" ] || fail "kubectl top pods -A did not answer within 90s: $out"
  sleep 3
done
ok "kubectl top pods -A lists $(echo "$out" | wc -l) pods"

step "6b default-deny blocks, allow opens"
cat <<YAML | k apply -f - >/dev/null
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny}
spec:
  podSelector: {}
  policyTypes: [Ingress]
YAML
deadline=$(( $(date +%s) + 30 ))
while out=$(fetch); do
  [ "$(date +%s)" -lt "$deadline" ] || fail "default-deny NetworkPolicy did not block client -> server within 30s (answer: $out)"
  sleep 1
done
ok "default-deny blocks client -> server"
cat <<YAML | k apply -f - >/dev/null
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-client}
spec:
  podSelector: {matchLabels: {app: server}}
  policyTypes: [Ingress]
  ingress:
  - from: [{podSelector: {matchLabels: {app: client}}}]
    ports: [{port: 8080, protocol: TCP}]
YAML
deadline=$(( $(date +%s) + 30 ))
until out=$(fetch); do
  [ "$(date +%s)" -lt "$deadline" ] || fail "allow NetworkPolicy did not re-open client -> server within 30s: $out"
  sleep 1
done
ok "allow policy re-opens client -> server"

kubectl delete namespace "$ns" --wait=false >/dev/null
[ -n "$uid" ] && touch "$stamp"
echo "PASS: cluster $name smoke in $(( $(date +%s) - t0 ))s"
