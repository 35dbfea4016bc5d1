#!/usr/bin/python3
"""bench/net: host <-> server throughput and round trip, interleaved over
the targets, medians of RUNS, ratios against `bare`.
    measure.py RUNS name=IP ..."""
import socket
import statistics
import sys
import time

RUNS = int(sys.argv[1])
TARGETS = [a.split("=", 1) for a in sys.argv[2:]]
PINGS = 200


def throughput(ip):
    """MB/s of GET /big (pod -> host), the body counted as it arrives."""
    s = socket.create_connection((ip, 8080), timeout=60)
    s.sendall(b"GET /big HTTP/1.0\r\n\r\n")
    buf = bytearray(1 << 20)
    n, t0 = 0, time.perf_counter()
    while True:
        got = s.recv_into(buf)
        if not got:
            break
        n += got
    dt = time.perf_counter() - t0
    s.close()
    return n / dt / 1e6, n


def rtt(ip):
    """Median round trip (us) of 1 byte through `nc -e cat`, one connection."""
    s = socket.create_connection((ip, 5002), timeout=30)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for _ in range(10):  # the fork of cat, caches
        s.sendall(b"x")
        s.recv(1)
    t = []
    for _ in range(PINGS):
        t0 = time.perf_counter()
        s.sendall(b"x")
        if s.recv(1) != b"x":
            raise RuntimeError("echo from %s broke" % ip)
        t.append((time.perf_counter() - t0) * 1e6)
    s.close()
    return statistics.median(t)


res = {name: {"mbs": [], "rtt": []} for name, _ in TARGETS}
size = 0
for run in range(RUNS):
    for name, ip in TARGETS:
        mbs, size = throughput(ip)
        res[name]["mbs"].append(mbs)
        res[name]["rtt"].append(rtt(ip))
med = {n: (statistics.median(r["mbs"]), statistics.median(r["rtt"])) for n, r in res.items()}
floor = med.get("bare")
print("%-8s %16s %10s %16s %10s" % ("", "throughput MB/s", "vs bare", "round trip us", "vs bare"))
for name, _ in TARGETS:
    m, r = med[name]
    print("%-8s %16.1f %10s %16.0f %10s" % (
        name, m, "%.2fx" % (m / floor[0]) if floor else "-", r, "%.2fx" % (r / floor[1]) if floor else "-"))
print("targets: coffer >= 0.90x bare throughput, <= 1.10x bare round trip")
print("(%d bytes per download; round trip: median of %d 1-byte echoes per run)" % (size, PINGS))
for name, _ in TARGETS:
    print("  %s runs: MB/s %s | us %s" % (name, " ".join("%.1f" % x for x in res[name]["mbs"]),
                                          " ".join("%.0f" % x for x in res[name]["rtt"])))
