{{/* vim: set filetype=mustache: */}}
{{/*
Workload objects of one Developer Mesh service subchart (rest-api, edge-mcp,
worker, rag-loader). Every subchart has the same values shape (see its
values.yaml), so each of its templates is one include of a define here, called
with the subchart's root context. The component label is the chart name, which
keeps NetworkPolicy peers ({component: rest-api}) unique across the release.
Every object is named <release>-<service> (vitals.names.fullname). The HPA, PDB
and ServiceMonitor helpers are called with an empty component so they take that
name too; their selectors then use name + instance, which already pick exactly
this subchart's pods / Service (each subchart has its own name label).
*/}}

{{/*
Component of a service subchart: its chart name.
Usage:
{{ include "developer-mesh.app.component" $ }}
*/}}
{{- define "developer-mesh.app.component" -}}
{{- .Chart.Name -}}
{{- end -}}

{{/*
ServiceAccount name of a service subchart.
Usage:
{{ include "developer-mesh.app.serviceAccountName" $ }}
*/}}
{{- define "developer-mesh.app.serviceAccountName" -}}
{{- $sa := .Values.serviceAccount | default dict -}}
{{- if $sa.name -}}
{{- $sa.name -}}
{{- else if $sa.create -}}
{{- include "vitals.names.fullname" . -}}
{{- else -}}
default
{{- end -}}
{{- end -}}

{{/*
Validations of a service subchart (fails once with every problem).
Usage:
{{ include "developer-mesh.app.validate" $ }}
*/}}
{{- define "developer-mesh.app.validate" -}}
{{- $min := int (include "developer-mesh.app.minReplicas" .) -}}
{{- include "vitals.errors.fail" (dict "validations" (list
  (include "vitals.validations.hpa" (dict "hpa" .Values.autoscaling "valueKey" (printf "%s.autoscaling" .Chart.Name)))
  (include "developer-mesh.validations.pdbBelowReplicas" (dict "pdb" .Values.pdb "replicas" $min "valueKey" (printf "%s.pdb" .Chart.Name)))
  (include "vitals.validations.values.oneOf" (dict "value" .Values.podAntiAffinityPreset "valueKey" (printf "%s.podAntiAffinityPreset" .Chart.Name) "allowed" (list "soft" "hard" "none")))
)) -}}
{{- end -}}

{{/*
Message when an integer pdb.minAvailable is not strictly below the minimum
replicas. vitals.validations.pdb only catches minAvailable > replicas, but
minAvailable == replicas blocks every voluntary eviction (drains hang), which
is the seed's defect when its REST API PDB (minAvailable 2) meets 2 replicas.
TODO(vitals-common): move into vitals.validations.pdb (ge instead of gt).
Usage:
{{ include "developer-mesh.validations.pdbBelowReplicas" (dict "pdb" .Values.pdb "replicas" 3 "valueKey" "rest-api.pdb") }}
*/}}
{{- define "developer-mesh.validations.pdbBelowReplicas" -}}
{{- $p := .pdb | default dict -}}
{{- if and $p.enabled (not (kindIs "invalid" $p.minAvailable)) (not (kindIs "string" $p.minAvailable)) -}}
{{- if ge (int $p.minAvailable) (int .replicas) -}}
{{- printf "%s.minAvailable (%d) is not below the minimum replicas (%d), so no pod can ever be evicted: set %s.minAvailable below it (e.g. `--set %s.minAvailable=%d`)" .valueKey (int $p.minAvailable) (int .replicas) .valueKey .valueKey (max 1 (sub (int .replicas) 1)) -}}
{{- end -}}
{{- end -}}
{{- end -}}


{{/*
ConfigMap of a service: .Values.config as env (envFrom).
Usage:
{{ include "developer-mesh.app.configMap" $ }}
*/}}
{{- define "developer-mesh.app.configMap" -}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "vitals.names.fullname" . }}
  namespace: {{ include "vitals.names.namespace" . }}
  labels:
    {{- include "vitals.labels.standard" (dict "context" . "component" (include "developer-mesh.app.component" .)) | nindent 4 }}
data:
  {{- range $k, $v := .Values.config }}
  {{ $k }}: {{ $v | toString | quote }}
  {{- end }}
{{- end -}}

{{/*
ServiceAccount of a service (token not mounted; IRSA annotation when
global.aws.useIRSA).
Usage:
{{ include "developer-mesh.app.serviceAccount" $ }}
*/}}
{{- define "developer-mesh.app.serviceAccount" -}}
{{- if .Values.serviceAccount.create -}}
{{- $aws := (.Values.global | default dict).aws | default dict -}}
{{- $ann := deepCopy (.Values.serviceAccount.annotations | default dict) -}}
{{- if and $aws.useIRSA $aws.roleArn -}}
{{- $_ := set $ann "eks.amazonaws.com/role-arn" $aws.roleArn -}}
{{- end -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "developer-mesh.app.serviceAccountName" . }}
  namespace: {{ include "vitals.names.namespace" . }}
  labels:
    {{- include "vitals.labels.standard" (dict "context" . "component" (include "developer-mesh.app.component" .)) | nindent 4 }}
  {{- with $ann }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
automountServiceAccountToken: {{ .Values.serviceAccount.automountServiceAccountToken }}
{{- end -}}
{{- end -}}

{{/*
Service of a service subchart: port "http" -> named container port "http".
Usage:
{{ include "developer-mesh.app.service" $ }}
*/}}
{{- define "developer-mesh.app.service" -}}
{{- $component := include "developer-mesh.app.component" . -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "vitals.names.fullname" . }}
  namespace: {{ include "vitals.names.namespace" . }}
  labels:
    {{- include "vitals.labels.standard" (dict "context" . "component" $component) | nindent 4 }}
  {{- with .Values.service.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  type: {{ .Values.service.type }}
  ports:
    - name: http
      port: {{ .Values.service.port }}
      targetPort: http
      protocol: TCP
  selector:
    {{- include "vitals.labels.selector" (dict "context" . "component" $component) | nindent 4 }}
{{- end -}}

{{/*
Deployment of a service subchart: wait-for-<dependency> init containers, one
app container with named port "http", startup/liveness/readiness HTTP probes on
it, restricted security contexts, /tmp emptyDir (read-only root), checksum of
the ConfigMap, surge-first rolling update, replicas left to the HPA when
autoscaling is enabled.
Usage:
{{ include "developer-mesh.app.deployment" $ }}
*/}}
{{- define "developer-mesh.app.deployment" -}}
{{- include "developer-mesh.app.validate" . -}}
{{- $component := include "developer-mesh.app.component" . -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "vitals.names.fullname" . }}
  namespace: {{ include "vitals.names.namespace" . }}
  labels:
    {{- include "vitals.labels.standard" (dict "context" . "component" $component) | nindent 4 }}
spec:
  {{- if not .Values.autoscaling.enabled }}
  replicas: {{ .Values.replicaCount }}
  {{- end }}
  revisionHistoryLimit: 5
  strategy:
    {{- toYaml .Values.updateStrategy | nindent 4 }}
  selector:
    matchLabels:
      {{- include "vitals.labels.selector" (dict "context" . "component" $component) | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "vitals.labels.standard" (dict "context" . "component" $component "customLabels" .Values.podLabels) | nindent 8 }}
      annotations:
        checksum/config: {{ include "developer-mesh.app.configMap" . | sha256sum }}
        {{- with (include "vitals.rollout.annotation" .) }}{{ . | nindent 8 }}{{ end }}
        {{- with .Values.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "developer-mesh.app.serviceAccountName" . }}
      automountServiceAccountToken: {{ .Values.serviceAccount.automountServiceAccountToken }}
      {{- with (include "vitals.images.pullSecrets" (dict "images" (list .Values.image) "context" .) | trim) }}
      {{- . | nindent 6 }}
      {{- end }}
      securityContext:
        {{- include "vitals.securityContext.pod" (dict "sc" .Values.podSecurityContext "context" .) | nindent 8 }}
      terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
      {{- with (include "vitals.affinities.pods" (dict "type" .Values.podAntiAffinityPreset "component" $component "context" .)) }}
      affinity:
        podAntiAffinity:
          {{- . | nindent 10 }}
      {{- end }}
      {{- with .Values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.topologySpreadConstraints }}
      topologySpreadConstraints:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- $waitMigrations := and (has "database" (.Values.dependencies | default list)) ((.Values.global | default dict).waitForMigrations | default dict).enabled }}
      {{- if or .Values.dependencies $waitMigrations }}
      initContainers:
        {{- with .Values.dependencies }}
        {{- include "developer-mesh.wait.initContainers" (dict "context" $ "dependencies" .) | trim | nindent 8 }}
        {{- end }}
        {{- if $waitMigrations }}
        {{- include "developer-mesh.wait.migrations" (dict "context" $) | trim | nindent 8 }}
        {{- end }}
      {{- end }}
      containers:
        - name: {{ $component }}
          image: {{ include "vitals.images.ref" (dict "image" .Values.image "context" . "valueKey" (printf "%s.image" .Chart.Name)) }}
          imagePullPolicy: {{ .Values.image.pullPolicy }}
          {{- with .Values.command }}
          command:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- with .Values.args }}
          args:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          ports:
            - name: http
              containerPort: {{ .Values.containerPorts.http }}
              protocol: TCP
          env:
            {{- include "developer-mesh.env" . | nindent 12 }}
          envFrom:
            - configMapRef:
                name: {{ include "vitals.names.fullname" . }}
          resources:
            {{- include "vitals.resources.render" (dict "resources" .Values.resources "preset" .Values.resourcesPreset) | nindent 12 }}
          securityContext:
            {{- include "vitals.securityContext.container" (dict "sc" .Values.containerSecurityContext "context" .) | nindent 12 }}
          {{- if .Values.startupProbe.enabled }}
          startupProbe:
            {{- include "vitals.probes.http" (dict "probe" .Values.startupProbe "path" .Values.healthPath "port" "http") | nindent 12 }}
          {{- end }}
          {{- if .Values.livenessProbe.enabled }}
          {{- /* TCP: healthPath reports the database/Redis too, and an outage of those must not restart every pod (readiness takes them out of the Service instead). */}}
          livenessProbe:
            {{- include "vitals.probes.tcp" (dict "probe" .Values.livenessProbe "port" "http") | nindent 12 }}
          {{- end }}
          {{- if .Values.readinessProbe.enabled }}
          readinessProbe:
            {{- include "vitals.probes.http" (dict "probe" .Values.readinessProbe "path" .Values.readinessPath "port" "http") | nindent 12 }}
          {{- end }}
          {{- /* Endpoints take a moment to drop a terminating pod: keep serving through it, so a drain or rollout refuses no request (the availability tier lost requests without it). */}}
          {{- if gt (int .Values.preStopSleepSeconds) 0 }}
          lifecycle:
            preStop:
              sleep:
                seconds: {{ int .Values.preStopSleepSeconds }}
          {{- end }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: {{ .Values.tmpSizeLimit }}
{{- end -}}

{{/*
Ingress of a service subchart (only when ingress.enabled); TLS from
ingress.tlsSecretName or <hostname>-tls.
Usage:
{{ include "developer-mesh.app.ingress" $ }}
*/}}
{{- define "developer-mesh.app.ingress" -}}
{{- if .Values.ingress.enabled -}}
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {{ include "vitals.names.fullname" . }}
  namespace: {{ include "vitals.names.namespace" . }}
  labels:
    {{- include "vitals.labels.standard" (dict "context" . "component" (include "developer-mesh.app.component" .)) | nindent 4 }}
  {{- with .Values.ingress.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  {{- with .Values.ingress.className }}
  ingressClassName: {{ . }}
  {{- end }}
  {{- if .Values.ingress.tls }}
  tls:
    - hosts:
        - {{ .Values.ingress.hostname | quote }}
      secretName: {{ default (printf "%s-tls" .Values.ingress.hostname) .Values.ingress.tlsSecretName }}
  {{- end }}
  rules:
    - host: {{ .Values.ingress.hostname | quote }}
      http:
        paths:
          - path: {{ .Values.ingress.path }}
            pathType: {{ .Values.ingress.pathType }}
            backend:
              service:
                name: {{ include "vitals.names.fullname" . }}
                port:
                  name: http
{{- end -}}
{{- end -}}

{{/*
Minimum replicas of a service: autoscaling.minReplicas when the HPA is on,
else replicaCount (what a PDB must stay below).
Usage:
{{ include "developer-mesh.app.minReplicas" $ }}
*/}}
{{- define "developer-mesh.app.minReplicas" -}}
{{- if and .Values.autoscaling .Values.autoscaling.enabled -}}
{{- .Values.autoscaling.minReplicas | default 1 | int -}}
{{- else -}}
{{- .Values.replicaCount | int -}}
{{- end -}}
{{- end -}}

{{/*
HPA of a service subchart (vitals.hpa on its Deployment).
Usage:
{{ include "developer-mesh.app.hpa" $ }}
*/}}
{{- define "developer-mesh.app.hpa" -}}
{{- include "vitals.hpa" (dict "context" . "component" "" "target" "Deployment" "name" (include "vitals.names.fullname" .) "hpa" .Values.autoscaling "valueKey" (printf "%s.autoscaling" .Chart.Name)) -}}
{{- end -}}

{{/*
PDB of a service subchart (vitals.pdb, checked against the minimum replicas).
Usage:
{{ include "developer-mesh.app.pdb" $ }}
*/}}
{{- define "developer-mesh.app.pdb" -}}
{{- include "vitals.pdb" (dict "context" . "component" "" "pdb" .Values.pdb "replicas" (int (include "developer-mesh.app.minReplicas" .)) "valueKey" (printf "%s.pdb" .Chart.Name)) -}}
{{- end -}}

{{/*
ServiceMonitor of a service subchart on port "http", path metricsPath; rendered
when serviceMonitor.enabled or global.monitoring.enabled, and only when the
monitoring.coreos.com/v1 API exists (vitals.serviceMonitor).
Usage:
{{ include "developer-mesh.app.serviceMonitor" $ }}
*/}}
{{- define "developer-mesh.app.serviceMonitor" -}}
{{- $sm := include "developer-mesh.serviceMonitorValues" (dict "context" . "sm" .Values.serviceMonitor) | fromYaml -}}
{{- include "vitals.serviceMonitor" (dict "context" . "component" "" "port" "http" "path" .Values.metricsPath "sm" $sm) -}}
{{- end -}}

{{/*
A serviceMonitor block merged with global.monitoring (enabled when either is,
interval defaulting to the global one, global labels added), as YAML.
Usage:
{{- $sm := include "developer-mesh.serviceMonitorValues" (dict "context" $ "sm" .Values.serviceMonitor) | fromYaml }}
*/}}
{{- define "developer-mesh.serviceMonitorValues" -}}
{{- $mon := (.context.Values.global | default dict).monitoring | default dict -}}
{{- $sm := deepCopy (.sm | default dict) -}}
{{- $_ := set $sm "enabled" (or $sm.enabled $mon.enabled | default false) -}}
{{- $_ := set $sm "interval" (default $mon.interval $sm.interval) -}}
{{- $_ := set $sm "labels" (merge (deepCopy ($sm.labels | default dict)) ($mon.labels | default dict)) -}}
{{- toYaml $sm -}}
{{- end -}}

{{/*
Allow NetworkPolicy of a service subchart, rendered when
global.networkPolicy.enabled (the umbrella renders the release-wide default
deny). Ingress on "http": the ingress controller namespace
(networkPolicy.allowIngressController), the monitoring namespace, the helm test
pod, networkPolicy.allowedClients components, or every release pod
(networkPolicy.allowAllReleasePods). Egress: each in-release dependency of
.Values.dependencies on its port, plus one rule per
global.networkPolicy.externalEgress entry (destinations outside the cluster:
a managed database/Redis, HTTPS APIs); nothing external when that list is
empty. An external dependency (global.database.host / global.redis.host) with
an empty externalEgress fails, since the policy would block it.
Usage:
{{ include "developer-mesh.app.networkPolicy" $ }}
*/}}
{{- define "developer-mesh.app.networkPolicy" -}}
{{- $np := (.Values.global | default dict).networkPolicy | default dict -}}
{{- if $np.enabled -}}
{{- $ctx := . -}}
{{- $component := include "developer-mesh.app.component" . -}}
{{- $local := .Values.networkPolicy | default dict -}}
{{- $httpPorts := list (dict "port" "http") -}}
{{- $from := list (dict "peers" (list (dict "namespace" ($np.monitoringNamespace | default "monitoring"))) "ports" $httpPorts) -}}
{{- if $local.allowIngressController -}}
{{- $from = append $from (dict "peers" (list (dict "namespace" ($np.ingressNamespace | default "ingress-nginx"))) "ports" $httpPorts) -}}
{{- end -}}
{{- if $local.allowAllReleasePods -}}
{{- $from = append $from (dict "peers" (list (dict "podSelector" (dict "matchLabels" (dict "app.kubernetes.io/instance" .Release.Name)))) "ports" $httpPorts) -}}
{{- else -}}
{{- $clients := list (dict "component" "test") -}}
{{- range ($local.allowedClients | default list) -}}
{{- $clients = append $clients (dict "component" .) -}}
{{- end -}}
{{- $from = append $from (dict "peers" $clients "ports" $httpPorts) -}}
{{- end -}}
{{- $to := list -}}
{{- $external := list -}}
{{- range (.Values.dependencies | default list) -}}
{{- $dep := include "developer-mesh.dependency" (dict "context" $ctx "name" .) | fromYaml -}}
{{- if $dep.external -}}
{{- $external = append $external . -}}
{{- else -}}
{{- $peer := dict "component" (ternary "postgresql" . (eq . "database")) -}}
{{- $to = append $to (dict "peers" (list $peer) "ports" (list (dict "port" (int $dep.port)))) -}}
{{- end -}}
{{- end -}}
{{- $extRules := include "developer-mesh.externalEgress" $ctx | fromYamlArray -}}
{{- if and $external (not $extRules) -}}
{{- fail (printf "VALUES VALIDATION:\n%s: dependencies %s are outside the cluster but global.networkPolicy.externalEgress is empty, so the NetworkPolicy would block them: set global.networkPolicy.externalEgress (e.g. `--set global.networkPolicy.externalEgress[0].cidr=10.0.0.0/16,global.networkPolicy.externalEgress[0].ports[0].port=5432`)" $component (join ", " $external)) -}}
{{- end -}}
{{- $to = concat $to $extRules -}}
{{- include "vitals.networkPolicy.allow" (dict "context" . "component" $component "name" (include "vitals.names.fullname" .) "from" $from "to" $to) -}}
{{- end -}}
{{- end -}}

{{/*
Egress rules to destinations outside the cluster, one per
global.networkPolicy.externalEgress entry {cidr, except, ports}: peer ipBlock
cidr minus except, on the entry's ports ({port, protocol, endPort}). An empty
list renders no rule. A CIDR matching every address (0.0.0.0/0, ::/0) fails:
name the real destinations. Optional "port" keeps only entries that list it
(or list no ports). As a YAML list of vitals.networkPolicy.allow rules.
Usage:
{{- $rules := include "developer-mesh.externalEgress" $ | fromYamlArray }}
{{- $rules := include "developer-mesh.externalEgress" (dict "context" $ "port" 5432) | fromYamlArray }}
*/}}
{{- define "developer-mesh.externalEgress" -}}
{{- $ctx := . -}}
{{- $only := 0 -}}
{{- if hasKey . "context" -}}
{{- $ctx = .context -}}
{{- $only = int (.port | default 0) -}}
{{- end -}}
{{- $np := ($ctx.Values.global | default dict).networkPolicy | default dict -}}
{{- $rules := list -}}
{{- range $i, $e := ($np.externalEgress | default list) -}}
{{- if or (not $e.cidr) (has $e.cidr (list "0.0.0.0/0" "::/0")) -}}
{{- fail (printf "VALUES VALIDATION:\nglobal.networkPolicy.externalEgress[%d].cidr is %q: name the external destination's CIDR, not every address (e.g. `--set global.networkPolicy.externalEgress[%d].cidr=10.0.0.0/16`)" $i (toString $e.cidr) $i) -}}
{{- end -}}
{{- $block := dict "cidr" $e.cidr -}}
{{- with $e.except -}}
{{- $_ := set $block "except" . -}}
{{- end -}}
{{- $ports := $e.ports | default list -}}
{{- $keep := not $only -}}
{{- if and $only (not $ports) -}}
{{- $keep = true -}}
{{- end -}}
{{- range $ports -}}
{{- if eq (toString .port) (toString $only) -}}
{{- $keep = true -}}
{{- end -}}
{{- end -}}
{{- if $keep -}}
{{- $rules = append $rules (dict "peers" (list (dict "ipBlock" $block)) "ports" $ports) -}}
{{- end -}}
{{- end -}}
{{- toYaml $rules -}}
{{- end -}}
