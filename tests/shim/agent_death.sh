#!/usr/bin/env bash
# The pod's agent dies (kill -9): every task and exec of the pod gets its
# TaskExit, containerd sees them stopped, and they can be deleted cleanly.
. "$(dirname "$0")/lib.sh"
start_containerd

c run -d "${RT[@]}" $IMG t1 sleep 7772
c task exec -d --exec-id e1 t1 sleep 7773 || c task exec --exec-id e1 t1 sleep 7773 &
sleep 0.5
agent=$(agent_pids)
[ "$(echo $agent | wc -w)" = 1 ] || fail "expected one agent, got '$agent'"
timeout 20 ctr events >"$T/events" 2>&1 &
evpid=$!
sleep 0.3

log "kill -9 the agent"
kill -KILL $agent
wait_for 10 bash -c "[ \"\$(ctr task ls | awk '\$1 == \"t1\" {print \$3}')\" = STOPPED ]" || fail "t1 not STOPPED: $(ctr task ls)"
wait_for 5 bash -c "[ \$(grep -c /tasks/exit '$T/events') -ge 2 ]" || fail "expected a TaskExit for the task and the exec: $(cat "$T/events")"
kill $evpid 2>/dev/null || true
wait

log "the orphaned container processes are gone, the task deletes cleanly"
left() { for p in /proc/[0-9]*; do tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -qE '^sleep 777[23]' && echo "${p#/proc/}"; done; return 0; }
wait_for 10 bash -c "[ -z \"\$(for p in /proc/[0-9]*; do tr '\\\\0' ' ' 2>/dev/null <\$p/cmdline | grep -qE '^sleep 777[23]' && echo x; done)\" ]" || fail "container processes left: $(left)"
set +e
c task rm t1 2>"$T/rm.err"
set -e
c c rm t1
wait_for 10 assert_no_leftovers "end" >/dev/null 2>&1 || assert_no_leftovers "end"
echo PASS
