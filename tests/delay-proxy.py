#!/usr/bin/env python3
"""delay-proxy.py LISTEN_ADDR PORTFILE TARGET_ADDR TARGET_PORT DELAY_MS [LIFETIME_S]

A TCP proxy that adds DELAY_MS to every byte, in each direction, so a
connection through it sees a round trip of twice DELAY_MS: a long link
for a kernel without netem.  It listens on LISTEN_ADDR (port written to
PORTFILE) and forwards each connection to TARGET_ADDR:TARGET_PORT.

Each direction reads whatever arrives, stamps it with the time it may
leave, and writes it then; it holds up to 64 MiB in flight per
direction before it stops reading (far more than a 200 ms link at
1 Gbit/s holds), so it adds delay, not a window of its own.  The rate
is left to the link it runs behind (tc tbf, tests/link.sh).  It exits by
itself after LIFETIME_S seconds (default 3600).
"""
import collections
import os
import socket
import sys
import threading
import time

BUFFER = 64 << 20


def direction(src, dst, delay):
    """Copy src to dst, each piece delay seconds after it arrived."""
    queue = collections.deque()
    held = [0]
    cond = threading.Condition()

    def reader():
        while True:
            try:
                data = src.recv(1 << 18)
            except OSError:
                data = b""
            with cond:
                queue.append((time.monotonic() + delay, data))
                held[0] += len(data)
                cond.notify_all()
                if not data:
                    return
                while held[0] > BUFFER:
                    cond.wait()

    def writer():
        while True:
            with cond:
                while not queue:
                    cond.wait()
                due, data = queue.popleft()
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            try:
                if not data:
                    dst.shutdown(socket.SHUT_WR)
                    return
                dst.sendall(data)
            except OSError:
                src.close()             # the far side is gone: so are we
                return
            with cond:
                held[0] -= len(data)
                cond.notify_all()

    for f in (reader, writer):
        threading.Thread(target=f, daemon=True).start()


def serve(listener, target, delay):
    while True:
        client, _ = listener.accept()
        try:
            server = socket.create_connection(target)
        except OSError:
            client.close()
            continue
        for s in (client, server):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        direction(client, server, delay)
        direction(server, client, delay)


def main():
    listen, portfile, taddr, tport, delay_ms = sys.argv[1:6]
    lifetime = float(sys.argv[6]) if len(sys.argv) > 6 else 3600
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((listen, 0))
    listener.listen(64)
    with open(portfile + ".tmp", "w") as f:
        f.write(str(listener.getsockname()[1]))
    os.rename(portfile + ".tmp", portfile)
    threading.Thread(target=serve, daemon=True,
                     args=(listener, (taddr, int(tport)),
                           int(delay_ms) / 1000.0)).start()
    time.sleep(lifetime)


main()
