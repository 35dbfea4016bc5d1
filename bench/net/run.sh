#!/usr/bin/env bash
# Pod networking against its floor and its ceiling, in one run (issue 14,
# item 5): host <-> a server in
#   (a) a coffer pod (CRI, libvirt backend, CNI bridge + host-local: the
#       tap and u32 mirred redirects coffer sets up);
#   (b) a bare qemu-system-x86_64 of the same guest image (kernel, initramfs,
#       machine, accelerator, CPU, memory and its memfd backend, -global
#       options and NIC model
#       read from (a)'s QEMU), its NIC on a tap set up by hand the same way:
#       a netns from CNI ADD on the same bridge, the tap moved into it, both
#       ingress qdiscs and both u32 mirred redirects (the floor);
#   (c) a runc pod on the same bridge (the ceiling of a shared kernel).
# The same two servers everywhere (busybox): httpd serving MB MiB from tmpfs
# (throughput: the host downloads it, pod -> host) and `nc -ll -e cat`
# (round trip: 1 byte written, 1 byte read back, over one TCP connection
# with TCP_NODELAY, median of 200). Runs are interleaved a, b, c so machine
# noise hits all three alike; medians of RUNS. Targets: (a) >= 0.9x (b)'s
# throughput and <= 1.1x its round trip.
# Host scheduling is made the same for (a) and (b): libvirt starts (a)'s QEMU
# under libvirtd's nice value in its own cgroups (machine/<domain>/emulator
# and .../vcpu0, each with its cpu.shares; under cgroup v1 the machine group
# competes with the other processes of the root group as ONE entity, which
# favours every libvirt VM over niced processes when the machine is loaded,
# and costs it nothing when the machine is quiet). (b) gets the same nice
# value and a sibling of (a)'s domain cgroup with the same emulator/vcpu0
# split. Without that, (b)'s ratio tracked the other load on the machine
# (0.63x-0.93x between runs of this script). measure.py prints each VM's CPU
# per MB and per echo and its run-queue waits, so a gap can be told apart:
# work the guest or QEMU does, or time the host did not give it.
# Not a test: nothing is asserted.
# Usage: bench/net/run.sh [BUILD_DIR]   (root; env RUNS default 20, MB default 16)
set -euo pipefail
[ -z "${BENCH_TRACE:-}" ] || set -x
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "${1:-$SRC/build}" && pwd)
RUNS=${RUNS:-20}
MB=${MB:-16}
H=$SRC/tests/harness
SHIM_BIN=$BUILD/shim/containerd-shim-coffer-v2
AGENT_BIN=$BUILD/agent/coffer-agent
VMM=$BUILD/vmm/coffer-vmm/coffer-vmm
GUEST=$BUILD/vmm-agent-guest
for f in "$SHIM_BIN" "$AGENT_BIN" "$VMM"; do
  [ -x "$f" ] || { echo "build first: $f missing" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
[ -x /usr/lib/cni/bridge ] || { echo "containernetworking-plugins missing" >&2; exit 1; }
"$SRC/tests/vmm/libvirtd.sh" start >/dev/null
"$SRC/guest/build.sh" "$GUEST" --init "$AGENT_BIN" --cache "$GUEST/cache" >/dev/null

T=$(mktemp -d /tmp/cfnetbench.XXXXXX)
STATE=/run/cfnetbench-${T##*.}
CONFIG=$T/coffer.json
cat >"$CONFIG" <<J
{"backend": "libvirt", "kernel": "$GUEST/vmlinux", "initrd": "$GUEST/initramfs.img",
 "state_dir": "$STATE", "log_level": "info", "agent_timeout_ms": 60000}
J
export COFFER_VMM_HELPER=$VMM
BR=cfnb${T##*.}; BR=${BR:0:15}
NS=cfnb-floor-${T##*.}
TAP=cfnbtap${T##*.}; TAP=${TAP:0:15}
SUBNET=""
for n in $(seq 229 -1 200); do
  grep -q "^10\.231\.$n\." <<<"$(ip route show)" && continue
  SUBNET=10.231.$n; break
done
[ -n "$SUBNET" ] || { echo "no free 10.231.x.0/24" >&2; exit 1; }
BARE_PID= PY_PID= MIRRORS=()
cleanup() {
  set +e
  if [ -n "$PY_PID" ]; then # let the driver remove its pods, then stop it
    timeout 5 sh -c "echo done >'$T/go'" 2>/dev/null
    timeout 120 tail --pid="$PY_PID" -f /dev/null
    kill "$PY_PID" 2>/dev/null
  fi
  if [ -n "$BARE_PID" ]; then
    kill "$BARE_PID" 2>/dev/null
    timeout 30 tail --pid="$BARE_PID" -f /dev/null
  fi
  if [ -n "${iso:-}" ]; then # back to the root group, so the directories can go
    cat "$iso/client/tasks" >"$cpumnt/tasks" 2>/dev/null
    while read -r t; do echo "$t" >"$cpumnt/tasks"; done <"$iso/client/tasks" 2>/dev/null
    for _ in 1 2 3 4 5 6 7 8 9 10; do [ -z "$(cat "$iso"/coffer/*/tasks 2>/dev/null)" ] && break; sleep 1; done
  fi
  for ((i = ${#MIRRORS[@]} - 1; i >= 0; i--)); do rmdir "${MIRRORS[$i]}" 2>/dev/null; done
  ip netns del "$NS" 2>/dev/null
  ip link del "$TAP" 2>/dev/null
  "$H/containerd.sh" stop "$T/c" --purge >/dev/null 2>&1
  awk -v s="$STATE" '$5 ~ "^"s {print $5}' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l
  ip link del "$BR" 2>/dev/null
  rm -rf "$T" "$STATE"
}
trap cleanup EXIT
"$H/containerd.sh" start "$T/c" --shim-dir "$BUILD/shim" --coffer-config "$CONFIG" \
  --images-dir "$BUILD/test-images" >"$T/harness.log" 2>&1 || { cat "$T/harness.log" >&2; exit 1; }
# shellcheck disable=SC1091
. "$T/c/env"
for p in bridge host-local loopback; do ln -sf /usr/lib/cni/$p "$T/c/cni/bin/$p"; done
NET='{"cniVersion": "0.4.0", "name": "coffer-netbench", "type": "bridge", "bridge": "'$BR'",
  "isGateway": true, "ipMasq": false, "mtu": 1450,
  "ipam": {"type": "host-local", "ranges": [[{"subnet": "'$SUBNET'.0/24", "gateway": "'$SUBNET'.1"}]],
           "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "'$T'/ipam"}}'
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); p=dict(d); [p.pop(k) for k in ("cniVersion","name")];
print(json.dumps({"cniVersion": d["cniVersion"], "name": d["name"], "plugins": [p]}))' "$NET" \
  >"$T/c/cni/net.d/10-netbench.conflist"
sleep 1 # containerd's CRI picks the conf dir up by inotify

# the servers, the same in every guest: httpd on 8080 (MB MiB in the guest's
# RAM: /dev is a tmpfs in a container; a pod's /dev/shm is a host mount, which
# reaches a VM through virtiofs), echo on 5002
SERVE="mkdir -p /dev/w && dd if=/dev/zero of=/dev/w/big bs=1048576 count=$MB 2>/dev/null && \
echo ok >/dev/w/ok && (nc -ll -p 5002 -e cat &) && exec httpd -f -p 8080 -h /dev/w"

# --- (a) and (c): pods through CRI; the driver keeps them until told
mkfifo "$T/go"
/usr/bin/python3 "$SRC/bench/net/pods.py" "$H" "$CONTAINERD_ADDRESS" "$SERVE" "$T/go" >"$T/pods.out" 2>&1 &
PY_PID=$!
for _ in $(seq 1 600); do
  grep -q '^READY' "$T/pods.out" && break
  kill -0 $PY_PID 2>/dev/null || { cat "$T/pods.out" >&2; exit 1; }
  sleep 0.5
done
grep -q '^READY' "$T/pods.out" || { cat "$T/pods.out" >&2; exit 1; }
COFFER_IP=$(sed -n 's/^COFFER_IP=//p' "$T/pods.out"); RUNC_IP=$(sed -n 's/^RUNC_IP=//p' "$T/pods.out")

# --- (b) the floor: (a)'s QEMU command line, its NIC on a hand-made tap
dom=$("$VMM" list --json 2>/dev/null | tr -d ' \n' | grep -o "\"name\":\"coffer-[^\"]*\",[^}]*\"state_dir\":\"$STATE/" |
  sed -E 's/"name":"([^"]*)".*/\1/' | head -1 || true)
qemu=$(pgrep -f "guest=$dom," | head -1 || true)
[ -n "$qemu" ] || { echo "no QEMU for the coffer pod" >&2; exit 1; }
args=$(tr '\0' '\n' <"/proc/$qemu/cmdline")
arg_after() { awk -v k="$1" 'f{print; exit} $0==k{f=1}' <<<"$args"; }
machine=$(arg_after -machine); accel=$(arg_after -accel); cpu=$(arg_after -cpu)
smp=$(arg_after -smp); mem=$(arg_after -m); append=$(arg_after -append)
machine=$(sed -E 's/(^|,)(usb|dump-guest-core)=[^,]*//g' <<<"$machine")
# the same guest RAM (libvirt's memfd backend, shared with virtiofsd in the
# pod): its page size and sharing shape what TCG's memory accesses cost
objs=(); while read -r o; do [ -n "$o" ] && objs+=(-object "$o"); done < <(awk 'f{print; f=0} $0=="-object"{f=1}' <<<"$args" | grep memory-backend)
mem=$(sed -E 's/^size=//; s/k$/K/; s/,.*//' <<<"$mem")
globals=(); while read -r g; do [ -n "$g" ] && globals+=(-global "$g"); done < <(awk 'f{print; f=0} $0=="-global"{f=1}' <<<"$args")
# the pod's NIC device (libvirt writes -device as JSON), without its ids and MAC
nicdev=$(python3 -c '
import json, sys
for line in sys.stdin:
    line = line.strip()
    d = json.loads(line) if line.startswith("{") else None
    if d and d.get("driver", "").startswith("virtio-net"):
        for k in ("netdev", "id", "mac", "bus", "addr"):
            d.pop(k, None)
        print(",".join([d.pop("driver")] + ["%s=%s" % (k, v) for k, v in d.items()]))
        break' <<<"$args")
[ -n "$nicdev" ] || { echo "the coffer pod's QEMU has no virtio-net device" >&2; exit 1; }

ip netns add "$NS"
CNI_COMMAND=ADD CNI_CONTAINERID=netbench-floor CNI_NETNS=/var/run/netns/$NS CNI_IFNAME=eth0 \
  CNI_PATH=/usr/lib/cni /usr/lib/cni/bridge <<<"$NET" >"$T/floor-cni.json"
BARE_IP=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ips"][0]["address"].split("/")[0])' "$T/floor-cni.json")
MAC=$(ip -n "$NS" -o link show eth0 2>/dev/null | grep -o 'link/ether [0-9a-f:]*' | cut -d' ' -f2)
ip tuntap add dev "$TAP" mode tap vnet_hdr

# FLOOR_CGROUP=1: the floor's servers run in a cgroup of the same depth and
# controllers as the agent gives a container (coffer/<pod>/<container>,
# cgroup v2, cpuset cpu io memory hugetlb pids), to tell the container's
# cgroup cost in the guest apart from the network path's
FLOOR_CG=""
if [ -n "${FLOOR_CGROUP:-}" ]; then
  FLOOR_CG='mount -t cgroup2 none /sys/fs/cgroup; c=/sys/fs/cgroup
for d in coffer pod ctr; do echo "+cpuset +cpu +io +memory +hugetlb +pids" >$c/cgroup.subtree_control; c=$c/$d; mkdir $c; done
echo $$ >$c/cgroup.procs'
fi
mkdir -p "$T/floor"
zstd -qdc "$GUEST/initramfs.img" | (cd "$T/floor" && cpio -id --quiet)
rm -f "$T/floor/init"
cat >"$T/floor/init" <<S
#!/bin/busybox sh
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
busybox mount -t proc proc /proc; busybox mount -t sysfs sysfs /sys; busybox mount -t devtmpfs dev /dev
mkdir -p /dev/shm && mount -t tmpfs shm /dev/shm
# the boot modules and the [net] group, as the agent loads them
awk '/^\[/{g=\$0; next} /^#/||NF==0{next} g==""||g=="[net]"' /etc/coffer/modules | while read -r ko; do insmod "\$ko"; done
for _ in \$(seq 1 100); do ip link show eth0 >/dev/null 2>&1 && break; sleep 0.05; done
ip link set lo up
ip link set eth0 mtu 1450 up
ip addr add $BARE_IP/24 dev eth0
ip route add default via $SUBNET.1
$FLOOR_CG
$SERVE &
for d in /sys/bus/virtio/devices/*; do [ "\$(cat \$d/device)" = 0x0001 ] && echo "NIC-FEATURES=\$(cat \$d/features)" >/dev/console; done
echo "FLOOR-CGROUP=\$(cat /proc/self/cgroup)" >/dev/console
echo COFFER-NETBENCH-READY >/dev/console
exec sleep 100000
S
chmod 755 "$T/floor/init"
(cd "$T/floor" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) | zstd -q -3 -T1 >"$T/floor.img"
# shellcheck disable=SC2086
qemu-system-x86_64 -name "netbench-floor,debug-threads=on" -machine "$machine" ${accel:+-accel "$accel"} ${cpu:+-cpu "$cpu"} -m "$mem" \
  ${smp:+-smp "$smp"} "${objs[@]}" "${globals[@]}" -nodefaults -no-user-config -display none -no-reboot \
  -serial "file:$T/bare.log" -kernel "$GUEST/vmlinux" -initrd "$T/floor.img" -append "$append" \
  -netdev "tap,id=n0,ifname=$TAP,script=no,downscript=no,vhost=off" \
  -device "$nicdev,netdev=n0,mac=$MAC" 2>"$T/bare.err" &
BARE_PID=$!
sleep 1
# the same tap setup as coffer's: moved into the netns, up, both redirects
ip link set "$TAP" netns "$NS"
ip -n "$NS" link set "$TAP" mtu 1450 up
for d in eth0:"$TAP" "$TAP":eth0; do
  ip netns exec "$NS" tc qdisc add dev "${d%%:*}" ingress
  ip netns exec "$NS" tc filter add dev "${d%%:*}" parent ffff: protocol all prio 2 u32 match u8 0 0 \
    action mirred egress redirect dev "${d#*:}"
done
for _ in $(seq 1 600); do grep -q COFFER-NETBENCH-READY "$T/bare.log" 2>/dev/null && break; sleep 0.5; done
grep -q COFFER-NETBENCH-READY "$T/bare.log" || { echo "bare QEMU never got ready: $(tail -5 "$T/bare.log") $(cat "$T/bare.err")" >&2; exit 1; }

# --- the same host scheduling for both VMs (see the header)
renice -n "$(awk '{print $19}' "/proc/$qemu/stat")" -p $(ls "/proc/$BARE_PID/task") >/dev/null
vcpu_tid() { for t in /proc/"$1"/task/*; do [[ "$(cat "$t/comm")" == CPU\ * ]] && { echo "${t##*/}"; return; }; done; }
cg_mount() { # mount point of the cgroup hierarchy named by /proc/PID/cgroup's controller field
  if [ -z "$1" ]; then awk '$9 == "cgroup2" {print $5; exit}' /proc/self/mountinfo; return; fi
  awk -v c="$1" '$9 == "cgroup" { n = split($NF, o, ","); m = split(c, w, ","); k = 0
    for (i = 1; i <= n; i++) for (j = 1; j <= m; j++) if (o[i] == w[j]) k++
    if (k == m) { print $5; exit } }' /proc/self/mountinfo
}
mirror_thread() { # SRC_TID DST_TID: DST into the sibling of SRC's libvirt domain cgroup, per hierarchy
  local line ctl path mnt leaf dom dir
  while IFS=: read -r _ ctl path; do
    leaf=${path##*/}; dom=${path%/*}
    [[ "$leaf" == emulator || "$leaf" == vcpu[0-9]* ]] && [[ "$dom" == */*.libvirt-qemu ]] || continue
    [ "$ctl" = "name=systemd" ] && continue
    mnt=$(cg_mount "$ctl"); [ -n "$mnt" ] || continue
    dir=$mnt${dom%/*}/cfnetbench-${T##*.}
    for d in "$dir" "$dir/$leaf"; do
      [ -d "$d" ] && continue
      mkdir "$d" && MIRRORS+=("$d")
      for f in cpuset.cpus cpuset.mems; do # v1 cpuset starts empty
        [ -f "$d/$f" ] && cat "${d%/*}/$f" >"$d/$f"
      done
      [ -z "$ctl" ] && [ "$d" != "$dir" ] && echo threaded >"$d/cgroup.type"
    done
    if [ -z "$ctl" ]; then # v2: the process into the domain level, the thread into its threaded leaf
      grep -qx "$BARE_PID" "$dir/cgroup.procs" 2>/dev/null || echo "$BARE_PID" >"$dir/cgroup.procs"
      echo "$2" >"$dir/$leaf/cgroup.threads"
    else
      echo "$2" >"$dir/$leaf/tasks"
    fi
  done <"/proc/$qemu/task/$1/cgroup"
}
qv=$(vcpu_tid "$qemu"); bv=$(vcpu_tid "$BARE_PID")
[ -n "$qv" ] && [ -n "$bv" ] || { echo "no vCPU thread found (debug-threads)" >&2; exit 1; }
for t in $(ls "/proc/$BARE_PID/task"); do
  if [ "$t" = "$bv" ]; then mirror_thread "$qv" "$t"; else mirror_thread "$qemu" "$t"; fi
done
# ISOLATE=1 (cgroup v1 cpu hierarchy only): both VMs, each with its
# emulator/vcpu0 split, and this script's client move under one cgroup with
# cpu.shares 8192, so the other load of the machine (other users' builds,
# tests and VMs, nice 10 here) barely reaches the comparison. It takes the
# coffer pod's QEMU out of libvirt's cgroups for the run: the numbers are
# those of a quiet machine, not of libvirt's placement under load.
if [ -n "${ISOLATE:-}" ]; then
  cpumnt=$(cg_mount cpu)
  [ -n "$cpumnt" ] && [ -f "$cpumnt/cpu.shares" ] || { echo "ISOLATE needs the cgroup v1 cpu hierarchy" >&2; exit 1; }
  iso=$cpumnt/cfnetbench-iso-${T##*.}
  for d in "$iso" "$iso/coffer" "$iso/coffer/emulator" "$iso/coffer/vcpu0" "$iso/bare" "$iso/bare/emulator" \
           "$iso/bare/vcpu0" "$iso/client"; do
    mkdir "$d" && MIRRORS+=("$d")
  done
  echo 8192 >"$iso/cpu.shares"
  for t in $(ls "/proc/$qemu/task"); do
    [ "$t" = "$qv" ] && echo "$t" >"$iso/coffer/vcpu0/tasks" || echo "$t" >"$iso/coffer/emulator/tasks"
  done
  for t in $(ls "/proc/$BARE_PID/task"); do
    [ "$t" = "$bv" ] && echo "$t" >"$iso/bare/vcpu0/tasks" || echo "$t" >"$iso/bare/emulator/tasks"
  done
  echo $$ >"$iso/client/tasks" # the client (measure.py) starts from here
fi
placement() { echo "nice $(awk '{print $19}' "/proc/$1/stat"), main thread cpu cgroup $(grep -E ':(cpu|cpu,cpuacct|cpuacct,cpu|):' "/proc/$1/cgroup" | head -1 | cut -d: -f3-)," \
  "vCPU $(grep -E ':(cpu|cpu,cpuacct|cpuacct,cpu|):' "/proc/$1/task/$2/cgroup" | head -1 | cut -d: -f3-), $(grep -E '^Seccomp:' "/proc/$1/status" | tr -d '\t')"; }
echo "coffer pod networking vs bare QEMU (same tap + tc) vs runc, $(date -u +%FT%TZ), $(git -C "$SRC" rev-parse --short HEAD), RUNS=$RUNS, $MB MiB"
echo "guest: $(cat "$GUEST/kernel-release"), -machine $machine ${accel:+-accel $accel} -cpu ${cpu:-default} -m $mem -smp ${smp:-1}; NIC $nicdev, QEMU's backend (no /dev/vhost-net here)"
# idle cost of each VM (what its guest does with nobody talking to it)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
q0=$(cpu_ticks "$qemu") b0=$(cpu_ticks "$BARE_PID"); sleep 5
echo "idle QEMU CPU over 5 s: coffer pod $(( ($(cpu_ticks "$qemu") - q0) * 100 / $(getconf CLK_TCK) / 5 ))%," \
  "bare $(( ($(cpu_ticks "$BARE_PID") - b0) * 100 / $(getconf CLK_TCK) / 5 ))%"
# virtio-net feature bits each guest negotiated (bit 0 csum, 7 guest TSO4, 11 host TSO4, 15 mergeable rx)
echo "virtio-net features: coffer $(sed -n 's/^COFFER_NIC_FEATURES=//p' "$T/pods.out" | cut -c1-24)," \
  "bare $(tr -d '\r' <"$T/bare.log" | sed -n 's/^NIC-FEATURES=//p' | cut -c1-24)"
echo "coffer container: $(sed -n 's/^COFFER_CTR=//p' "$T/pods.out")"
fc=$(tr -d '\r' <"$T/bare.log" | sed -n 's/^FLOOR-CGROUP=//p'); echo "floor's servers in the guest's cgroup ${fc:-0::/ (the root)}"
echo "host scheduling: coffer pod's QEMU $(placement "$qemu" "$qv")"
echo "                 bare QEMU        $(placement "$BARE_PID" "$bv")"
if [ -n "${NO_PASS_FILTER:-}" ]; then # experiment: the coffer tap without portfwd.c's pass filter
  ptap=$(virsh -c qemu:///system dumpxml "$dom" | grep -o "<target dev='cof[0-9a-f]*'" | grep -o "cof[0-9a-f]*" | head -1)
  for n in $(find "$T/c" -path "*netns*" -type f 2>/dev/null) /var/run/netns/*; do # the one holding this pod's tap
    nsenter --net="$n" ip link show "$ptap" >/dev/null 2>&1 || continue
    nsenter --net="$n" tc filter del dev "$ptap" ingress prio 1 && echo "removed the pass filter on $ptap"
    break
  done
fi
python3 "$SRC/bench/net/measure.py" "$RUNS" coffer="$COFFER_IP:$qemu" bare="$BARE_IP:$BARE_PID" runc="$RUNC_IP"
echo done >"$T/go"
wait "$PY_PID" 2>/dev/null || true; PY_PID=
