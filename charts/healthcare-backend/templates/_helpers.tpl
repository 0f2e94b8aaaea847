{{/* vim: set filetype=mustache: */}}
{{/*
Chart-specific glue only; every shared concern comes from vitals-common.
Defines are prefixed "healthcare-backend." (template names are global).
*/}}

{{/* Secret names and keys ------------------------------------------------ */}}

{{/*
Secret holding the PostgreSQL password.
Usage: {{ include "healthcare-backend.postgresql.secretName" . }}
*/}}
{{- define "healthcare-backend.postgresql.secretName" -}}
{{- default (include "vitals.names.component" (dict "context" . "component" "postgresql")) .Values.postgresql.auth.existingSecret -}}
{{- end -}}

{{- define "healthcare-backend.postgresql.secretKey" -}}
{{- ternary .Values.postgresql.auth.existingSecretPasswordKey "password" (not (empty .Values.postgresql.auth.existingSecret)) -}}
{{- end -}}

{{/*
Secret holding the Redis password.
Usage: {{ include "healthcare-backend.redis.secretName" . }}
*/}}
{{- define "healthcare-backend.redis.secretName" -}}
{{- default (include "vitals.names.component" (dict "context" . "component" "redis")) .Values.redis.auth.existingSecret -}}
{{- end -}}

{{- define "healthcare-backend.redis.secretKey" -}}
{{- ternary .Values.redis.auth.existingSecretPasswordKey "redis-password" (not (empty .Values.redis.auth.existingSecret)) -}}
{{- end -}}

{{/*
Secret holding the API's own secrets (key jwt-secret).
Usage: {{ include "healthcare-backend.api.secretName" . }}
*/}}
{{- define "healthcare-backend.api.secretName" -}}
{{- default (include "vitals.names.component" (dict "context" . "component" "api")) .Values.api.secrets.existingSecret -}}
{{- end -}}

{{/*
Base64 value for a generated Secret key: the value from values.yaml, else the
value already stored in the cluster (so upgrades keep the password the data
volume was initialised with), else a random 32-character alphanumeric string
(URL-safe, because it is embedded in DATABASE_URL / REDIS_URL).
Usage: {{ include "healthcare-backend.secretValue" (dict "context" $ "secret" "name" "key" "password" "value" .Values.x) }}
*/}}
{{- define "healthcare-backend.secretValue" -}}
{{- include "vitals.secrets.value" (dict "context" .context "secret" .secret "key" .key "value" .value) | b64enc -}}
{{- end -}}

{{/* Hosts ------------------------------------------------------------------ */}}

{{- define "healthcare-backend.postgresql.host" -}}
{{- include "vitals.names.component" (dict "context" . "component" "postgresql") -}}
{{- end -}}

{{- define "healthcare-backend.redis.host" -}}
{{- include "vitals.names.component" (dict "context" . "component" "redis") -}}
{{- end -}}

{{/*
The host clients connect to: the seed's Service name (postgresql.service.alias
postgres-primary, redis.service.alias redis-cluster) when set, else the
chart's client Service.
Usage: {{ include "healthcare-backend.postgresql.connectHost" . }}
*/}}
{{- define "healthcare-backend.postgresql.connectHost" -}}
{{- default (include "healthcare-backend.postgresql.host" .) .Values.postgresql.service.alias -}}
{{- end -}}
{{- define "healthcare-backend.redis.connectHost" -}}
{{- default (include "healthcare-backend.redis.host" .) .Values.redis.service.alias -}}
{{- end -}}

{{- define "healthcare-backend.redis.headless" -}}
{{- printf "%s-headless" (include "vitals.names.component" (dict "context" . "component" "redis")) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "healthcare-backend.postgresql.headless" -}}
{{- printf "%s-headless" (include "vitals.names.component" (dict "context" . "component" "postgresql")) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Comma-separated host:port of the Redis cluster's bootstrap nodes (stable
per-pod DNS names of the headless Service), for cluster-aware clients.
Usage: {{ include "healthcare-backend.redis.clusterNodes" . }}
*/}}
{{- define "healthcare-backend.redis.clusterNodes" -}}
{{- $sts := include "vitals.names.component" (dict "context" . "component" "redis") -}}
{{- $headless := include "healthcare-backend.redis.headless" . -}}
{{- $ns := include "vitals.names.namespace" . -}}
{{- $nodes := list -}}
{{- range $i := until (int .Values.redis.cluster.nodes) -}}
{{- $nodes = append $nodes (printf "%s-%d.%s.%s.svc.%s:%d" $sts $i $headless $ns $.Values.clusterDomain (int $.Values.redis.service.port)) -}}
{{- end -}}
{{- join "," $nodes -}}
{{- end -}}

{{/*
Most API pods that can run at once: HPA maxReplicas, else replicaCount.
*/}}
{{- define "healthcare-backend.api.maxPods" -}}
{{- if .Values.api.autoscaling.enabled -}}
{{- int .Values.api.autoscaling.maxReplicas -}}
{{- else -}}
{{- int .Values.api.replicaCount -}}
{{- end -}}
{{- end -}}

{{/*
Fewest API pods (HPA minReplicas, else replicaCount), for the PDB check.
*/}}
{{- define "healthcare-backend.api.minPods" -}}
{{- if .Values.api.autoscaling.enabled -}}
{{- int .Values.api.autoscaling.minReplicas -}}
{{- else -}}
{{- int .Values.api.replicaCount -}}
{{- end -}}
{{- end -}}

{{- define "healthcare-backend.redis.minPods" -}}
{{- if and .Values.redis.cluster.enabled .Values.redis.autoscaling.enabled -}}
{{- int .Values.redis.autoscaling.minReplicas -}}
{{- else if .Values.redis.cluster.enabled -}}
{{- int .Values.redis.cluster.nodes -}}
{{- else -}}
1
{{- end -}}
{{- end -}}

{{/*
Message when every API pod the HPA may run, each with its Prisma pool of
api.databasePoolSize connections, plus 10 kept for superuser, exporter and
backup, does not fit PostgreSQL max_connections.
Usage: {{ include "healthcare-backend.validations.dbPool" . }}
*/}}
{{- define "healthcare-backend.validations.dbPool" -}}
{{- $pods := int (include "healthcare-backend.api.maxPods" .) -}}
{{- $pool := int .Values.api.databasePoolSize -}}
{{- $need := add (mul $pods $pool) 10 -}}
{{- $have := int .Values.postgresql.config.maxConnections -}}
{{- if gt $need $have -}}
{{- printf "%d API pods (the HPA's maxReplicas) x api.databasePoolSize %d + 10 reserved = %d connections, above postgresql.config.maxConnections %d: set postgresql.config.maxConnections >= %d (e.g. `--set postgresql.config.maxConnections=%d`), or lower api.databasePoolSize / api.autoscaling.maxReplicas (a pool of 1 serialises every pod's queries)" $pods $pool $need $have $need $need -}}
{{- end -}}
{{- end -}}

{{/* Values validation -------------------------------------------------------- */}}

{{/*
PDB must leave room for one disruption: minAvailable < the target's minimum
replicas (the library check allows equality, which blocks every drain).
# TODO(vitals-common): move (strict variant of vitals.validations.pdb)
Usage: {{ include "healthcare-backend.validations.pdbStrict" (dict "pdb" .Values.api.pdb "replicas" 3 "valueKey" "api.pdb") }}
*/}}
{{- define "healthcare-backend.validations.pdbStrict" -}}
{{- $p := .pdb -}}
{{- if and $p.enabled (not (kindIs "invalid" $p.minAvailable)) (not (kindIs "string" $p.minAvailable)) -}}
{{- if ge (int $p.minAvailable) (int .replicas) -}}
{{- printf "%s.minAvailable (%d) is not below the minimum replicas (%d), so no pod can ever be evicted: set %s.minAvailable (e.g. `--set %s.minAvailable=%d`)" .valueKey (int $p.minAvailable) (int .replicas) .valueKey .valueKey (max 0 (sub (int .replicas) 1)) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
VPA in an evicting mode fights an HPA that scales the same pods on cpu/memory.
*/}}
{{- define "healthcare-backend.validations.vpa" -}}
{{- if and .vpa.enabled .hpaEnabled (ne (toString .vpa.updateMode) "Off") -}}
{{- printf "%s.updateMode is %q while the HPA scales the same pods on cpu/memory (they would fight): set %s.updateMode=Off (e.g. `--set %s.updateMode=Off`)" .valueKey (toString .vpa.updateMode) .valueKey .valueKey -}}
{{- end -}}
{{- end -}}

{{/*
Every values check of this chart, failing once with all messages.
Usage: {{ include "healthcare-backend.validateValues" . }}
*/}}
{{- define "healthcare-backend.validateValues" -}}
{{- $r := .Values.redis -}}
{{- $msgs := list -}}
{{- if $r.cluster.enabled -}}
{{- $n := int $r.cluster.nodes -}}
{{- $need := mul 3 (add1 (int $r.cluster.replicasPerMaster)) -}}
{{- if and (ne $n 1) (lt $n (int $need)) -}}
{{- $msgs = append $msgs (printf "redis.cluster.nodes (%d) cannot form a cluster with %d replica(s) per master (Redis Cluster needs 3 masters): set redis.cluster.nodes to 1 or >= %d (e.g. `--set redis.cluster.nodes=%d`)" $n (int $r.cluster.replicasPerMaster) $need $need) -}}
{{- end -}}
{{- if and (eq $n 1) (gt (int $r.cluster.replicasPerMaster) 0) -}}
{{- $msgs = append $msgs "redis.cluster.replicasPerMaster needs at least 3 x (1 + replicas) nodes: set redis.cluster.replicasPerMaster=0 for a single node (e.g. `--set redis.cluster.replicasPerMaster=0`)" -}}
{{- end -}}
{{- if and $r.autoscaling.enabled (lt (int $r.autoscaling.minReplicas) $n) -}}
{{- $msgs = append $msgs (printf "redis.autoscaling.minReplicas (%d) is below redis.cluster.nodes (%d): a scale-down would delete bootstrap masters; set redis.autoscaling.minReplicas (e.g. `--set redis.autoscaling.minReplicas=%d`)" (int $r.autoscaling.minReplicas) $n $n) -}}
{{- end -}}
{{- else if $r.autoscaling.enabled -}}
{{- $msgs = append $msgs "redis.autoscaling.enabled needs cluster mode (standalone Redis cannot add nodes): set redis.cluster.enabled=true or disable the HPA (e.g. `--set redis.autoscaling.enabled=false`)" -}}
{{- end -}}
{{- $msgs = append $msgs (include "healthcare-backend.validations.pdbStrict" (dict "pdb" .Values.api.pdb "replicas" (include "healthcare-backend.api.minPods" .) "valueKey" "api.pdb")) -}}
{{- $msgs = append $msgs (include "healthcare-backend.validations.pdbStrict" (dict "pdb" $r.pdb "replicas" (include "healthcare-backend.redis.minPods" .) "valueKey" "redis.pdb")) -}}
{{- $msgs = append $msgs (include "vitals.validations.pdb" (dict "pdb" .Values.api.pdb "replicas" (include "healthcare-backend.api.minPods" .) "valueKey" "api.pdb")) -}}
{{- $msgs = append $msgs (include "vitals.validations.pdb" (dict "pdb" $r.pdb "replicas" (include "healthcare-backend.redis.minPods" .) "valueKey" "redis.pdb")) -}}
{{- $msgs = append $msgs (include "healthcare-backend.validations.vpa" (dict "vpa" .Values.api.vpa "hpaEnabled" .Values.api.autoscaling.enabled "valueKey" "api.vpa")) -}}
{{- $msgs = append $msgs (include "healthcare-backend.validations.dbPool" .) -}}
{{- $msgs = append $msgs (include "healthcare-backend.validations.ingressPaths" .) -}}
{{- if not (has (toString $r.config.maxmemoryPolicy) (list "noeviction" "volatile-lru" "volatile-lfu" "volatile-ttl" "volatile-random")) -}}
{{- $msgs = append $msgs (printf "redis.config.maxmemoryPolicy is %q: Redis would evict any key under memory pressure, Bull's queue and job keys included (jobs silently lost): set redis.config.maxmemoryPolicy=noeviction (e.g. `--set redis.config.maxmemoryPolicy=noeviction`)" (toString $r.config.maxmemoryPolicy)) -}}
{{- end -}}
{{- if .Values.global.requireExistingSecrets -}}
{{- $msgs = append $msgs (include "vitals.secrets.validate" (dict "existingSecret" .Values.postgresql.auth.existingSecret "valueKey" "postgresql.auth" "keys" (list "password") "generate" false)) -}}
{{- $msgs = append $msgs (include "vitals.secrets.validate" (dict "existingSecret" .Values.redis.auth.existingSecret "valueKey" "redis.auth" "keys" (list "redis-password") "generate" false)) -}}
{{- $msgs = append $msgs (include "vitals.secrets.validate" (dict "existingSecret" .Values.api.secrets.existingSecret "valueKey" "api.secrets" "keys" (list "jwt-secret") "generate" false)) -}}
{{- end -}}
{{- $msgs = append $msgs (include "healthcare-backend.validations.vpa" (dict "vpa" $r.vpa "hpaEnabled" (and $r.cluster.enabled $r.autoscaling.enabled) "valueKey" "redis.vpa")) -}}
{{- include "vitals.errors.fail" (dict "validations" $msgs) -}}
{{- end -}}

{{/* Autoscaling --------------------------------------------------------------- */}}

{{/*
vitals.hpa plus the seed's per-pod custom metrics (Pods metrics), appended only
when enabled AND custom.metrics.k8s.io/v1beta1 is served (prometheus-adapter).
# TODO(vitals-common): move (vitals.hpa has no hook for extra metrics)
Usage: {{ include "healthcare-backend.hpa.api" . }}
*/}}
{{- define "healthcare-backend.hpa.api" -}}
{{- $out := include "vitals.hpa" (dict "context" . "component" "api" "target" "Deployment" "hpa" .Values.api.autoscaling "valueKey" "api.autoscaling") -}}
{{- $cm := .Values.api.autoscaling.customMetrics -}}
{{- if and $out $cm.enabled (.Capabilities.APIVersions.Has "custom.metrics.k8s.io/v1beta1") -}}
{{- $hpa := $out | fromYaml -}}
{{- $metrics := $hpa.spec.metrics -}}
{{- $metrics = append $metrics (dict "type" "Pods" "pods" (dict "metric" (dict "name" "http_requests_per_second") "target" (dict "type" "AverageValue" "averageValue" (toString $cm.httpRequestsPerSecond)))) -}}
{{- $metrics = append $metrics (dict "type" "Pods" "pods" (dict "metric" (dict "name" "active_appointments_count") "target" (dict "type" "AverageValue" "averageValue" (toString $cm.activeAppointments)))) -}}
{{- $_ := set $hpa.spec "metrics" $metrics -}}
---
{{ toYaml $hpa }}
{{- else -}}
{{- $out -}}
{{- end -}}
{{- end -}}

{{/* Pod pieces ---------------------------------------------------------------- */}}

{{/*
Init container waiting for PostgreSQL to accept connections (pg_isready from the
PostgreSQL image), bounded by waitContainers.timeoutSeconds.
Usage: {{ include "healthcare-backend.wait.postgresql" . | nindent 8 }}
*/}}
{{- define "healthcare-backend.wait.postgresql" -}}
- name: wait-for-postgresql
  image: {{ include "vitals.images.ref" (dict "image" .Values.postgresql.image "context" .) }}
  imagePullPolicy: {{ .Values.postgresql.image.pullPolicy }}
  command:
    - /bin/sh
    - -c
    - |
      end=$(( $(date +%s) + {{ int .Values.waitContainers.timeoutSeconds }} ))
      until pg_isready -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d "$PGDATABASE" -t 3; do
        if [ "$(date +%s)" -ge "$end" ]; then echo "ERROR: PostgreSQL $PGHOST:$PGPORT not ready in time"; exit 1; fi
        sleep 2
      done
  env:
    - name: PGHOST
      value: {{ include "healthcare-backend.postgresql.connectHost" . | quote }}
    - name: PGPORT
      value: {{ .Values.postgresql.service.port | quote }}
    - name: PGUSER
      value: {{ .Values.postgresql.auth.username | quote }}
    - name: PGDATABASE
      value: {{ .Values.postgresql.auth.database | quote }}
  securityContext:
    {{- include "vitals.securityContext.container" (dict "sc" .Values.api.containerSecurityContext "context" .) | nindent 4 }}
  resources:
    {{- include "vitals.resources.render" (dict "resources" .Values.waitContainers.resources "preset" .Values.waitContainers.resourcesPreset) | nindent 4 }}
{{- end -}}

{{/*
Init container waiting for Redis: a PONG through the client Service, which only
lists ready nodes (in cluster mode: nodes whose cluster_state is ok).
Usage: {{ include "healthcare-backend.wait.redis" . | nindent 8 }}
*/}}
{{- define "healthcare-backend.wait.redis" -}}
- name: wait-for-redis
  image: {{ include "vitals.images.ref" (dict "image" .Values.redis.image "context" .) }}
  imagePullPolicy: {{ .Values.redis.image.pullPolicy }}
  command:
    - /bin/sh
    - -c
    - |
      end=$(( $(date +%s) + {{ int .Values.waitContainers.timeoutSeconds }} ))
      until [ "$(redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null)" = "PONG" ]; do
        if [ "$(date +%s)" -ge "$end" ]; then echo "ERROR: Redis $REDIS_HOST:$REDIS_PORT not ready in time"; exit 1; fi
        sleep 2
      done
  env:
    - name: REDIS_HOST
      value: {{ include "healthcare-backend.redis.connectHost" . | quote }}
    - name: REDIS_PORT
      value: {{ .Values.redis.service.port | quote }}
    - name: REDISCLI_AUTH
      valueFrom:
        secretKeyRef:
          name: {{ include "healthcare-backend.redis.secretName" . }}
          key: {{ include "healthcare-backend.redis.secretKey" . }}
  securityContext:
    {{- include "vitals.securityContext.container" (dict "sc" .Values.api.containerSecurityContext "context" .) | nindent 4 }}
  resources:
    {{- include "vitals.resources.render" (dict "resources" .Values.waitContainers.resources "preset" .Values.waitContainers.resourcesPreset) | nindent 4 }}
{{- end -}}

{{/*
Pod spec of a pg_dump backup run (shared by the CronJob and the post-install
first backup): dumps to the backup volume, then prunes dumps older than
postgresql.backup.retentionDays.
Usage: {{ include "healthcare-backend.backup.podSpec" . | nindent 10 }}
*/}}
{{- define "healthcare-backend.backup.podSpec" -}}
{{- $pg := .Values.postgresql -}}
{{- include "vitals.images.pullSecrets" (dict "images" (list $pg.image) "context" .) }}
serviceAccountName: {{ include "vitals.names.serviceAccount" (dict "context" . "component" "postgresql" "sa" .Values.serviceAccount) }}
automountServiceAccountToken: {{ .Values.serviceAccount.automountServiceAccountToken }}
restartPolicy: Never
securityContext:
  {{- include "vitals.securityContext.pod" (dict "sc" $pg.podSecurityContext "context" .) | nindent 2 }}
containers:
  - name: backup
    image: {{ include "vitals.images.ref" (dict "image" $pg.image "context" .) }}
    imagePullPolicy: {{ $pg.image.pullPolicy }}
    command:
      - /bin/sh
      - -c
      - |
        set -eu
        end=$(( $(date +%s) + {{ int .Values.waitContainers.timeoutSeconds }} ))
        until pg_isready -t 3; do
          if [ "$(date +%s)" -ge "$end" ]; then echo "ERROR: PostgreSQL $PGHOST not ready"; exit 1; fi
          sleep 2
        done
        file="/backups/${PGDATABASE}-$(date -u +%Y%m%dT%H%M%SZ).dump"
        pg_dump --format=custom --file="$file.partial"
        mv "$file.partial" "$file"
        echo "INFO: wrote $file ($(wc -c < "$file") bytes)"
        find /backups -name '*.dump' -type f -mtime +{{ int $pg.backup.retentionDays }} -print -delete
    env:
      - name: PGHOST
        value: {{ include "healthcare-backend.postgresql.connectHost" . | quote }}
      - name: PGPORT
        value: {{ $pg.service.port | quote }}
      - name: PGUSER
        value: {{ $pg.auth.username | quote }}
      - name: PGDATABASE
        value: {{ $pg.auth.database | quote }}
      - name: PGPASSWORD
        valueFrom:
          secretKeyRef:
            name: {{ include "healthcare-backend.postgresql.secretName" . }}
            key: {{ include "healthcare-backend.postgresql.secretKey" . }}
    securityContext:
      {{- include "vitals.securityContext.container" (dict "sc" $pg.containerSecurityContext "context" .) | nindent 6 }}
    resources:
      {{- include "vitals.resources.render" (dict "resources" $pg.backup.resources "preset" $pg.backup.resourcesPreset) | nindent 6 }}
    volumeMounts:
      - name: backups
        mountPath: /backups
      - name: tmp
        mountPath: /tmp
volumes:
  - name: backups
    persistentVolumeClaim:
      claimName: {{ include "vitals.names.component" (dict "context" . "component" "backup") }}
  - name: tmp
    emptyDir: {}
{{- end -}}

{{/*
The public Ingress paths must not cover ingress.internalPaths (/metrics, the
/logger dashboard, Bull Board): vitals.validations.ingressPaths.
Usage: {{ include "healthcare-backend.validations.ingressPaths" . }}
*/}}
{{- define "healthcare-backend.validations.ingressPaths" -}}
{{- if .Values.ingress.enabled -}}
{{- include "vitals.validations.ingressPaths" (dict "paths" .Values.ingress.paths "internalPaths" .Values.ingress.internalPaths "valueKey" "ingress.paths" "example" "/api") -}}
{{- end -}}
{{- end -}}
