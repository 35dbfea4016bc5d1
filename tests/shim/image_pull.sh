#!/usr/bin/env bash
# Guest pull through containerd, the shim and the agent (process backend:
# the agent and coffer-image-pull are host processes, so this proves the
# chain, the policy and the errors, not confidentiality; the VM test does
# that). A local registry (Debian's docker-registry) serves one image, plain
# and encrypted by skopeo (--encryption-key jwe:, an implementation nobody
# here wrote); a coffer-kbs holds the private key. The container asks for
# the image in the guest (io.coffer.image-pull=guest, the image named as
# CRI names it); the host's own rootfs (the harness's busybox) has no
# /coffer-marker, so reading it proves the container runs the pulled image.
# Proves: the plain image runs; the encrypted one runs with the key the
# broker released, for a JWE recipient (skopeo) and for CoCo's
# attestation-agent keyprovider packet (tests/shim/keyprovider_encrypt.py);
# without a key it fails naming the layer; a policy
# pinning another digest refuses it before any layer; a byte flipped in the
# registry's copy of the encrypted layer fails naming the layer's digest.
. "$(dirname "$0")/lib.sh"
KBS=$BUILD/kbs/coffer-kbs
ATT=$BUILD/agent/attester/coffer-attester
PULL=$BUILD/agent/pull/coffer-image-pull
[ -x "$KBS" ] && [ -x "$ATT" ] && [ -x "$PULL" ] || skip "coffer-kbs / coffer-attester / coffer-image-pull not built"
for t in skopeo docker-registry jq openssl; do command -v $t >/dev/null || skip "$t missing (scripts/install-deps.sh)"; done
[ -x /bin/busybox ] || skip "/bin/busybox missing (busybox-static)"
export COFFER_AGENT_ATTESTER=$ATT COFFER_AGENT_IMAGE_PULL=$PULL
start_containerd

log "a registry with the image, plain and encrypted"
bash "$SRC/tests/critest/registry.sh" start "$T/reg" >"$T/reg.log" 2>&1 || {
  rc=$?; [ $rc = 77 ] && skip "$(cat "$T/reg.log")"; fail "registry: $(cat "$T/reg.log")"; }
. "$T/reg/env"
MARK=coffer-marker-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
python3 "$SRC/tests/shim/marker_image.py" "$T/img" /bin/busybox "$MARK"
openssl genrsa -out "$T/rsa.pem" 2048 2>/dev/null
openssl rsa -in "$T/rsa.pem" -pubout -out "$T/rsa.pub" 2>/dev/null
R=$REGISTRY_ADDR/coffer
skopeo copy -q --dest-tls-verify=false "oci:$T/img:img" "docker://$R/plain:1"
skopeo copy -q --dest-tls-verify=false --encryption-key "jwe:$T/rsa.pub" "oci:$T/img:img" "docker://$R/enc:1"
# CoCo's keyprovider scheme: the layer keys sealed under a key-encryption key the broker holds
# (beginning with '{', as one random key in 256 does: it must still be a KEK, not a JWK)
{ printf '{'; head -c 31 /dev/urandom; } >"$T/kek"
python3 "$SRC/tests/shim/keyprovider_encrypt.py" "$T/img" "$T/img-kp" "$T/kek" kbs:///default/image-key/kek
skopeo copy -q --dest-tls-verify=false "oci:$T/img-kp:img" "docker://$R/kp:1"
DPLAIN=$(skopeo inspect --tls-verify=false "docker://$R/plain:1" | jq -r .Digest)
ENC_LAYER=$(skopeo inspect --raw --tls-verify=false "docker://$R/enc:1" | jq -r '.layers[1].digest')
skopeo inspect --raw --tls-verify=false "docker://$R/enc:1" | jq -e '.layers[1].mediaType | endswith("+encrypted")' >/dev/null ||
  fail "skopeo did not encrypt the layers"

log "a broker holding the private key"
mkdir -p "$T/res/default/image-key"
cp "$T/rsa.pem" "$T/res/default/image-key/rsa"
cp "$T/kek" "$T/res/default/image-key/kek"
cat >"$T/policy.json" <<'P'
{"rules": [{"name": "sample-keys", "resource": "default/image-key/*", "tee": ["sample"],
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
initdata() { # keys-line extra-entries
  printf 'version = "0.1.0"\nalgorithm = "sha256"\n[data]\n"aa.toml" = '"'''"'\n[token_configs.kbs]\nurl = "%s"\n'"'''"'\n' "$URL"
  printf '"coffer.toml" = '"'''"'\n[image]\n%s\ninsecure_http = true\n'"'''"'\n%s' "$1" "${2:-}"
  echo
}
b64() { gzip -c | base64 -w0; }
KEYS=$(initdata 'decryption_keys = ["kbs:///default/image-key/rsa", "kbs:///default/image-key/kek"]' | b64)
NOKEYS=$(initdata '' | b64)
RSAONLY=$(initdata 'decryption_keys = ["kbs:///default/image-key/rsa"]' | b64)
PINNED=$(initdata 'decryption_keys = ["kbs:///default/image-key/rsa"]' \
  "\"policy.json\" = '{\"version\": 1, \"default\": \"allow\", \"containers\": [{\"name\": \"t1\", \"image\": {\"digests\": [\"$DPLAIN\"]}}]}'" | b64)

pull_run() { # init-data image
  c run --rm "${RT[@]}" --annotation "io.coffer.init-data=$1" --annotation io.coffer.image-pull=guest \
    --annotation "io.kubernetes.cri.image-name=$2" $IMG t1 /bin/busybox cat /coffer-marker 2>&1
}
must_fail() { # what needle init-data image
  local out rc
  set +e; out=$(pull_run "$3" "$4"); rc=$?; set -e
  c c rm t1 >/dev/null 2>&1 || true
  [ $rc != 0 ] || fail "$1: the container ran: $out"
  grep -q -- "$2" <<<"$out" || fail "$1: the error does not name '$2': $out"
  echo "ok: $1: $(grep -o 'image [^"]*' <<<"$out" | head -1 | cut -c1-400)"
}

log "the plain image, pulled by the agent"
out=$(pull_run "$KEYS" "$R/plain:1") || fail "plain image: $out"
[ "$out" = "$MARK" ] || fail "plain image: the container printed '$out', not the marker"
grep -q "image $R/plain:1 is pulled in the guest" "$T/c/containerd.log" || fail "the shim did not ask for a guest pull"
echo "ok: the container runs the pulled image ($DPLAIN)"

log "the encrypted image, decrypted with the key the broker released"
out=$(pull_run "$KEYS" "$R/enc:1") || fail "encrypted image: $out"
[ "$out" = "$MARK" ] || fail "encrypted image: the container printed '$out', not the marker"
grep -q "application/vnd.oci.image.layer.v1.tar+gzip+encrypted -> application/vnd.oci.image.layer.v1.tar+gzip" \
  "$T/c/containerd.log" || fail "the agent did not log the decrypted layer"
echo "ok: the encrypted image runs"

log "the keyprovider scheme: the key-encryption key the layers name, from the broker"
out=$(pull_run "$KEYS" "$R/kp:1") || fail "keyprovider image: $out"
[ "$out" = "$MARK" ] || fail "keyprovider image: the container printed '$out', not the marker"
echo "ok: the image encrypted for the attestation-agent keyprovider runs"

log "refusals"
must_fail "a keyprovider key not released to the guest" "not one of the keys released" "$RSAONLY" "$R/kp:1"
must_fail "no key released" "no decryption key was released" "$NOKEYS" "$R/enc:1"
must_fail "a policy pinning another digest" "not one of the digests the policy allows" "$PINNED" "$R/enc:1"
out=$(pull_run "$PINNED" "$R/plain:1") || fail "the pinned digest: $out"
[ "$out" = "$MARK" ] || fail "the pinned digest: '$out'"
echo "ok: the pinned digest runs"
blob=$T/reg/storage/docker/registry/v2/blobs/sha256/${ENC_LAYER:7:2}/${ENC_LAYER:7}/data
[ -f "$blob" ] || fail "the registry's copy of $ENC_LAYER is not at $blob"
size=$(stat -c %s "$blob")
byte=$(od -An -tu1 -j $((size / 2)) -N1 "$blob" | tr -d ' ')
printf "\\$(printf %o $(((byte + 1) % 256)))" | dd of="$blob" bs=1 seek=$((size / 2)) conv=notrunc status=none
[ "$(stat -c %s "$blob")" = "$size" ] || fail "the flip changed the blob's size"
must_fail "a byte flipped in the registry's encrypted layer" "${ENC_LAYER}" "$KEYS" "$R/enc:1"
echo PASS
