#!/usr/bin/env bash
# kill -9 of the shim daemon: containerd runs `delete`, which stops the
# pod's agent (and so its container), removes state, mounts and the socket.
. "$(dirname "$0")/lib.sh"
start_containerd

c run -d "${RT[@]}" $IMG t1 sleep 7771
shim=$(shim_pids)
[ "$(echo $shim | wc -w)" = 1 ] || fail "expected one shim, got '$shim'"
sock=$(cat "$CONTAINERD_STATE/io.containerd.runtime.v2.task/$CONTAINERD_NAMESPACE/t1/address")
sock=${sock#unix://}
[ -S "$sock" ] || fail "no shim socket at $sock"
ctr_pids() { for p in /proc/[0-9]*; do tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -q '^sleep 7771' && echo "${p#/proc/}"; done; return 0; }
[ -n "$(ctr_pids)" ] || fail "the container process is not running"

log "kill -9 the shim"
kill -KILL $shim
wait_for 15 bash -c "[ \"\$(ctr task ls | awk '\$1 == \"t1\" {print \$3}')\" != RUNNING ]" || fail "t1 still RUNNING: $(ctr task ls)"
ctr task rm t1 >/dev/null 2>&1 || true
c c rm t1

log "nothing left"
wait_for 10 bash -c "[ ! -e '$sock' ]" || fail "shim socket $sock left behind"
wait_for 10 bash -c "[ -z \"\$(for p in /proc/[0-9]*; do tr '\\\\0' ' ' 2>/dev/null <\$p/cmdline | grep -q '^sleep 7771' && echo x; done)\" ]" || fail "container process left: $(ctr_pids)"
wait_for 10 assert_no_leftovers "after delete" >/dev/null 2>&1 || assert_no_leftovers "after delete"

log "delete is safe to run twice"
(cd / && "$SHIM_BIN" -namespace "$CONTAINERD_NAMESPACE" -address "$CONTAINERD_ADDRESS" \
   -id t1 -bundle "$T/gone" delete >"$T/del.out") || fail "second delete failed"
[ -s "$T/del.out" ] || fail "delete printed no DeleteResponse"
echo PASS
