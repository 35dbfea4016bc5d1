#!/usr/bin/env bash
# SIGTERM to every shim of several running CRI pods (libvirt backend): once
# the shims are gone nothing of theirs is left: no coffer domain of ours in
# libvirt, no QEMU or virtiofsd, no pod state directory, no mount. Right
# after the signal the VMs' record.json files are removed, as a clean-up
# that removes the state dir while the shims stop does (the critest
# harness's did): a shim must stop its VM from what it knows, not from them.
. "$(dirname "$0")/e2e_lib.sh"
/usr/bin/python3 -c 'import grpc, grpc_tools' 2>/dev/null || skip "python3-grpcio / python3-grpc-tools missing"
cri() { timeout 120 /usr/bin/python3 "$H/cri.py" "$@"; }
NPODS=${NPODS:-3}

pods=()
for i in $(seq 1 "$NPODS"); do
  pod=$(cri run-pod --handler coffer "p$i") || fail "RunPodSandbox p$i failed: $pod"
  pod=$(printf '%s\n' "$pod" | tail -1)
  ctr=$(cri create "$pod" "c$i" $IMG sleep 777$i) || fail "CreateContainer c$i: $ctr"
  ctr=$(printf '%s\n' "$ctr" | tail -1)
  cri start "$ctr" >/dev/null || fail "StartContainer c$i"
  pods+=("$pod")
done
n=$(our_domains | wc -w)
[ "$n" = "$NPODS" ] || fail "want $NPODS domains, got $n: $(our_domains)"
shims() {
  local p
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/exe" 2>/dev/null)" = "$SHIM_BIN" ] || continue
    tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -q -- "-address $CONTAINERD_ADDRESS" && echo "${p#/proc/}"
  done
  return 0
}
s=$(shims)
[ "$(echo $s | wc -w)" = "$NPODS" ] || fail "want $NPODS shims, got '$s'"
log "$NPODS pods running; SIGTERM to every shim ($(echo $s))"
kill -TERM $s
rm -f "$STATE"/*/*/vm/record.json
gone() { for p in $s; do [ -d /proc/$p ] && return 1; done; return 0; }
wait_for 90 gone || fail "shim(s) still running 90 s after SIGTERM: $(for p in $s; do [ -d /proc/$p ] && echo $p; done)"
log "every shim exited"
left_dirs() { find "$STATE" -mindepth 2 -maxdepth 2 -type d 2>/dev/null; }
no_dirs() { [ -z "$(left_dirs)" ]; }
wait_for 30 assert_no_leftovers quiet >/dev/null 2>&1 || assert_no_leftovers "after SIGTERM to every shim"
wait_for 10 no_dirs || fail "pod state dir(s) left: $(left_dirs)"
if virsh -c qemu:///system list --all --name 2>/dev/null | grep -qF -f <(printf 'coffer-%s\n' "${pods[@]}"); then
  fail "virsh list --all still shows a pod's domain: $(virsh -c qemu:///system list --all --name | grep coffer-)"
fi
grep -q 'signal 15: shutting down' "$T/c/containerd.log" || fail "no shim logged the SIGTERM"
echo PASS
