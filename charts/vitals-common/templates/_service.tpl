{{/* vim: set filetype=mustache: */}}
{{/*
An extra ClusterIP Service under another name (a seed's documented DNS name,
e.g. `postgres-service`), selecting the component's pods on the same named
ports. Nothing when "name" is empty. It carries no metrics port, so a
ServiceMonitor on the component's main Service scrapes each pod once.
"ports" is a list of {name, port} (targetPort = name). Starts with `---`.
Usage:
{{ include "vitals.service.alias" (dict "context" $ "component" "postgresql" "name" .Values.postgresql.service.alias "ports" (list (dict "name" "postgresql" "port" 5432))) }}
*/}}
{{- define "vitals.service.alias" -}}
{{- if .name }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ .name }}
  namespace: {{ include "vitals.names.namespace" .context }}
  labels:
    {{- include "vitals.labels.standard" (dict "context" .context "component" .component) | nindent 4 }}
spec:
  type: ClusterIP
  selector:
    {{- include "vitals.labels.selector" (dict "context" .context "component" .component) | nindent 4 }}
  ports:
    {{- range .ports }}
    - name: {{ .name }}
      port: {{ .port }}
      targetPort: {{ .name }}
      protocol: TCP
    {{- end }}
{{- end }}
{{- end -}}
