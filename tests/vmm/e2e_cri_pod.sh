#!/usr/bin/env bash
# A CRI pod (runtime handler coffer) with two containers runs in one VM: one
# libvirt domain, one QEMU; ExecSync in each container sees the guest kernel;
# UpdateContainerResources reaches the container's cgroup in the guest;
# StopPodSandbox + RemovePodSandbox leave no domain, process, file or mount.
#   e2e_cri_pod.sh SRC BUILD [kill9]   kill9: kill -9 the pod's QEMU first;
#   both containers must be reported exited (ContainerStatus) before removal.
MODE=${3:-}
. "$(dirname "$0")/e2e_lib.sh"
/usr/bin/python3 -c 'import grpc, grpc_tools' 2>/dev/null || skip "python3-grpcio / python3-grpc-tools missing"
cri() { timeout 120 /usr/bin/python3 "$H/cri.py" "$@"; }

log "RunPodSandbox (handler coffer) + two containers"
pod=$(cri run-pod --handler coffer p1) || fail "RunPodSandbox failed: $pod"
pod=$(printf '%s\n' "$pod" | tail -1)
[ -n "$pod" ] || fail "RunPodSandbox returned no id"
c1=$(cri create "$pod" c1 $IMG sleep 7771) || fail "CreateContainer c1: $c1"
c1=$(printf '%s\n' "$c1" | tail -1)
cri start "$c1" >/dev/null || fail "StartContainer c1"
c2=$(cri create "$pod" c2 $IMG sleep 7772) || fail "CreateContainer c2: $c2"
c2=$(printf '%s\n' "$c2" | tail -1)
cri start "$c2" >/dev/null || fail "StartContainer c2"
for ctr in "$c1" "$c2"; do
  out=$(cri exec "$ctr" -- uname -r 2>&1) || fail "ExecSync in $ctr failed: $out"
  out=$(printf '%s\n' "$out" | tr -d '\r' | sed -n 1p)
  [ "$out" = "$GUEST_RELEASE" ] || fail "ExecSync uname -r in $ctr printed '$out', want $GUEST_RELEASE"
done
doms=$(our_domains)
[ "$(echo $doms | wc -w)" = 1 ] || fail "want one domain for the pod, got: '$doms'"
[ "$doms" = "coffer-$pod" ] || fail "domain '$doms' is not named after the pod id $pod"
qemus() {
  local p
  for p in /proc/[0-9]*; do
    tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -q "qemu-system.*guest=coffer-$pod," && echo "${p#/proc/}"
  done
  return 0
}
nq=$(qemus | wc -l)
[ "$nq" = 1 ] || fail "want one QEMU for the pod, found $nq"
tb=$(qemu_tb_size "$doms")
[ "$tb" = kvm ] || [ "$tb" = 32 ] || fail "a pod without a broker: TCG translation cache '$tb' MiB, want 32"
log "one domain ($doms), one QEMU (translation cache: $tb), both containers answer"

if [ -z "$MODE" ]; then
  log "UpdateContainerResources reaches the container's cgroup in the guest"
  cri update "$c1" --memory-limit 50331648 --cpu-shares 512 || fail "UpdateContainerResources"
  cg='/sys/fs/cgroup$(cut -d: -f3 /proc/self/cgroup)'
  out=$(cri exec "$c1" -- sh -c "cat $cg/memory.max $cg/cpu.weight" 2>&1 | tr -d '\r') ||
    fail "reading the cgroup in $c1: $out"
  # cpu.weight from shares: 1 + (512 - 2) * 9999 / 262142 = 20
  [ "$out" = "$(printf '50331648\n20')" ] || fail "after the update the guest cgroup says '$out'"
fi

if [ "$MODE" = kill9 ]; then
  q=$(qemus)
  log "kill -9 the pod's QEMU ($q)"
  kill -KILL $q
  exited() { cri status "$1" 2>/dev/null | grep -q CONTAINER_EXITED; }
  for ctr in "$c1" "$c2"; do
    wait_for 30 exited "$ctr" || fail "container $ctr not reported exited after QEMU died: $(cri status "$ctr" 2>&1 | grep -E 'state|reason' | head -3)"
  done
  log "both containers reported exited"
fi

log "StopPodSandbox + RemovePodSandbox"
cri stop-pod "$pod" >/dev/null || fail "StopPodSandbox"
cri rm-pod "$pod" >/dev/null || fail "RemovePodSandbox"
wait_for 30 assert_no_leftovers quiet >/dev/null 2>&1 || assert_no_leftovers "after RemovePodSandbox"
echo PASS
