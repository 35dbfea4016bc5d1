#!/usr/bin/env bash
# `ctr run --runtime io.containerd.coffer.v2` with the process backend: file:// and binary:// logs,
# output, stderr, exit codes, stdin, a tty, a container that exits at once,
# a command that does not exist (clear error), pod sizing from annotations,
# and --rm leaving nothing (not even the namespace's state directory).
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

log "pod sizing: the sandbox's CRI annotations over the config's vcpus/memory_mib reach the backend"
a=io.kubernetes.cri.sandbox
out=$(c run --rm "${RT[@]}" --annotation $a-cpu-quota=250000 --annotation $a-cpu-period=100000 \
  --annotation $a-memory=134217728 $IMG t1 echo sized)
[ "$out" = sized ] || fail "sized pod: got '$out'"
# config vcpus 1 + ceil(2.5) = 4; memory_mib 256 + 128 = 384
wait_for 5 grep -q "pod t1: vcpus=4 memory_mib=384 " "$T/c/containerd.log" ||
  fail "computed size not in the shim's log: $(grep -o 'pod t1: vcpus=[^(]*' "$T/c/containerd.log")"
set +e
err=$(c run --rm "${RT[@]}" --annotation $a-memory=lots $IMG t1 echo x 2>&1)
rc=$?
set -e
[ $rc != 0 ] || fail "a malformed sizing annotation was accepted"
echo "$err" | grep -q "$a-memory" || fail "error does not name the annotation: '$err'"
c c rm t1 2>/dev/null || true

log "a container that exits immediately"
c run --rm "${RT[@]}" $IMG t1 true || fail "true failed"

log "stdin"
out=$(printf 'line1\nline2\n' | c run --rm "${RT[@]}" $IMG t1 sh -c 'cat; echo done')
[ "$out" = "$(printf 'line1\nline2\ndone')" ] || fail "stdin echo got '$out'"

log "large output is delivered in full (back-pressure, no loss)"
n=$(c run --rm "${RT[@]}" $IMG t1 sh -c 'seq 1 200000' | wc -l)
[ "$n" = 200000 ] || fail "expected 200000 lines, got $n"

log "tty, and the window size reaches it (ResizePty)"
if command -v script >/dev/null; then
  out=$( (timeout 30 script -qec "stty cols 101 rows 31; ctr run --rm -t ${RT[*]} $IMG t1 sh -c 'tty; sleep 0.3; stty size </dev/tty; exit 5'" /dev/null || true) | tr -d '\r\0')
  echo "$out" | grep -q '/dev/pts/' || fail "no tty in the container: '$out'"
  echo "$out" | grep -q '^31 101$' || fail "window size not 31 101: '$out'"
fi

log "a command that does not exist"
set +e
err=$(c run --rm "${RT[@]}" $IMG t1 /no/such/cmd 2>&1)
rc=$?
set -e
[ $rc != 0 ] || fail "a missing command succeeded"
echo "$err" | grep -q "no/such/cmd" || fail "error does not name the command: '$err'"
c c rm t1 2>/dev/null || true

log "file:// log URI"
c run -d --log-uri "file://$T/file.log" "${RT[@]}" $IMG t2 sh -c 'echo to-file; echo err-file >&2'
wait_for 10 bash -c "[ \"\$(ctr task ls | awk '\$1 == \"t2\" {print \$3}')\" = STOPPED ]" || fail "t2 did not finish"
grep -q to-file "$T/file.log" && grep -q err-file "$T/file.log" || fail "file log: $(cat "$T/file.log" 2>&1)"
c task rm t2 && c c rm t2

log "binary:// log driver (fds 3/4, ready on 5)"
cat >"$T/logger.sh" <<'EOS'
#!/bin/sh
exec 5>&-
cat <&3 >"$1.out" &
cat <&4 >"$1.err" &
wait
EOS
chmod +x "$T/logger.sh"
c run -d --log-uri "binary://$T/logger.sh?$T/bin" "${RT[@]}" $IMG t3 sh -c 'echo to-bin; echo err-bin >&2'
wait_for 10 bash -c "[ \"\$(ctr task ls | awk '\$1 == \"t3\" {print \$3}')\" = STOPPED ]" || fail "t3 did not finish"
wait_for 5 grep -q to-bin "$T/bin.out" || fail "binary log stdout: $(cat "$T/bin.out" 2>&1)"
wait_for 5 grep -q err-bin "$T/bin.err" || fail "binary log stderr: $(cat "$T/bin.err" 2>&1)"
c task rm t3 && c c rm t3

log "--rm leaves nothing behind"
wait_for 10 bash -c "[ -z \"\$(ctr task ls -q)\" ]" || fail "tasks left: $(ctr task ls)"
[ -z "$(ctr c ls -q)" ] || fail "containers left: $(ctr c ls -q)"
wait_for 10 assert_no_leftovers "after --rm" >/dev/null 2>&1 || assert_no_leftovers "after --rm"
echo PASS
