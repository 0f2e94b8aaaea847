{{/* vim: set filetype=mustache: */}}
{{/*
Chart-specific glue only; every shared concern comes from vitals-common.
*/}}

{{/*
Value of one credential key (vitals.secrets.value): the explicit value, else
the value already stored in the release's Secret (so an upgrade keeps the
password the database was initialised with), else a new random string.
Production (global.requireExistingSecrets) never gets here: validations.yaml
requires every credentials.existingSecret.
Usage:
{{ include "infrastructure.secrets.value" (dict "context" $ "secret" "infrastructure-minio" "key" "root-password" "value" .Values.minio.credentials.rootPassword) }}
*/}}
{{- define "infrastructure.secrets.value" -}}
{{- include "vitals.secrets.value" . -}}
{{- end -}}

{{/*
StorageClass line for a PVC: the service's own class, else the chart-wide one;
nothing (cluster default) when both are empty. "-" renders storageClassName: "".
Usage:
{{- include "infrastructure.storageClass" (dict "persistence" .persistence "context" $) | nindent 8 }}
*/}}
{{- define "infrastructure.storageClass" -}}
{{- $class := default .context.Values.storageClass .persistence.storageClass -}}
{{- if eq $class "-" -}}
storageClassName: ""
{{- else if $class -}}
storageClassName: {{ $class | quote }}
{{- end -}}
{{- end -}}

{{/*
The "data" volumeClaimTemplate every data service StatefulSet uses.
Usage:
volumeClaimTemplates:
  {{- include "infrastructure.dataClaim" (dict "context" $ "component" "minio" "persistence" .Values.minio.persistence) | nindent 4 }}
*/}}
{{- define "infrastructure.dataClaim" -}}
- apiVersion: v1
  kind: PersistentVolumeClaim
  metadata:
    name: data
    labels:
      {{- include "vitals.labels.selector" (dict "context" .context "component" .component) | nindent 6 }}
  spec:
    accessModes:
      - ReadWriteOnce
    {{- include "infrastructure.storageClass" (dict "persistence" .persistence "context" .context) | nindent 4 }}
    resources:
      requests:
        storage: {{ .persistence.size | quote }}
{{- end -}}

{{/*
Pod-level settings shared by the data service pods: pull secrets, PSS
restricted pod securityContext, scheduling, no API token, no service links.
Usage:
spec:
  {{- include "infrastructure.podDefaults" (dict "context" $ "sc" .Values.redis.podSecurityContext "images" (list .Values.redis.image)) | nindent 6 }}
*/}}
{{- define "infrastructure.podDefaults" -}}
{{- $ctx := .context -}}
automountServiceAccountToken: false
enableServiceLinks: false
terminationGracePeriodSeconds: {{ $ctx.Values.terminationGracePeriodSeconds }}
securityContext:
  {{- include "vitals.securityContext.pod" (dict "sc" .sc "context" $ctx) | nindent 2 }}
{{- with $ctx.Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $ctx.Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- include "vitals.images.pullSecrets" (dict "images" .images "context" $ctx) }}
{{- end -}}

{{/*
The headless Service (stable pod DNS, publishNotReadyAddresses) and the client
Service of one data service. "ports" is a list of {name, port} whose name is
also the container port name (targetPort); "headlessPorts" defaults to "ports".
"name" is the client Service name (default <fullname>-<component>).
Usage:
{{ include "infrastructure.services" (dict "context" $ "component" "minio" "ports" (list (dict "name" "api" "port" 9000))) }}
*/}}
{{- define "infrastructure.services" -}}
{{- $ctx := .context -}}
{{- $base := include "vitals.names.component" (dict "context" $ctx "component" .component) -}}
{{- range $headless := list true false }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ ternary (printf "%s-headless" $base) (default $base $.name) $headless }}
  namespace: {{ include "vitals.names.namespace" $ctx }}
  labels:
    {{- include "vitals.labels.standard" (dict "context" $ctx "component" $.component "partOf" "health-platform" "customLabels" (dict "health-platform/service" (ternary "headless" "client" $headless))) | nindent 4 }}
spec:
  {{- if $headless }}
  type: ClusterIP
  clusterIP: None
  publishNotReadyAddresses: true
  {{- else }}
  type: ClusterIP
  {{- end }}
  selector:
    {{- include "vitals.labels.selector" (dict "context" $ctx "component" $.component) | nindent 4 }}
  ports:
    {{- range (ternary (default $.ports $.headlessPorts) $.ports $headless) }}
    - name: {{ .name }}
      port: {{ .port }}
      targetPort: {{ .name }}
      protocol: TCP
    {{- end }}
{{- end }}
{{- end -}}

{{/*
FQDN of a Service of this release.
Usage:
{{ include "infrastructure.fqdn" (dict "context" $ "name" "infrastructure-minio") }}
*/}}
{{- define "infrastructure.fqdn" -}}
{{- printf "%s.%s.svc.%s" .name (include "vitals.names.namespace" .context) .context.Values.clusterDomain -}}
{{- end -}}

{{/*
ServiceMonitor of one data service, scraping its client Service only (label
health-platform/service: client), so the headless Service is not scraped twice.
Usage:
{{- include "infrastructure.serviceMonitor" (dict "context" $ "component" "minio" "port" "api" "path" "/minio/v2/metrics/cluster" "sm" .Values.minio.metrics.serviceMonitor) }}
*/}}
{{- define "infrastructure.serviceMonitor" -}}
{{- $match := fromYaml (include "vitals.labels.selector" (dict "context" .context "component" .component)) -}}
{{- $_ := set $match "health-platform/service" "client" -}}
{{- include "vitals.serviceMonitor" (dict "context" .context "component" .component "port" .port "path" .path "sm" .sm "matchLabels" $match) -}}
{{- end -}}
