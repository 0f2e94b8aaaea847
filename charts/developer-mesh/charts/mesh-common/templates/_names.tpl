{{/* vim: set filetype=mustache: */}}
{{/*
Names shared by the umbrella and the service subcharts. The embedded data
services are named like the Bitnami subcharts the seed used
(<release>-postgresql, <release>-redis) so every subchart can compute them
without seeing the umbrella's values.
*/}}

{{/*
Embedded PostgreSQL name: <release>-postgresql.
Usage:
{{ include "developer-mesh.postgresql.fullname" $ }}
*/}}
{{- define "developer-mesh.postgresql.fullname" -}}
{{- printf "%s-postgresql" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Embedded Redis name: <release>-redis.
Usage:
{{ include "developer-mesh.redis.fullname" $ }}
*/}}
{{- define "developer-mesh.redis.fullname" -}}
{{- printf "%s-redis" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Global values of one block (database, redis, secrets, ...) or an empty dict,
so a subchart rendered on its own still works.
Usage:
{{- $db := include "developer-mesh.global" (dict "context" $ "key" "database") | fromYaml }}
*/}}
{{- define "developer-mesh.global" -}}
{{- $g := .context.Values.global | default dict -}}
{{- toYaml (index $g .key | default dict) -}}
{{- end -}}

{{/*
PostgreSQL host: global.database.host, else the embedded <release>-postgresql.
Usage:
{{ include "developer-mesh.database.host" $ }}
*/}}
{{- define "developer-mesh.database.host" -}}
{{- $db := include "developer-mesh.global" (dict "context" . "key" "database") | fromYaml -}}
{{- default (include "developer-mesh.postgresql.fullname" .) $db.host -}}
{{- end -}}

{{/*
Secret holding the database password: global.database.existingSecret, else the
chart's <release>-postgresql Secret.
Usage:
{{ include "developer-mesh.database.secretName" $ }}
*/}}
{{- define "developer-mesh.database.secretName" -}}
{{- $db := include "developer-mesh.global" (dict "context" . "key" "database") | fromYaml -}}
{{- default (include "developer-mesh.postgresql.fullname" .) $db.existingSecret -}}
{{- end -}}

{{/*
Redis host: global.redis.host, else the embedded <release>-redis.
Usage:
{{ include "developer-mesh.redis.host" $ }}
*/}}
{{- define "developer-mesh.redis.host" -}}
{{- $r := include "developer-mesh.global" (dict "context" . "key" "redis") | fromYaml -}}
{{- default (include "developer-mesh.redis.fullname" .) $r.host -}}
{{- end -}}

{{/*
Secret holding the Redis password: global.redis.existingSecret, else <release>-redis.
Usage:
{{ include "developer-mesh.redis.secretName" $ }}
*/}}
{{- define "developer-mesh.redis.secretName" -}}
{{- $r := include "developer-mesh.global" (dict "context" . "key" "redis") | fromYaml -}}
{{- default (include "developer-mesh.redis.fullname" .) $r.existingSecret -}}
{{- end -}}

{{/*
Shared application Secret (jwt-secret, admin-api-key, encryption-key):
global.secrets.existingSecret, else <release>-mesh-secrets.
Usage:
{{ include "developer-mesh.secrets.name" $ }}
*/}}
{{- define "developer-mesh.secrets.name" -}}
{{- $s := include "developer-mesh.global" (dict "context" . "key" "secrets") | fromYaml -}}
{{- default (printf "%s-mesh-secrets" .Release.Name | trunc 63 | trimSuffix "-") $s.existingSecret -}}
{{- end -}}

{{/*
Name of a service subchart's Deployment and Service, computed the way
vitals.names.fullname computes it inside that subchart, so the umbrella and
sibling subcharts can address it. "values" is that subchart's values (for
nameOverride/fullnameOverride), "chart" its name.
Usage:
{{ include "developer-mesh.app.fullname" (dict "context" $ "chart" "rest-api" "values" (index .Values "rest-api")) }}
*/}}
{{- define "developer-mesh.app.fullname" -}}
{{- $v := .values | default dict -}}
{{- if $v.fullnameOverride -}}
{{- $v.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .chart $v.nameOverride -}}
{{- if contains $name .context.Release.Name -}}
{{- .context.Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .context.Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
One dependency ("database", "redis", "rest-api") as YAML {host, port, external};
external is true when global.database.host / global.redis.host points outside
the release. Siblings address the REST API by its default name.
Usage:
{{- $dep := include "developer-mesh.dependency" (dict "context" $ "name" "redis") | fromYaml }}
*/}}
{{- define "developer-mesh.dependency" -}}
{{- $ctx := .context -}}
{{- if eq .name "database" -}}
{{- $db := include "developer-mesh.global" (dict "context" $ctx "key" "database") | fromYaml -}}
host: {{ include "developer-mesh.database.host" $ctx }}
port: {{ $db.port | default 5432 }}
external: {{ not (empty $db.host) }}
{{- else if eq .name "redis" -}}
{{- $r := include "developer-mesh.global" (dict "context" $ctx "key" "redis") | fromYaml -}}
host: {{ include "developer-mesh.redis.host" $ctx }}
port: {{ $r.port | default 6379 }}
external: {{ not (empty $r.host) }}
{{- else if eq .name "rest-api" -}}
host: {{ include "developer-mesh.app.fullname" (dict "context" $ctx "chart" "rest-api") }}
port: 8080
external: false
{{- else -}}
{{- fail (printf "VALUES VALIDATION:\nunknown dependency %q: set dependencies to a list of database, redis, rest-api (e.g. `--set dependencies={database,redis}`)" (toString .name)) -}}
{{- end -}}
{{- end -}}
