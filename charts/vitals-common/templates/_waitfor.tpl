{{/* vim: set filetype=mustache: */}}
{{/*
A wait-for-<name> init container: it exits 0 once host:port accepts TCP
connections, and fails after "timeout" (a duration in seconds, "300s" or 300)
so the kubelet restarts it with back-off and the pod says what it waits for.
"client" picks the command:
  nc      (default) `nc -z` in a loop, from a public shell image (busybox)
  agent   the vitals agent's `wait-tcp` (the test overlays' image)
  command "command" (a list) as given; WAIT_HOST, WAIT_PORT and WAIT_TIMEOUT
          are in its env, expanded by Kubernetes as $(WAIT_HOST) etc.
"image" is an image block (vitals.images.ref), "valueKey" its values key,
"resources" the container's requests/limits. PSS restricted.
Usage:
initContainers:
  {{- include "vitals.waitFor.initContainer" (dict "context" $ "name" "postgresql" "host" "x-postgresql" "port" 5432 "timeout" "300s" "image" .Values.waitImage "valueKey" "waitImage" "client" "nc" "resources" .Values.waitResources) | nindent 8 }}
*/}}
{{- define "vitals.waitFor.initContainer" -}}
{{- $image := .image | default dict -}}
{{- $client := .client | default "nc" -}}
{{- $timeout := toString (.timeout | default "300s") -}}
{{- if not (regexMatch "^[0-9]+s?$" $timeout) -}}
{{- fail (printf "\nVALUES VALIDATION:\nthe wait for %s has timeout %q, not a number of seconds: set it like \"300s\"" .name $timeout) -}}
{{- end -}}
{{- $timeout = printf "%ss" (trimSuffix "s" $timeout) }}
- name: wait-for-{{ .name }}
  image: {{ include "vitals.images.ref" (dict "image" $image "context" .context "valueKey" (.valueKey | default "waitImage")) }}
  imagePullPolicy: {{ $image.pullPolicy | default "IfNotPresent" }}
  {{- if eq $client "nc" }}
  command:
    - sh
    - -c
    - >-
      left=${WAIT_TIMEOUT%s};
      until nc -z -w 2 "$WAIT_HOST" "$WAIT_PORT"; do
      left=$((left - 2));
      if [ "$left" -le 0 ]; then echo "timed out after $WAIT_TIMEOUT: $WAIT_HOST:$WAIT_PORT accepts no TCP connection"; exit 1; fi;
      sleep 2; done;
      echo "$WAIT_HOST:$WAIT_PORT accepts TCP connections"
  {{- else if eq $client "agent" }}
  command:
    - agent
    - wait-tcp
    - --host
    - $(WAIT_HOST)
    - --port
    - $(WAIT_PORT)
    - --timeout
    - $(WAIT_TIMEOUT)
  {{- else if eq $client "command" }}
  command:
    {{- toYaml (required (printf "wait-for-%s: client \"command\" needs a command list" .name) .command) | nindent 4 }}
  {{- else }}
  {{- fail (printf "\nVALUES VALIDATION:\nthe wait for %s has client %q, not one of [nc, agent, command]" .name $client) }}
  {{- end }}
  env:
    - name: WAIT_HOST
      value: {{ .host | quote }}
    - name: WAIT_PORT
      value: {{ .port | toString | quote }}
    - name: WAIT_TIMEOUT
      value: {{ $timeout | quote }}
  resources:
    {{- toYaml (.resources | default (dict "requests" (dict "cpu" "5m" "memory" "16Mi") "limits" (dict "cpu" "50m" "memory" "32Mi"))) | nindent 4 }}
  securityContext:
    {{- include "vitals.securityContext.container" (dict "sc" (.securityContext | default dict) "context" .context) | nindent 4 }}
{{- end -}}
