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

{{/* Namespace of every namespaced object: namespaceOverride, else the release namespace. */}}
{{- define "okta-token-hook.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Chart name and version for the helm.sh/chart label. */}}
{{- define "okta-token-hook.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The version the pods run: the image tag (skaffold's TAG@DIGEST form cut at "@"), else appVersion,
made a valid label value (63 characters of [A-Za-z0-9._-]).
*/}}
{{- define "okta-token-hook.version" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag | toString }}
{{- regexReplaceAll "[^A-Za-z0-9._-]" (first (splitList "@" $tag)) "_" | trunc 63 | trimAll "-_." }}
{{- end }}

{{/* Common labels. */}}
{{- define "okta-token-hook.labels" -}}
helm.sh/chart: {{ include "okta-token-hook.chart" . }}
{{ include "okta-token-hook.selectorLabels" . }}
app.kubernetes.io/version: {{ include "okta-token-hook.version" . | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Labels of the `helm test` objects: their own name, so they never match the workload's selector
(PDB, NetworkPolicy, Service, `kubectl logs -l`).
*/}}
{{- define "okta-token-hook.testLabels" -}}
helm.sh/chart: {{ include "okta-token-hook.chart" . }}
{{ include "okta-token-hook.testSelectorLabels" . }}
app.kubernetes.io/part-of: {{ include "okta-token-hook.name" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Selector labels of the `helm test` pods (the NetworkPolicy lets them reach the hook port). */}}
{{- define "okta-token-hook.testSelectorLabels" -}}
app.kubernetes.io/name: {{ printf "%s-test" (include "okta-token-hook.name" .) | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: test
{{- end }}

{{/* Scheduling of the `helm test` pods: the workload's pull secrets, node selector and tolerations. */}}
{{- define "okta-token-hook.testPodScheduling" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
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

{{/*
Milliseconds of a Prometheus duration ("30s", "1m30s", "500ms"), for comparing scrape settings.
*/}}
{{- define "okta-token-hook.durationMs" -}}
{{- $units := dict "ms" 1 "s" 1000 "m" 60000 "h" 3600000 "d" 86400000 "w" 604800000 "y" 31536000000 }}
{{- $total := 0 }}
{{- range regexFindAll "[0-9]+(ms|s|m|h|d|w|y)" (toString .) -1 }}
{{- $number := regexFind "^[0-9]+" . }}
{{- $total = add $total (mul ($number | int64) (get $units (trimPrefix $number .) | int64)) }}
{{- end }}
{{- $total }}
{{- end }}

{{/*
Mebibytes of a Kubernetes memory quantity ("256Mi", "1Gi", "300M", "268435456"), rounded down;
fails on a unit the chart does not know.
*/}}
{{- define "okta-token-hook.memoryMiB" -}}
{{- $quantity := toString . }}
{{- if kindIs "float64" . }}{{ $quantity = int64 . | toString }}{{ end }}
{{- $number := regexFind "^[0-9]+(\\.[0-9]+)?" $quantity }}
{{- $unit := trimPrefix $number $quantity }}
{{- $bytes := dict "" 1 "k" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000 "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 }}
{{- if or (not $number) (not (hasKey $bytes $unit)) }}
{{- fail (printf "resources.limits.memory %q is not a memory quantity the chart understands (e.g. 256Mi, 1Gi)" $quantity) }}
{{- end }}
{{- divf (mulf (float64 $number) (get $bytes $unit)) 1048576 | floor | int64 }}
{{- end }}

{{/*
NODE_OPTIONS for the container: a V8 heap ceiling of heapLimitPercent of the memory limit, so
Node collects garbage before the kernel's OOM killer fires. Empty without a memory limit.
*/}}
{{- define "okta-token-hook.nodeOptions" -}}
{{- $limit := dig "limits" "memory" "" (.Values.resources | default dict) }}
{{- if and $limit (gt (int .Values.heapLimitPercent) 0) }}
{{- $mib := include "okta-token-hook.memoryMiB" $limit | int64 }}
{{- printf "--max-old-space-size=%d" (div (mul $mib (int .Values.heapLimitPercent)) 100) }}
{{- end }}
{{- end }}

{{/*
The environment the chart sets, as a YAML list; deployment.yaml drops the entries extraEnv
replaces, so no name appears twice (server-side apply rejects duplicates).
*/}}
{{- define "okta-token-hook.env" -}}
- name: NODE_ENV
  value: production
- name: HOOK_PORT
  value: "8080"
- name: METRICS_PORT
  value: "9464"
- name: METRICS_ENABLED
  value: {{ .Values.metrics.enabled | quote }}
- name: METRICS_CLIENT_ID_LABEL
  value: {{ .Values.metrics.clientIdLabel | quote }}
- name: METRICS_CLIENT_ID_LIMIT
  value: {{ .Values.metrics.clientIdLimit | int | quote }}
- name: LOG_LEVEL
  value: {{ .Values.config.logLevel | quote }}
- name: LOG_REQUESTS
  value: {{ .Values.config.logRequests | quote }}
- name: HOOK_DEADLINE_MS
  value: {{ .Values.config.deadlineMs | int | quote }}
- name: HOOK_DEBUG_CONTEXT
  value: {{ .Values.config.debugContext | quote }}
- name: HOOK_BODY_LIMIT_BYTES
  value: {{ .Values.config.bodyLimitBytes | int | quote }}
- name: HOOK_KEEP_ALIVE_TIMEOUT_MS
  value: {{ .Values.config.keepAliveTimeoutMs | int | quote }}
- name: SHUTDOWN_DELAY_MS
  value: {{ .Values.shutdown.delayMs | int | quote }}
- name: SHUTDOWN_TIMEOUT_MS
  value: {{ .Values.shutdown.timeoutMs | int | quote }}
- name: AUTH_MODE
  value: {{ .Values.auth.mode | quote }}
{{- if include "okta-token-hook.headerAuth" . }}
- name: HOOK_AUTH_HEADER
  value: {{ .Values.auth.header | quote }}
- name: HOOK_SECRET_FILE
  value: /etc/okta-token-hook/secret/{{ .Values.auth.secretKey }}
{{- end }}
{{- if ne .Values.auth.mode "header" }}
- name: OAUTH_ISSUER
  value: {{ .Values.auth.oauth.issuer | quote }}
- name: OAUTH_AUDIENCE
  value: {{ .Values.auth.oauth.audience | quote }}
- name: OAUTH_JWKS_URI
  value: {{ .Values.auth.oauth.jwksUri | quote }}
- name: OAUTH_REQUIRED_SCOPES
  value: {{ join "," .Values.auth.oauth.requiredScopes | quote }}
- name: OAUTH_ALLOWED_CLIENT_IDS
  value: {{ join "," .Values.auth.oauth.allowedClientIds | quote }}
- name: OAUTH_ALGORITHMS
  value: {{ join "," .Values.auth.oauth.algorithms | quote }}
{{- end }}
{{- if include "okta-token-hook.hasRules" . }}
- name: RULES_FILE
  value: /etc/okta-token-hook/rules{{ if not .Values.rules.directory }}/{{ .Values.rules.key }}{{ end }}
- name: RULES_WATCH
  value: {{ .Values.rules.watch | quote }}
{{- if .Values.rules.shadow.enabled }}
- name: RULES_SHADOW_FILE
  value: /etc/okta-token-hook/shadow/{{ .Values.rules.shadow.key }}
{{- end }}
{{- end }}
- name: OTEL_SDK_DISABLED
  value: {{ not .Values.tracing.enabled | quote }}
- name: OTEL_SERVICE_NAME
  value: {{ .Values.tracing.serviceName | quote }}
{{- if .Values.tracing.enabled }}
{{- with .Values.tracing.endpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ . | quote }}
{{- end }}
- name: OTEL_TRACES_SAMPLER
  value: parentbased_traceidratio
- name: OTEL_TRACES_SAMPLER_ARG
  value: {{ .Values.tracing.samplerRatio | quote }}
{{- end }}
- name: K8S_POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: K8S_NAMESPACE_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: K8S_NODE_NAME
  valueFrom:
    fieldRef:
      fieldPath: spec.nodeName
{{- with include "okta-token-hook.nodeOptions" . }}
- name: NODE_OPTIONS
  value: {{ . | quote }}
{{- end }}
{{- end }}

{{/* Names of the extraEnv entries (they replace chart-set variables of the same name). */}}
{{- define "okta-token-hook.extraEnvNames" -}}
{{- range .Values.extraEnv }}{{ .name }}{{ "\n" }}{{ end }}
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
{{- /* SIGTERM -> readiness off for delayMs -> drain up to timeoutMs -> telemetry flush (up to 5 s with tracing on) -> exit. */}}
{{- $flushMs := ternary 5000 0 .Values.tracing.enabled }}
{{- $drainMs := add (int .Values.shutdown.delayMs) (int .Values.shutdown.timeoutMs) $flushMs }}
{{- $graceSeconds := int .Values.shutdown.terminationGracePeriodSeconds }}
{{- if le (mul $graceSeconds 1000) $drainMs }}
{{- fail (printf "shutdown.terminationGracePeriodSeconds (%d s) must be longer than shutdown.delayMs + shutdown.timeoutMs + the telemetry flush (%d ms with tracing.enabled=%t)" $graceSeconds $drainMs .Values.tracing.enabled) }}
{{- end }}
{{- if and .Values.ingress.enabled (not .Values.ingress.hosts) }}
{{- fail "ingress.enabled=true needs at least one host in ingress.hosts" }}
{{- end }}
{{- $extraNames := splitList "\n" (include "okta-token-hook.extraEnvNames" .) | compact }}
{{- range $name := $extraNames }}
{{- if has $name (list "HOOK_PORT" "METRICS_PORT") }}
{{- fail (printf "extraEnv cannot set %s: the chart's ports, probes and Service depend on it" $name) }}
{{- end }}
{{- end }}
{{- if ne (len $extraNames) (len (uniq $extraNames)) }}
{{- fail (printf "extraEnv sets a name twice: %s" (join ", " $extraNames)) }}
{{- end }}
{{- if and .Values.tracing.enabled (not .Values.tracing.endpoint) (not (has "OTEL_EXPORTER_OTLP_ENDPOINT" $extraNames)) (not (has "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" $extraNames)) }}
{{- fail "tracing.enabled=true needs tracing.endpoint (or OTEL_EXPORTER_OTLP_ENDPOINT in extraEnv): without it the SDK exports to localhost:4318, where nothing listens in the pod" }}
{{- end }}
{{- $replicas := ternary (int .Values.autoscaling.minReplicas) (int .Values.replicaCount) .Values.autoscaling.enabled }}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) }}
{{- fail (printf "autoscaling.minReplicas (%d) must not exceed autoscaling.maxReplicas (%d)" (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) }}
{{- end }}
{{- if .Values.podDisruptionBudget.enabled }}
{{- $minAvailable := toString .Values.podDisruptionBudget.minAvailable }}
{{- $maxUnavailable := toString .Values.podDisruptionBudget.maxUnavailable }}
{{- if $minAvailable }}
{{- if or (eq $minAvailable "100%") (and (not (hasSuffix "%" $minAvailable)) (ge (int $minAvailable) $replicas)) }}
{{- fail (printf "podDisruptionBudget.minAvailable (%s) must be below the number of pods (%d): no pod could ever be evicted and node drains would block" $minAvailable $replicas) }}
{{- end }}
{{- else if or (eq $maxUnavailable "0") (eq $maxUnavailable "0%") }}
{{- fail "podDisruptionBudget.maxUnavailable=0 forbids every eviction and blocks node drains: use 1 or more" }}
{{- end }}
{{- end }}
{{- if and .Values.serviceMonitor.enabled .Values.metrics.enabled }}
{{- if gt (include "okta-token-hook.durationMs" .Values.serviceMonitor.scrapeTimeout | int64) (include "okta-token-hook.durationMs" .Values.serviceMonitor.interval | int64) }}
{{- fail (printf "serviceMonitor.scrapeTimeout (%s) must not exceed serviceMonitor.interval (%s): Prometheus rejects the scrape config" .Values.serviceMonitor.scrapeTimeout .Values.serviceMonitor.interval) }}
{{- end }}
{{- end }}
{{- if and .Values.networkPolicy.enabled (not .Values.networkPolicy.restrictEgress) (or .Values.networkPolicy.extraEgress .Values.networkPolicy.allowExternal .Values.networkPolicy.dnsTo) }}
{{- fail "networkPolicy.extraEgress, allowExternal and dnsTo only apply with networkPolicy.restrictEgress=true (egress is otherwise unrestricted)" }}
{{- end }}
{{- if and .Values.httpRoute.enabled (not .Values.httpRoute.parentRefs) }}
{{- fail "httpRoute.enabled=true needs httpRoute.parentRefs (the Gateway listener(s) to attach to)" }}
{{- end }}
{{- if .Values.certificate.enabled }}
{{- if not .Values.certificate.issuerRef.name }}
{{- fail "certificate.enabled=true needs certificate.issuerRef.name (a cert-manager Issuer or ClusterIssuer)" }}
{{- end }}
{{- if not (include "okta-token-hook.certificateDnsNames" . | trim) }}
{{- fail "certificate.enabled=true needs certificate.dnsNames, httpRoute.hostnames or ingress.hosts" }}
{{- end }}
{{- end }}
{{- end }}

{{/* DNS names of the Certificate: certificate.dnsNames, else the HTTPRoute's and the Ingress's hosts. */}}
{{- define "okta-token-hook.certificateDnsNames" -}}
{{- $names := .Values.certificate.dnsNames }}
{{- if not $names }}
{{- if .Values.httpRoute.enabled }}{{ $names = concat $names .Values.httpRoute.hostnames }}{{ end }}
{{- if .Values.ingress.enabled }}{{ $names = concat $names .Values.ingress.hosts }}{{ end }}
{{- end }}
{{- range uniq $names }}
- {{ . | quote }}
{{- end }}
{{- end }}

{{/*
A probe from values, with `port: metrics` turned into `http` when the metrics server is off (the
service serves /healthz and /readyz on both ports, but the metrics port only when metrics are on).
*/}}
{{- define "okta-token-hook.probe" -}}
{{- $probe := deepCopy .probe -}}
{{- if and (hasKey $probe "httpGet") (eq (toString (dig "httpGet" "port" "" $probe)) "metrics") (not .root.Values.metrics.enabled) -}}
{{- $_ := set $probe.httpGet "port" "http" -}}
{{- end -}}
{{- toYaml $probe -}}
{{- end -}}
