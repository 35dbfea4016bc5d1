#!/usr/bin/env bash
# A create that never completes for containerd leaves nothing: the agent
# (the process backend's stand-in for a booting VM) is slowed by a wrapper,
# so containerd's create deadline (ctr --timeout) expires while the pod is
# still starting; then, in a second pod, the shim is killed (SIGKILL) in the
# middle of its create. Each time: no shim, agent (or wrapper), state dir,
# socket or mount of the pod is left once containerd has cleaned up.
. "$(dirname "$0")/lib.sh"

SLOW=$T/slow-agent
cat >"$SLOW" <<EOS
#!/bin/sh
# a pod that takes long to boot; says who started it (the shim)
echo \$PPID >"$T/agent-parent"
sleep 6
exec "$AGENT_BIN" "\$@"
EOS
chmod 755 "$SLOW"
sed -i "s|\"agent_path\": \"$AGENT_BIN\"|\"agent_path\": \"$SLOW\"|" "$CONFIG"
grep -q "$SLOW" "$CONFIG" || fail "could not point the config at the slow agent"
start_containerd

# the sockets our shims said they serve on (containerd's socket dir is shared)
socks() {
  sed -n 's/.*shim daemon for pod [^ ]* serving on \([^ ]*\) .*/\1/p' "$T/c/containerd.log" |
    while read -r s; do [ ! -e "$s" ] || echo "$s"; done
}
nothing_left() {
  assert_no_leftovers "$1"
  [ -z "$(socks)" ] || fail "$1: shim socket(s) left: $(socks)"
}

log "containerd's create deadline expires while the pod boots"
ID=ct1-$$
t0=$SECONDS
if ctr --timeout 2s run -d "${RT[@]}" $IMG $ID sleep 7772 >"$T/run1.out" 2>&1; then
  fail "create succeeded within 2 s although the agent sleeps 6 s first"
fi
grep -qiE "deadline|context" "$T/run1.out" || fail "ctr failed for another reason: $(cat "$T/run1.out")"
[ -n "$(shim_pids)$(agent_pids)" ] || log "(the shim was already gone when ctr returned)"
c task rm -f $ID >/dev/null 2>&1 || true
c c rm $ID >/dev/null 2>&1 || true
# the agent would answer at ~6 s: wait past that, so a task created late shows up
wait_for 20 nothing_left "after the create timed out" >/dev/null 2>&1 || nothing_left "after the create timed out"
sleep $((t0 + 8 - SECONDS > 0 ? t0 + 8 - SECONDS : 0))
nothing_left "after the agent would have answered"
[ -z "$(c task ls | awk -v id=$ID '$1 == id')" ] || fail "task $ID still listed: $(c task ls)"

log "the shim is killed in the middle of a create"
ID=ct2-$$
rm -f "$T/agent-parent"
ctr --timeout 30s run -d "${RT[@]}" $IMG $ID sleep 7773 >"$T/run2.out" 2>&1 &
runpid=$!
# the shim has started the pod's agent, which sleeps before it listens
started() { [ -s "$T/agent-parent" ]; }
wait_for 10 started || fail "the shim never started the pod's agent"
shim=$(cat "$T/agent-parent")
[ "$(readlink /proc/$shim/exe)" = "$SHIM_BIN" ] || fail "the agent's parent $shim is not the shim"
kill -KILL $shim
wait $runpid && fail "create succeeded although its shim was killed"
c task rm -f $ID >/dev/null 2>&1 || true
c c rm $ID >/dev/null 2>&1 || true
wait_for 20 nothing_left "after the shim was killed mid-create" >/dev/null 2>&1 ||
  nothing_left "after the shim was killed mid-create"
sleep 7
nothing_left "after the agent would have answered"
echo PASS
