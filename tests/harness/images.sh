#!/usr/bin/env bash
# Builds the test images without a registry, as DESIGN.md §4 describes:
#   localhost/busybox:latest  busybox-static plus applet symlinks, cmd /bin/sh
#   localhost/pause:latest    the same rootfs, cmd `sleep 2147483647`
# into one OCI archive OUTDIR/images.tar, and prints its path.
# Cached: rebuilt only when the archive is missing or /bin/busybox (or this
# script) changed.
#
# Usage:
#   images.sh OUTDIR                      build (or reuse) OUTDIR/images.tar
#   images.sh --import NS ADDRESS [TAR]   import TAR (default $COFFER_IMAGES, as
#                                         containerd.sh's env sets it) into the
#                                         containerd at ADDRESS, namespace NS
#                                         (k8s.io for CRI)
set -euo pipefail

BUSYBOX=${BUSYBOX:-/bin/busybox}

die() { echo "images.sh: $*" >&2; exit 1; }

import_images() { # ns address tar
  local ns=$1 address=$2 tar=$3
  [ -f "$tar" ] || die "no image archive at $tar (run: images.sh OUTDIR)"
  ctr --address "$address" -n "$ns" images import "$tar" >/dev/null ||
    die "ctr images import of $tar into namespace $ns at $address failed"
}

# Makes one image tagged $tag in layout $layout from the prepared rootfs.
make_image() { # layout tag cmd... ; rootfs comes from $rootfs_src
  local layout=$1 tag=$2; shift 2
  local work=$layout.bundle-$RANDOM
  umoci new --image "$layout:build" >/dev/null
  umoci unpack --image "$layout:build" "$work" >/dev/null
  cp -a "$rootfs_src/." "$work/rootfs/"
  umoci repack --image "$layout:build" "$work" >/dev/null
  local args=()
  for a in "$@"; do args+=(--config.cmd "$a"); done
  umoci config --image "$layout:build" --tag "$tag" "${args[@]}" \
    --config.env PATH=/usr/sbin:/usr/bin:/sbin:/bin >/dev/null
  umoci rm --image "$layout:build" >/dev/null
  rm -rf "$work"
}

build() { # outdir
  local outdir=$1
  [ -x "$BUSYBOX" ] || die "$BUSYBOX missing (apt-get install busybox-static)"
  command -v umoci >/dev/null || die "umoci missing (apt-get install umoci)"
  ! ldd "$BUSYBOX" >/dev/null 2>&1 ||
    die "$BUSYBOX is dynamically linked (install busybox-static)"
  mkdir -p "$outdir"
  # Concurrent tests may share OUTDIR: one builds, the others wait and reuse.
  exec 9>"$outdir/images.lock"
  flock 9
  local tar=$outdir/images.tar stamp=$outdir/images.stamp
  local key
  key=$(cat "$BUSYBOX" "${BASH_SOURCE[0]}" | sha256sum | cut -d' ' -f1)
  if [ -f "$tar" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$key" ]; then
    echo "$tar"
    return
  fi

  tmp=$(mktemp -d "$outdir/images.tmp.XXXXXX")
  trap 'rm -rf "${tmp:-}"' EXIT
  rootfs_src=$tmp/rootfs
  mkdir -p "$rootfs_src/bin" "$rootfs_src/tmp" "$rootfs_src/proc" "$rootfs_src/sys" \
    "$rootfs_src/dev" "$rootfs_src/etc" "$rootfs_src/root"
  chmod 1777 "$rootfs_src/tmp"
  cp "$BUSYBOX" "$rootfs_src/bin/busybox"
  local applet
  # --list-full prints paths like bin/sh or usr/sbin/chroot.
  while read -r applet; do
    [ "$(basename "$applet")" = busybox ] && continue
    mkdir -p "$rootfs_src/$(dirname "$applet")"
    ln -sf /bin/busybox "$rootfs_src/$applet"
  done < <("$BUSYBOX" --list-full)
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' \
    > "$rootfs_src/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' > "$rootfs_src/etc/group"

  local layout=$tmp/oci
  umoci init --layout "$layout" >/dev/null
  make_image "$layout" localhost/busybox:latest /bin/sh
  make_image "$layout" localhost/pause:latest sleep 2147483647
  umoci gc --layout "$layout" >/dev/null
  tar -C "$layout" -cf "$tmp/images.tar" oci-layout index.json blobs
  mv -f "$tmp/images.tar" "$tar"
  echo "$key" > "$stamp"
  echo "$tar"
}

case "${1:-}" in
  --import)
    [ $# -eq 3 ] || [ $# -eq 4 ] || die "usage: images.sh --import NS ADDRESS [TAR]"
    tar=${4:-${COFFER_IMAGES:-}}
    [ -n "$tar" ] || die "--import: no TAR given and \$COFFER_IMAGES is unset"
    import_images "$2" "$3" "$tar" ;;
  ""|-h|--help)
    sed -n '2,14p' "$0"; exit 2 ;;
  *)
    [ $# -eq 1 ] || die "usage: images.sh OUTDIR"
    build "$1" ;;
esac
