#!/usr/bin/env bash
# Resources in the pod's VM, enforced by the agent's built-in runtime on the
# guest's cgroup v2 (memory, cpu, pids controllers; this host's own cgroups
# are v1 hybrid, so only a guest shows them): a memory limit OOM-kills the
# container and containerd hears the OOM event; `ctr task metrics` reads the
# guest cgroup; pause freezes the container (an exec into it is refused) and
# resume thaws it. (UpdateContainerResources: e2e_cri_pod.sh; ctr 1.6 has no
# task update.)
. "$(dirname "$0")/e2e_lib.sh"

log "memory limit 16 MiB, the container allocates 48 MB: OOM kill, exit 137, /tasks/oom event"
c events >"$T/events" 2>&1 &
EVENTS=$!  # ends with the test's containerd
rc=0
out=$(c run --rm "${RT[@]}" --memory-limit 16777216 $IMG oom1 \
        sh -c 'echo start; x=$(head -c 48000000 /dev/zero | tr "\0" a); echo survived ${#x}') || rc=$?
echo "$out (exit $rc)"
echo "$out" | grep -qx start || fail "the container did not start: '$out'"
echo "$out" | grep -q survived && fail "48 MB fit in a 16 MiB memory limit: the limit is not enforced"
[ $rc = 137 ] || fail "exit status $rc, want 137 (SIGKILL by the OOM killer)"
wait_for 10 grep -q '/tasks/oom' "$T/events" || { cat "$T/events"; fail "no /tasks/oom event for oom1"; }
grep '/tasks/oom' "$T/events"
kill $EVENTS 2>/dev/null || true

log "metrics come from the guest's cgroup"
c run -d "${RT[@]}" --memory-limit 67108864 $IMG m1 sleep 1000 >/dev/null
metrics=$(c task metrics --format json m1)
echo "$metrics" | head -c 600; echo
limit=$(echo "$metrics" | python3 -c 'import json,sys; m=json.load(sys.stdin); print(m["memory"]["usage_limit"])')
usage=$(echo "$metrics" | python3 -c 'import json,sys; m=json.load(sys.stdin); print(m["memory"]["usage"])')
pids=$(echo "$metrics" | python3 -c 'import json,sys; m=json.load(sys.stdin); print(m["pids"]["current"])')
[ "$limit" = 67108864 ] || fail "memory limit in metrics is $limit, want 67108864"
[ "$usage" -gt 0 ] || fail "memory usage in metrics is $usage"
[ "$pids" -ge 1 ] || fail "pids.current in metrics is $pids"

log "pause freezes the container, resume thaws it"
c task pause m1
c task ls | grep -E '^m1 .*PAUSED' || fail "m1 is not PAUSED: $(c task ls)"
if c task exec --exec-id e1 m1 true 2>"$T/exec.err"; then fail "exec into a paused container succeeded"; fi
grep -q paused "$T/exec.err" || fail "exec into a paused container failed without saying why: $(cat "$T/exec.err")"
c task resume m1
c task ls | grep -E '^m1 .*RUNNING' || fail "m1 is not RUNNING after resume: $(c task ls)"
[ "$(c task exec --exec-id e2 m1 echo thawed)" = thawed ] || fail "exec after resume did not run"
c task kill -s KILL m1
wait_for 20 sh -c "ctr task ls | grep -qE '^m1 .*STOPPED'" || fail "m1 did not stop"
c task rm m1 >/dev/null
c c rm m1

log "nothing left"
wait_for 20 assert_no_leftovers quiet >/dev/null 2>&1 || assert_no_leftovers "after the resources test"
echo PASS
