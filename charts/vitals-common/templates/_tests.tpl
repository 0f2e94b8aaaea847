{{/* vim: set filetype=mustache: */}}
{{/*
command/args of a helm test container that GETs "url" and fails unless the
answer is a success. "client" picks the tool in the test image:
  curl  (default; a public image such as curlimages/curl) `curl --fail`,
        retrying refused connections for ~20 s (a new pod is admitted by
        NetworkPolicy enforcement about 2 s after it starts)
  agent the vitals agent (`agent http-get --expect <expect>`), the image the
        test overlays use in the air-gapped cluster
"url" may use $(VAR) of the container's env (Kubernetes expands it).
Usage:
    - name: healthcheck
      image: {{ include "vitals.images.ref" (dict "image" .Values.tests.image "context" $) }}
      {{- include "vitals.tests.httpGet" (dict "client" .Values.tests.client "url" "http://x:8103/healthcheck") | nindent 6 }}
*/}}
{{- define "vitals.tests.httpGet" -}}
{{- $client := .client | default "curl" -}}
{{- if eq $client "curl" -}}
command:
  - curl
args:
  - --fail
  - --silent
  - --show-error
  - --output
  - /dev/null
  - --max-time
  - "5"
  - --retry
  - "10"
  - --retry-delay
  - "2"
  - --retry-connrefused
  - {{ .url | quote }}
{{- else if eq $client "agent" -}}
command:
  - agent
args:
  - http-get
  - --url
  - {{ .url | quote }}
  - --expect
  - {{ .expect | default 200 | toString | quote }}
{{- else -}}
{{- fail (printf "\nVALUES VALIDATION:\ntests.client is %q, not one of [curl, agent]: set tests.client (e.g. `--set tests.client=curl`)" (toString $client)) -}}
{{- end -}}
{{- end -}}

{{/*
Exec probe command (a list, as YAML) proving the test client is alive:
`curl --version` or `agent --help`.
Usage:
livenessProbe:
  {{- include "vitals.probes.exec" (dict "probe" (dict) "command" (include "vitals.tests.probeCommand" (dict "client" .Values.tests.client) | fromYamlArray)) | nindent 8 }}
*/}}
{{- define "vitals.tests.probeCommand" -}}
{{- if eq (.client | default "curl") "agent" -}}
{{- toYaml (list "agent" "--help") -}}
{{- else -}}
{{- toYaml (list "curl" "--version") -}}
{{- end -}}
{{- end -}}
