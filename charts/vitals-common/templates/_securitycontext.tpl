{{/* vim: set filetype=mustache: */}}
{{/*
Pod securityContext meeting Pod Security Standards "restricted": runAsNonRoot,
runAsUser/runAsGroup/fsGroup 1001, fsGroupChangePolicy OnRootMismatch and
seccompProfile RuntimeDefault. Keys set in "sc" replace the defaults (shallow
merge); an "enabled" key is ignored.
Usage:
securityContext:
  {{- include "vitals.securityContext.pod" (dict "sc" .Values.server.podSecurityContext "context" $) | nindent 8 }}
*/}}
{{- define "vitals.securityContext.pod" -}}
{{- $out := dict
  "runAsNonRoot" true
  "runAsUser" 1001
  "runAsGroup" 1001
  "fsGroup" 1001
  "fsGroupChangePolicy" "OnRootMismatch"
  "seccompProfile" (dict "type" "RuntimeDefault")
-}}
{{- range $k, $v := (.sc | default dict) -}}
{{- if ne $k "enabled" -}}
{{- $_ := set $out $k $v -}}
{{- end -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{/*
Container securityContext meeting Pod Security Standards "restricted":
allowPrivilegeEscalation false, privileged false, capabilities drop ALL,
readOnlyRootFilesystem true, runAsNonRoot true, seccompProfile RuntimeDefault.
Keys set in "sc" replace the defaults (shallow merge); "enabled" is ignored.
Apps that need to write get an emptyDir (e.g. at /tmp), not a writable root.
Usage:
securityContext:
  {{- include "vitals.securityContext.container" (dict "sc" .Values.server.containerSecurityContext "context" $) | nindent 12 }}
*/}}
{{- define "vitals.securityContext.container" -}}
{{- $out := dict
  "allowPrivilegeEscalation" false
  "privileged" false
  "capabilities" (dict "drop" (list "ALL"))
  "readOnlyRootFilesystem" true
  "runAsNonRoot" true
  "seccompProfile" (dict "type" "RuntimeDefault")
-}}
{{- range $k, $v := (.sc | default dict) -}}
{{- if ne $k "enabled" -}}
{{- $_ := set $out $k $v -}}
{{- end -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}
