#!/usr/bin/env bash
# The shim under containerd 2.x (Debian sid's, extracted into the build tree
# by fetch_containerd2.sh; skipped when it cannot be had): start's reply and
# runtime options as 2.x sends them, output, stdin, exit codes, exec, and
# clean-up after --rm.
. "$(dirname "$0")/lib.sh"
BIN=$(timeout 120 bash "$(dirname "$0")/fetch_containerd2.sh" "$BUILD/containerd2" 2>/dev/null) ||
  skip "containerd 2.x not available (Debian sid unreachable?)"
"$BIN/containerd" --version | grep -q ' v\?2\.' || "$BIN/containerd" --version | grep -q '/v2 ' ||
  skip "not a containerd 2.x: $("$BIN/containerd" --version)"
mkdir -p "$T/c2"
cat >"$T/c2/config.toml" <<EOC
version = 3
root = "$T/c2/root"
state = "$T/c2/state"
[grpc]
  address = "$T/c2/c.sock"
[ttrpc]
  address = "$T/c2/c.sock.ttrpc"
[plugins."io.containerd.cri.v1.images".pinned_images]
  sandbox = "localhost/pause:latest"
[plugins."io.containerd.cri.v1.runtime"]
  restrict_oom_score_adj = true
EOC
PATH=$BUILD/shim:$PATH setsid "$BIN/containerd" --config "$T/c2/config.toml" \
  >"$T/c2/containerd.log" 2>&1 </dev/null &
c2pid=$!
c2_cleanup() {
  set +e
  kill -TERM $c2pid 2>/dev/null; sleep 0.3; kill -KILL $c2pid 2>/dev/null
  for p in $(our_pids); do kill -9 "$p" 2>/dev/null; done
  awk -v d="$T/c2/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l
  for f in "$T"/c2/state/io.containerd.runtime.v2.task/*/*/address; do
    [ -f "$f" ] && rm -f "$(sed 's|^unix://||' "$f")"
  done
  return 0
}
trap 'st=$?; c2_cleanup; (exit $st); lib_cleanup' EXIT
C2=("$BIN/ctr" --address "$T/c2/c.sock" -n coffer2)
wait_for 20 "${C2[@]}" version >/dev/null 2>&1 || fail "containerd 2 did not start: $(tail -5 "$T/c2/containerd.log")"
"${C2[@]}" images import "$BUILD/test-images/images.tar" >/dev/null 2>&1 ||
  { bash "$H/images.sh" "$BUILD/test-images" >/dev/null && "${C2[@]}" images import "$BUILD/test-images/images.tar" >/dev/null; }

log "ctr (2.x) run --rm echo"
out=$(timeout 30 "${C2[@]}" run --rm "${RT[@]}" $IMG t1 echo hello-2x)
[ "$out" = hello-2x ] || fail "got $out"
log "stdin and exit code"
set +e
out=$(echo in | timeout 30 "${C2[@]}" run --rm "${RT[@]}" $IMG t1 sh -c 'cat; exit 3'); rc=$?
set -e
[ "$out" = in ] && [ $rc = 3 ] || fail "stdin/exit: '$out' rc $rc"
log "detached task, exec, kill"
timeout 30 "${C2[@]}" run -d "${RT[@]}" $IMG t2 sleep 1000
out=$(timeout 30 "${C2[@]}" task exec --exec-id e1 t2 echo from-exec)
[ "$out" = from-exec ] || fail "exec: '$out'"
timeout 30 "${C2[@]}" task kill -s KILL t2
wait_for 10 bash -c "[ \"\$(${C2[*]} task ls | awk '\$1 == \"t2\" {print \$3}')\" = STOPPED ]" || fail "t2 did not stop"
timeout 30 "${C2[@]}" task rm t2 >/dev/null 2>&1 || true
timeout 30 "${C2[@]}" c rm t2
CONTAINERD_ADDRESS=$T/c2/c.sock CONTAINERD_STATE=$T/c2/state
wait_for 10 assert_no_leftovers "end" >/dev/null 2>&1 || assert_no_leftovers "end"
echo PASS
