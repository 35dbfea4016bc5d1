#!/usr/bin/env bash
# Guest image tests (guest/build.sh), real QEMU under TCG.
#
#   guest_boot_test.sh boot OUTDIR
#     builds the guest image with a stand-in /init (guest-test-init.sh) into
#     OUTDIR (cached), boots it with qemu -M microvm as DESIGN.md §4 says, and
#     asserts that every module of /etc/coffer/modules loads in its order and
#     that "coffer-guest-ok <release of the guest kernel>" reaches the serial
#     console within BOOT_TIMEOUT seconds (default 60). Prints the boot time.
#   guest_boot_test.sh reproducible OUTDIR
#     builds the same inputs again into a fresh directory and asserts
#     identical bytes (vmlinux, initramfs.img); then asserts a rebuild in
#     OUTDIR is a cache hit that leaves the image untouched.
set -euo pipefail
HARNESS=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HARNESS/../.." && pwd)
MODE=${1:?usage: guest_boot_test.sh boot|reproducible OUTDIR}
OUT=${2:?usage: guest_boot_test.sh boot|reproducible OUTDIR}
BOOT_TIMEOUT=${BOOT_TIMEOUT:-60}

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || skip "needs root (the initramfs holds a /dev/console node)"
for b in cpio zstd lz4 objcopy apt-get dpkg-deb; do
  command -v $b >/dev/null || skip "$b missing (scripts/install-deps.sh)"
done

build() { # outdir [extra build.sh args]
  local rc=0 dir=$1; shift
  "$SRC/guest/build.sh" "$dir" --init "$HARNESS/guest-test-init.sh" "$@" || rc=$?
  [ $rc -eq 77 ] && skip "no guest kernel package (guest/build.sh exit 77)"
  [ $rc -eq 0 ] || fail "guest/build.sh $dir failed (exit $rc)"
}

boot() {
  command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 missing"
  local t0 t1
  t0=$(date +%s%N)
  build "$OUT"
  t1=$(date +%s%N)
  echo "guest image: built or reused in $(( (t1 - t0) / 1000000 )) ms"
  local release
  release=$(cat "$OUT/kernel-release")
  [ "$release" != "$(uname -r)" ] || echo "note: guest and host kernel releases are equal"

  # tmp and qpid stay global: the EXIT trap runs after this function returns.
  tmp=$(mktemp -d /tmp/coffer-guestboot.XXXXXX)
  qpid=""
  trap 'if [ -n "${qpid:-}" ]; then kill -KILL "$qpid" 2>/dev/null || true; fi; rm -rf "${tmp:-}"' EXIT
  local console=$tmp/console.log
  t0=$(date +%s%N)
  qemu-system-x86_64 -M microvm -accel tcg -cpu max -m 256 -smp 1 -no-reboot \
    -nodefaults -no-user-config -display none -serial "file:$console" \
    -kernel "$OUT/vmlinux" -initrd "$OUT/initramfs.img" \
    -append "console=ttyS0 quiet panic=-1 tsc_early_khz=2300000" &
  qpid=$!
  local marker="coffer-guest-ok $release" seen=""
  while :; do
    if grep -qF "$marker" "$console" 2>/dev/null; then
      seen=$(date +%s%N); break
    fi
    kill -0 "$qpid" 2>/dev/null || break
    [ $(( ($(date +%s%N) - t0) / 1000000000 )) -lt "$BOOT_TIMEOUT" ] || break
    sleep 0.02
  done
  # The guest powers off by itself after the marker; give it a moment.
  local i
  for i in $(seq 1 100); do kill -0 "$qpid" 2>/dev/null || break; sleep 0.05; done
  kill -KILL "$qpid" 2>/dev/null || true
  wait "$qpid" 2>/dev/null || true
  qpid=""
  if [ -z "$seen" ]; then
    echo "--- guest console:"; cat "$console"
    fail "no '$marker' on the serial console within ${BOOT_TIMEOUT}s"
  fi
  if grep -q coffer-guest-module-failed "$console"; then
    cat "$console"; fail "a module of /etc/coffer/modules failed to load"
  fi
  local want got
  want=$(wc -l < "$OUT/modules")
  got=$(sed -n 's/.*coffer-guest-modules-loaded \([0-9]*\).*/\1/p' "$console" | tr -d '\r')
  [ "$got" = "$want" ] || { cat "$console"; fail "guest loaded '$got' modules, expected $want"; }
  echo "ok: guest $release loaded $got modules and printed its marker $(( (seen - t0) / 1000000 )) ms after QEMU started"
  printf 'initramfs.img %d bytes, vmlinux %d bytes\n' "$(stat -c %s "$OUT/initramfs.img")" \
    "$(stat -c %s "$OUT/vmlinux")"
}

reproducible() {
  build "$OUT" >/dev/null
  local deb
  deb=$(ls "${COFFER_GUEST_CACHE:-$OUT/cache}"/linux-image-*-cloud-amd64_*.deb 2>/dev/null | sort -V | tail -1)
  [ -n "$deb" ] || skip "no cached kernel package in ${COFFER_GUEST_CACHE:-$OUT/cache}"
  other=$(mktemp -d /tmp/coffer-guestrepro.XXXXXX)
  trap 'rm -rf "${other:-}"' EXIT
  build "$other" --kernel-deb "$deb" >/dev/null
  local f a b
  for f in kernel-release vmlinux initramfs.img; do
    a=$(sha256sum < "$OUT/$f"); b=$(sha256sum < "$other/$f")
    [ "$a" = "$b" ] || fail "$f differs between two builds of the same inputs"
  done
  echo "ok: two builds of the same inputs are byte-identical (initramfs.img sha256 ${a%% *})"
  local before after
  before=$(stat -c %Y.%i "$OUT/initramfs.img")
  build "$OUT" >/dev/null 2>"$other/log"
  after=$(stat -c %Y.%i "$OUT/initramfs.img")
  grep -q 'up to date' "$other/log" || fail "an unchanged rebuild did not report a cache hit: $(cat "$other/log")"
  [ "$before" = "$after" ] || fail "an unchanged rebuild rewrote initramfs.img"
  echo "ok: rebuilding unchanged inputs is a cache hit"
}

case $MODE in
  boot) boot ;;
  reproducible) reproducible ;;
  *) fail "unknown mode $MODE" ;;
esac
