#!/usr/bin/env bash
# Pod start with the dm-verity rootfs against the same block rootfs without
# it (issue 12, item 8), interleaved so machine noise hits both alike:
#   verity   `ctr run --rm` of busybox in a block-rootfs VM, the agent opening
#            the image through dm-verity (the default);
#   plain    the same, COFFER_VMM_VERITY=off: the same image and slot, the
#            agent mounts the disk directly;
# both with a warm image cache (the hash tree is built once per image, so a
# pod start never pays for it; its one-off cost is printed separately:
# `coffer-vmm rootfs-image` cold, against mkfs.erofs alone on the same rootfs).
# Each mode runs under its own private containerd (the knob is the shim's
# environment). Both modes do the same host work (image and tree from the
# cache, both copied into the slot): only the guest's verity open and reads
# differ. Prints medians, the per-pair differences (the load drifts between
# pairs, far less within one), where the time goes (host: image lookup and
# slot copy, from the shim's log; guest: the block rootfs mount, from the
# agent's) and the load average. Target: verity adds <= 5 %.
# Not a test: nothing is asserted.
# Usage: bench/vm/verity.sh [BUILD_DIR]   (root; env RUNS, default 12)
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "${1:-$SRC/build}" && pwd)
RUNS=${RUNS:-12}
H=$SRC/tests/harness
AGENT_BIN=$BUILD/agent/coffer-agent
VMM=$BUILD/vmm/coffer-vmm/coffer-vmm
GUEST=$BUILD/vmm-agent-guest
for f in "$BUILD/shim/containerd-shim-coffer-v2" "$AGENT_BIN" "$VMM"; do
  [ -x "$f" ] || { echo "build first: $f missing" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
"$SRC/tests/vmm/libvirtd.sh" start >/dev/null
"$SRC/guest/build.sh" "$GUEST" --init "$AGENT_BIN" --cache "$GUEST/cache" >/dev/null

T=$(mktemp -d /tmp/cfveritybench.XXXXXX)
export COFFER_VMM_HELPER=$VMM COFFER_VMM_ROOTFS=block COFFER_VMM_VERITY_CACHE=$T/cache
cleanup() {
  set +e
  for m in verity plain; do "$H/containerd.sh" stop "$T/$m" --purge >/dev/null 2>&1; done
  rm -rf "$T" /run/cfveritybench-"${T##*.}"-*
}
trap cleanup EXIT

for m in verity plain; do
  cat >"$T/$m.json" <<J
{"backend": "libvirt", "kernel": "$GUEST/vmlinux", "initrd": "$GUEST/initramfs.img",
 "vcpus": 1, "memory_mib": 256, "state_dir": "/run/cfveritybench-${T##*.}-$m",
 "log_level": "info", "agent_timeout_ms": 60000}
J
  v=on; [ $m = plain ] && v=off
  COFFER_VMM_VERITY=$v "$H/containerd.sh" start "$T/$m" --shim-dir "$BUILD/shim" \
    --coffer-config "$T/$m.json" --images-dir "$BUILD/test-images" >"$T/$m.log" 2>&1 ||
    { cat "$T/$m.log" >&2; exit 1; }
done

run_pod() { # mode name -> ms to the container's output
  local m=$1 name=$2 t0 t1 out
  # shellcheck disable=SC1090
  ( . "$T/$m/env"; export CONTAINERD_ADDRESS CONTAINERD_NAMESPACE
    t0=$(date +%s%N)
    out=$(timeout 120 ctr run --rm --runtime io.containerd.coffer.v2 --runtime-config-path "$T/$m.json" \
          localhost/busybox:latest "$name" sh -c 'head -c 1 /bin/busybox >/dev/null && echo up')
    t1=$(date +%s%N)
    [ "$out" = up ] || { echo "pod $name ($m) printed '$out'" >&2; exit 1; }
    echo $(( (t1 - t0) / 1000000 )) )
}

# warm-up: builds the image and tree once, boots each path once
load0=$(cut -d' ' -f1-3 /proc/loadavg)
run_pod verity warm-v >/dev/null
run_pod plain warm-p >/dev/null
declare -a V P D
for i in $(seq 1 "$RUNS"); do
  if [ $((i % 2)) = 1 ]; then
    V+=("$(run_pod verity v$i)"); P+=("$(run_pod plain p$i)")
  else
    P+=("$(run_pod plain p$i)"); V+=("$(run_pod verity v$i)")
  fi
  D+=($(( V[i-1] - P[i-1] )))
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
mv_=$(median "${V[@]}"); mp=$(median "${P[@]}"); md=$(median "${D[@]}")
# where the time goes, from the logs of the measured pods (not the warm-ups)
host_ms() { # mode field(1: image lookup, 2: slot copy) -> the values
  grep -hoE 'container [vp][0-9]+: rootfs image .* in [0-9]+ ms, copied into the slot in [0-9]+ ms' \
    "$T/$1/containerd.log" | sed -E 's/.* in ([0-9]+) ms, copied into the slot in ([0-9]+) ms/\1 \2/' |
    cut -d' ' -f"$2"
}
guest_us() { # mode -> the block rootfs mount times (us)
  grep -hoE 'container [vp][0-9]+: block rootfs [^ ]+ \([^)]*\) mounted in [0-9]+ us' "$T/$1/containerd.log" |
    sed -E 's/.* mounted in ([0-9]+) us/\1/'
}

# the one-off host cost: image + hash tree cold, against mkfs.erofs alone
ROOT=$T/rootfs  # the test image's content: busybox and its applet links
mkdir -p "$ROOT/bin" "$ROOT/etc"
cp /bin/busybox "$ROOT/bin/"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$ROOT/bin/$a"; done
t0=$(date +%s%N); mkfs.erofs --quiet "$T/alone.erofs" "$ROOT"; t1=$(date +%s%N)
mkdir -p "$T/out"
t2=$(date +%s%N); "$VMM" rootfs-image --src "$ROOT" --out "$T/out" >/dev/null 2>&1; t3=$(date +%s%N)

echo "pod start, block rootfs, $RUNS pairs, interleaved; load average $load0 before, $load1 after"
echo "  verity ms: $(printf '%s ' "${V[@]}")"
echo "  plain  ms: $(printf '%s ' "${P[@]}")"
echo "  verity - plain, per pair: $(printf '%s ' "${D[@]}")"
printf '%-34s %8s %8s\n' "mode" "median" "min"
printf '%-34s %8s %8s\n' "verity (dm-verity, cached tree)" "$mv_" "$(printf '%s\n' "${V[@]}" | sort -n | head -1)"
printf '%-34s %8s %8s\n' "plain (same image, no verity)" "$mp" "$(printf '%s\n' "${P[@]}" | sort -n | head -1)"
awk -v a="$mv_" -v b="$mp" 'BEGIN {printf "verity / plain (medians): %.3fx (%+.1f %%)\n", a / b, (a / b - 1) * 100}'
awk -v d="$md" -v b="$mp" 'BEGIN {printf "median per-pair difference: %+d ms (%+.1f %% of the plain median)\n", d, d / b * 100}'
for m in verity plain; do
  echo "$m: host image lookup ms $(host_ms $m 1 | sort -n | tr '\n' ' ')| slot copy ms" \
    "$(host_ms $m 2 | sort -n | tr '\n' ' ')| guest block rootfs mount us $(guest_us $m | sort -n | tr '\n' ' ')"
done
echo "one-off per image (host): mkfs.erofs $(( (t1 - t0) / 1000000 )) ms; image + hash tree (coffer-vmm rootfs-image, cold) $(( (t3 - t2) / 1000000 )) ms; $(du -sk "$ROOT" | cut -f1) KiB rootfs"
