#!/bin/bash
# snp_vectors.sh COFFER_MEASURE
# coffer-measure reproduces, digit for digit, every SEV-SNP launch digest that
# virtee/sev-snp-measure's test suite publishes for inputs that exist here:
# its two 4 KiB OVMF fixtures (vectors/), /dev/null as kernel and initrd,
# and the command lines it names. The SVSM vectors need a 3.5 MB OVMF and a
# 1.1 MB SVSM build that are not available here, and SEV/SEV-ES are not
# coffer profiles: those are not run.
set -u
M=${1:?usage: snp_vectors.sh COFFER_MEASURE}
V=$(cd "$(dirname "$0")" && pwd)/vectors
AMD=$V/ovmf_AmdSev_suffix.bin
X64=$V/ovmf_OvmfX64_suffix.bin
fail=0 n=0

check() { # name expected args...
  local name=$1 want=$2
  shift 2
  local got
  got=$("$M" "$@" 2>&1)
  n=$((n + 1))
  if [ "$got" = "$want" ]; then
    echo "ok   $name"
  else
    echo "FAIL $name: got '$got', want '$want'"
    fail=1
  fi
}

K=(--kernel /dev/null --initrd /dev/null)
check ovmf_hash_amdsev 086e2e9149ebf45abdc3445fba5b2da8270bdbb04094d7a2c37faaa4b24af3aa16aff8c374c2a55c467a50da6d466b74 \
  snp-ovmf-hash --ovmf "$AMD"
check default_0x21 803f691094946e42068aaa3a8f9e26a5c89f36f7b73ecfb28c653360fe4b3aba7e534442e7e1e17895dfe778d0228977 \
  snp --vcpus 1 --vcpu-type EPYC-v4 --ovmf "$AMD" "${K[@]}" --append "console=ttyS0 loglevel=7" --guest-features 0x21
check default_0x1 6d287813eb5222d770f75005c664e34c204f385ce832cc2ce7d0d6f354454362f390ef83a92046c042e706363b4b08fa \
  snp --vcpus 1 --vcpu-type EPYC-v4 --ovmf "$AMD" "${K[@]}" --append "console=ttyS0 loglevel=7" --guest-features 0x1
check ovmf_hash_given_0x21 329c8ce0972ae52343b64d34a434a86f245dfd74f5ed7aae15d22efc78fb9683632b9b50e4e1d7fa41179ef98a7ef198 \
  snp --vcpus 1 --vcpu-type EPYC-v4 --ovmf "$AMD" "${K[@]}" --guest-features 0x21 \
  --snp-ovmf-hash 086e2e9149ebf45abdc3445fba5b2da8270bdbb04094d7a2c37faaa4b24af3aa16aff8c374c2a55c467a50da6d466b74
check ovmf_hash_given_0x1 ddc5224521617a536ee7ce9dd6224d1b58a8d4fda1c741f3ac99fc4bfa04ba6e9fc98646d4a07a9079397fa3852819b5 \
  snp --vcpus 1 --vcpu-type EPYC-v4 --ovmf "$AMD" "${K[@]}" --guest-features 0x1 \
  --snp-ovmf-hash 086e2e9149ebf45abdc3445fba5b2da8270bdbb04094d7a2c37faaa4b24af3aa16aff8c374c2a55c467a50da6d466b74
check without_kernel_0x21 e1e1ca029dd7973ab9513295be68198472dcd4fc834bd9af9b63f6e8a1674dbf281a9278a4a2ebe0eed9f22adbcd0e2b \
  snp --vcpus 1 --vcpu-type EPYC-v4 --ovmf "$AMD" --guest-features 0x21
check without_kernel_0x1 19358ba9a7615534a9a1e2f0dfc29384dcd4dcb7062ff9c6013b26869a5fc6ecabe033c48dd6f6db5d6d76e7c5df632d \
  snp --vcpus 1 --vcpu-type EPYC-v4 --ovmf "$AMD" --guest-features 0x1
check four_vcpus_0x21 4953b1fb416fa874980e8442b3706d345926d5f38879134e00813c5d7abcbe78eafe7b422907be0b4698e2414a631942 \
  snp --vcpus 4 --vcpu-type EPYC-v4 --ovmf "$AMD" "${K[@]}" --append "" --guest-features 0x21
check four_vcpus_0x1 5061fffb019493a903613d56d54b94912a1a2f9e4502385f5c194616753720a92441310ba6c4933de877c36e23046ad5 \
  snp --vcpus 4 --vcpu-type EPYC-v4 --ovmf "$AMD" "${K[@]}" --append "" --guest-features 0x1
check ovmfx64_without_kernel_0x21 28797ae0afaba4005a81e629acebfb59e6687949d6be44007cd5506823b0dd66f146aaae26ff291eed7b493d8a64c385 \
  snp --vcpus 1 --vcpu-type EPYC-v4 --ovmf "$X64" --guest-features 0x21
check ovmfx64_without_kernel_0x1 da0296de8193586a5512078dcd719eccecbd87e2b825ad4148c44f665dc87df21e5b49e21523a9ad993afdb6a30b4005 \
  snp --vcpus 1 --vcpu-type EPYC-v4 --ovmf "$X64" --guest-features 0x1
check ec2_0x21 0ce9ccc06bab55eebe8abc234f3df6514883977a68a591b71052498ab52b2f1aa415db338033946ef93aa8278c0d67fb \
  snp --vcpus 1 --vcpu-type EPYC-v4 --ovmf "$AMD" "${K[@]}" --guest-features 0x21 --vmm-type ec2
check ec2_0x1 0883bd0eeb716e65b7b977a321c278d1e51b33b5c655fab985443bbcc65c086b9c15e8a0bd8811050dec7e24964e5056 \
  snp --vcpus 1 --vcpu-type EPYC-v4 --ovmf "$AMD" "${K[@]}" --guest-features 0x1 --vmm-type ec2
check gce_1_vcpu 5da7106cf14cf46b1725ebab123eb9e53bd46a1e9f400cd0c08e7827b04b688ea8b4e403c8404efed4397ea5d5d0722e \
  snp --vcpus 1 --ovmf "$AMD" "${K[@]}" --guest-features 0x1 --vmm-type gce
check gce_4_vcpus 5c5debf100fc339f90276e761ee1f1658d08922c3b20e2a2e6c7a6c3370b2452a15a00eae11886a93d6fd1e7ab81e29d \
  snp --vcpus 4 --ovmf "$AMD" "${K[@]}" --guest-features 0x1 --vmm-type gce

# The same build's standard OVMF cannot measure a kernel: a clear error.
out=$("$M" snp --vcpus 1 --vcpu-type EPYC-v4 --ovmf "$X64" "${K[@]}" --guest-features 0x21 2>&1)
rc=$?
n=$((n + 1))
if [ "$rc" = 1 ] && [[ $out == *"no SNP_KERNEL_HASHES section"* ]]; then
  echo "ok   ovmfx64_with_kernel_refused"
else
  echo "FAIL ovmfx64_with_kernel_refused: rc=$rc out=$out"
  fail=1
fi
echo "$n vectors checked"
exit $fail
