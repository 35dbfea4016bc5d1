#!/usr/bin/env bash
# Builds coffer's guest image from verified Debian packages only:
#   OUTDIR/vmlinux         uncompressed kernel of linux-image-*-cloud-amd64
#                          (boots directly via PVH, e.g. qemu -M microvm -kernel)
#   OUTDIR/vmlinuz         the same kernel's bzImage, unchanged from the package
#                          (what OVMF/TDVF boot through its EFI stub: TEE profiles)
#   OUTDIR/initramfs.img   cpio (newc) with /init, kernel modules and
#                          /etc/coffer/modules; the plain profile adds busybox
#                          and runc with its libraries
#                          and, with --attester, /usr/bin/coffer-attester with
#                          its libraries (both profiles), with --image-pull,
#                          /usr/bin/coffer-image-pull with its libraries
#   OUTDIR/kernel-release  the kernel's `uname -r`
#   OUTDIR/packages        every package the image holds files of, "name version
#                          sha256-of-the-.deb", then the outputs' sha256
#
# Usage: build.sh OUTDIR [--init PATH] [--profile plain|tee|sev-snp|tdx]
#                        [--kernel-deb PATH] [--cache DIR] [--compress gzip|zstd|none]
#   --init        the guest's /init, normally coffer-agent (default $COFFER_GUEST_INIT);
#                 a static ELF or a script: a dynamic one's libraries would come
#                 from the build host
#   --profile     plain (default): busybox (shell, applets) and runc (the agent's
#                 fallback runtime) for debugging; tee: neither, a smaller
#                 measured base; sev-snp and tdx are names for tee (the two
#                 differ in firmware and launch, not in the initramfs)
#   --attester    coffer-attester (dynamically linked: libcurl, libjose,
#                 libmicrohttpd); its libraries come from the Debian packages
#                 that own them on the build host, downloaded and verified.
#                 --attester= (empty) leaves it out
#   --image-pull  coffer-image-pull (the guest pull; dynamically linked:
#                 libcurl, libjose, libzstd), its libraries likewise, and
#                 ca-certificates' Mozilla CAs as /etc/ssl/certs/ca-certificates.crt;
#                 --image-pull= (empty) leaves it out
#   --kernel-deb  a linux-image-*-cloud-amd64 .deb, used only if its package,
#                 version and sha256 match apt's package index; default: the
#                 newest one apt knows, downloaded (never installed) into the cache
#   --cache       where downloaded packages are kept (default $COFFER_GUEST_CACHE,
#                 else OUTDIR/cache)
#   --compress    initramfs compression (default zstd: smaller than gzip and
#                 faster to unpack under TCG; none boots ~0.2 s faster but is
#                 3x larger; see guest/README.md)
#
# Verified: every package comes from `apt-get download` (which checks the .deb
# against the signed index) and is unpacked with `dpkg -x`; a .deb found in
# the cache is hashed and compared with the index's SHA256 before use, and a
# mismatch ends the build naming the package and both hashes. Nothing is
# copied from the build host's filesystem: shared libraries are resolved
# (DT_NEEDED, PT_INTERP) inside the unpacked packages of the dependency
# closure (Depends, Pre-Depends).
#
# Reproducible: same inputs -> same bytes (sorted entries, owner root, mtimes
# = SOURCE_DATE_EPOCH, default the kernel image's own mtime in the package).
# Cached: a stamp holds the hash of every input (the verified packages'
# identities included); nothing is rebuilt when it matches. Prints the
# package list and the sha256 of each output.
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
# dm-verity); "net" (virtio-net) for pod networking, which nothing loads
# yet; "netdev" when a container may administer the network (CAP_NET_ADMIN,
# e.g. privileged): bridge, veth and netfilter (nftables with the iptables
# compatibility, conntrack, NAT, br_netfilter), which tools in the container
# cannot load themselves (no modprobe in the guest to autoload them). Under
# TCG each module costs 5-20 ms to load, so a pod loads only what its VM has
# and its containers use.
MODULE_GROUPS=("boot:virtio_mmio" "pci:virtio_pci" "serial:virtio_console"
               "vsock:vsock vmw_vsock_virtio_transport_common vmw_vsock_virtio_transport"
               "virtiofs:fuse virtiofs"
               "block:virtio_blk libcrc32c erofs ext4 jbd2 mbcache overlay dm_mod dm_verity"
               "net:virtio_net"
               "netdev:bridge veth br_netfilter nf_conntrack nf_nat nf_tables nft_compat
                nft_chain_nat nft_ct nft_nat nft_masq x_tables ip_tables iptable_filter
                iptable_nat ip6_tables ip6table_filter ip6table_nat xt_conntrack
                xt_MASQUERADE xt_addrtype xt_comment xt_mark")

die() { echo "guest/build.sh: $*" >&2; exit 1; }
skip() { echo "guest/build.sh: $*" >&2; exit 77; }
log() { echo "guest/build.sh: $*" >&2; }

OUTDIR=""
INIT=${COFFER_GUEST_INIT:-}
ATTESTER=""
IMAGE_PULL=""
KERNEL_DEB=${COFFER_GUEST_KERNEL_DEB:-}
CACHE=${COFFER_GUEST_CACHE:-}
COMPRESS=zstd
PROFILE=plain
while [ $# -gt 0 ]; do
  case $1 in
    --init) INIT=${2:?--init needs a path}; shift 2 ;;
    --attester) ATTESTER=${2:?--attester needs a path}; shift 2 ;;
    --attester=*) ATTESTER=${1#--attester=}; shift ;;
    --image-pull) IMAGE_PULL=${2:?--image-pull needs a path}; shift 2 ;;
    --image-pull=*) IMAGE_PULL=${1#--image-pull=}; shift ;;
    --profile) PROFILE=${2:?--profile needs plain, tee, sev-snp or tdx}; shift 2 ;;
    --kernel-deb) KERNEL_DEB=${2:?--kernel-deb needs a path}; shift 2 ;;
    --cache) CACHE=${2:?--cache needs a directory}; shift 2 ;;
    --compress) COMPRESS=${2:?--compress needs gzip, zstd or none}; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    -*) die "unknown option $1" ;;
    *) [ -z "$OUTDIR" ] || die "one OUTDIR only"; OUTDIR=$1; shift ;;
  esac
done
[ -n "$OUTDIR" ] || die "usage: build.sh OUTDIR [--init PATH] [--profile P] [--kernel-deb PATH]"
[ -n "$INIT" ] || die "no /init given: pass --init PATH (coffer-agent) or set COFFER_GUEST_INIT"
[ -f "$INIT" ] || die "the /init program $INIT does not exist"
[ -z "$ATTESTER" ] || [ -f "$ATTESTER" ] || die "the attester $ATTESTER does not exist"
[ -z "$IMAGE_PULL" ] || [ -f "$IMAGE_PULL" ] || die "coffer-image-pull $IMAGE_PULL does not exist"
case $COMPRESS in gzip|zstd|none) ;; *) die "--compress: gzip, zstd or none, not $COMPRESS" ;; esac
case $PROFILE in
  plain) ;;
  tee|sev-snp|tdx) PROFILE=tee ;;
  *) die "--profile: plain, tee, sev-snp or tdx, not $PROFILE" ;;
esac
for tool in lz4 zstd cpio objcopy readelf dpkg dpkg-deb apt-get apt-cache sha256sum; do
  command -v $tool >/dev/null || die "$tool missing (scripts/install-deps.sh)"
done
CACHE=${CACHE:-$OUTDIR/cache}
mkdir -p "$OUTDIR" "$CACHE"
OUTDIR=$(cd "$OUTDIR" && pwd)
CACHE=$(cd "$CACHE" && pwd)
INIT=$(realpath "$INIT")

# --- verified packages ---------------------------------------------------------

# apt's binary cache of the index, made once per run from the verified lists
# in a private directory: without one (some images turn it off) every
# apt-cache call parses all the lists again, ~1 s of CPU each. Never kept in
# the package cache, where anyone who can change a .deb could change it.
APT_TMP=$(mktemp -d /tmp/coffer-guest-apt.XXXXXX)
trap 'rm -rf "$APT_TMP"' EXIT
APT_OPTS=(-o "Dir::Cache::pkgcache=$APT_TMP/pkgcache.bin" -o "Dir::Cache::srcpkgcache=$APT_TMP/srcpkgcache.bin")

# The index record of a package ("name" for apt's candidate, "name=version"
# for that one): sets R_PKG R_VER R_ARCH R_SHA R_DEPS (Pre-Depends and
# Depends). The index is what `apt-get update` verified against the
# archive's signed Release file. Returns 1 when apt knows no such package.
index_record() { # spec
  local rec
  rec=$(apt-cache "${APT_OPTS[@]}" show --no-all-versions "$1" 2>/dev/null | awk -F': ' '
    /^$/ { exit }
    $1 == "Package" { p = $2 } $1 == "Version" { v = $2 } $1 == "Architecture" { a = $2 }
    $1 == "SHA256" { s = $2 } $1 == "Depends" || $1 == "Pre-Depends" { d = d (d ? ", " : "") $2 }
    END { if (p != "" && s != "") printf "%s\t%s\t%s\t%s\t%s\n", p, v, a, s, d }')
  [ -n "$rec" ] || return 1
  IFS=$'\t' read -r R_PKG R_VER R_ARCH R_SHA R_DEPS <<<"$rec"
}

APT_UPDATED=""
apt_update_once() {
  [ -z "$APT_UPDATED" ] || return 1
  APT_UPDATED=1
  log "running apt-get update once ($1)"
  apt-get "${APT_OPTS[@]}" update -q >&2 || return 1
}

# The .deb of a package, checked against the index: sets FETCHED to its
# path in the cache, downloading it if needed (a failed download exits with
# $UNAVAILABLE_RC). A cached file whose sha256 is not the index's ends the
# build: someone or something changed it, and nothing in the image may come
# from it.
UNAVAILABLE_RC=1
fetch_verified() { # spec
  local spec=$1 file dl got
  if ! index_record "$spec"; then
    { apt_update_once "apt knows no package $spec" && index_record "$spec"; } ||
      { log "apt's package index has no $spec: cannot verify it"; exit $UNAVAILABLE_RC; }
  fi
  file=$CACHE/${R_PKG}_${R_VER//:/%3a}_${R_ARCH}.deb
  if [ ! -f "$file" ]; then
    log "downloading $R_PKG $R_VER (not installing it)"
    dl=$(mktemp -d "$CACHE/download.XXXXXX")
    if ! (cd "$dl" && apt-get "${APT_OPTS[@]}" -q -o APT::Sandbox::User=root download "$R_PKG=$R_VER" >&2); then
      rm -rf "$dl"
      # Stale lists name a file the mirror no longer has: refresh, take the
      # version the fresh index names.
      { apt_update_once "download of $R_PKG $R_VER failed" && [ "$spec" = "${spec%%=*}" ]; } ||
        { log "apt-get download $R_PKG=$R_VER failed"; exit $UNAVAILABLE_RC; }
      fetch_verified "$spec"; return
    fi
    got=$(ls "$dl"/*.deb 2>/dev/null | head -1)
    [ -n "$got" ] || { rm -rf "$dl"; die "apt-get download $R_PKG=$R_VER wrote no .deb"; }
    mv -f "$got" "$file"
    rm -rf "$dl"
  fi
  got=$(sha256sum "$file" | cut -d' ' -f1)
  [ "$got" = "$R_SHA" ] ||
    die "package $R_PKG $R_VER: $file has sha256 $got, the package index says $R_SHA; refusing it (delete the file to download it again)"
  FETCHED=$file
}

# A .deb given by path (--kernel-deb): used only if apt's index lists its
# package and version with this very sha256. Sets FETCHED.
verify_given_deb() { # file
  local file=$1 pkg ver got
  [ -f "$file" ] || die "no package at $file"
  { pkg=$(dpkg-deb -f "$file" Package 2>/dev/null) && ver=$(dpkg-deb -f "$file" Version 2>/dev/null); } ||
    die "$file is not a Debian package"
  index_record "$pkg=$ver" ||
    die "$file ($pkg $ver) is not in apt's package index: refusing a package that cannot be verified (apt-get update, if it is newer than the index)"
  got=$(sha256sum "$file" | cut -d' ' -f1)
  [ "$got" = "$R_SHA" ] ||
    die "package $pkg $ver: $file has sha256 $got, the package index says $R_SHA; refusing it"
  FETCHED=$(realpath "$file")
}

# The newest linux-image-*-cloud-amd64 apt knows: the one the metapackage
# depends on, else the highest version among the names.
newest_kernel_package() {
  local pkg
  pkg=$(apt-cache "${APT_OPTS[@]}" depends linux-image-cloud-amd64 2>/dev/null |
        awk '$1 == "Depends:" && $2 ~ /^linux-image-.*-cloud-amd64$/ { print $2; exit }')
  [ -n "$pkg" ] || pkg=$(apt-cache "${APT_OPTS[@]}" search --names-only '^linux-image-[0-9.]+-[0-9]+-cloud-amd64$' 2>/dev/null |
                         awk '{ print $1 }' | sort -V | tail -1)
  echo "$pkg"
}

# The kernel package: given (--kernel-deb) or apt's newest; sets DEB and
# KERNEL_ID ("name version sha256").
kernel_deb() {
  if [ -n "$KERNEL_DEB" ]; then
    verify_given_deb "$KERNEL_DEB"
  else
    local pkg
    pkg=$(newest_kernel_package)
    if [ -z "$pkg" ]; then
      apt_update_once "apt knows no cloud kernel" || true
      pkg=$(newest_kernel_package)
    fi
    [ -n "$pkg" ] || skip "apt knows no linux-image-*-cloud-amd64 package (apt-get update? a Debian source?)"
    UNAVAILABLE_RC=77 fetch_verified "$pkg"
  fi
  DEB=$FETCHED
  KERNEL_ID="$R_PKG $R_VER $R_SHA"
}

# The packages the image takes files from besides the kernel: for the plain
# profile busybox-static and runc with the closure of their dependencies
# (first alternative of each; versions checked against the constraints).
# Sets PKG_FILE[name], PKG_ID[name] ("name version sha256"), PKG_ORDER.
declare -A PKG_FILE=() PKG_ID=()
PKG_ORDER=()
add_package() { # name [version]
  local name=$1 dep deps alt dname op dver ver
  [ -n "${PKG_FILE[$name]:-}" ] && return
  fetch_verified "$name${2:+=$2}"
  PKG_FILE[$name]=$FETCHED
  PKG_ID[$name]="$R_PKG $R_VER $R_SHA"
  PKG_ORDER+=("$name")
  IFS=',' read -r -a deps <<<"$R_DEPS"
  for dep in "${deps[@]}"; do
    alt=${dep%%|*}
    read -r dname op dver <<<"${alt//[()]/ }"
    dname=${dname%%:*}
    [ -n "$dname" ] || continue
    add_package "$dname"
    if [ -n "$op" ]; then
      read -r _ ver _ <<<"${PKG_ID[$dname]}"
      dpkg --compare-versions "$ver" "$op" "$dver" ||
        die "$name needs $dname ($op $dver); the index offers $ver"
    fi
  done
}

kernel_deb
if [ "$PROFILE" = plain ]; then add_package busybox-static; add_package runc; fi

# --- inputs and cache --------------------------------------------------------

# A dynamically linked /init (sanitizer builds) gets its libraries from
# packages too: the host's dpkg database only names the package that owns
# each library (the version installed there, if the index has it, else apt's
# candidate); the files come from that package, downloaded and verified.
library_packages() { # elf what
  local so owner ver
  while read -r so; do
    owner=$(dpkg -S "*/$so" 2>/dev/null | awk -F': ' -v so="/$so" '
      substr($2, length($2) - length(so) + 1) == so &&
      $2 ~ /^(\/usr)?\/lib(\/x86_64-linux-gnu)?\/[^\/]*$/ { sub(/:.*/, "", $1); print $1; exit }')
    [ -n "$owner" ] || die "no package owns $so, needed by $2"
    ver=$(dpkg-query -W -f='${Version}' "$owner" 2>/dev/null || true)
    if [ -n "$ver" ] && index_record "$owner=$ver"; then add_package "$owner" "$ver"; else add_package "$owner"; fi
  done < <(readelf -dW "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p')
}
init_library_packages() {
  library_packages "$INIT" "the /init $INIT (link it statically: COFFER_AGENT_STATIC=ON)"
}
INIT_DYNAMIC=""
if [ "$(od -An -c -N4 "$INIT" | tr -d ' ')" = '177ELF' ] &&
   readelf -lW "$INIT" 2>/dev/null | grep -q 'program interpreter'; then
  INIT_DYNAMIC=1
  log "the /init is dynamically linked: its libraries come from packages"
  init_library_packages
fi
# coffer-attester's libraries (libcurl, libjose, libmicrohttpd and what they
# need) come from packages the same way, in both profiles.
[ -z "$ATTESTER" ] || library_packages "$ATTESTER" "coffer-attester $ATTESTER"
[ -z "$IMAGE_PULL" ] || library_packages "$IMAGE_PULL" "coffer-image-pull $IMAGE_PULL"
# and the CAs a registry's certificate is checked against by default
[ -z "$IMAGE_PULL" ] || add_package ca-certificates

# Without SOURCE_DATE_EPOCH, mtimes come from the kernel package (its vmlinuz's
# mtime), so the package's hash in the key covers them.
EPOCH=${SOURCE_DATE_EPOCH:-}

inputs_key() {
  {
    echo "profile=$PROFILE compress=$COMPRESS epoch=$EPOCH modules=${MODULE_GROUPS[*]}"
    echo "kernel $KERNEL_ID"
    for p in "${PKG_ORDER[@]}"; do echo "package ${PKG_ID[$p]}"; done
    sha256sum "$0" "$INIT" ${ATTESTER:+"$ATTESTER"} ${IMAGE_PULL:+"$IMAGE_PULL"} | awk '{ print $1 }'
  } | sha256sum | cut -d' ' -f1
}
KEY=$(inputs_key)

report() {
  echo "guest image ($PROFILE profile, kernel $(cat "$OUTDIR/kernel-release")): packages (name version sha256 of the .deb) and outputs (sha256)"
  cat "$OUTDIR/packages"
}

exec 9>"$OUTDIR/.lock"
flock 9
if [ "$(cat "$OUTDIR/stamp" 2>/dev/null)" = "$KEY" ] && [ -f "$OUTDIR/vmlinux" ] &&
   [ -f "$OUTDIR/vmlinuz" ] && [ -f "$OUTDIR/initramfs.img" ] &&
   [ -f "$OUTDIR/kernel-release" ] && [ -f "$OUTDIR/packages" ]; then
  log "up to date ($(basename "$DEB"))"
  report
  exit 0
fi
log "building the $PROFILE image from $(basename "$DEB"), /init = $INIT"

WORK=$(mktemp -d "$OUTDIR/work.XXXXXX")
trap 'rm -rf "$WORK" "$APT_TMP"' EXIT
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
mkdir -p "$ROOT"/{etc/coffer,dev,proc,sys,run,tmp,var,mnt,root}
[ "$PROFILE" = tee ] || mkdir -p "$ROOT"/{bin,sbin,usr/bin,usr/sbin}
chmod 1777 "$ROOT/tmp"
# The kernel opens /dev/console for /init before anything mounts /dev.
mknod -m 600 "$ROOT/dev/console" c 5 1 || die "mknod /dev/console failed (run as root)"
# Debug info is of no use in the guest; symbols stay for backtraces.
if [ "$(od -An -c -N4 "$INIT" | tr -d ' ')" = '177ELF' ]; then
  objcopy --strip-debug "$INIT" "$ROOT/init" && chmod 0755 "$ROOT/init"
else
  install -m 0755 "$INIT" "$ROOT/init"
fi
# --- files from the other packages (plain profile) ------------------------------

# Each package unpacked into its own tree, so every file has one origin.
declare -A USED=()
LIBDIRS="lib/x86_64-linux-gnu usr/lib/x86_64-linux-gnu lib64 usr/lib64 lib usr/lib"
for p in "${PKG_ORDER[@]}"; do mkdir -p "$WORK/pkg/$p"; dpkg -x "${PKG_FILE[$p]}" "$WORK/pkg/$p"; done

# A path inside an unpacked package with its symlinks followed inside that
# tree (an absolute link names a path of the package, never of the host);
# prints the regular file's path, relative to the tree.
resolve_in() { # tree rel
  local tree=$1 rel=$2 t i
  for i in 1 2 3 4 5 6 7 8; do
    if [ ! -L "$tree/$rel" ]; then [ -f "$tree/$rel" ] && echo "$rel"; return; fi
    t=$(readlink "$tree/$rel")
    case $t in /*) rel=${t#/} ;; *) rel=$(dirname "$rel")/$t ;; esac
    rel=$(realpath -ms "/$rel"); rel=${rel#/}
  done
  return 1
}

# Puts file REL of package PKG at /REL in the initramfs (a regular file),
# then what it needs to run: its ELF interpreter and shared libraries, found
# in the unpacked packages of the closure.
place_file() { # pkg rel
  local pkg=$1 rel=$2 src
  [ -e "$ROOT/$rel" ] && return 0
  src=$(resolve_in "$WORK/pkg/$pkg" "$rel") || die "package $pkg has no file /$rel"
  mkdir -p "$ROOT/$(dirname "$rel")"
  cp --preserve=mode "$WORK/pkg/$pkg/$src" "$ROOT/$rel"
  USED[$pkg]=1
  place_elf_needs "$ROOT/$rel" "/$rel"
}

place_elf_needs() { # file what
  local f=$1 what=$2 interp so
  [ "$(od -An -c -N4 "$f" | tr -d ' ')" = '177ELF' ] || return 0
  interp=$(readelf -lW "$f" | sed -n 's/.*Requesting program interpreter: \(.*\)]$/\1/p')
  [ -z "$interp" ] || place_from_closure "${interp#/}" "$what (its interpreter)"
  while read -r so; do
    place_library "$so" "$what"
  done < <(readelf -dW "$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p')
}

place_from_closure() { # rel what
  local rel=$1 p
  [ -e "$ROOT/$rel" ] && return 0
  for p in "${PKG_ORDER[@]}"; do
    if resolve_in "$WORK/pkg/$p" "$rel" >/dev/null; then place_file "$p" "$rel"; return; fi
  done
  die "no package of the closure (${PKG_ORDER[*]}) has /$rel, needed by $2"
}

place_library() { # soname what
  local so=$1 d p
  for d in $LIBDIRS; do [ -e "$ROOT/$d/$so" ] && return 0; done
  for p in "${PKG_ORDER[@]}"; do
    for d in $LIBDIRS; do
      if resolve_in "$WORK/pkg/$p" "$d/$so" >/dev/null; then place_file "$p" "$d/$so"; return; fi
    done
  done
  die "no package of the closure (${PKG_ORDER[*]}) has the library $so, needed by $2"
}

[ -z "$INIT_DYNAMIC" ] || place_elf_needs "$ROOT/init" /init
if [ -n "$ATTESTER" ]; then
  mkdir -p "$ROOT/usr/bin"
  objcopy --strip-debug "$ATTESTER" "$ROOT/usr/bin/coffer-attester"
  chmod 0755 "$ROOT/usr/bin/coffer-attester"
  place_elf_needs "$ROOT/usr/bin/coffer-attester" /usr/bin/coffer-attester
fi
if [ -n "$IMAGE_PULL" ]; then
  mkdir -p "$ROOT/usr/bin"
  objcopy --strip-debug "$IMAGE_PULL" "$ROOT/usr/bin/coffer-image-pull"
  chmod 0755 "$ROOT/usr/bin/coffer-image-pull"
  place_elf_needs "$ROOT/usr/bin/coffer-image-pull" /usr/bin/coffer-image-pull
  # the bundle libcurl reads by default, made as update-ca-certificates makes
  # it (its postinst does not run here): every Mozilla CA, in name order
  mkdir -p "$ROOT/etc/ssl/certs"
  find "$WORK/pkg/ca-certificates/usr/share/ca-certificates/mozilla" -name '*.crt' -print0 |
    LC_ALL=C sort -z | xargs -0 cat >"$ROOT/etc/ssl/certs/ca-certificates.crt"
  [ -s "$ROOT/etc/ssl/certs/ca-certificates.crt" ] || die "ca-certificates holds no Mozilla CA"
  USED[ca-certificates]=1
fi
if [ "$PROFILE" = plain ]; then
  place_file busybox-static bin/busybox
  # the package's own static busybox lists its applets
  while read -r applet; do
    case ${applet##*/} in busybox|init) continue ;; esac
    [ -e "$ROOT/$applet" ] || ln -s /bin/busybox "$ROOT/$applet"
  done < <("$ROOT/bin/busybox" --list-full)
  place_file runc usr/sbin/runc
  ln -sf ../sbin/runc "$ROOT/usr/bin/runc"
fi
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
if [ "$PROFILE" = plain ]; then
  for m in "${ORDER[@]}"; do
    deps=""
    for d in ${MOD_DEPS[$m]}; do [ -n "${MOD_PATH[$d]:-}" ] && deps+=" ${MOD_PATH[$d]}"; done
    echo "${MOD_PATH[$m]}:$deps"
  done > "$ROOT$MODROOT/modules.dep"
fi
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

# What the image is made of: the packages it holds files of (the kernel
# first), then the sha256 of /init as placed in it and of each output.
sha() { sha256sum "$1" | cut -d' ' -f1; }
{
  echo "# package version sha256-of-.deb"
  echo "$KERNEL_ID"
  for p in "${PKG_ORDER[@]}"; do [ -z "${USED[$p]:-}" ] || echo "${PKG_ID[$p]}"; done | LC_ALL=C sort
  echo "# file sha256"
  echo "init $(sha "$ROOT/init")"
  echo "initramfs.img $(sha "$WORK/initramfs.img")"
  echo "vmlinux $(sha "$WORK/vmlinux")"
  echo "vmlinuz $(sha "$VMLINUZ")"
} > "$WORK/packages"

cp "$VMLINUZ" "$OUTDIR/vmlinuz"
mv -f "$WORK/vmlinux" "$OUTDIR/vmlinux"
mv -f "$WORK/initramfs.img" "$OUTDIR/initramfs.img"
mv -f "$WORK/packages" "$OUTDIR/packages"
echo "$RELEASE" > "$OUTDIR/kernel-release"
echo "$PROFILE" > "$OUTDIR/profile"
printf '%s\n' "${ORDER[@]}" > "$OUTDIR/modules"
echo "$KEY" > "$OUTDIR/stamp"
report
