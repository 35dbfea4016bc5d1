#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each for a share of the
# given time budget (seconds, default 60). Crashes are kept in build-fuzz/crashes.
set -euo pipefail
cd "$(dirname "$0")/.."
BUDGET=${1:-60}
cmake -S . -B build-fuzz -DCOFFER_FUZZ=ON -DCOFFER_WERROR=ON -DCMAKE_C_COMPILER=clang -DBUILD_TESTING=OFF >/dev/null
cmake --build build-fuzz -j"$(nproc)" >/dev/null
mapfile -t targets < <(find build-fuzz -type f -executable -name 'fuzz_*' | sort)
if [ ${#targets[@]} -eq 0 ]; then
  echo "no fuzz targets built" >&2
  exit 1
fi
per=$(( BUDGET / ${#targets[@]} )); [ "$per" -ge 5 ] || per=5
mkdir -p build-fuzz/crashes
for t in "${targets[@]}"; do
  name=$(basename "$t")
  corpus=build-fuzz/corpus/$name; mkdir -p "$corpus"
  seeds=()  # committed seed corpora: tests/<room>/fuzz/corpus/<target>/
  for d in tests/*/fuzz/corpus/"$name"; do [ -d "$d" ] && seeds+=("$d"); done
  echo "--- $name for ${per}s"
  log=build-fuzz/$name.log
  if "$t" -max_total_time="$per" -rss_limit_mb=2048 -timeout=10 \
       -artifact_prefix=build-fuzz/crashes/"$name"- "$corpus" "${seeds[@]}" >"$log" 2>&1; then
    tail -1 "$log"
  else
    tail -60 "$log"
    echo "$name FAILED: reproducer in build-fuzz/crashes/$name-*" >&2
    failed=1
  fi
done
exit "${failed:-0}"
