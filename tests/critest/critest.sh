#!/usr/bin/env bash
# Kubernetes' CRI validation suite (critest v1.36.0) with runc and with coffer,
# in one run, on the same harness: any spec that passes with runc and not with
# coffer fails this test.
#
#   critest.sh SRC_DIR BUILD_DIR
#
# Runs, one after the other (2 cores: no parallelism):
#   coffer process    handler `coffer`, process backend: every spec
#   coffer libvirt    handler `coffer`, libvirt backend (QEMU under TCG): the specs
#                     the process backend passed, but those of vm-skip.txt (cannot
#                     hold in a VM) and libvirt-same.txt (the same code as on the
#                     process backend: left out for time), each with its reason
#   runc              the baseline, on the specs coffer did not pass: a spec coffer
#                     passes cannot differ from runc, so the verdict is that of a
#                     whole runc run, two minutes sooner (CRITEST_RUNC=all: every spec)
# then prints the table and the differences (compare.py). Image-pull specs are
# served by a local registry (registry.sh): containerd's CRI plugin resolves
# gcr.io, registry.k8s.io and k8s.gcr.io to it.
#
# The harness is ../shared/tools/critest (critest, crictl, run.sh: a private
# containerd 1.6 with a CNI bridge and offline stand-ins of critest's images),
# used in place, never copied. run.sh starts `containerd` from PREFIX/bin first
# on PATH: PREFIX/bin/containerd here adds the registry hosts to the config it
# wrote (containerd-with-registry.sh).
#
# Environment:
#   COFFER_CRITEST=1         run (else exit 77: the check is not in the default suite
#                            until coffer passes it; see README.md)
#   CRITEST_DIR              the harness (default SRC_DIR/../shared/tools/critest)
#   CRITEST_BACKENDS         default "process libvirt"
#   CRITEST_CALL_TIMEOUT     critest's per-CRI-call timeout (default 30s; its own is 300s)
#   CRITEST_RUN_TIMEOUT      bound on each critest run in seconds (default 900)
#   CRITEST_FOCUS            -ginkgo.focus for every run (default: all specs)
#   CRITEST_LIBVIRT_FOCUS    -ginkgo.focus for the libvirt run only (overrides
#                            CRITEST_FOCUS there), e.g. the networking specs:
#                            'port mapping|portforward|should support network|DNS config'
#                            (about 2 minutes; a whole libvirt run is 15+)
#   CRITEST_LIBVIRT_SPECS    passed (default): the libvirt run leaves out the specs of
#                            libvirt-same.txt (the same code as on the process backend;
#                            for time) and those the process backend did not pass (they
#                            fail the comparison already or fail with runc too, and a
#                            hanging stop costs a minute in a VM); all: every spec but
#                            vm-skip.txt's
#   CRITEST_RUNC             needed (default): runc runs the specs coffer did not pass;
#                            all: every spec (the whole baseline table)
#   CRITEST_OUT              keep everything here (default a temp dir, removed on success)
# Exit: 0 no difference, 1 a difference (or a broken run), 77 a prerequisite missing.
set -euo pipefail

SRC=$(cd "${1:?usage: critest.sh SRC_DIR BUILD_DIR}" && pwd)
BUILD=$(cd "${2:?usage: critest.sh SRC_DIR BUILD_DIR}" && pwd)
HERE=$SRC/tests/critest

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }

[ "${COFFER_CRITEST:-0}" = 1 ] ||
  skip "the critest comparison runs only with COFFER_CRITEST=1 (about 15 minutes; tests/critest/README.md)"
[ "$(id -u)" = 0 ] || skip "needs root (containerd, CNI, mounts)"
CT=${CRITEST_DIR:-$SRC/../shared/tools/critest}
[ -f "$CT/run.sh" ] && [ -x "$CT/bin/critest-v1.36.0" ] ||
  skip "no critest harness at $CT (run.sh, bin/critest-v1.36.0: ../shared/tools/critest beside the clone)"
for b in containerd ctr runc umoci iptables python3 gcc; do
  command -v "$b" >/dev/null || skip "$b is not installed (scripts/install-deps.sh)"
done
[ -x /usr/lib/cni/bridge ] || skip "containernetworking-plugins is not installed (scripts/install-deps.sh)"
SHIM=$BUILD/shim/containerd-shim-coffer-v2 AGENT=$BUILD/agent/coffer-agent VMM=$BUILD/vmm/coffer-vmm/coffer-vmm
for f in "$SHIM" "$AGENT" "$VMM"; do [ -x "$f" ] || skip "$f is not built"; done
BACKENDS=${CRITEST_BACKENDS:-process libvirt}
CALL_TMO=${CRITEST_CALL_TIMEOUT:-30s}
RUN_TMO=${CRITEST_RUN_TIMEOUT:-900}

# one comparison at a time on a machine: the harness's CNI bridge (critest0) is shared
exec 9>/run/coffer-critest.lock
flock -w 1800 9 || fail "another critest comparison holds /run/coffer-critest.lock"

if [ -n "${CRITEST_OUT:-}" ]; then
  W=$CRITEST_OUT; mkdir -p "$W"; W=$(cd "$W" && pwd)
else
  W=$(mktemp -d /tmp/critest.XXXXXX)
fi
P=$W/prefix
mkdir -p "$P/bin"
cp "$SHIM" "$AGENT" "$VMM" "$P/bin/"
cleanup() { bash "$HERE/registry.sh" stop "$W/registry" || true; }
trap cleanup EXIT

# (without the lock's fd: a registry outliving this run must not hold it)
rc=0; bash "$HERE/registry.sh" start "$W/registry" 9>&- || rc=$?
[ $rc = 77 ] && exit 77
[ $rc = 0 ] || fail "the local registry did not start (see $W/registry)"
printf '#!/bin/sh\nexec bash %q %q "$@"\n' "$HERE/containerd-with-registry.sh" "$W/registry/hosts" >"$P/bin/containerd"
chmod 755 "$P/bin/containerd"

# libvirt: the guest image of this build (cached by guest/build.sh) and libvirtd
libvirt_ready=""
if [[ " $BACKENDS " == *" libvirt "* ]]; then
  GUEST=$BUILD/guest-image
  grc=0
  "$SRC/guest/build.sh" "$GUEST" --init "$AGENT" --cache "$BUILD/guest-kernel-cache" >"$W/guest-build.log" 2>&1 || grc=$?
  if [ $grc = 0 ]; then
    lrc=0; out=$(bash "$SRC/tests/vmm/libvirtd.sh" start 2>&1) || lrc=$?
    if [ $lrc = 0 ]; then libvirt_ready=1
    else echo "libvirt backend not run: libvirtd did not start ($lrc): $out"; [ $lrc = 77 ] || fail "libvirtd did not start"; fi
  else
    echo "libvirt backend not run: guest/build.sh failed ($grc, $W/guest-build.log)"
    [ $grc = 77 ] || fail "guest image build failed (see $W/guest-build.log)"
  fi
fi

declare -A secs
run() { # label run.sh-args...
  local label=$1; shift
  local t0=$SECONDS
  echo "=== critest: $label"
  local args=(-T "$CALL_TMO" -t "$RUN_TMO" -o "$W/$label")
  local focus=${CRITEST_FOCUS:-}
  [ "$label" != libvirt ] || [ -z "${CRITEST_LIBVIRT_FOCUS:-}" ] || focus=$CRITEST_LIBVIRT_FOCUS
  [ "$label" != runc ] || [ -z "${RUNC_FOCUS:-}" ] || focus=$RUNC_FOCUS
  [ -z "$focus" ] || args+=(-f "$focus")
  bash "$CT/run.sh" "${args[@]}" "$@" "$P" >"$W/$label.out" 2>&1 || true
  secs[$label]=$((SECONDS - t0))
  sed -n '/^== critest/,/^FAIL/{/^FAIL/!p}' "$W/$label.out"
  echo "$label: ${secs[$label]} s"
  [ -f "$W/$label/junit.xml" ] || { tail -20 "$W/$label.out"; fail "$label: critest wrote no JUnit report (see $W/$label.out)"; }
}

results=()
if [[ " $BACKENDS " == *" process "* ]]; then
  run process -H coffer -b process
  results+=(process="$W/process/junit.xml@${secs[process]}")
fi
if [ -n "$libvirt_ready" ]; then
  # vm-skip.txt by name; unless CRITEST_LIBVIRT_SPECS=all, also what the process
  # backend did not pass (it cannot change the verdict; hangs cost minutes)
  sk=(); [ "${CRITEST_LIBVIRT_SPECS:-passed}" = all ] || sk=("$HERE/libvirt-same.txt" "${results[@]%@*}")
  vm_skip=$(python3 "$HERE/compare.py" skip-regex "$HERE/vm-skip.txt" "${sk[@]}")
  GUEST_DIR=$GUEST LIBVIRTD_SH=$SRC/tests/vmm/libvirtd.sh COFFER_VMM_HELPER=$P/bin/coffer-vmm \
    run libvirt -H coffer -b libvirt -s "$vm_skip"
  results+=(libvirt="$W/libvirt/junit.xml@${secs[libvirt]}")
fi

cmp_args=(same="$HERE/libvirt-same.txt")
[ -z "${CRITEST_LIBVIRT_FOCUS:-}" ] || cmp_args+=(libvirt-focus="$CRITEST_LIBVIRT_FOCUS")
# runc last: only the specs coffer did not pass need its verdict
RUNC_FOCUS=
[ "${CRITEST_RUNC:-needed}" = all ] || [ ${#results[@]} = 0 ] ||
  RUNC_FOCUS=$(python3 "$HERE/compare.py" runc-focus "$HERE/vm-skip.txt" "${cmp_args[@]}" "${results[@]%@*}")
if [ "${CRITEST_RUNC:-needed}" = all ] || [ -n "$RUNC_FOCUS" ]; then
  run runc -H runc
  results=(runc="$W/runc/junit.xml@${secs[runc]}" "${results[@]}")
  [ -z "$RUNC_FOCUS" ] || cmp_args+=(runc-only="$RUNC_FOCUS")
else
  echo "=== critest: runc not run: coffer passed every spec"
fi

echo "=== critest: runc vs coffer"
crc=0; python3 "$HERE/compare.py" "$HERE/vm-skip.txt" "${cmp_args[@]}" "${results[@]}" || crc=$?
cleanup  # the registry first: its pid is recorded under $W
if [ $crc = 0 ] && [ -z "${CRITEST_OUT:-}" ]; then rm -rf "$W"; else echo "runs kept in $W"; fi
exit $crc
