#!/usr/bin/python3
"""Pod networking end to end (driven by e2e_cri_net.sh): a CRI pod with its
own network namespace (CNI bridge + host-local) on the coffer handler gets
the IP its CNI result names inside the guest, and the host reaches a server
in the pod at that IP. Then a second pod on the same bridge: a runc pod
(ping both ways), or with `pair` a second coffer pod (TCP both ways: each
pod's httpd answers the other's request over the pod IPs).
Prints KEY=VALUE lines for the shell to check.
    e2e_cri_net.py HARNESS_DIR SOCK [pair]"""
import sys
import time
import urllib.request

sys.path.insert(0, sys.argv[1])
import cri  # noqa: E402

# the kubelet's config for a pod on the pod network
cri.HOST_NETWORK = cri.pb.NamespaceOption(network=cri.pb.POD, pid=cri.pb.CONTAINER,
                                          ipc=cri.pb.POD)
c = cri.Client(sys.argv[2], timeout=120)
IMG = "localhost/busybox:latest"
PAIR = len(sys.argv) > 3 and sys.argv[3] == "pair"


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


pod = c.run_pod("net1", handler="coffer")
print("POD=" + pod, flush=True)
ip = c.pod_status(pod).status.network.ip
if not ip:
    fail("PodSandboxStatus names no IP")
print("IP=" + ip, flush=True)
srv = c.create_container(pod, "srv", IMG, ["sh", "-c",
                         "mkdir -p /tmp/w && echo coffer-net-ok > /tmp/w/index.html && "
                         "exec httpd -f -p 8080 -h /tmp/w"])
c.start_container(srv)
r = c.exec_sync(srv, ["ip", "-o", "addr", "show"])
addrs = r.stdout.decode(errors="replace")
print("# ip addr in the container:\n" + "".join("#   " + l + "\n" for l in addrs.splitlines()))
if (" " + ip + "/") not in addrs:
    fail("the container does not see %s: %s" % (ip, addrs))
r = c.exec_sync(srv, ["ip", "route", "show"])
print("# ip route in the container:\n" + "".join("#   " + l + "\n" for l in r.stdout.decode().splitlines()))
body, last = None, None
for _ in range(100):  # httpd may still be starting
    try:
        body = urllib.request.urlopen("http://%s:8080/" % ip, timeout=3).read().decode()
        break
    except OSError as e:
        last = e
        time.sleep(0.2)
if body is None or "coffer-net-ok" not in body:
    fail("host could not fetch http://%s:8080/ from the pod: %s" % (ip, last))
print("HTTP=ok", flush=True)
# the pod reaches its gateway too (the guest's routes work)
gw = ip.rsplit(".", 1)[0] + ".1"
r = c.exec_sync(srv, ["ping", "-c", "1", "-W", "3", gw])
print("GW_PING=%s" % ("ok" if r.exit_code == 0 else "failed: " + r.stdout.decode()[-200:]), flush=True)


def fetch(ctr, ip):
    """HTTP GET over TCP from inside ctr (busybox nc: its wget crashes in the
    static glibc's getaddrinfo here); the body or ''."""
    r = c.exec_sync(ctr, ["sh", "-c", "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 %s 8080" % ip])
    return r.stdout.decode(errors="replace") if r.exit_code == 0 else ""


if PAIR:
    # a second coffer pod (its own VM) with its own httpd: TCP both ways
    pod2 = c.run_pod("net2", handler="coffer")
    print("POD2=" + pod2, flush=True)
    ip2 = c.pod_status(pod2).status.network.ip
    print("IP2=" + ip2, flush=True)
    if not ip2 or ip2 == ip:
        fail("second pod's IP %r (first %s)" % (ip2, ip))
    srv2 = c.create_container(pod2, "srv2", IMG, ["sh", "-c",
                              "mkdir -p /tmp/w && echo coffer-net-two > /tmp/w/index.html && "
                              "exec httpd -f -p 8080 -h /tmp/w"])
    c.start_container(srv2)
    one_to_two = two_to_one = ""
    for _ in range(50):
        if "coffer-net-two" not in one_to_two:
            one_to_two = fetch(srv, ip2)
        if "coffer-net-ok" not in two_to_one:
            two_to_one = fetch(srv2, ip)
        if "coffer-net-two" in one_to_two and "coffer-net-ok" in two_to_one:
            break
        time.sleep(0.2)
    print("# pod 1 -> pod 2: %r" % one_to_two[-120:])
    print("# pod 2 -> pod 1: %r" % two_to_one[-120:])
    print("ONE_TO_TWO=%s" % ("ok" if "coffer-net-two" in one_to_two else "failed"), flush=True)
    print("TWO_TO_ONE=%s" % ("ok" if "coffer-net-ok" in two_to_one else "failed"), flush=True)
    c.stop_pod(pod2)
    c.remove_pod(pod2)
    sys.exit(0)

# a runc pod on the same bridge: pod to pod, both ways (ping: busybox-static's
# wget crashes in glibc's static getaddrinfo here)
runc_pod = c.run_pod("net-runc", handler="")
rip = c.pod_status(runc_pod).status.network.ip
print("RUNC_IP=" + rip, flush=True)
rctr = c.create_container(runc_pod, "r", IMG, ["sleep", "600"])
c.start_container(rctr)
ok_in = ok_out = False
for _ in range(20):
    if not ok_in:
        r = c.exec_sync(rctr, ["ping", "-c", "1", "-W", "2", ip])
        ok_in = r.exit_code == 0
    if not ok_out:
        r = c.exec_sync(srv, ["ping", "-c", "1", "-W", "2", rip])
        ok_out = r.exit_code == 0
    if ok_in and ok_out:
        break
    time.sleep(0.2)
if not (ok_in and ok_out):
    print("# last ping: rc %d out %r err %r" % (r.exit_code, r.stdout[-300:], r.stderr[-200:]))
print("RUNC_TO_COFFER=%s" % ("ok" if ok_in else "failed"), flush=True)
print("COFFER_TO_RUNC=%s" % ("ok" if ok_out else "failed"), flush=True)
c.stop_pod(runc_pod)
c.remove_pod(runc_pod)
