{{/* vim: set filetype=mustache: */}}
{{/*
The pod-template annotation that makes a release upgrade roll a Deployment:
`vitals.dev/rollout: <global.rolloutToken>`, nothing while the token is empty.
A new token is a pod-template change through `helm upgrade` itself (its
apply, its hooks, the chart's rendered strategy), where `kubectl rollout
restart` would patch the live object behind the release's back; the vitals
availability tier sets one per run to watch that upgrade roll without
downtime. Deployments only: a StatefulSet's pods are its data services,
which a release upgrade of the app does not restart.
Usage, under a pod template's `annotations:`:
{{- with (include "vitals.rollout.annotation" $) }}{{ . | nindent 8 }}{{ end }}
*/}}
{{- define "vitals.rollout.annotation" -}}
{{- with (.Values.global | default dict).rolloutToken -}}
vitals.dev/rollout: {{ . | quote }}
{{- end -}}
{{- end -}}
