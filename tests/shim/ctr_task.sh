#!/usr/bin/env bash
# A running task through ctr: exec (output, exit code, stdin), ps, metrics,
# pause/resume, kill (one process and --all), delete; errors containerd
# maps through errdefs; and a bad config rejected at start naming the key.
. "$(dirname "$0")/lib.sh"
start_containerd

status_of() { ctr task ls | awk -v id="$1" '$1 == id {print $3}'; }

log "detached task"
c run -d "${RT[@]}" $IMG t1 sh -c 'trap "exit 0" TERM; while :; do sleep 0.1; done'
[ "$(status_of t1)" = RUNNING ] || fail "t1 not RUNNING: $(ctr task ls)"

log "exec: output and exit code"
set +e
out=$(c task exec --exec-id e1 t1 sh -c 'echo from-exec; exit 4')
rc=$?
set -e
[ "$out" = from-exec ] || fail "exec output '$out'"
[ $rc = 4 ] || fail "exec exit code $rc"
log "exec: stdin"
out=$(echo piped | c task exec --exec-id e2 t1 cat)
[ "$out" = piped ] || fail "exec stdin '$out'"
log "exec: duplicate id and unknown task"
c task exec --exec-id e3 t1 sleep 2 &
sleep 0.5
set +e
err=$(c task exec --exec-id e3 t1 true 2>&1); rc=$?
set -e
[ $rc != 0 ] && echo "$err" | grep -qi "already exists" || fail "duplicate exec id: '$err'"
wait

log "exec with a tty"
if command -v script >/dev/null; then
  out=$( (timeout 30 script -qec "ctr task exec -t --exec-id e4 t1 tty" /dev/null || true) | tr -d '\r\0')
  echo "$out" | grep -q '/dev/pts/' || fail "exec -t: no tty: '$out'"
fi

log "checkpoint is unimplemented"
set +e
err=$(c task checkpoint t1 2>&1); rc=$?
set -e
[ $rc != 0 ] && echo "$err" | grep -qi "not supported\|not implemented\|unimplemented" || fail "checkpoint: '$err'"

log "40 execs leave the shim's fds and memory as they were"
shim=$(shim_pids)
for i in 1 2 3 4 5; do c task exec --exec-id w$i t1 true; done
fds0=$(ls /proc/$shim/fd | wc -l)
rss0=$(awk '/^VmRSS:/ {print $2}' /proc/$shim/status)
for i in $(seq 1 40); do echo x | c task exec --exec-id x$i t1 cat >/dev/null; done
fds1=$(ls /proc/$shim/fd | wc -l)
rss1=$(awk '/^VmRSS:/ {print $2}' /proc/$shim/status)
echo "shim fds $fds0 -> $fds1, VmRSS $rss0 -> $rss1 kB"
[ "$fds1" -le "$fds0" ] || fail "shim fds grew: $fds0 -> $fds1"
# (ASan keeps freed memory in quarantine: RSS says nothing there)
asan=$( (grep -c 'libasan' /proc/$shim/maps || true; nm "$SHIM_BIN" 2>/dev/null | grep -c '__asan_init' || true) | awk '{s += $1} END {print s + 0}')
if [ "$asan" = 0 ]; then
  [ "$rss1" -le $((rss0 + 256)) ] || fail "shim RSS grew: $rss0 -> $rss1 kB"
fi

log "ps"
c task ps t1 | awk 'NR > 1 {print $1}' | grep -qE '^[0-9]+$' || fail "ps shows no pid: $(ctr task ps t1)"

log "metrics"
m=$(c task metrics t1)
echo "$m" | grep -q "pids.current" || fail "metrics: $m"
mem=$(echo "$m" | awk '$1 ~ /^memory.usage/ {print $2}')
[ "${mem:-0}" -gt 0 ] || fail "metrics: memory usage not positive: $m"

log "pause / resume"
c task pause t1
[ "$(status_of t1)" = PAUSED ] || fail "not PAUSED: $(ctr task ls)"
set +e
err=$(c task pause t1 2>&1); rc=$?
set -e
[ $rc != 0 ] && echo "$err" | grep -qi "precondition\|not running" || fail "pause twice: '$err'"
c task resume t1
[ "$(status_of t1)" = RUNNING ] || fail "not RUNNING after resume: $(ctr task ls)"

log "kill (TERM, handled) reports the exit"
c task kill t1
wait_for 10 bash -c "[ \"\$(ctr task ls | awk '\$1 == \"t1\" {print \$3}')\" = STOPPED ]" || fail "t1 did not stop: $(ctr task ls)"
set +e
err=$(c task kill t1 2>&1); rc=$?
set -e
[ $rc != 0 ] && echo "$err" | grep -qi "not found\|finished" || fail "kill of a stopped task: '$err'"
c task rm t1
c c rm t1

log "kill --all"
c run -d "${RT[@]}" $IMG t2 sh -c 'sleep 1000 & sleep 1000'
c task kill -a -s KILL t2
wait_for 10 bash -c "[ \"\$(ctr task ls | awk '\$1 == \"t2\" {print \$3}')\" = STOPPED ]" || fail "t2 did not stop: $(ctr task ls)"
c task rm t2
c c rm t2

log "unknown task ids: not found"
set +e
err=$(c task exec --exec-id x nosuch true 2>&1); rc=$?
set -e
[ $rc != 0 ] && echo "$err" | grep -qi "not found" || fail "unknown task: '$err'"

log "a bad config is a clear error at start, naming the file and the key"
bad=$T/bad.json
echo '{"backend": "process", "vcpus": "two"}' >"$bad"
set +e
err=$(c run --rm --runtime io.containerd.coffer.v2 --runtime-config-path "$bad" $IMG t3 true 2>&1); rc=$?
set -e
[ $rc != 0 ] || fail "bad config accepted"
echo "$err" | grep -q "$bad" && echo "$err" | grep -q '"vcpus"' || fail "error does not name file and key: '$err'"
c c rm t3 2>/dev/null || true

wait_for 10 assert_no_leftovers "end" >/dev/null 2>&1 || assert_no_leftovers "end"
echo PASS
