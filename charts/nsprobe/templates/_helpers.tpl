{{/*
The standard helper set: name, fullname, chart, labels, selectorLabels, serviceAccountName, image.
Agent objects use fixed names (nsprobe-agent) because the operator builds the DaemonSet with those names
and labels; see agent.* helpers below.
*/}}

{{/* Chart name, or nameOverride. */}}
{{- define "nsprobe.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name: fullnameOverride, else the release name when it already contains the chart
name, else "<release>-<name>". Truncated to 63 characters (DNS label limit).
*/}}
{{- define "nsprobe.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* "name-version" as used by the helm.sh/chart label. */}}
{{- define "nsprobe.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels every object carries. */}}
{{- define "nsprobe.labels" -}}
helm.sh/chart: {{ include "nsprobe.chart" . }}
{{ include "nsprobe.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: nsprobe
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels (immutable once a Deployment exists: never add to them). */}}
{{- define "nsprobe.selectorLabels" -}}
app.kubernetes.io/name: {{ include "nsprobe.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The operator's ServiceAccount name. */}}
{{- define "nsprobe.serviceAccountName" -}}
{{- if .Values.operator.serviceAccount.create }}
{{- default (include "nsprobe.named" (list . "operator")) .Values.operator.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.operator.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The agent's ServiceAccount name. The operator runs the DaemonSet as this account (the Deployment passes it
in NSPROBE_AGENT_SERVICE_ACCOUNT).
*/}}
{{- define "nsprobe.agentServiceAccountName" -}}
{{- .Values.agent.serviceAccount.name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Operator (and agent) image reference: repository@digest, else repository:tag (tag defaults to appVersion). */}}
{{- define "nsprobe.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag | toString) }}
{{- end }}
{{- end }}

{{/* Labels the operator puts on agent pods; the agent Service selects them. Fixed by the operator. */}}
{{- define "nsprobe.agentSelectorLabels" -}}
app.kubernetes.io/name: nsprobe
app.kubernetes.io/component: agent
{{- end }}

{{/*
"<fullname>-<suffix>" within 63 characters: the fullname is cut, never the suffix.
Usage: include "nsprobe.named" (list . "operator")
*/}}
{{- define "nsprobe.named" -}}
{{- $ctx := index . 0 }}
{{- $suffix := index . 1 }}
{{- printf "%s-%s" (include "nsprobe.fullname" $ctx | trunc (int (sub 62 (len $suffix))) | trimSuffix "-") $suffix }}
{{- end }}

{{/*
Cluster-scoped objects: "<fullname>-<namespace>-<suffix>", unique per release and namespace, within 63
characters. Usage: include "nsprobe.clusterNamed" (list . "agent")
*/}}
{{- define "nsprobe.clusterNamed" -}}
{{- $ctx := index . 0 }}
{{- $suffix := index . 1 }}
{{- $base := printf "%s-%s" (include "nsprobe.fullname" $ctx) $ctx.Release.Namespace }}
{{- printf "%s-%s" ($base | trunc (int (sub 62 (len $suffix))) | trimSuffix "-") $suffix }}
{{- end }}

{{/*
files/prometheus-rules.yaml with the host-namespace allow-list applied. The rules file spells its default
allow-list as the literal regex `kube-system`; it is replaced by monitoring.prometheusRule.hostNamespaceAllowList.
*/}}
{{- define "nsprobe.prometheusRules" -}}
{{- $text := .Files.Get "files/prometheus-rules.yaml" }}
{{- $default := "namespace!~\"kube-system\"" }}
{{- if not (contains $default $text) }}
{{- fail (printf "files/prometheus-rules.yaml no longer contains %s, the allow-list matcher the chart replaces" $default) }}
{{- end }}
{{- replace $default (printf "namespace!~%q" .Values.monitoring.prometheusRule.hostNamespaceAllowList) $text }}
{{- end }}

{{/*
kopf peering object name: "nsprobe", the operator's default. One per cluster is right: the cluster has one
NsProbeConfig "default", so it has one nsprobe installation.
*/}}
{{- define "nsprobe.peeringName" -}}
nsprobe
{{- end }}
