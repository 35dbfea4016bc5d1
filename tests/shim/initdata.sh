#!/usr/bin/env bash
# The pod's init-data through containerd, the shim and the agent (process
# backend: the agent is a host process, so the sample binding stands in for
# the TEE's HOST_DATA / MRCONFIGID; the TEE paths are unit-tested with a fake
# guest in tests/agent). Proves: a well-formed annotation reaches the agent,
# which writes it (0400) for the guest's readers; the config's init_data file
# is the default; with sample attestation the agent checks the digest the
# shim bound; a hostile host handing the guest other bytes than it hashed
# (the test_hostile_init_data hook) gets the pod refused naming both
# digests; malformed annotations (bad base64, not gzip, gzip bomb, wrong
# version or algorithm, duplicate keys) and an oversized file fail the
# create naming the problem; a TEE profile without init-data is refused.
. "$(dirname "$0")/lib.sh"
start_containerd
A=io.coffer.init-data
doc() { # doc ALG EXTRA_DATA_LINES
  printf 'version = "0.1.0"\nalgorithm = "%s"\n\n[data]\n"aa.toml" = '"'''"'\n[token_configs.kbs]\nurl = "https://kbs.example:8080"\n'"'''"'\n"coffer.toml" = '"'''"'\n[secrets]\ndb = "kbs:///default/db/password"\n'"'''"'\n"policy.rego" = "package agent_policy"\n%s' "$1" "${2:-}"
}
enc() { gzip -c | base64 -w0; }
config() { # config NAME EXTRA_JSON
  sed "s|}\$|, $2}|" "$CONFIG" >"$T/$1.json"
}
refused() { # refused WHAT EXPECTED CONFIG ANNOTATION_VALUE
  local err rc
  set +e
  if [ -n "$4" ]; then
    err=$(c run --rm --runtime io.containerd.coffer.v2 --runtime-config-path "$3" --annotation "$A=$4" $IMG t1 echo x 2>&1)
  else
    err=$(c run --rm --runtime io.containerd.coffer.v2 --runtime-config-path "$3" $IMG t1 echo x 2>&1)
  fi
  rc=$?
  set -e
  c c rm t1 >/dev/null 2>&1 || true
  [ $rc != 0 ] || fail "$1: the pod ran"
  grep -qF -- "$2" <<<"$err" || fail "$1: error does not say \"$2\": $err"
  echo "ok: $1 refused: $(grep -F -- "$2" <<<"$err" | head -1 | cut -c1-400)"
}

log "a well-formed annotation reaches the agent, which writes initdata.toml and each [data] entry (0400)"
doc sha384 >"$T/good.toml"
c run -d "${RT[@]}" --annotation "$A=$(enc <"$T/good.toml")" $IMG t1 sleep 30
f=$(find "$STATE" -path '*/agent/initdata/initdata.toml' | head -1)
[ -n "$f" ] || fail "no initdata.toml under $STATE"
cmp "$f" "$T/good.toml" || fail "initdata.toml differs from the pod's document"
d=$(dirname "$f")
[ "$(stat -c %a "$f")" = 400 ] || fail "initdata.toml mode $(stat -c %a "$f")"
[ "$(cat "$d/policy.rego")" = "package agent_policy" ] || fail "policy.rego: $(cat "$d/policy.rego")"
grep -q 'url = "https://kbs.example:8080"' "$d/aa.toml" || fail "aa.toml: $(cat "$d/aa.toml")"
[ "$(stat -c %a "$d/coffer.toml")" = 400 ] || fail "coffer.toml mode"
wait_for 5 grep -q "not verified: no TEE and no sample binding" "$T/c/containerd.log" || fail "agent did not log the unverified plain init-data"
c task kill -s KILL t1; sleep 0.5; c task rm -f t1 >/dev/null 2>&1 || true; c c rm t1

log "the config's init_data file is the default; with sample attestation the agent verifies the digest the shim bound"
doc sha512 >"$T/default.toml"
config sample "\"init_data\": \"$T/default.toml\", \"sample_attestation\": true"
out=$(c run --rm --runtime io.containerd.coffer.v2 --runtime-config-path "$T/sample.json" $IMG t1 echo sampled)
[ "$out" = sampled ] || fail "sample pod: '$out'"
wait_for 5 grep -q "verified against the sample binding (sha512)" "$T/c/containerd.log" || fail "no verification logged"
# and the annotation wins over the default
out=$(c run --rm --runtime io.containerd.coffer.v2 --runtime-config-path "$T/sample.json" \
      --annotation "$A=$(enc <"$T/good.toml")" $IMG t1 echo annotated)
[ "$out" = annotated ] || fail "annotated sample pod: '$out'"
wait_for 5 grep -q "verified against the sample binding (sha384)" "$T/c/containerd.log" || fail "the annotation did not win"

log "hostile host: the guest gets other bytes than the shim hashed -> the pod does not start"
config hostile "\"init_data\": \"$T/default.toml\", \"sample_attestation\": true, \"test_hostile_init_data\": true"
refused "init-data changed after hashing" "does not match the sample binding" "$T/hostile.json" ""
grep -q "sandbox .* refused: init-data digest [0-9a-f]* (sha512 of the document given) does not match the sample binding [0-9a-f]*" \
  "$T/c/containerd.log" || fail "agent's refusal does not name both digests"

log "malformed annotations are refused by the shim naming the problem"
refused "bad base64" "is not base64" "$CONFIG" 'not*base64'
refused "not gzip" "is not gzip" "$CONFIG" "$(base64 -w0 <"$T/good.toml")"
refused "gzip bomb" "inflates to more than 1048576 bytes" "$CONFIG" "$(head -c 64M /dev/zero | gzip -9 | base64 -w0)"
refused "truncated gzip" "bad gzip data" "$CONFIG" "$(gzip -c <"$T/good.toml" | head -c 40 | base64 -w0)"
refused "wrong version" 'version "0.2.0" is not supported' "$CONFIG" "$(sed 's/0.1.0/0.2.0/' "$T/good.toml" | enc)"
refused "wrong algorithm" 'algorithm "sha-256"' "$CONFIG" "$(sed 's/sha384/sha-256/' "$T/good.toml" | enc)"
refused "duplicate keys" 'duplicate key "policy.rego"' "$CONFIG" "$(doc sha256 '"policy.rego" = "again"
' | enc)"
refused "a bad entry" 'coffer.toml [secrets]: db must be' "$CONFIG" "$(sed 's|kbs:///default/db/password|file:///etc/shadow|' "$T/good.toml" | enc)"
head -c $((1024 * 1024 + 1)) /dev/zero | tr '\0' '#' >"$T/big.toml"
config big "\"init_data\": \"$T/big.toml\""

refused "oversized init_data file" "init_data" "$T/big.json" ""

log "a TEE profile without init-data is refused before any VM starts"
config tee '"profile": "sev-snp"'
refused "sev-snp without init-data" "profile sev-snp needs init-data" "$T/tee.json" ""
echo "PASS: init-data checked by the shim and verified by the agent"
