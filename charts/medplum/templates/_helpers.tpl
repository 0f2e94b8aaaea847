{{/* vim: set filetype=mustache: */}}
{{/*
Chart-specific glue only; shared concerns come from vitals-common.
*/}}

{{/*
True ("true") when the GCP integration is on.
Usage: {{ if include "medplum.gcp" . }}
*/}}
{{- define "medplum.gcp" -}}
{{- if eq (toString .Values.global.cloudProvider) "gcp" -}}true{{- end -}}
{{- end -}}

{{/*
Public base URL of the server (trailing slash).
Usage: {{ include "medplum.baseUrl" . }}
*/}}
{{- define "medplum.baseUrl" -}}
{{- if .Values.server.baseUrl -}}
{{- .Values.server.baseUrl -}}
{{- else if and .Values.ingress.enabled .Values.ingress.host -}}
{{- printf "%s://%s/" (ternary "https" "http" (or .Values.ingress.tls (not (empty .Values.global.gcp.managedCertificates)))) .Values.ingress.host -}}
{{- else -}}
{{- printf "http://%s.%s.svc.cluster.local:%v/" (include "vitals.names.component" (dict "context" . "component" "server")) (include "vitals.names.namespace" .) .Values.server.service.port -}}
{{- end -}}
{{- end -}}

{{/*
Database connection facts: host, port, name, user, Secret name and key.
Usage: {{ include "medplum.db.host" . }} (likewise .port .name .user .secretName .passwordKey)
*/}}
{{- define "medplum.db.host" -}}
{{- if .Values.postgresql.enabled -}}
{{- include "vitals.names.component" (dict "context" . "component" "postgresql") -}}
{{- else -}}
{{- .Values.externalDatabase.host -}}
{{- end -}}
{{- end -}}
{{- define "medplum.db.port" -}}
{{- ternary .Values.postgresql.service.port .Values.externalDatabase.port .Values.postgresql.enabled -}}
{{- end -}}
{{- define "medplum.db.name" -}}
{{- ternary .Values.postgresql.auth.database .Values.externalDatabase.database .Values.postgresql.enabled -}}
{{- end -}}
{{- define "medplum.db.user" -}}
{{- ternary .Values.postgresql.auth.username .Values.externalDatabase.username .Values.postgresql.enabled -}}
{{- end -}}
{{- define "medplum.db.secretName" -}}
{{- if .Values.postgresql.enabled -}}
{{- default (include "vitals.names.component" (dict "context" . "component" "postgresql")) .Values.postgresql.auth.existingSecret -}}
{{- else -}}
{{- default (include "vitals.names.component" (dict "context" . "component" "external-db")) .Values.externalDatabase.existingSecret -}}
{{- end -}}
{{- end -}}
{{- define "medplum.db.passwordKey" -}}
{{- ternary .Values.postgresql.auth.existingSecretPasswordKey .Values.externalDatabase.existingSecretPasswordKey .Values.postgresql.enabled -}}
{{- end -}}

{{/*
Redis connection facts: host, port, Secret name and key.
Usage: {{ include "medplum.redis.host" . }} (likewise .port .secretName .passwordKey)
*/}}
{{- define "medplum.redis.host" -}}
{{- if .Values.redis.enabled -}}
{{- include "vitals.names.component" (dict "context" . "component" "redis") -}}
{{- else -}}
{{- .Values.externalRedis.host -}}
{{- end -}}
{{- end -}}
{{- define "medplum.redis.port" -}}
{{- ternary .Values.redis.service.port .Values.externalRedis.port .Values.redis.enabled -}}
{{- end -}}
{{- define "medplum.redis.secretName" -}}
{{- if .Values.redis.enabled -}}
{{- default (include "vitals.names.component" (dict "context" . "component" "redis")) .Values.redis.auth.existingSecret -}}
{{- else -}}
{{- default (include "vitals.names.component" (dict "context" . "component" "external-redis")) .Values.externalRedis.existingSecret -}}
{{- end -}}
{{- end -}}
{{- define "medplum.redis.passwordKey" -}}
{{- ternary .Values.redis.auth.existingSecretPasswordKey .Values.externalRedis.existingSecretPasswordKey .Values.redis.enabled -}}
{{- end -}}

{{/*
MEDPLUM_* env vars shared by the server and the migration Job. Order matters:
MEDPLUM_STORAGE_BASE_URL uses $(MEDPLUM_BASE_URL), declared just before it.
Usage:
env:
  {{- include "medplum.server.env" (dict "context" $ "runMigrations" true) | nindent 12 }}
*/}}
{{- define "medplum.server.env" -}}
{{- $ctx := .context -}}
- name: HOME
  value: /tmp
- name: MEDPLUM_PORT
  value: {{ $ctx.Values.server.containerPorts.http | quote }}
- name: MEDPLUM_BASE_URL
  value: {{ include "medplum.baseUrl" $ctx | quote }}
- name: MEDPLUM_STORAGE_BASE_URL
  value: "$(MEDPLUM_BASE_URL)storage/"
{{- with $ctx.Values.server.appBaseUrl }}
- name: MEDPLUM_APP_BASE_URL
  value: {{ . | quote }}
{{- end }}
- name: MEDPLUM_BINARY_STORAGE
  value: {{ $ctx.Values.server.binaryStorage | quote }}
- name: MEDPLUM_LOG_LEVEL
  value: {{ $ctx.Values.server.logLevel | quote }}
- name: OTEL_METRICS_EXPORTER
  value: prometheus
- name: OTEL_EXPORTER_PROMETHEUS_PORT
  value: {{ $ctx.Values.server.containerPorts.metrics | quote }}
- name: MEDPLUM_DATABASE_HOST
  value: {{ include "medplum.db.host" $ctx | quote }}
- name: MEDPLUM_DATABASE_PORT
  value: {{ include "medplum.db.port" $ctx | quote }}
- name: MEDPLUM_DATABASE_DBNAME
  value: {{ include "medplum.db.name" $ctx | quote }}
- name: MEDPLUM_DATABASE_USERNAME
  value: {{ include "medplum.db.user" $ctx | quote }}
- name: MEDPLUM_DATABASE_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "medplum.db.secretName" $ctx }}
      key: {{ include "medplum.db.passwordKey" $ctx }}
- name: MEDPLUM_DATABASE_RUN_MIGRATIONS
  value: {{ .runMigrations | toString | quote }}
- name: MEDPLUM_REDIS_HOST
  value: {{ include "medplum.redis.host" $ctx | quote }}
- name: MEDPLUM_REDIS_PORT
  value: {{ include "medplum.redis.port" $ctx | quote }}
- name: MEDPLUM_REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "medplum.redis.secretName" $ctx }}
      key: {{ include "medplum.redis.passwordKey" $ctx }}
{{- range $k, $v := $ctx.Values.server.config }}
- name: {{ printf "MEDPLUM_%s" ($k | snakecase | upper) }}
  value: {{ $v | toString | quote }}
{{- end }}
{{- with $ctx.Values.server.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
libpq env vars (PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD) for pg_isready
and pg_dump in the backup CronJob.
Usage:
env:
  {{- include "medplum.pg.env" $ | nindent 12 }}
*/}}
{{- define "medplum.pg.env" -}}
- name: PGHOST
  value: {{ include "medplum.db.host" . | quote }}
- name: PGPORT
  value: {{ include "medplum.db.port" . | quote }}
- name: PGDATABASE
  value: {{ include "medplum.db.name" . | quote }}
- name: PGUSER
  value: {{ include "medplum.db.user" . | quote }}
- name: PGPASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "medplum.db.secretName" . }}
      key: {{ include "medplum.db.passwordKey" . }}
{{- end -}}

{{/*
Pod-level fields every pod of the release shares: service account, token
mount, pull secrets and the PSS restricted pod securityContext.
Usage:
spec:
  {{- include "medplum.pod.common" (dict "context" $ "sc" .Values.server.podSecurityContext "images" (list .Values.server.image)) | nindent 6 }}
*/}}
{{- define "medplum.pod.common" -}}
serviceAccountName: {{ include "vitals.names.serviceAccount" (dict "context" .context "component" "" "sa" .context.Values.serviceAccount) }}
automountServiceAccountToken: {{ .context.Values.serviceAccount.automountServiceAccountToken }}
{{- include "vitals.images.pullSecrets" (dict "images" .images "context" .context) }}
securityContext:
  {{- include "vitals.securityContext.pod" (dict "sc" .sc "context" .context) | nindent 2 }}
{{- end -}}

{{/*
The /data/binary volume mount and volume of the server and the migration Job:
a claim when server.binaryVolume.enabled, an emptyDir otherwise (one replica
only, see validate.yaml), nothing when binaryStorage is object storage.
Usage:
volumeMounts:
  {{- include "medplum.binary.mount" $ | nindent 12 }}
volumes:
  {{- include "medplum.binary.volume" $ | nindent 8 }}
*/}}
{{- define "medplum.binary.mount" -}}
{{- if hasPrefix "file:" .Values.server.binaryStorage -}}
- name: binary
  mountPath: /data/binary
{{- end -}}
{{- end -}}
{{- define "medplum.binary.volume" -}}
{{- $b := .Values.server.binaryVolume -}}
{{- if hasPrefix "file:" .Values.server.binaryStorage -}}
- name: binary
{{- if $b.enabled }}
  persistentVolumeClaim:
    claimName: {{ default (include "vitals.names.component" (dict "context" . "component" "binary")) $b.existingClaim }}
{{- else }}
  emptyDir: {}
{{- end }}
{{- end -}}
{{- end -}}
