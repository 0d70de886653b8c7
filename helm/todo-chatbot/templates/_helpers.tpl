{{/*
Names and labels, written once. Every object carries the recommended app.kubernetes.io/* labels;
selectors use only the stable subset (name, instance, component) because selectors are immutable.
*/}}

{{/* The chart name, overridable. */}}
{{- define "todo-chatbot.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release-wide name prefix: <release> when it already contains the chart name, else <release>-<chart>. */}}
{{- define "todo-chatbot.fullname" -}}
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

{{/* A component's object name: <fullname>-<component>, e.g. todo-chatbot-backend. */}}
{{- define "todo-chatbot.componentName" -}}
{{- printf "%s-%s" (include "todo-chatbot.fullname" .root) .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "todo-chatbot.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. Call with (dict "root" $ "component" "backend"). */}}
{{- define "todo-chatbot.labels" -}}
helm.sh/chart: {{ include "todo-chatbot.chart" .root }}
{{ include "todo-chatbot.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: {{ include "todo-chatbot.name" .root }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The immutable subset used in selectors. */}}
{{- define "todo-chatbot.selectorLabels" -}}
app.kubernetes.io/name: {{ include "todo-chatbot.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- if .component }}
app.kubernetes.io/component: {{ .component }}
{{- end }}
{{- end }}

{{/* image reference: [registry/]repository:tag (tag defaults to appVersion, never "latest"), or @digest. */}}
{{- define "todo-chatbot.image" -}}
{{- $image := .image -}}
{{- $registry := .root.Values.imageRegistry -}}
{{- $repository := ternary $image.repository (printf "%s/%s" $registry $image.repository) (empty $registry) -}}
{{- $tag := default .root.Chart.AppVersion $image.tag | toString -}}
{{- if eq $tag "latest" }}{{ fail (printf "%s: the tag \"latest\" is refused; use the version or the git revision" $image.repository) }}{{ end -}}
{{- if $image.digest -}}
{{ printf "%s@%s" $repository $image.digest }}
{{- else -}}
{{ printf "%s:%s" $repository $tag }}
{{- end -}}
{{- end }}

{{/* The Secret holding DATABASE_URL, BETTER_AUTH_SECRET, OPENAI_API_KEY (and POSTGRES_PASSWORD). */}}
{{- define "todo-chatbot.secretName" -}}
{{- default (include "todo-chatbot.componentName" (dict "root" . "component" "secrets")) .Values.secrets.existingSecret }}
{{- end }}

{{- define "todo-chatbot.serviceAccountName" -}}
{{- default (include "todo-chatbot.fullname" .) .Values.serviceAccount.name }}
{{- end }}

{{/* Whether the migration Job runs as a hook (and the servers do not migrate themselves). */}}
{{- define "todo-chatbot.migrationJob" -}}
{{- if .Values.migrations.job.enabled }}true{{ end }}
{{- end }}

{{/* The restricted-profile container security context. Call with the numeric uid. */}}
{{- define "todo-chatbot.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .uid }}
runAsGroup: {{ .uid }}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* The restricted-profile pod security context. Call with the numeric uid. */}}
{{- define "todo-chatbot.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .uid }}
runAsGroup: {{ .uid }}
fsGroup: {{ .uid }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Hook annotations for objects the migration Job needs before install/upgrade. */}}
{{- define "todo-chatbot.preHookAnnotations" -}}
helm.sh/hook: pre-install,pre-upgrade
helm.sh/hook-weight: {{ .weight | quote }}
helm.sh/hook-delete-policy: before-hook-creation
{{- end }}

{{/* The backend's secret environment, by key from the chart's Secret or existingSecret. */}}
{{- define "todo-chatbot.secretEnv" -}}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef: {name: {{ include "todo-chatbot.secretName" . }}, key: DATABASE_URL}
- name: BETTER_AUTH_SECRET
  valueFrom:
    secretKeyRef: {name: {{ include "todo-chatbot.secretName" . }}, key: BETTER_AUTH_SECRET}
- name: OPENAI_API_KEY
  valueFrom:
    secretKeyRef: {name: {{ include "todo-chatbot.secretName" . }}, key: OPENAI_API_KEY, optional: true}
{{- end }}

{{/* NetworkPolicy egress rules shared by the policies. */}}
{{- define "todo-chatbot.dnsEgress" -}}
- to:
    - namespaceSelector:
        matchLabels:
          {{- toYaml .dns.namespaceSelector | nindent 10 }}
      podSelector:
        matchLabels:
          {{- toYaml .dns.podSelector | nindent 10 }}
  ports:
    - {port: 53, protocol: UDP}
    - {port: 53, protocol: TCP}
{{- end }}
{{- define "todo-chatbot.databaseEgress" -}}
{{- if .root.Values.postgres.enabled -}}
- to:
    - podSelector:
        matchLabels:
          {{- include "todo-chatbot.selectorLabels" (dict "root" .root "component" "postgres") | nindent 10 }}
  ports:
    - {port: 5432, protocol: TCP}
{{- else -}}
- to:
    {{- range .np.database.cidrs }}
    - ipBlock: {cidr: {{ . | quote }}}
    {{- end }}
  ports:
    - {port: {{ .np.database.port }}, protocol: TCP}
{{- end }}
{{- end }}

{{/*
The non-secret environment of each server, written once: the ConfigMap todo-chatbot-config holds
both under "backend."/"web." keys, each Deployment reads its own keys, and each Deployment's
checksum/config hashes only its own settings, so a backend-only change never rolls web.
*/}}
{{- define "todo-chatbot.backendConfig" -}}
PORT: {{ .Values.backend.port | quote }}
DATABASE_MAX_CONNECTIONS: {{ .Values.config.databaseMaxConnections | quote }}
MIGRATE_ON_START: {{ ternary "false" "true" .Values.migrations.job.enabled | quote }}
SHUTDOWN_DELAY_SECS: {{ .Values.backend.shutdownDelaySeconds | quote }}
RUST_LOG: {{ .Values.config.rustLog | quote }}
LOG_FORMAT: {{ .Values.config.logFormat | quote }}
TOKEN_TTL_SECS: {{ .Values.config.tokenTtlSecs | quote }}
SESSION_MAX_LIFETIME_SECS: {{ .Values.config.sessionMaxLifetimeSecs | int64 | quote }}
UNDO_WINDOW_SECS: {{ .Values.config.undoWindowSecs | int64 | quote }}
TASK_PAGE_CACHE_MIB: {{ .Values.config.taskPageCacheMib | int64 | quote }}
CORS_ORIGINS: {{ .Values.config.corsOrigins | quote }}
OPENAI_MODEL: {{ .Values.config.openaiModel | quote }}
{{- /* null (the default) follows the Ingress: kindIs, since `default` would turn 0 into it. */}}
{{- $hops := .Values.config.trustedProxyHops }}
TRUSTED_PROXY_HOPS: {{ kindIs "invalid" $hops | ternary (ternary 2 1 .Values.ingress.enabled) $hops | quote }}
{{- with .Values.config.openaiBaseUrl }}
OPENAI_BASE_URL: {{ . | quote }}
{{- end }}
{{- end }}

{{- define "todo-chatbot.webConfig" -}}
BACKEND_URL: {{ printf "http://%s:%d" (include "todo-chatbot.componentName" (dict "root" . "component" "backend")) (int .Values.backend.port) | quote }}
PORT: {{ .Values.web.port | quote }}
PROXY_TIMEOUT_SECS: {{ .Values.web.proxyTimeoutSecs | quote }}
RUST_LOG: {{ .Values.config.rustLog | quote }}
LOG_FORMAT: {{ .Values.config.logFormat | quote }}
{{- end }}

{{/* env entries reading one server's keys of todo-chatbot-config. Call with (dict "root" $ "server" "backend"). */}}
{{- define "todo-chatbot.configEnv" -}}
{{- $settings := include (printf "todo-chatbot.%sConfig" .server) .root | fromYaml }}
{{- $name := include "todo-chatbot.componentName" (dict "root" .root "component" "config") }}
{{- range $key := keys $settings | sortAlpha }}
- name: {{ $key }}
  valueFrom:
    configMapKeyRef: {name: {{ $name }}, key: {{ printf "%s.%s" $.server $key }}}
{{- end }}
{{- end }}

{{/*
The seed runbook's value names (README-PHASE4.md), accepted as aliases of ours. A secret given
under both names with different values is refused rather than silently picking one.
Call with (dict "root" $ "key" "databaseUrl"); prints the effective value.
*/}}
{{- define "todo-chatbot.secretInput" -}}
{{- $aliases := dict "databaseUrl" "DATABASE_URL" "betterAuthSecret" "BETTER_AUTH_SECRET" "openaiApiKey" "OPENAI_API_KEY" }}
{{- $alias := get $aliases .key }}
{{- $ours := get .root.Values.secrets .key | default "" }}
{{- $theirs := get .root.Values.secrets $alias | default "" }}
{{- if and $ours $theirs (ne $ours $theirs) }}
{{- fail (printf "secrets.%s and secrets.%s are both set, to different values: keep one (secrets.%s is the seed runbook's name for secrets.%s)" .key $alias $alias .key) }}
{{- end }}
{{- default $theirs $ours }}
{{- end }}

{{/* The backend's replica count: backend.replicas (the seed's name) when set, else backend.replicaCount. */}}
{{- define "todo-chatbot.backendReplicas" -}}
{{- if kindIs "invalid" .Values.backend.replicas }}{{ .Values.backend.replicaCount }}{{ else }}{{ .Values.backend.replicas }}{{ end }}
{{- end }}
