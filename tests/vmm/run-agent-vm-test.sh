#!/usr/bin/env bash
# Like run-vm-test.sh, with the real guest image: guest/build.sh with
# coffer-agent as /init (cached by build.sh itself).
#   run-agent-vm-test.sh HELPER AGENT AGENT_CTL OUTDIR TEST_BINARY ARGS...
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
HELPER=$1 AGENT=$2 CTL=$3 OUT=$4
shift 4
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (libvirtd qemu:///system)"; exit 77; }
[ -x "$SRC/guest/build.sh" ] || { echo "SKIP: guest/build.sh missing"; exit 77; }
command -v qemu-system-x86_64 >/dev/null || { echo "SKIP: qemu-system-x86_64 missing"; exit 77; }
out=$("$HERE/libvirtd.sh" start 2>&1); rc=$?
echo "$out"
[ $rc = 77 ] && exit 77
[ $rc = 0 ] || { echo "FAIL: libvirtd did not start"; exit 1; }
# the package cache the build's other guest images share (downloads once)
"$SRC/guest/build.sh" "$OUT" --init "$AGENT" --cache "$(dirname "$OUT")/guest-kernel-cache" >/dev/null; rc=$?
[ $rc = 77 ] && { echo "SKIP: no guest kernel package"; exit 77; }
[ $rc = 0 ] || { echo "FAIL: guest/build.sh failed ($rc)"; exit 1; }
COFFER_TEST_KERNEL=$OUT/vmlinux COFFER_TEST_INITRD=$OUT/initramfs.img COFFER_VMM_HELPER=$HELPER \
  COFFER_TEST_AGENT_CTL=$CTL exec "$@"
