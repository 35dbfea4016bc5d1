#!/usr/bin/env bash
# Secrets and tokens through containerd, the shim, the agent and
# coffer-attester (process backend: the agent and the attester are host
# processes, so this proves the chain and the errors, not confidentiality;
# the VM test does that). A coffer-kbs started here (plain HTTP on loopback,
# sample evidence enabled, a policy) holds the secret. Proves: a pod whose
# init-data names the broker and whose container asks for a secret gets
# exactly the stored bytes at /run/coffer/secrets/<name>; a resource the
# broker's policy denies fails the create with the broker's reason, as
# containerd reports it; a container asking for a token sees a token that
# verifies with the broker's key; a pod without init-data asking for a
# secret fails naming why.
. "$(dirname "$0")/lib.sh"
KBS=$BUILD/kbs/coffer-kbs
ATT=$BUILD/agent/attester/coffer-attester
KC=$BUILD/kbs/coffer-kbs-client
[ -x "$KBS" ] && [ -x "$ATT" ] || skip "coffer-kbs / coffer-attester not built"
export COFFER_AGENT_ATTESTER=$ATT
start_containerd

mkdir -p "$T/res/default/key" "$T/res/other/key"
SECRET=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '%s' "$SECRET" >"$T/res/default/key/one"
printf denied >"$T/res/other/key/one"
cat >"$T/policy.json" <<'P'
{"rules": [{"name": "sample-keys", "resource": "default/key/*", "tee": ["sample"],
            "status": ["affirming", "warning", "contraindicated"]}]}
P
cat >"$T/kbs.json" <<K
{"listen": "127.0.0.1:0", "insecure_http": true, "resource_dir": "$T/res",
 "policy": "$T/policy.json", "sample": {"enabled": true}}
K
"$KBS" --config "$T/kbs.json" >"$T/kbs.out" 2>"$T/kbs.log" &
for _ in $(seq 50); do grep -q "listening on" "$T/kbs.out" && break; sleep 0.1; done
URL=$(sed -n 's/.*listening on //p' "$T/kbs.out")
[ -n "$URL" ] || fail "coffer-kbs did not start: $(cat "$T/kbs.log")"
cat >"$T/init.toml" <<I
version = "0.1.0"
algorithm = "sha256"
[data]
"aa.toml" = '''
[token_configs.kbs]
url = "$URL"
'''
"coffer.toml" = '''
[secrets]
one = "kbs:///default/key/one"
[attestation]
token = true
'''
I
INIT=$(gzip -c <"$T/init.toml" | base64 -w0)

log "a container asking for a secret prints exactly the stored bytes"
out=$(c run --rm "${RT[@]}" --annotation "io.coffer.init-data=$INIT" \
  --annotation io.coffer.secret.one=kbs:///default/key/one --annotation io.coffer.token=true \
  $IMG t1 sh -c 'cat /run/coffer/secrets/one; echo; stat -c %a /run/coffer/secrets/one; cat /run/coffer/attestation-token')
got=$(sed -n 1p <<<"$out")
[ "$got" = "$SECRET" ] || fail "secret: got '$got', want '$SECRET'"
[ "$(sed -n 2p <<<"$out")" = 400 ] || fail "mode: $(sed -n 2p <<<"$out")"
tok=$(sed -n 3p <<<"$out")
"$KC" --url "$URL" export-jwk >"$T/jwks.json"
/usr/bin/python3 - "$T/jwks.json" "$tok" <<'PY' || fail "the container's token does not verify with the broker's key"
import json, sys
from jwcrypto import jwk, jwt
t = jwt.JWT(jwt=sys.argv[2], key=jwk.JWKSet.from_json(open(sys.argv[1]).read()), check_claims=False)
c = json.loads(t.claims)
assert c["iss"] == "coffer-kbs" and "sample" in c["submods"]["cpu0"]["ear.veraison.annotated-evidence"], c
PY
echo "ok: secret, mode 0400, token verifies"

log "a resource the broker's policy denies fails the create with the broker's reason"
set +e
err=$(c run --rm "${RT[@]}" --annotation "io.coffer.init-data=$INIT" \
  --annotation io.coffer.secret.bad=kbs:///other/key/one $IMG t1 echo ran 2>&1)
rc=$?
set -e
c c rm t1 >/dev/null 2>&1 || true
[ $rc != 0 ] || fail "the pod with a denied secret ran: $err"
grep -q "no rule covers other/key/one" <<<"$err" || fail "containerd's error lacks the broker's reason: $err"
echo "ok: $(grep -o 'secret bad[^"]*' <<<"$err" | head -1 | cut -c1-300)"

log "a pod without init-data asking for a secret names why it cannot have one"
set +e
err=$(c run --rm "${RT[@]}" --annotation io.coffer.secret.one=kbs:///default/key/one $IMG t1 echo ran 2>&1)
rc=$?
set -e
c c rm t1 >/dev/null 2>&1 || true
[ $rc != 0 ] && grep -q "no init-data" <<<"$err" || fail "no init-data: rc $rc: $err"
echo "PASS"
