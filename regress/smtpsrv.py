#!/usr/bin/env python3
# smtpsrv.py - a scripted SMTP server standing in for a customer's mail
# server in the integration tests: PIPELINING, optionally CHUNKING.
# A recipient with "temp" in it gets 451, with "perm" 550; every
# message accepted is written to DIR/N.msg (its recipients to
# DIR/N.rcpt, what followed MAIL FROM: to DIR/N.from) before the 250,
# after DELAY seconds.  It does not offer DSN.  Exits after IDLE
# seconds without a connection.  With --max-conns N a connection
# beyond N at once is greeted with 421 and closed.  DIR/conns holds
# "peak P total T refused R" (connections at once, accepted, turned
# away), rewritten as they change.  With --max-msgs N it goes down
# after the Nth message it takes: its 250 is sent, then the connection
# and the listener are closed and it exits.
#
# usage: smtpsrv.py PORT DIR [--chunking] [--delay S] [--idle S]
#                   [--max-conns N] [--max-msgs N]
import os
import socket
import sys
import threading
import time

args = sys.argv[1:]
port, outdir = int(args[0]), args[1]
chunking = "--chunking" in args
delay = float(args[args.index("--delay") + 1]) if "--delay" in args else 0.0
idle = float(args[args.index("--idle") + 1]) if "--idle" in args else 300.0
maxconns = int(args[args.index("--max-conns") + 1]) \
    if "--max-conns" in args else 0
maxmsgs = int(args[args.index("--max-msgs") + 1]) \
    if "--max-msgs" in args else 0
lock = threading.Lock()
count = [0]
conns = {"active": 0, "peak": 0, "total": 0, "refused": 0}


def conns_note(change):
    """Count a connection in (+1), out (-1) or refused (0); rewrite DIR/conns.
    True when the connection may be served."""
    with lock:
        ok = True
        if change > 0 and maxconns and conns["active"] >= maxconns:
            conns["refused"] += 1
            ok = False
        elif change > 0:
            conns["active"] += 1
            conns["total"] += 1
            conns["peak"] = max(conns["peak"], conns["active"])
        elif change < 0:
            conns["active"] -= 1
        tmp = os.path.join(outdir, "conns.tmp")
        with open(tmp, "w") as f:
            f.write("peak %d total %d refused %d\n" % (
                conns["peak"], conns["total"], conns["refused"]))
        os.rename(tmp, os.path.join(outdir, "conns"))
        return ok


def store(mail, rcpts, data):
    with lock:
        count[0] += 1
        n = count[0]
    with open(os.path.join(outdir, "%d.from" % n), "w") as f:
        f.write(mail + "\n")
    with open(os.path.join(outdir, "%d.rcpt" % n), "w") as f:
        f.write("\n".join(rcpts) + "\n")
    tmp = os.path.join(outdir, "%d.tmp" % n)
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, os.path.join(outdir, "%d.msg" % n))
    return n


def taken(conn, n):
    """The 250 for message n; past --max-msgs, down at once."""
    conn.sendall(b"250 2.0.0 Ok: queued\r\n")
    if maxmsgs and n >= maxmsgs:
        conn.close()
        os._exit(0)


def serve(conn):
    r = conn.makefile("rb")

    def w(s):
        conn.sendall(s.encode())
    w("220 srv.test ESMTP\r\n")
    mail, rcpts = None, []
    while True:
        line = r.readline(2000)
        if not line:
            return
        cmd = line.decode("latin-1").rstrip("\r\n")
        u = cmd.upper()
        if u.startswith("EHLO"):
            w("250-srv.test\r\n250-PIPELINING\r\n250-SIZE 50000000\r\n"
              "250-8BITMIME\r\n" + ("250-CHUNKING\r\n" if chunking else "") +
              "250 ENHANCEDSTATUSCODES\r\n")
        elif u.startswith("MAIL FROM:"):
            mail, rcpts = cmd[10:], []
            w("250 2.1.0 Ok\r\n")
        elif u.startswith("RCPT TO:"):
            a = cmd[8:].split()[0].strip("<>")
            if mail is None:
                w("503 5.5.1 need MAIL\r\n")
            elif "temp" in a:
                w("451 4.2.0 <%s>: try again later\r\n" % a)
            elif "perm" in a:
                w("550 5.1.1 <%s>: no such user here\r\n" % a)
            else:
                rcpts.append(a)
                w("250 2.1.5 Ok\r\n")
        elif u == "DATA":
            if not rcpts:
                w("554 5.5.1 no valid recipients\r\n")
                continue
            w("354 go ahead\r\n")
            data = b""
            while True:
                ln = r.readline(1000000)
                if not ln:
                    return
                if ln == b".\r\n":
                    break
                data += ln[1:] if ln.startswith(b".") else ln
            time.sleep(delay)
            taken(conn, store(mail, rcpts, data))
            mail, rcpts = None, []
        elif u.startswith("BDAT "):
            n = int(cmd.split()[1])
            data = r.read(n)
            if len(data) != n:
                return
            if mail is None or not rcpts:
                w("554 5.5.1 no valid recipients\r\n")
                continue
            time.sleep(delay)
            taken(conn, store(mail, rcpts, data))
            mail, rcpts = None, []
        elif u == "RSET":
            mail, rcpts = None, []
            w("250 2.0.0 Ok\r\n")
        elif u == "QUIT":
            w("221 2.0.0 Bye\r\n")
            return
        else:
            w("502 5.5.2 unknown\r\n")


def guarded(conn):
    if not conns_note(+1):
        try:
            conn.sendall(b"421 4.7.0 srv.test too many connections\r\n")
        except OSError:
            pass
        conn.close()
        return
    try:
        serve(conn)
    except OSError:
        pass
    finally:
        conn.close()
        conns_note(-1)


s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
s.listen(16)
s.settimeout(idle)
while True:
    try:
        c, _ = s.accept()
    except socket.timeout:
        break
    threading.Thread(target=guarded, args=(c,), daemon=True).start()
