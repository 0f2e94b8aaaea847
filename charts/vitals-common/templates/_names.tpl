{{/* vim: set filetype=mustache: */}}
{{/*
Chart name, or .Values.nameOverride, cut at 63 characters (DNS-1123 label).
Usage:
{{ include "vitals.names.name" . }}
*/}}
{{- define "vitals.names.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Fully qualified app name: <release>-<chart>, or .Values.fullnameOverride.
Collapses to <release> when the release name already contains the chart name.
Cut at 63 characters.
Usage:
{{ include "vitals.names.fullname" . }}
*/}}
{{- define "vitals.names.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Name of one component of the release: <fullname>-<component>, cut at 63.
An empty component gives the plain fullname.
Usage:
{{ include "vitals.names.component" (dict "context" $ "component" "server") }}
*/}}
{{- define "vitals.names.component" -}}
{{- $fullname := include "vitals.names.fullname" .context -}}
{{- if .component -}}
{{- printf "%s-%s" $fullname .component | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $fullname -}}
{{- end -}}
{{- end -}}

{{/*
Namespace the release's objects go to: .Release.Namespace, or .Values.namespaceOverride.
Usage:
{{ include "vitals.names.namespace" . }}
*/}}
{{- define "vitals.names.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
<chart>-<version> for the helm.sh/chart label ("+" replaced by "_"), cut at 63.
Usage:
{{ include "vitals.names.chart" . }}
*/}}
{{- define "vitals.names.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
ServiceAccount name for a component: .sa.name when set; else the component
name when .sa.create is true; else "default".
Usage:
{{ include "vitals.names.serviceAccount" (dict "context" $ "component" "server" "sa" .Values.serviceAccount) }}
*/}}
{{- define "vitals.names.serviceAccount" -}}
{{- $sa := .sa | default dict -}}
{{- if $sa.name -}}
{{- $sa.name | trunc 63 | trimSuffix "-" -}}
{{- else if $sa.create -}}
{{- include "vitals.names.component" (dict "context" .context "component" .component) -}}
{{- else -}}
default
{{- end -}}
{{- end -}}
