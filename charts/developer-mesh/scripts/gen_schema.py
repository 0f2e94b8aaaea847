#!/usr/bin/env python3
"""Generate values.schema.json (draft-07) for the umbrella and each service
subchart from values.yaml and its `## @param` comments (the readme-generator
contract): every documented leaf gets a type and description,
`additionalProperties: false` at every object level except maps tagged
`[object]` (free-form), plus the enums/minimums in RULES. The umbrella schema
embeds each subchart's schema under its key. Run from anywhere:

    python3 charts/developer-mesh/scripts/gen_schema.py [--check]
"""
import json, re, sys, pathlib
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
SUBCHARTS = ["rest-api", "edge-mcp", "worker", "rag-loader"]
PARAM = re.compile(r"^\s*##\s*@param\s+(\S+)\s+(.*?)\s*(\[(object|array|string|nullable)[^\]]*\])?\s*$")

IMAGE_POLICY = {"enum": ["Always", "IfNotPresent", "Never"]}
PORT = {"minimum": 1, "maximum": 65535}
RULES = {
    "image.pullPolicy": IMAGE_POLICY,
    "pullPolicy": IMAGE_POLICY,
    "service.type": {"enum": ["ClusterIP", "NodePort", "LoadBalancer"]},
    "service.port": PORT,
    "containerPorts.http": PORT,
    "containerPorts.postgresql": PORT,
    "containerPorts.redis": PORT,
    "global.database.port": PORT,
    "global.redis.port": PORT,
    "global.redis.db": {"minimum": 0, "maximum": 15},
    "replicaCount": {"minimum": 1},
    "global.waitClient": {"enum": ["nc", "agent", "command"]},
    "global.waitTimeout": {"pattern": "^[1-9][0-9]{0,3}s$"},
    "global.waitForMigrations.client": {"enum": ["psql", "agent"]},
    "global.waitForMigrations.checkSql": {"minLength": 1},
    "tests.client": {"enum": ["curl", "agent"]},
    "autoscaling.minReplicas": {"minimum": 1},
    "autoscaling.maxReplicas": {"minimum": 1},
    "autoscaling.targetCPUUtilizationPercentage": {"minimum": 1, "maximum": 100},
    "autoscaling.targetMemoryUtilizationPercentage": {"minimum": 1, "maximum": 100},
    "pdb.minAvailable": {"type": ["integer", "string"]},
    "pdb.maxUnavailable": {"type": ["integer", "string"]},
    "podAntiAffinityPreset": {"enum": ["soft", "hard", "none"]},
    "resourcesPreset": {"enum": ["none", "nano", "micro", "small", "medium", "large", "xlarge"]},
    "ingress.pathType": {"enum": ["Prefix", "Exact", "ImplementationSpecific"]},
    "global.environment": {"enum": ["development", "staging", "production"]},
    "global.logLevel": {"enum": ["debug", "info", "warn", "error"]},
    "global.logFormat": {"enum": ["json", "text"]},
    "global.database.sslMode": {"enum": ["disable", "require", "verify-ca", "verify-full"]},
    "dependencies": {"items": {"type": "string", "enum": ["database", "redis", "rest-api"]}},
    "global.networkPolicy.externalEgress": {"items": {
        "type": "object",
        "required": ["cidr", "ports"],
        "additionalProperties": False,
        "properties": {
            "cidr": {"type": "string", "pattern": "^[0-9a-fA-F:.]+/[0-9]{1,3}$", "not": {"enum": ["0.0.0.0/0", "::/0"]},
                     "description": "Destination CIDR outside the cluster (never 0.0.0.0/0 or ::/0)"},
            "except": {"type": "array", "items": {"type": "string", "pattern": "^[0-9a-fA-F:.]+/[0-9]{1,3}$"},
                       "description": "CIDRs cut out of cidr"},
            "ports": {"type": "array", "minItems": 1, "description": "Destination ports",
                      "items": {"type": "object", "required": ["port"], "additionalProperties": False,
                                "properties": {
                                    "port": {"type": ["integer", "string"], "description": "Port number or name"},
                                    "protocol": {"type": "string", "enum": ["TCP", "UDP", "SCTP"], "description": "Protocol (default TCP)"},
                                    "endPort": {"type": "integer", "minimum": 1, "maximum": 65535, "description": "Last port of a range"}}}},
        }}},
    "terminationGracePeriodSeconds": {"minimum": 0},
    "preStopSleepSeconds": {"minimum": 0, "maximum": 60},
    "persistence.size": {"pattern": "^[0-9]+(\\.[0-9]+)?(Ki|Mi|Gi|Ti)$"},
    "tmpSizeLimit": {"pattern": "^[0-9]+(Ki|Mi|Gi)$"},
    "persistence.accessModes": {"items": {"type": "string", "enum": ["ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"]}},
}
# maps whose documented keys are typed but which accept extra string keys
OPEN_STRING_MAPS = {"config", "secretEnv"}


def rule_for(path):
    for k, v in RULES.items():
        if path == k or path.endswith("." + k):
            return v
    return {}


def params(text):
    out = {}
    for line in text.splitlines():
        m = PARAM.match(line)
        if m:
            out[m.group(1)] = (m.group(2), (m.group(4) or ""))
    return out


def jtype(v):
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return "null"


def node(path, value, docs, missing):
    desc, tag = docs.get(path, (None, ""))
    s = {}
    if tag == "object" or (desc is not None and isinstance(value, dict) and not value and path.split(".")[-1] not in OPEN_STRING_MAPS):
        s = {"type": "object"}
    elif isinstance(value, dict):
        s = {"type": "object", "properties": {}, "additionalProperties": False}
        for k, v in value.items():
            s["properties"][k] = node(f"{path}.{k}" if path else k, v, docs, missing)
        if path.split(".")[-1] in OPEN_STRING_MAPS:
            s["additionalProperties"] = {"type": "string"}
    elif isinstance(value, list):
        s = {"type": "array"}
        if value and all(isinstance(x, str) for x in value):
            s["items"] = {"type": "string"}
    else:
        s = {"type": jtype(value)}
        if isinstance(value, (int, float)) and not isinstance(value, bool) and re.search(r"(cpu|memory)$", path):
            s = {"type": ["string", "number"]}
    s.update(rule_for(path))
    if desc is None and not isinstance(value, dict):
        missing.append(path)
    s["description"] = desc or f"{path} (see values.yaml)"
    return s


def schema_for(values_path, extra_props=None):
    text = values_path.read_text()
    values = yaml.safe_load(text) or {}
    docs = params(text)
    missing = []
    root = node("", values, docs, missing)
    root.pop("description", None)
    root = {"$schema": "http://json-schema.org/draft-07/schema#", "title": values_path.parent.name, **root}
    for k, v in (extra_props or {}).items():
        root["properties"][k] = v
    if missing:
        sys.exit(f"undocumented leaves in {values_path}: {', '.join(missing)}")
    return root


# Constraints by key name, applied after the tree is built (issue 12: the
# schemas accepted "not a cron", replicas 0, "512K", "not a host",
# "Bad Class!" and "forever"): the same rules as every other chart's schema.
CRON = r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|([0-9*,/-]+) ([0-9*,/-]+) ([0-9*,/?LW-]+) ([0-9A-Za-z*,/-]+) ([0-9A-Za-z*,/?L#-]+))$"
MEM = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)$"
CPU = r"^([0-9]+m|[0-9]+(\.[0-9]+)?)$"
SIZE = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei)$"
STORAGE_CLASS = r"^$|^-$|^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
HOST = r"^$|^(\*\.)?([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)*[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DURATION = r"^$|^[0-9]+(ms|s|m|h)$"


def quantities(desc):
    return {"type": "object", "additionalProperties": False, "description": desc, "properties": {
        "cpu": {"type": ["string", "number"], "pattern": CPU, "description": "CPU (e.g. 250m)"},
        "memory": {"type": "string", "pattern": MEM, "description": "Memory (e.g. 256Mi)"},
        "ephemeral-storage": {"type": "string", "pattern": MEM, "description": "Ephemeral storage"}}}


def constrain(n, path=()):
    if not isinstance(n, dict):
        return
    for k, c in n.get("properties", {}).items():
        if not isinstance(c, dict):
            continue
        t = c.get("type")
        t = t if isinstance(t, list) else [t]
        parent = path[-1] if path else ""
        kl = k.lower()
        if k in ("resources", "waitResources") and c.get("type") == "object" and "properties" not in c:
            c["additionalProperties"] = False
            c["properties"] = {"requests": quantities("Resource requests"), "limits": quantities("Resource limits")}
        if "string" in t and "pattern" not in c and "enum" not in c:
            if k == "schedule":
                c["pattern"] = CRON
            elif k == "memory" or kl.endswith("memory"):
                c["pattern"] = MEM
            elif k == "cpu" or kl.endswith("cpu"):
                c["pattern"] = CPU
            elif k == "size":
                c["pattern"] = SIZE
            elif k in ("storageClass", "storageClassName"):
                c["pattern"] = STORAGE_CLASS
            elif k in ("host", "hostname") or k.endswith("Host"):
                c["pattern"] = HOST
            elif kl.endswith("interval") or (kl.endswith("timeout") and "seconds" not in kl):
                c["pattern"] = DURATION
        if "integer" in t or "number" in t:
            if k in ("replicaCount", "minReplicas", "maxReplicas", "replicas"):
                c["minimum"] = max(1, c.get("minimum", 1))
            elif k == "port" or k.endswith("Port") or parent == "containerPorts":
                c.setdefault("maximum", 65535)
                c["minimum"] = max(1, c.get("minimum", 1))
            elif k in ("timeoutSeconds", "periodSeconds", "failureThreshold", "activeDeadlineSeconds"):
                c["minimum"] = max(1, c.get("minimum", 1))
        constrain(c, path + (k,))
        for key in ("items", "additionalProperties"):
            if isinstance(c.get(key), dict):
                constrain(c[key], path + (k, "[]"))


def main():
    check = "--check" in sys.argv
    outputs = {}
    injected = {"global": {"type": "object", "description": "Injected by Helm from the umbrella's global values (documented in the umbrella values.yaml)"}}
    # library dependencies get an (empty) values map from Helm, with global
    libs = {lib: {"type": "object", "description": f"{lib} library chart (no values of its own; Helm adds global)",
                  "properties": {"global": injected["global"]}, "additionalProperties": False}
            for lib in ("vitals-common", "mesh-common")}
    injected = {**injected, **libs}
    subs = {}
    for name in SUBCHARTS:
        d = ROOT / "charts" / name
        subs[name] = schema_for(d / "values.yaml", injected)
        outputs[d / "values.schema.json"] = subs[name]
    umbrella = schema_for(ROOT / "values.yaml")
    for name, sub in subs.items():
        emb = {k: v for k, v in sub.items() if k not in ("$schema", "title")}
        emb["description"] = f"{name} subchart values (charts/{name}/values.yaml)"
        umbrella["properties"][name] = emb
    umbrella["properties"].update(libs)
    outputs[ROOT / "values.schema.json"] = umbrella
    for s in outputs.values():
        constrain(s)
    bad = False
    for p, s in outputs.items():
        text = json.dumps(s, indent=2) + "\n"
        if check:
            if not p.exists() or p.read_text() != text:
                print(f"stale: {p}"); bad = True
        else:
            p.write_text(text)
            print(f"wrote {p.relative_to(ROOT)}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
