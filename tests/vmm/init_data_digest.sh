#!/usr/bin/env bash
# coffer-vmm binds the init-data document a spec names (init_data_path) into
# the launch: its digest with the document's own algorithm, fitted to SNP
# hostData (32 B: sha384/sha512 truncated) and TDX mrConfigId (48 B: sha256
# zero-padded, sha512 truncated); openssl(1) and python's hashlib are the oracles. An empty
# file means no init-data; a malformed document, a spec with both the path
# and digests, or an unreadable path fails.
#   init_data_digest.sh HELPER GOLDEN_DIR
set -uo pipefail
helper=$1 golden=$2
command -v openssl >/dev/null || { echo "SKIP: openssl(1) missing"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
command -v jq >/dev/null || { echo "SKIP: jq missing"; exit 77; }
export COFFER_VMM_ACCEL_CACHE=
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
# spec NAME INITDATA_PATH OUT: the golden spec with its digests replaced by the path
spec() {
  jq --arg p "$2" 'del(.init_data_sha256, .init_data_sha384) | .init_data_path = $p' "$golden/$1.json" >"$3"
}
# hexfit ALG FILE N: the digest (the document's own algorithm) fitted to N bytes, base64
fit() {
  (openssl dgst "-$1" -binary "$2"; head -c 64 /dev/zero) | head -c "$3" | base64 -w0
}
for alg in sha256 sha384 sha512; do
  f=init-$alg
  printf 'algorithm = "%s"\nversion = "0.1.0"\n[data]\n"policy.rego" = "package x"\n' "$alg" >"$tmp/$f"
  hostdata=$(fit "$alg" "$tmp/$f" 32)
  mrconfigid=$(fit "$alg" "$tmp/$f" 48)
  # cross-check the digest with python's hashlib (a second implementation)
  want=$(python3 -c 'import hashlib,sys; print(hashlib.new(sys.argv[1], open(sys.argv[2],"rb").read()).hexdigest())' "$alg" "$tmp/$f")
  [ "$(base64 -d <<<"$hostdata" | od -An -tx1 | tr -d ' \n')" = "${want:0:64}" ] || { echo "FAIL: $alg digest self-check"; fail=1; }
  spec sev-snp "$tmp/$f" "$tmp/snp.json"
  spec tdx "$tmp/$f" "$tmp/tdx.json"
  snp=$("$helper" xml --spec "$tmp/snp.json") || { echo "FAIL: xml for snp/$f"; fail=1; continue; }
  tdx=$("$helper" xml --spec "$tmp/tdx.json") || { echo "FAIL: xml for tdx/$f"; fail=1; continue; }
  grep -q "<hostData>$hostdata</hostData>" <<<"$snp" || { echo "FAIL: $f: hostData is not $hostdata:"; grep hostData <<<"$snp"; fail=1; }
  grep -q "<mrConfigId>$mrconfigid</mrConfigId>" <<<"$tdx" || { echo "FAIL: $f: mrConfigId is not $mrconfigid:"; grep mrConfigId <<<"$tdx"; fail=1; }
  [ $fail = 0 ] && echo "ok: $f: hostData $hostdata, mrConfigId ${mrconfigid:0:16}..."
done
# an empty file: no init-data, no hostData / mrConfigId element
: >"$tmp/empty"
spec sev-snp "$tmp/empty" "$tmp/snp.json"
snp=$("$helper" xml --spec "$tmp/snp.json") || { echo "FAIL: xml for the empty init-data"; fail=1; }
if grep -q hostData <<<"$snp"; then echo "FAIL: empty init-data gave a hostData"; fail=1; else echo "ok: empty: no hostData"; fi
# not an init-data document: refused naming the problem
head -c 1000 /dev/urandom >"$tmp/random"
printf 'algorithm = "sha-256"\nversion = "0.1.0"\n[data]\n' >"$tmp/badalg"
for f in random badalg; do
  spec sev-snp "$tmp/$f" "$tmp/bad.json"
  if out=$("$helper" xml --spec "$tmp/bad.json" 2>&1); then echo "FAIL: $f accepted as init-data"; fail=1
  else grep -q "init-data" <<<"$out" || { echo "FAIL: unclear error for $f: $out"; fail=1; }; echo "ok: $f refused: ${out:0:120}"; fi
done
# both a path and digests: refused, naming the conflict
jq --arg p "$tmp/empty" '.init_data_path = $p' "$golden/sev-snp.json" >"$tmp/both.json"
if out=$("$helper" xml --spec "$tmp/both.json" 2>&1); then echo "FAIL: path + digests accepted"; fail=1
else grep -q "not both" <<<"$out" || { echo "FAIL: unclear error: $out"; fail=1; }; fi
spec sev-snp "$tmp/missing" "$tmp/missing.json"
if out=$("$helper" xml --spec "$tmp/missing.json" 2>&1); then echo "FAIL: missing init-data accepted"; fail=1
else grep -q "$tmp/missing" <<<"$out" || { echo "FAIL: error does not name the file: $out"; fail=1; }; fi
[ $fail = 0 ] && echo "PASS: init-data bound by coffer-vmm with its own algorithm and the fit rules"
exit $fail
