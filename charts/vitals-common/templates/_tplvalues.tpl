{{/* vim: set filetype=mustache: */}}
{{/*
Renders a value that may contain template expressions (a string or a structure,
which is serialized to YAML first) against the root context.
Usage:
{{ include "vitals.tplvalues.render" (dict "value" .Values.server.extraEnv "context" $) }}
*/}}
{{- define "vitals.tplvalues.render" -}}
{{- if typeIs "string" .value -}}
{{- tpl .value .context -}}
{{- else -}}
{{- tpl (toYaml .value) .context -}}
{{- end -}}
{{- end -}}
