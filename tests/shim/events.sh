#!/usr/bin/env bash
# Events reach containerd in order: create, start, exit, delete; exec-added,
# exec-started and the exec's exit. (TaskOOM is forwarded from the agent's
# GetOOMEvent; not asserted here: the host agent misses fast OOM kills.)
. "$(dirname "$0")/lib.sh"
start_containerd

timeout 60 ctr events >"$T/ev" 2>&1 &
evpid=$!
sleep 0.3
c run --rm "${RT[@]}" $IMG t1 echo hi >/dev/null
c run -d "${RT[@]}" $IMG t2 sleep 100
c task exec --exec-id e1 t2 true
c task kill -s KILL t2
wait_for 10 bash -c "[ \"\$(ctr task ls | awk '\$1 == \"t2\" {print \$3}')\" = STOPPED ]" || fail "t2 did not stop"
c task rm t2 >/dev/null 2>&1 || true
c c rm t2
wait_for 5 grep -q '/tasks/delete.*"t2"' "$T/ev" || true
kill $evpid 2>/dev/null || true
wait $evpid 2>/dev/null || true

got=$(grep -o '/tasks/[a-z-]* {"container_id":"t[0-9]"\(,"id":"[a-z0-9]*"\|,"exec_id":"[a-z0-9]*"\)\?' "$T/ev" |
      sed 's/ {"container_id":"/ /; s/"$//; s/","id":"/ id=/; s/","exec_id":"/ exec=/' | tr '\n' ';')
want='/tasks/create t1;/tasks/start t1;/tasks/exit t1 id=t1;/tasks/delete t1;'
want+='/tasks/create t2;/tasks/start t2;/tasks/exec-added t2 exec=e1;/tasks/exec-started t2 exec=e1;'
want+='/tasks/exit t2 id=e1;/tasks/exit t2 id=t2;/tasks/delete t2;'
[ "$got" = "$want" ] || fail "events out of order or missing:
 got:  $got
 want: $want"
wait_for 10 assert_no_leftovers "end" >/dev/null 2>&1 || assert_no_leftovers "end"
echo PASS
