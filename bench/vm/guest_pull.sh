#!/usr/bin/env bash
# Guest pull against the host-pulled path (issue 17, benchmark), interleaved
# in one run: CRI pods in VMs (libvirt backend, plain profile, sample
# attester, CNI bridge) running a 5 MB image (busybox, a marker, 4 MB of
# random bytes) from a TLS registry on the host side of the bridge:
#   host   containerd pulled and unpacked it on the host (once, before the
#          runs, as a node keeps it); the rootfs reaches the VM through the
#          backend's default path
#   guest  the pod lists it in io.coffer.guest-pull-images: the agent pulls,
#          verifies and unpacks it in guest memory, every run
#   enc    the same image encrypted by skopeo (jwe): as guest, plus
#          attestation, the key from a coffer-kbs and the decryption
# Median time from RunPodSandbox to the container's first output line, the
# medians of the paired differences against host, the load average, and the
# agent's own pull times from the guest console. Target: a guest pull of a
# 5 MB image adds <= 1 s under TCG. Not a test: nothing asserted.
# Usage: bench/vm/guest_pull.sh [BUILD_DIR]   (root; env RUNS, default 5)
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
RUNS=${RUNS:-5}
E2E_ATTESTER=1
E2E_IMAGE_PULL=1
HOSTS=$(mktemp -d /tmp/cfhosts.XXXXXX)
export COFFER_HARNESS_REGISTRY_HOSTS=$HOSTS
set -- "$SRC" "${1:-$SRC/build}"
. "$SRC/tests/vmm/e2e_lib.sh"
KBS=$BUILD/kbs/coffer-kbs
e2e_cni_bridge cofg 169 150
cleanup_bench() {
  [ -z "${KBS_PID:-}" ] || kill "$KBS_PID" 2>/dev/null || true
  [ -z "${REG_PID:-}" ] || kill "$REG_PID" 2>/dev/null || true
  ip link del "$BR" 2>/dev/null || true
  rm -rf "$HOSTS"
}
trap 'rc=$?; set +e; cleanup_bench; (exit $rc); e2e_cleanup' EXIT
# the seed reaches the registry before CNI sets up the first pod's network
ip link add "$BR" type bridge; ip addr add "$SUBNET.1/24" dev "$BR"; ip link set "$BR" up
K=$T/pki; mkdir -p "$K" "$T/res/default/image-key"
e2e_pki "$K"
RPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("0.0.0.0", 0)); print(s.getsockname()[1])')
cat >"$T/registry.yml" <<Y
version: 0.1
log: {level: warn, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $T/registry}}
http:
  addr: 0.0.0.0:$RPORT
  tls: {certificate: $K/srv.crt, key: $K/srv.key}
Y
setsid docker-registry serve "$T/registry.yml" >"$T/registry.log" 2>&1 </dev/null &
REG_PID=$!
wait_for 10 curl -fsS --cacert "$K/ca.crt" "https://127.0.0.1:$RPORT/v2/" -o /dev/null 2>/dev/null ||
  fail "docker-registry did not serve"
REG=$SUBNET.1:$RPORT
mkdir -p "$HOSTS/$REG"
printf 'server = "https://%s"\n[host."https://%s"]\n  capabilities = ["pull", "resolve"]\n  ca = "%s"\n' \
  "$REG" "$REG" "$K/ca.crt" >"$HOSTS/$REG/hosts.toml"
# three images of the same size whose configs differ (a marker each): images
# sharing a config digest are one image to CRI, which may then name another
# of its references than the one the pod lists
for k in host guest enc; do python3 "$SRC/tests/shim/marker_image.py" "$T/img-$k" /bin/busybox "bench-$k" 4000000; done
openssl genrsa -out "$K/image.pem" 2048 2>/dev/null
openssl rsa -in "$K/image.pem" -pubout -out "$K/image.pub" 2>/dev/null
cp "$K/image.pem" "$T/res/default/image-key/rsa"
skopeo copy -q --dest-tls-verify=false "oci:$T/img-host:img" "docker://127.0.0.1:$RPORT/bench/app:plain"
skopeo copy -q --dest-tls-verify=false "oci:$T/img-guest:img" "docker://127.0.0.1:$RPORT/bench/app-guest:plain"
skopeo copy -q --dest-tls-verify=false --encryption-key "jwe:$K/image.pub" "oci:$T/img-enc:img" \
  "docker://127.0.0.1:$RPORT/bench/app:enc"
echo "image: $(du -sb "$T/img-host/blobs" | cut -f1) bytes of blobs"
cat >"$T/kbs.json" <<J
{"listen": "0.0.0.0:0", "tls": {"cert": "$K/srv.crt", "key": "$K/srv.key"}, "resource_dir": "$T/res",
 "policy": "$T/policy.json", "sample": {"enabled": true}}
J
printf '{"rules": [{"name": "s", "resource": "default/image-key/*", "tee": ["sample"], "status": ["affirming", "warning", "contraindicated"]}]}' >"$T/policy.json"
"$KBS" --config "$T/kbs.json" >"$T/kbs.out" 2>"$T/kbs.log" &
KBS_PID=$!
for _ in $(seq 50); do grep -q "listening on" "$T/kbs.out" && break; sleep 0.1; done
KPORT=$(sed -n 's/.*listening on .*:\([0-9]*\)$/\1/p' "$T/kbs.out")
{
  printf 'version = "0.1.0"\nalgorithm = "sha384"\n[data]\n"aa.toml" = '"'''"'\n[token_configs.kbs]\nurl = "https://%s:%s"\ncert = """\n' "$SUBNET.1" "$KPORT"
  cat "$K/ca.crt"
  printf '"""\n'"'''"'\n"coffer.toml" = '"'''"'\n[image]\ndecryption_keys = ["kbs:///default/image-key/rsa"]\nregistry_ca = """\n'
  cat "$K/ca.crt"
  printf '"""\n'"'''"'\n'
} >"$T/init.toml"
# The plain pods (host- and guest-pulled) name no broker: a plain guest pull
# needs no attestation, so neither side runs the attester and the difference
# is the pull's own (the encrypted pod attests and fetches its key).
{
  printf 'version = "0.1.0"\nalgorithm = "sha384"\n[data]\n"coffer.toml" = '"'''"'\n[image]\nregistry_ca = """\n'
  cat "$K/ca.crt"
  printf '"""\n'"'''"'\n'
} >"$T/init-plain.toml"
cat >"$T/seed.sh" <<S
#!/bin/sh
exec "$SRC/deploy/coffer-image-seed" --hosts-dir "$HOSTS" "\$@"
S
chmod +x "$T/seed.sh"
sed -i "s|}\$|, \"sample_attestation\": true, \"image_seed\": \"$T/seed.sh\"}|" "$CONFIG"
sleep 1
mkdir -p "$T/logs"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 "$SRC/bench/vm/guest_pull.py" "$H" "$CONTAINERD_ADDRESS" "$(gzip -c <"$T/init.toml" | base64 -w0)" \
  "$RUNS" "$T/logs" "$REG/bench/app:plain" "$REG/bench/app-guest:plain" "$REG/bench/app:enc" \
  "$(gzip -c <"$T/init-plain.toml" | base64 -w0)"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "the agent's pull and unpack times in the guests (ms, sorted), and how long CreateContainer"
echo "waited for a pull started at CreateSandbox:"
for kind in app-guest:plain app:enc; do
  v=$(sed -n "s/.*image [^ ]*$kind pulled and unpacked in \([0-9]*\) ms.*/\1/p" "$T/c/containerd.log" | sort -n | tr '\n' ' ')
  w=$(sed -n "s/.*image [^ ]*$kind pulled and unpacked in .*CreateContainer waited \([0-9]*\) ms.*/\1/p" "$T/c/containerd.log" | sort -n | tr '\n' ' ')
  printf '  %-18s pull %s\n  %-18s waited %s\n' "$kind" "${v:-none}" "" "${w:-none}"
done
echo "where one pull's time went (the last of each):"
for kind in app-guest:plain app:enc; do
  grep -o "image [^ ]*$kind pulled and unpacked in .*" "$T/c/containerd.log" | tail -1 | cut -c1-400
done
