#!/usr/bin/env bash
# ttrpc unary round trips over a unix socket: our C client+server against
# containerd's Go ttrpc client+server (Debian's golang-github-containerd-ttrpc-dev,
# built offline in GOPATH mode), measured side by side. Each process is
# pinned to one core (server on CPU 0, client on CPU 1) when 2 cores exist.
#
# Usage: bench/ttrpc/run.sh [SECONDS] [BUILD_DIR]    (defaults: 3, build-bench)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
SECONDS_PER_RUN=${1:-3}
BUILD=${2:-$ROOT/build-bench}
DEPTHS=(1 32)

cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j2 --target ttrpc_bench >/dev/null
C_BENCH=$BUILD/bench/ttrpc/ttrpc_bench

GO_PEER=$BUILD/bench/ttrpc/go/ttrpc-peer
if ! command -v go >/dev/null; then
  echo "go is not installed (apt-get install golang-go golang-github-containerd-ttrpc-dev)" >&2
  exit 1
fi
mkdir -p "$BUILD/bench/ttrpc/go/path"
(cd "$ROOT/tests/lib/go/ttrpc-peer" &&
 GO111MODULE=off GOPATH="$BUILD/bench/ttrpc/go/path:/usr/share/gocode" \
 GOCACHE="$BUILD/bench/ttrpc/go/cache" GOFLAGS= go build -o "$GO_PEER" .)

if [ "$(nproc)" -ge 2 ]; then SRV_CPU=0; CLI_CPU=1; else SRV_CPU=0; CLI_CPU=0; fi
TMP=$(mktemp -d)
SERVER_PID=
cleanup() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT

start_server() { # cmd...
  rm -f "$TMP/s.sock" "$TMP/ready"
  "$@" >"$TMP/ready" &
  SERVER_PID=$!
  for _ in $(seq 200); do grep -q ready "$TMP/ready" 2>/dev/null && return; sleep 0.05; done
  echo "server did not start: $*" >&2; exit 1
}
stop_server() { kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=; }

# "c" is the loop as the shim and the agent run it: busy-poll 50 us, adaptive
# (cf_loop_set_busy_poll: a reply that comes back within the window skips the
# sleep and wake-up; given up after 8 empty windows in a row), much as Go's
# scheduler spins before parking; "c-nopoll" the loop without it.
declare -A RES
IMPLS=(c c-nopoll go)
for depth in "${DEPTHS[@]}"; do
  export TTRPC_BENCH_BUSY_POLL_US=50
  start_server "$C_BENCH" server "$TMP/s.sock" "$SRV_CPU"
  RES[c,$depth]=$("$C_BENCH" client "$TMP/s.sock" "$SECONDS_PER_RUN" "$depth" "$CLI_CPU")
  stop_server
  unset TTRPC_BENCH_BUSY_POLL_US
  start_server "$C_BENCH" server "$TMP/s.sock" "$SRV_CPU"
  RES[c-nopoll,$depth]=$("$C_BENCH" client "$TMP/s.sock" "$SECONDS_PER_RUN" "$depth" "$CLI_CPU")
  stop_server
  start_server taskset -c "$SRV_CPU" "$GO_PEER" bench-server "$TMP/s.sock"
  RES[go,$depth]=$(taskset -c "$CLI_CPU" "$GO_PEER" bench-client "$TMP/s.sock" "$SECONDS_PER_RUN" "$depth")
  stop_server
done

field() { sed -n "s/.*$2=\([0-9.]*\).*/\1/p" <<<"$1"; }
printf '\nttrpc unary Ping (64-byte message) over a unix socket, %ss per run, server on CPU %s, client on CPU %s\n\n' \
  "$SECONDS_PER_RUN" "$SRV_CPU" "$CLI_CPU"
printf '%-10s %-12s %12s %12s %12s\n' "in-flight" "impl" "calls/s" "median us" "p99 us"
for depth in "${DEPTHS[@]}"; do
  for impl in "${IMPLS[@]}"; do
    r=${RES[$impl,$depth]}
    printf '%-10s %-12s %12s %12s %12s\n' "$depth" "$impl" "$(field "$r" calls_per_sec)" \
      "$(field "$r" median_us)" "$(field "$r" p99_us)"
  done
  g=${RES[go,$depth]}
  for impl in c c-nopoll; do
    c=${RES[$impl,$depth]}
    printf '%-10s %-12s %12s %12s\n' "$depth" "$impl/go" \
      "$(awk -v a="$(field "$c" calls_per_sec)" -v b="$(field "$g" calls_per_sec)" 'BEGIN{printf "%.2fx", a/b}')" \
      "$(awk -v a="$(field "$c" median_us)" -v b="$(field "$g" median_us)" 'BEGIN{printf "%.2fx", a/b}')"
  done
done
printf '\ntarget: C calls/s >= 2x Go, C median latency below Go\n'
