#!/usr/bin/env bash
# Builds coffer's guest image from Debian packages only:
#   OUTDIR/vmlinux         uncompressed kernel of linux-image-*-cloud-amd64
#                          (boots directly via PVH, e.g. qemu -M microvm -kernel)
#   OUTDIR/initramfs.img   cpio (newc) with /init, runc and its libraries,
#                          busybox, kernel modules and /etc/coffer/modules
#   OUTDIR/kernel-release  the kernel's `uname -r`
#
# Usage: build.sh OUTDIR [--init PATH] [--kernel-deb PATH] [--cache DIR]
#                        [--compress gzip|zstd|none]
#   --init        the guest's /init, normally coffer-agent (default $COFFER_GUEST_INIT)
#   --kernel-deb  a linux-image-*-cloud-amd64 .deb; default: the newest one apt
#                 knows, downloaded (never installed) into the cache
#   --cache       where downloaded kernel packages are kept (default
#                 $COFFER_GUEST_CACHE, else OUTDIR/cache)
#   --compress    initramfs compression (default zstd: smaller than gzip and
#                 faster to unpack under TCG; none boots ~0.2 s faster but is
#                 3x larger; see guest/README.md)
#
# Reproducible: same inputs -> same bytes (sorted entries, owner root, mtimes
# = SOURCE_DATE_EPOCH, default the kernel image's own mtime in the package).
# Cached: a stamp holds the hash of every input; nothing is rebuilt when it
# matches. Prints the size and sha256 of each output.
# Exit 77 when no guest kernel package can be had (no apt source, offline).
#
# /etc/coffer/modules lists the modules /init may load, one absolute path of
# a .ko file per line, in dependency order (each after everything it needs);
# modules built into the kernel are left out. Blank lines and # comments may
# appear. A "[group]" line starts a group the agent loads only when it needs
# it (see MODULE_GROUPS); the lines before the first one load at boot. Every
# module appears once.
set -euo pipefail

# Module names (as modprobe spells them) the guest needs, by when the agent
# loads them: at boot the virtio-mmio transport; "pci" when the guest has a
# PCI bus (q35), "serial" / "vsock" when a virtio console / vsock device is
# there (the agent channel), "virtiofs" / "block" when the first container
# rootfs of that kind arrives (block: virtio-blk, erofs/ext4, overlay,
# dm-verity). Under TCG each module costs 5-20 ms to load, so a pod loads
# only what its VM has and its containers use.
MODULE_GROUPS=("boot:virtio_mmio" "pci:virtio_pci" "serial:virtio_console"
               "vsock:vsock vmw_vsock_virtio_transport_common vmw_vsock_virtio_transport"
               "virtiofs:fuse virtiofs"
               "block:virtio_blk libcrc32c erofs ext4 jbd2 mbcache overlay dm_mod dm_verity"
               "net:virtio_net")
MODULES=()
for g in "${MODULE_GROUPS[@]}"; do
  read -r -a names <<<"${g#*:}"
  MODULES+=("${names[@]}")
done

die() { echo "guest/build.sh: $*" >&2; exit 1; }
skip() { echo "guest/build.sh: $*" >&2; exit 77; }
log() { echo "guest/build.sh: $*" >&2; }

OUTDIR=""
INIT=${COFFER_GUEST_INIT:-}
KERNEL_DEB=${COFFER_GUEST_KERNEL_DEB:-}
CACHE=${COFFER_GUEST_CACHE:-}
COMPRESS=zstd
while [ $# -gt 0 ]; do
  case $1 in
    --init) INIT=${2:?--init needs a path}; shift 2 ;;
    --kernel-deb) KERNEL_DEB=${2:?--kernel-deb needs a path}; shift 2 ;;
    --cache) CACHE=${2:?--cache needs a directory}; shift 2 ;;
    --compress) COMPRESS=${2:?--compress needs gzip, zstd or none}; shift 2 ;;
    -h|--help) sed -n '2,29p' "$0"; exit 0 ;;
    -*) die "unknown option $1" ;;
    *) [ -z "$OUTDIR" ] || die "one OUTDIR only"; OUTDIR=$1; shift ;;
  esac
done
[ -n "$OUTDIR" ] || die "usage: build.sh OUTDIR [--init PATH] [--kernel-deb PATH]"
[ -n "$INIT" ] || die "no /init given: pass --init PATH (coffer-agent) or set COFFER_GUEST_INIT"
[ -f "$INIT" ] || die "the /init program $INIT does not exist"
case $COMPRESS in gzip|zstd|none) ;; *) die "--compress: gzip, zstd or none, not $COMPRESS" ;; esac
RUNC=$(command -v runc) || die "runc missing (apt-get install runc)"
BUSYBOX=/bin/busybox
ldd "$BUSYBOX" >/dev/null 2>&1 && die "$BUSYBOX is dynamically linked: install busybox-static"
for tool in lz4 zstd cpio objcopy dpkg-deb; do
  command -v $tool >/dev/null || die "$tool missing (scripts/install-deps.sh)"
done
CACHE=${CACHE:-$OUTDIR/cache}
mkdir -p "$OUTDIR" "$CACHE"
OUTDIR=$(cd "$OUTDIR" && pwd)
CACHE=$(cd "$CACHE" && pwd)

# --- the kernel package ------------------------------------------------------

# The newest linux-image-*-cloud-amd64 apt knows: the one the metapackage
# depends on, else the highest version among the names.
newest_kernel_package() {
  local pkg
  pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
        awk '$1 == "Depends:" && $2 ~ /^linux-image-.*-cloud-amd64$/ { print $2; exit }')
  [ -n "$pkg" ] || pkg=$(apt-cache search --names-only '^linux-image-[0-9.]+-[0-9]+-cloud-amd64$' 2>/dev/null |
                         awk '{ print $1 }' | sort -V | tail -1)
  echo "$pkg"
}

find_kernel_deb() {
  if [ -n "$KERNEL_DEB" ]; then
    [ -f "$KERNEL_DEB" ] || die "no kernel package at $KERNEL_DEB"
    realpath "$KERNEL_DEB"; return
  fi
  local cache=$CACHE pkg file
  pkg=$(newest_kernel_package)
  if [ -z "$pkg" ] || ! apt-cache show --no-all-versions "$pkg" >/dev/null 2>&1; then
    log "apt knows no cloud kernel: running apt-get update once"
    apt-get update -q >&2 || true
    pkg=$(newest_kernel_package)
  fi
  if [ -n "$pkg" ]; then
    file=$(apt-cache show --no-all-versions "$pkg" 2>/dev/null | awk '$1 == "Filename:" { print $2; exit }')
    file=${file##*/}
    if [ -n "$file" ] && [ -f "$cache/$file" ]; then echo "$cache/$file"; return; fi
    log "downloading $pkg (not installing it)"
    if (cd "$cache" && apt-get -q -o APT::Sandbox::User=root download "$pkg" >&2) &&
       [ -n "$file" ] && [ -f "$cache/$file" ]; then
      echo "$cache/$file"; return
    fi
    # Stale package lists name a file the mirror no longer has: refresh once.
    log "download of $pkg failed: running apt-get update and retrying"
    if apt-get update -q >&2; then
      pkg=$(newest_kernel_package)
      file=$(apt-cache show --no-all-versions "$pkg" 2>/dev/null | awk '$1 == "Filename:" { print $2; exit }')
      file=${file##*/}
      if [ -n "$file" ] && (cd "$cache" && apt-get -q -o APT::Sandbox::User=root download "$pkg" >&2) &&
         [ -f "$cache/$file" ]; then
        echo "$cache/$file"; return
      fi
    fi
  fi
  # Offline: the newest package downloaded before.
  file=$(ls "$cache"/linux-image-*-cloud-amd64_*.deb 2>/dev/null | sort -V | tail -1)
  [ -n "$file" ] && { echo "$file"; return; }
  skip "no linux-image-*-cloud-amd64 package could be downloaded (apt-get update? a Debian source?)"
}

# --- inputs and cache --------------------------------------------------------

# Shared libraries (resolved paths as the loader finds them) of the given ELF
# programs; nothing for static ones (or scripts: ldd fails on them, which must
# not end the loop under set -e/pipefail before runc is looked at).
shared_libs() {
  local prog
  for prog in "$@"; do
    { ldd "$prog" 2>/dev/null || true; } | awk '
      $2 == "=>" && $3 ~ /^\// { print $3 }
      $1 ~ /^\// { print $1 }'
  done | LC_ALL=C sort -u
}

DEB=$(find_kernel_deb)
mapfile -t LIBS < <(shared_libs "$INIT" "$RUNC")
# Without SOURCE_DATE_EPOCH, mtimes come from the kernel package (its vmlinuz's
# mtime), so the package's hash in the key covers them.
EPOCH=${SOURCE_DATE_EPOCH:-}

inputs_key() {
  {
    echo "compress=$COMPRESS epoch=$EPOCH modules=${MODULE_GROUPS[*]}"
    sha256sum "$0" "$DEB" "$INIT" "$RUNC" "$BUSYBOX" "${LIBS[@]}" | awk '{ print $1 }'
  } | sha256sum | cut -d' ' -f1
}
KEY=$(inputs_key)

report() {
  local f
  for f in vmlinux initramfs.img; do
    printf '%-14s %10d bytes  sha256 %s\n' "$f" "$(stat -c %s "$OUTDIR/$f")" \
      "$(sha256sum "$OUTDIR/$f" | cut -d' ' -f1)"
  done
  printf '%-14s %s\n' kernel-release "$(cat "$OUTDIR/kernel-release")"
}

exec 9>"$OUTDIR/.lock"
flock 9
if [ "$(cat "$OUTDIR/stamp" 2>/dev/null)" = "$KEY" ] && [ -f "$OUTDIR/vmlinux" ] &&
   [ -f "$OUTDIR/initramfs.img" ] && [ -f "$OUTDIR/kernel-release" ]; then
  log "up to date ($(basename "$DEB"))"
  report
  exit 0
fi
log "building from $(basename "$DEB"), /init = $INIT"

WORK=$(mktemp -d "$OUTDIR/work.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
dpkg -x "$DEB" "$WORK/deb"

# --- vmlinux -----------------------------------------------------------------

# The bzImage's setup header says where the compressed kernel lies: it starts
# (setup_sects + 1) * 512 bytes in, at payload_offset, payload_length long;
# the compressor appended the uncompressed size as 4 little-endian bytes.
u8() { od -An -tu1 -j "$2" -N1 "$1" | tr -d ' '; }
u32() { od -An -tu4 -j "$2" -N4 --endian=little "$1" | tr -d ' '; }
extract_vmlinux() { # vmlinuz out
  local z=$1 out=$2
  [ "$(dd if="$z" bs=1 skip=$((0x202)) count=4 status=none)" = HdrS ] ||
    die "$z is not a bzImage (no HdrS header)"
  local setup_sects payload_offset payload_length start size magic
  setup_sects=$(u8 "$z" $((0x1f1)))
  [ "$setup_sects" -eq 0 ] && setup_sects=4
  payload_offset=$(u32 "$z" $((0x248)))
  payload_length=$(u32 "$z" $((0x24c)))
  start=$(( (setup_sects + 1) * 512 + payload_offset ))
  magic=$(od -An -tx1 -j "$start" -N4 "$z" | tr -d ' ')
  [ "$magic" = 02214c18 ] || die "$z: payload is not LZ4 (magic $magic); the cloud kernel is LZ4"
  size=$(u32 "$z" $((start + payload_length - 4)))
  dd if="$z" iflag=skip_bytes,count_bytes skip="$start" count=$((payload_length - 4)) \
     bs=1M status=none | lz4 -dc > "$out" || die "lz4 could not decompress the kernel in $z"
  [ "$(stat -c %s "$out")" -eq "$size" ] ||
    die "$z: decompressed kernel is $(stat -c %s "$out") bytes, header says $size"
  [ "$(od -An -c -N4 "$out" | tr -d ' ')" = '177ELF' ] || die "$z: decompressed kernel is not ELF"
}

VMLINUZ=$(ls "$WORK"/deb/boot/vmlinuz-* 2>/dev/null | head -1)
[ -n "$VMLINUZ" ] || die "$DEB holds no boot/vmlinuz-*"
MODDIR=$(ls -d "$WORK"/deb/lib/modules/* 2>/dev/null | head -1)
[ -n "$MODDIR" ] || die "$DEB holds no lib/modules/<release>"
RELEASE=${MODDIR##*/}
extract_vmlinux "$VMLINUZ" "$WORK/vmlinux"
[ -n "$EPOCH" ] || EPOCH=$(stat -c %Y "$VMLINUZ")

# --- modules, in dependency order ----------------------------------------------

# name -> path (relative to MODDIR); module names spell - as _.
declare -A MOD_PATH=() MOD_DEPS=() BUILTIN=()
while read -r rel; do
  name=${rel##*/}; name=${name%%.ko*}; name=${name//-/_}
  MOD_PATH[$name]=$rel
done < <(cd "$MODDIR" && find kernel -name '*.ko*' | LC_ALL=C sort)
while read -r rel; do
  name=${rel##*/}; name=${name%%.ko*}; BUILTIN[${name//-/_}]=1
done < "$MODDIR/modules.builtin"

# A module's direct dependencies, from the "depends=" entry of its .modinfo.
module_deps() { # name
  local name=$1 ko=$MODDIR/${MOD_PATH[$1]}
  case $ko in
    *.ko) ;;
    *.ko.xz) xz -dc "$ko" > "$WORK/m.ko"; ko=$WORK/m.ko ;;
    *.ko.zst) zstd -qdc "$ko" > "$WORK/m.ko"; ko=$WORK/m.ko ;;
    *) die "unknown module compression: $ko" ;;
  esac
  objcopy -O binary --only-section=.modinfo "$ko" "$WORK/modinfo" ||
    die "cannot read .modinfo of $ko"
  tr '\0' '\n' < "$WORK/modinfo" | sed -n 's/^depends=//p' | tr ',' ' ' | tr '-' '_'
}

ORDER=()
declare -A STATE=() GROUP_OF=()   # STATE: 1 = visiting, 2 = placed
GROUP=""
place_module() { # name chain
  local name=$1 chain=$2 dep
  [ "${STATE[$name]:-}" = 2 ] && return
  [ "${STATE[$name]:-}" = 1 ] && die "module dependency cycle: $chain -> $name"
  if [ -z "${MOD_PATH[$name]:-}" ]; then
    [ -n "${BUILTIN[$name]:-}" ] && { STATE[$name]=2; return; }
    die "kernel $RELEASE has no module $name (needed by: ${chain:-the guest})"
  fi
  STATE[$name]=1
  MOD_DEPS[$name]=$(module_deps "$name")
  for dep in ${MOD_DEPS[$name]}; do place_module "$dep" "$chain -> $name"; done
  STATE[$name]=2
  ORDER+=("$name")
  GROUP_OF[$name]=$GROUP
}
# In group order: a module lands in the first group that needs it, so a
# later group may rely on an earlier one (the agent loads boot first).
for g in "${MODULE_GROUPS[@]}"; do
  GROUP=${g%%:*}
  for m in ${g#*:}; do place_module "$m" ""; done
done

# --- the initramfs tree ------------------------------------------------------

ROOT=$WORK/root
mkdir -p "$ROOT"/{bin,sbin,usr/bin,usr/sbin,etc/coffer,dev,proc,sys,run,tmp,var,mnt,root}
chmod 1777 "$ROOT/tmp"
# The kernel opens /dev/console for /init before anything mounts /dev.
mknod -m 600 "$ROOT/dev/console" c 5 1 || die "mknod /dev/console failed (run as root)"
# Debug info is of no use in the guest; symbols stay for backtraces.
if [ "$(od -An -c -N4 "$INIT" | tr -d ' ')" = '177ELF' ]; then
  objcopy --strip-debug "$INIT" "$ROOT/init" && chmod 0755 "$ROOT/init"
else
  install -m 0755 "$INIT" "$ROOT/init"
fi
install -m 0755 "$BUSYBOX" "$ROOT/bin/busybox"
while read -r applet; do
  case ${applet##*/} in busybox|init) continue ;; esac
  [ -e "$ROOT/$applet" ] || ln -s /bin/busybox "$ROOT/$applet"
done < <("$BUSYBOX" --list-full)
install -m 0755 "$RUNC" "$ROOT/usr/sbin/runc"
ln -sf ../sbin/runc "$ROOT/usr/bin/runc"
for lib in "${LIBS[@]}"; do
  mkdir -p "$ROOT$(dirname "$lib")"
  cp -L "$lib" "$ROOT$lib"
done
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$ROOT/etc/passwd"
printf 'root:x:0:\n' > "$ROOT/etc/group"

MODROOT=/lib/modules/$RELEASE
mkdir -p "$ROOT$MODROOT"
{
  echo "# kernel modules for $RELEASE, in load order (generated by guest/build.sh);"
  echo "# [group]: loaded when the agent needs it, the rest at boot"
  last=boot
  for m in "${ORDER[@]}"; do
    if [ "${GROUP_OF[$m]}" != "$last" ]; then
      last=${GROUP_OF[$m]}
      echo "[$last]"
    fi
    rel=${MOD_PATH[$m]}
    mkdir -p "$ROOT$MODROOT/$(dirname "$rel")"
    case $rel in   # stored uncompressed: finit_module then needs no decompressor
      *.ko) cp "$MODDIR/$rel" "$ROOT$MODROOT/$rel" ;;
      *.ko.xz) rel=${rel%.xz}; xz -dc "$MODDIR/$rel.xz" > "$ROOT$MODROOT/$rel" ;;
      *.ko.zst) rel=${rel%.zst}; zstd -qdc "$MODDIR/$rel.zst" > "$ROOT$MODROOT/$rel" ;;
    esac
    MOD_PATH[$m]=$rel
    echo "$MODROOT/$rel"
  done
} > "$ROOT/etc/coffer/modules"
# modules.dep in kmod's format, for busybox modprobe when debugging by hand.
for m in "${ORDER[@]}"; do
  deps=""
  for d in ${MOD_DEPS[$m]}; do [ -n "${MOD_PATH[$d]:-}" ] && deps+=" ${MOD_PATH[$d]}"; done
  echo "${MOD_PATH[$m]}:$deps"
done > "$ROOT$MODROOT/modules.dep"
echo "$RELEASE" > "$ROOT/etc/coffer/kernel-release"

# --- reproducible archive --------------------------------------------------------

find "$ROOT" -exec touch -h -d "@$EPOCH" {} +
(cd "$ROOT" && find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort |
   cpio -o -H newc -R 0:0 --reproducible --quiet) > "$WORK/initramfs.cpio"
case $COMPRESS in
  gzip) gzip -n -9 < "$WORK/initramfs.cpio" > "$WORK/initramfs.img" ;;
  zstd) zstd -q -19 --no-check -T1 < "$WORK/initramfs.cpio" > "$WORK/initramfs.img" ;;
  none) mv "$WORK/initramfs.cpio" "$WORK/initramfs.img" ;;
esac

mv -f "$WORK/vmlinux" "$OUTDIR/vmlinux"
mv -f "$WORK/initramfs.img" "$OUTDIR/initramfs.img"
echo "$RELEASE" > "$OUTDIR/kernel-release"
printf '%s\n' "${ORDER[@]}" > "$OUTDIR/modules"
echo "$KEY" > "$OUTDIR/stamp"
report
