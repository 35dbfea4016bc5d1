#!/usr/bin/env bash
# Events reach containerd in order: create, start, exit, delete; exec-added,
# exec-started and the exec's exit; an OOM kill (of an init, of an exec)
# gives exactly one /tasks/oom, before that process's /tasks/exit.
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
hog='x=0123456789abcdef; while :; do x=$x$x; done'
c run -d --memory-limit 33554432 "${RT[@]}" $IMG t3 sh -c "$hog"
wait_for 20 bash -c "[ \"\$(ctr task ls | awk '\$1 == \"t3\" {print \$3}')\" = STOPPED ]" || fail "t3 was not OOM-killed"
c task rm t3 >/dev/null
c c rm t3
c run -d --memory-limit 33554432 "${RT[@]}" $IMG t4 sleep 100
st=0; c task exec --exec-id hog t4 sh -c "$hog" || st=$?
[ $st = 137 ] || fail "OOM-killed exec exited $st, not 137"
c task kill -s KILL t4
wait_for 10 bash -c "[ \"\$(ctr task ls | awk '\$1 == \"t4\" {print \$3}')\" = STOPPED ]" || fail "t4 did not stop"
c task rm t4 >/dev/null
c c rm t4
wait_for 5 grep -q '/tasks/delete.*"t4"' "$T/ev" || true
kill $evpid 2>/dev/null || true
wait $evpid 2>/dev/null || true

got=$(grep -o '/tasks/[a-z-]* {"container_id":"t[0-9]"\(,"id":"[a-z0-9]*"\|,"exec_id":"[a-z0-9]*"\)\?' "$T/ev" |
      sed 's/ {"container_id":"/ /; s/"$//; s/","id":"/ id=/; s/","exec_id":"/ exec=/' | tr '\n' ';')
want='/tasks/create t1;/tasks/start t1;/tasks/exit t1 id=t1;/tasks/delete t1;'
want+='/tasks/create t2;/tasks/start t2;/tasks/exec-added t2 exec=e1;/tasks/exec-started t2 exec=e1;'
want+='/tasks/exit t2 id=e1;/tasks/exit t2 id=t2;/tasks/delete t2;'
want+='/tasks/create t3;/tasks/start t3;/tasks/oom t3;/tasks/exit t3 id=t3;/tasks/delete t3;'
want+='/tasks/create t4;/tasks/start t4;/tasks/exec-added t4 exec=hog;/tasks/exec-started t4 exec=hog;'
want+='/tasks/oom t4;/tasks/exit t4 id=hog;/tasks/exit t4 id=t4;/tasks/delete t4;'
[ "$got" = "$want" ] || fail "events out of order or missing:
 got:  $got
 want: $want"
wait_for 10 assert_no_leftovers "end" >/dev/null 2>&1 || assert_no_leftovers "end"
echo PASS
