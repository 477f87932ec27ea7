#!/usr/bin/env python3
"""freeze-proxy.py PORTFILE TARGET_PORT FREEZE_AFTER [WHICH [cut]]

A TCP proxy on 127.0.0.1 (its port written to PORTFILE) to
127.0.0.1:TARGET_PORT.  The WHICH-th connection (default the first)
stops moving bytes, both ways, without closing, once FREEZE_AFTER bytes
have gone from the client to the server: a link that died with no FIN
or RST (its receive buffer shrunk, so the client's bytes stay
unacknowledged in its socket).  With "cut", it is closed instead (both sockets, at once).
Other connections are forwarded as they are.  It exits by itself after
300 s.
"""
import os
import socket
import sys
import threading
import time

portfile, target, freeze_after = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
which = int(sys.argv[4]) if len(sys.argv) > 4 else 1
cut = len(sys.argv) > 5 and sys.argv[5] == "cut"
frozen = threading.Event()
held = []                               # the frozen sockets, never closed


def pump(src, dst, chosen, upstream):
    sent = 0
    while True:
        try:
            data = src.recv(65536)
        except OSError:
            return
        if chosen and frozen.is_set():
            held.extend((src, dst))     # hold both sockets open, move nothing
            return
        if not data:
            dst.shutdown(socket.SHUT_WR)
            return
        dst.sendall(data)
        sent += len(data)
        if chosen and upstream and sent >= freeze_after:
            frozen.set()
            # Like a dead link, take (acknowledge) nothing more: only
            # what the socket already holds stays absorbed.
            src.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            if cut:
                for sock in (src, dst):
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                return


def serve(listener):
    n = 0
    while True:
        client, _ = listener.accept()
        server = socket.create_connection(("127.0.0.1", target))
        n += 1
        for a, b, up in ((client, server, True), (server, client, False)):
            threading.Thread(target=pump, args=(a, b, n == which, up), daemon=True).start()


listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", 0))
listener.listen(8)
with open(portfile + ".tmp", "w") as f:
    f.write(str(listener.getsockname()[1]))
os.rename(portfile + ".tmp", portfile)
threading.Thread(target=serve, args=(listener,), daemon=True).start()
time.sleep(300)
