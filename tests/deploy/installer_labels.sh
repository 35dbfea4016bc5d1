#!/usr/bin/env bash
# The installer's Kubernetes API calls against a mock API server (HTTPS on
# 127.0.0.1 with a throw-away CA; a mock because no cluster runs here):
#   - containerd's version comes from the Node's containerRuntimeVersion;
#   - install claims the node (coffer.io/runtime=false) before it changes
#     anything, then labels it coffer.io/runtime=true plus one label per TEE
#     the kernel enables (here: SEV-SNP), by merge-patch with the SA token;
#   - `run` on SIGTERM leaves everything installed while its DaemonSet still
#     selects the node, and cleans up (labels removed, config restored) when
#     the DaemonSet is gone or no longer selects the node;
#   - a refused install removes its claim;
#   - rbac-cleanup waits for the installer pods to go, then deletes the RBAC.
. "$(dirname "$0")/lib.sh"
command -v openssl >/dev/null || skip "openssl missing"
command -v python3 >/dev/null || skip "python3 missing"
make_fake_artifacts
make_root ""
printf 'version = 2\n' >"$R/etc/containerd/config.toml"
cp "$R/etc/containerd/config.toml" "$T/orig.toml"
mkdir -p "$R/sys/module/kvm_amd/parameters" "$R/sys/module/kvm_intel/parameters"
echo Y >"$R/sys/module/kvm_amd/parameters/sev_snp"
echo N >"$R/sys/module/kvm_intel/parameters/tdx"

# a CA-less self-signed serving certificate for 127.0.0.1, and an SA dir
SA=$T/sa; mkdir -p "$SA"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=mock-apiserver \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$T/key.pem" -out "$SA/ca.crt" 2>/dev/null
echo "token-$RANDOM$RANDOM" >"$SA/token"
cat >"$T/state.json" <<EOF
{"token": "$(cat "$SA/token")",
 "node": {"name": "node-1", "labels": {"kubernetes.io/hostname": "node-1", "pool": "tee"},
          "runtime": "containerd://1.7.13"},
 "daemonset": {"namespace": "coffer-system", "name": "coffer-deploy", "nodeSelector": {"pool": "tee"}},
 "pods": 2,
 "rbac": ["clusterrolebindings/coffer-deploy", "clusterroles/coffer-deploy",
          "namespaces/coffer-system/serviceaccounts/coffer-deploy"]}
EOF
python3 "$D/mock_apiserver.py" "$SA/ca.crt" "$T/key.pem" "$T/state.json" "$T/port" "$T/requests.log" &
MOCK=$!
CLEANUPS+=("kill $MOCK" '[ -z "${RUN:-}" ] || kill -KILL $RUN 2>/dev/null')
for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.05; done
[ -s "$T/port" ] || fail "mock API server did not start"

export COFFER_HOST_ROOT=$R COFFER_ARTIFACTS=$A COFFER_RESTART_CMD=true COFFER_CONTAINERD_WAIT=0 \
  COFFER_LOCK_WAIT=5 COFFER_RETRY_SLEEP=0 COFFER_SA_DIR=$SA \
  KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT=$(cat "$T/port") \
  NODE_NAME=node-1 POD_NAMESPACE=coffer-system DAEMONSET_NAME=coffer-deploy \
  COFFER_READY_FILE=$T/ready
unset COFFER_NO_K8S COFFER_CONTAINERD_VERSION
labels() { python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["node"]["labels"], sort_keys=True))' "$T/state.json"; }
requests() { python3 -c '
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    print(r["method"], r["path"], r["body"])' "$T/requests.log"; }

log "install: version from the Node, claim, then labels"
deploy install 2>"$T/log" || { cat "$T/log" >&2; fail "install"; }
grep -q "plan: containerd 1.7.13" "$T/log" || { cat "$T/log" >&2; fail "version not taken from the Node"; }
requests | tee "$T/req1"
[ "$(sed -n 1p "$T/req1")" = "GET /api/v1/nodes/node-1 " ] || fail "first call is not the Node read"
[ "$(sed -n 2p "$T/req1")" = 'PATCH /api/v1/nodes/node-1 {"metadata":{"labels":{"coffer.io/runtime":"false"}}}' ] ||
  fail "second call is not the claim"
[ "$(sed -n 3p "$T/req1")" = 'PATCH /api/v1/nodes/node-1 {"metadata":{"labels":{"coffer.io/runtime":"true","coffer.io/sev-snp":"true","coffer.io/tdx":null}}}' ] ||
  fail "third call is not the final labels"
grep -q '"content_type": "application/merge-patch+json"' "$T/requests.log" || fail "not a merge patch"
[ "$(labels)" = '{"coffer.io/runtime": "true", "coffer.io/sev-snp": "true", "kubernetes.io/hostname": "node-1", "pool": "tee"}' ] ||
  fail "labels after install: $(labels)"
echo "labels after install: $(labels)"

log "a wrong token is refused by the server and the install fails cleanly"
cp "$SA/token" "$T/token.good"; echo wrong >"$SA/token"
deploy install 2>"$T/log" && fail "install with a bad token succeeded"
grep -q "HTTP 401" "$T/log" || { cat "$T/log" >&2; fail "no HTTP 401 in the error"; }
cp "$T/token.good" "$SA/token"

log "run: SIGTERM while the DaemonSet still selects the node -> stays installed"
: >"$T/requests.log"
(PATH=$TB exec sh "$DEPLOY" run 2>"$T/run.log") & RUN=$!
for _ in $(seq 200); do [ -f "$T/ready" ] && break; sleep 0.05; done
[ -f "$T/ready" ] || { cat "$T/run.log" >&2; fail "run never became ready"; }
kill -TERM $RUN; wait $RUN || fail "run exited $? on SIGTERM"
grep -q "still selects node node-1" "$T/run.log" || { cat "$T/run.log" >&2; fail "no selection check"; }
[ -f "$R/opt/coffer/bin/containerd-shim-coffer-v2" ] || fail "rolling update: coffer was removed"
[ -f "$T/ready" ] && fail "ready file left after SIGTERM"
echo "rolling update: left installed, labels $(labels)"

log "run: SIGTERM after the node lost the DaemonSet's selector -> cleanup"
python3 - "$T/state.json" <<'EOF'
import json, sys
st = json.load(open(sys.argv[1])); st["daemonset"]["nodeSelector"] = {"pool": "other"}
json.dump(st, open(sys.argv[1], "w"))
EOF
(PATH=$TB exec sh "$DEPLOY" run 2>"$T/run.log") & RUN=$!
for _ in $(seq 200); do [ -f "$T/ready" ] && break; sleep 0.05; done
kill -TERM $RUN; wait $RUN || { cat "$T/run.log" >&2; fail "run exited $? on SIGTERM"; }
grep -q "no longer selects node node-1" "$T/run.log" || { cat "$T/run.log" >&2; fail "no deselection seen"; }
cmp "$T/orig.toml" "$R/etc/containerd/config.toml" || fail "config not restored"
[ -z "$(ls -A "$R/opt/coffer")" ] || fail "/opt/coffer not emptied"
[ "$(labels)" = '{"kubernetes.io/hostname": "node-1", "pool": "tee"}' ] || fail "labels after cleanup: $(labels)"
echo "deselected: cleaned up, labels $(labels)"

log "run: SIGTERM after the DaemonSet was deleted (helm uninstall) -> cleanup"
python3 - "$T/state.json" <<'EOF'
import json, sys
st = json.load(open(sys.argv[1])); st["daemonset"] = None
json.dump(st, open(sys.argv[1], "w"))
EOF
(PATH=$TB exec sh "$DEPLOY" run 2>"$T/run.log") & RUN=$!
for _ in $(seq 200); do [ -f "$T/ready" ] && break; sleep 0.05; done
kill -TERM $RUN; wait $RUN || { cat "$T/run.log" >&2; fail "run exited $? on SIGTERM"; }
grep -q "DaemonSet coffer-deploy is gone" "$T/run.log" || { cat "$T/run.log" >&2; fail "deletion not seen"; }
cmp "$T/orig.toml" "$R/etc/containerd/config.toml" || fail "config not restored"
[ "$(labels)" = '{"kubernetes.io/hostname": "node-1", "pool": "tee"}' ] || fail "labels after cleanup: $(labels)"
echo "DaemonSet gone: cleaned up, labels $(labels)"

log "a refused install takes its claim back"
printf '[plugins.cri]\n' >"$R/etc/containerd/config.toml"
: >"$T/requests.log"
deploy install 2>"$T/log" && fail "unversioned config installed"
grep -q 'PATCH' "$T/requests.log" && { requests >&2; fail "a refused install patched the node"; }
printf 'version = 2\n' >"$R/etc/containerd/config.toml"
: >"$T/requests.log"
COFFER_RESTART_CMD=false deploy install 2>"$T/log" && fail "failed restart installed"
[ "$(requests | grep PATCH | tail -1)" = 'PATCH /api/v1/nodes/node-1 {"metadata":{"labels":{"coffer.io/runtime":null}}}' ] ||
  { requests >&2; fail "claim not taken back after a failed install"; }
[ "$(labels)" = '{"kubernetes.io/hostname": "node-1", "pool": "tee"}' ] || fail "labels after a failed install: $(labels)"
echo "failed install: claim removed, labels $(labels)"

log "rbac-cleanup waits for the installer pods, then deletes the kept RBAC"
: >"$T/requests.log"
INSTALLER_POD_SELECTOR=app.kubernetes.io/name=coffer-deploy,app.kubernetes.io/instance=coffer RBAC_NAME=coffer-deploy \
  COFFER_RBAC_POLL=0 deploy rbac-cleanup 2>"$T/log" || { cat "$T/log" >&2; fail "rbac-cleanup"; }
[ "$(requests | grep -c 'GET /api/v1/namespaces/coffer-system/pods?labelSelector=app.kubernetes.io%2Fname%3Dcoffer-deploy%2Capp.kubernetes.io%2Finstance%3Dcoffer')" = 3 ] ||
  { requests >&2; fail "did not poll the pods until none was left"; }
requests | grep DELETE
python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["rbac"] == [], "RBAC left"' "$T/state.json" ||
  fail "RBAC objects left"
echo PASS
