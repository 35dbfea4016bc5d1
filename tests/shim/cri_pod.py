#!/usr/bin/python3
"""CRI as the kubelet drives it, against the containerd in CRI_ADDRESS:
a host-network pod with runtime_handler "coffer", two containers, ExecSync,
UpdateContainerResources (memory limit seen in the cgroup),
ContainerStatus, and the proof that one shim process served the whole pod.
Then the agent of a second pod dies: both its containers are reported exited.
Usage: cri_pod.py HARNESS_DIR SHIM_BINARY STATE_ROOT"""
import os
import sys
import time

sys.path.insert(0, sys.argv[1])
import cri  # noqa: E402

SHIM = os.path.realpath(sys.argv[2])
STATE_ROOT = sys.argv[3]


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def shims_of(address):
    pids = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            exe = os.readlink("/proc/%s/exe" % p)
            cmd = open("/proc/%s/cmdline" % p, "rb").read().split(b"\0")
        except OSError:
            continue
        if exe == SHIM and address.encode() in cmd and b"start" not in cmd:
            pids.append(int(p))
    return pids


def main():  # noqa: C901
    address = os.environ["CRI_ADDRESS"]
    c = cri.Client(address, timeout=30)
    pod = c.run_pod("p1", handler="coffer")
    a = c.create_container(pod, "c1", "localhost/busybox:latest", ["sleep", "1000"])
    c.start_container(a)
    b = c.create_container(pod, "c2", "localhost/busybox:latest",
                           ["sh", "-c", "echo started; exec sleep 1000"])
    c.start_container(b)

    shims = shims_of(address)
    if len(shims) != 1:
        fail("expected one shim process for the pod, found %s" % shims)
    r = c.exec_sync(a, ["sh", "-c", "echo out; echo err >&2; exit 3"])
    if r.stdout != b"out\n" or r.stderr != b"err\n" or r.exit_code != 3:
        fail("ExecSync gave %r %r %d" % (r.stdout, r.stderr, r.exit_code))
    r = c.exec_sync(b, ["hostname"])
    if r.exit_code != 0:
        fail("ExecSync in the second container: %d %r" % (r.exit_code, r.stderr))

    # UpdateContainerResources (not in the harness's CRI subset: sent raw,
    # field numbers as in cri-api): the new memory limit reaches the cgroup.
    limit = 64 << 20
    res = cri.pb.LinuxContainerResources(memory_limit_in_bytes=limit).SerializeToString()
    req = b"\x0a" + bytes([len(a)]) + a.encode() + b"\x12" + bytes([len(res)]) + res
    update = c.channel.unary_unary("/runtime.v1.RuntimeService/UpdateContainerResources",
                                   request_serializer=lambda x: x,
                                   response_deserializer=lambda x: x)
    update(req, timeout=30)
    r = c.exec_sync(a, ["cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes"])
    if r.exit_code == 0 and int(r.stdout) != limit:
        fail("memory limit after UpdateContainerResources: %r" % r.stdout)
    if r.exit_code != 0:  # cgroup v2 guest/host
        r = c.exec_sync(a, ["cat", "/sys/fs/cgroup/memory.max"])
        if r.exit_code != 0 or int(r.stdout) != limit:
            fail("memory limit after UpdateContainerResources: %r %r" % (r.stdout, r.stderr))

    for ctr in (a, b):
        st = c.container_status(ctr).status
        if st.state != cri.pb.CONTAINER_RUNNING:
            fail("container %s state %s" % (ctr, st.state))

    c.stop_container(b, timeout=2)
    st = c.container_status(b).status
    if st.state != cri.pb.CONTAINER_EXITED:
        fail("stopped container state %s" % st.state)
    if shims_of(address) != shims:
        fail("the pod's shim changed: %s -> %s" % (shims, shims_of(address)))

    c.stop_pod(pod)
    c.remove_pod(pod)
    wait_no_shim(address)

    # The agent of a pod dies: both containers are reported exited (each got
    # its TaskExit), and the pod is stopped and removed cleanly.
    pod = c.run_pod("p2", handler="coffer")
    ids = []
    for name in ("c1", "c2"):
        ctr = c.create_container(pod, name, "localhost/busybox:latest", ["sleep", "1000"])
        c.start_container(ctr)
        ids.append(ctr)
    agents = agents_of(STATE_ROOT)
    if len(agents) != 1:
        fail("expected one agent for the pod, found %s" % agents)
    os.kill(agents[0], 9)
    deadline = time.time() + 10
    states = []
    while time.time() < deadline:
        states = [c.container_status(i).status for i in ids]
        if all(st.state == cri.pb.CONTAINER_EXITED for st in states):
            break
        time.sleep(0.1)
    if not all(st.state == cri.pb.CONTAINER_EXITED for st in states):
        fail("after the agent died: states %s" % [st.state for st in states])
    if any(st.exit_code != 255 for st in states):
        fail("lost containers should exit 255: %s" % [st.exit_code for st in states])
    c.stop_pod(pod)
    c.remove_pod(pod)
    wait_no_shim(address)
    print("PASS")


def agents_of(state_root):
    pids = []
    for p in os.listdir("/proc"):
        try:
            cmd = open("/proc/%s/cmdline" % p, "rb").read().split(b"\0")
        except OSError:
            continue
        if b"--state" in cmd and any(a.startswith(state_root.encode() + b"/") for a in cmd):
            pids.append(int(p))
    return pids


def wait_no_shim(address):
    deadline = time.time() + 10
    while shims_of(address) and time.time() < deadline:
        time.sleep(0.1)
    if shims_of(address):
        fail("shim still running after RemovePodSandbox: %s" % shims_of(address))


main()
