{{/*
Helpers. Keep logic here thin: names, labels, the image reference, and the checks that refuse
contradictory values (rendered from deployment.yaml, so `helm template` and `helm install` fail early).
*/}}

{{/* Chart name, truncated to the 63-character DNS label limit. */}}
{{- define "okta-token-hook.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: the release name, plus the chart name unless the release name already contains it. */}}
{{- define "okta-token-hook.fullname" -}}
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

{{/* Chart name and version for the helm.sh/chart label. */}}
{{- define "okta-token-hook.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Common labels. */}}
{{- define "okta-token-hook.labels" -}}
helm.sh/chart: {{ include "okta-token-hook.chart" . }}
{{ include "okta-token-hook.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Selector labels: never change them (Deployment selectors are immutable). */}}
{{- define "okta-token-hook.selectorLabels" -}}
app.kubernetes.io/name: {{ include "okta-token-hook.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* ServiceAccount name. */}}
{{- define "okta-token-hook.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "okta-token-hook.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Image reference: repository@digest when a digest is given, else repository:tag (tag defaults to
appVersion). skaffold sets the tag to "TAG@DIGEST", with an empty digest for images it loads into
kind or minikube without pushing: the dangling "@" is dropped.
*/}}
{{- define "okta-token-hook.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag | trimSuffix "@") }}
{{- end }}
{{- end }}

{{/* The hook path, fixed by the service (POST only). */}}
{{- define "okta-token-hook.hookPath" -}}
/hooks/token
{{- end }}

{{/* "true" when Okta's calls may use the header secret (auth.mode header or either). */}}
{{- define "okta-token-hook.headerAuth" -}}
{{- if ne .Values.auth.mode "oauth2" }}true{{ end }}
{{- end }}

{{/* "true" when the chart creates the header secret Secret itself. */}}
{{- define "okta-token-hook.createSecret" -}}
{{- if and (include "okta-token-hook.headerAuth" .) .Values.auth.secret }}true{{ end }}
{{- end }}

{{/* Name of the Secret holding the header secret(s). */}}
{{- define "okta-token-hook.secretName" -}}
{{- default (include "okta-token-hook.fullname" .) .Values.auth.existingSecret }}
{{- end }}

{{/* "true" when a rules file is mounted (chart-owned or existing ConfigMap). */}}
{{- define "okta-token-hook.hasRules" -}}
{{- if or .Values.rules.existingConfigMap .Values.rules.content }}true{{ end }}
{{- end }}

{{/* "true" when the chart creates the rules ConfigMap itself. */}}
{{- define "okta-token-hook.createRulesConfigMap" -}}
{{- if and .Values.rules.content (not .Values.rules.existingConfigMap) }}true{{ end }}
{{- end }}

{{/* Name of the ConfigMap holding the shadow rules file. */}}
{{- define "okta-token-hook.shadowRulesConfigMapName" -}}
{{- default (printf "%s-shadow-rules" (include "okta-token-hook.fullname" .)) .Values.rules.shadow.existingConfigMap }}
{{- end }}

{{/* Name of the ConfigMap holding the rules file. */}}
{{- define "okta-token-hook.rulesConfigMapName" -}}
{{- default (printf "%s-rules" (include "okta-token-hook.fullname" .)) .Values.rules.existingConfigMap }}
{{- end }}

{{/* Refuse contradictory or incomplete values with a message that names the keys. */}}
{{- define "okta-token-hook.validate" -}}
{{- $mode := .Values.auth.mode }}
{{- if and .Values.auth.secret .Values.auth.existingSecret }}
{{- fail "auth.secret and auth.existingSecret are mutually exclusive: set only one of them" }}
{{- end }}
{{- if and (ne $mode "oauth2") (not (or .Values.auth.secret .Values.auth.existingSecret)) }}
{{- fail (printf "auth.mode=%s needs the header secret: set auth.existingSecret (a Secret you manage) or auth.secret (e.g. --set-file auth.secret=./hook-secret.txt)" $mode) }}
{{- end }}
{{- if and (ne $mode "header") (not (and .Values.auth.oauth.issuer .Values.auth.oauth.audience)) }}
{{- fail (printf "auth.mode=%s needs auth.oauth.issuer and auth.oauth.audience" $mode) }}
{{- end }}
{{- $drainMs := add (int .Values.shutdown.delayMs) (int .Values.shutdown.timeoutMs) }}
{{- $graceSeconds := int .Values.shutdown.terminationGracePeriodSeconds }}
{{- if le (mul $graceSeconds 1000) $drainMs }}
{{- fail (printf "shutdown.terminationGracePeriodSeconds (%d s) must be longer than shutdown.delayMs + shutdown.timeoutMs (%d ms)" $graceSeconds $drainMs) }}
{{- end }}
{{- if and .Values.ingress.enabled (not .Values.ingress.hosts) }}
{{- fail "ingress.enabled=true needs at least one host in ingress.hosts" }}
{{- end }}
{{- end }}
