#!/usr/bin/env bash
# Time to compute the guest image's expected measurements, next to
# `sha384sum` of the same bytes (firmware + kernel + initrd: the floor any
# measurement must pay to read and hash its inputs once).
# Usage: bench/measure/run.sh [BUILD_DIR] [RUNS]   (default build, 11)
# Needs the guest image (`cmake --build BUILD --target guest-image`), which
# also downloads the firmware into BUILD/measure-firmware.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
RUNS=${2:-11}
M=$BUILD/attest/coffer-measure
IMG=$BUILD/guest-image
[ -x "$M" ] || { echo "SKIP: $M not built"; exit 77; }
[ -f "$IMG/measurements.json" ] || { echo "SKIP: no $IMG/measurements.json (build the guest-image target)"; exit 77; }
field() { /usr/bin/python3 -c "import json,sys; d=json.load(open('$IMG/measurements.json')); print(eval('d' + sys.argv[1]))" "$1"; }
K=$(field "['kernel']['path']") I=$(field "['initrd']['path']") C=$(field "['cmdline']")
SNP=$(field "['snp']['firmware']") TDX=$(field "['tdx']['firmware']") MEM=$(field "['tdx']['memory_mib']")
cat "$K" "$I" "$SNP" "$TDX" > /dev/null # page cache warm

median() { # command... -> median wall seconds of RUNS runs
  local t=()
  for _ in $(seq "$RUNS"); do
    local a b
    a=$(date +%s%N)
    "$@" > /dev/null
    b=$(date +%s%N)
    t+=($(( b - a )))
  done
  printf '%s\n' "${t[@]}" | sort -n | awk '{v[NR] = $1} END {printf "%.4f", v[int((NR + 1) / 2)] / 1e9}'
}
snp=$(median "$M" snp --ovmf "$SNP" --vcpus 1 --vcpu-type EPYC-Milan --kernel "$K" --initrd "$I" --append "$C")
snp_floor=$(median sh -c 'cat "$@" | sha384sum' - "$SNP" "$K" "$I")
tdx=$(median "$M" tdx --firmware "$TDX" --kernel "$K" --initrd "$I" --append "$C" --memory "$MEM")
tdx_floor=$(median sh -c 'cat "$@" | sha384sum' - "$TDX" "$K" "$I")
size() { stat -c %s "$@" | awk '{s += $1} END {printf "%.1f MB", s / 1e6}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2fx", a / b}'; }
printf '%-44s %10s %10s %8s %s\n' "measurement (median of $RUNS, wall s)" coffer sha384sum ratio "bytes"
printf '%-44s %10s %10s %8s %s\n' "SEV-SNP launch digest (1 vCPU)" "$snp" "$snp_floor" "$(ratio "$snp" "$snp_floor")" "$(size "$SNP" "$K" "$I")"
printf '%-44s %10s %10s %8s %s\n' "TDX MRTD + RTMR[1] + RTMR[2]" "$tdx" "$tdx_floor" "$(ratio "$tdx" "$tdx_floor")" "$(size "$TDX" "$K" "$I")"
