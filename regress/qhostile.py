#!/usr/bin/env python3
# qhostile.py - play a compromised session against bridged's queue and
# lookup processes (regress/61-compromised-session.t): take both sockets
# out of a live session (pidfd_getfd(2), as root), send one hostile
# exchange, and print what came back: "ticket" and "answer committed
# RESULT" lines from the queue, "reply CODE" lines from the lookup,
# then "closed" when the socket played was cut off (or "open").
#
# usage: qhostile.py SESSION-PID CASE [ID]
# queue cases: peer  data  rcpt  commit  path  id ID  fd  unknown  queue
#              notoken  othertoken
# lookup cases: lflush  letrn  lanswer  latrn
import ctypes
import os
import select
import socket
import struct
import sys

# qproto.h
QM_OPEN, QM_RCPT, QM_DATA, QM_COMMIT, QM_ABORT = 3, 4, 5, 6, 7
QM_TICKET, QM_COMMITTED = 8, 9
# lproto.h
LM_FLUSH, LM_RCPT, LM_ANSWER, LM_ETRN, LM_ATRN, LM_REPLY = 6, 9, 11, 12, 13, 14
NOSTR = 0xFFFFFFFF
SYS_pidfd_getfd = 438


def grab(pid):
    """The session's SOCK_SEQPACKET unix sockets: (queue, lookup), not
    descriptor 3, the master's.  The queue's is the one with a ticket
    waiting."""
    libc = ctypes.CDLL(None, use_errno=True)
    pfd = os.pidfd_open(pid)
    socks = []
    for name in sorted(os.listdir("/proc/%d/fd" % pid), key=int):
        fd = int(name)
        if fd == 3:  # the session process's line to the master
            continue
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
            socks.append(s)
            continue
        s.detach()
        os.close(mine)
    if len(socks) != 2:
        sys.exit("session %d: %d internal sockets, not 2" % (pid,
                                                              len(socks)))
    r, _, _ = select.select(socks, [], [], 2.0)
    if len(r) != 1:
        sys.exit("session %d: no ticket waiting on one socket" % pid)
    q = r[0]
    return q, socks[1] if socks[0] is q else socks[0]


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


NOTOKEN = bytes(16)


def one_rcpt(addr, tok=NOTOKEN):
    return u32(1) + sstr(addr) + u32(0) + sstr(None) + u32(len(tok)) + tok


def ask(lk, typ, payload):
    """One request to the lookup: (code, token), (None, None) if cut."""
    send(lk, typ, payload)
    r, _, _ = select.select([lk], [], [], 5.0)
    if not r:
        return None, None
    try:
        d = lk.recv(70000)
    except ConnectionResetError:
        d = b""
    if len(d) < 16:
        return None, None
    typ, _, n = struct.unpack("=III", d[:12])
    p = d[12:12 + n]
    code = struct.unpack("=I", p[:4])[0]
    off = 4
    for _ in range(2):  # status, text
        ln = struct.unpack("=I", p[off:off + 4])[0]
        off += 4 + (0 if ln == NOSTR else ln)
    off += 8  # close, delay
    ln = struct.unpack("=I", p[off:off + 4])[0]
    off += 4 + (0 if ln == NOSTR else ln)
    tok = None
    if off + 4 <= len(p):
        ln = struct.unpack("=I", p[off:off + 4])[0]
        tok = p[off + 4:off + 4 + ln]
    return code, tok


def token(lk, addr):
    """The lookup's verdict token for addr, asked as the session."""
    code, tok = ask(lk, LM_RCPT, sstr(addr) + sstr(addr))
    if code != 250 or tok is None or len(tok) != 16:
        sys.exit("no verdict for %s from the lookup (%s)" % (addr, code))
    return tok


def lanswers(lk, out):
    """Whether the lookup cut the socket off."""
    r, _, _ = select.select([lk], [], [], 1.0)
    if not r:
        out.append("open")
        return
    try:
        d = lk.recv(70000)
    except ConnectionResetError:
        d = b""
    out.append("closed" if not d else "more")


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


def open_(s, qid, tok, customer="acme", client="c.example [127.0.0.1]",
          rcpt="alice@acme.example", entry=1):
    """QM_OPEN: a new message as entry, its envelope, one recipient."""
    send(s, QM_OPEN, u32(entry) + u32(0) + sstr(qid) + sstr(customer) +
         u32(0) + sstr("ESMTP") +
         sstr(client) + sstr("c.example") + sstr("evil@example.org") +
         sstr(None) + u32(0) + u32(1) + one_rcpt(rcpt, tok))


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
    s, lk = grab(pid)
    out = []
    if case.startswith("l"):  # the lookup's cases
        if case == "lflush":  # speak as the lookup to the master
            send(lk, LM_FLUSH, b"flush acme 192.0.2.66")
        elif case == "letrn":  # a node this peer has no right to
            code, _ = ask(lk, LM_ETRN, sstr("#vault"))
            out.append("reply %s" % code)
        elif case == "lanswer":  # an AUTH answer to no challenge
            send(lk, LM_ANSWER, sstr("YWNtZSAwMDAw"))
        elif case == "latrn":  # ATRN on the SMTP listener
            send(lk, LM_ATRN, sstr(""))
        else:
            sys.exit("unknown case " + case)
        lanswers(lk, out)
        print("\n".join(out))
        return
    tok = token(lk, "alice@acme.example")
    t = ticket(s)  # the session has not read its ticket yet: ours now
    if case == "peer":  # another client address than the peer's
        open_(s, t, tok, client="mx.example [192.0.2.66]")
    elif case == "data":  # octets for an entry it never opened
        send(s, QM_DATA, b"Subject: forged\r\n", ident=5)
    elif case == "rcpt":  # recipients without an envelope
        send(s, QM_RCPT, one_rcpt("alice@acme.example", tok))
    elif case == "commit":  # a commit of an entry that is not its own
        open_(s, t, tok)
        send(s, QM_COMMIT, u32(0) + u32(1) + u32(2) + u32(0))
    elif case == "path":  # a customer name that is a path
        open_(s, t, tok, customer="../../etc")
    elif case == "id":  # an id of its choosing: the first queued one's
        open_(s, sys.argv[3], tok)
    elif case == "fd":  # a descriptor passed to the queue
        send(s, QM_ABORT, u32(1), fds=os.open("/dev/null", os.O_RDONLY))
    elif case == "unknown":
        send(s, 200)
    elif case == "notoken":  # a recipient the lookup never saw
        open_(s, t, NOTOKEN)
    elif case == "othertoken":  # alice's verdict for another recipient
        open_(s, t, tok, rcpt="bob@acme.example")
    elif case == "queue":  # a message of its own: the queue picks the id
        open_(s, t, tok)
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
