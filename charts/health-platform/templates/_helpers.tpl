{{/* vim: set filetype=mustache: */}}
{{/*
Chart-specific glue only; every shared concern comes from vitals-common.
*/}}

{{/*
Name prefix of the infrastructure subchart's objects, computed with the same
library helper the subchart uses, from the values the umbrella passes to it.
Usage:
{{ include "health-platform.infrastructure.fullname" . }}
*/}}
{{- define "health-platform.infrastructure.fullname" -}}
{{- $infra := .Values.infrastructure | default dict -}}
{{- include "vitals.names.fullname" (dict "Values" $infra "Release" .Release "Chart" (dict "Name" "infrastructure")) -}}
{{- end -}}

{{/*
Checks of the helm test pod: {name, var} where var is a key of the
infrastructure connections ConfigMap holding the URL to GET. A service the
umbrella values disable is left out (the subchart enables all by default).
Usage:
{{- range (include "health-platform.tests.checks" . | fromYamlArray) }}
*/}}
{{- define "health-platform.tests.checks" -}}
{{- $infra := .Values.infrastructure | default dict -}}
{{- $checks := list -}}
{{- if dig "minio" "enabled" true $infra -}}
{{- $checks = append $checks (dict "name" "minio-ready" "var" "MINIO_HEALTH_URL") -}}
{{- end -}}
{{- if dig "rabbitmq" "enabled" true $infra -}}
{{- $checks = append $checks (dict "name" "rabbitmq-management" "var" "RABBITMQ_MANAGEMENT_URL") -}}
{{- $checks = append $checks (dict "name" "rabbitmq-metrics" "var" "RABBITMQ_METRICS_URL") -}}
{{- end -}}
{{- range $instance := list "health" "auth" -}}
{{- if and (dig "postgresql" $instance "enabled" true $infra) (dig "postgresql" "metrics" "enabled" true $infra) -}}
{{- $checks = append $checks (dict "name" (printf "postgresql-%s-metrics" $instance) "var" (printf "POSTGRES_%s_METRICS_URL" (upper $instance))) -}}
{{- end -}}
{{- if and (dig "redis" $instance "enabled" true $infra) (dig "redis" "metrics" "enabled" true $infra) -}}
{{- $checks = append $checks (dict "name" (printf "redis-%s-metrics" $instance) "var" (printf "REDIS_%s_METRICS_URL" (upper $instance))) -}}
{{- end -}}
{{- end -}}
{{- toYaml $checks -}}
{{- end -}}
