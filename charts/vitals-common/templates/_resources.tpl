{{/* vim: set filetype=mustache: */}}
{{/*
Resource presets (requests and limits, cpu and memory). Types:
  nano   requests 50m/64Mi     limits 100m/128Mi
  micro  requests 100m/128Mi   limits 250m/256Mi
  small  requests 250m/256Mi   limits 500m/512Mi
  medium requests 500m/512Mi   limits 1000m/1Gi
  large  requests 1000m/1Gi    limits 2000m/2Gi
  xlarge requests 2000m/2Gi    limits 4000m/4Gi
Fails on an unknown type.
Usage:
{{ include "vitals.resources.preset" (dict "type" "small") }}
*/}}
{{- define "vitals.resources.preset" -}}
{{- $presets := dict
  "nano" (dict "requests" (dict "cpu" "50m" "memory" "64Mi") "limits" (dict "cpu" "100m" "memory" "128Mi"))
  "micro" (dict "requests" (dict "cpu" "100m" "memory" "128Mi") "limits" (dict "cpu" "250m" "memory" "256Mi"))
  "small" (dict "requests" (dict "cpu" "250m" "memory" "256Mi") "limits" (dict "cpu" "500m" "memory" "512Mi"))
  "medium" (dict "requests" (dict "cpu" "500m" "memory" "512Mi") "limits" (dict "cpu" "1000m" "memory" "1Gi"))
  "large" (dict "requests" (dict "cpu" "1000m" "memory" "1Gi") "limits" (dict "cpu" "2000m" "memory" "2Gi"))
  "xlarge" (dict "requests" (dict "cpu" "2000m" "memory" "2Gi") "limits" (dict "cpu" "4000m" "memory" "4Gi"))
-}}
{{- if hasKey $presets .type -}}
{{- toYaml (index $presets .type) -}}
{{- else -}}
{{- fail (printf "VALUES VALIDATION:\nunknown resources preset %q: set <component>.resourcesPreset to one of nano, micro, small, medium, large, xlarge (e.g. `--set server.resourcesPreset=small`)" (toString .type)) -}}
{{- end -}}
{{- end -}}

{{/*
Container resources: explicit "resources" (non-empty) win, else the preset
named by "preset". A preset of "" or "none" with no explicit resources renders
nothing (the render tier then flags the container, so do not ship that).
Usage:
resources:
  {{- include "vitals.resources.render" (dict "resources" .Values.server.resources "preset" .Values.server.resourcesPreset) | nindent 12 }}
*/}}
{{- define "vitals.resources.render" -}}
{{- if .resources -}}
{{- toYaml .resources -}}
{{- else if and .preset (ne (toString .preset) "none") -}}
{{- include "vitals.resources.preset" (dict "type" .preset) -}}
{{- end -}}
{{- end -}}
