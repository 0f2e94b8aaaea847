{{/* vim: set filetype=mustache: */}}
{{/*
Every helper here returns one message per problem ("" when fine), in the form
  <what is wrong>: set <value> (e.g. `--set x.y=z`)
Pass them to vitals.errors.fail, which joins them and fails once.
*/}}

{{/*
Message when "value" is empty. "valueKey" is the dotted values key, "example" a
sample value for the --set hint, optional "reason" says why it is needed.
Usage:
{{ include "vitals.validations.values.notEmpty" (dict "value" .Values.global.gcp.projectId "valueKey" "global.gcp.projectId" "example" "my-project-123456" "reason" "required when global.cloudProvider=gcp") }}
*/}}
{{- define "vitals.validations.values.notEmpty" -}}
{{- if empty .value -}}
{{- printf "%s is empty%s: set %s (e.g. `--set %s=%s`)" .valueKey (ternary (printf " (%s)" (toString .reason)) "" (not (empty .reason))) .valueKey .valueKey (toString (default "value" .example)) -}}
{{- end -}}
{{- end -}}

{{/*
Message when "value" is not one of "allowed" (a list). Empty values pass unless
"required" is true.
Usage:
{{ include "vitals.validations.values.oneOf" (dict "value" .Values.global.cloudProvider "valueKey" "global.cloudProvider" "allowed" (list "none" "gcp")) }}
*/}}
{{- define "vitals.validations.values.oneOf" -}}
{{- if or .required (not (empty .value)) -}}
{{- if not (has (toString .value) .allowed) -}}
{{- printf "%s is %q, not one of [%s]: set %s to one of them (e.g. `--set %s=%s`)" .valueKey (toString .value) (join ", " .allowed) .valueKey .valueKey (first .allowed) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Message when a number is below "min" (inclusive bound).
Usage:
{{ include "vitals.validations.values.min" (dict "value" .Values.server.replicaCount "valueKey" "server.replicaCount" "min" 1) }}
*/}}
{{- define "vitals.validations.values.min" -}}
{{- if lt (float64 .value) (float64 .min) -}}
{{- printf "%s is %v, below the minimum %v: set %s (e.g. `--set %s=%v`)" .valueKey .value .min .valueKey .valueKey .min -}}
{{- end -}}
{{- end -}}

{{/*
Messages for an autoscaling block (enabled, minReplicas, maxReplicas,
targetCPUUtilizationPercentage, targetMemoryUtilizationPercentage): when enabled
it needs at least one metric, and minReplicas <= maxReplicas.
Usage:
{{ include "vitals.validations.hpa" (dict "hpa" .Values.server.autoscaling "valueKey" "server.autoscaling") }}
*/}}
{{- define "vitals.validations.hpa" -}}
{{- $h := .hpa | default dict -}}
{{- $k := .valueKey | default "autoscaling" -}}
{{- $msgs := list -}}
{{- if $h.enabled -}}
{{- if and (not $h.targetCPUUtilizationPercentage) (not $h.targetMemoryUtilizationPercentage) -}}
{{- $msgs = append $msgs (printf "%s.enabled is true but no metric is set (an HPA without metrics never scales): set %s.targetCPUUtilizationPercentage and/or %s.targetMemoryUtilizationPercentage (e.g. `--set %s.targetCPUUtilizationPercentage=80`)" $k $k $k $k) -}}
{{- end -}}
{{- $min := int (default 1 $h.minReplicas) -}}
{{- $max := int (default 0 $h.maxReplicas) -}}
{{- if lt $max 1 -}}
{{- $msgs = append $msgs (printf "%s.maxReplicas is not set: set %s.maxReplicas (e.g. `--set %s.maxReplicas=%d`)" $k $k $k (max $min 3)) -}}
{{- else if gt $min $max -}}
{{- $msgs = append $msgs (printf "%s.minReplicas (%d) is greater than %s.maxReplicas (%d): set %s.maxReplicas >= minReplicas (e.g. `--set %s.maxReplicas=%d`)" $k $min $k $max $k $k $min) -}}
{{- end -}}
{{- end -}}
{{- join "\n" $msgs -}}
{{- end -}}

{{/*
Messages for a PDB block (enabled, minAvailable, maxUnavailable): not both set,
and an integer minAvailable must not exceed "replicas" (the target's minimum
replicas: HPA minReplicas or replicaCount), or the budget can never be met.
Usage:
{{ include "vitals.validations.pdb" (dict "pdb" .Values.server.pdb "valueKey" "server.pdb" "replicas" 2) }}
*/}}
{{- define "vitals.validations.pdb" -}}
{{- $p := .pdb | default dict -}}
{{- $k := .valueKey | default "pdb" -}}
{{- $msgs := list -}}
{{- if $p.enabled -}}
{{- $hasMin := and (hasKey $p "minAvailable") (not (kindIs "invalid" $p.minAvailable)) (ne (toString $p.minAvailable) "") -}}
{{- $hasMax := and (hasKey $p "maxUnavailable") (not (kindIs "invalid" $p.maxUnavailable)) (ne (toString $p.maxUnavailable) "") -}}
{{- if and $hasMin $hasMax -}}
{{- $msgs = append $msgs (printf "%s sets both minAvailable and maxUnavailable (a PDB takes one): set only one, e.g. `--set %s.minAvailable=null --set %s.maxUnavailable=1`" $k $k $k) -}}
{{- end -}}
{{- if and $hasMin (not (kindIs "string" $p.minAvailable)) (not (kindIs "invalid" .replicas)) -}}
{{- if gt (int $p.minAvailable) (int .replicas) -}}
{{- $msgs = append $msgs (printf "%s.minAvailable (%d) is greater than the minimum replicas (%d), so the budget can never be met: set %s.minAvailable (e.g. `--set %s.minAvailable=%d`)" $k (int $p.minAvailable) (int .replicas) $k $k (max 1 (sub (int .replicas) 1))) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- join "\n" $msgs -}}
{{- end -}}

{{/*
Message when a credential has neither an existing Secret nor a value.
"existingSecret" and "value" are the two sources, "valueKey" the values prefix
(e.g. postgresql.auth), "secretKey" the key read from the Secret, "field" the
plain-value key (default password).
Usage:
{{ include "vitals.validations.existingSecret" (dict "existingSecret" .Values.postgresql.auth.existingSecret "value" .Values.postgresql.auth.password "valueKey" "postgresql.auth" "secretKey" "password") }}
*/}}
{{- define "vitals.validations.existingSecret" -}}
{{- if and (empty .existingSecret) (empty .value) -}}
{{- $field := .field | default "password" -}}
{{- printf "%s has no %s: set %s.existingSecret to a Secret holding key %q (e.g. `--set %s.existingSecret=my-secret`), or %s.%s for a non-production install" .valueKey $field .valueKey (toString (default $field .secretKey)) .valueKey .valueKey $field -}}
{{- end -}}
{{- end -}}

{{/*
Message when "required" is true but "value" (a host, URL, name) is empty; used
for "external X needs a host when the bundled X is disabled".
Usage:
{{ include "vitals.validations.values.requiredIf" (dict "required" (not .Values.postgresql.enabled) "value" .Values.externalDatabase.host "valueKey" "externalDatabase.host" "example" "db.example.com" "reason" "postgresql.enabled is false") }}
*/}}
{{- define "vitals.validations.values.requiredIf" -}}
{{- if .required -}}
{{- include "vitals.validations.values.notEmpty" . -}}
{{- end -}}
{{- end -}}

{{/*
Messages when a public Ingress path covers a path the app serves only inside
the cluster ("internalPaths": its metrics, admin or dashboards): a path covers
i when it is "/", equals i, or (Prefix/ImplementationSpecific) i starts with
it plus "/". "paths" is a list of {path, pathType}.
Usage:
{{ include "vitals.validations.ingressPaths" (dict "paths" .Values.ingress.paths "internalPaths" .Values.ingress.internalPaths "valueKey" "ingress.paths" "example" "/api") }}
*/}}
{{- define "vitals.validations.ingressPaths" -}}
{{- $msgs := list -}}
{{- $k := .valueKey -}}
{{- $ex := .example | default "/api" -}}
{{- range $p := .paths -}}
{{- $base := trimSuffix "/" $p.path -}}
{{- range $i := $.internalPaths -}}
{{- if or (eq $p.path "/") (eq $i $p.path) (eq (trimSuffix "/" $i) $base) (and (ne (toString $p.pathType) "Exact") (hasPrefix (printf "%s/" $base) $i)) -}}
{{- $msgs = append $msgs (printf "%s %q (%s) publishes %s, which the app serves only inside the cluster: route the app's public prefixes instead (e.g. `--set %s[0].path=%s`)" $k $p.path (toString ($p.pathType | default "Prefix")) $i $k $ex) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- join "\n" $msgs -}}
{{- end -}}
