{{/* vim: set filetype=mustache: */}}
{{/*
monitoring.coreos.com/v1 ServiceMonitor scraping one component's Service port,
rendered only when sm.enabled AND the cluster serves monitoring.coreos.com/v1
(so a bare kind install never fails). sm keys: enabled, namespace, interval,
scrapeTimeout, labels, honorLabels, jobLabel, relabelings, metricRelabelings.
Optional "matchLabels" (dict) replaces the component's selector labels to pick
one Service (e.g. a dedicated metrics Service). Renders a whole document,
starting with "---".
Usage:
{{ include "vitals.serviceMonitor" (dict "context" $ "component" "server" "port" "metrics" "path" "/metrics" "sm" .Values.metrics.serviceMonitor) }}
*/}}
{{- define "vitals.serviceMonitor" -}}
{{- $sm := .sm | default dict -}}
{{- $ctx := .context -}}
{{- if and $sm.enabled ($ctx.Capabilities.APIVersions.Has "monitoring.coreos.com/v1") }}
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{ include "vitals.names.component" (dict "context" $ctx "component" .component) }}
  namespace: {{ default (include "vitals.names.namespace" $ctx) $sm.namespace }}
  labels:
    {{- include "vitals.labels.standard" (dict "context" $ctx "component" .component "customLabels" $sm.labels) | nindent 4 }}
spec:
  {{- with $sm.jobLabel }}
  jobLabel: {{ . }}
  {{- end }}
  selector:
    matchLabels:
      {{- if .matchLabels }}
      {{- toYaml .matchLabels | nindent 6 }}
      {{- else }}
      {{- include "vitals.labels.selector" (dict "context" $ctx "component" .component) | nindent 6 }}
      {{- end }}
  namespaceSelector:
    matchNames:
      - {{ include "vitals.names.namespace" $ctx }}
  endpoints:
    - port: {{ .port | default "metrics" }}
      path: {{ .path | default "/metrics" }}
      {{- with $sm.interval }}
      interval: {{ . }}
      {{- end }}
      {{- with $sm.scrapeTimeout }}
      scrapeTimeout: {{ . }}
      {{- end }}
      {{- if $sm.honorLabels }}
      honorLabels: true
      {{- end }}
      {{- with $sm.relabelings }}
      relabelings:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $sm.metricRelabelings }}
      metricRelabelings:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end }}
{{- end -}}
