{{/* vim: set filetype=mustache: */}}
{{/*
Chart-specific glue only. Names, labels, images, security contexts, resources,
probes, affinities, HPA, PDB, NetworkPolicy, ServiceMonitor and validations
come from the vitals-common library.
*/}}

{{/* Name of the ServiceAccount every pod of the release runs as. */}}
{{- define "ohe.serviceAccountName" -}}
{{- include "vitals.names.serviceAccount" (dict "context" . "component" "" "sa" .Values.serviceAccount) -}}
{{- end -}}

{{/* Name of the chart's own Secret (the seed's ohe-secrets) and ConfigMap (ohe-config). */}}
{{- define "ohe.secretName" -}}
{{- include "vitals.names.fullname" . -}}
{{- end -}}
{{- define "ohe.configMapName" -}}
{{- include "vitals.names.fullname" . -}}
{{- end -}}

{{/* Secret the app keys (SECRET_KEY, SOCIAL_AUTH_*, ...) are read from. */}}
{{- define "ohe.app.secretName" -}}
{{- default (include "ohe.secretName" .) .Values.secrets.existingSecret -}}
{{- end -}}

{{/* ---------- PostgreSQL ---------- */}}

{{- define "ohe.postgresql.fullname" -}}
{{- include "vitals.names.component" (dict "context" . "component" "postgresql") -}}
{{- end -}}

{{- define "ohe.postgresql.host" -}}
{{- if .Values.postgresql.enabled -}}
{{- default (include "ohe.postgresql.fullname" .) .Values.postgresql.service.alias -}}
{{- else -}}
{{- .Values.externalDatabase.host -}}
{{- end -}}
{{- end -}}

{{- define "ohe.postgresql.port" -}}
{{- ternary .Values.postgresql.service.port .Values.externalDatabase.port .Values.postgresql.enabled -}}
{{- end -}}

{{- define "ohe.postgresql.username" -}}
{{- ternary .Values.postgresql.auth.username .Values.externalDatabase.username .Values.postgresql.enabled -}}
{{- end -}}

{{- define "ohe.postgresql.database" -}}
{{- ternary .Values.postgresql.auth.database .Values.externalDatabase.database .Values.postgresql.enabled -}}
{{- end -}}

{{/* "true" when the chart's own Secret carries the database password. */}}
{{- define "ohe.postgresql.chartSecret" -}}
{{- if .Values.postgresql.enabled -}}
{{- if not .Values.postgresql.auth.existingSecret }}true{{ end -}}
{{- else if not .Values.externalDatabase.existingSecret -}}
true
{{- end -}}
{{- end -}}

{{- define "ohe.postgresql.secretName" -}}
{{- if include "ohe.postgresql.chartSecret" . -}}
{{- include "ohe.secretName" . -}}
{{- else if .Values.postgresql.enabled -}}
{{- .Values.postgresql.auth.existingSecret -}}
{{- else -}}
{{- .Values.externalDatabase.existingSecret -}}
{{- end -}}
{{- end -}}

{{- define "ohe.postgresql.secretKey" -}}
{{- ternary .Values.postgresql.auth.secretPasswordKey .Values.externalDatabase.secretPasswordKey .Values.postgresql.enabled -}}
{{- end -}}

{{/* ---------- Valkey / Redis ---------- */}}

{{- define "ohe.valkey.fullname" -}}
{{- include "vitals.names.component" (dict "context" . "component" "valkey") -}}
{{- end -}}

{{- define "ohe.redis.host" -}}
{{- if .Values.valkey.enabled -}}
{{- default (include "ohe.valkey.fullname" .) .Values.valkey.service.alias -}}
{{- else -}}
{{- .Values.externalRedis.host -}}
{{- end -}}
{{- end -}}

{{- define "ohe.redis.port" -}}
{{- ternary .Values.valkey.service.port .Values.externalRedis.port .Values.valkey.enabled -}}
{{- end -}}

{{/* "true" when clients must authenticate. */}}
{{- define "ohe.redis.auth" -}}
{{- if .Values.valkey.enabled -}}
{{- if .Values.valkey.auth.enabled }}true{{ end -}}
{{- else if or .Values.externalRedis.existingSecret .Values.externalRedis.password -}}
true
{{- end -}}
{{- end -}}

{{/* "true" when the chart's own Secret carries the Valkey/Redis password. */}}
{{- define "ohe.redis.chartSecret" -}}
{{- if include "ohe.redis.auth" . -}}
{{- if .Values.valkey.enabled -}}
{{- if not .Values.valkey.auth.existingSecret }}true{{ end -}}
{{- else if not .Values.externalRedis.existingSecret -}}
true
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "ohe.redis.secretName" -}}
{{- if include "ohe.redis.chartSecret" . -}}
{{- include "ohe.secretName" . -}}
{{- else if .Values.valkey.enabled -}}
{{- .Values.valkey.auth.existingSecret -}}
{{- else -}}
{{- .Values.externalRedis.existingSecret -}}
{{- end -}}
{{- end -}}

{{- define "ohe.redis.secretKey" -}}
{{- ternary .Values.valkey.auth.secretPasswordKey .Values.externalRedis.secretPasswordKey .Values.valkey.enabled -}}
{{- end -}}

{{/* ---------- Application environment ---------- */}}

{{/*
ALLOWED_HOSTS: the configured public hosts plus the in-cluster names of the
web Service and localhost, so kubelet probes (Host: <pod IP>) and `helm test`
(Host: <service>) are not answered 400 DisallowedHost. The pod IP is appended
in the container env as $(POD_IP).
*/}}
{{- define "ohe.allowedHosts" -}}
{{- $svc := include "vitals.names.component" (dict "context" . "component" "web") -}}
{{- $ns := include "vitals.names.namespace" . -}}
{{- $hosts := list -}}
{{- range (splitList "," .Values.config.ALLOWED_HOSTS) -}}
{{- if trim . }}{{ $hosts = append $hosts (trim .) }}{{ end -}}
{{- end -}}
{{- $hosts = concat $hosts (list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.cluster.local" $svc $ns) "localhost" "127.0.0.1") -}}
{{- join "," ($hosts | uniq) -}}
{{- end -}}

{{/*
envFrom + env of every application container (web, worker, migrations).
Connection URLs are composed here with $(VAR) references to variables declared
*earlier* in the same list (ConfigMap data is never expanded, which is why the
seed's DATABASE_URL in its ConfigMap kept a literal "$(DB_PASSWORD)").
Usage: {{ include "ohe.app.env" (dict "context" $ "extraEnv" .Values.web.extraEnv) | nindent 10 }}
*/}}
{{- define "ohe.app.env" -}}
{{- $ctx := .context -}}
envFrom:
  - configMapRef:
      name: {{ include "ohe.configMapName" $ctx }}
  - secretRef:
      name: {{ include "ohe.app.secretName" $ctx }}
env:
  - name: POD_NAME
    valueFrom:
      fieldRef:
        fieldPath: metadata.name
  - name: POD_NAMESPACE
    valueFrom:
      fieldRef:
        fieldPath: metadata.namespace
  - name: POD_IP
    valueFrom:
      fieldRef:
        fieldPath: status.podIP
  - name: ALLOWED_HOSTS
    value: {{ printf "%s,$(POD_IP)" (include "ohe.allowedHosts" $ctx) | quote }}
  - name: DB_PASSWORD
    valueFrom:
      secretKeyRef:
        name: {{ include "ohe.postgresql.secretName" $ctx }}
        key: {{ include "ohe.postgresql.secretKey" $ctx }}
  - name: DATABASE_URL
    value: {{ printf "postgresql://%s:$(DB_PASSWORD)@%s:%v/%s" (include "ohe.postgresql.username" $ctx) (include "ohe.postgresql.host" $ctx) (include "ohe.postgresql.port" $ctx) (include "ohe.postgresql.database" $ctx) | quote }}
  {{- $redis := printf "%s:%v" (include "ohe.redis.host" $ctx) (include "ohe.redis.port" $ctx) }}
  {{- if include "ohe.redis.auth" $ctx }}
  - name: REDIS_PASSWORD
    valueFrom:
      secretKeyRef:
        name: {{ include "ohe.redis.secretName" $ctx }}
        key: {{ include "ohe.redis.secretKey" $ctx }}
  {{- $redis = printf ":$(REDIS_PASSWORD)@%s" $redis }}
  {{- end }}
  - name: REDIS_URL
    value: {{ printf "redis://%s/%v" $redis $ctx.Values.valkey.databases.queue | quote }}
  - name: REDIS_CACHE_URL
    value: {{ printf "redis://%s/%v" $redis $ctx.Values.valkey.databases.cache | quote }}
  {{- with .extraEnv }}
  {{- include "vitals.tplvalues.render" (dict "value" . "context" $ctx) | nindent 2 }}
  {{- end }}
{{- end -}}

{{/*
Init container that waits until PostgreSQL accepts connections (pg_isready)
and Valkey/Redis accepts TCP, so web, worker and the migration hook never race
the data layer (the seed's `kubectl wait` steps).
Usage: {{ include "ohe.waitForDependencies" $ | nindent 8 }}
*/}}
{{- define "ohe.waitForDependencies" -}}
{{- $w := .Values.waitForDependencies -}}
- name: wait-for-dependencies
  image: {{ include "vitals.images.ref" (dict "image" $w.image "context" .) }}
  imagePullPolicy: {{ $w.image.pullPolicy }}
  command: ["/bin/sh", "-c"]
  args:
    - |
      # Backticks, not $(...): Kubernetes would try to expand $(...) in args.
      tries={{ max 1 (div (int $w.timeoutSeconds) 2) }}
      until pg_isready -q -h "$DB_HOST" -p "$DB_PORT" -U "$DB_USER" -d "$DB_NAME"; do
        tries=`expr $tries - 1`
        [ "$tries" -gt 0 ] || { echo "timed out waiting for PostgreSQL $DB_HOST:$DB_PORT"; exit 1; }
        echo "waiting for PostgreSQL $DB_HOST:$DB_PORT"; sleep 2
      done
      until nc -z -w 2 "$REDIS_HOST" "$REDIS_PORT"; do
        tries=`expr $tries - 1`
        [ "$tries" -gt 0 ] || { echo "timed out waiting for Valkey/Redis $REDIS_HOST:$REDIS_PORT"; exit 1; }
        echo "waiting for Valkey/Redis $REDIS_HOST:$REDIS_PORT"; sleep 2
      done
      echo "PostgreSQL and Valkey/Redis are reachable"
  env:
    - name: DB_HOST
      value: {{ include "ohe.postgresql.host" . | quote }}
    - name: DB_PORT
      value: {{ include "ohe.postgresql.port" . | quote }}
    - name: DB_USER
      value: {{ include "ohe.postgresql.username" . | quote }}
    - name: DB_NAME
      value: {{ include "ohe.postgresql.database" . | quote }}
    - name: REDIS_HOST
      value: {{ include "ohe.redis.host" . | quote }}
    - name: REDIS_PORT
      value: {{ include "ohe.redis.port" . | quote }}
  resources:
    {{- include "vitals.resources.render" (dict "resources" $w.resources "preset" $w.resourcesPreset) | nindent 4 }}
  securityContext:
    {{- include "vitals.securityContext.container" (dict "sc" (dict "runAsUser" 70 "runAsGroup" 70) "context" .) | nindent 4 }}
{{- end -}}

{{/*
Worker probe from a probe block with "type" exec (command), http (path on the
named port "http") or tcp (named port "http").
Usage: {{ include "ohe.worker.probe" (dict "probe" .Values.worker.livenessProbe) | nindent 12 }}
*/}}
{{- define "ohe.worker.probe" -}}
{{- $p := .probe -}}
{{- if eq $p.type "http" -}}
{{- include "vitals.probes.http" (dict "probe" $p "path" $p.path "port" "http") -}}
{{- else if eq $p.type "tcp" -}}
{{- include "vitals.probes.tcp" (dict "probe" $p "port" "http") -}}
{{- else -}}
{{- include "vitals.probes.exec" (dict "probe" $p "command" $p.command) -}}
{{- end -}}
{{- end -}}

{{/*
A credential for the chart's own Secret: the given value, else the value
already stored in the release's Secret (kept across upgrades), else a new
random alphanumeric string of "length" (vitals.secrets.value).
Usage: {{ include "ohe.secrets.value" (dict "context" $ "value" .Values.x.password "key" "DB_PASSWORD" "length" 24) }}
*/}}
{{- define "ohe.secrets.value" -}}
{{- include "vitals.secrets.value" (dict "context" .context "secret" (include "ohe.secretName" .context) "key" .key "value" .value "length" (.length | default 24)) -}}
{{- end -}}

{{/* Chart-level value checks, failing once with every problem listed. */}}
{{- define "ohe.validateValues" -}}
{{- $v := .Values -}}
{{- $webMin := ternary $v.web.autoscaling.minReplicas $v.web.replicaCount $v.web.autoscaling.enabled -}}
{{- $workerMin := ternary $v.worker.autoscaling.minReplicas $v.worker.replicaCount $v.worker.autoscaling.enabled -}}
{{- $msgs := list
  (include "vitals.validations.values.requiredIf" (dict "required" (not $v.postgresql.enabled) "value" $v.externalDatabase.host "valueKey" "externalDatabase.host" "example" "db.example.com" "reason" "postgresql.enabled is false"))
  (include "vitals.validations.values.requiredIf" (dict "required" (not $v.valkey.enabled) "value" $v.externalRedis.host "valueKey" "externalRedis.host" "example" "redis.example.com" "reason" "valkey.enabled is false"))
  (include "vitals.validations.values.requiredIf" (dict "required" $v.ingress.enabled "value" $v.ingress.hostname "valueKey" "ingress.hostname" "example" "api.open-health-exchange.org" "reason" "ingress.enabled is true"))
  (include "vitals.validations.values.requiredIf" (dict "required" (and $v.ingress.enabled $v.ingress.tls.enabled) "value" $v.ingress.tls.secretName "valueKey" "ingress.tls.secretName" "example" "ohe-tls-secret" "reason" "ingress.tls.enabled is true"))
  (include "vitals.validations.values.oneOf" (dict "value" $v.worker.livenessProbe.type "valueKey" "worker.livenessProbe.type" "allowed" (list "exec" "http" "tcp") "required" true))
  (include "vitals.validations.values.oneOf" (dict "value" $v.worker.readinessProbe.type "valueKey" "worker.readinessProbe.type" "allowed" (list "exec" "http" "tcp") "required" true))
  (include "vitals.validations.hpa" (dict "hpa" $v.web.autoscaling "valueKey" "web.autoscaling"))
  (include "vitals.validations.hpa" (dict "hpa" $v.worker.autoscaling "valueKey" "worker.autoscaling"))
  (include "vitals.validations.pdb" (dict "pdb" $v.web.pdb "valueKey" "web.pdb" "replicas" $webMin))
  (include "vitals.validations.pdb" (dict "pdb" $v.worker.pdb "valueKey" "worker.pdb" "replicas" $workerMin))
-}}
{{- if not $v.postgresql.enabled -}}
{{- $msgs = append $msgs (include "vitals.validations.existingSecret" (dict "existingSecret" $v.externalDatabase.existingSecret "value" $v.externalDatabase.password "valueKey" "externalDatabase" "secretKey" $v.externalDatabase.secretPasswordKey)) -}}
{{- end -}}
{{- if $v.global.requireExistingSecrets -}}
{{- $generate := false -}}
{{- $msgs = append $msgs (include "vitals.secrets.validate" (dict "existingSecret" $v.secrets.existingSecret "valueKey" "secrets" "keys" (list "SECRET_KEY" "SOCIAL_AUTH_*" "WITHINGS_WEBHOOK_SECRET" "FHIR_CLIENT_ID" "FHIR_CLIENT_SECRET" "SENTRY_DSN") "generate" $generate)) -}}
{{- if $v.postgresql.enabled -}}
{{- $msgs = append $msgs (include "vitals.secrets.validate" (dict "existingSecret" $v.postgresql.auth.existingSecret "valueKey" "postgresql.auth" "keys" (list $v.postgresql.auth.secretPasswordKey) "generate" $generate)) -}}
{{- else -}}
{{- $msgs = append $msgs (include "vitals.secrets.validate" (dict "existingSecret" $v.externalDatabase.existingSecret "valueKey" "externalDatabase" "keys" (list $v.externalDatabase.secretPasswordKey) "generate" $generate)) -}}
{{- end -}}
{{- if $v.valkey.enabled -}}
{{- $msgs = append $msgs (include "vitals.secrets.validate" (dict "existingSecret" $v.valkey.auth.existingSecret "valueKey" "valkey.auth" "keys" (list $v.valkey.auth.secretPasswordKey) "generate" $generate)) -}}
{{- end -}}
{{- end -}}
{{- if $v.ingress.enabled -}}
{{- $msgs = append $msgs (include "vitals.validations.ingressPaths" (dict "paths" $v.ingress.paths "internalPaths" (prepend $v.ingress.internalPaths $v.metrics.webPath) "valueKey" "ingress.paths" "example" "/webhooks/")) -}}
{{- end -}}
{{- range $probe := list "livenessProbe" "readinessProbe" -}}
{{- $p := index $v.worker $probe -}}
{{- if and $p.enabled (ne $p.type "exec") (not $v.worker.containerPorts.http) -}}
{{- $msgs = append $msgs (printf "worker.%s.type is %s but the worker has no port: set worker.containerPorts.http (e.g. `--set worker.containerPorts.http=8001`)" $probe $p.type) -}}
{{- end -}}
{{- end -}}
{{/* A PDB equal to the minimum replicas blocks every voluntary eviction. */}}
{{- range $c := list (list "web" $v.web.pdb $webMin) (list "worker" $v.worker.pdb $workerMin) -}}
{{- $pdb := index $c 1 -}}
{{- if and $pdb.enabled (not (kindIs "string" $pdb.minAvailable)) (not (kindIs "invalid" $pdb.minAvailable)) (ge (int $pdb.minAvailable) (int (index $c 2))) -}}
{{- $msgs = append $msgs (printf "%s.pdb.minAvailable (%d) is not below the minimum replicas (%d), so no pod can ever be evicted: set %s.pdb.minAvailable (e.g. `--set %s.pdb.minAvailable=%d`)" (index $c 0) (int $pdb.minAvailable) (int (index $c 2)) (index $c 0) (index $c 0) (max 0 (sub (int (index $c 2)) 1))) -}}
{{- end -}}
{{- end -}}
{{- include "vitals.errors.fail" (dict "validations" $msgs) -}}
{{- end -}}

{{/* ---------- Network policy ---------- */}}

{{/*
Egress rules to destinations outside the cluster, one per
networkPolicy.externalEgress entry {cidr, except, ports}: peer ipBlock cidr
minus except, on the entry's ports. An empty list renders no rule. A CIDR
matching every address (0.0.0.0/0, ::/0) fails: name the real destinations.
Optional "port" keeps only the entries that list that port (used for an
external database/Redis). Returns a YAML list of vitals.networkPolicy.allow rules.
Usage:
{{- $rules := include "ohe.networkPolicy.externalEgress" (dict "context" $) | fromYamlArray }}
{{- $rules := include "ohe.networkPolicy.externalEgress" (dict "context" $ "port" 5432) | fromYamlArray }}
*/}}
{{- define "ohe.networkPolicy.externalEgress" -}}
{{- $only := int (.port | default 0) -}}
{{- $rules := list -}}
{{- range $i, $e := (.context.Values.networkPolicy.externalEgress | default list) -}}
{{- if or (not $e.cidr) (has $e.cidr (list "0.0.0.0/0" "::/0")) -}}
{{- fail (printf "VALUES VALIDATION:\nnetworkPolicy.externalEgress[%d].cidr is %q: name the external destination's CIDR, not every address (e.g. `--set networkPolicy.externalEgress[%d].cidr=10.0.0.0/16`)" $i (toString $e.cidr) $i) -}}
{{- end -}}
{{- $block := dict "cidr" $e.cidr -}}
{{- with $e.except -}}
{{- $_ := set $block "except" . -}}
{{- end -}}
{{- $keep := not $only -}}
{{- range ($e.ports | default list) -}}
{{- if eq (toString .port) (toString $only) -}}
{{- $keep = true -}}
{{- end -}}
{{- end -}}
{{- if $keep -}}
{{- $rules = append $rules (dict "peers" (list (dict "ipBlock" $block)) "ports" ($e.ports | default list)) -}}
{{- end -}}
{{- end -}}
{{- toYaml $rules -}}
{{- end -}}

{{/*
Egress rules to one data service: its pods when the chart runs it ("inRelease"
true, "component", "containerPort"), else the networkPolicy.externalEgress
entries that carry its "port"; fails when an external one has none, since the
policy would block it. "valueKey" names the external host value in the message.
Usage:
{{- $toDb := include "ohe.networkPolicy.dataEgress" (dict "context" $ "inRelease" .Values.postgresql.enabled "component" "postgresql" "containerPort" .Values.postgresql.containerPorts.postgresql "port" 5432 "valueKey" "externalDatabase.host") | fromYamlArray }}
*/}}
{{- define "ohe.networkPolicy.dataEgress" -}}
{{- if .inRelease -}}
{{- toYaml (list (dict "peers" (list (dict "component" .component)) "ports" (list (dict "port" .containerPort)))) -}}
{{- else -}}
{{- $rules := include "ohe.networkPolicy.externalEgress" (dict "context" .context "port" .port) | fromYamlArray -}}
{{- if not $rules -}}
{{- fail (printf "VALUES VALIDATION:\nthe host in %s is outside the cluster but no networkPolicy.externalEgress entry allows port %d, so the NetworkPolicy would block it: set networkPolicy.externalEgress (e.g. `--set networkPolicy.externalEgress[0].cidr=10.0.0.0/16,networkPolicy.externalEgress[0].ports[0].port=%d`)" .valueKey (int .port) (int .port)) -}}
{{- end -}}
{{- toYaml $rules -}}
{{- end -}}
{{- end -}}

{{/*
wait-for-migrations init container of the web and worker pods: retries
migrations.checkCommand (in the web image, with the apps' env) every 5 s
until it exits 0, for at most waitForDependencies.timeoutSeconds;
migrations.waitCommand, when set, replaces the loop.
Usage:
initContainers:
  {{- include "ohe.waitForMigrations" . | nindent 8 }}
*/}}
{{- define "ohe.waitForMigrations" -}}
{{- $m := .Values.migrations -}}
{{- $web := .Values.web -}}
{{- $w := .Values.waitForDependencies -}}
- name: wait-for-migrations
  image: {{ include "vitals.images.ref" (dict "image" $web.image "context" .) }}
  imagePullPolicy: {{ $web.image.pullPolicy }}
  {{- if $m.waitCommand }}
  command:
    {{- toYaml $m.waitCommand | nindent 4 }}
  {{- else }}
  command:
    - /bin/sh
    - -c
    - |
      tries={{ max 1 (div (int $w.timeoutSeconds) 5) }}
      until "$@"; do
        tries=`expr $tries - 1`
        [ "$tries" -gt 0 ] || { echo "timed out waiting for the database migrations (the migrate hook Job)"; exit 1; }
        echo "waiting for the database migrations"; sleep 5
      done
    - wait-for-migrations
    {{- toYaml $m.checkCommand | nindent 4 }}
  {{- end }}
  {{- include "ohe.app.env" (dict "context" . "extraEnv" $web.extraEnv) | nindent 2 }}
  resources:
    {{- include "vitals.resources.render" (dict "resources" $w.resources "preset" $w.resourcesPreset) | nindent 4 }}
  securityContext:
    {{- include "vitals.securityContext.container" (dict "sc" $web.containerSecurityContext "context" .) | nindent 4 }}
  volumeMounts:
    - name: tmp
      mountPath: /tmp
{{- end -}}
