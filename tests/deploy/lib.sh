# Sourced by the deploy tests: usage `test.sh SRC_DIR BUILD_DIR`.
# Builds a fake node root ($R) the installer works on (COFFER_HOST_ROOT),
# a fake artifacts dir ($A), and a PATH ($TB) on which the installer finds
# busybox's applets plus curl, jq and flock -- what its image holds -- so
# the tests run it as the DaemonSet does.
set -euo pipefail

SRC=$(cd "${1:?source dir}" && pwd)
BUILD=$(cd "${2:?build dir}" && pwd)
H=$SRC/tests/harness
D=$SRC/tests/deploy
DEPLOY=$SRC/deploy/coffer-deploy

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
log() { echo "--- $*"; }

T=$(mktemp -d /tmp/cfdp.XXXXXX)          # short: unix socket paths under it
R=$T/r
A=$T/art
CLEANUPS=()
lib_cleanup() {
  local rc=$? c
  set +e
  for c in "${CLEANUPS[@]}"; do eval "$c"; done
  awk -v d="$T/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l
  [ -n "${KEEP:-}" ] || rm -rf "$T"
  exit $rc
}
trap lib_cleanup EXIT

# The installer's tools: busybox applets first (as in its image), then
# curl, jq, flock from the host.
TB=$T/bin
mkdir -p "$TB"
if [ -x /bin/busybox ]; then
  for a in sh awk sed grep cat cp mv rm mkdir rmdir find sort tr head tail od cmp stat chmod \
           chown date dirname basename mktemp sleep touch ln kill; do
    ln -s /bin/busybox "$TB/$a"
  done
fi
for b in curl jq flock; do
  p=$(command -v $b) || skip "$b is not installed"
  ln -s "$p" "$TB/$b"
done
deploy() { PATH=$TB sh "$DEPLOY" "$@"; }

# A node: /dev/kvm, a libvirt socket, containerd's config dir holding FILE.
make_root() { # config-file|"" 
  mkdir -p "$R/dev" "$R/run/libvirt" "$R/etc/containerd" "$R/opt/coffer"
  : >"$R/dev/kvm"
  /usr/bin/python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' \
    "$R/run/libvirt/libvirt-sock"
  [ -z "${1:-}" ] || cp "$1" "$R/etc/containerd/config.toml"
}

# Stand-in artifacts (unit tests: the files are only copied).
make_fake_artifacts() {
  mkdir -p "$A/bin" "$A/share/coffer"
  printf '#!/bin/sh\nexit 0\n' >"$A/bin/containerd-shim-coffer-v2"
  printf '#!/bin/sh\nexit 0\n' >"$A/bin/coffer-vmm"
  chmod 755 "$A/bin/"*
  echo kernel >"$A/share/coffer/vmlinux"
  echo initramfs >"$A/share/coffer/initramfs.img"
}

# Debian's containerd 1.6 config as the package ships it (checked against
# dpkg's recorded md5, so a locally edited file is not mistaken for it).
debian_containerd16_config() {
  local f=/etc/containerd/config.toml want
  want=$(dpkg-query -W -f='${Conffiles}\n' containerd 2>/dev/null | awk -v f="$f" '$1 == f {print $2}')
  [ -n "$want" ] || skip "containerd's Debian package is not installed"
  [ "$(md5sum <"$f" | cut -d' ' -f1)" = "$want" ] || skip "$f was edited locally: not Debian's file"
  echo "$f"
}

# Debian sid's containerd 2.1 (binaries and its config), extracted into the
# build tree by tests/shim/fetch_containerd2.sh. Prints its root.
sid_containerd2_root() {
  local bin
  bin=$(timeout 150 bash "$SRC/tests/shim/fetch_containerd2.sh" "$BUILD/containerd2" 2>/dev/null) ||
    skip "containerd 2.x not available (Debian sid unreachable?)"
  echo "${bin%/usr/bin}"
}

# Every file under DIR with its mode, size, mtime and checksum: "nothing
# changed" means this listing is the same before and after.
tree_state() {
  (cd "$1" && find . -mindepth 1 -printf '%p %M %s %T@\n' | sort && \
    find . -type f -print0 | sort -z | xargs -0r sha256sum)
}
# The same without times and without /run/lock (what a rolled-back install
# may leave: the lock file, new directory mtimes).
tree_content() {
  (cd "$1" && find . -mindepth 1 ! -path './run/lock*' -printf '%p %M %s\n' | sort && \
    find . -type f ! -path './run/lock*' -print0 | sort -z | xargs -0r sha256sum)
}
