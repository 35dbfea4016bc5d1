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

denied() { # denied WHAT RULE CMD...
  local what=$1 rule=$2 err rc
  shift 2
  set +e
  err=$("$@" 2>&1)
  rc=$?
  set -e
  [ $rc != 0 ] || fail "$what: allowed"
  grep -qF "(rule $rule)" <<<"$err" || fail "$what: the error does not name rule $rule: $err"
  # the shim answers PERMISSION_DENIED with the agent's message; containerd
  # 1.6's errdefs have no class for that code, so ctr shows it as "unknown"
  grep -qF ": policy: " <<<"$err" || fail "$what: the agent's message did not reach ctr: $err"
  echo "ok: $what refused: $(grep -F "(rule $rule)" <<<"$err" | head -1 | cut -c1-300)"
}
denied "exec of a shell" exec c task exec --exec-id sh1 p1 sh -c id
denied "pausing the pod (not in the policy)" default c task pause p1
wait_for 10 grep -q 'denied: policy: ExecProcess p1/sh1: command .* is not an allowed exec (rule exec)' \
  "$T/c/containerd.log" || fail "the guest did not log the refusal"
c task kill -s KILL p1; sleep 0.5; c task rm -f p1 >/dev/null 2>&1 || true; c c rm p1
echo "PASS: policy refusals reach containerd unchanged"
