#!/usr/bin/env bash
# Secrets before start and tokens after, in a VM (plain profile, sample
# attester): a coffer-kbs started here on the host side of a CNI bridge
# (TLS, its certificate pinned by the pod's init-data), a CRI pod whose
# init-data names it. Proves: a container gets exactly the stored bytes of
# its secret; a secret the broker's policy denies fails CreateContainer with
# the broker's reason; the token file verifies with the broker's JWKS and is
# refreshed (token lifetime 20 s); a container's POST /v1/token on
# /run/coffer/tee.sock (a static tee_client mounted into it) returns a token
# that verifies with the broker's JWKS and carries the audience and nonce it
# asked for, and a bad nonce gets 400 with a reason; the secret held by the
# running pod is in no file under the state directories, containerd's
# directories and logs, and not in the shim's or coffer-vmm's memory
# (/proc/PID/mem). Then the relay in a real VM: a host-network pod (no NIC)
# whose init-data names the broker at 127.0.0.1 (reachable from the guest only
# through the shim's relay and relay_proxy.py, the host's side) gets its
# secret; once the host flips bits in the relayed records, a secret asked for
# fails the container and its bytes reach neither the container nor the host.
E2E_ATTESTER=1
. "$(dirname "$0")/e2e_lib.sh"
/usr/bin/python3 -c 'import grpc, grpc_tools, jwcrypto' 2>/dev/null || skip "python3-grpcio / grpc-tools / jwcrypto missing"
KBS=$BUILD/kbs/coffer-kbs; KC=$BUILD/kbs/coffer-kbs-client
[ -x "$KBS" ] || skip "coffer-kbs not built"
[ -x "$BUILD/tests/vmm/tee_client" ] || skip "tests/vmm/tee_client not built"
LIFETIME=20

e2e_cni_bridge cofs 229 200
net_cleanup() { # under set -e: every step must succeed or be excused
  [ -z "${KBS_PID:-}" ] || kill "$KBS_PID" 2>/dev/null || true
  [ -z "${PROXY_PID:-}" ] || kill "$PROXY_PID" 2>/dev/null || true
  # the CRI driver (timeout, then python): a failed check must not leave it running
  if [ -n "${py:-}" ]; then pkill -TERM -P "$py" 2>/dev/null || true; kill "$py" 2>/dev/null || true; fi
  ip link del "$BR" 2>/dev/null || true
}
trap 'rc=$?; set +e; net_cleanup; (exit $rc); e2e_cleanup' EXIT
# the shim binds the init-data digest for the sample attester
sed -i 's|}$|, "sample_attestation": true}|' "$CONFIG"

log "broker: TLS for $SUBNET.1, sample evidence, a policy, secrets one and two"
K=$T/kbs; mkdir -p "$K/res/default/key" "$K/res/other/key"
e2e_pki "$K"
ONE=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
TWO=coffer-secret-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '%s' "$ONE" >"$K/res/default/key/one"
printf '%s' "$TWO" >"$K/res/default/key/two"
THREE=coffer-secret-three-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '%s' "$THREE" >"$K/res/default/key/three"
NONCE=coffer-nonce-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
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
: >"$T/proxy.out"
/usr/bin/python3 "$V/relay_proxy.py" "$PORT" "$T/hostile" >"$T/proxy.out" 2>&1 &
PROXY_PID=$!
wait_for 10 grep -q '^PORT=' "$T/proxy.out" || fail "relay_proxy.py did not start: $(cat "$T/proxy.out")"
PPORT=$(sed -n 's/^PORT=//p' "$T/proxy.out")
initdata() {
{
  printf 'version = "0.1.0"\nalgorithm = "sha384"\n[data]\n"aa.toml" = '"'''"'\n[token_configs.kbs]\nurl = "%s"\ncert = """\n' "$URL"
  cat "$K/ca.crt"
  printf '"""\n'"'''"'\n"coffer.toml" = '"'''"'\n[attestation]\ntoken = true\ntimeout_ms = 60000\n'"'''"'\n'
}
}
initdata >"$T/init.toml"
INIT=$(gzip -c <"$T/init.toml" | base64 -w0)
URL=https://127.0.0.1:$PPORT initdata >"$T/relay-init.toml"
RELAY_INIT=$(gzip -c <"$T/relay-init.toml" | base64 -w0)
mkdir -p "$T/tc"; cp "$BUILD/tests/vmm/tee_client" "$T/tc/"
sleep 1 # containerd's CRI picks the CNI conf dir up by inotify

log "a CRI pod whose init-data names the broker"
OUT=$T/sec.out
mkfifo "$T/go"
mkdir -p "$T/c/podlogs"
(timeout 1200 /usr/bin/python3 "$V/e2e_cri_secrets.py" "$H" "$CONTAINERD_ADDRESS" "$INIT" "$LIFETIME" "$T/c/podlogs" \
   "$T/tc" "$NONCE" "$RELAY_INIT" "$T/hostile" \
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
# its guest runs the attester: the larger translation cache (vmm/common/spec.h)
n=0
for d in $(our_domains); do
  tb=$(qemu_tb_size "$d")
  [ "$tb" = kvm ] || [ "$tb" = 128 ] || fail "pod VM $d runs the attester with a TCG translation cache of '$tb' MiB, want 128"
  n=$((n + 1))
done
[ $n -ge 1 ] || fail "no VM of this test's pods is running while its container does"
echo "ok: the attesting pod's VM ($n running) has the larger translation cache ($tb)"
grep -q '^DENIED=.*no rule covers other/key/one' "$OUT" || fail "a denied secret did not fail with the broker's reason: $(grep ^DENIED "$OUT")"
echo "ok: $(grep -o 'secret bad.*' "$OUT" | cut -c1-300)"

klog=$(sed -n 's/^KEEP_LOG=//p' "$OUT")
wait_for 120 grep -q 'TOKEN2=' "$klog" || fail "container keep did not print its second token: $(cat "$klog")"
line() { sed -E 's/^[^ ]+ (stdout|stderr) [FP] //' "$klog" | sed -n "s/^$1=//p"; }
[ "$(line HASH)" = "$(printf '%s' "$TWO" | sha256sum | cut -d' ' -f1)" ] || fail "secret two's hash in the container differs"
[ "$(line MODE)" = "400 0" ] || fail "secret two mode/owner: $(line MODE)"
"$KC" --url "https://127.0.0.1:$PORT" --ca "$K/ca.crt" export-jwk >"$T/jwks.json" 2>/dev/null ||
  "$KC" --url "$URL" --ca "$K/ca.crt" export-jwk >"$T/jwks.json"
/usr/bin/python3 - "$T/jwks.json" "$(line TOKEN1)" "$(line TOKEN2)" "$(line TEE)" "$NONCE" <<'PY' || fail "tokens do not verify, were not refreshed, or tee.sock's lacks its audience or nonce"
import json, sys
from jwcrypto import jwk, jwt
keys = jwk.JWKSet.from_json(open(sys.argv[1]).read())
c1, c2 = (json.loads(jwt.JWT(jwt=t, key=keys, check_claims=False).claims) for t in sys.argv[2:4])
assert c1["iat"] < c2["iat"], (c1["iat"], c2["iat"])
print("ok: token verifies with the broker's JWKS, refreshed (iat %d -> %d), claims: %s" %
      (c1["iat"], c2["iat"], json.dumps(c2)[:600]))
status, tok = sys.argv[4].split()[:2]
assert status == "STATUS" and tok == "200", sys.argv[4][:300]
t = sys.argv[4].split()[2]
c3 = json.loads(jwt.JWT(jwt=t, key=keys, check_claims=False).claims)
assert c3["aud"] == "coffer-e2e", c3
assert c3["eat_nonce"] == sys.argv[5], (c3.get("eat_nonce"), sys.argv[5])
print("ok: tee.sock from inside the container: a token verifying with the broker's JWKS, aud %s, "
      "eat_nonce %s" % (c3["aud"], c3["eat_nonce"]))
PY
[[ "$(line TEEBAD)" == "STATUS 400 "*nonce* ]] || fail "a 5-byte nonce on tee.sock: '$(line TEEBAD)', not 400 naming the nonce"
echo "ok: a bad nonce on tee.sock: $(line TEEBAD | cut -c1-200)"

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
pkill -P $holder sleep || true; wait $holder 2>/dev/null || true # the holder ends once its sleep does
scan $shim $vmm || fail "secret two found in the shim's or coffer-vmm's memory"
# the needle check can fail: the same scan finds secret one where it was printed
grep -rqF "$ONE" "$T/c" 2>/dev/null || fail "the scan cannot see secret one in containerd's logs (broken scan)"
hits=$(grep -rlF "$TWO" "$STATE" "$T/c" /run/containerd /var/lib/containerd 2>/dev/null | grep -v "^$K/" || true)
[ -z "$hits" ] || fail "secret two on the host in: $hits"
echo "ok: secret two is in no file under $STATE, $T/c (containerd's root, state and log) or /run/containerd"
echo go >&7; exec 7>&-

log "the relay in a VM: a host-network pod reaches the broker at 127.0.0.1 through the shim"
wait $py || { cat "$OUT"; fail "the pods did not run or stop"; }
sed -n '/^DONE=1/,$p' "$OUT"
grep -q '^VIA_EXIT=0' "$OUT" || fail "the relay pod's container failed: $(grep ^VIA_EXIT "$OUT")"
vlog=$(sed -n 's/^VIA_LOG=//p' "$OUT")
got=$(sed -E 's/^[^ ]+ (stdout|stderr) [FP] //' "$vlog" | tr -d '\n')
[ "$got" = "$ONE" ] || fail "through the relay the container printed '$got', the stored secret is '$ONE'"
grep -q '^CONN hostile=0' "$T/proxy.out" || fail "no broker connection came through the host side of the relay"
grep -q "broker relay to https://127.0.0.1:$PPORT" "$T/c/containerd.log" || fail "the shim served no relay for the host-network pod"
echo "ok: the host-network pod got secret one through the relay ($(grep -c '^CONN' "$T/proxy.out") connection(s) on the host side)"
grep -q '^FLIPPED' "$T/proxy.out" || fail "the hostile host never got to flip a relayed record: $(cat "$T/proxy.out")"
tam=$(sed -n 's/^TAMPERED=//p' "$OUT")
[[ "$tam" != started* ]] || fail "a secret fetched through tampered records reached a started container: $tam"
why=$(sed -n 's/.*details = "\([^"]*\)".*/\1/p' <<<"$tam" | sed 's/.*container [0-9a-f]*: //')
# the guest's TLS refuses the records (handshake or MAC): curl names it
grep -qE '^secret three .*(SSL|TLS|Recv failure|receiving data)' <<<"$why" ||
  fail "the tampered fetch did not fail on TLS naming secret three: $tam"
grep -rqF "$THREE" "$T/c" "$STATE" /run/containerd 2>/dev/null && fail "secret three is on the host"
echo "ok: with the host flipping relayed bits the container failed: $why"
echo PASS
