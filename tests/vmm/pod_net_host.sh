#!/usr/bin/env bash
# Pod networking, host side, against the real kernel and real CNI plugins:
# a netns configured by /usr/lib/cni/bridge + host-local (private bridge,
# private IPAM dir), then vmm/net's scan, tap and redirects (pod_net_tool),
# checked with `tc`, then torn down: no tap, no qdisc, no filter left.
# A veth in a second netns stands in for nothing: the tap has no reader, so
# this proves the control plane; tests/vmm/e2e_cri_net.sh proves traffic.
set -eu  # no pipefail: `cmd | grep -q` would fail when grep exits first (SIGPIPE)
TOOL=$1
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
[ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/host-local ] || { echo "SKIP: containernetworking-plugins missing"; exit 77; }
command -v tc >/dev/null && command -v ip >/dev/null || { echo "SKIP: iproute2 missing"; exit 77; }
[ -c /dev/net/tun ] || { echo "SKIP: no /dev/net/tun"; exit 77; }

NS=cofnet-t$$
BR=cofbrt$$
POD=podnettest$$
D=$(mktemp -d)
fail() { echo "FAIL: $*"; exit 1; }
cleanup() {
  "$TOOL" detach /var/run/netns/$NS $POD >/dev/null 2>&1 || true
  ip netns del $NS 2>/dev/null || true
  ip link del $BR 2>/dev/null || true
  rm -rf "$D"
}
trap cleanup EXIT
ip netns add $NS
conf() {
  cat <<JSON
{"cniVersion":"0.4.0","name":"cofnettest","type":"bridge","bridge":"$BR","isGateway":true,
 "mtu":1450,"ipam":{"type":"host-local","ranges":[[{"subnet":"10.199.250.0/24"}]],
 "routes":[{"dst":"0.0.0.0/0"}],"dataDir":"$D/ipam"}}
JSON
}
conf | CNI_COMMAND=ADD CNI_CONTAINERID=$POD CNI_NETNS=/var/run/netns/$NS CNI_IFNAME=eth0 \
  CNI_PATH=/usr/lib/cni /usr/lib/cni/bridge > "$D/result" || fail "CNI ADD"
IP=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ips"][0]["address"])' "$D/result")
echo "CNI gave $IP"

OUT=$("$TOOL" scan /var/run/netns/$NS $POD)
echo "$OUT"
echo "$OUT" | grep -q "^iface eth0 .* mtu 1450 .* addr $IP" || fail "scan did not find eth0 with $IP"
echo "$OUT" | grep -q "^route default via 10.199.250.1 dev eth0" || fail "scan missed the default route"
echo "$OUT" | grep -q "^iface lo" && fail "scan reported loopback"
TAP=$(echo "$OUT" | sed -n 's/^iface eth0 .* tap \([^ ]*\).*/\1/p')

"$TOOL" attach /var/run/netns/$NS $POD >/dev/null || fail "attach"
ip link show "$TAP" >/dev/null 2>&1 && fail "tap $TAP still in the host netns"
ip -n $NS link show "$TAP" | grep -q "mtu 1450" || fail "tap not in the pod netns with mtu 1450"
ip -n $NS link show "$TAP" | grep -q "[<,]UP[,>]" || fail "tap not up (administratively)"
for dev in eth0 "$TAP"; do
  ip netns exec $NS tc qdisc show dev $dev ingress | grep -q "qdisc ingress ffff:" || fail "no ingress qdisc on $dev"
  F=$(ip netns exec $NS tc filter show dev $dev ingress)
  echo "--- tc filter show dev $dev ingress"; echo "$F"
  other=$([ $dev = eth0 ] && echo "$TAP" || echo eth0)
  echo "$F" | grep -q "u32" || fail "no u32 filter on $dev"
  echo "$F" | grep -q "match 00000000/00000000 at 0" || fail "u32 filter on $dev is not match-all"
  echo "$F" | grep -q "mirred (Egress Redirect to device $other) stolen" || fail "no redirect $dev -> $other"
done
# CRI port forwarding: localhost in the pod netns NATed through the tap to
# the guest's link-local address; the guest's replies passed to the stack
MAC=$(echo "$OUT" | sed -n 's/^iface eth0 mac \([0-9a-f:]*\) .*/\1/p')
ip -n $NS link show "$TAP" | grep -q "link/ether 02:cf:00:00:00:01" || fail "tap without its fixed MAC"
ip -n $NS -o addr show dev "$TAP" | grep -q "inet 169.254.77.1/32" || fail "tap lacks 169.254.77.1"
[ "$(ip netns exec $NS sysctl -n net.ipv4.conf.$TAP.route_localnet)" = 1 ] || fail "route_localnet off on the tap"
ip -n $NS route show | grep -q "^169.254.77.2 dev $TAP" || fail "no route to 169.254.77.2 through the tap"
ip -n $NS neigh show dev "$TAP" | grep -qi "169.254.77.2 lladdr $MAC PERMANENT" || fail "no permanent neighbour 169.254.77.2 -> $MAC"
F=$(ip netns exec $NS tc filter show dev "$TAP" ingress)
echo "$F" | grep -q "match a9fe4d01/ffffffff at 16" || fail "no u32 pass filter for 169.254.77.1 on the tap"
N=$(ip netns exec $NS iptables -t nat -S)
echo "$N"
echo "$N" | grep -q -- "-A OUTPUT -d 127.0.0.1/32 -p tcp -j DNAT --to-destination 169.254.77.2" || fail "no DNAT of localhost"
echo "$N" | grep -q -- "-A POSTROUTING -s 127.0.0.1/32 -o $TAP -j SNAT --to-source 169.254.77.1" || fail "no SNAT to 169.254.77.1"
# port forwarding set up again (a second start in this netns): no second copy
"$TOOL" portforward /var/run/netns/$NS $POD >/dev/null || fail "second portforward"
[ "$(ip netns exec $NS iptables -t nat -S | grep -c -- "-j DNAT --to-destination 169.254.77.2")" = 1 ] ||
  fail "a second portforward stacked a second DNAT: $(ip netns exec $NS iptables -t nat -S)"
# attach again: the tap exists (IFF_TUN_EXCL) and must be refused, not shared
"$TOOL" attach /var/run/netns/$NS $POD >/dev/null 2>&1 && fail "second attach succeeded"

"$TOOL" detach /var/run/netns/$NS $POD || fail "detach"
ip -n $NS link show "$TAP" >/dev/null 2>&1 && fail "tap $TAP left in the pod netns"
ip link show "$TAP" >/dev/null 2>&1 && fail "tap $TAP left in the host netns"
[ -z "$(ip netns exec $NS tc qdisc show dev eth0 ingress)" ] || fail "ingress qdisc left on eth0"
[ -z "$(ip netns exec $NS tc filter show dev eth0 ingress)" ] || fail "filter left on eth0"
N=$(ip netns exec $NS iptables -t nat -S)
echo "$N" | grep -q "169.254.77" && fail "NAT rules of the port forwarding left in the pod netns: $N"
ip -n $NS addr show eth0 | grep -q "$IP" || fail "eth0 lost its address"
# idempotent, also with the netns gone
"$TOOL" detach /var/run/netns/$NS $POD || fail "second detach"
"$TOOL" detach /var/run/netns/gone-$$ $POD || fail "detach with the netns gone"
echo PASS
