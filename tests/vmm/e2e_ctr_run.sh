#!/usr/bin/env bash
# ctr run through coffer with the libvirt backend: the container runs in the
# pod's VM (uname -r is the guest kernel's release, not the host's); output,
# stdin and the exit code come back; --rm leaves no domain, process, file or
# mount behind.
. "$(dirname "$0")/e2e_lib.sh"

log "ctr run: uname -r, stdin, exit code 3"
t0=$(date +%s%N)
rc=0
out=$(printf 'hello-from-stdin\n' | c run --rm "${RT[@]}" $IMG t1 sh -c 'uname -r; cat; exit 3') || rc=$?
t1=$(date +%s%N)
echo "$out"
echo "ctr run took $(( (t1 - t0) / 1000000 )) ms"
[ "$(echo "$out" | sed -n 1p)" = "$GUEST_RELEASE" ] || fail "uname -r printed '$(echo "$out" | sed -n 1p)', not the guest's $GUEST_RELEASE"
[ "$GUEST_RELEASE" != "$(uname -r)" ] || fail "guest and host kernels have the same release: the test proves nothing"
echo "$out" | grep -qx hello-from-stdin || fail "stdin did not reach the container"
[ $rc = 3 ] || fail "exit code $rc, want 3"

log "nothing left after --rm"
wait_for 20 assert_no_leftovers quiet >/dev/null 2>&1 || assert_no_leftovers "after ctr run --rm"
echo PASS
