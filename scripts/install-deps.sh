#!/usr/bin/env bash
# Installs every Debian 12 package coffer needs to build, test and run.
# Idempotent: does nothing (quickly) when all are present.
set -euo pipefail

PACKAGES=(
  # build
  build-essential cmake pkg-config clang libclang-rt-14-dev
  protobuf-c-compiler libprotobuf-c-dev protobuf-compiler libprotobuf-dev
  libjson-c-dev libseccomp-dev libssl-dev libvirt-dev libxml2-dev libxml2-utils
  # runtime peers and test harness
  containerd runc busybox-static umoci erofs-utils cpio zstd procps e2fsprogs kmod util-linux
  lz4 # guest/build.sh: the cloud kernel's bzImage payload is LZ4
  qemu-system-x86 qemu-utils libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients
  tini # tests/vmm/libvirtd.sh: reaps powered-off guests' QEMU where PID 1 does not (no systemd)
  python3-grpcio python3-grpc-tools
  # interop peers, benchmarks, sanitizers
  golang-go golang-github-containerd-ttrpc-dev valgrind
  # kbs/: HTTP server, HTTP client, JOSE; jwcrypto as the independent JOSE peer in tests
  libmicrohttpd-dev libcurl4-openssl-dev libjose-dev python3-jwcrypto
  # critest (tests/critest): local registry for the image-pull specs, pod network
  docker-registry skopeo containernetworking-plugins iptables curl
  # pod networking: netlink (shim side, agent static)
  libnl-3-dev libnl-route-3-dev
  # init-data annotation (base64 of gzip): the shim inflates it
  zlib1g-dev
  # coffer-vmm: dm-verity hash trees of TEE rootfs images (libcryptsetup); veritysetup in tests
  libcryptsetup-dev cryptsetup-bin
  # SHA-2 (init-data digests, the shim's socket name): nettle, static for the agent
  nettle-dev
  # coffer-policy: Kubernetes YAML (libyaml); jq in its tests
  libyaml-dev jq
  # agent/image (guest pull): zstd-compressed layers
  libzstd-dev
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# with recommends: the set the test suite has been proven against
apt-get install -y -q "${missing[@]}"
