{{/* The chart's name, cut to 63 characters (a label value's limit). */}}
{{- define "citykit-operator.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The release's full name: the release name alone when it already contains the chart's name
(`helm install citykit-operator ...`), else "<release>-<chart>".
*/}}
{{- define "citykit-operator.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* Selector labels: stable for the life of a release (a Deployment's selector is immutable). */}}
{{- define "citykit-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "citykit-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The standard labels on every object of the chart. */}}
{{- define "citykit-operator.labels" -}}
{{ include "citykit-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: citykit
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{/* The ServiceAccount the operator runs as. */}}
{{- define "citykit-operator.serviceAccountName" -}}
{{- default (include "citykit-operator.fullname" .) .Values.serviceAccount.name }}
{{- end }}
