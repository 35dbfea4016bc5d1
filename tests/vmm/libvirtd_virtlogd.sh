#!/usr/bin/env bash
# libvirtd.sh start brings virtlogd back when libvirtd answers but virtlogd
# is gone (killed), or runs without its socket; otherwise every domain create
# fails with "Failed to connect socket to '/run/libvirt/virtlogd-sock'".
# Skipped while any domain runs (virtlogd carries running QEMUs' logs).
#   libvirtd_virtlogd.sh   (root)
set -uo pipefail
V=$(cd "$(dirname "$0")" && pwd)
URI=${COFFER_LIBVIRT_URI:-qemu:///system}
SOCK=/run/libvirt/virtlogd-sock
fail() { echo "FAIL: $*"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
out=$("$V/libvirtd.sh" start 2>&1) || { rc=$?; echo "$out"; [ $rc = 77 ] && exit 77; fail "libvirtd.sh start"; }
ok() { local p; p=$(cat /run/virtlogd.pid 2>/dev/null) && kill -0 "$p" 2>/dev/null &&
       [ "$(cat /proc/"$p"/comm)" = virtlogd ] && [ -S "$SOCK" ]; }
ok || fail "virtlogd not running after start"
idle() { [ -z "$(virsh -c "$URI" list --name 2>/dev/null | grep -v '^$')" ]; }

idle || { echo "SKIP: domains are running (virtlogd carries their logs)"; exit 77; }
old=$(cat /run/virtlogd.pid)
kill "$old"; for _ in $(seq 50); do kill -0 "$old" 2>/dev/null || break; sleep 0.1; done
"$V/libvirtd.sh" start >/dev/null || fail "start with virtlogd killed"
ok || fail "start did not bring virtlogd back after it was killed"
echo "ok: killed virtlogd $old, start brought back $(cat /run/virtlogd.pid)"

idle || { echo "SKIP: a domain started meanwhile"; exit 77; }
old=$(cat /run/virtlogd.pid)
rm -f "$SOCK"
"$V/libvirtd.sh" start >/dev/null || fail "start with virtlogd's socket removed"
ok || fail "start left virtlogd without its socket"
[ "$(cat /run/virtlogd.pid)" != "$old" ] || fail "virtlogd $old kept without a socket"
echo "PASS: virtlogd restored (killed; socket removed)"
