#!/usr/bin/python3
"""A TCP forwarder standing for the host between coffer's broker relay and
the broker (e2e_cri_secrets.sh): it listens on 127.0.0.1, prints
"PORT=<n>", forwards to TARGET_PORT on 127.0.0.1 and logs each connection.
While the file HOSTILE exists it flips one bit in every chunk the broker
sends, as a host that tampers with the relayed TLS records.
    relay_proxy.py TARGET_PORT HOSTILE_FILE"""
import os
import socket
import sys
import threading

target, hostile = int(sys.argv[1]), sys.argv[2]
ls = socket.socket()
ls.bind(("127.0.0.1", 0))
ls.listen(16)
print("PORT=%d" % ls.getsockname()[1], flush=True)


def pump(src, dst, flip):
    try:
        while True:
            b = src.recv(65536)
            if not b:
                break
            if flip and os.path.exists(hostile):
                b = bytes([b[0] ^ 0x01]) + b[1:] if len(b) < 6 else b[:5] + bytes([b[5] ^ 0x01]) + b[6:]
                print("FLIPPED %d bytes" % len(b), flush=True)
            dst.sendall(b)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


while True:
    c, _ = ls.accept()
    print("CONN hostile=%d" % os.path.exists(hostile), flush=True)
    u = socket.create_connection(("127.0.0.1", target))
    threading.Thread(target=pump, args=(c, u, False), daemon=True).start()
    threading.Thread(target=pump, args=(u, c, True), daemon=True).start()
