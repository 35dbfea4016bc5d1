# Sourced by the shim's integration tests: usage `test.sh SRC_DIR BUILD_DIR`.
# Starts a private containerd (tests/harness) whose PATH finds this build's
# containerd-shim-coffer-v2, writes a coffer config selecting the process
# backend (this build's coffer-agent, a private state dir), and on exit stops
# everything and checks that nothing is left behind and that no sanitizer
# report reached containerd's log.
set -euo pipefail

SRC=$(cd "${1:?source dir}" && pwd)
BUILD=$(cd "${2:?build dir}" && pwd)
H=$SRC/tests/harness
SHIM_BIN=$BUILD/shim/containerd-shim-coffer-v2
AGENT_BIN=$BUILD/agent/coffer-agent

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
log() { echo "--- $*"; }

[ "$(id -u)" = 0 ] || skip "needs root (mounts, runc)"
for b in containerd ctr runc; do
  command -v "$b" >/dev/null || skip "$b is not installed"
done
[ -x "$SHIM_BIN" ] || skip "shim not built at $SHIM_BIN"
[ -x "$AGENT_BIN" ] || skip "coffer-agent not built at $AGENT_BIN"
[ -x "$H/containerd.sh" ] || skip "tests/harness/containerd.sh missing"

T=$(mktemp -d /tmp/cfsh.XXXXXX)           # short: unix socket paths
STATE=/run/cfsh-${T##*.}                   # the pods' state root (config state_dir)
CONFIG=$T/coffer.json
cat >"$CONFIG" <<EOF
{"backend": "process", "agent_path": "$AGENT_BIN", "state_dir": "$STATE",
 "log_level": "debug", "agent_timeout_ms": 10000}
EOF

# pids of processes whose command line mentions our private paths
our_pids() {
  local p
  for p in /proc/[0-9]*; do
    tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -qE "$STATE|$T/" && echo "${p#/proc/}"
  done
  return 0
}

lib_cleanup() {
  local rc=$?
  set +e
  if [ -f "$T/c/env" ]; then
    "$H/containerd.sh" stop "$T/c" >/dev/null 2>&1
  fi
  local p
  for p in $(our_pids); do kill -9 "$p" 2>/dev/null; done
  grep -hE "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$T/c/containerd.log" 2>/dev/null \
    | head -5 | grep -q . && {
      echo "FAIL: sanitizer report in containerd's log (shim/agent):" >&2
      grep -hE -A25 "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$T/c/containerd.log" | head -60 >&2
      [ $rc = 0 ] && rc=1
    }
  if [ $rc != 0 ] && [ $rc != 77 ] && [ -f "$T/c/containerd.log" ]; then
    echo "--- last lines of containerd's log:" >&2
    grep -v ImageCreate "$T/c/containerd.log" | tail -40 | cut -c1-400 >&2
  fi
  grep -q " $STATE" /proc/self/mountinfo 2>/dev/null && \
    awk -v s="$STATE" '$5 ~ "^"s {print $5}' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l
  if [ -z "${KEEP:-}" ]; then  # KEEP=1: leave $T (logs) for a post-mortem
    "$H/containerd.sh" stop "$T/c" --purge >/dev/null 2>&1
    rm -rf "$T" "$STATE"
  fi
  exit $rc
}
trap lib_cleanup EXIT

start_containerd() {
  "$H/containerd.sh" start "$T/c" --shim-dir "$BUILD/shim" --coffer-config "$CONFIG" \
    --images-dir "$BUILD/test-images" >"$T/harness.log" 2>&1 || {
      cat "$T/harness.log" >&2
      fail "could not start a private containerd"
    }
  # shellcheck disable=SC1091
  . "$T/c/env"
  export CONTAINERD_ADDRESS CONTAINERD_NAMESPACE
}

RT=(--runtime io.containerd.coffer.v2 --runtime-config-path "$CONFIG")
IMG=localhost/busybox:latest

# ctr with a deadline, so a hang fails the test rather than the ctest timeout
c() { timeout 30 ctr "$@"; }

shim_pids() {
  local p
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/exe" 2>/dev/null)" = "$SHIM_BIN" ] || continue
    tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -q -- "-address $CONTAINERD_ADDRESS" && echo "${p#/proc/}"
  done
  return 0
}

agent_pids() {
  local p
  for p in /proc/[0-9]*; do
    tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -q -- "--state $STATE/" && echo "${p#/proc/}"
  done
  return 0
}

# Nothing of ours left: processes, pod state dirs, mounts, shim sockets.
assert_no_leftovers() {
  local what=$1 n
  n=$(agent_pids | wc -l)
  [ "$n" = 0 ] || fail "$what: $n agent process(es) left: $(agent_pids | tr '\n' ' ')"
  n=$(shim_pids | wc -l)
  [ "$n" = 0 ] || fail "$what: $n shim process(es) left"
  # not even the namespace's directory (<state_dir>/<ns>) once its last pod is gone
  n=$(find "$STATE" -mindepth 1 -maxdepth 2 2>/dev/null | wc -l)
  [ "$n" = 0 ] || fail "$what: pod state left: $(find "$STATE" -mindepth 1 -maxdepth 2)"
  n=$(awk -v s="$STATE" -v r="$CONTAINERD_STATE" '$5 ~ "^"s || ($5 ~ "^"r && $5 ~ "/rootfs$") {print $5}' /proc/self/mountinfo | wc -l)
  [ "$n" = 0 ] || fail "$what: $n mount(s) left"
  return 0
}

# Poll until a command succeeds (up to $1 seconds). A subshell: a failing
# assert_* (fail -> exit) must mean "not yet", not end the test.
wait_for() {
  local secs=$1; shift
  local end=$((SECONDS + secs))
  until ( "$@" ); do
    [ $SECONDS -lt $end ] || return 1
    sleep 0.1
  done
}
