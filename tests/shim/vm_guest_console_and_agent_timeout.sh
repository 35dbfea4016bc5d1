#!/usr/bin/env bash
# With the libvirt backend (real libvirtd/QEMU, tests/vmm/e2e_lib.sh): the
# guest's console lines reach containerd's log through the shim
# (source=guest, the agent's own start-up line among them), the agent wait
# ends as soon as the agent answers, and an agent that does not answer in
# agent_timeout_ms, or a guest that dies while starting, fails the pod with
# an error quoting the guest console's last lines.
. "$1/tests/vmm/e2e_lib.sh"

log "a pod in a VM: the guest console in containerd's log"
out=$(c run --rm "${RT[@]}" $IMG gc1 echo hi)
[ "$out" = hi ] || fail "expected hi, got '$out'"
grep 'source=guest' "$T/c/containerd.log" | grep -q 'coffer-agent .* ready' ||
  fail "the agent's ready line (guest console) is not in containerd's log"
grep -q 'pod gc1: agent answered after' "$T/c/containerd.log" || fail "no agent-wait line"
n=$(grep -c 'source=guest' "$T/c/containerd.log")
log "$n guest console line(s) logged"

log "an agent that does not answer in time: the error names the wait and the console"
sed -i 's/"agent_timeout_ms": [0-9]*/"agent_timeout_ms": 100/' "$CONFIG"
set +e
err=$(c run --rm "${RT[@]}" $IMG gc2 echo hi 2>&1)
rc=$?
set -e
[ $rc != 0 ] || fail "the pod started although its agent had 100 ms"
echo "$err" | grep -q 'did not answer within 100 ms' || fail "unexpected error: $err"
echo "$err" | grep -q 'guest console .*/console.log ends: ' || fail "error does not quote the console: $err"
c c rm gc2 >/dev/null 2>&1 || true

log "a guest that dies while starting: the error quotes its console (the panic)"
sed -i 's/"agent_timeout_ms": [0-9]*/"agent_timeout_ms": 45000, "kernel_params": "rdinit=\/no-such-init"/' "$CONFIG"
set +e
err=$(c run --rm "${RT[@]}" $IMG gc3 echo hi 2>&1)
rc=$?
set -e
[ $rc != 0 ] || fail "the pod started without an init"
# the panic's last lines: its backtrace, kernel timestamps ("[    1.47] ...")
echo "$err" | grep -Eq 'guest console .*/console.log ends: .*\[ *[0-9]+\.[0-9]+\] ' ||
  fail "error does not quote the guest's panic: $err"
c c rm gc3 >/dev/null 2>&1 || true
wait_for 30 assert_no_leftovers "after the failed pods" || assert_no_leftovers "after the failed pods"
echo PASS
