{{/* vim: set filetype=mustache: */}}
{{/*
Probe timings shared by the probe helpers (internal). Reads initialDelaySeconds,
periodSeconds, timeoutSeconds, failureThreshold, successThreshold from "probe"
with defaults 10/10/5/6/1 (0 is kept). Keys "enabled", "path", "port", "command" are ignored.
Usage:
{{ include "vitals.probes.timings" (dict "probe" .Values.server.livenessProbe) }}
*/}}
{{- define "vitals.probes.timings" -}}
{{- $p := .probe | default dict -}}
{{- $defaults := dict "initialDelaySeconds" 10 "periodSeconds" 10 "timeoutSeconds" 5 "failureThreshold" 6 "successThreshold" 1 -}}
{{- range $k := list "initialDelaySeconds" "periodSeconds" "timeoutSeconds" "failureThreshold" "successThreshold" }}
{{ $k }}: {{ ternary (index $p $k) (index $defaults $k) (hasKey $p $k) }}
{{- end -}}
{{- end -}}

{{/*
HTTP GET probe on a named container port. Optional "scheme" (default HTTP).
The caller decides whether to render it (probe.enabled).
Usage:
livenessProbe:
  {{- include "vitals.probes.http" (dict "probe" .Values.server.livenessProbe "path" "/healthcheck" "port" "http") | nindent 12 }}
*/}}
{{- define "vitals.probes.http" -}}
httpGet:
  path: {{ .path | default "/" }}
  port: {{ .port }}
  scheme: {{ .scheme | default "HTTP" }}
{{- include "vitals.probes.timings" . }}
{{- end -}}

{{/*
TCP socket probe on a named container port.
Usage:
readinessProbe:
  {{- include "vitals.probes.tcp" (dict "probe" .Values.redis.readinessProbe "port" "redis") | nindent 12 }}
*/}}
{{- define "vitals.probes.tcp" -}}
tcpSocket:
  port: {{ .port }}
{{- include "vitals.probes.timings" . }}
{{- end -}}

{{/*
Exec probe running "command" (a list). probe.command, when set, wins.
Usage:
livenessProbe:
  {{- include "vitals.probes.exec" (dict "probe" .Values.postgresql.livenessProbe "command" (list "pg_isready" "-U" "postgres")) | nindent 12 }}
*/}}
{{- define "vitals.probes.exec" -}}
{{- $p := .probe | default dict -}}
exec:
  command:
    {{- toYaml (default .command $p.command) | nindent 4 }}
{{- include "vitals.probes.timings" . }}
{{- end -}}
