#!/usr/bin/env python3
# sinkkeys.py - the keys sinkcmp.sh compares, in one process instead
# of a handful per message: "RCPT SHA256" per copy, sorted.
#   sinkkeys.py expected RCPTLIST FILE...   each FILE for each recipient
#       of the comma-separated RCPTLIST, as smtp-sink should dump it:
#       one X-Envelope-To naming the recipient first, the file's own
#       X-Envelope-To headers (and their continuation lines) dropped
#   sinkkeys.py got DIR                     each non-empty dump in DIR
#       (smtp-sink -d): the recipient of its X-Rcpt-Args line, the
#       message after smtp-sink's Received header, its last line off
# Lines are compared as they are (a CR stays part of its line); a last
# line without LF is taken as if it had one.
import hashlib
import os
import re
import sys


def lines(data):
    ls = data.split(b"\n")
    if ls and ls[-1] == b"":
        ls.pop()
    return ls


def key(ls):
    return hashlib.sha256(b"".join(l + b"\n" for l in ls)).hexdigest()


def expected(rcpt, data):
    out = [b"X-Envelope-To: <" + rcpt + b">"]
    body = drop = False
    for l in lines(data):
        if body:
            out.append(l)
        elif l == b"":
            body = True
            out.append(l)
        elif l[:1] in (b" ", b"\t"):
            if not drop:
                out.append(l)
        else:
            drop = l.lower().startswith(b"x-envelope-to:")
            if not drop:
                out.append(l)
    return key(out)


RCPT_ARGS = re.compile(rb"^X-Rcpt-Args: <(.*)>")


def got(data):
    rcpt = b""
    out = []
    p = 0
    for l in lines(data):
        if not rcpt:
            m = RCPT_ARGS.match(l)
            if m:
                rcpt = m.group(1)
        if p >= 2:
            out.append(l)
        elif l.startswith(b"\tby smtp-sink"):
            p = 1
        elif p == 1:
            p = 2
    return rcpt, key(out[:-1])


def main():
    keys = []
    if sys.argv[1] == "expected":
        rcpts = [r.encode() for r in re.split(r"[,\s]+", sys.argv[2]) if r]
        for f in sys.argv[3:]:
            with open(f, "rb") as fh:
                data = fh.read()
            for r in rcpts:
                keys.append(r + b" " + expected(r, data).encode())
    elif sys.argv[1] == "got":
        d = sys.argv[2]
        for name in os.listdir(d):
            path = os.path.join(d, name)
            if not os.path.isfile(path) or os.path.getsize(path) == 0:
                continue
            with open(path, "rb") as fh:
                r, k = got(fh.read())
            keys.append(r + b" " + k.encode())
    else:
        sys.exit("usage: sinkkeys.py expected RCPTLIST FILE... | got DIR")
    keys.sort()
    sys.stdout.buffer.write(b"".join(k + b"\n" for k in keys))


main()
