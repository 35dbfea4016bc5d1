#!/usr/bin/env bash
# `ctr run --runtime io.containerd.coffer.v2` with the process backend:
# output, stderr, exit codes, stdin, a tty, a container that exits at once,
# a command that does not exist (clear error), and --rm leaving nothing.
. "$(dirname "$0")/lib.sh"
start_containerd

log "echo hello"
out=$(c run --rm "${RT[@]}" $IMG t1 echo hello)
[ "$out" = hello ] || fail "expected hello, got '$out'"

log "exit code 7 and stderr"
set +e
err=$(c run --rm "${RT[@]}" $IMG t1 sh -c 'echo to-stderr >&2; exit 7' 2>&1 >/dev/null)
rc=$?
set -e
[ $rc = 7 ] || fail "expected exit 7, got $rc"
echo "$err" | grep -q to-stderr || fail "stderr not delivered: '$err'"

log "a container that exits immediately"
c run --rm "${RT[@]}" $IMG t1 true || fail "true failed"

log "stdin"
out=$(printf 'line1\nline2\n' | c run --rm "${RT[@]}" $IMG t1 sh -c 'cat; echo done')
[ "$out" = "$(printf 'line1\nline2\ndone')" ] || fail "stdin echo got '$out'"

log "large output is delivered in full (back-pressure, no loss)"
n=$(c run --rm "${RT[@]}" $IMG t1 sh -c 'seq 1 200000' | wc -l)
[ "$n" = 200000 ] || fail "expected 200000 lines, got $n"

log "tty"
if command -v script >/dev/null; then
  out=$( (timeout 30 script -qec "ctr run --rm -t ${RT[*]} $IMG t1 sh -c 'tty; exit 5'" /dev/null || true) | tr -d '\r\0')
  echo "$out" | grep -q '/dev/pts/' || fail "no tty in the container: '$out'"
fi

log "a command that does not exist"
set +e
err=$(c run --rm "${RT[@]}" $IMG t1 /no/such/cmd 2>&1)
rc=$?
set -e
[ $rc != 0 ] || fail "a missing command succeeded"
echo "$err" | grep -q "no/such/cmd" || fail "error does not name the command: '$err'"
c c rm t1 2>/dev/null || true

log "--rm leaves nothing behind"
wait_for 10 bash -c "[ -z \"\$(ctr task ls -q)\" ]" || fail "tasks left: $(ctr task ls)"
[ -z "$(ctr c ls -q)" ] || fail "containers left: $(ctr c ls -q)"
wait_for 10 assert_no_leftovers "after --rm" >/dev/null 2>&1 || assert_no_leftovers "after --rm"
echo PASS
