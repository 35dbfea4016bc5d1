#!/usr/bin/env bash
# The main job, end to end, on a fresh Debian 12 machine (root):
# installs the packages, builds coffer and the guest image, starts libvirtd and
# a private containerd, runs a busybox pod through coffer in its own VM, prints
# its output and the guest kernel's release, and cleans up.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD
BUILD=${BUILD:-$SRC/build}
[ "$(id -u)" = 0 ] || { echo "quickstart: run as root (libvirtd, containerd, mounts)" >&2; exit 1; }

step() { printf '\n==> %s\n' "$*"; }

step "installing Debian packages"
bash scripts/install-deps.sh

step "building coffer ($BUILD)"
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j"$(nproc)" >/dev/null

step "building the guest image (Debian cloud kernel + initramfs with coffer-agent as /init)"
guest/build.sh "$BUILD/guest-image" --init "$BUILD/agent/coffer-agent" --cache "$BUILD/guest-image/cache"

step "starting libvirtd"
tests/vmm/libvirtd.sh start

T=$(mktemp -d /tmp/coffer-quickstart.XXXXXX)
STATE=/run/coffer-quickstart-${T##*.}
cleanup() {
  local rc=$?
  set +e
  step "cleaning up"
  tests/harness/containerd.sh stop "$T/containerd" --purge >/dev/null 2>&1
  rm -rf "$T" "$STATE"
  exit $rc
}
trap cleanup EXIT

CONFIG=$T/coffer.json
cat >"$CONFIG" <<JSON
{
  "backend": "libvirt",
  "profile": "plain",
  "kernel": "$BUILD/guest-image/vmlinux",
  "initrd": "$BUILD/guest-image/initramfs.img",
  "vcpus": 1,
  "memory_mib": 256,
  "state_dir": "$STATE",
  "agent_timeout_ms": 60000
}
JSON
export COFFER_VMM_HELPER=$BUILD/vmm/coffer-vmm/coffer-vmm

step "starting a private containerd with the coffer runtime"
tests/harness/containerd.sh start "$T/containerd" --shim-dir "$BUILD/shim" \
  --coffer-config "$CONFIG" --images-dir "$BUILD/test-images" >"$T/harness.log" 2>&1 ||
  { cat "$T/harness.log" >&2; exit 1; }
# shellcheck disable=SC1091
. "$T/containerd/env"
export CONTAINERD_ADDRESS CONTAINERD_NAMESPACE

step "ctr run --runtime io.containerd.coffer.v2 localhost/busybox:latest (a pod in its own VM)"
t0=$(date +%s%N)
ctr run --rm --runtime io.containerd.coffer.v2 --runtime-config-path "$CONFIG" \
  localhost/busybox:latest coffer-quickstart \
  sh -c 'echo "hello from a coffer pod"; echo "guest kernel: $(uname -r)"; echo "guest cpus: $(nproc), memory: $(free -m | awk "/Mem:/ {print \$2}") MiB"'
t1=$(date +%s%N)
echo "host kernel:  $(uname -r)"
echo "pod ran in $(( (t1 - t0) / 1000000 )) ms, VM boot included (accelerator: $("$COFFER_VMM_HELPER" accel 2>&1 | head -1))"
