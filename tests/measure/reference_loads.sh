#!/bin/bash
# reference_loads.sh COFFER_MEASURE COFFER_ATTEST VECTORS_DIR ATTESTATION_DATA
# The reference values coffer-measure writes are what the verifier loads:
# coffer-attest --reference takes the file, compares a real SNP report's
# measurement with each listed value (none matches: the check fails naming
# the report's value), and passes it once the file, in the same shape,
# lists that value. A TDX document with mrtd/rtmr1/rtmr2 loads the same way.
set -u
M=$1 A=$2 V=$3 D=$4
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0

# Hostile host: it boots the expected kernel and initrd but adds
# "init=/bin/sh" to the command line, or swaps the initrd. The measurements
# it gets are none of the reference values computed for the real inputs.
head -c 65536 /dev/urandom > "$work/k"
head -c 8192 /dev/urandom > "$work/i"
head -c 8192 /dev/urandom > "$work/evil"
common=(--ovmf "$V/ovmf_AmdSev_suffix.bin" --vcpus 1 --vcpu-type EPYC-Milan --kernel "$work/k")
"$M" reference "${common[@]}" --initrd "$work/i" --append "console=ttyS0" --output "$work/good.json"
hostile() { # description, then the inputs the host really boots
  local what=$1 d
  shift
  d=$("$M" snp "${common[@]}" "$@")
  if [ ${#d} = 96 ] && ! grep -q "$d" "$work/good.json"; then
    echo "ok   hostile host ($what): $d is not a reference value"
  else
    echo "FAIL hostile host ($what): '$d' accepted"
    fail=1
  fi
}
hostile "init=/bin/sh appended" --initrd "$work/i" --append "console=ttyS0 init=/bin/sh"
hostile "initrd swapped" --initrd "$work/evil" --append "console=ttyS0"
hostile "initrd dropped" --append "console=ttyS0"

if [ ! -f "$D/snp/gsg_milan/attestation.bin" ]; then
  [ "$fail" = 0 ] || exit 1
  echo "SKIP: $D (shared attestation test data) not found; the hostile-host cases above passed"
  exit 77
fi
"$M" reference --ovmf "$V/ovmf_AmdSev_suffix.bin" --vcpus 1 --vcpu-type EPYC-Milan,EPYC-v4 \
  --output "$work/ref.json" || { echo "FAIL: coffer-measure reference"; exit 1; }
cat "$work/ref.json"
verify() {
  "$A" verify-snp --report "$D/snp/gsg_milan/attestation.bin" --signer "$D/snp/gsg_milan/vcek.der" \
    --at 2024-01-01T00:00:00Z --reference "$1" |
    /usr/bin/python3 -c 'import json,sys
for c in json.load(sys.stdin)["checks"]:
    if c["name"] == "reference.measurement": print("pass" if c["pass"] else "fail", c["reason"])'
}
got=$(verify "$work/ref.json")
echo "computed values: $got"
[[ $got == fail*b07af9620f3b839b* ]] || { echo "FAIL: expected a failing reference.measurement naming the report's value"; fail=1; }
/usr/bin/python3 - "$work/ref.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["snp"]["measurement"].append("b07af9620f3b839b47996422ddec6058338951d984e312115131ea82705eaf5b6bdf8a9ece31a5a608eb0cf2e4872b01")
json.dump(d, open(sys.argv[1], "w"))
PY
got=$(verify "$work/ref.json")
echo "with the report's value added: $got"
[[ $got == pass* ]] || { echo "FAIL: expected reference.measurement to pass"; fail=1; }

# The TDX half: mrtd (list), rtmr1, rtmr2 are accepted keys of the format.
printf '{"tdx": {"mrtd": ["%s"], "rtmr1": "%s", "rtmr2": "%s"}}\n' "$(printf 'ab%.0s' {1..48})" \
  "$(printf 'cd%.0s' {1..48})" "$(printf '00%.0s' {1..48})" > "$work/tdx.json"
out=$("$A" verify-tdx --quote "$D/tdx/gotdx/tdx_prod_quote_SPR_E4.dat" --at 2024-01-01T00:00:00Z \
      --reference "$work/tdx.json" 2>&1)
rc=$?
if [ "$rc" = 2 ]; then
  echo "FAIL: coffer-attest refused the TDX reference document: $out"
  fail=1
else
  echo "ok   TDX reference document loads (verdict exit $rc; mrtd/rtmr checks named: $(grep -o '"reference\.[a-z0-9]*"' <<<"$out" | sort -u | tr '\n' ' '))"
fi
exit $fail
