{{/* vim: set filetype=mustache: */}}
{{/*
autoscaling/v2 HorizontalPodAutoscaler for one component, rendered only when
hpa.enabled. Metrics: cpu from hpa.targetCPUUtilizationPercentage and memory
from hpa.targetMemoryUtilizationPercentage (averageUtilization); minReplicas,
maxReplicas and an optional hpa.behavior block. Fails (vitals.errors.fail) when
enabled with no metric or minReplicas > maxReplicas. "target" is the workload
kind (default Deployment); optional "name" is the target's name (default the
component name); optional "valueKey" names the values block in messages.
Renders a whole document, starting with "---".
Usage:
{{ include "vitals.hpa" (dict "context" $ "component" "server" "target" "Deployment" "hpa" .Values.server.autoscaling "valueKey" "server.autoscaling") }}
*/}}
{{- define "vitals.hpa" -}}
{{- $h := .hpa | default dict -}}
{{- if $h.enabled -}}
{{- $ctx := .context -}}
{{- include "vitals.errors.fail" (dict "validations" (list (include "vitals.validations.hpa" (dict "hpa" $h "valueKey" (.valueKey | default (printf "%s.autoscaling" (default "app" .component))))))) -}}
{{- $name := default (include "vitals.names.component" (dict "context" $ctx "component" .component)) .name }}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "vitals.names.component" (dict "context" $ctx "component" .component) }}
  namespace: {{ include "vitals.names.namespace" $ctx }}
  labels:
    {{- include "vitals.labels.standard" (dict "context" $ctx "component" .component) | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: {{ .targetApiVersion | default "apps/v1" }}
    kind: {{ .target | default "Deployment" }}
    name: {{ $name }}
  minReplicas: {{ $h.minReplicas | default 1 }}
  maxReplicas: {{ $h.maxReplicas }}
  metrics:
    {{- if $h.targetCPUUtilizationPercentage }}
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $h.targetCPUUtilizationPercentage }}
    {{- end }}
    {{- if $h.targetMemoryUtilizationPercentage }}
    - type: Resource
      resource:
        name: memory
        target:
          type: Utilization
          averageUtilization: {{ $h.targetMemoryUtilizationPercentage }}
    {{- end }}
  {{- with $h.behavior }}
  behavior:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}
{{- end -}}
