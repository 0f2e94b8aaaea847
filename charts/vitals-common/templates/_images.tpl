{{/* vim: set filetype=mustache: */}}
{{/*
Image reference: [registry/]repository:tag, or [registry/]repository@digest when
image.digest is set. The tag defaults to .Chart.AppVersion. .Values.global.imageRegistry
overrides image.registry. Fails on a "latest" tag or when no tag can be found;
optional "valueKey" (e.g. server.image) names the values block in messages.
Usage:
{{ include "vitals.images.ref" (dict "image" .Values.server.image "context" $) }}
{{ include "vitals.images.ref" (dict "image" .Values.server.image "context" $ "valueKey" "server.image") }}
*/}}
{{- define "vitals.images.ref" -}}
{{- $image := .image | default dict -}}
{{- $k := .valueKey | default "image" -}}
{{- $global := .context.Values.global | default dict -}}
{{- $registry := default $image.registry $global.imageRegistry -}}
{{- $repository := required (printf "VALUES VALIDATION:\n%s.repository is empty: set %s.repository (e.g. `--set %s.repository=org/app`)" $k $k $k) $image.repository -}}
{{- $base := ternary (printf "%s/%s" $registry $repository) $repository (not (empty $registry)) -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $base $image.digest -}}
{{- else -}}
{{- $tag := toString (default .context.Chart.AppVersion $image.tag) -}}
{{- if or (empty $tag) (eq $tag "<nil>") -}}
{{- fail (printf "VALUES VALIDATION:\nimage %s has no tag and the chart has no appVersion: set %s.tag (e.g. `--set %s.tag=1.2.3`)" $repository $k $k) -}}
{{- end -}}
{{- if eq (lower $tag) "latest" -}}
{{- fail (printf "VALUES VALIDATION:\nimage %s uses the mutable tag \"latest\": set %s.tag to a pinned version, or leave it empty for the chart's appVersion (e.g. `--set %s.tag=%s`)" $repository $k $k (toString (default "1.2.3" .context.Chart.AppVersion))) -}}
{{- end -}}
{{- printf "%s:%s" $base $tag -}}
{{- end -}}
{{- end -}}

{{/*
imagePullSecrets block from .Values.global.imagePullSecrets plus each image's
pullSecrets (strings or {name: x}). Renders nothing when there are none.
Usage:
{{- include "vitals.images.pullSecrets" (dict "images" (list .Values.server.image) "context" $) | nindent 6 }}
*/}}
{{- define "vitals.images.pullSecrets" -}}
{{- $global := .context.Values.global | default dict -}}
{{- $names := list -}}
{{- $all := $global.imagePullSecrets | default list -}}
{{- range .images -}}
{{- $all = concat $all ((. | default dict).pullSecrets | default list) -}}
{{- end -}}
{{- range $all -}}
{{- if kindIs "map" . -}}
{{- $names = append $names .name -}}
{{- else -}}
{{- $names = append $names . -}}
{{- end -}}
{{- end -}}
{{- if $names }}
imagePullSecrets:
{{- range ($names | uniq) }}
  - name: {{ . }}
{{- end }}
{{- end -}}
{{- end -}}
