#!/bin/busybox sh
# /init of the vmm tests' guest: prove boot, the agent channel and the
# shared filesystem, then wait to be destroyed.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
echo "COFFER-TEST-GUEST-BOOTED"
for m in virtio_ring virtio virtio_mmio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci \
         virtio_console virtio_blk fuse virtiofs libcrc32c erofs; do
  [ -f /lib/modules/$m.ko ] || continue
  args=
  # insmod (unlike modprobe) ignores "mod.param=" on the kernel command
  # line; microvm describes its virtio-mmio devices there.
  for w in $(cat /proc/cmdline); do
    case $w in $m.*) args="$args ${w#$m.}" ;; esac
  done
  insmod /lib/modules/$m.ko $args || echo "COFFER-TEST-INSMOD-FAILED $m"
done
sleep 0.5
echo "COFFER-TEST-CMDLINE $(cat /proc/cmdline)"
echo "COFFER-TEST-VIRTIO-DEVICES $(ls /sys/bus/virtio/devices 2>/dev/null | wc -l)"
# agent.0 virtio-serial port: say hello to the host side.
for p in /sys/class/virtio-ports/*; do
  [ "$(cat $p/name 2>/dev/null)" = agent.0 ] || continue
  dev=/dev/$(basename $p)
  echo "COFFER-TEST-CHANNEL $dev"
  # in the background: a write blocks while no host end is connected
  (echo "COFFER-TEST-HELLO-FROM-GUEST" >$dev) &
done
# virtiofs share tagged "coffer".
mkdir -p /run/coffer/shared
if mount -t virtiofs coffer /run/coffer/shared 2>/dev/null; then
  echo "COFFER-TEST-VIRTIOFS $(cat /run/coffer/shared/hello 2>/dev/null)"
fi
# read-only block devices by serial
for b in /sys/block/vd*; do
  [ -e "$b" ] || continue
  echo "COFFER-TEST-BLOCK $(basename $b) $(cat $b/serial 2>/dev/null)"
done
echo "COFFER-TEST-GUEST-READY"
# Rootfs delivered after boot (add_rootfs): watch the share and the block
# slots, report each container's marker file once. A file "poweroff" in the
# share makes the guest power itself off 2 s later (a clean stop).
mkdir -p /tmp/seen
while :; do
  if [ -f /run/coffer/shared/poweroff ]; then
    echo "COFFER-TEST-POWEROFF-IN-2S"
    sleep 2
    poweroff -f
  fi
  for d in /run/coffer/shared/*/rootfs; do
    [ -f "$d/coffer-test-marker" ] || continue
    k=$(echo "$d" | tr / _)
    [ -e /tmp/seen/$k ] && continue
    echo "COFFER-TEST-ROOTFS-VIRTIOFS $(cat "$d/coffer-test-marker")"
    touch /tmp/seen/$k
  done
  for b in /sys/block/vd*; do
    [ -e "$b" ] || continue
    n=$(basename $b)
    serial=$(cat $b/serial 2>/dev/null)
    mkdir -p /mnt/$n
    if mount -t erofs -o ro /dev/$n /mnt/$n 2>/dev/null; then
      m=$(cat /mnt/$n/coffer-test-marker 2>/dev/null)
      umount /mnt/$n
      [ -e "/tmp/seen/$serial-$m" ] || echo "COFFER-TEST-ROOTFS-BLOCK $serial $m"
      touch "/tmp/seen/$serial-$m"
    fi
  done
  sleep 0.3
done
