#!/usr/bin/env bash
# containerd-shim-coffer-v2 (process backend) side by side with containerd's
# own io.containerd.runc.v2, in one private containerd, in one run:
#   - `ctr run --rm ... echo` latency, median over RUNS (default 25) runs,
#     the two runtimes interleaved so machine noise hits both alike;
#   - the shim process's VmRSS and RssAnon (/proc/PID/status) with one idle
#     container.
# Prints the numbers and coffer/runc ratios (targets: latency <= 1.1x,
# RSS <= 2.5 MB, RssAnon <= 0.4 MB). Not a test: nothing is asserted.
# Usage: bench/shim/run.sh [BUILD_DIR]   (root; BUILD_DIR default ./build)
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "${1:-$SRC/build}" && pwd)
RUNS=${RUNS:-25}
H=$SRC/tests/harness
SHIM_BIN=$BUILD/shim/containerd-shim-coffer-v2
AGENT_BIN=$BUILD/agent/coffer-agent
for f in "$SHIM_BIN" "$AGENT_BIN"; do
  [ -x "$f" ] || { echo "build first: $f missing" >&2; exit 1; }
done

T=$(mktemp -d /tmp/cfbench.XXXXXX)
STATE=/run/cfbench-${T##*.}
CONFIG=$T/coffer.json
echo "{\"backend\": \"process\", \"agent_path\": \"$AGENT_BIN\", \"state_dir\": \"$STATE\", \"log_level\": \"warning\"}" >"$CONFIG"
cleanup() {
  "$H/containerd.sh" stop "$T/c" --purge >/dev/null 2>&1 || true
  rm -rf "$T" "$STATE"
}
trap cleanup EXIT
"$H/containerd.sh" start "$T/c" --shim-dir "$BUILD/shim" --coffer-config "$CONFIG" \
  --images-dir "$BUILD/test-images" --log-level warn >/dev/null
. "$T/c/env"
export CONTAINERD_ADDRESS CONTAINERD_NAMESPACE
IMG=localhost/busybox:latest
COFFER=(--runtime io.containerd.coffer.v2 --runtime-config-path "$CONFIG")
RUNC=(--runtime io.containerd.runc.v2)

run_once() { # prints seconds for one `ctr run --rm ... echo`
  local s e
  s=$(date +%s.%N)
  ctr run --rm "$@" $IMG bench echo hi >/dev/null
  e=$(date +%s.%N)
  echo "$e - $s" | bc -l
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

# warm-up (page cache, image unpack, first shim exec)
run_once "${COFFER[@]}" >/dev/null
run_once "${RUNC[@]}" >/dev/null
: >"$T/coffer.t"
: >"$T/runc.t"
for _ in $(seq 1 "$RUNS"); do
  run_once "${COFFER[@]}" >>"$T/coffer.t"
  run_once "${RUNC[@]}" >>"$T/runc.t"
done
lat_c=$(median <"$T/coffer.t")
lat_r=$(median <"$T/runc.t")

# memory with one idle container each
ctr run -d "${COFFER[@]}" $IMG idle-coffer sleep 100000 >/dev/null
ctr run -d "${RUNC[@]}" $IMG idle-runc sleep 100000 >/dev/null
sleep 1
pid_of() { # shim binary name -> pid serving this containerd
  local p
  for p in /proc/[0-9]*; do
    local cmd
    cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
    case $cmd in
      *"$1 "*"-address $CONTAINERD_ADDRESS "*) case "$cmd " in *" -id $2 "*) echo "${p#/proc/}"; return ;; esac ;;
    esac
  done
}
kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
pc=$(pid_of containerd-shim-coffer-v2 idle-coffer)
pr=$(pid_of containerd-shim-runc-v2 idle-runc)
rss_c=$(kb "$pc" VmRSS); anon_c=$(kb "$pc" RssAnon)
rss_r=$(kb "$pr" VmRSS); anon_r=$(kb "$pr" RssAnon)
libs=$(awk '$6 ~ /\.so/ {print $6}' "/proc/$pc/maps" | sort -u | xargs -n1 basename | tr '\n' ' ')
# per-library share of the shim's memory (smaps), to see who costs what
per_lib=$(awk '/^[0-9a-f]+-[0-9a-f]+ / {n = ($6 == "") ? "[anon]" : $6; sub(".*/", "", n)}
               /^Rss:/ {rss[n] += $2} /^Anonymous:/ {anon[n] += $2}
               END {for (k in rss) if (rss[k] >= 64 || anon[k] >= 16) printf "%s %d/%d\n", k, rss[k], anon[k]}' \
          "/proc/$pc/smaps" | sort -t' ' -k2 -rn | tr '\n' ';' | sed 's/;/  /g')
for t in idle-coffer idle-runc; do
  ctr task kill -s KILL $t >/dev/null 2>&1 || true
done
sleep 0.5
for t in idle-coffer idle-runc; do
  ctr task rm $t >/dev/null 2>&1 || true
  ctr c rm $t >/dev/null 2>&1 || true
done

ratio() { echo "scale=2; $1 / $2" | bc -l; }
printf '%-34s %12s %12s %8s\n' "" "coffer" "runc.v2" "ratio"
printf '%-34s %10.3f s %10.3f s %7sx  (target <= 1.10x)\n' "ctr run --rm echo, median of $RUNS" \
  "$lat_c" "$lat_r" "$(ratio "$lat_c" "$lat_r")"
printf '%-34s %9s kB %9s kB %7sx  (target <= 2560 kB)\n' "shim VmRSS, one idle container" \
  "$rss_c" "$rss_r" "$(ratio "$rss_c" "$rss_r")"
printf '%-34s %9s kB %9s kB %7sx  (target <= 410 kB)\n' "shim RssAnon, one idle container" \
  "$anon_c" "$anon_r" "$(ratio "$anon_c" "$anon_r")"
echo "shared libraries mapped by the coffer shim: $libs"
echo "coffer shim memory by mapping (RSS/anon kB): $per_lib"
