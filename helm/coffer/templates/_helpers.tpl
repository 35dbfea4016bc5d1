{{/* Names and labels. */}}
{{- define "coffer.name" -}}coffer-deploy{{- end -}}
{{- define "coffer.fullname" -}}{{ printf "%s-deploy" .Release.Name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- define "coffer.selectorLabels" -}}
app.kubernetes.io/name: {{ include "coffer.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
{{- define "coffer.labels" -}}
{{ include "coffer.selectorLabels" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}
{{- define "coffer.image" -}}{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}{{- end -}}

{{/* containerd's config dir, unit and socket per distribution. */}}
{{- define "coffer.containerdConfigDir" -}}
{{- if .Values.containerd.configDir -}}{{ .Values.containerd.configDir }}
{{- else if eq .Values.k8sDistribution "k3s" -}}/var/lib/rancher/k3s/agent/etc/containerd
{{- else if eq .Values.k8sDistribution "rke2" -}}/var/lib/rancher/rke2/agent/etc/containerd
{{- else if eq .Values.k8sDistribution "k0s" -}}/etc/k0s
{{- else if eq .Values.k8sDistribution "microk8s" -}}/var/snap/microk8s/current/args
{{- else -}}/etc/containerd
{{- end -}}
{{- end -}}
{{- define "coffer.containerdSocket" -}}
{{- if .Values.containerd.socket -}}{{ .Values.containerd.socket }}
{{- else if eq .Values.k8sDistribution "k3s" -}}/run/k3s/containerd/containerd.sock
{{- else if eq .Values.k8sDistribution "rke2" -}}/run/k3s/containerd/containerd.sock
{{- else if eq .Values.k8sDistribution "k0s" -}}/run/k0s/containerd.sock
{{- else if eq .Values.k8sDistribution "microk8s" -}}/var/snap/microk8s/common/run/containerd.sock
{{- else -}}/run/containerd/containerd.sock
{{- end -}}
{{- end -}}

{{/* The enabled profiles, as coffer-deploy's PROFILES. */}}
{{- define "coffer.profiles" -}}
{{- $p := list -}}
{{- if .Values.profiles.plain.enabled }}{{ $p = append $p "plain" }}{{ end -}}
{{- if .Values.profiles.sevSnp.enabled }}{{ $p = append $p "sev-snp" }}{{ end -}}
{{- if .Values.profiles.tdx.enabled }}{{ $p = append $p "tdx" }}{{ end -}}
{{- join "," $p -}}
{{- end -}}

{{/* Is the NodeFeatureRule rendered? "true" or "". */}}
{{- define "coffer.nfd" -}}
{{- $c := toString .Values.nodeFeatureRules.create -}}
{{- if or (eq $c "true") (and (eq $c "auto") (.Capabilities.APIVersions.Has "nfd.k8s-sigs.io/v1alpha1")) -}}true{{- end -}}
{{- end -}}
