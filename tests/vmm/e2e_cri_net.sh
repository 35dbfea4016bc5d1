#!/usr/bin/env bash
# Pod networking end to end (issue 14): a private containerd with a CNI
# bridge + host-local network (Debian's containernetworking-plugins, a private
# conf dir, a private subnet, traffic only on this machine) runs a CRI pod
# with handler coffer: the guest's NIC carries the IP of the CNI result (seen
# with `ip addr` in the container), the host fetches a page from busybox
# httpd in the pod at that IP, the pod and a runc pod on the same bridge
# reach each other, the tap and both u32 mirred redirects exist in
# the pod's netns while it runs, and none of it is left after the pod is
# stopped and removed: no tap, qdisc, filter or port-forward NAT rule, and
# nothing (no process, no mount) still holds the pod's network namespace.
#   e2e_cri_net.sh SRC BUILD [kill9|pair]
#   kill9: kill -9 the pod's shim first (containerd runs its `delete`, which
#          must remove the tap and qdiscs).
#   pair:  the second pod is a coffer pod (a second VM) in place of the runc
#          pod: each pod's httpd answers the other over TCP at its pod IP.
MODE=${3:-}
. "$(dirname "$0")/e2e_lib.sh"
/usr/bin/python3 -c 'import grpc, grpc_tools' 2>/dev/null || skip "python3-grpcio / python3-grpc-tools missing"
command -v tc >/dev/null || skip "tc (iproute2) missing"
command -v busybox >/dev/null && command -v nsenter >/dev/null || skip "busybox (its nc) or nsenter missing"

e2e_cni_bridge cofe2e 251 230
net_cleanup() { ip link del "$BR" 2>/dev/null || true; }
# keep the test's status for e2e_cleanup (it reads $? first)
trap 'rc=$?; set +e; net_cleanup; (exit $rc); e2e_cleanup' EXIT
sleep 1 # containerd's CRI picks the conf dir up by inotify

log "RunPodSandbox on the pod network (handler coffer), httpd in a container"
OUT=$T/net.out
PYARG=(); [ "$MODE" = pair ] && PYARG=(pair)
timeout 400 /usr/bin/python3 "$V/e2e_cri_net.py" "$H" "$CONTAINERD_ADDRESS" "${PYARG[@]}" > "$OUT" 2>&1 &
py=$!
# while the pod runs: the tap and the redirects in the pod's netns
POD=""; NETNS=""
for _ in $(seq 1 600); do
  POD=$(sed -n 's/^POD=//p' "$OUT")
  grep -q '^HTTP=ok' "$OUT" && break
  kill -0 $py 2>/dev/null || break
  sleep 0.5
done
wait $py || { cat "$OUT"; fail "pod networking failed"; }
cat "$OUT"
POD=$(sed -n 's/^POD=//p' "$OUT"); IP=$(sed -n 's/^IP=//p' "$OUT")
grep -q '^GW_PING=ok' "$OUT" || fail "the pod did not reach its gateway $SUBNET.1"
if [ "$MODE" = pair ]; then
  grep -q '^ONE_TO_TWO=ok' "$OUT" || fail "coffer pod 1 did not reach coffer pod 2's httpd over TCP"
  grep -q '^TWO_TO_ONE=ok' "$OUT" || fail "coffer pod 2 did not reach coffer pod 1's httpd over TCP"
else
  grep -q '^RUNC_TO_COFFER=ok' "$OUT" || fail "a runc pod on the bridge did not reach the coffer pod"
  grep -q '^COFFER_TO_RUNC=ok' "$OUT" || fail "the coffer pod did not reach a runc pod on the bridge"
fi
NETNS=$(find "$T/c/state" -path "*netns*" -type f 2>/dev/null | head -1)
[ -n "$NETNS" ] || NETNS=$(awk '$9=="nsfs" && $5 ~ /netns/ {print $5}' /proc/self/mountinfo | grep "$T" | head -1)
[ -n "$NETNS" ] || fail "cannot find the pod's netns under $T/c/state"
TAP=$(nsenter --net="$NETNS" ip -o link show 2>/dev/null | awk -F': ' '$2 ~ /^cof/ {print $2}' | head -1)
[ -n "$TAP" ] || fail "no coffer tap in the pod's netns $NETNS"
log "tap $TAP in $NETNS"
NETNS_INO=$(stat -L -c %i "$NETNS")
nat_rules() { nsenter --net="$NETNS" iptables -t nat -S 2>/dev/null | grep 169.254.77; true; }
[ -n "$(nat_rules)" ] || fail "no port-forward NAT rules in the pod's netns while it runs"
for dev in eth0 "$TAP"; do
  F=$(nsenter --net="$NETNS" tc filter show dev "$dev" ingress)
  echo "--- tc filter show dev $dev ingress"; echo "$F"
  grep -q "mirred (Egress Redirect to device" <<<"$F" || fail "no redirect on $dev"
done

# CRI port forwarding's path: containerd dials localhost:PORT inside the
# pod's netns; the NAT through the tap must bring it to httpd in the guest
PF=""
for _ in $(seq 1 20); do
  PF=$(printf 'GET / HTTP/1.0\r\n\r\n' | nsenter --net="$NETNS" timeout 10 busybox nc 127.0.0.1 8080 2>&1) && break
  sleep 0.5
done
grep -q coffer-net-ok <<<"$PF" || fail "localhost:8080 in the pod's netns did not reach httpd in the guest: $PF"
log "localhost:8080 in the pod's netns reached httpd in the guest (port forwarding)"

if [ "$MODE" = kill9 ]; then
  shim=$(for p in /proc/[0-9]*; do
    [ "$(readlink "$p/exe" 2>/dev/null)" = "$SHIM_BIN" ] || continue
    tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -q -- "-address $CONTAINERD_ADDRESS" && echo "${p#/proc/}"
  done; true)
  [ "$(echo $shim | wc -w)" = 1 ] || fail "expected one shim, got '$shim'"
  log "kill -9 the shim ($shim)"
  kill -KILL $shim
  gone() { ! nsenter --net="$NETNS" ip link show "$TAP" >/dev/null 2>&1; }
  wait_for 60 gone || fail "tap $TAP still in the pod netns 60 s after the shim's kill -9"
  log "the shim's delete removed tap $TAP"
  [ -z "$(nsenter --net="$NETNS" tc qdisc show dev eth0 ingress 2>/dev/null)" ] ||
    fail "ingress qdisc left on eth0 after the shim's delete"
  [ -z "$(nat_rules)" ] || fail "port-forward NAT rules left in the pod's netns after the shim's delete: $(nat_rules)"
  log "the shim's delete removed the qdisc and the NAT rules too"
fi

log "StopPodSandbox + RemovePodSandbox"
cri() { timeout 120 /usr/bin/python3 "$H/cri.py" "$@"; }
cri stop-pod "$POD" >/dev/null || fail "StopPodSandbox"
cri rm-pod "$POD" >/dev/null || fail "RemovePodSandbox"
wait_for 30 assert_no_leftovers quiet >/dev/null 2>&1 || assert_no_leftovers "after RemovePodSandbox"
ip link show "$TAP" >/dev/null 2>&1 && fail "tap $TAP left in the host netns"
if [ -e "$NETNS" ] && nsenter --net="$NETNS" true 2>/dev/null; then
  nsenter --net="$NETNS" ip link show "$TAP" >/dev/null 2>&1 && fail "tap $TAP left in the pod netns"
  [ -z "$(nsenter --net="$NETNS" tc qdisc show dev eth0 ingress 2>/dev/null)" ] || fail "ingress qdisc left on eth0"
fi
# the netns itself: containerd removes it; nothing of coffer's may keep it
# alive (a process in it or with it open, a bind mount of it)
holders() {
  for p in /proc/[0-9]*; do
    [ "$(stat -L -c %i "$p/ns/net" 2>/dev/null)" = "$NETNS_INO" ] && echo "${p#/proc/}:$(cat "$p/comm" 2>/dev/null)"
    for fd in "$p"/fd/*; do
      [ "$(readlink "$fd" 2>/dev/null)" = "net:[$NETNS_INO]" ] && echo "${p#/proc/}:$(cat "$p/comm" 2>/dev/null):fd"
    done
  done 2>/dev/null
  awk -v i="net:[$NETNS_INO]" '$4 == i {print "mount:" $5}' /proc/self/mountinfo
}
gone_ns() { [ -z "$(holders)" ]; }
wait_for 30 gone_ns || fail "the pod's netns (inode $NETNS_INO) still held after RemovePodSandbox: $(holders | tr '\n' ' ')"
log "nothing holds the pod's netns any more"
grep -q " cof[0-9a-f]\{12\}:" <<<"$(ip -o link show 2>/dev/null)" && fail "a coffer tap is left in the host netns: $(ip -o link show 2>/dev/null | grep ' cof')"
echo PASS
