{{/* vim: set filetype=mustache: */}}
{{/*
Joins the non-empty messages in "validations" (each from a vitals.validations.*
helper) and fails once, so a user sees every problem in one run:
  VALUES VALIDATION:
  <what is wrong>: set <value> (e.g. `--set x.y=z`)
Renders nothing when every message is empty.
Usage:
{{- include "vitals.errors.fail" (dict "validations" (list
      (include "vitals.validations.hpa" (dict "hpa" .Values.server.autoscaling "valueKey" "server.autoscaling"))
      (include "vitals.validations.values.notEmpty" (dict "value" .Values.x "valueKey" "x" "example" "y"))
    )) }}
*/}}
{{- define "vitals.errors.fail" -}}
{{- $msgs := list -}}
{{- range .validations -}}
{{- $m := trim (toString .) -}}
{{- if $m -}}
{{- $msgs = append $msgs $m -}}
{{- end -}}
{{- end -}}
{{- if $msgs -}}
{{- fail (printf "\nVALUES VALIDATION:\n%s" (join "\n" $msgs)) -}}
{{- end -}}
{{- end -}}
