{{/*
Every RBAC rule the chart grants, in one place. Least privilege (DESIGN.md "Security"):
  - the agent reads pods and patches probe status, nothing else;
  - the operator reads the cluster, owns PodProbe/NodeProbe objects and NsProbeConfig status, and manages
    DaemonSets only in its own namespace (a Role, not a ClusterRole).
tests/charts/test_chart_rbac_by_impersonation.py proves each allowed and forbidden verb on a real apiserver.
*/}}

{{/* Agent, cluster-wide. */}}
{{- define "nsprobe.rules.agent" -}}
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["nsprobe.io"]
  resources: ["podprobes", "nodeprobes"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["nsprobe.io"]
  resources: ["podprobes/status", "nodeprobes/status"]
  verbs: ["patch"]
{{- end }}

{{/* Operator, cluster-wide. */}}
{{- define "nsprobe.rules.operator" -}}
- apiGroups: [""]
  resources: ["pods", "nodes", "namespaces"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["nsprobe.io"]
  resources: ["podprobes", "nodeprobes"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
- apiGroups: ["nsprobe.io"]
  resources: ["nsprobeconfigs", "nsprobeconfigs/status"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
- apiGroups: ["apiextensions.k8s.io"]
  resources: ["customresourcedefinitions"]
  verbs: ["get", "list", "watch"]
# kopf peering: several replicas, one active.
- apiGroups: ["kopf.dev"]
  resources: ["clusterkopfpeerings", "kopfpeerings"]
  verbs: ["get", "list", "watch", "patch"]
{{- end }}

{{/* Operator, in its own namespace only. */}}
{{- define "nsprobe.rules.operatorNamespace" -}}
- apiGroups: ["apps"]
  resources: ["daemonsets"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
{{- end }}
