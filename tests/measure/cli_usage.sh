#!/bin/bash
# cli_usage.sh COFFER_MEASURE VECTORS_DIR: bad usage exits 2 with a message,
# a failing measurement exits 1, hex and json output agree.
set -u
M=$1 V=$2 fail=0
expect() { # rc message-substring args...
  local want_rc=$1 want=$2
  shift 2
  local out rc
  out=$("$M" "$@" 2>&1)
  rc=$?
  if [ "$rc" != "$want_rc" ] || [[ $out != *"$want"* ]]; then
    echo "FAIL: coffer-measure $*: rc=$rc (want $want_rc), output: $out"
    fail=1
  else
    echo "ok   exit $rc: $*"
  fi
}
F=$V/ovmf_AmdSev_suffix.bin
expect 2 usage
expect 2 "unknown command" frobnicate
expect 2 "needs --ovmf and --vcpus" snp --vcpus 1
expect 2 "needs --vcpu-type" snp --ovmf "$F" --vcpus 1
expect 2 "unknown vCPU type" snp --ovmf "$F" --vcpus 1 --vcpu-type EPYC-Nonesuch
expect 2 "not a number" snp --ovmf "$F" --vcpus many --vcpu-type EPYC-v4
expect 2 "not a number" snp --ovmf "$F" --vcpus 513 --vcpu-type EPYC-v4
expect 2 "need --kernel" snp --ovmf "$F" --vcpus 1 --vcpu-type EPYC-v4 --append x
expect 2 "96 hex digits" snp --ovmf "$F" --vcpus 1 --vcpu-type EPYC-v4 --snp-ovmf-hash abcd
expect 2 "unknown (hex, json)" snp --ovmf "$F" --vcpus 1 --vcpu-type EPYC-v4 --output-format yaml
expect 2 "unknown (QEMU, ec2, gce)" snp --ovmf "$F" --vcpus 1 --vcpu-type EPYC-v4 --vmm-type xen
expect 2 "unexpected argument" snp --ovmf "$F" --vcpus 1 --vcpu-type EPYC-v4 extra
expect 1 "/nonexistent" snp --ovmf /nonexistent --vcpus 1 --vcpu-type EPYC-v4
expect 1 "/nonexistent-kernel" snp --ovmf "$F" --vcpus 1 --vcpu-type EPYC-v4 --kernel /nonexistent-kernel
expect 1 "not a positive multiple" snp --ovmf /dev/null --vcpus 1 --vcpu-type EPYC-v4
hex=$("$M" snp --ovmf "$F" --vcpus 2 --vcpu-type EPYC-Genoa)
json=$("$M" snp --ovmf "$F" --vcpus 2 --vcpu-type EPYC-Genoa --output-format json)
if [[ $json == *"\"measurement\": \"$hex\""* ]] && [ ${#hex} = 96 ]; then
  echo "ok   json carries the hex measurement"
else
  echo "FAIL: hex '$hex' not in json: $json"
  fail=1
fi
exit $fail
