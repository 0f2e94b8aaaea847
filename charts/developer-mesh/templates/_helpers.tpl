{{/* vim: set filetype=mustache: */}}
{{/*
Chart-specific glue of the umbrella. Names, labels, images, security contexts,
resources, probes, HPA/PDB/NetworkPolicy/ServiceMonitor come from vitals-common;
connection env, wait init containers and the service workloads from
charts/mesh-common (shared with the four service subcharts).
*/}}

{{/*
Values validation of the umbrella: an external database/Redis needs a host and
a credential; the embedded one must not be combined with an external host.
Usage:
{{ include "developer-mesh.validate" $ }}
*/}}
{{- define "developer-mesh.validate" -}}
{{- $db := .Values.global.database -}}
{{- $r := .Values.global.redis -}}
{{- $msgs := list
  (include "vitals.validations.values.requiredIf" (dict "required" (not .Values.postgresql.enabled) "value" $db.host "valueKey" "global.database.host" "example" "devmesh.cluster-abc.eu-west-1.rds.amazonaws.com" "reason" "postgresql.enabled is false"))
  (include "vitals.validations.values.requiredIf" (dict "required" (not .Values.redis.enabled) "value" $r.host "valueKey" "global.redis.host" "example" "devmesh.abc.cache.amazonaws.com" "reason" "redis.enabled is false"))
  (include "vitals.validations.values.oneOf" (dict "value" $db.sslMode "valueKey" "global.database.sslMode" "allowed" (list "disable" "require" "verify-ca" "verify-full") "required" true))
-}}
{{- if and .Values.postgresql.enabled $db.host -}}
{{- $msgs = append $msgs "global.database.host is set while postgresql.enabled is true (the apps would bypass the embedded database): set postgresql.enabled=false to use the external host, or empty global.database.host (e.g. `--set postgresql.enabled=false`)" -}}
{{- end -}}
{{- if and .Values.redis.enabled $r.host -}}
{{- $msgs = append $msgs "global.redis.host is set while redis.enabled is true (the apps would bypass the embedded Redis): set redis.enabled=false to use the external host, or empty global.redis.host (e.g. `--set redis.enabled=false`)" -}}
{{- end -}}
{{- if not .Values.postgresql.enabled -}}
{{- $msgs = append $msgs (include "vitals.validations.existingSecret" (dict "existingSecret" $db.existingSecret "value" $db.password "valueKey" "global.database" "secretKey" $db.existingSecretPasswordKey)) -}}
{{- end -}}
{{- if not .Values.redis.enabled -}}
{{- $msgs = append $msgs (include "vitals.validations.existingSecret" (dict "existingSecret" $r.existingSecret "value" $r.password "valueKey" "global.redis" "secretKey" $r.existingSecretPasswordKey)) -}}
{{- end -}}
{{- include "vitals.errors.fail" (dict "validations" $msgs) -}}
{{- end -}}

{{/*
A generated secret value kept across upgrades: the value already stored in the
live Secret "name" under "key" (lookup; empty under helm template), else
"value" when set, else a random alphanumeric string of "length". Base64.
Usage:
{{ include "developer-mesh.secretValue" (dict "context" $ "name" "rel-redis" "key" "redis-password" "value" .Values.global.redis.password "length" 24) }}
*/}}
{{- define "developer-mesh.secretValue" -}}
{{- $live := lookup "v1" "Secret" (include "vitals.names.namespace" .context) .name -}}
{{- if .value -}}
{{- .value | toString | b64enc -}}
{{- else if and $live $live.data (hasKey $live.data .key) -}}
{{- index $live.data .key -}}
{{- else -}}
{{- randAlphaNum (int .length) | b64enc -}}
{{- end -}}
{{- end -}}

{{/*
The service subcharts that are enabled and list "dep" in their dependencies
(plus "migrate" for the database when migrations are enabled), as NetworkPolicy
peers [{component: x}, ...] in YAML.
Usage:
{{- $peers := include "developer-mesh.clientsOf" (dict "context" $ "dep" "database") | fromYamlArray }}
*/}}
{{- define "developer-mesh.clientsOf" -}}
{{- $ctx := .context -}}
{{- $peers := list -}}
{{- range $app := list "rest-api" "edge-mcp" "worker" "rag-loader" -}}
{{- $v := index $ctx.Values $app | default dict -}}
{{- if and $v.enabled (has $.dep ($v.dependencies | default list)) -}}
{{- $peers = append $peers (dict "component" $app) -}}
{{- end -}}
{{- end -}}
{{- if and (eq .dep "database") $ctx.Values.migrations.enabled -}}
{{- $peers = append $peers (dict "component" "migrate") -}}
{{- end -}}
{{- toYaml $peers -}}
{{- end -}}

{{/*
Enabled service subcharts with the name, port and health path the helm test and
the NOTES use, as a YAML list of {app, host, port, path}.
Usage:
{{- range (include "developer-mesh.apps" $ | fromYamlArray) }}...{{ end }}
*/}}
{{- define "developer-mesh.apps" -}}
{{- $ctx := . -}}
{{- $out := list -}}
{{- range $app := list "rest-api" "edge-mcp" "worker" "rag-loader" -}}
{{- $v := index $ctx.Values $app | default dict -}}
{{- if $v.enabled -}}
{{- $out = append $out (dict "app" $app "host" (include "developer-mesh.app.fullname" (dict "context" $ctx "chart" $app "values" $v)) "port" (int (($v.service | default dict).port | default 80)) "containerPort" (int (($v.containerPorts | default dict).http | default 8080)) "path" ($v.healthPath | default "/health")) -}}
{{- end -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}
