#!/usr/bin/python3
"""Pod start with one secret next to the same pod without, and next to the
peer, interleaved (driven by bench/vm/secrets.sh). Each run: RunPodSandbox +
CreateContainer + StartContainer of `cat` (the secret; init-data naming the
broker), `echo` (init-data naming none: no attestation) or the peer
bench_tls_floor (no attestation; its container does one bare OpenSSL TLS
exchange with the same broker, from a read-only volume, then prints), timed
to the container's first output line in its CRI log.
    secrets.py HARNESS_DIR SOCK INIT_B64 RUNS LOG_DIR INIT0_B64 PEER_DIR URL"""
import os
import re
import statistics
import sys
import time

sys.path.insert(0, sys.argv[1])
import cri  # noqa: E402

cri.HOST_NETWORK = cri.pb.NamespaceOption(network=cri.pb.POD, pid=cri.pb.CONTAINER,
                                          ipc=cri.pb.POD)
c = cri.Client(sys.argv[2], timeout=300)
INIT, RUNS, LOGDIR, INIT0 = sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6]
PEER, URL = sys.argv[7], sys.argv[8]
KINDS = ("one secret", "no secret", "tls peer")
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


def run(i, kind):
    t0 = time.time()
    secret = kind == KINDS[0]
    pod = c.run_pod("b%d%d" % (i, KINDS.index(kind)), handler="coffer",
                    annotations={"io.coffer.init-data": INIT if secret else INIT0},
                    log_directory=LOGDIR)
    ann, mounts = {}, None
    if secret:
        ann = {"io.coffer.secret.one": "kbs:///default/key/one"}
        cmd = ["cat", "/run/coffer/secrets/one"]
    elif kind == KINDS[1]:
        cmd = ["echo", "x" * 48]
    else:
        mounts = [(PEER, "/peer", True, 0)]
        cmd = ["/peer/ld-linux-x86-64.so.2", "--library-path", "/peer", "/peer/bench_tls_floor", URL,
               "/peer/ca.crt"]
    ctr = c.create_container(pod, "c", IMG, cmd, annotations=ann, mounts=mounts,
                             log_path="b%d%d.log" % (i, KINDS.index(kind)))
    c.start_container(ctr)
    log = c.container_status(ctr).status.log_path
    t1 = first_output(log, t0 + 300)
    line = ""
    if kind == KINDS[2]:
        time.sleep(0.2)
        with open(log) as f:
            line = f.readline().rstrip("\n")
        if "tls-floor cpu ms" not in line or "200 OK" not in line:
            raise SystemExit("the peer failed: %s" % line)
    c.stop_pod(pod)
    c.remove_pod(pod)
    return t1 - t0, line


def median_field(lines, name):
    vals = []
    for l in lines:
        m = re.search(r"%s (\d+)" % name, l)
        if m:
            vals.append(int(m.group(1)))
    return "%d" % statistics.median(vals) if vals else "-"


run(99, KINDS[1])  # warm-up: the first pod of a containerd unpacks the image
times = {k: [] for k in KINDS}
diffs = {k: [] for k in KINDS[::2]}
peer_lines = []
for i in range(RUNS):
    pair = {}
    order = KINDS[i % 3:] + KINDS[:i % 3]
    for kind in order:
        d, line = run(i, kind)
        pair[kind] = d
        times[kind].append(d)
        if line:
            peer_lines.append(line)
        print("run %d %-14s %.2f s" % (i, kind, d), flush=True)
    for k in diffs:
        diffs[k].append(pair[k] - pair[KINDS[1]])
med = {k: statistics.median(v) for k, v in times.items()}
print("median to first output: one secret %.2f s, none %.2f s, tls peer %.2f s" %
      (med[KINDS[0]], med[KINDS[1]], med[KINDS[2]]))
print("median of the paired differences against none: one secret %+.2f s (pairs: %s; target <= +0.30 s); "
      "tls peer %+.2f s (pairs: %s)" %
      (statistics.median(diffs[KINDS[0]]), " ".join("%+.2f" % d for d in diffs[KINDS[0]]),
       statistics.median(diffs[KINDS[2]]), " ".join("%+.2f" % d for d in diffs[KINDS[2]])))
print("the peer's CPU in the guest (ms, medians): " +
      ", ".join("%s %s" % (f, median_field(peer_lines, f))
                for f in ("load", "random", "key", "context", "handshake", "request", "all")))
