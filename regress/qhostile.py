#!/usr/bin/env python3
# qhostile.py - play a compromised session against bridged's queue
# process (regress/61-compromised-session.t): take the queue socket out
# of a live session (pidfd_getfd(2), as root), send it one hostile
# exchange, and print what came back: "ticket" and "answer committed
# RESULT" lines, then "closed" when the queue cut the socket off (or
# "open").
#
# usage: qhostile.py SESSION-PID CASE [ID]
# cases: peer  data  rcpt  commit  path  id ID  fd  unknown  queue
import ctypes
import os
import select
import socket
import struct
import sys

# qproto.h
QM_OPEN, QM_RCPT, QM_DATA, QM_COMMIT, QM_ABORT = 3, 4, 5, 6, 7
QM_TICKET, QM_COMMITTED = 8, 9
NOSTR = 0xFFFFFFFF
SYS_pidfd_getfd = 438


def grab(pid):
    """The session's SOCK_SEQPACKET unix socket: its line to the queue."""
    libc = ctypes.CDLL(None, use_errno=True)
    pfd = os.pidfd_open(pid)
    for name in sorted(os.listdir("/proc/%d/fd" % pid), key=int):
        fd = int(name)
        try:
            if not os.readlink("/proc/%d/fd/%d" % (pid, fd)).startswith(
                    "socket:"):
                continue
        except OSError:
            continue
        mine = libc.syscall(SYS_pidfd_getfd, pfd, fd, 0)
        if mine < 0:
            sys.exit("pidfd_getfd: %s" % os.strerror(ctypes.get_errno()))
        s = socket.socket(fileno=mine)
        if s.family == socket.AF_UNIX and s.type == socket.SOCK_SEQPACKET:
            return s
        s.detach()
        os.close(mine)
    sys.exit("no queue socket in session %d" % pid)


def u32(v):
    return struct.pack("=I", v)


def u64(v):
    return struct.pack("=Q", v)


def sstr(s):
    if s is None:
        return u32(NOSTR)
    b = s.encode()
    return u32(len(b)) + b


def send(s, typ, payload=b"", ident=0, fds=None):
    """One message; the queue may have cut us off already: no matter."""
    msg = struct.pack("=III", typ, ident, len(payload)) + payload
    try:
        if fds:
            s.sendmsg([msg], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                               struct.pack("=i", fds))])
        else:
            s.send(msg)
    except (BrokenPipeError, ConnectionResetError):
        pass


def one_rcpt(addr):
    return u32(1) + sstr(addr) + u32(0) + sstr(None)


def ticket(s):
    """The QM_TICKET waiting for the session: the id it may use."""
    r, _, _ = select.select([s], [], [], 2.0)
    if not r:
        return "none"
    try:
        d = s.recv(70000)
    except ConnectionResetError:
        return "none"
    if len(d) < 16:
        return "none"
    typ, _, n = struct.unpack("=III", d[:12])
    if typ != QM_TICKET:
        return "none"
    ln = struct.unpack("=I", d[12:16])[0]
    return d[16:16 + ln].decode()


def open_(s, qid, customer="acme", client="c.example [127.0.0.1]",
          rcpt="alice@acme.example", entry=1):
    """QM_OPEN: a new message as entry, its envelope, one recipient."""
    send(s, QM_OPEN, u32(entry) + u32(0) + sstr(qid) + sstr(customer) +
         u32(0) + sstr("ESMTP") +
         sstr(client) + sstr("c.example") + sstr("evil@example.org") +
         sstr(None) + u32(0) + u32(1) + one_rcpt(rcpt))


def answers(s, out):
    """Print the answers until the queue is quiet for a second or closes."""
    while True:
        r, _, _ = select.select([s], [], [], 1.0)
        if not r:
            out.append("open")
            return None
        try:
            d = s.recv(70000)
        except ConnectionResetError:
            d = b""
        if not d:
            out.append("closed")
            return None
        typ, _, n = struct.unpack("=III", d[:12])
        p = d[12:12 + n]
        if typ == QM_TICKET:
            out.append("ticket")
            continue
        res = struct.unpack("=I", p[4:8])[0]
        out.append("answer %s %d" % (
            "committed" if typ == QM_COMMITTED else str(typ), res))


def main():
    pid, case = int(sys.argv[1]), sys.argv[2]
    s = grab(pid)
    out = []
    t = ticket(s)  # the session has not read its ticket yet: ours now
    if case == "peer":  # another client address than the peer's
        open_(s, t, client="mx.example [192.0.2.66]")
    elif case == "data":  # octets for an entry it never opened
        send(s, QM_DATA, b"Subject: forged\r\n", ident=5)
    elif case == "rcpt":  # recipients without an envelope
        send(s, QM_RCPT, one_rcpt("alice@acme.example"))
    elif case == "commit":  # a commit of an entry that is not its own
        open_(s, t)
        send(s, QM_COMMIT, u32(0) + u32(1) + u32(2) + u32(0))
    elif case == "path":  # a customer name that is a path
        open_(s, t, customer="../../etc")
    elif case == "id":  # an id of its choosing: the first queued one's
        open_(s, sys.argv[3])
    elif case == "fd":  # a descriptor passed to the queue
        send(s, QM_ABORT, u32(1), fds=os.open("/dev/null", os.O_RDONLY))
    elif case == "unknown":
        send(s, 200)
    elif case == "queue":  # a message of its own: the queue picks the id
        open_(s, t)
        body = b"Subject: own\r\n\r\nqueued by a compromised session\r\n"
        send(s, QM_COMMIT, u32(1) + u32(1) + u32(1) + u32(len(body)) +
             body)
        out.append("id %s" % t)
    else:
        sys.exit("unknown case " + case)
    answers(s, out)
    print("\n".join(out))


if __name__ == "__main__":
    main()
