#!/bin/sh
# 24-corpus.t - all 3,250 corpus messages through bridged's SMTP intake
# (several messages per connection, dot-stuffed, CRLF): half to acme,
# half to ship, every 50th to both.  Each must be in the right queue(s)
# byte for byte once the Received: header bridged prepended is taken
# off and CRLF is read as LF, except that inbound X-Envelope-To header
# fields are gone.  The recipient address names the corpus file, so
# every entry is matched to its original.
. "$(dirname "$0")/lib.sh"
. "$TOP/regress/hubrun.sh"
hub_require

C=$(corpus_dir)
ok $? "corpus unpacked"
hub_init
hub_start
ok $? "bridged started"

# jobs: ID, file, recipients
(cd "$C" && find . -name '*.eml' -type f | sort) | awk -v c="$C" '
{	f = substr($0, 3); id = sprintf("c%04d", NR)
	if (NR % 50 == 0) r = id "@acme.example," id "@ship.example"
	else if (NR % 2 == 0) r = id "@acme.example"
	else r = id "@ship.example"
	print id "\t" c "/" f "\t" r
}' >"$WORK/jobs"
njobs=$(wc -l <"$WORK/jobs" | tr -d ' ')
is "$njobs" 3250 "3250 messages to send"

out=$($SMTPSEND -s "127.0.0.1:$HUB_PORT" -f corpus@example.org \
    -j "$WORK/jobs" -o "$WORK/sent.log" -c 4 -m 50 -t 120)
diag "$out"
is "$(kv accepted "$out")" 3250 "every message got a 250"
awk -F'\t' '$2 != "250"' "$WORK/sent.log" | head -20 | sed 's/^/# not accepted: /'

v=$(hub_verify acme ship)
diag "$v"
is "$(kv acme.bad "$v")" 0 "no bad entry in acme's queue"
is "$(kv ship.bad "$v")" 0 "no bad entry in ship's queue"
is "$(kv acme.tmp "$v")$(kv ship.tmp "$v")" 00 "nothing left in tmp/"

r=$(TOP=$TOP python3 - "$HUB_SPOOL" "$WORK/jobs" <<'EOF'
import os, re, sys
sys.path.insert(0, os.environ['TOP'] + '/regress')
import qcheck
spool, jobsf = sys.argv[1], sys.argv[2]

def expected(path):
    """The original as an SMTP client must send it (a missing final
    newline added), LF line ends, X-Envelope-To fields removed from
    the header section."""
    with open(path, 'rb') as f:
        data = f.read()
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

jobs = {}
want = {'acme': set(), 'ship': set()}
with open(jobsf) as f:
    for line in f:
        jid, path, rcpts = line.rstrip('\n').split('\t')
        jobs[jid] = path
        for r in rcpts.split(','):
            want[r.split('@')[1].split('.')[0]].add(jid)

counts = {}
shown = 0
for cu in ('acme', 'ship'):
    good, bad = qcheck.entries(spool, cu)
    seen, dup, mismatch, wrongenv = set(), 0, 0, 0
    for e in good:
        rc = e.rcpts
        jid = rc[0].split('@')[0] if len(rc) == 1 else '?'
        if (len(rc) != 1 or rc[0] != '%s@%s.example' % (jid, cu)
                or jid not in jobs or e.sender != 'corpus@example.org'):
            wrongenv += 1
            print('# %s: envelope rcpts=%s sender=%s' % (e.path, rc, e.sender))
            continue
        if jid in seen:
            dup += 1
            print('# %s: %s queued twice for %s' % (e.path, jid, cu))
        seen.add(jid)
        try:
            got = e.without_received().replace(b'\r\n', b'\n')
        except qcheck.QError as ex:
            mismatch += 1
            print('# %s' % ex)
            continue
        exp = expected(jobs[jid])
        if got != exp:
            mismatch += 1
            if shown < 10:
                shown += 1
                n = next((i for i in range(min(len(got), len(exp)))
                          if got[i] != exp[i]), min(len(got), len(exp)))
                print('# %s (%s, %s): differs at octet %d of %d/%d: '
                      'got %r want %r' % (e.path, jid, jobs[jid], n,
                      len(got), len(exp), got[max(0, n - 20):n + 40],
                      exp[max(0, n - 20):n + 40]))
    missing = sorted(want[cu] - seen)
    extra = sorted(seen - want[cu])
    for m in missing[:10]:
        print('# %s: %s (%s) missing' % (cu, m, jobs[m]))
    counts.update({cu + '.want': len(want[cu]), cu + '.found': len(seen),
                   cu + '.missing': len(missing), cu + '.extra': len(extra),
                   cu + '.dup': dup, cu + '.mismatch': mismatch,
                   cu + '.wrongenv': wrongenv})
print(' '.join('%s=%d' % kv for kv in sorted(counts.items())))
EOF
)
printf '%s\n' "$r" | grep '^#'
r=$(printf '%s\n' "$r" | tail -1)
diag "$r"
for cu in acme ship; do
	want=$(kv $cu.want "$r")
	is "$(kv $cu.found "$r")" "$want" "$cu: all $want messages found"
	is "$(kv $cu.missing "$r")" 0 "$cu: none missing"
	is "$(kv $cu.extra "$r")$(kv $cu.dup "$r")" 00 "$cu: none extra, none twice"
	is "$(kv $cu.wrongenv "$r")" 0 "$cu: every envelope right"
	is "$(kv $cu.mismatch "$r")" 0 "$cu: every message byte for byte"
done
n=$(grep -l -i '^X-Envelope-To:' $(awk -F'\t' '{print $2}' "$WORK/jobs") 2>/dev/null | wc -l | tr -d ' ')
diag "$n corpus messages carry X-Envelope-To (removal is checked on them)"
