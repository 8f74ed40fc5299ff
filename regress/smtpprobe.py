#!/usr/bin/env python3
# smtpprobe.py - a step-by-step SMTP/ODMR client for the integration
# tests: each step is sent on its own and its reply awaited; one line
# is printed per reply (the last line of a multi-line one).  It can
# bind its end to a given local address (127.0.0.2 is outside a
# customer's etrn-from), answer AUTH CRAM-MD5, and take the turn after
# ATRN as the customer's SMTP server.  Never waits longer than the
# timeout for one reply.
#
# usage: smtpprobe.py [-b ADDR] [-t SECONDS] PORT STEP...
# steps:
#   COMMAND              send COMMAND + CRLF, print the reply
#   cram:USER:SECRET     AUTH CRAM-MD5 as USER with SECRET
#   quiet:S              for S seconds nothing may come: prints "quiet"
#                        or "data <what came>"
#   turn:DIR             be the SMTP server now: 220, then EHLO, MAIL,
#                        RCPT, DATA (each message to DIR/N.msg), QUIT;
#                        prints "turned N" with the messages taken
import base64
import hashlib
import hmac
import os
import socket
import sys


class Probe:
    def __init__(self, port, bind, timeout):
        self.s = socket.socket()
        self.s.settimeout(timeout)
        if bind:
            self.s.bind((bind, 0))
        self.s.connect(("127.0.0.1", port))
        self.f = self.s.makefile("rb")

    def send(self, line):
        try:
            self.s.sendall(line.encode("latin-1") + b"\r\n")
        except OSError:
            pass

    def reply(self):
        while True:
            try:
                ln = self.f.readline(4096)
            except OSError:
                return "EOF"
            if not ln:
                return "EOF"
            ln = ln.decode("latin-1").rstrip("\r\n")
            if len(ln) < 4 or ln[3] != "-":
                return ln

    def cram(self, user, secret):
        self.send("AUTH CRAM-MD5")
        r = self.reply()
        if not r.startswith("334 "):
            return r
        chal = base64.b64decode(r[4:])
        dig = hmac.new(secret.encode(), chal, hashlib.md5).hexdigest()
        self.send(base64.b64encode(("%s %s" % (user, dig)).encode())
                  .decode())
        return self.reply()

    def quiet(self, secs):
        self.s.settimeout(secs)
        try:
            got = self.s.recv(512)
        except socket.timeout:
            return "quiet"
        return "data %r" % got if got else "quiet (closed)"

    def turn(self, outdir):
        n = 0
        self.send("220 leaf.test ESMTP ready")
        while True:
            ln = self.f.readline(4096)
            if not ln:
                return "turned %d (no QUIT)" % n
            cmd = ln.decode("latin-1").rstrip("\r\n").upper()
            if cmd.startswith("EHLO"):
                self.send("250-leaf.test")
                self.send("250 8BITMIME")
            elif cmd == "DATA":
                self.send("354 go ahead")
                data = b""
                while True:
                    ln = self.f.readline(1000000)
                    if not ln or ln == b".\r\n":
                        break
                    data += ln[1:] if ln.startswith(b".") else ln
                n += 1
                with open(os.path.join(outdir, "%d.msg" % n), "wb") as f:
                    f.write(data)
                self.send("250 2.0.0 Ok")
            elif cmd == "QUIT":
                self.send("221 2.0.0 Bye")
                return "turned %d" % n
            else:
                self.send("250 2.0.0 Ok")


def main(argv):
    bind, timeout = None, 30.0
    while argv and argv[0] in ("-b", "-t"):
        if argv[0] == "-b":
            bind = argv[1]
        else:
            timeout = float(argv[1])
        argv = argv[2:]
    p = Probe(int(argv[0]), bind, timeout)
    print(p.reply())
    for step in argv[1:]:
        if step.startswith("cram:"):
            _, user, secret = step.split(":", 2)
            print(p.cram(user, secret))
        elif step.startswith("quiet:"):
            print(p.quiet(float(step[6:])))
        elif step.startswith("turn:"):
            print(p.turn(step[5:]))
        else:
            p.send(step)
            print(p.reply())
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
