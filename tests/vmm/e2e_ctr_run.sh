#!/usr/bin/env bash
# ctr run through coffer with the libvirt backend: the container runs in the
# pod's VM (uname -r is the guest kernel's release, not the host's); output,
# stdin and the exit code come back; a tty works; --rm leaves no domain,
# process, file or mount behind.
#   e2e_ctr_run.sh SRC BUILD [virtiofs|block]   how the rootfs reaches the
#   guest: virtiofs share (plain default) or an erofs image in a block slot
#   (the TEE path), which the agent mounts read-only under a writable overlay
ROOTFS_MODE=${3:-virtiofs}
export COFFER_VMM_ROOTFS=$ROOTFS_MODE  # containerd → shim → backend
. "$(dirname "$0")/e2e_lib.sh"

log "ctr run: uname -r, stdin, exit code 3"
t0=$(date +%s%N)
rc=0
out=$(printf 'hello-from-stdin\n' | c run --rm "${RT[@]}" $IMG t1 sh -c 'uname -r; cat; echo written >/tmp/w && cat /tmp/w; echo "root: $(grep -E " / " /proc/mounts | tail -1)"; exit 3') || rc=$?
t1=$(date +%s%N)
echo "$out"
echo "ctr run took $(( (t1 - t0) / 1000000 )) ms"
[ "$(echo "$out" | sed -n 1p)" = "$GUEST_RELEASE" ] || fail "uname -r printed '$(echo "$out" | sed -n 1p)', not the guest's $GUEST_RELEASE"
[ "$GUEST_RELEASE" != "$(uname -r)" ] || fail "guest and host kernels have the same release: the test proves nothing"
echo "$out" | grep -qx hello-from-stdin || fail "stdin did not reach the container"
[ $rc = 3 ] || fail "exit code $rc, want 3"
echo "$out" | grep -qx written || fail "the container's rootfs is not writable ($ROOTFS_MODE)"
case $ROOTFS_MODE in  # the rootfs came the intended way
  virtiofs) echo "$out" | grep -q '^root: .* virtiofs ' || fail "container root is not on virtiofs" ;;
  block) echo "$out" | grep -q '^root: overlay .*lowerdir=[^,]*rootfs.lower' || fail "container root is not the erofs+overlay" ;;
esac

if [ "$ROOTFS_MODE" = virtiofs ]; then
  log "ctr run -t: a terminal in the VM, with the window size (ResizePty)"
  out=$( (timeout 90 script -qec "stty cols 101 rows 31; ctr run --rm -t ${RT[*]} $IMG t2 sh -c 'tty; sleep 0.3; stty size </dev/tty'" /dev/null || true) | tr -d '\r\0')
  echo "$out"
  echo "$out" | grep -q '^31 101$' || fail "window size not 31 101: '$out'"
  echo "$out" | grep -q '/dev/pts/' || fail "no pty in the container: '$out'"
fi

log "nothing left after --rm"
wait_for 20 assert_no_leftovers quiet >/dev/null 2>&1 || assert_no_leftovers "after ctr run --rm"
echo PASS
