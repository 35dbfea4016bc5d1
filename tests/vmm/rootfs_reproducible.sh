#!/usr/bin/env bash
# The erofs rootfs image is reproducible: the same tree (built twice, and a
# copy of it made with other timestamps and in another creation order) gives
# the same image bytes and the same dm-verity root hash; a changed byte
# gives another. Usage: rootfs_reproducible.sh BUILD_DIR
set -euo pipefail
VMM=${1:?build dir}/vmm/coffer-vmm/coffer-vmm
[ -x "$VMM" ] || { echo "SKIP: coffer-vmm not built"; exit 77; }
command -v mkfs.erofs >/dev/null || { echo "SKIP: mkfs.erofs not installed"; exit 77; }
T=$(mktemp -d /tmp/cfrr.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

mkdir -p "$T/a/bin" "$T/a/etc/sub"
for f in one two three four five; do head -c 5000 /dev/urandom >"$T/a/etc/$f"; done
printf 'hello\n' >"$T/a/etc/sub/hello"
ln -s ../etc/one "$T/a/bin/link"
# the copy: files created in reverse order, an hour later
mkdir -p "$T/b/etc/sub" "$T/b/bin"
for f in five four three two one; do cp "$T/a/etc/$f" "$T/b/etc/$f"; done
cp "$T/a/etc/sub/hello" "$T/b/etc/sub/hello"
ln -s ../etc/one "$T/b/bin/link"
find "$T/b" -exec touch -h -d '+1 hour' {} +

hash_of() { # hash_of SRC OUT -> root hash
  mkdir -p "$2"
  "$VMM" rootfs-image --src "$1" --out "$2" | sed -n 's/.*root_hash=\([0-9a-f]*\).*/\1/p'
}
h1=$(hash_of "$T/a" "$T/o1"); h2=$(hash_of "$T/a" "$T/o2"); h3=$(hash_of "$T/b" "$T/o3")
[ ${#h1} = 64 ] || fail "no root hash from coffer-vmm rootfs-image: '$h1'"
[ "$h1" = "$h2" ] || fail "two builds of one tree differ: $h1 vs $h2"
cmp -s "$T/o1/rootfs.erofs" "$T/o2/rootfs.erofs" || fail "two builds of one tree give different images"
[ "$h1" = "$h3" ] || fail "a copy of the tree (other mtimes, other creation order) differs: $h1 vs $h3"
printf 'hellO\n' >"$T/a/etc/sub/hello"
h4=$(hash_of "$T/a" "$T/o4")
[ "$h4" != "$h1" ] || fail "a changed byte kept the root hash $h1"
echo "PASS: root hash $h1 is reproducible; a changed byte gives $h4"
