{{/* vim: set filetype=mustache: */}}
{{/*
policy/v1 PodDisruptionBudget for one component, rendered only when pdb.enabled.
Uses pdb.minAvailable or pdb.maxUnavailable (int or "N%"); neither set means
maxUnavailable: 1. Optional "replicas" (the target's minimum replicas: HPA
minReplicas or replicaCount) lets vitals.validations.pdb fail on a budget that
can never be met; optional "valueKey" names the values block in messages.
Renders a whole document, starting with "---".
Usage:
{{ include "vitals.pdb" (dict "context" $ "component" "server" "pdb" .Values.server.pdb "replicas" 2 "valueKey" "server.pdb") }}
*/}}
{{- define "vitals.pdb" -}}
{{- $p := .pdb | default dict -}}
{{- if $p.enabled -}}
{{- $ctx := .context -}}
{{- include "vitals.errors.fail" (dict "validations" (list (include "vitals.validations.pdb" (dict "pdb" $p "replicas" .replicas "valueKey" (.valueKey | default (printf "%s.pdb" (default "app" .component))))))) -}}
{{- $hasMin := and (hasKey $p "minAvailable") (not (kindIs "invalid" $p.minAvailable)) (ne (toString $p.minAvailable) "") }}
{{- $hasMax := and (hasKey $p "maxUnavailable") (not (kindIs "invalid" $p.maxUnavailable)) (ne (toString $p.maxUnavailable) "") }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "vitals.names.component" (dict "context" $ctx "component" .component) }}
  namespace: {{ include "vitals.names.namespace" $ctx }}
  labels:
    {{- include "vitals.labels.standard" (dict "context" $ctx "component" .component) | nindent 4 }}
spec:
  {{- if $hasMin }}
  minAvailable: {{ $p.minAvailable }}
  {{- else if $hasMax }}
  maxUnavailable: {{ $p.maxUnavailable }}
  {{- else }}
  maxUnavailable: 1
  {{- end }}
  selector:
    matchLabels:
      {{- include "vitals.labels.selector" (dict "context" $ctx "component" .component) | nindent 6 }}
{{- end -}}
{{- end -}}
