#!/usr/bin/env bash
# The agent policy through containerd, the shim and the agent (process
# backend): the pod's init-data carries a deny-default policy.json; the
# pod's command runs, its allowed probe runs, and what the policy refuses
# reaches ctr with the agent's message unchanged (request, field and rule
# named; the shim answers PERMISSION_DENIED, which containerd 1.6 reports as
# unknown).
# POLICY_VM=1 (vm_policy.sh): the same in a plain libvirt VM, where the
# agent is the guest's PID 1 and the policy comes through CreateSandbox.
if [ -n "${POLICY_VM:-}" ]; then
  . "$1/tests/vmm/e2e_lib.sh"
else
  . "$(dirname "$0")/lib.sh"
  start_containerd
fi
cat >"$T/policy.toml" <<'TOML'
version = "0.1.0"
algorithm = "sha256"

[data]
"policy.json" = '''
{"version": 1, "default": "deny",
 "rpcs": {"CreateSandbox": "allow", "DestroySandbox": "allow", "CreateContainer": "allow",
          "StartContainer": "allow", "RemoveContainer": "allow", "ExecProcess": "cond",
          "RemoveProcess": "allow", "SignalProcess": "allow", "WaitProcess": "allow",
          "ReadStdout": "allow", "ReadStderr": "allow", "CloseStdin": "allow",
          "WriteStdin": "deny", "GetOOMEvent": "allow", "GetGuestDetails": "allow"},
 "exec": [["echo", "probe-ok"]]}
'''
TOML
sed "s|}\$|, \"init_data\": \"$T/policy.toml\"}|" "$CONFIG" >"$T/policy.json"
R=(--runtime io.containerd.coffer.v2 --runtime-config-path "$T/policy.json")

log "the pod runs under its init-data policy"
c run -d "${R[@]}" $IMG p1 sleep 300
wait_for 60 grep -q "policy from init-data" "$T/c/containerd.log" || fail "the agent did not load the init-data policy"

log "an allowed exec (the probe) runs and its output comes back"
out=$(c task exec --exec-id probe p1 echo probe-ok)
[ "$out" = probe-ok ] || fail "probe output '$out'"

denied() { # denied WHAT RULE CMD... (RULE: an extended regex)
  local what=$1 rule=$2 err rc
  shift 2
  set +e
  err=$("$@" 2>&1)
  rc=$?
  set -e
  [ $rc != 0 ] || fail "$what: allowed"
  grep -qE "\(rule ($rule)\)" <<<"$err" || fail "$what: the error does not name rule $rule: $err"
  # the shim answers PERMISSION_DENIED with the agent's message; containerd
  # 1.6's errdefs have no class for that code, so ctr shows it as "unknown"
  grep -qF ": policy: " <<<"$err" || fail "$what: the agent's message did not reach ctr: $err"
  echo "ok: $what refused: $(grep -E "\(rule ($rule)\)" <<<"$err" | head -1 | cut -c1-300)"
}
denied "exec of a shell" exec c task exec --exec-id sh1 p1 sh -c id
denied "pausing the pod (not in the policy)" default c task pause p1
wait_for 10 grep -q 'denied: policy: ExecProcess p1/sh1: command .* is not an allowed exec (rule exec)' \
  "$T/c/containerd.log" || fail "the guest did not log the refusal"
c task kill -s KILL p1; sleep 0.5; c task rm -f p1 >/dev/null 2>&1 || true; c c rm p1

log "a policy generated from the pod's own spec (as coffer-policy would): the pod runs, changes are refused"
c run -d "${R[@]}" $IMG g0 sleep 300
bundle=$(find "$T/c" /run/containerd -path '*/g0/config.json' 2>/dev/null | head -1)
[ -n "$bundle" ] || fail "no bundle config.json for g0"
python3 - "$bundle" "$T/gen.toml" <<'PY'
import json, sys
spec = json.load(open(sys.argv[1]))
p = spec["process"]
caps = sorted({c for s in p.get("capabilities", {}).values() for c in s})
rule = {"process": {"args": p["args"], "env": p.get("env", []), "cwd": p.get("cwd", "/"),
                    "uid": p["user"]["uid"], "gid": p["user"]["gid"], "capabilities": caps},
        "mounts": [{k: v for k, v in (("destination", m["destination"]), ("type", m.get("type", "bind")),
                                      ("source", m.get("source", "")), ("options", m.get("options", [])))
                    if v is not None} for m in spec.get("mounts", [])],
        "exec": [["echo", "probe-ok"]]}
pol = {"version": 1, "default": "deny",
       "rpcs": {r: "allow" for r in ("CreateSandbox", "DestroySandbox", "StartContainer", "RemoveContainer",
                                     "RemoveProcess", "SignalProcess", "WaitProcess", "ReadStderr",
                                     "CloseStdin", "GetOOMEvent", "GetGuestDetails")},
       "containers": [rule]}
pol["rpcs"].update({"CreateContainer": "cond", "ExecProcess": "cond", "ReadStdout": "deny",
                    "WriteStdin": "deny"})
open(sys.argv[2], "w").write('version = "0.1.0"\nalgorithm = "sha256"\n\n[data]\n"policy.json" = \'\'\'\n'
                             + json.dumps(pol, indent=1) + "\n\'\'\'\n")
PY
c task kill -s KILL g0; sleep 0.5; c task rm -f g0 >/dev/null 2>&1 || true; c c rm g0
sed "s|}\$|, \"init_data\": \"$T/gen.toml\"}|" "$CONFIG" >"$T/gen.json"
G=(--runtime io.containerd.coffer.v2 --runtime-config-path "$T/gen.json")
c run -d "${G[@]}" $IMG g1 sleep 300
c task ls | grep -q "g1 .*RUNNING" || fail "the pod under its generated policy does not run"
wait_for 30 grep -q "reading stdout of g1/init: policy: ReadStdout: ReadStdout is not allowed (rule rpcs.ReadStdout)" \
  "$T/c/containerd.log" || fail "reading stdout was not refused naming its rule"
echo "ok: reading stdout refused: policy: ReadStdout: ReadStdout is not allowed (rule rpcs.ReadStdout)"
c task exec --exec-id probe2 g1 echo probe-ok >/dev/null || fail "the generated policy's probe was refused"
denied "exec of a shell (generated policy)" 'containers\[0\]\.exec' c task exec --exec-id sh2 g1 sh
run_denied() { # run_denied WHAT RULE CTR_RUN_ARGS...
  local what=$1 rule=$2 id=a$RANDOM
  shift 2
  denied "$what" "$rule" c run --rm "${G[@]}" "$@" $IMG $id sleep 300
  c c rm $id >/dev/null 2>&1 || true
}
denied "a changed command" 'containers\[0\]\.process\.args' c run --rm "${G[@]}" $IMG a1 sh -c 'nc -lp 4444'
c c rm a1 >/dev/null 2>&1 || true
run_denied "an extra env var" 'containers\[0\]\.process\.env' --env LD_PRELOAD=/tmp/x.so
run_denied "an extra capability" 'containers\[0\]\.process\.capabilities' --cap-add CAP_SYS_ADMIN
# process backend: the path goes over as is (a guest path to the agent); a VM
# gets it shared, and then no mount rule has it
run_denied "a bind of /" 'guest-paths|containers\[0\]\.mounts' --mount type=bind,src=/,dst=/host,options=rbind:ro
run_denied "a configfs mount" "kernel-filesystems" --mount type=configfs,src=configfs,dst=/sys/kernel/config
c task kill -s KILL g1; sleep 0.5; c task rm -f g1 >/dev/null 2>&1 || true; c c rm g1
echo "PASS: policy refusals reach containerd unchanged"
