#!/usr/bin/env python3
# e2echeck.py - account for mail that entered bridged over SMTP, for the
# end-to-end tests (43-uucp-bridged.t, 44-bridged-bundle-crash.t,
# 54-ssh-bridged.t).  It reads what the test wrote down (the jobs it
# gave smtpsend.py and the log smtpsend.py kept) and what came out:
# smtp-sink's dumps at the leaf, or the hub's queue and its published
# bundles.  It parses bundles itself (gzip -dc, then batched SMTP) and
# queue entries with qcheck.py, never with the C code under test.
# Invariant: it only reads; every check it makes can fail, and a file
# it cannot parse is counted as bad, never skipped.
#
# JOBS: one message per line, tab-separated: ID, SOURCE, RCPT[,RCPT...],
#   SENDER (empty for the null sender); the first three columns are
#   smtpsend.py's jobs.  SOURCE is a file or gen:SIZE (smtpsend.py).
#   Every recipient address occurs in one job only.
#
# sink JOBS DIR HOSTNAME
#   DIR holds smtp-sink -d dumps.  Each must be one copy for one
#   recipient of JOBS: smtp-sink's X- lines and Received:, then
#   "X-Envelope-To: <RCPT>" naming the RCPT TO it came with, then the
#   hub's "Received: ... by HOSTNAME (mailbridge) with ESMTP id QID",
#   then the message exactly as sent (LF line ends, a missing final line
#   end added, inbound X-Envelope-To fields gone), with the job's
#   sender.  Copies of one message share their QID, other messages have
#   others.  Prints one summary line, then "# ..." details.
#
# state JOBS SENTLOG SPOOL CUSTOMER
#   Every (message, recipient) of each job that got a 250 in SENTLOG
#   (smtpsend.py -o) must be exactly once in the customer's queue or in
#   a bundle in <SPOOL>/outbox/<CUSTOMER>/ (read with gzip -dc), known by
#   its recipient; a copy in a bundle begins with X-Mailbridge-Envelope:
#   naming its QID, then X-Envelope-To: naming its recipient (bundle(5));
#   a gen: message must carry its Message-ID
#   <ID@smtpsend.test>; the queue id in the hub's Received: header is
#   that of the entry (in the queue) and the same for every copy of a
#   message, and no two messages share one.
#   Prints one summary line, then "# ..." details.  With E2E_CACHE=DIR
#   what was read from a bundle is kept in DIR for the next call.

import collections
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qcheck  # noqa: E402


def read_jobs(path):
    """-> list of (id, source, [rcpts], sender)"""
    jobs = []
    with open(path) as f:
        for line in f:
            line = line.rstrip('\n')
            if not line:
                continue
            jid, source, rcpts, sender = line.split('\t')
            jobs.append((jid, source, rcpts.split(','), sender))
    return jobs


def canon(data):
    """The message as the hub keeps and the leaf gets it, with LF line
    ends: CRLF read as LF, a final line end added, X-Envelope-To fields
    (with their continuation lines) taken out of the header."""
    data = data.replace(b'\r\n', b'\n')
    if not data.endswith(b'\n'):
        data += b'\n'
    i = data.find(b'\n\n')
    head, rest = (data[:i + 1], data[i + 1:]) if i >= 0 else (data, b'')
    out, skip = [], False
    for line in head.splitlines(keepends=True):
        if line[:1] in (b' ', b'\t'):
            if not skip:
                out.append(line)
            continue
        skip = line.lower().startswith(b'x-envelope-to:')
        if not skip:
            out.append(line)
    return b''.join(out) + rest


def cut_field(data, name):
    """(first header field of data if it is name:, the rest) or
    (None, data)."""
    if not data[:len(name) + 1].lower() == name.lower() + b':':
        return None, data
    i = 0
    while True:
        j = data.find(b'\n', i)
        if j < 0:
            return None, data
        i = j + 1
        if data[i:i + 1] not in (b' ', b'\t'):
            return data[:i], data[i:]


RCVD_ID = re.compile(rb'\(mailbridge\) with E?SMTP id ([A-Za-z0-9._-]+)')
ENV_QID = re.compile(rb'[ \t]QID=([0-9A-F.]+)')


# ---- sink -------------------------------------------------------------

def parse_dump(data, hostname):
    """-> (sender, rcpt, xenv, qid, message) or a string saying why not"""
    pre = {}
    rest = data
    while True:
        line, sep, after = rest.partition(b'\n')
        m = re.match(rb'(X-[A-Za-z-]+): (.*)$', line)
        if not sep or not m or m.group(1) == b'X-Envelope-To':
            break
        pre[m.group(1)] = m.group(2)
        rest = after
    sink_rcvd, rest = cut_field(rest, b'Received')
    if sink_rcvd is None or b'smtp-sink' not in sink_rcvd:
        return 'no smtp-sink Received: field'
    if not rest.endswith(b'\n\n'):
        return 'no final empty line from smtp-sink'
    rest = rest[:-1]
    xenv, rest = cut_field(rest, b'X-Envelope-To')
    if xenv is None:
        return 'X-Envelope-To is not the first header field'
    hub_rcvd, rest = cut_field(rest, b'Received')
    if hub_rcvd is None or \
            (b'by ' + hostname + b' (mailbridge)') not in hub_rcvd:
        return "the hub's Received: does not follow X-Envelope-To"
    m = RCVD_ID.search(hub_rcvd.replace(b'\n', b' '))
    if not m:
        return "no queue id in the hub's Received:"
    sender = pre.get(b'X-Mail-Args', b'').split(b' ')[0]
    rcpt = pre.get(b'X-Rcpt-Args', b'').split(b' ')[0]
    return (sender, rcpt, xenv.rstrip(b'\n'), m.group(1).decode(), rest)


def load_source(source, jid):
    if source.startswith('gen:'):
        # what smtpsend.py generates
        size = int(source[4:])
        head = ('From: smtpsend <sender@example.org>\r\n'
                'To: test <rcpt@example.org>\r\n'
                'Subject: %s\r\n'
                'Message-ID: <%s@smtpsend.test>\r\n'
                '\r\n' % (jid, jid)).encode()
        line = (jid + ' ').encode() * 8
        line = line[:70] + b'\r\n'
        body = b''
        while len(head) + len(body) < size:
            body += line
        return head + body
    with open(source, 'rb') as f:
        return f.read()


def cmd_sink(jobsf, sinkdir, hostname):
    jobs = read_jobs(jobsf)
    by_rcpt = {}
    for j in jobs:
        for r in j[2]:
            by_rcpt[r.lower()] = j
    want = sum(len(j[2]) for j in jobs)
    seen = collections.Counter()
    qids = collections.defaultdict(set)	# job id -> queue ids
    bad, env, diff, extra, notes = 0, 0, 0, 0, []
    names = sorted(n for n in os.listdir(sinkdir) if not n.startswith('.'))
    for n in names:
        with open(os.path.join(sinkdir, n), 'rb') as f:
            data = f.read()
        d = parse_dump(data, hostname.encode())
        if isinstance(d, str):
            bad += 1
            notes.append('%s: %s' % (n, d))
            continue
        sender, rcpt, xenv, qid, msg = d
        addr = rcpt[1:-1].decode('utf-8', 'replace').lower()
        j = by_rcpt.get(addr)
        if j is None:
            extra += 1
            notes.append('%s: unexpected recipient %r' % (n, rcpt))
            continue
        seen[addr] += 1
        qids[j[0]].add(qid)
        if xenv != b'X-Envelope-To: ' + rcpt or sender != \
                ('<%s>' % j[3]).encode():
            env += 1
            notes.append('%s: envelope %r %r, %r' % (n, sender, rcpt, xenv))
        if msg != canon(load_source(j[1], j[0])):
            diff += 1
            notes.append('%s: differs from %s' % (n, j[1]))
    missing = sum(1 for j in jobs for r in j[2] if seen[r.lower()] == 0)
    dup = sum(c - 1 for c in seen.values() if c > 1)
    owner = collections.Counter()
    badq = 0
    for jid, s in qids.items():
        if len(s) != 1:
            badq += 1
            notes.append('%s: copies with queue ids %s' % (jid, sorted(s)))
        for q in s:
            owner[q] += 1
    badq += sum(1 for c in owner.values() if c > 1)
    print('expected %d delivered %d missing %d duplicated %d extra %d '
          'bad %d envelope %d differ %d qid %d' %
          (want, len(names), missing, dup, extra, bad, env, diff, badq))
    for j in jobs:
        for r in j[2]:
            if seen[r.lower()] == 0 and len(notes) < 40:
                notes.append('missing: %s (%s)' % (r, j[1]))
    for x in notes[:20]:
        print('#', x)
    return 0


# ---- state ------------------------------------------------------------

MSGID = re.compile(rb'^Message-ID:\s*<([^>]*)@smtpsend\.test>',
                   re.I | re.M)


def header_facts(msg):
    """(job id from Message-ID, queue id from the hub's Received:)"""
    i = msg.find(b'\n\n')
    head = msg[:i + 1] if i >= 0 else msg
    head = head.replace(b'\r\n', b'\n')
    m = MSGID.search(head)
    xenv, rest = cut_field(head, b'X-Envelope-To')
    rc, _ = cut_field(rest, b'Received')
    q = RCVD_ID.search(rc.replace(b'\n', b' ')) if rc else None
    return (m.group(1).decode() if m else None,
            q.group(1).decode() if q else None)


def bundle_copies(path):
    """-> list of (rcpt, message) from gzip -dc of path, or a string
    saying why it is not a sound bundle."""
    p = subprocess.run(['gzip', '-dc', path], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    if p.returncode != 0:
        return 'gzip -dc: %s' % p.stderr.decode(errors='replace').strip()
    lines = p.stdout.split(b'\r\n')
    if lines[-1] != b'':
        return 'does not end with CRLF'
    lines.pop()
    if not lines or not lines[0].startswith(b'HELO ') or \
            lines[-1] != b'QUIT':
        return 'not HELO ... QUIT'
    out, i, n = [], 1, len(lines) - 1
    while i < n:
        m = re.match(rb'MAIL FROM:<[^>]*>$', lines[i])
        r = re.match(rb'RCPT TO:<([^>]*)>$', lines[i + 1]) \
            if i + 1 < n else None
        if not m or not r or i + 2 >= n or lines[i + 2] != b'DATA':
            return 'line %d: not MAIL, RCPT, DATA' % (i + 1)
        i += 3
        body = []
        while i < n and lines[i] != b'.':
            ln = lines[i]
            body.append(ln[1:] if ln.startswith(b'.') else ln)
            i += 1
        if i >= n:
            return 'a message without its final dot'
        i += 1
        out.append((r.group(1).decode('utf-8', 'replace').lower(),
                    b'\n'.join(body) + b'\n'))
    return out


def bundle_facts(path):
    """-> [(rcpt, job id, queue id, X-Envelope-To right)] of a bundle,
    or a string saying why it is not sound.  A published bundle never
    changes, so with E2E_CACHE set the facts of a sound one are kept
    there under its name and size and read back next time."""
    cache = os.environ.get('E2E_CACHE')
    if cache:
        cf = os.path.join(cache, '%s.%d' % (os.path.basename(path),
                                            os.path.getsize(path)))
        if os.path.exists(cf):
            with open(cf) as f:
                return [(r, j if j != '-' else None, q if q != '-' else None,
                         x == '1')
                        for r, j, q, x in (ln.rstrip('\n').split('\t')
                                           for ln in f)]
    copies = bundle_copies(path)
    if isinstance(copies, str):
        return copies
    facts = []
    for rcpt, msg in copies:
        env, msg = cut_field(msg, b'X-Mailbridge-Envelope')
        eq = ENV_QID.search(env) if env else None
        jid, rq = header_facts(msg)
        facts.append((rcpt, jid, rq, msg.startswith(
            b'X-Envelope-To: <%s>\n' % rcpt.encode()) and eq is not None
            and eq.group(1).decode() == rq))
    if cache:
        with open(cf + '.tmp', 'w') as f:
            for r, j, q, x in facts:
                f.write('%s\t%s\t%s\t%d\n' % (r, j or '-', q or '-', x))
        os.rename(cf + '.tmp', cf)
    return facts


def cmd_state(jobsf, sentlog, spool, customer):
    jobs = {j[0]: j for j in read_jobs(jobsf)}
    by_rcpt = {r.lower(): j[0] for j in jobs.values() for r in j[2]}
    accepted = set()
    with open(sentlog) as f:
        for line in f:
            parts = line.rstrip('\n').split('\t')
            if len(parts) >= 2 and parts[1] == '250':
                accepted.add(parts[0])
    want = {(jid, r.lower()) for jid in accepted for r in jobs[jid][2]}
    where = collections.defaultdict(list)	# (jid, rcpt) -> places
    notes, bad = [], 0
    queued = bundled = nbundles = 0
    qid_of = {}				# jid -> queue ids
    unknown = set()

    def place(rcpt, mid, rq, what):
        """one copy for rcpt, Message-ID job mid, queue id rq, in what"""
        nonlocal bad
        jid = by_rcpt.get(rcpt.lower())
        if jid is None:
            unknown.add((mid, rcpt))
            return
        if rq is None or (jobs[jid][1].startswith('gen:') and mid != jid):
            bad += 1
            notes.append('%s: %s: Message-ID of %s, queue id %s' %
                         (what, rcpt, mid, rq))
            return
        qid_of.setdefault(jid, set()).add(rq)
        where[(jid, rcpt.lower())].append(what)

    good, badq = qcheck.entries(spool, customer)
    for b in badq:
        bad += 1
        notes.append('bad entry: %s' % b)
    for e in good:
        mid, rq = header_facts(e.body)
        if rq != e.id:
            bad += 1
            notes.append('%s: Received id %s' % (e.path, rq))
            continue
        for r in e.rcpts:
            place(r, mid, rq, 'queue:' + e.id)
            queued += 1
    outbox = os.path.join(spool, 'outbox', customer)
    for n in sorted(os.listdir(outbox)) if os.path.isdir(outbox) else []:
        nbundles += 1
        facts = bundle_facts(os.path.join(outbox, n))
        if isinstance(facts, str):
            bad += 1
            notes.append('bundle %s: %s' % (n, facts))
            continue
        for rcpt, mid, rq, xenv_ok in facts:
            if not xenv_ok:
                bad += 1
                notes.append('bundle %s: %s: not X-Mailbridge-Envelope '
                             'with its QID, then X-Envelope-To with its '
                             'recipient' % (n, rcpt))
            place(rcpt, mid, rq, 'bundle:' + n)
            bundled += 1
    lost = sorted(want - set(where))
    unknown |= set(where) - want
    twice = sorted(k for k, v in where.items() if len(v) > 1)
    owner = collections.Counter(q for s in qid_of.values() for q in s)
    splitq = sorted(j for j, s in qid_of.items()
                    if len(s) > 1 or any(owner[q] > 1 for q in s))
    print('copies %d queued %d bundled %d bundles %d lost %d twice %d '
          'unknown %d split %d bad %d' %
          (len(want), queued, bundled, nbundles, len(lost), len(twice),
           len(unknown), len(splitq), bad))
    for k in lost[:5]:
        notes.append('lost: %s %s' % k)
    for k in twice[:5]:
        notes.append('twice: %s %s in %s' % (k[0], k[1], where[k]))
    for k in sorted(unknown, key=str)[:5]:
        notes.append('unknown: %s %s' % k)
    for j in splitq[:5]:
        notes.append('%s: queue ids %s' % (j, sorted(qid_of[j])))
    for x in notes[:20]:
        print('#', x)
    return 0


def main(argv):
    if len(argv) == 4 and argv[0] == 'sink':
        return cmd_sink(argv[1], argv[2], argv[3])
    if len(argv) == 5 and argv[0] == 'state':
        return cmd_state(argv[1], argv[2], argv[3], argv[4])
    print('usage: e2echeck.py sink JOBS DIR HOSTNAME | '
          'state JOBS SENTLOG SPOOL CUSTOMER', file=sys.stderr)
    return 64


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
