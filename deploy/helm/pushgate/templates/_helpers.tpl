{{- define "pushgate.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "pushgate.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "pushgate.secretName" -}}
{{- default (include "pushgate.fullname" .) .Values.existingSecret -}}
{{- end -}}

{{- define "pushgate.image" -}}
{{ .Values.image.repository }}:{{ default .Chart.AppVersion .Values.image.tag }}
{{- end -}}

{{/* The container of a node; .roles is api,worker or worker. */}}
{{- define "pushgate.container" -}}
- name: pushgate
  image: {{ include "pushgate.image" .root | quote }}
  imagePullPolicy: {{ .root.Values.image.pullPolicy }}
  args: ["serve"]
  ports:
    - name: http
      containerPort: 8080
  env:
    - name: PUSHGATE_ROLES
      value: {{ .roles | quote }}
    - name: PUSHGATE_DATA_DIR
      value: /data
    - name: PUSHGATE_DATABASE_URL
      valueFrom: {secretKeyRef: {name: {{ include "pushgate.secretName" .root }}, key: database-url}}
    - name: PUSHGATE_REDIS_URL
      valueFrom: {secretKeyRef: {name: {{ include "pushgate.secretName" .root }}, key: redis-url}}
    - name: PUSHGATE_MASTER_KEY
      valueFrom: {secretKeyRef: {name: {{ include "pushgate.secretName" .root }}, key: master-key}}
    {{- range $k, $v := .root.Values.env }}
    - name: {{ $k }}
      value: {{ $v | quote }}
    {{- end }}
  readinessProbe:
    httpGet: {path: /readyz, port: http}
    periodSeconds: 5
    failureThreshold: 2
  livenessProbe:
    httpGet: {path: /healthz, port: http}
    periodSeconds: 10
    failureThreshold: 6
  securityContext:
    {{- toYaml .root.Values.securityContext | nindent 4 }}
  resources:
    {{- toYaml .resources | nindent 4 }}
  volumeMounts:
    - name: data
      mountPath: /data
{{- end -}}
