#!/usr/bin/env bash
# The VM backend against its floor, side by side in one run (issue 5, item 10):
#   (a) `ctr run --rm` with the libvirt backend → the container's first
#       output line, median of RUNS;
#   (b) a bare qemu-system-x86_64 boot of the same kernel + initramfs (the
#       guest image, /init replaced by a script printing a marker) → it,
#       same machine type, accelerator, CPU model, size and kernel command
#       line as the pod's VM (read from a live pod's QEMU), median of RUNS;
#       (a) and (b) interleaved so machine noise hits both alike;
#   (c) per-pod host memory with one idle container (QEMU + shim +
#       virtiofsd, PSS and RSS) next to the bare QEMU of (b) after boot.
#       The pod's guest RAM is a shared memfd (virtiofsd maps it too), so its
#       PSS is split between QEMU and virtiofsd: compare the sums.
# Prints a table with ratios. Targets: (a)/(b) <= 1.25x; (c) overhead <= 10 MB.
# Not a test: nothing is asserted.
# Usage: bench/vm/run.sh [BUILD_DIR]   (root; env RUNS, default 5; KERNEL_PARAMS
# added to both guests' command line, for experiments; LOG_LEVEL of
# the shim, default info: the last pod's shim/coffer-vmm log lines are printed
# with their time since the shim started, as a breakdown of (a))
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "${1:-$SRC/build}" && pwd)
RUNS=${RUNS:-5}
H=$SRC/tests/harness
SHIM_BIN=$BUILD/shim/containerd-shim-coffer-v2
AGENT_BIN=$BUILD/agent/coffer-agent
VMM=$BUILD/vmm/coffer-vmm/coffer-vmm
GUEST=$BUILD/vmm-agent-guest
for f in "$SHIM_BIN" "$AGENT_BIN" "$VMM"; do
  [ -x "$f" ] || { echo "build first: $f missing" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
"$SRC/tests/vmm/libvirtd.sh" start >/dev/null
"$SRC/guest/build.sh" "$GUEST" --init "$AGENT_BIN" --cache "$GUEST/cache" >/dev/null

T=$(mktemp -d /tmp/cfvmbench.XXXXXX)
STATE=/run/cfvmbench-${T##*.}
CONFIG=$T/coffer.json
KP_JSON=""
[ -z "${KERNEL_PARAMS:-}" ] || KP_JSON=", \"kernel_params\": \"$KERNEL_PARAMS\""
cat >"$CONFIG" <<J
{"backend": "libvirt", "kernel": "$GUEST/vmlinux", "initrd": "$GUEST/initramfs.img",
 "vcpus": 1, "memory_mib": 256, "state_dir": "$STATE", "log_level": "${LOG_LEVEL:-info}",
 "agent_timeout_ms": 60000$KP_JSON}
J
export COFFER_VMM_HELPER=$VMM
BARE_PID=
cleanup() {
  set +e
  [ -n "$BARE_PID" ] && kill "$BARE_PID" 2>/dev/null
  "$H/containerd.sh" stop "$T/c" --purge >/dev/null 2>&1
  rm -rf "$T" "$STATE"
}
trap cleanup EXIT
"$H/containerd.sh" start "$T/c" --shim-dir "$BUILD/shim" --coffer-config "$CONFIG" \
  --images-dir "$BUILD/test-images" >"$T/harness.log" 2>&1 || { cat "$T/harness.log" >&2; exit 1; }
# shellcheck disable=SC1091
. "$T/c/env"
export CONTAINERD_ADDRESS CONTAINERD_NAMESPACE
RT=(--runtime io.containerd.coffer.v2 --runtime-config-path "$CONFIG")
IMG=localhost/busybox:latest

kb() { awk -v k="$2" '$1==k":"{print $2}' /proc/"$1"/status; }
pss() { awk '$1=="Pss:"{print $2}' /proc/"$1"/smaps_rollup; }
med() { sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
# ms from starting "$@" to its first stdout line containing $1 (python: no
# shell startup in the measurement); prints -1 if it never came.
first_line_ms() {
  python3 - "$@" <<'PY'
import subprocess, sys, time
needle, cmd = sys.argv[1], sys.argv[2:]
t0 = time.monotonic()
p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
ms = -1
for line in p.stdout:
    if needle.encode() in line:
        ms = int((time.monotonic() - t0) * 1000)
        break
p.stdout.close()
p.wait()
print(ms)
PY
}
# ms until $2 (a file) holds $1, with the process started by the caller at t0 (ns).
wait_file_ms() { # needle file t0 timeout_s
  local end=$((SECONDS + $4))
  until grep -q "$1" "$2" 2>/dev/null; do
    [ $SECONDS -lt $end ] || { echo -1; return; }
    sleep 0.005
  done
  echo $((($(date +%s%N) - $3) / 1000000))
}

# --- one idle pod: its memory, and its VM's QEMU command line for the floor
timeout 120 ctr run -d "${RT[@]}" $IMG idle sleep 100000 >/dev/null
sleep 3
qemu=$(pgrep -f "guest=coffer-idle," | head -1 || true)
shim=$(for p in /proc/[0-9]*; do
  [ "$(readlink "$p/exe" 2>/dev/null)" = "$SHIM_BIN" ] &&
    tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -q -- "-address $CONTAINERD_ADDRESS" && echo "${p#/proc/}"
done | head -1; true)
vfs=$(pgrep -f "virtiofsd.*source=$STATE/" || true)
[ -n "$qemu" ] && [ -n "$shim" ] || { echo "no QEMU/shim for the idle pod" >&2; exit 1; }
args=$(tr '\0' '\n' <"/proc/$qemu/cmdline")
arg_after() { awk -v k="$1" 'f{print; exit} $0==k{f=1}' <<<"$args"; }
machine=$(arg_after -machine); accel=$(arg_after -accel); cpu=$(arg_after -cpu)
smp=$(arg_after -smp); append=$(arg_after -append)
mem_mib=$(jq -r '.memory_mib' "$CONFIG" 2>/dev/null || echo 256)
# libvirt 9 gives -machine microvm,...,accel=tcg (and no -accel) on this QEMU
machine=$(sed -E 's/(^|,)(usb|dump-guest-core|memory-backend)=[^,]*//g' <<<"$machine")
pod_qemu_rss=$(kb "$qemu" VmRSS) pod_qemu_pss=$(pss "$qemu")
pod_shim_rss=$(kb "$shim" VmRSS) pod_shim_pss=$(pss "$shim")
pod_vfs_rss=0 pod_vfs_pss=0
for v in $vfs; do
  pod_vfs_rss=$((pod_vfs_rss + $(kb "$v" VmRSS))); pod_vfs_pss=$((pod_vfs_pss + $(pss "$v")))
done
timeout 60 ctr task kill -s KILL idle >/dev/null 2>&1 || true
sleep 1
timeout 60 ctr task rm idle >/dev/null 2>&1 || true
timeout 60 ctr c rm idle >/dev/null 2>&1 || true

# --- the floor's initramfs: the pod's, same compression, /init replaced by
# a script that prints a marker (appending a cpio to the zstd image is not
# honoured by this kernel)
mkdir -p "$T/floor"
zstd -qdc "$GUEST/initramfs.img" | (cd "$T/floor" && cpio -id --quiet)
rm -f "$T/floor/init"
cat >"$T/floor/init" <<'S'
#!/bin/busybox sh
echo COFFER-BENCH-AT-INIT >/dev/console
exec /bin/busybox sleep 100000
S
chmod 755 "$T/floor/init"
(cd "$T/floor" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) | zstd -q -19 --no-check -T1 >"$T/floor.img"
bare_boot() { # log
  : >"$1"
  # shellcheck disable=SC2086
  qemu-system-x86_64 -machine "$machine" ${accel:+-accel "$accel"} ${cpu:+-cpu "$cpu"} \
    -m "$mem_mib" ${smp:+-smp "$smp"} -nodefaults -no-user-config -display none -no-reboot \
    -serial "file:$1" -kernel "$GUEST/vmlinux" -initrd "$T/floor.img" -append "$append" 2>"$T/bare.err" &
  BARE_PID=$!
}

: >"$T/a.txt"; : >"$T/b.txt"
for i in $(seq "$RUNS"); do
  ms=$(first_line_ms "FIRST-LINE-$i" timeout 120 ctr run --rm "${RT[@]}" $IMG "r$i" echo "FIRST-LINE-$i")
  echo "$ms" >>"$T/a.txt"
  t0=$(date +%s%N); bare_boot "$T/bare.log"
  echo "$(wait_file_ms COFFER-BENCH-AT-INIT "$T/bare.log" "$t0" 60)" >>"$T/b.txt"
  kill -0 "$BARE_PID" 2>/dev/null || { echo "bare QEMU died: $(cat "$T/bare.err")" >&2; exit 1; }
  if [ "$i" = "$RUNS" ]; then   # the last bare QEMU: memory after it settled
    sleep 3
    bare_rss=$(kb "$BARE_PID" VmRSS) bare_pss=$(pss "$BARE_PID")
  fi
  kill "$BARE_PID"; wait "$BARE_PID" 2>/dev/null || true; BARE_PID=
done

a=$(med <"$T/a.txt") b=$(med <"$T/b.txt")
ratio() { awk -v x="$1" -v y="$2" 'BEGIN{ if (y > 0) printf "%.2fx", x / y; else print "-" }'; }
mb() { awk -v k="$1" 'BEGIN{printf "%.1f MB", k / 1024}'; }
pod_rss=$((pod_qemu_rss + pod_shim_rss + pod_vfs_rss))
pod_pss=$((pod_qemu_pss + pod_shim_pss + pod_vfs_pss))
echo "coffer VM backend vs bare QEMU, $(date -u +%FT%TZ), $(git -C "$SRC" rev-parse --short HEAD), RUNS=$RUNS"
echo "guest: $(cat "$GUEST/kernel-release"), -machine $machine ${accel:+-accel $accel} -cpu ${cpu:-default} -m $mem_mib -smp ${smp:-1}"
printf '%-46s %12s %12s %8s  %s\n' "" "coffer" "bare QEMU" "ratio" "target"
printf '%-46s %9s ms %9s ms %8s  %s\n' "start → first output / → /init (median)" "$a" "$b" "$(ratio "$a" "$b")" "<= 1.25x"
printf '%-46s %12s %12s %8s  %s\n' "per-pod host memory, RSS (QEMU+shim+virtiofsd)" "$(mb $pod_rss)" "$(mb "$bare_rss")" \
  "$(ratio $pod_rss "$bare_rss")" "overhead $(mb $((pod_rss - bare_rss))) (<= 10 MB)"
printf '%-46s %12s %12s %8s  %s\n' "per-pod host memory, PSS" "$(mb $pod_pss)" "$(mb "$bare_pss")" \
  "$(ratio $pod_pss "$bare_pss")" "overhead $(mb $((pod_pss - bare_pss))) (<= 10 MB)"
echo "  of which: QEMU RSS $(mb "$pod_qemu_rss") PSS $(mb "$pod_qemu_pss"); shim RSS $(mb "$pod_shim_rss") PSS $(mb "$pod_shim_pss");" \
     "virtiofsd ($(wc -w <<<"$vfs") procs) RSS $(mb $pod_vfs_rss) PSS $(mb $pod_vfs_pss)"
echo "  all runs (ms): coffer $(tr '\n' ' ' <"$T/a.txt")| bare $(tr '\n' ' ' <"$T/b.txt")"
echo "timeline of pod r$RUNS (ms since its shim started; shim, coffer-vmm and guest lines):"
python3 - "$CONTAINERD_LOG" "r$RUNS" <<'PY'
import re, sys, datetime
pod, t0 = sys.argv[2], None
for line in open(sys.argv[1], errors="replace"):
    if "component=" not in line or ("pod " + pod not in line and "coffer-" + pod not in line and "source=guest" not in line):
        continue
    m = re.match(r'time="([0-9T:.\-]+)Z?"', line)
    msg = re.search(r'msg="((?:[^"\\]|\\.)*)"', line)
    if not m or not msg:
        continue
    ts = datetime.datetime.fromisoformat(m.group(1)[:26])
    if t0 is None:
        if "shim daemon for pod " + pod not in line:
            continue
        t0 = ts
    if ts < t0:
        continue
    # a guest agent line carries its own time= and level=: keep its message
    text = re.sub(r'^time=\\"[^\\]*\\" level=\w+ msg=\\"', '', msg.group(1))
    print("  %6d  %s" % ((ts - t0).total_seconds() * 1000, text[:300]))
PY

