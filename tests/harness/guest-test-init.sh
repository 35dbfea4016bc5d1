#!/bin/sh
# A stand-in /init for guest image tests: mounts /proc, loads every module
# /etc/coffer/modules lists (in its order, so a wrong order fails here),
# prints a marker with the kernel release, and powers off.
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
n=0
while read -r ko; do
  case $ko in ''|'#'*|'['*) continue ;; esac  # every group, in file order
  if ! /bin/busybox insmod "$ko"; then
    echo "coffer-guest-module-failed $ko"
    /bin/busybox poweroff -f
  fi
  n=$((n + 1))
done < /etc/coffer/modules
echo "coffer-guest-modules-loaded $n"
echo "coffer-guest-ok $(/bin/busybox uname -r)"
/bin/busybox poweroff -f
