#!/usr/bin/env bash
# Measurements of the libvirt backend (not a ctest; prints numbers):
#   - coffer-vmm create latency (helper start → domain running), median of N
#   - time to the guest's first console line, destroy latency
#   - per-VM host memory: QEMU RSS/RssAnon, virtiofsd RSS (libvirt's)
#   - what linking libvirt into a process costs (RSS of a tiny program)
# Usage: tests/vmm/measure.sh BUILD_DIR [N]   (root; libvirtd via libvirtd.sh)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
B=$(cd "$1" && pwd); N=${2:-5}
H=$B/vmm/coffer-vmm/coffer-vmm
"$HERE/libvirtd.sh" start >/dev/null
read -r K I <<<"$("$HERE/guest-kernel.sh" "$B/vmm-test-guest")"
W=$(mktemp -d /tmp/coffer-measure.XXXXXX)
trap 'for d in "$W"/p*; do [ -d "$d" ] && "$H" destroy --pod "$(basename "$d")-m" >/dev/null 2>&1; done; rm -rf "$W"' EXIT
med() { sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
kb() { awk -v k="$2" '$1==k":"{print $2}' /proc/"$1"/status; }

for share in virtiofs none; do
  : >"$W/create.txt"; : >"$W/boot.txt"; : >"$W/destroy.txt"; : >"$W/mem.txt"
  for i in $(seq "$N"); do
    d=$W/p$i; mkdir -p "$d/share"
    extra='"share_dir":"'$d/share'","virtiofsd":"/usr/lib/qemu/virtiofsd",'
    [ $share = none ] && extra=
    cat >"$d/spec.json" <<J
{"pod_id":"p$i-m","profile":"plain","machine":"microvm","accel":"auto","kernel":"$K","initrd":"$I",
 "cmdline":"console=ttyS0 quiet panic=-1 tsc_early_khz=2300000","vcpus":1,"memory_mib":256,$extra
 "state_dir":"$d","console_log":"$d/console.log","agent_socket":"$d/agent.sock"}
J
    t0=$(date +%s%N)
    out=$("$H" create --spec "$d/spec.json" 2>/dev/null)
    t1=$(date +%s%N)
    echo $(((t1 - t0) / 1000000)) >>"$W/create.txt"
    pid=$(sed -E 's/.*"pid":([0-9]+).*/\1/' <<<"$out")
    until grep -q COFFER-TEST-GUEST-READY "$d/console.log" 2>/dev/null; do sleep 0.02; done
    t2=$(date +%s%N)
    echo $(((t2 - t0) / 1000000)) >>"$W/boot.txt"
    sleep 1
    vfs=0
    for v in $(pgrep -f "source=$d/share" || true); do vfs=$((vfs + $(kb "$v" VmRSS))); done
    echo "$(kb "$pid" VmRSS) $(kb "$pid" RssAnon) $vfs" >>"$W/mem.txt"
    t3=$(date +%s%N)
    "$H" destroy --pod "p$i-m" 2>/dev/null
    t4=$(date +%s%N)
    echo $(((t4 - t3) / 1000000)) >>"$W/destroy.txt"
    rm -rf "$d"
  done
  echo "== plain microvm, 1 vCPU, 256 MiB, TCG, share=$share, N=$N"
  echo "coffer-vmm create (median ms):      $(med <"$W/create.txt")   [all: $(tr '\n' ' ' <"$W/create.txt")]"
  echo "create → guest /init ready (ms):    $(med <"$W/boot.txt")"
  echo "coffer-vmm destroy (median ms):     $(med <"$W/destroy.txt")"
  echo "QEMU VmRSS kB (median):             $(awk '{print $1}' "$W/mem.txt" | med)"
  echo "QEMU RssAnon kB (median):           $(awk '{print $2}' "$W/mem.txt" | med)"
  echo "virtiofsd VmRSS kB (both procs):    $(awk '{print $3}' "$W/mem.txt" | med)"
done

# The floor: the same guest under bare QEMU (no libvirt), same flags.
: >"$W/boot.txt"; : >"$W/mem.txt"
for i in $(seq "$N"); do
  t0=$(date +%s%N)
  qemu-system-x86_64 -M microvm,acpi=on -accel tcg,tb-size=32 -cpu max -m 256 -smp 1 -no-reboot \
    -nodefaults -display none -serial "file:$W/bare.log" -kernel "$K" -initrd "$I" \
    -append "console=ttyS0 quiet panic=-1 tsc_early_khz=2300000" & qp=$!
  until grep -q COFFER-TEST-GUEST-READY "$W/bare.log" 2>/dev/null; do sleep 0.02; done
  t1=$(date +%s%N)
  echo $(((t1 - t0) / 1000000)) >>"$W/boot.txt"
  sleep 1
  echo "$(kb $qp VmRSS) $(kb $qp RssAnon)" >>"$W/mem.txt"
  kill $qp; wait $qp 2>/dev/null || true
  rm -f "$W/bare.log"
done
echo "== bare QEMU (no libvirt), same guest, no virtiofs, N=$N"
echo "start → guest /init ready (ms):     $(med <"$W/boot.txt")"
echo "QEMU VmRSS kB (median):             $(awk '{print $1}' "$W/mem.txt" | med)"
echo "QEMU RssAnon kB (median):           $(awk '{print $2}' "$W/mem.txt" | med)"

# What libvirt would cost inside every shim.
cat >"$W/with.c" <<'C'
#include <libvirt/libvirt.h>
#include <stdio.h>
#include <unistd.h>
int main(void){unsigned long v;virGetVersion(&v,NULL,NULL);printf("%lu\n",v);fflush(stdout);pause();return 0;}
C
cat >"$W/without.c" <<'C'
#include <stdio.h>
#include <unistd.h>
int main(void){printf("0\n");fflush(stdout);pause();return 0;}
C
gcc -O2 "$W/with.c" -o "$W/with" $(pkg-config --cflags --libs libvirt)
gcc -O2 "$W/without.c" -o "$W/without"
echo "== a tiny program, linked with libvirt vs not"
for b in with without; do
  "$W/$b" >/dev/null & p=$!
  sleep 0.3
  echo "$b libvirt: shared objects=$(awk '/\.so/{print $6}' /proc/$p/maps | sort -u | wc -l)" \
       "VmRSS=$(kb $p VmRSS) kB RssAnon=$(kb $p RssAnon) kB" \
       "Private=$(awk '/^Private_(Clean|Dirty):/{s+=$2}END{print s}' /proc/$p/smaps_rollup) kB"
  kill $p
done
