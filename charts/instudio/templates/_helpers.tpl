{{/*
Names
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "instudio.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The release-wide name prefix: fullnameOverride, else <release>-<name>, or just <release>
when it already contains the name. Kept to 42 characters so that the longest component
suffix ("-control-plane-tls" and friends) still fits in 63.
*/}}
{{- define "instudio.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 42 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 42 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 42 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
A component's resource name: <fullname>-<component>.
Usage: include "instudio.componentName" (dict "ctx" $ "component" "control-plane")
*/}}
{{- define "instudio.componentName" -}}
{{- printf "%s-%s" (include "instudio.fullname" .ctx) .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* chart label value: <name>-<version> */}}
{{- define "instudio.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels
*/}}

{{/*
Selector labels of one component; these never change across upgrades.
Usage: include "instudio.selectorLabels" (dict "ctx" $ "component" "tenant-runtime")
*/}}
{{- define "instudio.selectorLabels" -}}
app.kubernetes.io/name: {{ include "instudio.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
Every label of one component's resources.
Usage: include "instudio.labels" (dict "ctx" $ "component" "tenant-runtime")
*/}}
{{- define "instudio.labels" -}}
helm.sh/chart: {{ include "instudio.chart" .ctx }}
{{ include "instudio.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: instudio
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Images
*/}}

{{/*
<repository>:<tag>[@<digest>], the tag defaulting to the chart's appVersion.
Usage: include "instudio.image" (dict "ctx" $ "image" .Values.controlPlane.image)
*/}}
{{- define "instudio.image" -}}
{{- $tag := .image.tag | default .ctx.Chart.AppVersion | toString }}
{{- if .image.digest }}
{{- printf "%s:%s@%s" .image.repository $tag .image.digest }}
{{- else }}
{{- printf "%s:%s" .image.repository $tag }}
{{- end }}
{{- end }}

{{/*
Service accounts
*/}}

{{/*
A component's ServiceAccount name.
Usage: include "instudio.serviceAccountName" (dict "ctx" $ "component" "control-plane" "sa" .Values.controlPlane.serviceAccount)
*/}}
{{- define "instudio.serviceAccountName" -}}
{{- if .sa.create }}
{{- default (include "instudio.componentName" .) .sa.name }}
{{- else }}
{{- default "default" .sa.name }}
{{- end }}
{{- end }}

{{/*
Shared pod and container pieces
*/}}

{{/* DATABASE_URL from the catalog Secret. */}}
{{- define "instudio.env.databaseUrl" -}}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ required "secrets.database.existingSecret is required" .Values.secrets.database.existingSecret }}
      key: {{ .Values.secrets.database.key }}
{{- end }}

{{/* LOG_FORMAT and RUST_LOG. Usage: include "instudio.env.logging" (dict "ctx" $ "rustLog" "info") */}}
{{- define "instudio.env.logging" -}}
- name: LOG_FORMAT
  value: {{ .ctx.Values.logFormat | quote }}
- name: RUST_LOG
  value: {{ .rustLog | quote }}
{{- end }}

{{/*
The tenant runtime's JWT public key source: "configMap", "secret" or "" (none).
*/}}
{{- define "instudio.jwtKeySource" -}}
{{- $pk := .Values.tenantRuntime.jwt.publicKey }}
{{- $n := 0 }}
{{- if $pk.pem }}{{ $n = add1 $n }}{{ end }}
{{- if $pk.existingConfigMap }}{{ $n = add1 $n }}{{ end }}
{{- if $pk.existingSecret }}{{ $n = add1 $n }}{{ end }}
{{- if gt $n 1 }}
{{- fail "tenantRuntime.jwt.publicKey: set only one of pem, existingConfigMap and existingSecret" }}
{{- end }}
{{- if or $pk.pem $pk.existingConfigMap }}configMap{{ else if $pk.existingSecret }}secret{{ end }}
{{- end }}

{{/* The ConfigMap holding the JWT public key (rendered or existing). */}}
{{- define "instudio.jwtConfigMapName" -}}
{{- default (include "instudio.componentName" (dict "ctx" . "component" "jwt-public-key")) .Values.tenantRuntime.jwt.publicKey.existingConfigMap }}
{{- end }}

{{/* The control plane's public host. */}}
{{- define "instudio.controlPlaneHost" -}}
{{- default (printf "api.%s" .Values.baseDomain) .Values.ingress.controlPlane.host }}
{{- end }}

{{/*
A PodDisruptionBudget body for one component: minAvailable when set, else
maxUnavailable (default 1).
Usage: include "instudio.pdbSpec" .Values.controlPlane.pdb
*/}}
{{- define "instudio.pdbSpec" -}}
{{- if not (kindIs "invalid" .minAvailable) }}
minAvailable: {{ .minAvailable }}
{{- else if not (kindIs "invalid" .maxUnavailable) }}
maxUnavailable: {{ .maxUnavailable }}
{{- else }}
maxUnavailable: 1
{{- end }}
{{- end }}

{{/*
An Ingress's annotations: cert-manager's issuer, then ingress.annotations, then the
Ingress's own (later ones win).
Usage: include "instudio.ingressAnnotations" (dict "ctx" $ "own" .Values.ingress.tenants.annotations)
*/}}
{{- define "instudio.ingressAnnotations" -}}
{{- $ing := .ctx.Values.ingress }}
{{- $all := dict }}
{{- if and $ing.tls.enabled $ing.certManager.enabled }}
{{- if eq $ing.certManager.issuerKind "ClusterIssuer" }}
{{- $_ := set $all "cert-manager.io/cluster-issuer" $ing.certManager.issuerName }}
{{- else if eq $ing.certManager.issuerKind "Issuer" }}
{{- $_ := set $all "cert-manager.io/issuer" $ing.certManager.issuerName }}
{{- else }}
{{- fail "ingress.certManager.issuerKind must be ClusterIssuer or Issuer" }}
{{- end }}
{{- end }}
{{- $all = mergeOverwrite $all ($ing.annotations | default dict) (.own | default dict) }}
{{- with $all }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
A one-element NetworkPolicyPeer list from {namespaceSelector, podSelector}; an omitted
(null) selector is left out, an empty one ({}) selects everything.
Usage: include "instudio.netpolPeer" .Values.networkPolicy.ingressController
*/}}
{{- define "instudio.netpolPeer" -}}
{{- $peer := dict }}
{{- if not (kindIs "invalid" .namespaceSelector) }}
{{- $_ := set $peer "namespaceSelector" .namespaceSelector }}
{{- end }}
{{- if not (kindIs "invalid" .podSelector) }}
{{- $_ := set $peer "podSelector" .podSelector }}
{{- end }}
{{- if not $peer }}
{{- fail "networkPolicy: a peer needs a namespaceSelector and/or a podSelector" }}
{{- end }}
{{- toYaml (list $peer) }}
{{- end }}

{{/*
Egress rules every InStudio pod needs: DNS and PostgreSQL/PgBouncer, plus extraEgress.
*/}}
{{- define "instudio.netpolEgress" -}}
{{- $np := .Values.networkPolicy }}
# DNS
- ports:
    {{- toYaml $np.egress.dns.ports | nindent 4 }}
  {{- with $np.egress.dns.to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
# PostgreSQL and PgBouncer
- ports:
    {{- toYaml $np.egress.database.ports | nindent 4 }}
  {{- with $np.egress.database.to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- with $np.extraEgress }}
{{ toYaml . }}
{{- end }}
{{- end }}
