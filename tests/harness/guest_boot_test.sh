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
#   guest_boot_test.sh verified OUTDIR
#     builds the plain image into OUTDIR, then asserts that its package list
#     (printed and in OUTDIR/packages) names each package with the version
#     and sha256 of apt's index, that its runc runs from the image alone
#     (chroot), that a cached .deb with one byte changed is refused naming
#     the package and both hashes, and that --kernel-deb refuses a changed
#     kernel package and one the index does not list.
#   guest_boot_test.sh tee OUTDIR
#     builds the tee profile (sev-snp, tdx) into OUTDIR and asserts the
#     initramfs holds no shell, no busybox, no runc and no shared library,
#     that its package list is the kernel alone, and that OUTDIR/vmlinuz is
#     the package's bzImage unchanged.
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
  local m
  for m in virtio_net bridge veth br_netfilter nf_tables nft_compat iptable_nat; do
    grep -qx "$m" "$OUT/modules" || fail "module $m is not in the image's list"
  done
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
  for f in kernel-release vmlinux vmlinuz initramfs.img packages; do
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

# The index's "version sha256" of a package, as apt-cache shows it.
index_id() { # package
  apt-cache show --no-all-versions "$1" | awk -F': ' '
    /^$/ { exit } $1 == "Version" { v = $2 } $1 == "SHA256" { s = $2 } END { print v, s }'
}

verified() {
  local log=$OUT.log pkg line
  build "$OUT" > "$log"
  cat "$log"
  # every package the image must hold, as the index names it, in the file and printed
  local kpkg
  kpkg=$(awk '!/^#/ && NR > 1 { print $1; exit }' "$OUT/packages")
  for pkg in "$kpkg" busybox-static runc libc6 libseccomp2; do
    line="$pkg $(index_id "$pkg")"
    grep -qxF "$line" "$OUT/packages" || fail "$OUT/packages lacks '$line'"
    grep -qxF "$line" "$log" || fail "the build did not print '$line'"
    local deb
    deb=$(ls "${COFFER_GUEST_CACHE:-$OUT/cache}/${pkg}"_*.deb | head -1)
    [ "$(sha256sum < "$deb" | cut -d' ' -f1)" = "${line##* }" ] || fail "$deb is not the index's"
  done
  local f
  for f in initramfs.img vmlinux vmlinuz; do
    grep -qxF "$f $(sha256sum < "$OUT/$f" | cut -d' ' -f1)" "$OUT/packages" ||
      fail "$OUT/packages lacks the sha256 of $f"
  done
  echo "ok: the package list names $(grep -vc '^#\|^[^ ]* [^ ]*$' "$OUT/packages") packages with the index's versions and sha256"

  tmp=$(mktemp -d /tmp/coffer-guestverify.XXXXXX)
  trap 'rm -rf "${tmp:-}"' EXIT
  mkdir "$tmp/root"
  zstd -qdc "$OUT/initramfs.img" | (cd "$tmp/root" && cpio -id --quiet 2>/dev/null)
  chroot "$tmp/root" /usr/sbin/runc --version | grep -q '^runc version' ||
    fail "the image's runc does not run from the image alone"
  echo "ok: runc runs in a chroot of the image (its libraries come with it)"

  # a cache whose runc package has one byte changed (the others linked)
  local cache=${COFFER_GUEST_CACHE:-$OUT/cache} bad=$tmp/cache want got rc=0
  mkdir "$bad"
  ln -s "$cache"/*.deb "$bad"/
  deb=$(ls "$cache"/runc_*.deb | head -1)
  rm "$bad/${deb##*/}"
  cp "$deb" "$bad/"
  printf '\x5a' | dd of="$bad/${deb##*/}" bs=1 seek=4096 conv=notrunc status=none
  want=$(index_id runc); want=${want##* }
  got=$(sha256sum < "$bad/${deb##*/}" | cut -d' ' -f1)
  [ "$want" != "$got" ] || fail "changing a byte did not change the hash"
  "$SRC/guest/build.sh" "$tmp/out" --init "$HARNESS/guest-test-init.sh" --cache "$bad" \
    > "$tmp/log" 2>&1 || rc=$?
  [ $rc -ne 0 ] || fail "a build used a tampered runc package"
  for s in "package runc" "$want" "$got"; do
    grep -qF "$s" "$tmp/log" || { cat "$tmp/log"; fail "the refusal does not say '$s'"; }
  done
  [ ! -e "$tmp/out/initramfs.img" ] || fail "a refused build left an image"
  echo "ok: a cached runc .deb with one byte changed is refused: $(tail -1 "$tmp/log")"

  # --kernel-deb: a changed copy of the real one, and a package the index lacks
  local kdeb
  kdeb=$(ls "$cache/${kpkg}"_*.deb | head -1)
  cp "$kdeb" "$tmp/kernel.deb"
  # in data.tar, past the control member: still a package, of another hash
  printf '\x5a' | dd of="$tmp/kernel.deb" bs=1 seek=$(( $(stat -c %s "$kdeb") - 4096 )) \
    conv=notrunc status=none
  rc=0
  "$SRC/guest/build.sh" "$tmp/out" --init "$HARNESS/guest-test-init.sh" --cache "$cache" \
    --kernel-deb "$tmp/kernel.deb" > "$tmp/log" 2>&1 || rc=$?
  [ $rc -ne 0 ] && grep -qF "the package index says $(index_id "$kpkg" | cut -d' ' -f2)" "$tmp/log" ||
    { cat "$tmp/log"; fail "--kernel-deb took a changed kernel package"; }
  echo "ok: --kernel-deb refuses a changed package: $(tail -1 "$tmp/log")"
  mkdir -p "$tmp/fake/DEBIAN" "$tmp/fake/boot"
  printf 'Package: linux-image-0.0.0-0-cloud-amd64\nVersion: 0.0-1\nArchitecture: amd64\nMaintainer: coffer tests <tests@coffer.invalid>\nDescription: not a kernel\n' \
    > "$tmp/fake/DEBIAN/control"
  dpkg-deb -Znone -b "$tmp/fake" "$tmp/fake.deb" >/dev/null
  rc=0
  "$SRC/guest/build.sh" "$tmp/out" --init "$HARNESS/guest-test-init.sh" --cache "$cache" \
    --kernel-deb "$tmp/fake.deb" > "$tmp/log" 2>&1 || rc=$?
  [ $rc -ne 0 ] && grep -qF "is not in apt's package index" "$tmp/log" ||
    { cat "$tmp/log"; fail "--kernel-deb took a package the index does not list"; }
  echo "ok: --kernel-deb refuses a package the index does not list: $(tail -1 "$tmp/log")"
}

tee_profile() {
  build "$OUT" --profile tee > "$OUT.log"
  cat "$OUT.log"
  local list bad
  list=$(zstd -qdc "$OUT/initramfs.img" | cpio -it --quiet)
  grep -qx init <<<"$list" || fail "the tee image has no /init"
  grep -qx etc/coffer/modules <<<"$list" || fail "the tee image has no /etc/coffer/modules"
  bad=$(grep -E '(^|/)(sh|ash|bash|busybox|runc)$|\.so(\.|$)' <<<"$list" || true)
  [ -z "$bad" ] || fail "the tee image holds a shell, busybox, runc or a library: $bad"
  [ "$(grep -vc '^#' "$OUT/packages")" -eq 5 ] && [ "$(grep -v '^#' "$OUT/packages" | grep -c '^[^ ]* [^ ]* [^ ]*$')" -eq 1 ] ||
    fail "the tee image's package list is not the kernel alone: $(cat "$OUT/packages")"
  grep -qxF "$(sed -n '2p' "$OUT/packages")" "$OUT.log" || fail "the build did not print its package list"
  echo "ok: the tee image ($(echo "$list" | wc -l) entries, $(stat -c %s "$OUT/initramfs.img") bytes) has no shell, busybox, runc or library"
  # vmlinuz: the package's bzImage, byte for byte
  local kpkg deb t
  kpkg=$(sed -n '2p' "$OUT/packages" | cut -d' ' -f1)
  deb=$(ls "${COFFER_GUEST_CACHE:-$OUT/cache}/${kpkg}"_*.deb | head -1)
  t=$(mktemp -d /tmp/coffer-guesttee.XXXXXX)
  dpkg -x "$deb" "$t"
  cmp -s "$t"/boot/vmlinuz-* "$OUT/vmlinuz" || { rm -rf "$t"; fail "OUTDIR/vmlinuz is not the package's bzImage"; }
  rm -rf "$t"
  [ "$(dd if="$OUT/vmlinuz" bs=1 skip=$((0x202)) count=4 status=none)" = HdrS ] || fail "vmlinuz is no bzImage"
  echo "ok: vmlinuz is the package's bzImage unchanged"
}

case $MODE in
  boot) boot ;;
  reproducible) reproducible ;;
  verified) verified ;;
  tee) tee_profile ;;
  *) fail "unknown mode $MODE" ;;
esac
