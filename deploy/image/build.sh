#!/usr/bin/env bash
# Builds the installer image (what the Helm chart's DaemonSet runs) from this
# repository's build, offline: no registry, no Docker (umoci, as the test
# images are built).
#
#   deploy/image/build.sh BUILD_DIR OUT_DIR [--guest DIR] [--tag NAME:TAG]
#       -> OUT_DIR/coffer-deploy.tar, an OCI archive (oci-layout, index.json,
#          blobs) tagged NAME:TAG (default localhost/coffer-deploy:0.1.0):
#          `ctr -n k8s.io images import` it on a node, or push it with
#          `skopeo copy oci-archive:… docker://REGISTRY/…`
#   deploy/image/build.sh --rootfs BUILD_DIR ROOTFS_DIR [--guest DIR]
#       -> only the image's root filesystem (the Dockerfile uses this)
#
# The image holds:
#   /usr/bin/coffer-deploy                 the installer (POSIX sh)
#   /bin/busybox + applets                 sh, awk, sed, find, nsenter ...
#   /usr/bin/{curl,jq,flock,busctl}        API calls, JSON, the node lock,
#                                          systemd over its private socket
#                                          (with the libraries they link)
#   /opt/coffer-artifacts/bin/             containerd-shim-coffer-v2,
#                                          coffer-vmm, coffer-agent
#   /opt/coffer-artifacts/share/coffer/    vmlinux, initramfs.img (--guest,
#                                          default BUILD_DIR/guest-image)
# The shim and coffer-vmm run on the host and link the host's libraries
# (json-c, protobuf-c, OpenSSL, libvirt): build them on the oldest
# distribution the nodes run.
set -euo pipefail
die() { echo "deploy/image/build.sh: $*" >&2; exit 1; }
HERE=$(cd "$(dirname "$0")" && pwd)

rootfs_only=
if [ "${1:-}" = --rootfs ]; then rootfs_only=1; shift; fi
[ $# -ge 2 ] || { sed -n '2,27p' "$0" >&2; exit 2; }
BUILD=$(cd "$1" && pwd) || die "no build dir $1"
OUT=$2; shift 2
GUEST=$BUILD/guest-image
TAG=localhost/coffer-deploy:0.1.0
while [ $# -gt 0 ]; do
  case $1 in
    --guest) GUEST=${2:?}; shift 2 ;;
    --tag) TAG=${2:?}; shift 2 ;;
    *) die "unknown option $1" ;;
  esac
done

BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] && ! ldd "$BUSYBOX" >/dev/null 2>&1 || die "$BUSYBOX must be busybox-static"
for f in shim/containerd-shim-coffer-v2 vmm/coffer-vmm/coffer-vmm agent/coffer-agent; do
  [ -x "$BUILD/$f" ] || die "$BUILD/$f not built (cmake --build $BUILD)"
done
for f in vmlinux initramfs.img; do
  [ -f "$GUEST/$f" ] || die "no guest image at $GUEST/$f (cmake --build $BUILD --target guest-image, or --guest DIR)"
done

# copy_with_libs BINARY ROOTFS: the binary into /usr/bin, its libraries at
# their paths (and the dynamic loader).
copy_with_libs() {
  local bin=$1 root=$2 lib
  install -D -m 0755 "$bin" "$root/usr/bin/$(basename "$bin")"
  for lib in $(ldd "$bin" | awk '/=> \// {print $3} /^\t\// {print $1}'); do
    [ -e "$root$lib" ] || install -D -m 0755 "$(readlink -f "$lib")" "$root$lib"
  done
}

make_rootfs() { # dir
  local r=$1 a
  mkdir -p "$r"/{bin,usr/bin,tmp,etc,proc,sys,dev,run,opt/coffer,opt/coffer-artifacts/bin,opt/coffer-artifacts/share/coffer}
  chmod 1777 "$r/tmp"
  install -m 0755 "$BUSYBOX" "$r/bin/busybox"
  for a in $("$BUSYBOX" --list); do
    [ "$a" = busybox ] || [ -e "$r/bin/$a" ] || ln -s busybox "$r/bin/$a"
  done
  for a in curl jq flock busctl; do
    copy_with_libs "$(command -v $a)" "$r" || die "$a missing (apt-get install curl jq util-linux systemd)"
  done
  install -m 0755 "$HERE/../coffer-deploy" "$r/usr/bin/coffer-deploy"
  install -m 0755 "$BUILD/shim/containerd-shim-coffer-v2" "$BUILD/vmm/coffer-vmm/coffer-vmm" \
    "$BUILD/agent/coffer-agent" "$HERE/../coffer-image-seed" "$r/opt/coffer-artifacts/bin/"
  install -m 0644 "$GUEST/vmlinux" "$GUEST/initramfs.img" "$r/opt/coffer-artifacts/share/coffer/"
  # the TEE profiles' image (bzImage + initramfs without shell or runc), when built
  if [ -f "$GUEST-tee/vmlinuz" ] && [ -f "$GUEST-tee/initramfs.img" ]; then
    mkdir -p "$r/opt/coffer-artifacts/share/coffer/tee"
    install -m 0644 "$GUEST-tee/vmlinuz" "$GUEST-tee/initramfs.img" "$r/opt/coffer-artifacts/share/coffer/tee/"
  fi
  printf 'root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$r/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$r/etc/group"
}

if [ -n "$rootfs_only" ]; then
  make_rootfs "$OUT"
  exit 0
fi

command -v umoci >/dev/null || die "umoci missing (apt-get install umoci)"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
W=$(mktemp -d "$OUT/.build.XXXXXX")
trap 'rm -rf "$W"' EXIT
umoci init --layout "$W/oci" >/dev/null
umoci new --image "$W/oci:build" >/dev/null
umoci unpack --image "$W/oci:build" "$W/bundle" >/dev/null
make_rootfs "$W/bundle/rootfs"
umoci repack --image "$W/oci:build" "$W/bundle" >/dev/null
umoci config --image "$W/oci:build" --tag "$TAG" \
  --config.entrypoint /usr/bin/coffer-deploy --config.cmd run \
  --config.env PATH=/usr/bin:/bin --config.user 0:0 \
  --config.label org.opencontainers.image.title=coffer-deploy >/dev/null
umoci rm --image "$W/oci:build" >/dev/null
umoci gc --layout "$W/oci" >/dev/null
tar -C "$W/oci" -cf "$W/coffer-deploy.tar" oci-layout index.json blobs
mv -f "$W/coffer-deploy.tar" "$OUT/coffer-deploy.tar"
echo "$OUT/coffer-deploy.tar ($TAG)"
