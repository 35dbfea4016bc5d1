#!/usr/bin/env bash
# Test guest for the vmm tests until/unless guest/ provides one:
#   tests/vmm/guest-kernel.sh CACHE_DIR
# Ensures CACHE_DIR/vmlinux (the Debian cloud kernel, PVH-bootable, extracted
# from its LZ4 bzImage; the .deb is unpacked, never installed) and
# CACHE_DIR/initramfs.img (busybox + the virtio/virtiofs/erofs modules + the
# /init of tests/vmm/test-init.sh). Prints "KERNEL INITRD". Cached: rebuilt
# only when the inputs change. Exit 77 when a tool or the package is missing.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${1:?usage: guest-kernel.sh CACHE_DIR}
mkdir -p "$CACHE"; CACHE=$(cd "$CACHE" && pwd)
mkdir -p "$CACHE"
cd "$CACHE"
for t in apt-get dpkg lz4 cpio busybox gzip; do
  command -v $t >/dev/null || { echo "SKIP: $t missing" >&2; exit 77; }
done
BUSYBOX=/bin/busybox # busybox-static

exec 9>"$CACHE/.lock"
flock 9

if [ ! -s vmlinux ]; then
  if ! ls linux-image-*-cloud-amd64_*.deb >/dev/null 2>&1; then
    pkg=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-cloud-amd64$' | awk '{print $1}' | sort -V | tail -1)
    [ -n "$pkg" ] || { echo "SKIP: no linux-image-*-cloud-amd64 in apt" >&2; exit 77; }
    apt-get download "$pkg" >/dev/null 2>&1 || { echo "SKIP: apt-get download $pkg failed" >&2; exit 77; }
  fi
  rm -rf root && dpkg -x linux-image-*-cloud-amd64_*.deb root
  bz=$(ls root/boot/vmlinuz-*)
  # The bzImage's payload is an LZ4 legacy frame (magic 02 21 4c 18).
  off=$(grep -obUaP '\x02\x21\x4c\x18' "$bz" | head -1 | cut -d: -f1)
  [ -n "$off" ] || { echo "no LZ4 payload in $bz" >&2; exit 1; }
  tail -c +$((off + 1)) "$bz" | lz4 -dc 2>/dev/null >vmlinux.tmp || true
  [ -s vmlinux.tmp ] && head -c 4 vmlinux.tmp | grep -q ELF || { echo "vmlinux extraction failed" >&2; exit 1; }
  mv vmlinux.tmp vmlinux
fi

stamp=$(cat "$HERE/test-init.sh" "$HERE/guest-kernel.sh" | sha256sum | cut -c1-16)
if [ ! -s initramfs.img ] || [ "$(cat initramfs.stamp 2>/dev/null)" != "$stamp" ]; then
  rm -rf initrd && mkdir -p initrd/bin initrd/lib/modules initrd/dev initrd/proc initrd/sys initrd/mnt initrd/run
  cp "$BUSYBOX" initrd/bin/busybox
  for m in virtio_ring virtio virtio_mmio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci \
           virtio_console virtio_blk fuse virtiofs libcrc32c erofs; do
    f=$(find root/lib/modules -name "$m.ko" | head -1)
    [ -n "$f" ] && cp "$f" initrd/lib/modules/
  done
  cp "$HERE/test-init.sh" initrd/init
  chmod 755 initrd/init
  (cd initrd && find . | LC_ALL=C sort | cpio -o -H newc --reproducible 2>/dev/null | gzip -9n) >initramfs.img.tmp
  mv initramfs.img.tmp initramfs.img
  echo "$stamp" >initramfs.stamp
fi
echo "$CACHE/vmlinux $CACHE/initramfs.img"
