#!/usr/bin/env python3
# srcfwd.py - a loopback TCP forwarder that changes the client's
# address: it accepts on 127.0.0.1:LISTEN and connects on to
# 127.0.0.1:TARGET from SOURCE (127.0.0.2, say), so a program with no
# option to bind its end (etrn(1)) reaches a server from an address
# outside a customer's etrn-from.  One thread per direction; each
# connection ends when either side closes.  Stops after IDLE seconds
# without a new connection (default 120) or on SIGTERM.
#
# usage: srcfwd.py LISTEN SOURCE TARGET [IDLE]
import socket
import sys
import threading


def pump(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    for s in (dst, src):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def serve(conn, source, target):
    up = socket.socket()
    try:
        up.bind((source, 0))
        up.connect(("127.0.0.1", target))
    except OSError:
        conn.close()
        return
    for a, b in ((conn, up), (up, conn)):
        threading.Thread(target=pump, args=(a, b), daemon=True).start()


def main(argv):
    listen, source, target = int(argv[0]), argv[1], int(argv[2])
    idle = float(argv[3]) if len(argv) > 3 else 120.0
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", listen))
    ls.listen(16)
    ls.settimeout(idle)
    while True:
        try:
            conn, _ = ls.accept()
        except socket.timeout:
            return 0
        serve(conn, source, target)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
