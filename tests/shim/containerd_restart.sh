#!/usr/bin/env bash
# containerd dies and comes back while tasks run: the shim keeps running,
# containerd reconnects through the bundle's address file, `ctr task ls`
# shows the tasks again (one exited meanwhile), exec and events work after.
. "$(dirname "$0")/lib.sh"
start_containerd

status_of() { ctr task ls | awk -v id="$1" '$1 == id {print $3}'; }

c run -d "${RT[@]}" $IMG t1 sh -c 'trap "exit 0" TERM; while :; do sleep 0.1; done'
c run -d "${RT[@]}" $IMG t2 sh -c 'sleep 1.5; exit 6'
before=$(shim_pids | sort | tr '\n' ' ')
[ "$(echo $before | wc -w)" = 2 ] || fail "expected 2 shims, got '$before'"

log "kill -9 containerd"
pid=$(cat "$T/c/containerd.pid")
kill -KILL "$pid"
while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
sleep 2.5 # t2 exits while containerd is away: its TaskExit waits in the queue

log "restart containerd"
PATH=$COFFER_SHIM_DIR:$PATH setsid containerd --config "$CONTAINERD_CONFIG" \
  >>"$CONTAINERD_LOG" 2>&1 </dev/null &
echo $! >"$T/c/containerd.pid"
wait_for 20 ctr version >/dev/null 2>&1 || fail "containerd did not come back"

after=$(shim_pids | sort | tr '\n' ' ')
[ "$before" = "$after" ] || fail "shims changed across the restart: '$before' -> '$after'"
wait_for 10 bash -c "[ \"\$(ctr task ls | awk '\$1 == \"t1\" {print \$3}')\" = RUNNING ]" || fail "t1 after restart: $(ctr task ls)"
[ "$(status_of t2)" = STOPPED ] || fail "t2 after restart: $(ctr task ls)"

log "exec and events after the restart"
out=$(c task exec --exec-id e1 t1 echo still-here)
[ "$out" = still-here ] || fail "exec after restart: '$out'"
timeout 20 ctr events >"$T/events" 2>&1 &
evpid=$!
sleep 0.3
c task kill t1
wait_for 10 bash -c "[ \"\$(ctr task ls | awk '\$1 == \"t1\" {print \$3}')\" = STOPPED ]" || fail "t1 did not stop: $(ctr task ls)"
wait_for 5 grep -q "/tasks/exit" "$T/events" || fail "no /tasks/exit event after the restart: $(cat "$T/events")"
kill $evpid 2>/dev/null || true

set +e
c task rm t2 2>"$T/rm.err"
set -e
grep -q "exit code 6" "$T/rm.err" || fail "t2's exit status lost: $(cat "$T/rm.err")"
c task rm t1
c c rm t1 t2
wait_for 10 assert_no_leftovers "end" >/dev/null 2>&1 || assert_no_leftovers "end"
echo PASS
