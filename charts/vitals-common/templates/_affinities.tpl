{{/* vim: set filetype=mustache: */}}
{{/*
Soft pod anti-affinity (preferred, weight 1) on the component's selector labels.
Optional "topologyKey" (default kubernetes.io/hostname).
Usage:
{{ include "vitals.affinities.pods.soft" (dict "component" "server" "context" $) }}
*/}}
{{- define "vitals.affinities.pods.soft" -}}
preferredDuringSchedulingIgnoredDuringExecution:
  - weight: 1
    podAffinityTerm:
      labelSelector:
        matchLabels:
          {{- include "vitals.labels.selector" (dict "context" .context "component" .component) | nindent 10 }}
      topologyKey: {{ .topologyKey | default "kubernetes.io/hostname" }}
{{- end -}}

{{/*
Hard pod anti-affinity (required) on the component's selector labels.
Optional "topologyKey" (default kubernetes.io/hostname).
Usage:
{{ include "vitals.affinities.pods.hard" (dict "component" "server" "context" $) }}
*/}}
{{- define "vitals.affinities.pods.hard" -}}
requiredDuringSchedulingIgnoredDuringExecution:
  - labelSelector:
      matchLabels:
        {{- include "vitals.labels.selector" (dict "context" .context "component" .component) | nindent 8 }}
    topologyKey: {{ .topologyKey | default "kubernetes.io/hostname" }}
{{- end -}}

{{/*
Pod anti-affinity dispatcher: "type" soft or hard; "" or "none" renders nothing.
Renders the body of podAntiAffinity.
Usage:
{{- with (include "vitals.affinities.pods" (dict "type" .Values.server.podAntiAffinityPreset "component" "server" "context" $)) }}
affinity:
  podAntiAffinity:
    {{- . | nindent 4 }}
{{- end }}
*/}}
{{- define "vitals.affinities.pods" -}}
{{- if eq (toString .type) "soft" -}}
{{- include "vitals.affinities.pods.soft" . -}}
{{- else if eq (toString .type) "hard" -}}
{{- include "vitals.affinities.pods.hard" . -}}
{{- else if and .type (ne (toString .type) "none") -}}
{{- fail (printf "VALUES VALIDATION:\nunknown podAntiAffinityPreset %q: set <component>.podAntiAffinityPreset to soft, hard or none (e.g. `--set server.podAntiAffinityPreset=soft`)" (toString .type)) -}}
{{- end -}}
{{- end -}}
