#!/usr/bin/env bash
# The accelerator choice: probed by really starting QEMU with KVM, the
# verdict (kvm|tcg, with why) cached, and the cache honoured next time.
#   accel_test.sh HELPER
set -uo pipefail
H=$1
command -v qemu-system-x86_64 >/dev/null || { echo "SKIP: qemu-system-x86_64 missing"; exit 77; }
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
export COFFER_VMM_ACCEL_CACHE=$d/accel
first=$("$H" accel) || { echo "FAIL: coffer-vmm accel failed"; exit 1; }
echo "first:  $first"
case $first in
  "kvm (probed: "*|"tcg (probed: "*) ;;
  *) echo "FAIL: first call did not probe: $first"; exit 1 ;;
esac
[ -s "$d/accel" ] || { echo "FAIL: verdict not cached in $d/accel"; exit 1; }
# what the probe said must match reality: can QEMU start with KVM at all?
if timeout 5 qemu-system-x86_64 -accel kvm -M microvm -cpu host -m 16 -nodefaults -display none -S \
     -qmp stdio </dev/null >/dev/null 2>&1 & sleep 1.5 && kill -0 $! 2>/dev/null; then
  kill $! 2>/dev/null; want=kvm
else
  want=tcg
fi
[ "${first%% *}" = "$want" ] || { echo "FAIL: probe chose ${first%% *}, QEMU says $want"; exit 1; }
second=$("$H" accel)
echo "second: $second"
[ "${second%% *}" = "${first%% *}" ] && [[ $second == *"cached in $d/accel"* ]] || { echo "FAIL: second call did not use the cache"; exit 1; }
echo "bogus" >"$d/accel"
third=$("$H" accel)
[[ $third == *"(probed: "* ]] || { echo "FAIL: a corrupt cache was trusted: $third"; exit 1; }
echo PASS
