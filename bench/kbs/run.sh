#!/usr/bin/env bash
# Usage: bench/kbs/run.sh BUILD_DIR [SECONDS] [saturated]   (builds bench_kbs first)
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
cmake --build "$build" --target bench_kbs >/dev/null
exec "$build"/bench/kbs/bench_kbs "${COFFER_ATTEST_DATA:-../shared/testdata/attestation}" "${2:-5}" "${@:3}"
