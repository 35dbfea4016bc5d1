#!/usr/bin/python3
"""Pod start with one secret next to the same pod without, interleaved
(driven by bench/vm/secrets.sh). Each run: RunPodSandbox + CreateContainer
+ StartContainer of `cat` (the secret; init-data naming the broker) or `echo`
(init-data naming none: no attestation), timed to the container's first
output line in its CRI log.
    secrets.py HARNESS_DIR SOCK INIT_B64 RUNS LOG_DIR INIT0_B64"""
import os
import statistics
import sys
import time

sys.path.insert(0, sys.argv[1])
import cri  # noqa: E402

cri.HOST_NETWORK = cri.pb.NamespaceOption(network=cri.pb.POD, pid=cri.pb.CONTAINER,
                                          ipc=cri.pb.POD)
c = cri.Client(sys.argv[2], timeout=300)
INIT, RUNS, LOGDIR, INIT0 = sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6]
IMG = "localhost/busybox:latest"


def first_output(path, deadline):
    while time.time() < deadline:
        try:
            if os.path.getsize(path) > 0:
                return time.time()
        except OSError:
            pass
        time.sleep(0.01)
    raise SystemExit("no output in %s" % path)


def run(i, secret):
    t0 = time.time()
    pod = c.run_pod("b%d%s" % (i, "s" if secret else "p"), handler="coffer",
                    annotations={"io.coffer.init-data": INIT if secret else INIT0},
                    log_directory=LOGDIR)
    ann = {"io.coffer.secret.one": "kbs:///default/key/one"} if secret else {}
    cmd = ["cat", "/run/coffer/secrets/one"] if secret else ["echo", "x" * 48]
    ctr = c.create_container(pod, "c", IMG, cmd, annotations=ann, log_path="b%d%d.log" % (i, secret))
    c.start_container(ctr)
    t1 = first_output(c.container_status(ctr).status.log_path, t0 + 300)
    c.stop_pod(pod)
    c.remove_pod(pod)
    return t1 - t0


run(99, False)  # warm-up: the first pod of a containerd unpacks the image
with_s, without, diffs = [], [], []
for i in range(RUNS):
    pair = {}
    for secret in ((True, False) if i % 2 == 0 else (False, True)):
        d = run(i, secret)
        pair[secret] = d
        (with_s if secret else without).append(d)
        print("run %d %-14s %.2f s" % (i, "one secret" if secret else "no secret", d), flush=True)
    diffs.append(pair[True] - pair[False])
m1, m0 = statistics.median(with_s), statistics.median(without)
print("median to first output: one secret %.2f s, none %.2f s; median of the paired differences %+.2f s "
      "(pairs: %s; target <= +0.30 s)" % (m1, m0, statistics.median(diffs),
                                          " ".join("%+.2f" % d for d in diffs)))
