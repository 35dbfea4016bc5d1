#!/usr/bin/env bash
# Verification throughput of coffer_attest next to OpenSSL's raw ECDSA verify
# rates measured in the same run (the physical limit of this machine).
# Usage: bench/attest/run.sh [BUILD_DIR] [SECONDS]   (default build-attest, 3)
# Targets: SNP >= 0.8x the P-384 verify rate; TDX >= 0.4x the P-256 rate.
#
# `openssl speed` divides by user CPU time unless -elapsed is given, so the
# primary ratios compare user-CPU rates on both sides; wall-clock rates
# (openssl speed -elapsed) are printed too, as they differ on a shared machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build-attest}
SECS=${2:-3}
DATA=$(cd .. && pwd)/shared/testdata/attestation
if [ ! -f "$DATA/expected.json" ]; then
  echo "SKIP: attestation test data not found at $DATA"; exit 77
fi
cmake -S . -B "$BUILD" >/dev/null
cmake --build "$BUILD" -j2 --target bench_attest >/dev/null

speed() { # curve [extra openssl args] -> verify/s (last column of the "nistpNNN" row)
  local curve=$1; shift
  openssl speed "$@" -seconds "$SECS" "ecdsa$curve" 2>/dev/null |
    awk -v c="nist$curve" '$0 ~ "\\(" c "\\)" {print $NF}'
}
p384=$(speed p384)
p256=$(speed p256)
out=$("$BUILD"/bench/attest/bench_attest "$DATA" "$SECS")
p384w=$(speed p384 -elapsed)
p256w=$(speed p256 -elapsed)
val() { awk -v k="$1" '$1 == k {print $2}' <<<"$out"; }
snp=$(val snp_verify_per_cpu_s); tdx=$(val tdx_verify_per_cpu_s)
snpw=$(val snp_verify_per_s); tdxw=$(val tdx_verify_per_s)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

printf '%-42s %14s %14s\n' "verifications" "per CPU second" "per wall second"
printf '%-42s %14.0f %14.0f\n' "openssl speed ecdsap384 verify" "$p384" "$p384w"
printf '%-42s %14.0f %14.0f\n' "openssl speed ecdsap256 verify" "$p256" "$p256w"
printf '%-42s %14.0f %14.0f\n' "coffer SNP report (chain cached)" "$snp" "$snpw"
printf '%-42s %14.0f %14.0f\n' "coffer TDX quote (PCK chain cached)" "$tdx" "$tdxw"
snp_ratio=$(ratio "$snp" "$p384"); tdx_ratio=$(ratio "$tdx" "$p256")
echo "SNP / P-384 verify: ${snp_ratio}x CPU, $(ratio "$snpw" "$p384w")x wall (target >= 0.80x)"
echo "TDX / P-256 verify: ${tdx_ratio}x CPU, $(ratio "$tdxw" "$p256w")x wall (target >= 0.40x)"
if awk -v s="$snp_ratio" -v t="$tdx_ratio" 'BEGIN {exit !(s >= 0.8 && t >= 0.4)}'; then
  echo "targets met"
else
  echo "targets NOT met"; exit 1
fi
