#!/bin/bash
# image_step.sh COFFER_MEASURE COFFER_VMM VECTORS_DIR
# The guest-image measure step (attest/measure_image.sh) measures with the
# command line the libvirt backend builds (coffer-vmm cmdline, the backend's
# own function) and writes reference values equal to what coffer-measure
# computes for those inputs; measurements.json is valid JSON naming them.
set -u
M=$1 VMM=$2 V=$3
HERE=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0
cmdline=$("$VMM" cmdline --log-level debug --kernel-params "coffer.x=1 quiet2")
want="console=ttyS0 quiet panic=-1 coffer.log=debug coffer.x=1 quiet2"
[ "$cmdline" = "$want" ] && echo "ok   coffer-vmm cmdline: $cmdline" || { echo "FAIL coffer-vmm cmdline: '$cmdline'"; fail=1; }
mkdir "$work/img"
head -c 70000 /dev/urandom > "$work/img/vmlinuz"
head -c 9000 /dev/urandom > "$work/img/initramfs.img"
echo 6.1.0-test > "$work/img/kernel-release"
out=$("$HERE/../../attest/measure_image.sh" --image "$work/img" --measure "$M" --vmm "$VMM" \
  --snp-firmware "$V/ovmf_AmdSev_suffix.bin" --tdx-firmware none --vcpus "1 4" \
  --vcpu-types EPYC-Milan,EPYC-Genoa --log-level debug --kernel-params "coffer.x=1 quiet2" 2>&1)
rc=$?
echo "$out"
[ $rc = 0 ] || { echo "FAIL measure_image.sh exit $rc"; exit 1; }
[[ $out == *"cmdline   \"$want\""* ]] || { echo "FAIL: the step did not measure the backend's command line"; fail=1; }
for n in 1 4; do
  for t in EPYC-Milan EPYC-Genoa; do
    d=$("$M" snp --ovmf "$V/ovmf_AmdSev_suffix.bin" --vcpus $n --vcpu-type $t --kernel "$work/img/vmlinuz" \
        --initrd "$work/img/initramfs.img" --append "$want")
    grep -q "\"$d\"" "$work/img/reference-values.json" && echo "ok   vcpus=$n $t in reference-values.json" ||
      { echo "FAIL vcpus=$n $t: $d missing"; fail=1; }
  done
done
/usr/bin/python3 -c '
import json, sys
r = json.load(open(sys.argv[1])); m = json.load(open(sys.argv[2]))
assert set(r) == {"snp"} and len(r["snp"]["measurement"]) == 4, r
assert m["cmdline"] == sys.argv[3] and len(m["snp"]["measurements"]) == 4, m
print("ok   reference-values.json and measurements.json parse; no tdx section without TDX firmware")
' "$work/img/reference-values.json" "$work/img/measurements.json" "$want" || fail=1
exit $fail
