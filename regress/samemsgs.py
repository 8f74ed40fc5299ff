#!/usr/bin/env python3
# samemsgs.py - did a server receive exactly these messages?  The
# multiset of messages in DUMPDIR must equal the multiset of FILEs,
# compared with LF line ends.  KIND "sink": smtp-sink dumps (its own
# X- lines and Received: header stripped); "msg": smtpsrv.py's N.msg
# files; a KIND ending in "set" compares sets (duplicates allowed).
#
# usage: samemsgs.py KIND DUMPDIR FILE...
import hashlib
import os
import sys

kind, d, files = sys.argv[1], sys.argv[2], sys.argv[3:]


def norm(b):
    b = b.replace(b"\r\n", b"\n")
    return b if b.endswith(b"\n") else b + b"\n"


def sink(b):
    lines = b.split(b"\n")
    i = 0
    while lines[i].startswith(b"X-"):
        i += 1
    if lines[i].startswith(b"Received: from "):
        i += 1
        while lines[i][:1] in (b"\t", b" "):
            i += 1
    b = b"\n".join(lines[i:])
    return b[:-1] if b.endswith(b"\n\n") else b


def digest(b):
    return hashlib.sha1(norm(b)).hexdigest()


want = sorted(digest(open(f, "rb").read()) for f in files)
got = []
for n in os.listdir(d):
    b = open(os.path.join(d, n), "rb").read()
    if kind.startswith("sink"):
        b = sink(b)
    elif not n.endswith(".msg"):
        continue
    got.append(digest(b))
got.sort()
if kind.endswith("set"):
    got, want = sorted(set(got)), sorted(set(want))
print("# want %d got %d" % (len(want), len(got)))
sys.exit(0 if got == want else 1)
