#!/usr/bin/env bash
# An exited process whose stdout some other writer keeps open (as a child
# that outlives it does): the shim reports the exit after a bounded wait for
# the output (the agent's drain bound, then SHIM_DRAIN_TIMEOUT_MS), says so
# in its log with the container id and how long it waited, and containerd
# publishes the task's exit with its code (what `ctr run` and the CRI wait
# on). The writer here is a host process holding the container's stdout
# pipe (/proc/PID/fd/1), so no kill inside the container or its cgroup can
# close it: only the shim's bound ends the wait.
. "$(dirname "$0")/lib.sh"
start_containerd

timeout 90 ctr events >"$T/ev" 2>&1 &
evpid=$!
sleep 0.3
c run -d --log-uri "file://$T/t1.out" "${RT[@]}" $IMG t1 sh -c 'echo before; sleep 3; exit 3'
pid=$(ctr task ls | awk '$1 == "t1" {print $2}')
[ -n "$pid" ] && [ -e "/proc/$pid/fd/1" ] || fail "no pid for t1 ($(ctr task ls))"
sleep 1000 9>"/proc/$pid/fd/1" &
holder=$!
# lib_cleanup exits with the status it finds in $?: hand it the test's own
trap 'rc=$?; kill $holder $evpid 2>/dev/null; (exit $rc); lib_cleanup' EXIT
log "t1 (pid $pid) runs; host process $holder holds its stdout open"
t0=$(date +%s%N)
exit_event() { grep -q '/tasks/exit {"container_id":"t1","id":"t1",.*"exit_status":3' "$T/ev"; }
wait_for 40 exit_event || fail "no /tasks/exit with exit_status 3 for t1 after 40 s: $(grep '"t1"' "$T/ev")"
ms=$((($(date +%s%N) - t0) / 1000000))
log "containerd published t1's exit (status 3) after $ms ms"
# the process exits ~3 s after start; agent bound 3 s, shim bound 2 s: well under 15 s
[ $ms -lt 15000 ] || fail "the exit took $ms ms to reach containerd"
wait_for 5 grep -q 'container t1: process init exited but its output is still open after 2000 ms' \
  "$T/c/containerd.log" || fail "the shim did not log the bounded wait"
grep -q '^before$' "$T/t1.out" || fail "output before the exit lost: '$(cat "$T/t1.out")'"
kill $holder
c task rm t1 >/dev/null
c c rm t1
wait_for 10 assert_no_leftovers quiet >/dev/null 2>&1 || assert_no_leftovers "after rm"
echo PASS
