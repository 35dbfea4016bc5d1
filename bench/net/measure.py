#!/usr/bin/python3
"""bench/net: host <-> server throughput and round trip, interleaved over
the targets (the order reversed every other run, so no target always follows
the same one), medians of RUNS, ratios against `bare`.
    measure.py RUNS name=IP[:PID] ...
With a PID (a VM's QEMU), each download and each echo series also reads the
per-thread /proc schedstat of that process: CPU time per MB and per echo of
its vCPU thread ("CPU n/..." with debug-threads) and of its other threads
(the main loop that moves the packets between the tap and the guest), and
the share of the wall time they sat runnable but not running (host
scheduling). CPU per unit of work is what the guest and QEMU cost; the
waits are what the machine's other load costs."""
import os
import socket
import statistics
import sys
import time

RUNS = int(sys.argv[1])
TARGETS = []
for a in sys.argv[2:]:
    name, rest = a.split("=", 1)
    ip, _, pid = rest.partition(":")
    TARGETS.append((name, ip, pid))
PINGS = 200


def sched(pid):
    """{tid: (is_vcpu, cpu ns, wait ns)} of pid's threads, {} without a pid."""
    out = {}
    if not pid:
        return out
    for tid in os.listdir("/proc/%s/task" % pid):
        try:
            with open("/proc/%s/task/%s/comm" % (pid, tid)) as f:
                vcpu = f.read().startswith("CPU ")
            with open("/proc/%s/task/%s/schedstat" % (pid, tid)) as f:
                cpu, wait, _ = f.read().split()
        except OSError:  # a thread that ended between listdir and open
            continue
        out[tid] = (vcpu, int(cpu), int(wait))
    return out


def usage(pid, before, wall):
    """(vcpu cpu s, other cpu s, vcpu wait share, other wait share) since before."""
    after = sched(pid)
    acc = [0, 0, 0, 0]
    for tid, (vcpu, cpu, wait) in after.items():
        _, cpu0, wait0 = before.get(tid, (vcpu, 0, 0))
        i = 0 if vcpu else 1
        acc[i] += cpu - cpu0
        acc[i + 2] += wait - wait0
    return acc[0] / 1e9, acc[1] / 1e9, acc[2] / 1e9 / wall, acc[3] / 1e9 / wall


def throughput(ip, pid):
    """MB/s of GET /big (pod -> host), timed from the first body bytes."""
    s = socket.create_connection((ip, 8080), timeout=60)
    s.sendall(b"GET /big HTTP/1.0\r\n\r\n")
    buf = bytearray(1 << 20)
    n = s.recv_into(buf)  # headers and the start: httpd's fork is not network
    t0, s0 = time.perf_counter(), sched(pid)
    while True:
        got = s.recv_into(buf)
        if not got:
            break
        n += got
    dt = time.perf_counter() - t0
    u = usage(pid, s0, dt)
    s.close()
    return n / dt / 1e6, n, u


def rtt(ip, pid):
    """Median round trip (us) of 1 byte through `nc -e cat`, one connection."""
    s = socket.create_connection((ip, 5002), timeout=30)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for _ in range(10):  # the fork of cat, caches
        s.sendall(b"x")
        s.recv(1)
    t = []
    t00, s0 = time.perf_counter(), sched(pid)
    for _ in range(PINGS):
        t0 = time.perf_counter()
        s.sendall(b"x")
        if s.recv(1) != b"x":
            raise RuntimeError("echo from %s broke" % ip)
        t.append((time.perf_counter() - t0) * 1e6)
    u = usage(pid, s0, time.perf_counter() - t00)
    s.close()
    return statistics.median(t), u


def load():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


res = {name: {"mbs": [], "rtt": [], "tu": [], "ru": []} for name, _, _ in TARGETS}
size = 0
load0 = load()
for run in range(RUNS):
    for name, ip, pid in (TARGETS if run % 2 == 0 else TARGETS[::-1]):
        mbs, size, tu = throughput(ip, pid)
        r, ru = rtt(ip, pid)
        res[name]["mbs"].append(mbs)
        res[name]["rtt"].append(r)
        res[name]["tu"].append(tu)
        res[name]["ru"].append(ru)
load1 = load()
med = {n: (statistics.median(r["mbs"]), statistics.median(r["rtt"])) for n, r in res.items()}
floor = med.get("bare")
print("%-8s %16s %10s %16s %10s" % ("", "throughput MB/s", "vs bare", "round trip us", "vs bare"))
for name, _, _ in TARGETS:
    m, r = med[name]
    print("%-8s %16.1f %10s %16.0f %10s" % (
        name, m, "%.2fx" % (m / floor[0]) if floor else "-", r, "%.2fx" % (r / floor[1]) if floor else "-"))
print("targets: coffer >= 0.90x bare throughput, <= 1.10x bare round trip")
print("(%d bytes per download; round trip: median of %d 1-byte echoes per run; load average %s before, %s after)"
      % (size, PINGS, load0, load1))
mb = size / 1e6
print("QEMU cost per unit of work (medians; CPU of the vCPU thread / of the other threads, and the share of the "
      "wall time each sat runnable waiting for a host CPU):")
for name, _, pid in TARGETS:
    if not pid:
        continue
    tu, ru = res[name]["tu"], res[name]["ru"]
    def m(rows, i, scale):
        return statistics.median(x[i] for x in rows) * scale
    print("  %-7s download: vCPU %.2f + other %.2f ms/MB, waiting %2.0f%% / %2.0f%% | echo: vCPU %3.0f + other %3.0f "
          "us/echo, waiting %2.0f%% / %2.0f%%" % (
              name, m(tu, 0, 1e3 / mb), m(tu, 1, 1e3 / mb), m(tu, 2, 100), m(tu, 3, 100),
              m(ru, 0, 1e6 / PINGS), m(ru, 1, 1e6 / PINGS), m(ru, 2, 100), m(ru, 3, 100)))
for name, _, _ in TARGETS:
    print("  %s runs: MB/s %s | us %s" % (name, " ".join("%.0f" % x for x in res[name]["mbs"]),
                                          " ".join("%.0f" % x for x in res[name]["rtt"])))
