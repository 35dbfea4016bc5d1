#!/usr/bin/env bash
# containerd's Delete of an exec frees it in the agent (RemoveProcess): with
# the agent's cap on finished execs lowered to 4, 20 `ctr task exec` runs
# never make the agent prune one, and an exec id can be used again.
. "$(dirname "$0")/lib.sh"
export COFFER_AGENT_MAX_DONE_EXECS=4   # read by coffer-agent at start
start_containerd

c run -d "${RT[@]}" $IMG t1 sleep 100
for i in $(seq 1 20); do
  out=$(c task exec --exec-id "x$i" t1 sh -c "echo run$i; exit $((i % 3))") && st=0 || st=$?
  [ "$out" = "run$i" ] || fail "exec x$i printed \"$out\""
  [ $st = $((i % 3)) ] || fail "exec x$i exited $st, not $((i % 3))"
done
out=$(c task exec --exec-id x1 t1 echo again) || fail "exec id x1 could not be used again"
[ "$out" = again ] || fail "reused exec id printed \"$out\""
grep -q "forgetting finished exec" "$T/c/containerd.log" &&
  fail "the agent had to prune finished execs: the shim did not free them: $(grep -c "forgetting finished exec" "$T/c/containerd.log")"
c task kill -s KILL t1
wait_for 10 bash -c "[ \"\$(ctr task ls | awk '\$1 == \"t1\" {print \$3}')\" = STOPPED ]" || fail "t1 did not stop"
c task rm t1 >/dev/null
c c rm t1
wait_for 10 assert_no_leftovers "end" >/dev/null 2>&1 || assert_no_leftovers "end"
echo PASS
