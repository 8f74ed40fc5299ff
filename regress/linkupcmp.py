#!/usr/bin/env python3
# linkupcmp.py - did two leaves get the same mail?  Each DIR holds
# smtp-sink -d dumps.  A dump is read as smtp-sink writes it (its X-
# lines, one X-Rcpt-Args per recipient, its Received:), then the
# message; a leading X-Envelope-To field and the hub's Received: after
# it are taken off, as are any X-Envelope-To fields, so that a copy
# delivered by bridge-linkup's ODMR client (one per recipient, with
# X-Envelope-To) compares equal to the transaction fetchmail relayed
# (several recipients, no X-Envelope-To).  Every (sender, recipient,
# message) must occur as often in A as in B.  A dump whose
# X-Envelope-To does not name its recipient counts as a difference.
# Invariant: it only reads.
#
# usage: linkupcmp.py DIR-A DIR-B     (exit 0 when equal; details on stdout)
import collections
import os
import re
import sys


def cut(data, name):
    if data[:len(name) + 1].lower() != name.lower() + b':':
        return None, data
    i = 0
    while True:
        j = data.find(b'\n', i)
        if j < 0:
            return None, data
        i = j + 1
        if data[i:i + 1] not in (b' ', b'\t'):
            return data[:i], data[i:]


def copies(path):
    data = open(path, 'rb').read().replace(b'\r\n', b'\n')
    sender, rcpts, rest = b'', [], data
    while True:
        line, sep, after = rest.partition(b'\n')
        m = re.match(rb'(X-[A-Za-z-]+): (.*)$', line)
        if not sep or not m or m.group(1) == b'X-Envelope-To':
            break
        if m.group(1) == b'X-Mail-Args':
            sender = m.group(2).split(b' ')[0].strip(b'<>')
        elif m.group(1) == b'X-Rcpt-Args':
            rcpts.append(m.group(2).split(b' ')[0].strip(b'<>'))
        rest = after
    _, rest = cut(rest, b'Received')
    xenv, rest = cut(rest, b'X-Envelope-To')
    if xenv is not None:
        if len(rcpts) != 1 or xenv.strip() != \
                b'X-Envelope-To: <' + rcpts[0] + b'>':
            return [(b'BAD', path.encode(), xenv)]
    _, rest = cut(rest, b'Received')
    i = rest.find(b'\n\n')
    head, body = (rest[:i + 1], rest[i + 1:]) if i >= 0 else (rest, b'')
    keep, skip = [], False
    for line in head.splitlines(keepends=True):
        if line[:1] in (b' ', b'\t'):
            if not skip:
                keep.append(line)
            continue
        skip = line.lower().startswith(b'x-envelope-to:')
        if not skip:
            keep.append(line)
    msg = b''.join(keep) + body
    return [(sender, r, msg) for r in rcpts]


def load(d):
    c = collections.Counter()
    for n in os.listdir(d):
        for k in copies(os.path.join(d, n)):
            c[k] += 1
    return c


a, b = load(sys.argv[1]), load(sys.argv[2])
print('a %d b %d only-a %d only-b %d' % (
    sum(a.values()), sum(b.values()), sum((a - b).values()),
    sum((b - a).values())))
for k in list((a - b).keys())[:5]:
    print('# only in a: from=<%s> to=<%s> %d octets' % (
        k[0].decode(errors='replace'), k[1].decode(errors='replace'),
        len(k[2])))
for k in list((b - a).keys())[:5]:
    print('# only in b: from=<%s> to=<%s> %d octets' % (
        k[0].decode(errors='replace'), k[1].decode(errors='replace'),
        len(k[2])))
sys.exit(0 if a == b else 1)
