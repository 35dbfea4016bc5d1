#!/usr/bin/python3
"""Host-pulled, guest-pulled and guest-pulled encrypted pods, interleaved
(driven by bench/vm/guest_pull.sh). Each run: RunPodSandbox + PullImage +
CreateContainer + StartContainer of `echo`, timed from RunPodSandbox to the
container's first output line in its CRI log.
    guest_pull.py HARNESS_DIR SOCK INIT_B64 RUNS LOG_DIR HOST_IMG GUEST_IMG ENC_IMG INIT_PLAIN_B64
INIT_B64 (a broker and the image key) is the encrypted pod's init-data;
INIT_PLAIN_B64 (the registry's CA alone) that of the two plain pods."""
import os
import statistics
import sys
import time

sys.path.insert(0, sys.argv[1])
import cri  # noqa: E402

cri.HOST_NETWORK = cri.pb.NamespaceOption(network=cri.pb.POD, pid=cri.pb.CONTAINER,
                                          ipc=cri.pb.POD)
c = cri.Client(sys.argv[2], timeout=300)
INIT, RUNS, LOGDIR = sys.argv[3], int(sys.argv[4]), sys.argv[5]
IMAGES = {"host": sys.argv[6], "guest": sys.argv[7], "enc": sys.argv[8]}
INIT_PLAIN = sys.argv[9]


def first_output(path, deadline):
    while time.time() < deadline:
        try:
            if os.path.getsize(path) > 0:
                return time.time()
        except OSError:
            pass
        time.sleep(0.01)
    raise SystemExit("no output in %s" % path)


def run(i, kind):
    img = IMAGES[kind]
    ann = {"io.coffer.init-data": INIT if kind == "enc" else INIT_PLAIN}
    if kind != "host":
        ann["io.coffer.guest-pull-images"] = img
    t0 = time.time()
    pod = c.run_pod("g%d%s" % (i, kind), handler="coffer", annotations=ann, log_directory=LOGDIR)
    c.pull_image(img, pod)  # the kubelet's pull: cached (host) or seeded (guest)
    ctr = c.create_container(pod, "c", img, ["/bin/busybox", "echo", "x" * 48],
                             log_path="g%d%s.log" % (i, kind))
    c.start_container(ctr)
    t1 = first_output(c.container_status(ctr).status.log_path, t0 + 300)
    c.stop_pod(pod)
    c.remove_pod(pod)
    return t1 - t0


for kind in ("host", "guest", "enc"):  # warm-up: the host pull and unpack, the seeds
    print("warm-up %-6s %.2f s" % (kind, run(99, kind)), flush=True)
times = {k: [] for k in IMAGES}
diffs = {"guest": [], "enc": []}
orders = [("host", "guest", "enc"), ("enc", "host", "guest"), ("guest", "enc", "host")]
for i in range(RUNS):
    got = {}
    for kind in orders[i % 3]:
        got[kind] = run(i, kind)
        times[kind].append(got[kind])
        print("run %d %-6s %.2f s" % (i, kind, got[kind]), flush=True)
    for k in diffs:
        diffs[k].append(got[k] - got["host"])
print("median to first output: host %.2f s, guest pull %.2f s, guest pull encrypted %.2f s" %
      tuple(statistics.median(times[k]) for k in ("host", "guest", "enc")))
for k, label in (("guest", "guest pull"), ("enc", "guest pull, encrypted")):
    print("%s vs host: median of the paired differences %+.2f s (pairs: %s; target <= +1.00 s)" %
          (label, statistics.median(diffs[k]), " ".join("%+.2f" % d for d in diffs[k])))
