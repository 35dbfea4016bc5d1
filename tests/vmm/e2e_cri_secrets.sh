#!/usr/bin/env bash
# Secrets before start and tokens after, in a VM (plain profile, sample
# attester): a coffer-kbs started here on the host side of a CNI bridge
# (TLS, its certificate pinned by the pod's init-data), a CRI pod whose
# init-data names it. Proves: a container gets exactly the stored bytes of
# its secret; a secret the broker's policy denies fails CreateContainer with
# the broker's reason; the token file verifies with the broker's JWKS and is
# refreshed (token lifetime 20 s); and the secret held by the running pod is
# in no file under the state directories, containerd's directories and logs,
# and not in the shim's or coffer-vmm's memory (/proc/PID/mem).
E2E_ATTESTER=1
. "$(dirname "$0")/e2e_lib.sh"
/usr/bin/python3 -c 'import grpc, grpc_tools, jwcrypto' 2>/dev/null || skip "python3-grpcio / grpc-tools / jwcrypto missing"
[ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/host-local ] || skip "containernetworking-plugins missing"
KBS=$BUILD/kbs/coffer-kbs; KC=$BUILD/kbs/coffer-kbs-client
[ -x "$KBS" ] || skip "coffer-kbs not built"
LIFETIME=20

BR=cofs${T##*.}; BR=${BR:0:15}
SUBNET=""
for n in $(seq 229 -1 200); do
  grep -q "^10\.231\.$n\." <<<"$(ip route show)" && continue
  SUBNET=10.231.$n; break
done
[ -n "$SUBNET" ] || skip "no free 10.231.x.0/24 for the test bridge"
for p in bridge host-local loopback; do ln -sf /usr/lib/cni/$p "$T/c/cni/bin/$p"; done
cat > "$T/c/cni/net.d/10-coffer-sec.conflist" <<JSON
{"cniVersion": "0.4.0", "name": "coffer-sec", "plugins": [
  {"type": "bridge", "bridge": "$BR", "isGateway": true, "ipMasq": false, "mtu": 1450,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "$SUBNET.0/24", "gateway": "$SUBNET.1"}]],
            "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "$T/c/cni/ipam"}}]}
JSON
net_cleanup() { [ -n "${KBS_PID:-}" ] && kill "$KBS_PID" 2>/dev/null; ip link del "$BR" 2>/dev/null || true; }
trap 'rc=$?; net_cleanup; (exit $rc); e2e_cleanup' EXIT
# the shim binds the init-data digest for the sample attester
sed -i 's|}$|, "sample_attestation": true}|' "$CONFIG"

log "broker: TLS for $SUBNET.1, sample evidence, a policy, secrets one and two"
K=$T/kbs; mkdir -p "$K/res/default/key" "$K/res/other/key"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$K/ca.key" -out "$K/ca.crt" \
  -days 2 -subj "/CN=coffer e2e ca" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$K/srv.key" -out "$K/srv.csr" \
  -subj "/CN=$SUBNET.1" 2>/dev/null
printf 'subjectAltName=IP:%s\n' "$SUBNET.1" >"$K/san.ext"
openssl x509 -req -in "$K/srv.csr" -CA "$K/ca.crt" -CAkey "$K/ca.key" -CAcreateserial -out "$K/srv.crt" \
  -days 2 -extfile "$K/san.ext" 2>/dev/null
ONE=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
TWO=coffer-secret-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '%s' "$ONE" >"$K/res/default/key/one"
printf '%s' "$TWO" >"$K/res/default/key/two"
printf denied >"$K/res/other/key/one"
cat >"$K/policy.json" <<'P'
{"rules": [{"name": "sample-keys", "resource": "default/key/*", "tee": ["sample"],
            "status": ["affirming", "warning", "contraindicated"]}]}
P
cat >"$K/kbs.json" <<J
{"listen": "0.0.0.0:0", "tls": {"cert": "$K/srv.crt", "key": "$K/srv.key"}, "resource_dir": "$K/res",
 "policy": "$K/policy.json", "sample": {"enabled": true}, "token_lifetime_s": $LIFETIME}
J
"$KBS" --config "$K/kbs.json" >"$K/kbs.out" 2>"$K/kbs.log" &
KBS_PID=$!
for _ in $(seq 50); do grep -q "listening on" "$K/kbs.out" && break; sleep 0.1; done
PORT=$(sed -n 's/.*listening on .*:\([0-9]*\)$/\1/p' "$K/kbs.out")
[ -n "$PORT" ] || fail "coffer-kbs did not start: $(cat "$K/kbs.log")"
URL=https://$SUBNET.1:$PORT
{
  printf 'version = "0.1.0"\nalgorithm = "sha384"\n[data]\n"aa.toml" = '"'''"'\n[token_configs.kbs]\nurl = "%s"\ncert = """\n' "$URL"
  cat "$K/ca.crt"
  printf '"""\n'"'''"'\n"coffer.toml" = '"'''"'\n[attestation]\ntoken = true\ntimeout_ms = 60000\n'"'''"'\n'
} >"$T/init.toml"
INIT=$(gzip -c <"$T/init.toml" | base64 -w0)
sleep 1 # containerd's CRI picks the CNI conf dir up by inotify

log "a CRI pod whose init-data names the broker"
OUT=$T/sec.out
mkfifo "$T/go"
mkdir -p "$T/c/podlogs"
(timeout 600 /usr/bin/python3 "$V/e2e_cri_secrets.py" "$H" "$CONTAINERD_ADDRESS" "$INIT" "$LIFETIME" "$T/c/podlogs" \
   <"$T/go" >"$OUT" 2>&1) &
py=$!
exec 7>"$T/go"
up() { grep -q '^READY=1' "$OUT" || ! kill -0 $py 2>/dev/null; }
wait_for 500 up; grep -q '^READY=1' "$OUT" || { cat "$OUT"; fail "the pod did not come up"; }
cat "$OUT"
grep -q '^SHOW_EXIT=0' "$OUT" || fail "container show failed"
log=$(sed -n 's/^SHOW_LOG=//p' "$OUT")
got=$(sed -E 's/^[^ ]+ (stdout|stderr) [FP] //' "$log" | tr -d '\n')
[ "$got" = "$ONE" ] || fail "container show printed '$got', the stored secret is '$ONE'"
echo "ok: the container printed exactly the stored secret one"
grep -q '^DENIED=.*no rule covers other/key/one' "$OUT" || fail "a denied secret did not fail with the broker's reason: $(grep ^DENIED "$OUT")"
echo "ok: $(grep -o 'secret bad.*' "$OUT" | cut -c1-300)"

klog=$(sed -n 's/^KEEP_LOG=//p' "$OUT")
wait_for 120 grep -q 'TOKEN2=' "$klog" || fail "container keep did not print its second token: $(cat "$klog")"
line() { sed -E 's/^[^ ]+ (stdout|stderr) [FP] //' "$klog" | sed -n "s/^$1=//p"; }
[ "$(line HASH)" = "$(printf '%s' "$TWO" | sha256sum | cut -d' ' -f1)" ] || fail "secret two's hash in the container differs"
[ "$(line MODE)" = "400 0" ] || fail "secret two mode/owner: $(line MODE)"
"$KC" --url "https://127.0.0.1:$PORT" --ca "$K/ca.crt" export-jwk >"$T/jwks.json" 2>/dev/null ||
  "$KC" --url "$URL" --ca "$K/ca.crt" export-jwk >"$T/jwks.json"
/usr/bin/python3 - "$T/jwks.json" "$(line TOKEN1)" "$(line TOKEN2)" <<'PY' || fail "tokens do not verify or were not refreshed"
import json, sys
from jwcrypto import jwk, jwt
keys = jwk.JWKSet.from_json(open(sys.argv[1]).read())
c1, c2 = (json.loads(jwt.JWT(jwt=t, key=keys, check_claims=False).claims) for t in sys.argv[2:4])
assert c1["iat"] < c2["iat"], (c1["iat"], c2["iat"])
print("ok: token verifies with the broker's JWKS, refreshed (iat %d -> %d), claims: %s" %
      (c1["iat"], c2["iat"], json.dumps(c2)[:600]))
PY

log "the secret held by the running pod is nowhere on the host"
shim=""; vmm=""
for p in /proc/[0-9]*; do
  exe=$(readlink "$p/exe" 2>/dev/null) || continue
  tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -q -- "$CONTAINERD_ADDRESS\|$STATE/" || continue
  [ "$exe" = "$SHIM_BIN" ] && shim="$shim ${p#/proc/}"
  [ "$exe" = "$VMM" ] && vmm="$vmm ${p#/proc/}"
done
[ -n "$shim" ] || fail "no shim process found"
[ -n "$vmm" ] || echo "note: no coffer-vmm process runs while the pod runs (it is a helper per call)"
# the scan can fail: a process holding the needle in its argv is found
# (two commands: a lone `sleep` would replace bash, needle and all)
bash -c 'x=$1; sleep 60; echo "$x" >/dev/null' holder "$TWO" </dev/null >/dev/null 2>&1 & holder=$!
sleep 0.2
scan() {
/usr/bin/python3 - "$TWO" "$@" <<'PY'

import re, sys
needle = sys.argv[1].encode()
for pid in sys.argv[2:]:
    n = 0
    with open("/proc/%s/maps" % pid) as maps, open("/proc/%s/mem" % pid, "rb", 0) as mem:
        for l in maps:
            m = re.match(r"([0-9a-f]+)-([0-9a-f]+) (\S+)", l)
            if "r" not in m.group(3):
                continue
            a, b = int(m.group(1), 16), int(m.group(2), 16)
            try:
                mem.seek(a)
                data = mem.read(b - a)
            except OSError:
                continue
            n += len(data)
            if needle in data:
                print("FOUND in pid %s at %s" % (pid, l.strip()))
                sys.exit(1)
    print("ok: pid %s: %d bytes of memory read, no secret" % (pid, n))
PY
}
scan "$holder" >/dev/null && fail "the memory scan does not find the secret where it is (broken scan)"
pkill -P $holder sleep; kill $holder
scan $shim $vmm || fail "secret two found in the shim's or coffer-vmm's memory"
# the needle check can fail: the same scan finds secret one where it was printed
grep -rqF "$ONE" "$T/c" 2>/dev/null || fail "the scan cannot see secret one in containerd's logs (broken scan)"
hits=$(grep -rlF "$TWO" "$STATE" "$T/c" /run/containerd /var/lib/containerd 2>/dev/null | grep -v "^$K/" || true)
[ -z "$hits" ] || fail "secret two on the host in: $hits"
echo "ok: secret two is in no file under $STATE, $T/c (containerd's root, state and log) or /run/containerd"
echo go >&7; exec 7>&-
wait $py || { cat "$OUT"; fail "stopping the pod failed"; }
echo PASS
