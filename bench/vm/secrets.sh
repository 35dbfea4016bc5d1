#!/usr/bin/env bash
# Pod start with one secret vs without (issue 11, item 8), interleaved in one
# run: a CRI pod in a VM (libvirt backend, plain profile, sample attester,
# CNI bridge) whose init-data names a coffer-kbs on the host side of the
# bridge; the secret pod's container cats the secret (attestation + fetch +
# tmpfs before the process starts), the other pod's init-data names no broker
# (no attester, no attestation) and its container echoes. The peer: a pod
# like the second whose container runs bench_tls_floor (bench/kbs), the
# cheapest client of the same broker (one bare OpenSSL TLS exchange, no
# attestation), from a read-only volume; any attester on OpenSSL pays at
# least its work. Median time from RunPodSandbox to the first output line in
# the container's CRI log, the medians of the paired differences against the
# pod without, the peer's CPU time in the guest, the load average, and the
# attester's own timings from the guest console (key pair, evidence, RCAR,
# resource). Target: attestation plus the secret adds <= 0.3 s under TCG.
# Not a test: nothing asserted.
# Usage: bench/vm/secrets.sh [BUILD_DIR]   (root; env RUNS, default 10)
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
RUNS=${RUNS:-10}
# the e2e harness: a private containerd with CNI, a guest image with the attester
E2E_ATTESTER=1
set -- "$SRC" "${1:-$SRC/build}"
. "$SRC/tests/vmm/e2e_lib.sh"
KBS=$BUILD/kbs/coffer-kbs
e2e_cni_bridge cofb 199 180
trap 'rc=$?; set +e; [ -z "${KBS_PID:-}" ] || kill $KBS_PID 2>/dev/null || true; ip link del "$BR" 2>/dev/null || true; (exit $rc); e2e_cleanup' EXIT
sed -i 's|}$|, "sample_attestation": true}|' "$CONFIG"
K=$T/kbs; mkdir -p "$K/res/default/key"
e2e_pki "$K"
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
cat >"$T/init0.toml" <<'TOML'
version = "0.1.0"
algorithm = "sha384"
[data]
"coffer.toml" = '''
[attestation]
token = false
'''
TOML
# the peer and what it loads (the container image is busybox: no libc)
PEER=$T/peer; mkdir -p "$PEER"
cp "$BUILD/bench/kbs/bench_tls_floor" "$K/ca.crt" "$PEER/"
for l in $(ldd "$PEER/bench_tls_floor" | grep -o '/[^ ]*'); do cp "$l" "$PEER/"; done
[ -f "$PEER/ld-linux-x86-64.so.2" ] || { echo "secrets.sh: no ld-linux-x86-64.so.2 for the peer" >&2; exit 1; }
sleep 1
mkdir -p "$T/logs"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 "$SRC/bench/vm/secrets.py" "$H" "$CONTAINERD_ADDRESS" "$(gzip -c <"$T/init.toml" | base64 -w0)" "$RUNS" "$T/logs" \
  "$(gzip -c <"$T/init0.toml" | base64 -w0)" "$PEER" "https://$SUBNET.1:$PORT"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "the attester's timings in the guests (ms, sorted):"
timing() { # LABEL SED-REGEX (one group: the number)
  local v
  v=$(sed -n "s/.*$2.*/\\1/p" "$T/c/containerd.log" 2>/dev/null | sort -n | tr '\n' ' ')
  printf '  %-44s %s\n' "$1" "${v:-none}"
}
timing "broker client (TEE key pair)" 'broker client (TEE key pair) in \([0-9]*\) ms'
timing "sample evidence" 'sample evidence in \([0-9]*\) ms'
timing "RCAR (auth + attest, TLS)" 'RCAR with [^ ]* done in \([0-9]*\) ms'
timing "resource fetch" 'resource [^ ]* fetched in \([0-9]*\) ms'
timing "attester start to serving" 'serving \([0-9]*\) ms after it started'
timing "attester cpu: exec to main (loading)" 'cpu: \([0-9]*\) ms to main'
timing "attester cpu: in all until serving" 'ms to main, \([0-9]*\) ms in all'
timing "agent: attester fork to ready" 'coffer-attester ready (pid [0-9]*; \([0-9]*\) ms after'
timing "agent waited for the attester at create" 'ms after it started, \([0-9]*\) ms waited'
# BENCH_LOG=FILE keeps containerd's log (shim, coffer-vmm, guest console) for a closer look
[ -z "${BENCH_LOG:-}" ] || cp "$T/c/containerd.log" "$BENCH_LOG"
