{{/* vim: set filetype=mustache: */}}
{{/*
Data-service components: one PostgreSQL and one Redis/Valkey, each a headless
Service (clusterIP None, publishNotReadyAddresses) + a client Service + a
one-replica StatefulSet with a volumeClaimTemplate, exec/tcp probes, an
optional exporter sidecar, and the password from a Secret key. A chart passes
one component dict, so every chart keeps its seed's names, ports, sizes and
Secret keys. Keys shared by both (defaults in brackets):
  context            the root $
  component          ["postgresql" / "redis"] label app.kubernetes.io/component
  name               [<fullname>-<component>] StatefulSet and client Service
  headlessName       [<name>-hl] headless Service = StatefulSet serviceName
  image              image block (vitals.images.ref); "valueKey" [<component>.image]
  port               container port; "servicePort" [port] of the client Service
  portName           [postgresql / redis] named port
  secretName, secretKey  where the password is
  persistence        {size, accessModes [ReadWriteOnce], storageClass}; "claimName" [data]
  resources, resourcesPreset, podSecurityContext, containerSecurityContext,
  livenessProbe, readinessProbe (timings), nodeSelector, tolerations,
  serviceAccountName [none = default], terminationGracePeriodSeconds [30],
  replicas [1] (scaledByHpa: leave it to an HPA), extraPorts ({name, port}
  on the container and the headless Service, e.g. a cluster bus),
  affinity (map), priorityClassName, persistence.enabled false (an emptyDir instead of the claim),
  persistence.annotations (claim template annotations),
  podManagementPolicy [unset: the API's OrderedReady; immutable, so a chart
  keeps what it rendered before], claimTypeMeta [false: apiVersion/kind in
  the claim template, as a chart rendered it before], emptyDirSizeLimits
  (map volume name -> sizeLimit of the run/tmp emptyDirs),
  extraEnv, extraVolumes, extraVolumeMounts (lists), podAnnotations, podLabels
  (maps), serviceLabels ({headless: {...}, client: {...}} extra Service
  labels, e.g. what a ServiceMonitor selects), partOf (app.kubernetes.io/part-of), enableServiceLinks [true],
  startupProbe (timings; none when unset), probeCommand (exec probe command
  instead of the default check), persistence.storageClass "-" = "" (no class)
  metrics            {enabled, image, port, resources, resourcesPreset,
                      separateService (a <name>-metrics Service, component
                      <component>-metrics) , containerSecurityContext}
Renders `---`-separated objects.
*/}}

{{/*
Shared pieces (internal): the headless and client Services of a data service.
*/}}
{{- define "vitals.datastore.services" -}}
{{- $ctx := .context -}}
{{- $m := .metrics | default dict }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ .headlessName }}
  namespace: {{ include "vitals.names.namespace" $ctx }}
  labels:
    {{- include "vitals.labels.standard" (dict "context" $ctx "component" .component "partOf" .partOf "customLabels" (.serviceLabels | default dict).headless) | nindent 4 }}
spec:
  type: ClusterIP
  clusterIP: None
  publishNotReadyAddresses: true
  ports:
    - name: {{ .portName }}
      port: {{ .port }}
      targetPort: {{ .portName }}
      protocol: TCP
    {{- range .extraPorts }}
    - name: {{ .name }}
      port: {{ .port }}
      targetPort: {{ .name }}
      protocol: TCP
    {{- end }}
  selector:
    {{- include "vitals.labels.selector" (dict "context" $ctx "component" .component) | nindent 4 }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ .name }}
  namespace: {{ include "vitals.names.namespace" $ctx }}
  labels:
    {{- include "vitals.labels.standard" (dict "context" $ctx "component" .component "partOf" .partOf "customLabels" (.serviceLabels | default dict).client) | nindent 4 }}
spec:
  type: ClusterIP
  ports:
    - name: {{ .portName }}
      port: {{ .servicePort | default .port }}
      targetPort: {{ .portName }}
      protocol: TCP
    {{- if and $m.enabled (not $m.separateService) }}
    - name: metrics
      port: {{ $m.port }}
      targetPort: metrics
      protocol: TCP
    {{- end }}
  selector:
    {{- include "vitals.labels.selector" (dict "context" $ctx "component" .component) | nindent 4 }}
{{- if and $m.enabled $m.separateService }}
---
# Metrics get their own Service (component <component>-metrics) so a
# ServiceMonitor selects exactly one Service.
apiVersion: v1
kind: Service
metadata:
  name: {{ .name }}-metrics
  namespace: {{ include "vitals.names.namespace" $ctx }}
  labels:
    {{- include "vitals.labels.standard" (dict "context" $ctx "component" (printf "%s-metrics" .component)) | nindent 4 }}
spec:
  type: ClusterIP
  ports:
    - name: metrics
      port: {{ $m.port }}
      targetPort: metrics
      protocol: TCP
  selector:
    {{- include "vitals.labels.selector" (dict "context" $ctx "component" .component) | nindent 4 }}
{{- end }}
{{- end -}}

{{/*
The StatefulSet around "containers" (a YAML list string) and "volumes"
(internal).
*/}}
{{- define "vitals.datastore.statefulset" -}}
{{- $ctx := .context -}}
{{- $p := .persistence | default dict }}
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: {{ .name }}
  namespace: {{ include "vitals.names.namespace" $ctx }}
  labels:
    {{- include "vitals.labels.standard" (dict "context" $ctx "component" .component "partOf" .partOf) | nindent 4 }}
spec:
  {{- if not .scaledByHpa }}
  replicas: {{ .replicas | default 1 }}
  {{- end }}
  serviceName: {{ .headlessName }}
  {{- with .podManagementPolicy }}
  podManagementPolicy: {{ . }}
  {{- end }}
  updateStrategy:
    type: RollingUpdate
  selector:
    matchLabels:
      {{- include "vitals.labels.selector" (dict "context" $ctx "component" .component) | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "vitals.labels.standard" (dict "context" $ctx "component" .component "partOf" .partOf "customLabels" .podLabels) | nindent 8 }}
      {{- with .podAnnotations }}
      annotations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    spec:
      {{- with .serviceAccountName }}
      serviceAccountName: {{ . }}
      {{- end }}
      automountServiceAccountToken: false
      {{- if eq (toString .enableServiceLinks) "false" }}
      enableServiceLinks: false
      {{- end }}
      {{- with (include "vitals.images.pullSecrets" (dict "images" .images "context" $ctx) | trim) }}
      {{- . | nindent 6 }}
      {{- end }}
      securityContext:
        {{- include "vitals.securityContext.pod" (dict "sc" .podSecurityContext "context" $ctx) | nindent 8 }}
      terminationGracePeriodSeconds: {{ .terminationGracePeriodSeconds | default 30 }}
      {{- with .priorityClassName }}
      priorityClassName: {{ . }}
      {{- end }}
      {{- with .affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
        {{- .containers | nindent 8 }}
      volumes:
        {{- $limits := .emptyDirSizeLimits | default dict }}
        {{- range .emptyDirs }}
        - name: {{ . }}
          {{- with (index $limits .) }}
          emptyDir:
            sizeLimit: {{ . }}
          {{- else }}
          emptyDir: {}
          {{- end }}
        {{- end }}
        {{- with .extraVolumes }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
        {{- if eq (toString $p.enabled) "false" }}
        - name: {{ .claimName | default "data" }}
          emptyDir: {}
        {{- end }}
  {{- if ne (toString $p.enabled) "false" }}
  volumeClaimTemplates:
    {{- if .claimTypeMeta }}
    - apiVersion: v1
      kind: PersistentVolumeClaim
      metadata:
    {{- else }}
    - metadata:
    {{- end }}
        name: {{ .claimName | default "data" }}
        labels:
          {{- include "vitals.labels.selector" (dict "context" $ctx "component" .component) | nindent 10 }}
        {{- with $p.annotations }}
        annotations:
          {{- toYaml . | nindent 10 }}
        {{- end }}
      spec:
        accessModes:
          {{- toYaml ($p.accessModes | default (list "ReadWriteOnce")) | nindent 10 }}
        {{- if eq (toString $p.storageClass) "-" }}
        storageClassName: ""
        {{- else if $p.storageClass }}
        storageClassName: {{ $p.storageClass }}
        {{- end }}
        resources:
          requests:
            storage: {{ required (printf "%s: persistence.size is empty" .name) $p.size }}
  {{- end }}
{{- end -}}

{{/*
The component's "extraPorts" ({name, port}) as container ports (internal, YAML list).
*/}}
{{- define "vitals.datastore.containerPorts" -}}
{{- $out := list -}}
{{- range .extraPorts -}}
{{- $out = append $out (dict "name" .name "containerPort" (int .port) "protocol" "TCP") -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{/*
Fills the defaults every data-service dict shares (internal); returns the dict.
*/}}
{{- define "vitals.datastore.defaults" -}}
{{- $a := deepCopy (omit . "context") -}}
{{- $_ := set $a "name" (default (include "vitals.names.component" (dict "context" .context "component" $a.component)) $a.name) -}}
{{- $_ = set $a "headlessName" (default (printf "%s-hl" $a.name) $a.headlessName) -}}
{{- $_ = set $a "portName" (default $a.component $a.portName) -}}
{{- $_ = set $a "valueKey" (default (printf "%s.image" $a.component) $a.valueKey) -}}
{{- $_ = set $a "metrics" ($a.metrics | default dict) -}}
{{- toYaml $a -}}
{{- end -}}

{{/*
PostgreSQL: the official postgres image (POSTGRES_USER/DB/PASSWORD, PGDATA in
a subdirectory of the claim, since its root holds lost+found on many
provisioners), pg_isready probes, optional postgres-exporter sidecar. Extra
keys: "user", "database", "args" (server flags, e.g. -c max_connections=200).
Usage:
{{ include "vitals.postgresql" (dict "context" $ "component" "postgresql" "image" .Values.postgresql.image "port" 5432 "user" "app" "database" "app" "secretName" "app-postgresql" "secretKey" "password" "persistence" .Values.postgresql.persistence "resources" .Values.postgresql.resources "metrics" (dict "enabled" true "image" .Values.postgresql.metrics.image "port" 9187)) }}
*/}}
{{- define "vitals.postgresql" -}}
{{- $ctx := .context -}}
{{- $in := omit . "context" -}}
{{- $_ := set $in "component" (default "postgresql" .component) -}}
{{- $_ = set $in "context" $ctx -}}
{{- $a := include "vitals.datastore.defaults" $in | fromYaml -}}
{{- $_ = set $a "context" $ctx -}}
{{- $m := $a.metrics -}}
{{- $isReady := $a.probeCommand | default (list "pg_isready" "-h" "127.0.0.1" "-p" (toString $a.port) "-U" $a.user "-d" $a.database) -}}
{{- $password := dict "valueFrom" (dict "secretKeyRef" (dict "name" $a.secretName "key" $a.secretKey)) -}}
{{- $containers := list -}}
{{- $pg := dict
  "name" "postgresql"
  "image" (include "vitals.images.ref" (dict "image" $a.image "context" $ctx "valueKey" $a.valueKey))
  "imagePullPolicy" ($a.image.pullPolicy | default "IfNotPresent")
  "ports" (list (dict "name" $a.portName "containerPort" (int $a.port) "protocol" "TCP"))
  "env" (concat (list
      (dict "name" "POSTGRES_USER" "value" $a.user)
      (dict "name" "POSTGRES_DB" "value" $a.database)
      (merge (dict "name" "POSTGRES_PASSWORD") $password)
      (dict "name" "PGPORT" "value" (toString $a.port))
      (dict "name" "PGDATA" "value" "/var/lib/postgresql/data/pgdata"))
    ($a.extraEnv | default list))
  "securityContext" (include "vitals.securityContext.container" (dict "sc" $a.containerSecurityContext "context" $ctx) | fromYaml)
  "resources" (include "vitals.resources.render" (dict "resources" $a.resources "preset" $a.resourcesPreset) | fromYaml)
  "volumeMounts" (concat (list
      (dict "name" ($a.claimName | default "data") "mountPath" "/var/lib/postgresql/data")
      (dict "name" "run" "mountPath" "/var/run/postgresql")
      (dict "name" "tmp" "mountPath" "/tmp"))
    ($a.extraVolumeMounts | default list))
-}}
{{- with $a.args }}{{- $_ := set $pg "args" . -}}{{- end -}}
{{- range $probe := list "startupProbe" "livenessProbe" "readinessProbe" -}}
{{- $p := index $a $probe -}}
{{- if and (or $p (ne $probe "startupProbe")) (ne (toString ($p | default dict).enabled) "false") -}}
{{- $_ := set $pg $probe (include "vitals.probes.exec" (dict "probe" $p "command" $isReady) | fromYaml) -}}
{{- end -}}
{{- end -}}
{{- $containers = append $containers $pg -}}
{{- if $m.enabled -}}
{{- $containers = append $containers (dict
  "name" "metrics"
  "image" (include "vitals.images.ref" (dict "image" $m.image "context" $ctx "valueKey" (printf "%s.metrics.image" $a.component)))
  "imagePullPolicy" ($m.image.pullPolicy | default "IfNotPresent")
  "ports" (list (dict "name" "metrics" "containerPort" (int $m.port) "protocol" "TCP"))
  "env" (list
    (dict "name" "DATA_SOURCE_URI" "value" (printf "127.0.0.1:%v/%s?sslmode=disable" $a.port $a.database))
    (dict "name" "DATA_SOURCE_USER" "value" $a.user)
    (merge (dict "name" "DATA_SOURCE_PASS") $password)
    (dict "name" "PG_EXPORTER_WEB_LISTEN_ADDRESS" "value" (printf ":%v" $m.port)))
  "securityContext" (include "vitals.securityContext.container" (dict "sc" ($m.containerSecurityContext | default dict) "context" $ctx) | fromYaml)
  "resources" (include "vitals.resources.render" (dict "resources" $m.resources "preset" ($m.resourcesPreset | default "nano")) | fromYaml)
  "livenessProbe" (include "vitals.probes.http" (dict "probe" (dict "initialDelaySeconds" 10) "path" "/" "port" "metrics") | fromYaml)
  "readinessProbe" (include "vitals.probes.http" (dict "probe" (dict "initialDelaySeconds" 5 "periodSeconds" 10) "path" "/" "port" "metrics") | fromYaml)
) -}}
{{- end -}}
{{- include "vitals.datastore.services" $a }}
{{- include "vitals.datastore.statefulset" (merge (dict "containers" (toYaml $containers) "images" (list $a.image ($m.image | default dict)) "emptyDirs" (list "run" "tmp")) $a) }}
{{- end -}}

{{/*
Redis (or Valkey, same CLI): redis-server with --requirepass $(REDIS_PASSWORD)
(expanded by Kubernetes from the Secret env), data on the claim at /data,
append-only file on unless "appendonly" is false, TCP probes, optional
redis_exporter sidecar. Extra keys: "args" (more redis-server flags, e.g.
--maxmemory 256mb --maxmemory-policy noeviction), "livenessCommand" /
"readinessCommand" (exec probes, e.g. redis-cli ping; TCP when unset),
"auth" [true] (false: no --requirepass, no password env), "configFile" (first
argument, e.g. /etc/redis/redis.conf, which then sets dir/appendonly),
"containerName" [redis], "command" (instead of redis-server and the default
flags; "args" then alone), "startupProbe" + "startupCommand".
Usage:
{{ include "vitals.redis" (dict "context" $ "component" "redis" "image" .Values.redis.image "port" 6379 "secretName" "app-redis" "secretKey" "redis-password" "persistence" .Values.redis.persistence "metrics" (dict "enabled" true "image" .Values.redis.metrics.image "port" 9121)) }}
*/}}
{{- define "vitals.redis" -}}
{{- $ctx := .context -}}
{{- $in := omit . "context" -}}
{{- $_ := set $in "component" (default "redis" .component) -}}
{{- $_ = set $in "context" $ctx -}}
{{- $a := include "vitals.datastore.defaults" $in | fromYaml -}}
{{- $_ = set $a "context" $ctx -}}
{{- $m := $a.metrics -}}
{{- $password := dict "valueFrom" (dict "secretKeyRef" (dict "name" $a.secretName "key" $a.secretKey)) -}}
{{- $appendonly := ternary "yes" "no" (ne (toString $a.appendonly) "false") -}}
{{- $auth := ne (toString $a.auth) "false" -}}
{{- $args := list -}}
{{- with $a.configFile -}}{{- $args = append $args . -}}{{- end -}}
{{- $args = concat $args (list "--port" (toString $a.port)) -}}
{{- if not $a.configFile -}}{{- $args = concat $args (list "--dir" "/data" "--appendonly" $appendonly) -}}{{- end -}}
{{- if $auth -}}{{- $args = concat $args (list "--requirepass" "$(REDIS_PASSWORD)") -}}{{- end -}}
{{- $env := ternary (list (merge (dict "name" "REDIS_PASSWORD") $password)) (list) $auth -}}
{{- $containers := list -}}
{{- $containers = append $containers (dict
  "name" ($a.containerName | default "redis")
  "image" (include "vitals.images.ref" (dict "image" $a.image "context" $ctx "valueKey" $a.valueKey))
  "imagePullPolicy" ($a.image.pullPolicy | default "IfNotPresent")
  "command" ($a.command | default (list "redis-server"))
  "args" (ternary ($a.args | default list) (concat $args ($a.args | default list)) (not (empty $a.command)))
  "env" (concat $env ($a.extraEnv | default list))
  "ports" (concat (list (dict "name" $a.portName "containerPort" (int $a.port) "protocol" "TCP")) (include "vitals.datastore.containerPorts" $a | fromYamlArray))
  "securityContext" (include "vitals.securityContext.container" (dict "sc" $a.containerSecurityContext "context" $ctx) | fromYaml)
  "resources" (include "vitals.resources.render" (dict "resources" $a.resources "preset" $a.resourcesPreset) | fromYaml)
  "volumeMounts" (concat (list
      (dict "name" ($a.claimName | default "data") "mountPath" "/data")
      (dict "name" "tmp" "mountPath" "/tmp"))
    ($a.extraVolumeMounts | default list))
) -}}
{{- $main := index $containers 0 -}}
{{- range $probe := list "startupProbe" "livenessProbe" "readinessProbe" -}}
{{- $p := index $a $probe | default dict -}}
{{- $cmd := index $a (printf "%sCommand" (trimSuffix "Probe" $probe)) -}}
{{- if and (or (ne $probe "startupProbe") (index $a $probe)) (ne (toString $p.enabled) "false") -}}
{{- $_ := set $main $probe (ternary (include "vitals.probes.exec" (dict "probe" $p "command" $cmd)) (include "vitals.probes.tcp" (dict "probe" $p "port" $a.portName)) (not (empty $cmd)) | fromYaml) -}}
{{- end -}}
{{- end -}}
{{- if $m.enabled -}}
{{- $containers = append $containers (dict
  "name" "metrics"
  "image" (include "vitals.images.ref" (dict "image" $m.image "context" $ctx "valueKey" (printf "%s.metrics.image" $a.component)))
  "imagePullPolicy" ($m.image.pullPolicy | default "IfNotPresent")
  "ports" (list (dict "name" "metrics" "containerPort" (int $m.port) "protocol" "TCP"))
  "env" (concat (list
    (dict "name" "REDIS_ADDR" "value" (printf "redis://127.0.0.1:%v" $a.port))
    (dict "name" "REDIS_EXPORTER_WEB_LISTEN_ADDRESS" "value" (printf ":%v" $m.port))) (ternary (list (merge (dict "name" "REDIS_PASSWORD") $password)) (list) $auth))
  "securityContext" (include "vitals.securityContext.container" (dict "sc" ($m.containerSecurityContext | default dict) "context" $ctx) | fromYaml)
  "resources" (include "vitals.resources.render" (dict "resources" $m.resources "preset" ($m.resourcesPreset | default "nano")) | fromYaml)
  "livenessProbe" (include "vitals.probes.http" (dict "probe" (dict "initialDelaySeconds" 10) "path" "/health" "port" "metrics") | fromYaml)
  "readinessProbe" (include "vitals.probes.http" (dict "probe" (dict "initialDelaySeconds" 5 "periodSeconds" 10) "path" "/health" "port" "metrics") | fromYaml)
) -}}
{{- end -}}
{{- include "vitals.datastore.services" $a }}
{{- include "vitals.datastore.statefulset" (merge (dict "containers" (toYaml $containers) "images" (list $a.image ($m.image | default dict)) "emptyDirs" (list "tmp")) $a) }}
{{- end -}}
