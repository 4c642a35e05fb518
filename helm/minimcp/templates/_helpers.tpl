{{- define "minimcp.labels" -}}
app.kubernetes.io/name: minimcp
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "minimcp.selectorLabels" -}}
app.kubernetes.io/name: minimcp
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}
