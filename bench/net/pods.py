#!/usr/bin/python3
"""bench/net: the coffer pod and the runc pod, each on the CNI bridge with
the benchmark's servers; prints their IPs and READY, keeps them until a line
arrives on the fifo, then removes them.
    pods.py HARNESS_DIR SOCK SERVE_SCRIPT FIFO"""
import sys
import time
import urllib.request

sys.path.insert(0, sys.argv[1])
import cri  # noqa: E402

cri.HOST_NETWORK = cri.pb.NamespaceOption(network=cri.pb.POD, pid=cri.pb.CONTAINER, ipc=cri.pb.POD)
c = cri.Client(sys.argv[2], timeout=180)
IMG = "localhost/busybox:latest"
FEATURES = ("for d in /sys/bus/virtio/devices/*; do [ \"$(cat $d/device)\" = 0x0001 ] && cat $d/features; "
            "done; true")
pods = []
try:
    for name, handler in (("coffer", "coffer"), ("runc", "")):
        pod = c.run_pod("netbench-" + name, handler=handler)
        pods.append(pod)
        ip = c.pod_status(pod).status.network.ip
        ctr = c.create_container(pod, "srv", IMG, ["sh", "-c", sys.argv[3]])
        c.start_container(ctr)
        for _ in range(300):  # the servers are up once httpd answers
            try:
                urllib.request.urlopen("http://%s:8080/ok" % ip, timeout=3).read()
                break
            except OSError:
                time.sleep(0.2)
        else:
            sys.exit("%s pod's httpd at %s never answered" % (name, ip))
        print("%s_IP=%s" % (name.upper(), ip), flush=True)
        if handler:  # the virtio-net features the guest negotiated (offloads need the tap's vnet_hdr)
            r = c.exec_sync(ctr, ["sh", "-c", FEATURES])
            print("COFFER_NIC_FEATURES=" + r.stdout.decode(errors="replace").strip(), flush=True)
            r = c.exec_sync(ctr, ["sh", "-c", "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status | tr -s '\\t\\n' '  '; "
                                         "echo \\(served from $(stat -f -c %T /dev/w), /dev/shm $(stat -f -c %T /dev/shm)\\)"])
            print("COFFER_CTR=" + r.stdout.decode(errors="replace").strip(), flush=True)
    print("READY", flush=True)
    open(sys.argv[4]).read()
finally:
    for pod in pods:
        try:
            c.stop_pod(pod)
            c.remove_pod(pod)
        except Exception as e:  # noqa: BLE001 -- cleanup continues; the harness purges the rest
            print("cleanup: %s" % e, file=sys.stderr)
