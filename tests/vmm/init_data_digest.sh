#!/usr/bin/env bash
# coffer-vmm hashes the init-data file a spec names (init_data_path) into the
# launch measurements: SNP hostData = base64(SHA-256), TDX mrConfigId =
# base64(SHA-384); checked against openssl(1) for a file and for an empty
# one. A spec with both the path and digests, or an unreadable path, fails.
#   init_data_digest.sh HELPER GOLDEN_DIR
set -uo pipefail
helper=$1 golden=$2
command -v openssl >/dev/null || { echo "SKIP: openssl(1) missing"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
export COFFER_VMM_ACCEL_CACHE=
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
# spec NAME INITDATA_PATH OUT: the golden spec with its digests replaced by the path
spec() {
  python3 - "$golden/$1.json" "$2" "$3" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
s.pop("init_data_sha256", None); s.pop("init_data_sha384", None)
s["init_data_path"] = sys.argv[2]
json.dump(s, open(sys.argv[3], "w"))
PY
}
printf 'algorithm = "sha384"\nversion = "0.1.0"\n[data]\n"policy.rego" = "package x"\n' >"$tmp/init-data"
: >"$tmp/empty"
head -c 100000 /dev/urandom >"$tmp/random"
for f in init-data empty random; do
  sha256=$(openssl dgst -sha256 -binary "$tmp/$f" | base64 -w0)
  sha384=$(openssl dgst -sha384 -binary "$tmp/$f" | base64 -w0)
  spec sev-snp "$tmp/$f" "$tmp/snp.json"
  spec tdx "$tmp/$f" "$tmp/tdx.json"
  snp=$("$helper" xml --spec "$tmp/snp.json") || { echo "FAIL: xml for snp/$f"; fail=1; continue; }
  tdx=$("$helper" xml --spec "$tmp/tdx.json") || { echo "FAIL: xml for tdx/$f"; fail=1; continue; }
  grep -q "<hostData>$sha256</hostData>" <<<"$snp" || { echo "FAIL: $f: hostData is not $sha256:"; grep hostData <<<"$snp"; fail=1; }
  grep -q "<mrConfigId>$sha384</mrConfigId>" <<<"$tdx" || { echo "FAIL: $f: mrConfigId is not $sha384:"; grep mrConfigId <<<"$tdx"; fail=1; }
  [ $fail = 0 ] && echo "ok: $f: hostData $sha256, mrConfigId ${sha384:0:16}..."
done
# both a path and digests: refused, naming the conflict
python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); s["init_data_path"]=sys.argv[2]; json.dump(s,open(sys.argv[3],"w"))' \
  "$golden/sev-snp.json" "$tmp/empty" "$tmp/both.json"
if out=$("$helper" xml --spec "$tmp/both.json" 2>&1); then echo "FAIL: path + digests accepted"; fail=1
else grep -q "not both" <<<"$out" || { echo "FAIL: unclear error: $out"; fail=1; }; fi
spec sev-snp "$tmp/missing" "$tmp/missing.json"
if out=$("$helper" xml --spec "$tmp/missing.json" 2>&1); then echo "FAIL: missing init-data accepted"; fail=1
else grep -q "$tmp/missing" <<<"$out" || { echo "FAIL: error does not name the file: $out"; fail=1; }; fi
[ $fail = 0 ] && echo "PASS: init-data digests computed by coffer-vmm"
exit $fail
