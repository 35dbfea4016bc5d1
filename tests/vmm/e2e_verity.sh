#!/usr/bin/env bash
# The dm-verity rootfs, end to end in a VM with the TEE rules forced
# (coffer.tee=1 on the guest command line of a plain VM; no TEE hardware
# here). Each pod is a fresh VM:
#   1. the container's root is an overlay on the dm-verity device, and what
#      it writes (a marker it assembles itself) is nowhere on the host: not
#      in the slots, the image cache, containerd's root or libvirt's logs;
#   2. a second pod of the same image reuses the cached image and hash tree;
#   3. a byte the host flips in the image makes reads of it fail in the
#      guest: dm-verity reports the block corrupted, the read errors;
#   4. a wrong root hash, and a truncated hash tree, are refused with an
#      error naming the root hash.
#   e2e_verity.sh SRC BUILD
export COFFER_VMM_ROOTFS=block
export COFFER_VMM_BLOCK_SLOT_MIB=64  # the host scan below reads every slot whole
VCACHE=$(mktemp -d /tmp/cfverity.XXXXXX)
export COFFER_VMM_VERITY_CACHE=$VCACHE
. "$(dirname "$0")/e2e_lib.sh"
# keep the test's status for e2e_cleanup (it reads $? first); errexit off,
# or the (exit $rc) would end the trap before the cleanup
trap 'rc=$?; set +e; rm -rf "$VCACHE"; (exit $rc); e2e_cleanup' EXIT

# TEE rules in this plain VM: the agent refuses virtiofs and unverified
# disks, and judges every call by the init-data policy (deny until it
# arrives); this one allows every call and image, so the test is verity's.
cat >"$T/initdata.toml" <<'TOML'
version = "0.1.0"
algorithm = "sha256"
[data]
"policy.json" = '{"version": 1, "default": "allow"}'
TOML
python3 - "$CONFIG" "$T/initdata.toml" <<'P'
import json, sys
c = json.load(open(sys.argv[1]))
c["kernel_params"] = "coffer.tee=1"
c["init_data"] = sys.argv[2]
json.dump(c, open(sys.argv[1], "w"))
P
LOGF=$T/c/containerd.log
built() { grep -c "image and hash tree built into $VCACHE" "$LOGF" || true; }

log "pod 1: verity root, writes stay in guest memory"
c run -d "${RT[@]}" $IMG v1 sh -c 'm=$(printf "pl%s-%s" aintext 7f3a9); i=0; while [ $i -lt 512 ]; do echo "$m $i"; i=$((i+1)); done >/marker; cp /marker /etc/marker2; sync; sleep 600' >/dev/null
wait_for 60 sh -c "ctr task ls 2>/dev/null | grep -q '^v1 .*RUNNING'" || fail "pod 1 did not start"
sleep 2
out=$(c task exec --exec-id e1 v1 sh -c 'grep -E " / " /proc/mounts | tail -1; for d in /sys/block/dm-*; do cat $d/dm/name; done; wc -l </marker; head -c 4096 /bin/busybox | wc -c')
echo "$out"
echo "$out" | grep -q '^overlay / overlay .*lowerdir=[^,]*rootfs.lower' || fail "container root is not the overlay on the image"
echo "$out" | grep -qx 'coffer-v1' || fail "no dm-verity device coffer-v1 in the guest"
echo "$out" | grep -qx '512' || fail "the marker file was not written"
echo "$out" | grep -qx '4096' || fail "the verified image does not read"
[ "$(built)" = 1 ] || fail "pod 1 should have built the image and hash tree once, log says $(built)"
[ -n "$(find "$STATE" -name 'slot-*.img' -size +0 | head -1)" ] || fail "no block slot under $STATE"
# positive control: the scan does find what the host was given (the image)
grep -rlaF 'nogroup:x:65534' "$STATE" >/dev/null || fail "scan control: the image's /etc/group is not in any slot"
hits=$(grep -rlaF "plaintext-7f3a9" "$STATE" "$VCACHE" "$T" /var/log/libvirt/qemu 2>/dev/null || true)
[ -z "$hits" ] || fail "the container's writes reached host files: $hits"
echo "no plaintext of the writable layer on the host"
c task kill -s KILL v1 >/dev/null || true
wait_for 30 sh -c "! ctr task ls 2>/dev/null | grep -q '^v1 .*RUNNING'" || true
c task rm -f v1 >/dev/null 2>&1 || true
c containers rm v1 >/dev/null || true

log "pod 2: the hash tree is reused"
tree=$(ls "$VCACHE"/*/rootfs.verity)
before=$(stat -c '%i %Y' "$tree")
out=$(c run --rm "${RT[@]}" $IMG v2 sh -c 'cat /etc/passwd | head -1; for d in /sys/block/dm-*; do cat $d/dm/name; done')
echo "$out"
echo "$out" | grep -qx 'root:x:0:0:root:/root:/bin/sh' || fail "pod 2 does not read its image"
echo "$out" | grep -qx 'coffer-v2' || fail "pod 2 is not on dm-verity"
[ "$(built)" = 1 ] || fail "pod 2 rebuilt the image or hash tree ($(built) builds)"
[ "$(stat -c '%i %Y' "$tree")" = "$before" ] || fail "the cached hash tree was rewritten"
grep -q "reused from the cache" "$LOGF" || fail "the shim did not log the reuse"

log "pod 3: a byte flipped in the image by the host reads as an I/O error"
entry=$(dirname "$tree")
cp "$entry/rootfs.erofs" "$T/image.orig"
# a byte near the end of /bin/busybox: past its loaded segments, so the
# shell still starts, but reading the whole file reaches it
off=$(python3 - "$entry/rootfs.erofs" /bin/busybox <<'P'
import sys
img = open(sys.argv[1], "rb").read()
bb = open(sys.argv[2], "rb").read()
probe = bb[-300:-236]
i = img.find(probe)
assert i >= 0 and img.find(probe, i + 1) < 0, "busybox tail not found once in the image"
print(i + 10)
P
) || fail "could not find /bin/busybox in the image"
printf "$(printf '\\%03o' $(( ($(od -An -tu1 -j "$off" -N1 "$entry/rootfs.erofs") + 1) % 256 )))" |
  dd of="$entry/rootfs.erofs" bs=1 seek="$off" conv=notrunc status=none
cmp -s "$entry/rootfs.erofs" "$T/image.orig" && fail "the flip did not change the image"
rc=0
out=$(c run --rm "${RT[@]}" $IMG v3 sh -c 'cat /bin/busybox >/dev/null && echo READ-ALL-OK; echo done' 2>&1) || rc=$?
echo "$out"
# where the flipped byte lands (file data, or the inline tail erofs keeps in
# a metadata block) decides whether the shell starts at all: either way the
# guest kernel refuses the block and nothing reads the altered bytes
echo "$out" | grep -q 'READ-ALL-OK' && fail "the tampered /bin/busybox read without an error"
[ $rc != 0 ] || echo "$out" | grep -qi 'I/O error' || fail "no I/O error reading the tampered block"
grep -qE "device-mapper: verity: [0-9:]+: data block [0-9]+ is corrupted" "$LOGF" ||
  fail "the guest kernel did not report the corrupted block"
cp "$T/image.orig" "$entry/rootfs.erofs"

log "pod 4: a wrong root hash is refused"
cp "$entry/root_hash" "$T/root_hash.orig"
read -r good blocks <"$entry/root_hash"
bad=$(echo "$good" | sed 's/^./f/; t; s/^/f/'); [ "$bad" != "$good" ] || bad=$(echo "$good" | sed 's/^./0/')
echo "$bad $blocks" >"$entry/root_hash"
rc=0
out=$(c run --rm "${RT[@]}" $IMG v4 true 2>&1) || rc=$?
echo "$out"
[ $rc != 0 ] || fail "a pod with a wrong root hash ran"
echo "$out" | grep -q "does not verify against root hash $bad" || fail "the refusal does not name the root hash"
cp "$T/root_hash.orig" "$entry/root_hash"

log "pod 5: a truncated hash tree is refused"
cp "$entry/rootfs.verity" "$T/tree.orig"
truncate -s $(( $(stat -c %s "$entry/rootfs.verity") / 2 / 4096 * 4096 )) "$entry/rootfs.verity"
rc=0
out=$(c run --rm "${RT[@]}" $IMG v5 true 2>&1) || rc=$?
echo "$out"
[ $rc != 0 ] || fail "a pod with a truncated hash tree ran"
echo "$out" | grep -q "does not verify against root hash $good" || fail "the refusal does not name the root hash"
cp "$T/tree.orig" "$entry/rootfs.verity"

log "nothing left"
wait_for 30 assert_no_leftovers quiet >/dev/null 2>&1 || assert_no_leftovers "after the verity pods"
echo PASS
