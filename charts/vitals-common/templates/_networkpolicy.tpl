{{/* vim: set filetype=mustache: */}}
{{/*
Default-deny NetworkPolicy for every pod of the release (podSelector
app.kubernetes.io/instance: <release>, policyTypes Ingress and Egress), which
still allows DNS egress to kube-dns (namespace kube-system, pods k8s-app:
kube-dns) on UDP and TCP 53. Optional "dnsNamespace" and "dnsPodLabels" (dict)
change the DNS peer. Pair it with vitals.networkPolicy.allow per component.
Renders a whole document, starting with "---".
Usage:
{{ include "vitals.networkPolicy.defaultDeny" (dict "context" $) }}
*/}}
{{- define "vitals.networkPolicy.defaultDeny" -}}
{{- $ctx := .context }}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ printf "%s-default-deny" (include "vitals.names.fullname" $ctx) | trunc 63 | trimSuffix "-" }}
  namespace: {{ include "vitals.names.namespace" $ctx }}
  labels:
    {{- include "vitals.labels.standard" (dict "context" $ctx "component" "network-policy") | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      app.kubernetes.io/instance: {{ $ctx.Release.Name }}
  policyTypes:
    - Ingress
    - Egress
  egress:
    - to:
        - namespaceSelector:
            matchLabels:
              kubernetes.io/metadata.name: {{ .dnsNamespace | default "kube-system" }}
          podSelector:
            matchLabels:
              {{- toYaml (.dnsPodLabels | default (dict "k8s-app" "kube-dns")) | nindent 14 }}
      ports:
        - port: 53
          protocol: UDP
        - port: 53
          protocol: TCP
{{- end -}}

{{/*
NetworkPolicy peers for one rule (internal), as a YAML list. Each peer is one of:
  {component: server}                    pods of that component in this release
                                         (app.kubernetes.io/instance + component)
  {namespace: ingress-nginx}             every pod in that namespace (matched via
                                         kubernetes.io/metadata.name); add
                                         podLabels: {..} to narrow to some pods
  {namespaceSelector: {..}, podSelector: {..}}  raw selectors, either optional
  {ipBlock: {cidr: .., except: [..]}}    raw ipBlock
Usage:
{{ include "vitals.networkPolicy.peers" (dict "context" $ "peers" $rule.peers) }}
*/}}
{{- define "vitals.networkPolicy.peers" -}}
{{- $ctx := .context -}}
{{- $out := list -}}
{{- range .peers -}}
{{- if .component -}}
{{- $out = append $out (dict "podSelector" (dict "matchLabels" (dict "app.kubernetes.io/instance" $ctx.Release.Name "app.kubernetes.io/component" .component))) -}}
{{- else if .namespace -}}
{{- $peer := dict "namespaceSelector" (dict "matchLabels" (dict "kubernetes.io/metadata.name" .namespace)) -}}
{{- if .podLabels -}}
{{- $_ := set $peer "podSelector" (dict "matchLabels" .podLabels) -}}
{{- end -}}
{{- $out = append $out $peer -}}
{{- else if .ipBlock -}}
{{- $out = append $out (dict "ipBlock" .ipBlock) -}}
{{- else if or .namespaceSelector .podSelector -}}
{{- $peer := dict -}}
{{- with .namespaceSelector }}{{ $_ := set $peer "namespaceSelector" . }}{{ end -}}
{{- with .podSelector }}{{ $_ := set $peer "podSelector" . }}{{ end -}}
{{- $out = append $out $peer -}}
{{- else -}}
{{- fail (printf "VALUES VALIDATION:\nnetwork policy peer %s has none of component, namespace, namespaceSelector/podSelector, ipBlock: set one (e.g. `--set networkPolicy.extraIngress[0].peers[0].namespace=monitoring`)" (toJson .)) -}}
{{- end -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{/*
NetworkPolicy rules (internal), as a YAML list: "rules" is a list of
{peers: [..], ports: [..]}; "direction" is "from" (ingress) or "to" (egress).
A rule without peers allows any peer on its ports; ports are
{port (number or named port), protocol (default TCP), endPort}.
Usage:
{{ include "vitals.networkPolicy.rules" (dict "context" $ "rules" .from "direction" "from") }}
*/}}
{{- define "vitals.networkPolicy.rules" -}}
{{- $ctx := .context -}}
{{- $dir := .direction -}}
{{- $out := list -}}
{{- range .rules -}}
{{- $rule := dict -}}
{{- if .peers -}}
{{- $_ := set $rule $dir (fromYamlArray (include "vitals.networkPolicy.peers" (dict "context" $ctx "peers" .peers))) -}}
{{- end -}}
{{- if .ports -}}
{{- $ports := list -}}
{{- range .ports -}}
{{- $port := dict "port" .port "protocol" (.protocol | default "TCP") -}}
{{- with .endPort }}{{ $_ := set $port "endPort" . }}{{ end -}}
{{- $ports = append $ports $port -}}
{{- end -}}
{{- $_ := set $rule "ports" $ports -}}
{{- end -}}
{{- $out = append $out $rule -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{/*
Explicit allow NetworkPolicy for one component's pods (selector labels):
"from" is a list of ingress rules, "to" a list of egress rules, each rule
{peers: [..], ports: [{port, protocol}]} (peers: see vitals.networkPolicy.peers).
policyTypes lists only the directions that have rules; with no rules at all
nothing is rendered. Optional "name" (default <fullname>-<component>).
Renders a whole document, starting with "---".
Usage:
{{ include "vitals.networkPolicy.allow" (dict "context" $ "component" "server"
     "from" (list (dict "peers" (list (dict "namespace" "ingress-nginx")) "ports" (list (dict "port" "http"))))
     "to" (list (dict "peers" (list (dict "component" "postgresql")) "ports" (list (dict "port" 5432))))) }}
*/}}
{{- define "vitals.networkPolicy.allow" -}}
{{- $ctx := .context -}}
{{- $from := .from | default list -}}
{{- $to := .to | default list -}}
{{- if or $from $to }}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ default (include "vitals.names.component" (dict "context" $ctx "component" .component)) .name }}
  namespace: {{ include "vitals.names.namespace" $ctx }}
  labels:
    {{- include "vitals.labels.standard" (dict "context" $ctx "component" .component) | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      {{- include "vitals.labels.selector" (dict "context" $ctx "component" .component) | nindent 6 }}
  policyTypes:
    {{- if $from }}
    - Ingress
    {{- end }}
    {{- if $to }}
    - Egress
    {{- end }}
  {{- if $from }}
  ingress:
    {{- include "vitals.networkPolicy.rules" (dict "context" $ctx "rules" $from "direction" "from") | nindent 4 }}
  {{- end }}
  {{- if $to }}
  egress:
    {{- include "vitals.networkPolicy.rules" (dict "context" $ctx "rules" $to "direction" "to") | nindent 4 }}
  {{- end }}
{{- end }}
{{- end -}}
