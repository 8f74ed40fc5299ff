#!/usr/bin/env python3
# qcheck.py - read hub queue entries (spoolfmt(5)) independently of the
# C code, for the integration tests: parse the envelope, check that the
# file is envelope + size octets, split off the Received: header the hub
# prepended.  Invariant: it only reads; a malformed entry is an error,
# never skipped silently.
#
# As a module:  parse(path) -> Entry;  entries(spool, customer[, sub])
# As a program: qcheck.py verify SPOOL CUSTOMER...   (one "# bad: path:
#               why" line per bad entry, then one line of key=value
#               counts; exit 1 if any entry is bad)
#               qcheck.py dump PATH   (the envelope, then the message)

import os
import re
import sys


class QError(Exception):
    pass


class Entry:
    def __init__(self, path, fields, body, body_off):
        self.path = path
        self.fields = fields		# name -> [values] in order
        self.body = body		# the message octets
        self.body_off = body_off

    def get(self, name, default=None):
        v = self.fields.get(name)
        return v[0] if v else default

    @property
    def id(self):
        return self.get('id')

    @property
    def sender(self):
        return unbracket(self.get('sender', ''))

    @property
    def rcpts(self):
        return [unbracket(v) for v in self.fields.get('rcpt', [])]

    def headers(self):
        """The header section of the message (up to the empty line)."""
        m = re.search(rb'\r\n\r\n', self.body)
        return self.body[:m.start() + 2] if m else self.body

    def without_received(self):
        """The message minus its first header field, which must be the
        Received: field the hub prepended."""
        if not self.body[:9].lower() == b'received:':
            raise QError('%s: message does not start with Received:' %
                         self.path)
        i = 0
        while True:
            j = self.body.find(b'\r\n', i)
            if j < 0:
                raise QError('%s: unterminated Received: field' % self.path)
            i = j + 2
            if self.body[i:i + 1] not in (b' ', b'\t'):
                return self.body[i:]


def unbracket(v):
    v = v.strip()
    m = re.match(r'<([^>]*)>', v)
    return m.group(1) if m else v


def parse(path):
    with open(path, 'rb') as f:
        data = f.read()
    end = data.find(b'\n\n')
    if end < 0:
        raise QError('%s: no end of envelope' % path)
    env = data[:end].decode('utf-8', 'replace').split('\n')
    if env[0] != 'MBQ 1':
        raise QError('%s: first line is %r, not "MBQ 1"' % (path, env[0]))
    fields = {}
    for line in env[1:]:
        if not line or ' ' not in line:
            raise QError('%s: bad envelope line %r' % (path, line))
        k, v = line.split(' ', 1)
        fields.setdefault(k, []).append(v)
    off = end + 2
    e = Entry(path, fields, data[off:], off)
    for k in ('id', 'customer', 'arrival', 'size', 'sender'):
        if k not in fields:
            raise QError('%s: no %s line' % (path, k))
    if not fields.get('rcpt'):
        raise QError('%s: no rcpt line' % path)
    try:
        size = int(e.get('size'), 10)
    except ValueError:
        raise QError('%s: bad size %r' % (path, e.get('size')))
    if size != len(e.body):
        raise QError('%s: size %d but %d message octets' %
                     (path, size, len(e.body)))
    if os.path.basename(path) != e.id:
        raise QError('%s: file name is not the id %s' % (path, e.id))
    if re.search(rb'(?<!\r)\n|\r(?!\n)', e.body):
        raise QError('%s: bare CR or LF in the message' % path)
    return e


def qdir(spool, customer, sub='new'):
    return os.path.join(spool, 'q', customer, sub)


def names(spool, customer, sub='new'):
    d = qdir(spool, customer, sub)
    try:
        return sorted(n for n in os.listdir(d) if not n.startswith('.'))
    except FileNotFoundError:
        return []


def entries(spool, customer, sub='new'):
    """Parse every entry; returns (list of Entry, list of error strings)."""
    good, bad = [], []
    for n in names(spool, customer, sub):
        try:
            good.append(parse(os.path.join(qdir(spool, customer, sub), n)))
        except (QError, OSError) as ex:
            bad.append(str(ex))
    return good, bad


def main(argv):
    if len(argv) >= 3 and argv[0] == 'verify':
        spool, nbad, kv = argv[1], 0, []
        for cu in argv[2:]:
            good, bad = entries(spool, cu)
            kv += ['%s.new=%d' % (cu, len(good) + len(bad)),
                   '%s.good=%d' % (cu, len(good)), '%s.bad=%d' % (cu, len(bad)),
                   '%s.tmp=%d' % (cu, len(names(spool, cu, 'tmp'))),
                   '%s.corrupt=%d' % (cu, len(names(spool, cu, 'corrupt')))]
            for b in bad:
                print('# bad: %s' % b)
            nbad += len(bad)
        print(' '.join(kv))
        return 1 if nbad else 0
    if len(argv) == 2 and argv[0] == 'dump':
        e = parse(argv[1])
        for k, vs in e.fields.items():
            for v in vs:
                print(k, v)
        print()
        sys.stdout.flush()
        sys.stdout.buffer.write(e.body)
        return 0
    print('usage: qcheck.py verify SPOOL CUSTOMER... | dump PATH',
          file=sys.stderr)
    return 64


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
