#!/usr/bin/env python3
# smtpclient.py - a raw SMTP/LMTP client for the protocol tests: sends
# exact bytes (bare CR/LF, NUL, overlong lines) and prints the code of
# every final reply line, space-separated, on stdout (full replies on
# stderr with -v).  Never waits longer than --timeout in all.
#
# usage: smtpclient.py [-v] [--timeout S] PORT|unix:PATH STEP...
# steps:
#   BYTES          send BYTES (Python escapes: \r \n \x00 ...)
#   rep:N:BYTES    send BYTES N times
#   wait:N         read until N more final replies have come
#   touch:PATH     create PATH (tells the test a point is reached)
#   waitfile:PATH  wait until PATH exists
#   sleep:S        sleep S seconds
#   eof            shut down the sending side
# After the last step the client shuts down its sending side (unless
# --hold) and reads until the server closes.
import os
import socket
import sys
import time


def unescape(s):
    return s.encode("latin-1").decode("unicode_escape").encode("latin-1")


class Client:
    def __init__(self, target, deadline, verbose):
        if target.startswith("unix:"):
            self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            addr = target[5:]
        else:
            self.s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            addr = ("127.0.0.1", int(target))
        self.deadline = deadline
        self.s.settimeout(max(0.1, deadline - time.monotonic()))
        self.s.connect(addr)
        self.buf = b""
        self.codes = []
        self.closed = False
        self.verbose = verbose

    def read_some(self):
        left = self.deadline - time.monotonic()
        if left <= 0 or self.closed:
            return False
        self.s.settimeout(left)
        try:
            data = self.s.recv(65536)
        except (socket.timeout, ConnectionResetError):
            data = b""
        if not data:
            self.closed = True
            return False
        self.buf += data
        while b"\r\n" in self.buf:
            line, self.buf = self.buf.split(b"\r\n", 1)
            if self.verbose:
                sys.stderr.write("<- %s\n" % line.decode("latin-1"))
            if len(line) >= 4 and line[3:4] == b" ":
                self.codes.append(line[:3].decode("latin-1"))
            elif len(line) == 3:
                self.codes.append(line.decode("latin-1"))
        return True

    def wait(self, n):
        want = len(self.codes) + n
        while len(self.codes) < want and self.read_some():
            pass

    def send(self, data):
        if self.verbose:
            sys.stderr.write("-> %r\n" % data[:200])
        try:
            self.s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass


def main():
    args = sys.argv[1:]
    verbose = False
    hold = False
    timeout = 20.0
    while args and args[0].startswith("-"):
        if args[0] == "-v":
            verbose = True
            args = args[1:]
        elif args[0] == "--hold":
            hold = True
            args = args[1:]
        elif args[0] == "--timeout":
            timeout = float(args[1])
            args = args[2:]
        else:
            break
    if not args:
        sys.stderr.write(__doc__ or "usage: smtpclient.py PORT STEP...\n")
        sys.exit(64)
    deadline = time.monotonic() + timeout
    c = Client(args[0], deadline, verbose)
    for step in args[1:]:
        if step.startswith("rep:"):
            _, n, data = step.split(":", 2)
            c.send(unescape(data) * int(n))
        elif step.startswith("wait:"):
            c.wait(int(step[5:]))
        elif step.startswith("touch:"):
            open(step[6:], "w").close()
        elif step.startswith("waitfile:"):
            while not os.path.exists(step[9:]) and \
                    time.monotonic() < deadline:
                time.sleep(0.05)
        elif step.startswith("sleep:"):
            time.sleep(float(step[6:]))
        elif step == "eof":
            c.s.shutdown(socket.SHUT_WR)
        else:
            c.send(unescape(step))
    if not hold:
        try:
            c.s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
    while c.read_some():
        pass
    print(" ".join(c.codes))


if __name__ == "__main__":
    main()
