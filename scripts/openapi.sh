#!/usr/bin/env bash
# Regenerates crates/checks/openapi/<version>.json: the Kubernetes OpenAPI v2
# definitions of every version in scripts/kubernetes-versions.tsv (or of the
# one given: scripts/openapi.sh v1.38.0), from the k8s.io/kubernetes Go module,
# with descriptions stripped (they are 80% of the bytes and no check reads
# them). Checked in, so the render tier needs only helm and no download.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/scripts/versions.env"
. "$here/scripts/cache.sh"
if [ $# -eq 0 ]; then
  for v in $(awk -F'\t' '!/^#/ && NF {print $2}' "$here/scripts/kubernetes-versions.tsv"); do
    "$0" "$v"
  done
  exit 0
fi
version=$1
dir=$(cd /tmp && go mod download -json "k8s.io/kubernetes@$version" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
mkdir -p "$here/crates/checks/openapi"
python3 - "$dir/api/openapi-spec/swagger.json" "$here/crates/checks/openapi/$version.json" <<'PY'
import json, sys
spec = json.load(open(sys.argv[1]))
def strip(x):
    if isinstance(x, dict):
        # A description is a string; a property *named* description (of
        # JSONSchemaProps, PriorityClass, ...) is a schema and must stay.
        return {k: strip(v) for k, v in x.items() if not (k == "description" and isinstance(v, str))}
    if isinstance(x, list):
        return [strip(v) for v in x]
    return x
out = {"info": spec["info"], "definitions": strip(spec["definitions"])}
json.dump(out, open(sys.argv[2], "w"), separators=(",", ":"), sort_keys=True)
PY
echo "wrote crates/checks/openapi/$version.json ($(wc -c < "$here/crates/checks/openapi/$version.json") bytes)"
