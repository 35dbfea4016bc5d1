#!/usr/bin/env bash
# coffer-policy against a real containerd (tests/harness, busybox and pause
# imported): deployment.yaml's policy, generated once through ctr and once
# from the content store directory (the same document), parses in the
# agent's parser; the pod, started the way kubelet starts it (kubelet.py)
# with the generated init-data, runs under the coffer runtime (process
# backend), its probe exec runs and a shell exec is refused with its rule;
# the CreateContainer spec containerd produces with the pod's volumes
# (taken from a runc run of the same pod: the process backend hands binds
# over as guest paths, which a VM gets shared) is allowed by `explain`, and
# a changed command, an extra env var or an extra capability is denied
# naming its rule. Usage: generate_run_explain.sh SRC BUILD
. "$(dirname "$0")/../shim/lib.sh"
POL=$BUILD/agent/policy/tool/coffer-policy
[ -x "$POL" ] || skip "coffer-policy not built"
[ -x /usr/bin/python3 ] || skip "no /usr/bin/python3 (grpc) for the CRI client"
command -v jq >/dev/null || skip "jq is not installed"
start_containerd
K=$T/kubelet
mkdir -p "$K"
gen() { # gen OUT [ARGS...]
  local out=$1; shift
  "$POL" generate "$SRC/tests/policy-tool/deployment.yaml" -o "$out" --namespace k8s.io \
    --containerd-address "$CONTAINERD_ADDRESS" --pause-image localhost/pause:latest \
    --containerd-root "$CONTAINERD_ROOT" --containerd-state "$CONTAINERD_STATE" --kubelet-root "$K" "$@"
}
log "generate through ctr, and from the content store directory"
gen "$T/g1" || fail "generate (ctr) failed"
gen "$T/g2" --image-config "$CONTAINERD_ROOT/io.containerd.content.v1.content/blobs/sha256" ||
  fail "generate (content dir) failed"
gen "$T/g3" --content-store || fail "generate (--content-store) failed"
cmp -s "$T/g1/policy.json" "$T/g2/policy.json" || fail "ctr and the content directory give different policies"
cmp -s "$T/g1/policy.json" "$T/g3/policy.json" || fail "ctr and --content-store give different policies"
set +e; out=$(gen "$T/g4" --content-store --containerd-root "$T/none" 2>&1); rc=$?; set -e
[ $rc = 2 ] && grep -qF "open $T/none/io.containerd.content.v1.content/blobs/sha256/" <<<"$out" ||
  fail "--content-store did not read the root's content store: rc $rc: $out"
digest=$(ctr -n k8s.io images ls | awk '$1 == "localhost/busybox:latest" {print $3}')
grep -qF "\"$digest\"" "$T/g1/policy.json" || fail "the image digest $digest is not pinned"
echo '{"rpc": "ReadStdout"}' >"$T/rs.json"
set +e; out=$("$POL" explain "$T/g1/policy.json" "$T/rs.json"); rc=$?; set -e
[ $rc = 1 ] && grep -qF "(rule rpcs.ReadStdout)" <<<"$out" || fail "ReadStdout: rc $rc, $out"
echo "ok: the policy parses in the agent's parser; $out"

log "the pod runs under its generated policy (coffer runtime, process backend)"
out=$(timeout 90 /usr/bin/python3 "$SRC/tests/policy-tool/kubelet.py" "$H" "$CRI_ADDRESS" "$T/g1/annotation" "$K" novol 2>&1) ||
  fail "kubelet.py: $out"
echo "$out"
grep -q '^started ' <<<"$out" || fail "the pod did not start under its generated policy"
grep -q '^exec cat /etc/hostname: exit 0$' <<<"$out" || fail "the probe exec did not run"
grep -q '^exec sh -c id refused: .*is not an allowed exec (rule containers\[1\]\.exec)' <<<"$out" ||
  fail "a shell exec was not refused with its rule"
grep -q "policy from init-data" "$T/c/containerd.log" || fail "the agent did not take the init-data policy"

log "a host that changes the command, adds an env var or a capability: the agent refuses, naming the rule"
for v in command:args env:env cap:capabilities; do
  out=$(timeout 90 /usr/bin/python3 "$SRC/tests/policy-tool/kubelet.py" "$H" "$CRI_ADDRESS" \
    "$T/g1/annotation" "$K" "${v%%:*}" 2>&1) || fail "kubelet.py ${v%%:*}: $out"
  grep -q "refused: .*(rule containers\[1\]\.process\.${v#*:})" <<<"$out" || fail "${v%%:*}: $out"
  echo "ok: ${v%%:*}: $(grep -o 'policy: .*' <<<"$out" | cut -c1-220)"
done

log "containerd's own spec for the pod, with its volumes (runc run), under explain"
out=$(HANDLER="" timeout 90 /usr/bin/python3 "$SRC/tests/policy-tool/kubelet.py" "$H" "$CRI_ADDRESS" \
  "$T/g1/annotation" "$K" 2>&1) || fail "kubelet.py (runc): $out"
ctr_id=$(awk '/^started/ {print $3}' <<<"$out")
spec=$CONTAINERD_STATE/io.containerd.runtime.v2.task/k8s.io/$ctr_id/config.json
[ -f "$spec" ] || fail "no bundle spec for $ctr_id"
/usr/bin/python3 - "$spec" "$T" <<'PY'
import json, sys
spec = json.load(open(sys.argv[1])); t = sys.argv[2]
shared = [m["destination"] for m in spec["mounts"]
          if m.get("type") == "bind" and ("/kubelet/" in m["source"])]
def write(name, s):
    json.dump({"container_id": "web", "spec": s, "shared": shared}, open("%s/%s.json" % (t, name), "w"))
write("req-ok", spec)
s = json.loads(json.dumps(spec)); s["process"]["args"] = ["sh", "-c", "nc -lp 4444"]; write("req-args", s)
s = json.loads(json.dumps(spec)); s["process"]["env"].append("LD_PRELOAD=/tmp/x.so"); write("req-env", s)
s = json.loads(json.dumps(spec))
for k in s["process"]["capabilities"]:
    s["process"]["capabilities"][k].append("CAP_SYS_ADMIN")
write("req-cap", s)
s = json.loads(json.dumps(spec))
s["mounts"].append({"destination": "/host", "type": "bind", "source": "/", "options": ["rbind", "rw"]})
write("req-bind", s)
PY
explain() { # explain REQ WANT_RC PATTERN
  local rc out
  set +e; out=$("$POL" explain "$T/g1/policy.json" "$T/$1.json"); rc=$?; set -e
  [ $rc = "$2" ] || fail "$1: exit $rc, want $2: $out"
  grep -qE "$3" <<<"$out" || fail "$1: '$out' lacks /$3/"
  echo "ok: $1: $out"
}
explain req-ok 0 '^allowed: CreateContainer by rule containers\[1\]$'
explain req-args 1 '\(rule containers\[1\]\.process\.args\)'
explain req-env 1 'LD_PRELOAD.*\(rule containers\[1\]\.process\.env\)'
explain req-cap 1 'CAP_SYS_ADMIN.*\(rule containers\[1\]\.process\.capabilities\)'
explain req-bind 1 '\(rule (guest-paths|containers\[1\]\.mounts)\)'
printf '{"exec": {"container_id": "web", "exec_id": "e1", "process": {"args": ["test", "-f", "/etc/web/greeting"], "cwd": "/tmp", "env": %s, "user": {"uid": 1000, "gid": 1000}, "noNewPrivileges": true, "capabilities": %s}}, "container": %s}\n' \
  "$(jq -c .process.env "$spec")" "$(jq -c .process.capabilities "$spec")" "$(cat "$T/req-ok.json")" >"$T/exec-ok.json"
jq '.exec.process.args = ["sh"]' "$T/exec-ok.json" >"$T/exec-sh.json"
explain exec-ok 0 '^allowed: ExecProcess by rule containers\[1\]$'
explain exec-sh 1 '\(rule containers\[1\]\.exec\)'
echo "PASS: coffer-policy's policy runs the pod and explain names the deciding rule"
