#!/usr/bin/env bash
# Pod start with one secret vs without (issue 11, item 8), interleaved in one
# run: a CRI pod in a VM (libvirt backend, plain profile, sample attester,
# CNI bridge) whose init-data names a coffer-kbs on the host side of the
# bridge; the secret pod's container cats the secret (attestation + fetch +
# tmpfs before the process starts), the other echoes. Median time from
# RunPodSandbox to the first output line in the container's CRI log.
# Target: the secret adds <= 0.3 s under TCG. Not a test: nothing asserted.
# Usage: bench/vm/secrets.sh [BUILD_DIR]   (root; env RUNS, default 5)
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
RUNS=${RUNS:-5}
# the e2e harness: a private containerd with CNI, a guest image with the attester
E2E_ATTESTER=1
set -- "$SRC" "${1:-$SRC/build}"
. "$SRC/tests/vmm/e2e_lib.sh"
KBS=$BUILD/kbs/coffer-kbs
BR=cofb${T##*.}; BR=${BR:0:15}
SUBNET=""
for n in $(seq 199 -1 180); do
  grep -q "^10\.231\.$n\." <<<"$(ip route show)" && continue
  SUBNET=10.231.$n; break
done
[ -n "$SUBNET" ] || fail "no free 10.231.x.0/24"
for p in bridge host-local loopback; do ln -sf /usr/lib/cni/$p "$T/c/cni/bin/$p"; done
cat > "$T/c/cni/net.d/10-coffer-bench.conflist" <<JSON
{"cniVersion": "0.4.0", "name": "coffer-bench", "plugins": [
  {"type": "bridge", "bridge": "$BR", "isGateway": true, "ipMasq": false, "mtu": 1450,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "$SUBNET.0/24", "gateway": "$SUBNET.1"}]],
            "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "$T/c/cni/ipam"}}]}
JSON
trap 'rc=$?; [ -n "${KBS_PID:-}" ] && kill $KBS_PID; ip link del "$BR" 2>/dev/null; (exit $rc); e2e_cleanup' EXIT
sed -i 's|}$|, "sample_attestation": true}|' "$CONFIG"
K=$T/kbs; mkdir -p "$K/res/default/key"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$K/ca.key" -out "$K/ca.crt" \
  -days 2 -subj "/CN=coffer bench ca" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$K/srv.key" -out "$K/srv.csr" \
  -subj "/CN=$SUBNET.1" 2>/dev/null
printf 'subjectAltName=IP:%s\n' "$SUBNET.1" >"$K/san.ext"
openssl x509 -req -in "$K/srv.csr" -CA "$K/ca.crt" -CAkey "$K/ca.key" -CAcreateserial -out "$K/srv.crt" \
  -days 2 -extfile "$K/san.ext" 2>/dev/null
head -c 48 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$K/res/default/key/one"
cat >"$K/kbs.json" <<J
{"listen": "0.0.0.0:0", "tls": {"cert": "$K/srv.crt", "key": "$K/srv.key"}, "resource_dir": "$K/res",
 "policy": "$K/policy.json", "sample": {"enabled": true}}
J
printf '{"rules": [{"name": "s", "resource": "default/key/*", "tee": ["sample"], "status": ["affirming", "warning", "contraindicated"]}]}' >"$K/policy.json"
"$KBS" --config "$K/kbs.json" >"$K/kbs.out" 2>"$K/kbs.log" &
KBS_PID=$!
for _ in $(seq 50); do grep -q "listening on" "$K/kbs.out" && break; sleep 0.1; done
PORT=$(sed -n 's/.*listening on .*:\([0-9]*\)$/\1/p' "$K/kbs.out")
{
  printf 'version = "0.1.0"\nalgorithm = "sha384"\n[data]\n"aa.toml" = '"'''"'\n[token_configs.kbs]\nurl = "https://%s.1:%s"\ncert = """\n' "$SUBNET" "$PORT"
  cat "$K/ca.crt"
  printf '"""\n'"'''"'\n'
} >"$T/init.toml"
sleep 1
mkdir -p "$T/logs"
/usr/bin/python3 "$SRC/bench/vm/secrets.py" "$H" "$CONTAINERD_ADDRESS" "$(gzip -c <"$T/init.toml" | base64 -w0)" "$RUNS" "$T/logs"
