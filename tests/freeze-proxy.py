#!/usr/bin/env python3
"""freeze-proxy.py PORTFILE TARGET_PORT FREEZE_AFTER

A TCP proxy on 127.0.0.1 (its port written to PORTFILE) to
127.0.0.1:TARGET_PORT.  The first connection stops moving bytes, both
ways, without closing, once FREEZE_AFTER bytes have gone from the
client to the server: a link that died with no FIN or RST.  Later
connections are forwarded as they are.  It exits by itself after
300 s.
"""
import os
import socket
import sys
import threading
import time

portfile, target, freeze_after = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
frozen = threading.Event()


def pump(src, dst, first, upstream):
    sent = 0
    while True:
        try:
            data = src.recv(65536)
        except OSError:
            return
        if first and frozen.is_set():
            return                      # hold both sockets open, move nothing
        if not data:
            dst.shutdown(socket.SHUT_WR)
            return
        dst.sendall(data)
        sent += len(data)
        if first and upstream and sent >= freeze_after:
            frozen.set()


def serve(listener):
    first = True
    while True:
        client, _ = listener.accept()
        server = socket.create_connection(("127.0.0.1", target))
        for a, b, up in ((client, server, True), (server, client, False)):
            threading.Thread(target=pump, args=(a, b, first, up), daemon=True).start()
        first = False


listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", 0))
listener.listen(8)
with open(portfile + ".tmp", "w") as f:
    f.write(str(listener.getsockname()[1]))
os.rename(portfile + ".tmp", portfile)
threading.Thread(target=serve, args=(listener,), daemon=True).start()
time.sleep(300)
