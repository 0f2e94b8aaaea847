{{/* vim: set filetype=mustache: */}}
{{/*
Env of a service container, in dependency order: every $(VAR) refers only to
vars declared earlier in the same list (Kubernetes expands nothing else, and
never ${VAR}). Database and Redis blocks appear only for services that list
them in .Values.dependencies; DATABASE_URL and REDIS_URL are composed from the
parts above them, the passwords coming from secretKeyRef.
Usage:
env:
  {{- include "developer-mesh.env" $ | nindent 12 }}
*/}}
{{- define "developer-mesh.env" -}}
{{- $ctx := . -}}
{{- $g := .Values.global | default dict -}}
{{- $deps := .Values.dependencies | default list -}}
- name: SERVICE_NAME
  value: {{ .Chart.Name | quote }}
- name: PORT
  value: {{ .Values.containerPorts.http | quote }}
- name: ENVIRONMENT
  value: {{ $g.environment | default "development" | quote }}
- name: LOG_LEVEL
  value: {{ $g.logLevel | default "info" | quote }}
- name: LOG_FORMAT
  value: {{ $g.logFormat | default "json" | quote }}
{{- if has "database" $deps }}
{{ include "developer-mesh.env.database" $ctx }}
{{- end }}
{{- if has "redis" $deps }}
{{ include "developer-mesh.env.redis" $ctx }}
{{- end }}
{{- if has "rest-api" $deps }}
{{- $api := include "developer-mesh.dependency" (dict "context" $ctx "name" "rest-api") | fromYaml }}
- name: REST_API_URL
  value: {{ printf "http://%s:%v" $api.host $api.port | quote }}
- name: DEV_MESH_URL
  value: $(REST_API_URL)
{{- end }}
{{- $aws := $g.aws | default dict }}
{{- with $aws.region }}
- name: AWS_REGION
  value: {{ . | quote }}
{{- end }}
{{- $tr := $g.tracing | default dict }}
{{- if $tr.enabled }}
- name: OTEL_SERVICE_NAME
  value: {{ .Chart.Name | quote }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ $tr.endpoint | quote }}
- name: OTEL_TRACES_SAMPLER
  value: parentbased_traceidratio
- name: OTEL_TRACES_SAMPLER_ARG
  value: {{ $tr.samplingRatio | default "0.1" | quote }}
{{- end }}
{{- range $name, $key := .Values.secretEnv }}
- name: {{ $name }}
  valueFrom:
    secretKeyRef:
      name: {{ include "developer-mesh.secrets.name" $ctx }}
      key: {{ $key }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
Database env: DATABASE_HOST/PORT/NAME/USER/SSL_MODE, DATABASE_PASSWORD from the
Secret, then DATABASE_URL built from them (declared last, so it expands).
Usage:
{{ include "developer-mesh.env.database" $ }}
*/}}
{{- define "developer-mesh.env.database" -}}
{{- $db := include "developer-mesh.global" (dict "context" . "key" "database") | fromYaml -}}
- name: DATABASE_HOST
  value: {{ include "developer-mesh.database.host" . | quote }}
- name: DATABASE_PORT
  value: {{ $db.port | default 5432 | quote }}
- name: DATABASE_NAME
  value: {{ $db.name | default "devmesh" | quote }}
- name: DATABASE_USER
  value: {{ $db.user | default "devmesh" | quote }}
- name: DATABASE_SSL_MODE
  value: {{ $db.sslMode | default "disable" | quote }}
- name: DATABASE_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "developer-mesh.database.secretName" . }}
      key: {{ $db.existingSecretPasswordKey | default "password" }}
- name: DATABASE_URL
  value: "postgres://$(DATABASE_USER):$(DATABASE_PASSWORD)@$(DATABASE_HOST):$(DATABASE_PORT)/$(DATABASE_NAME)?sslmode=$(DATABASE_SSL_MODE)"
{{- end -}}

{{/*
Redis env: REDIS_HOST/PORT/DB, REDIS_PASSWORD from the Secret, then REDIS_ADDR
and REDIS_URL built from them.
Usage:
{{ include "developer-mesh.env.redis" $ }}
*/}}
{{- define "developer-mesh.env.redis" -}}
{{- $r := include "developer-mesh.global" (dict "context" . "key" "redis") | fromYaml -}}
- name: REDIS_HOST
  value: {{ include "developer-mesh.redis.host" . | quote }}
- name: REDIS_PORT
  value: {{ $r.port | default 6379 | quote }}
- name: REDIS_DB
  value: {{ $r.db | default 0 | quote }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "developer-mesh.redis.secretName" . }}
      key: {{ $r.existingSecretPasswordKey | default "redis-password" }}
- name: REDIS_ADDR
  value: "$(REDIS_HOST):$(REDIS_PORT)"
- name: REDIS_URL
  value: "redis://:$(REDIS_PASSWORD)@$(REDIS_HOST):$(REDIS_PORT)/$(REDIS_DB)"
{{- end -}}

{{/*
wait-for-<dependency> init containers, one per name in "dependencies"
(vitals.waitFor.initContainer): global.waitImage, global.waitClient (nc,
agent or command with global.waitCommand), global.waitTimeout and
global.waitResources; restricted security context like every container.
Usage:
initContainers:
  {{- include "developer-mesh.wait.initContainers" (dict "context" $ "dependencies" .Values.dependencies) | nindent 8 }}
*/}}
{{- define "developer-mesh.wait.initContainers" -}}
{{- $ctx := .context -}}
{{- $g := $ctx.Values.global | default dict -}}
{{- range .dependencies }}
{{- $dep := include "developer-mesh.dependency" (dict "context" $ctx "name" .) | fromYaml }}
{{- include "vitals.waitFor.initContainer" (dict "context" $ctx "name" . "host" $dep.host "port" $dep.port "timeout" ($g.waitTimeout | default "300s") "image" (required "global.waitImage is not set" $g.waitImage) "valueKey" "global.waitImage" "client" ($g.waitClient | default "nc") "command" $g.waitCommand "resources" $g.waitResources) }}
{{- end }}
{{- end -}}

{{/*
wait-for-migrations init container of a service that uses the database
(global.waitForMigrations.enabled): retries global.waitForMigrations.checkSql
with psql (global.waitForMigrations.image, a public PostgreSQL image) every
5 s until it returns a row, i.e. until the migrate hook Job has applied the
schema; gives up after global.waitTimeout. global.waitForMigrations.client
"agent" (the test overlay) waits for the database's TCP port instead, since
the agent has no psql.
Usage:
initContainers:
  {{- include "developer-mesh.wait.migrations" (dict "context" $) | nindent 8 }}
*/}}
{{- define "developer-mesh.wait.migrations" -}}
{{- $ctx := .context -}}
{{- $g := $ctx.Values.global | default dict -}}
{{- $w := $g.waitForMigrations | default dict -}}
{{- $timeout := trimSuffix "s" (toString ($g.waitTimeout | default "300s")) -}}
- name: wait-for-migrations
  image: {{ include "vitals.images.ref" (dict "image" (required "global.waitForMigrations.image is not set" $w.image) "context" $ctx "valueKey" "global.waitForMigrations.image") }}
  imagePullPolicy: {{ $w.image.pullPolicy | default "IfNotPresent" }}
  {{- if eq ($w.client | default "psql") "agent" }}
  command:
    - agent
    - wait-tcp
    - --host
    - $(DATABASE_HOST)
    - --port
    - $(DATABASE_PORT)
    - --timeout
    - {{ printf "%ss" $timeout }}
  {{- else }}
  command:
    - sh
    - -c
    - >-
      left={{ $timeout }};
      until psql "$DATABASE_URL" -tAc "$CHECK_SQL" 2>/dev/null | grep -q .; do
      left=$((left - 5));
      if [ "$left" -le 0 ]; then echo "timed out: the schema migrations have not run (the migrate hook Job)"; exit 1; fi;
      echo "waiting for the schema migrations"; sleep 5; done;
      echo "schema migrated"
  {{- end }}
  env:
    {{- include "developer-mesh.env.database" $ctx | nindent 4 }}
    - name: CHECK_SQL
      value: {{ $w.checkSql | default "SELECT version FROM schema_migrations WHERE NOT dirty" | quote }}
  resources:
    {{- toYaml ($g.waitResources | default (dict "requests" (dict "cpu" "5m" "memory" "16Mi") "limits" (dict "cpu" "50m" "memory" "32Mi"))) | nindent 4 }}
  securityContext:
    {{- include "vitals.securityContext.container" (dict "sc" (dict "runAsUser" 999 "runAsGroup" 999) "context" $ctx) | nindent 4 }}
{{- end -}}
