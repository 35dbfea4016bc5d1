#!/usr/bin/env bash
# Works without a config file: the shim's built-in kernel/initrd defaults
# name <prefix>/<datadir>/coffer/{vmlinux,initramfs.img}, and `cmake
# --install` puts the guest image exactly there (when it was built: the
# guest-image target).
. "$(dirname "$0")/lib.sh"
SHIM=$BUILD/shim/containerd-shim-coffer-v2
[ -x "$SHIM" ] || skip "shim not built"
prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$BUILD/CMakeCache.txt")
datadir=$(sed -n 's/^CMAKE_INSTALL_DATADIR:PATH=//p' "$BUILD/CMakeCache.txt")
case $datadir in /*) dir=$datadir/coffer ;; *) dir=$prefix/${datadir:-share}/coffer ;; esac
for f in vmlinux initramfs.img; do
  grep -qaF "$dir/$f" "$SHIM" || fail "the shim's built-in defaults do not name $dir/$f"
done
echo "built-in defaults: $dir/vmlinux, $dir/initramfs.img"
cmake --install "$BUILD" --prefix "$T/p" >"$T/install.log" 2>&1 || { cat "$T/install.log" >&2; fail "cmake --install"; }
rel=${dir#"$prefix"/}
if [ -f "$BUILD/guest-image/vmlinux" ] && [ -f "$BUILD/guest-image/initramfs.img" ]; then
  for f in vmlinux initramfs.img; do
    cmp "$BUILD/guest-image/$f" "$T/p/$rel/$f" || fail "cmake --install did not put $f in <prefix>/$rel"
  done
  echo "cmake --install: guest image in <prefix>/$rel"
else
  [ ! -e "$T/p/$rel/vmlinux" ] || fail "installed a guest image that was never built"
  echo "note: guest image not built in $BUILD (guest-image target): cmake --install skipped it, as it should"
fi
[ -x "$T/p/bin/containerd-shim-coffer-v2" ] || fail "cmake --install: no shim"
echo PASS
