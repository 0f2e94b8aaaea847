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
{{- $strict := .Values.global.requireExistingSecrets -}}
{{- $msgs = append $msgs (include "vitals.secrets.validate" (dict "existingSecret" $db.existingSecret "valueKey" "global.database" "keys" (list $db.existingSecretPasswordKey) "generate" (not $strict))) -}}
{{- $msgs = append $msgs (include "vitals.secrets.validate" (dict "existingSecret" $r.existingSecret "valueKey" "global.redis" "keys" (list $r.existingSecretPasswordKey) "generate" (not $strict))) -}}
{{- $msgs = append $msgs (include "vitals.secrets.validate" (dict "existingSecret" .Values.global.secrets.existingSecret "valueKey" "global.secrets" "keys" (list "jwt-secret" "admin-api-key" "encryption-key") "generate" (not $strict))) -}}
{{- if and .Values.global.waitForMigrations.enabled (not .Values.migrations.enabled) -}}
{{- $msgs = append $msgs "global.waitForMigrations.enabled is true but migrations.enabled is false, so the services would wait for migrations that never run: set migrations.enabled=true, or global.waitForMigrations.enabled=false when the schema is migrated elsewhere (e.g. `--set global.waitForMigrations.enabled=false`)" -}}
{{- end -}}
{{- /* A service that waits for the REST API needs the rest-api Service it computes: <release>-rest-api on 8080. */ -}}
{{- $api := index .Values "rest-api" -}}
{{- range $app := list "edge-mcp" "worker" "rag-loader" -}}
{{- $v := index $.Values $app -}}
{{- if and $v.enabled (has "rest-api" ($v.dependencies | default list)) -}}
{{- if not $api.enabled -}}
{{- $msgs = append $msgs (printf "%s.dependencies lists rest-api but rest-api.enabled is false, so its wait-for-rest-api init container would wait for a Service that is not rendered: set rest-api.enabled=true, or take rest-api out of %s.dependencies (e.g. `--set rest-api.enabled=true`)" $app $app) -}}
{{- else if or $api.fullnameOverride $api.nameOverride -}}
{{- $msgs = append $msgs (printf "%s.dependencies lists rest-api, whose Service is renamed by rest-api.fullnameOverride/nameOverride, but %s addresses it as <release>-rest-api: leave rest-api's name overrides empty (e.g. `--set rest-api.fullnameOverride=`)" $app $app) -}}
{{- else if ne (int $api.service.port) 8080 -}}
{{- $msgs = append $msgs (printf "rest-api.service.port is %d, but %s reaches the REST API on 8080: set rest-api.service.port=8080 (e.g. `--set rest-api.service.port=8080`)" (int $api.service.port) $app) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- include "vitals.errors.fail" (dict "validations" $msgs) -}}
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
