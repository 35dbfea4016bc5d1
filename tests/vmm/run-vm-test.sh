#!/usr/bin/env bash
# Wrapper of the real-VM tests: libvirtd up (shared, see libvirtd.sh), the
# test guest (guest-kernel.sh, cached in the build tree), then the test.
#   run-vm-test.sh HELPER CACHE_DIR TEST_BINARY ARGS...
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
HELPER=$1 CACHE=$2
shift 2
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (libvirtd qemu:///system)"; exit 77; }
command -v qemu-system-x86_64 >/dev/null || { echo "SKIP: qemu-system-x86_64 missing"; exit 77; }
out=$("$HERE/libvirtd.sh" start 2>&1); rc=$?
echo "$out"
[ $rc = 77 ] && exit 77
[ $rc = 0 ] || { echo "FAIL: libvirtd did not start"; exit 1; }
paths=$("$HERE/guest-kernel.sh" "$CACHE"); rc=$?
[ $rc = 77 ] && { echo "SKIP: no test guest kernel"; exit 77; }
[ $rc = 0 ] || { echo "FAIL: building the test guest failed"; exit 1; }
read -r KERNEL INITRD <<<"$paths"
COFFER_TEST_KERNEL=$KERNEL COFFER_TEST_INITRD=$INITRD COFFER_VMM_HELPER=$HELPER exec "$@"
