#!/usr/bin/env bash
# The installer image recipe (deploy/image/build.sh): builds the OCI archive
# offline from this build (stand-in guest files), unpacks it with umoci, and
# inside its root filesystem (chroot) runs every tool the installer needs
# and a full install / status / cleanup against a node root placed there --
# proof that the minimal image is enough.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip "needs root (chroot)"
command -v umoci >/dev/null || skip "umoci missing"
for f in shim/containerd-shim-coffer-v2 vmm/coffer-vmm/coffer-vmm agent/coffer-agent; do
  [ -x "$BUILD/$f" ] || skip "$f not built"
done
mkdir -p "$T/guest"
echo kernel >"$T/guest/vmlinux"; echo initramfs >"$T/guest/initramfs.img"

log "build the image"
bash "$SRC/deploy/image/build.sh" "$BUILD" "$T/out" --guest "$T/guest" --tag localhost/coffer-deploy:test
mkdir -p "$T/oci" && tar -C "$T/oci" -xf "$T/out/coffer-deploy.tar"
umoci unpack --image "$T/oci:localhost/coffer-deploy:test" "$T/bundle" >/dev/null
RF=$T/bundle/rootfs
jq -e '.process.args == ["/usr/bin/coffer-deploy", "run"]' "$T/bundle/config.json" >/dev/null ||
  fail "entrypoint: $(jq -c .process.args "$T/bundle/config.json")"
du -sh "$T/out/coffer-deploy.tar"

log "its tools run in its own root"
for t in "curl --version" "jq --version" "flock --version" "busctl --version" "sh -c true" "awk BEGIN{}" "nsenter --help"; do
  chroot "$RF" /bin/env PATH=/usr/bin:/bin $t >/dev/null 2>&1 || fail "in the image: $t fails"
done
echo "curl, jq, flock, busctl, busybox sh/awk/nsenter run"

log "install / status / cleanup inside the image against a node root"
N=$RF/host
mkdir -p "$N/dev" "$N/run/libvirt" "$N/etc/containerd"
: >"$N/dev/kvm"
/usr/bin/python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$N/run/libvirt/libvirt-sock"
printf 'version = 2\n' >"$N/etc/containerd/config.toml"
cp "$N/etc/containerd/config.toml" "$T/orig.toml"
in_image() {
  chroot "$RF" /bin/env -i PATH=/usr/bin:/bin COFFER_HOST_ROOT=/host COFFER_NO_K8S=1 \
    COFFER_CONTAINERD_VERSION=1.7.20 COFFER_RESTART_CMD=true COFFER_CONTAINERD_WAIT=0 /usr/bin/coffer-deploy "$@"
}
in_image install 2>"$T/log" || { cat "$T/log" >&2; fail "install in the image"; }
for f in bin/containerd-shim-coffer-v2 bin/coffer-vmm bin/coffer-agent share/coffer/vmlinux share/coffer/plain.json; do
  [ -f "$N/opt/coffer/$f" ] || fail "not installed: /opt/coffer/$f"
done
cmp -s "$BUILD/shim/containerd-shim-coffer-v2" "$N/opt/coffer/bin/containerd-shim-coffer-v2" || fail "shim differs"
jq -e '.kernel == "/host/opt/coffer/share/coffer/vmlinux" and .profile == "plain"' "$N/opt/coffer/share/coffer/plain.json" >/dev/null ||
  fail "plain.json: $(cat "$N/opt/coffer/share/coffer/plain.json")"
in_image status | tee "$T/status"
grep -q "handler coffer: registered" "$T/status" || fail "status"
in_image cleanup 2>"$T/log" || { cat "$T/log" >&2; fail "cleanup in the image"; }
cmp "$T/orig.toml" "$N/etc/containerd/config.toml" || fail "cleanup did not restore the config"
in_image status >/dev/null && fail "status says installed after cleanup"
echo PASS
