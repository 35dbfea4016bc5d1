# Sourced by the end-to-end tests of the libvirt backend:
#   e2e_*.sh SRC_DIR BUILD_DIR
# Real everything: libvirtd (libvirtd.sh), the guest image (guest/build.sh
# with this build's coffer-agent as /init), a private containerd
# (tests/harness/containerd.sh) running this build's shim with a config that
# selects the libvirt backend. On exit: stops containerd, checks and removes
# what is left. Helpers: c (ctr with a deadline), assert_no_leftovers.
set -euo pipefail

SRC=$(cd "${1:?source dir}" && pwd)
BUILD=$(cd "${2:?build dir}" && pwd)
H=$SRC/tests/harness
V=$SRC/tests/vmm
SHIM_BIN=$BUILD/shim/containerd-shim-coffer-v2
AGENT_BIN=$BUILD/agent/coffer-agent
VMM=$BUILD/vmm/coffer-vmm/coffer-vmm
GUEST=$BUILD/vmm-agent-guest
# E2E_ATTESTER=1 (set before sourcing): the guest image carries coffer-attester
ATT_ARGS=()
if [ -n "${E2E_ATTESTER:-}" ]; then
  [ -x "$BUILD/agent/attester/coffer-attester" ] || skip "coffer-attester not built"
  GUEST=$BUILD/vmm-agent-guest-attester
  ATT_ARGS=(--attester "$BUILD/agent/attester/coffer-attester")
fi
# E2E_IMAGE_PULL=1 (with E2E_ATTESTER=1): and coffer-image-pull (guest pull)
if [ -n "${E2E_IMAGE_PULL:-}" ]; then
  [ -x "$BUILD/agent/pull/coffer-image-pull" ] || skip "coffer-image-pull not built"
  GUEST=$BUILD/vmm-agent-guest-pull
  ATT_ARGS+=(--image-pull "$BUILD/agent/pull/coffer-image-pull")
fi

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
log() { echo "--- $*"; }

[ "$(id -u)" = 0 ] || skip "needs root (libvirtd, mounts)"
for b in containerd ctr qemu-system-x86_64; do
  command -v "$b" >/dev/null || skip "$b is not installed"
done
for f in "$SHIM_BIN" "$AGENT_BIN" "$VMM"; do [ -x "$f" ] || skip "$f not built"; done
[ -x "$H/containerd.sh" ] || skip "tests/harness/containerd.sh missing"
[ -x "$SRC/guest/build.sh" ] || skip "guest/build.sh missing"

out=$("$V/libvirtd.sh" start 2>&1) || { rc=$?; echo "$out"; [ $rc = 77 ] && exit 77; fail "libvirtd did not start"; }
rc=0; "$SRC/guest/build.sh" "$GUEST" --init "$AGENT_BIN" "${ATT_ARGS[@]}" --cache "$BUILD/guest-kernel-cache" >/dev/null || rc=$?
[ $rc = 77 ] && skip "no guest kernel package"
[ $rc = 0 ] || fail "guest/build.sh failed ($rc)"
GUEST_RELEASE=$(cat "$GUEST/kernel-release")

T=$(mktemp -d /tmp/cfvm.XXXXXX)
STATE=/run/cfvm-${T##*.}
CONFIG=$T/coffer.json
cat >"$CONFIG" <<J
{"backend": "libvirt", "kernel": "$GUEST/vmlinux", "initrd": "$GUEST/initramfs.img",
 "state_dir": "$STATE", "log_level": "debug", "agent_timeout_ms": 45000}
J
export COFFER_VMM_HELPER=$VMM
# block rootfs images and hash trees: this test's own cache, removed with $T
export COFFER_VMM_VERITY_CACHE=${COFFER_VMM_VERITY_CACHE:-$T/verity-cache}

# coffer domains of this test's pods (their metadata names our state dir)
our_domains() { "$VMM" list --json 2>/dev/null | tr -d ' \n' | grep -o "\"name\":\"coffer-[^\"]*\",[^}]*\"state_dir\":\"$STATE/" | sed -E 's/"name":"([^"]*)".*/\1/' || true; }
# The TCG translation cache (MiB) of a domain's QEMU, from its command line
# (libvirt: -accel tcg,tb-size=N); "kvm" when it runs under KVM.
qemu_tb_size() { # DOMAIN
  local p c
  for p in /proc/[0-9]*; do
    c=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
    case $c in *qemu-system*"guest=$1,"*) ;; *) continue ;; esac
    case $c in *"-accel kvm"*) echo kvm ;; *) printf '%s\n' "$c" | sed -n 's/.*tb-size=\([0-9]*\).*/\1/p' ;; esac
    return 0
  done
}
our_pids() {
  local p
  for p in /proc/[0-9]*; do
    [ "${p#/proc/}" = $$ ] && continue
    tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -q -- "$STATE/" && echo "${p#/proc/}"
  done
  return 0
}

assert_no_leftovers() {
  local what=$1 n
  n=$(our_domains | wc -w)
  [ "$n" = 0 ] || fail "$what: domain(s) left: $(our_domains)"
  n=$(our_pids | wc -l)
  [ "$n" = 0 ] || fail "$what: process(es) left: $(for p in $(our_pids); do tr '\0' ' ' <"/proc/$p/cmdline" | cut -c1-120; echo; done)"
  n=$(find "$STATE" \( -type f -o -type s \) 2>/dev/null | wc -l)
  [ "$n" = 0 ] || fail "$what: files left: $(find "$STATE" \( -type f -o -type s \))"
  n=$(awk -v s="$STATE" '$5 ~ "^"s {print $5}' /proc/self/mountinfo | wc -l)
  [ "$n" = 0 ] || fail "$what: $n mount(s) left under $STATE"
  return 0
}

e2e_cleanup() {
  local rc=$?
  set +e
  [ -f "$T/c/env" ] && "$H/containerd.sh" stop "$T/c" >/dev/null 2>&1
  for d in $(our_domains); do "$VMM" destroy --name "$d" >/dev/null 2>&1; done
  for p in $(our_pids); do kill -9 "$p" 2>/dev/null; done
  awk -v s="$STATE" '$5 ~ "^"s {print $5}' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l
  # the shim and coffer-vmm log to containerd: a sanitizer report there fails the test
  if grep -qE "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$T/c/containerd.log" 2>/dev/null; then
    echo "FAIL: sanitizer report in containerd's log (shim / coffer-vmm):" >&2
    grep -hE -A25 "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$T/c/containerd.log" | head -60 >&2
    [ $rc = 0 ] && rc=1
  fi
  if [ $rc != 0 ] && [ $rc != 77 ] && [ -f "$T/c/containerd.log" ]; then
    echo "--- last lines of containerd's log:" >&2
    grep -v ImageCreate "$T/c/containerd.log" | tail -40 | cut -c1-400 >&2
  fi
  if [ -z "${KEEP:-}" ]; then
    "$H/containerd.sh" stop "$T/c" --purge >/dev/null 2>&1
    rm -rf "$T" "$STATE"
  fi
  exit $rc
}
trap e2e_cleanup EXIT

"$H/containerd.sh" start "$T/c" --shim-dir "$BUILD/shim" --coffer-config "$CONFIG" \
  --images-dir "$BUILD/test-images" >"$T/harness.log" 2>&1 || { cat "$T/harness.log" >&2; fail "could not start a private containerd"; }
# shellcheck disable=SC1091
. "$T/c/env"
export CONTAINERD_ADDRESS CONTAINERD_NAMESPACE

RT=(--runtime io.containerd.coffer.v2 --runtime-config-path "$CONFIG")
IMG=localhost/busybox:latest
c() { timeout 90 ctr "$@"; }

# A CNI bridge network for CRI pods: e2e_cni_bridge PREFIX FIRST LAST picks a
# free 10.231.<n>.0/24 (n from FIRST down to LAST; a subnet a route already
# covers is skipped: a stale pod answering at the same IP would fake a
# result), links the plugins and writes the conflist. Sets BR (the bridge,
# PREFIX + this test's id) and SUBNET (10.231.<n>); the caller deletes $BR.
# Skips (77) without the plugins or a free subnet.
e2e_cni_bridge() {
  local prefix=$1 first=$2 last=$3 n p
  [ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/host-local ] || skip "containernetworking-plugins missing"
  BR=$prefix${T##*.}; BR=${BR:0:15}
  SUBNET=""
  for n in $(seq "$first" -1 "$last"); do
    grep -q "^10\.231\.$n\." <<<"$(ip route show)" && continue
    SUBNET=10.231.$n; break
  done
  [ -n "$SUBNET" ] || skip "no free 10.231.x.0/24 for the test bridge"
  for p in bridge host-local loopback; do ln -sf /usr/lib/cni/$p "$T/c/cni/bin/$p"; done
  cat > "$T/c/cni/net.d/10-$prefix.conflist" <<JSON
{"cniVersion": "0.4.0", "name": "$prefix", "plugins": [
  {"type": "bridge", "bridge": "$BR", "isGateway": true, "ipMasq": false, "mtu": 1450,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "$SUBNET.0/24", "gateway": "$SUBNET.1"}]],
            "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "$T/c/cni/ipam"}}]}
JSON
}

# A test CA and a server certificate for the bridge's host side ($SUBNET.1)
# and 127.0.0.1: e2e_pki DIR writes DIR/ca.crt, DIR/ca.key, DIR/srv.crt,
# DIR/srv.key (EC P-256, two days).
e2e_pki() {
  local k=$1
  mkdir -p "$k"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$k/ca.key" -out "$k/ca.crt" \
    -days 2 -subj "/CN=coffer e2e ca" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$k/srv.key" -out "$k/srv.csr" \
    -subj "/CN=$SUBNET.1" 2>/dev/null
  printf 'subjectAltName=IP:%s,IP:127.0.0.1\n' "$SUBNET.1" >"$k/san.ext"
  openssl x509 -req -in "$k/srv.csr" -CA "$k/ca.crt" -CAkey "$k/ca.key" -CAcreateserial -out "$k/srv.crt" \
    -days 2 -extfile "$k/san.ext" 2>/dev/null
}

wait_for() {
  local secs=$1; shift
  local end=$((SECONDS + secs))
  until ( "$@" ); do   # a subshell: a failing assert_* must not end the test
    [ $SECONDS -lt $end ] || return 1
    sleep 0.2
  done
}
