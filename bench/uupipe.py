#!/usr/bin/env python3
"""uupipe.py - Taylor UUCP over TCP for bench/linkup.sh, so that a call
goes through the delay line (regress/uucp.sh's nodes talk over pipes).

    uupipe.py connect HOST:PORT      standard input and output to one TCP
                                     connection: a "port type pipe" command
    uupipe.py serve PORT CMD ARG...  on 127.0.0.1:PORT, each connection is
                                     CMD's standard input and output (the
                                     hub's uucico as a slave)

connect exits when the connection ends; serve runs until killed.
"""
import os, select, socket, subprocess, sys


def connect(where):
    host, port = where.rsplit(":", 1)
    s = socket.create_connection((host, int(port)))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    fds = [0, s]
    while fds:
        r, _, _ = select.select(fds, [], [])
        if 0 in r:
            data = os.read(0, 65536)
            if data:
                s.sendall(data)
            else:
                s.shutdown(socket.SHUT_WR)
                fds.remove(0)
        if s in r:
            data = s.recv(65536)
            if not data:
                return
            view = memoryview(data)
            while view:
                view = view[os.write(1, view):]


def serve(port, cmd):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", int(port)))
    ls.listen(8)
    kids = []
    while True:
        c, _ = ls.accept()
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        kids.append(subprocess.Popen(cmd, stdin=c.fileno(), stdout=c.fileno()))
        c.close()
        kids = [k for k in kids if k.poll() is None]


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "connect":
        connect(sys.argv[2])
    elif len(sys.argv) >= 4 and sys.argv[1] == "serve":
        serve(sys.argv[2], sys.argv[3:])
    else:
        sys.exit(__doc__)
