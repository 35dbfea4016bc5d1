#!/usr/bin/python3
"""50 pods in a row through the `coffer` CRI handler (a container each,
started, exec'd into, then the pod stopped and removed): the count of
leftover processes, mounts, containerd's fds, shim sockets and pod state
directories must not grow.
Usage: cri_many_pods.py HARNESS_DIR STATE_ROOT [PODS]"""
import os
import sys
import time

sys.path.insert(0, sys.argv[1])
import cri  # noqa: E402

STATE = sys.argv[2]
PODS = int(sys.argv[3]) if len(sys.argv) > 3 else 50
OUR_DIRS = [STATE, os.environ["CONTAINERD_STATE"], os.environ["CONTAINERD_ROOT"]]


def count_procs(needle):
    n = 0
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            if needle in open("/proc/%s/cmdline" % p, "rb").read():
                n += 1
        except OSError:
            pass
    return n


def snapshot():
    cpid = int(open(os.environ["CONTAINERD_STATE"] + "/../containerd.pid").read())
    state_entries = 0  # pod directories: STATE/<namespace>/<pod>
    for ns in os.listdir(STATE) if os.path.isdir(STATE) else []:
        state_entries += len(os.listdir(os.path.join(STATE, ns)))
    return {
        "agents": count_procs(b"--state\0" + STATE.encode()),
        "shims": count_procs(b"-address\0" + os.environ["CONTAINERD_ADDRESS"].encode()),
        # ours only: other tests on this machine mount things meanwhile
        "mounts": sum(1 for l in open("/proc/self/mountinfo")
                      if any(d in l.split()[4] for d in OUR_DIRS)),
        "containerd_fds": len(os.listdir("/proc/%d/fd" % cpid)),
        "shim_sockets": len(os.listdir("/run/containerd/s")),  # shared: see below
        "state_entries": state_entries,
    }


def settle(want_zero=("agents", "shims")):
    deadline = time.time() + 10
    s = snapshot()
    while any(s[k] for k in want_zero) and time.time() < deadline:
        time.sleep(0.1)
        s = snapshot()
    return s


def one_pod(c, i, verbose=False):
    t = [time.time()]
    pod = c.run_pod("many-%d" % i, handler="coffer")
    t.append(time.time())
    ctr = c.create_container(pod, "c", "localhost/busybox:latest", ["sleep", "1000"])
    c.start_container(ctr)
    t.append(time.time())
    r = c.exec_sync(ctr, ["true"])
    t.append(time.time())
    if r.exit_code != 0:
        print("FAIL: exec in pod %d: %d %r" % (i, r.exit_code, r.stderr), file=sys.stderr)
        sys.exit(1)
    c.stop_pod(pod)
    t.append(time.time())
    c.remove_pod(pod)
    t.append(time.time())
    if verbose:
        print("pod %d: run %.2f create+start %.2f exec %.2f stop %.2f remove %.2f" %
              ((i,) + tuple(t[k + 1] - t[k] for k in range(5))))


def main():
    c = cri.Client(os.environ["CRI_ADDRESS"], timeout=30)
    t0 = time.time()
    for i in range(5):
        one_pod(c, i, verbose=True)
    base = settle()
    for i in range(5, PODS):
        one_pod(c, i)
    end = settle()
    took = time.time() - t0
    print("after 5 pods:  %s" % base)
    print("after %d pods: %s (%.1f s, %.2f s/pod)" % (PODS, end, took, took / PODS))
    # containerd's fds may wobble by a couple; other tests' shims may come and
    # go in /run/containerd/s meanwhile, so only a growth of 5+ counts there
    slack = {"containerd_fds": 2, "shim_sockets": 4}
    bad = [k for k in end if end[k] > base[k] + slack.get(k, 0)]
    if end["agents"] or end["state_entries"]:
        bad.append("leftover agents/state")
    if bad:
        print("FAIL: growth in %s" % ", ".join(bad), file=sys.stderr)
        sys.exit(1)
    print("PASS")


main()
