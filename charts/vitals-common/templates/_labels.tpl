{{/* vim: set filetype=mustache: */}}
{{/*
Standard Kubernetes labels for metadata.labels (and pod template labels):
app.kubernetes.io/{name,instance,version,managed-by,component,part-of} and
helm.sh/chart, plus .Values.commonLabels and an optional "customLabels" dict.
"partOf" defaults to the chart name.
Usage:
{{ include "vitals.labels.standard" (dict "context" $ "component" "server") }}
{{ include "vitals.labels.standard" (dict "context" $ "component" "server" "customLabels" .Values.server.podLabels) }}
*/}}
{{- define "vitals.labels.standard" -}}
{{- $ctx := .context -}}
{{- $labels := dict
  "app.kubernetes.io/name" (include "vitals.names.name" $ctx)
  "app.kubernetes.io/instance" $ctx.Release.Name
  "app.kubernetes.io/managed-by" $ctx.Release.Service
  "app.kubernetes.io/part-of" (default (include "vitals.names.name" $ctx) .partOf)
  "helm.sh/chart" (include "vitals.names.chart" $ctx)
-}}
{{- if $ctx.Chart.AppVersion -}}
{{- $_ := set $labels "app.kubernetes.io/version" ($ctx.Chart.AppVersion | replace "+" "_" | trunc 63 | trimSuffix "-") -}}
{{- end -}}
{{- if .component -}}
{{- $_ := set $labels "app.kubernetes.io/component" .component -}}
{{- end -}}
{{- $common := index $ctx.Values "commonLabels" | default dict -}}
{{- $custom := .customLabels | default dict -}}
{{- toYaml (merge $labels $custom $common) -}}
{{- end -}}

{{/*
Selector labels (spec.selector.matchLabels, Service selectors, affinity terms):
only app.kubernetes.io/{name,instance,component}, because selectors are immutable.
Usage:
{{ include "vitals.labels.selector" (dict "context" $ "component" "server") }}
*/}}
{{- define "vitals.labels.selector" -}}
{{- $ctx := .context -}}
app.kubernetes.io/name: {{ include "vitals.names.name" $ctx }}
app.kubernetes.io/instance: {{ $ctx.Release.Name }}
{{- if .component }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}
{{- end -}}
