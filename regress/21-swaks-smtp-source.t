#!/bin/sh
# 21-swaks-smtp-source.t - bridged's SMTP intake against real clients:
# swaks delivers to a customer and is refused for a foreign domain and
# an error route; smtp-source pushes 200 messages over 5 connections
# and every one of them is in acme's queue, whole.
. "$(dirname "$0")/lib.sh"
. "$TOP/regress/hubrun.sh"
hub_require
require swaks smtp-source

hub_init
hub_start
ok $? "bridged listens on 127.0.0.1:$HUB_PORT"

# 1. swaks, one message to a customer address
swaks --server 127.0.0.1 --port "$HUB_PORT" --from sender@example.org \
    --to user@acme.example --header "Subject: swaks one" \
    --header "X-Envelope-To: forged@evil.example" \
    --body "one message from swaks" >"$WORK/swaks1.out" 2>&1
ok $? "swaks to user@acme.example exits 0"
v=$(hub_verify acme)
is "$(kv acme.good "$v")" 1 "one good entry in q/acme/new"
is "$(kv acme.bad "$v")" 0 "no bad entry"
f=$(ls "$HUB_SPOOL/q/acme/new" 2>/dev/null | head -1)
e=$($QCHECK dump "$HUB_SPOOL/q/acme/new/$f" 2>&1)
printf '%s\n' "$e" | grep -q '^sender <sender@example.org>$'
ok $? "envelope sender"
printf '%s\n' "$e" | grep -q '^rcpt <user@acme.example>$'
ok $? "envelope recipient"
printf '%s\n' "$e" | grep -q '^customer acme$'
ok $? "envelope customer"
printf '%s\n' "$e" | grep -q '^Subject: swaks one'
ok $? "message is there"
printf '%s\n' "$e" | grep -qi '^X-Envelope-To:'
ok $(( ! $? )) "inbound X-Envelope-To: removed"

# 2. refusals: a domain that is not ours, an error route
swaks --server 127.0.0.1 --port "$HUB_PORT" --from sender@example.org \
    --to user@elsewhere.example >"$WORK/swaks2.out" 2>&1
rc=$?
[ $rc -ne 0 ] && grep -q '^<\*\* *550' "$WORK/swaks2.out"
ok $? "swaks to a foreign domain fails with 550 (exit $rc)"
grep '^<\*\*' "$WORK/swaks2.out" | sed 's/^/# /'
swaks --server 127.0.0.1 --port "$HUB_PORT" --from sender@example.org \
    --to user@blocked.example >"$WORK/swaks3.out" 2>&1
rc=$?
[ $rc -ne 0 ] && grep -q '^<\*\* *550 5.7.1' "$WORK/swaks3.out"
ok $? "swaks to an error route fails with 550 5.7.1 (exit $rc)"
is "$(ls "$HUB_SPOOL/q/acme/new" | wc -l | tr -d ' ')" 1 \
    "refused mail queued nothing"

# 3. smtp-source: 200 messages of 4 KiB over 5 sessions
rm -f "$HUB_SPOOL"/q/acme/new/*
smtp-source -s 5 -m 200 -l 4096 -t user@acme.example -f sender@example.org \
    "127.0.0.1:$HUB_PORT" >"$WORK/smtp-source.out" 2>&1
ok $? "smtp-source -s 5 -m 200 -l 4096 exits 0"
v=$(hub_verify acme)
diag "$v"
is "$(kv acme.new "$v")" 200 "exactly 200 entries in q/acme/new"
is "$(kv acme.good "$v")" 200 "all 200 parse and have the right size"
is "$(kv acme.tmp "$v")" 0 "nothing left in tmp/"
r=$(TOP=$TOP python3 - "$HUB_SPOOL" <<'EOF'
import os, re, sys
sys.path.insert(0, os.environ['TOP'] + '/regress')
import qcheck
good, bad = qcheck.entries(sys.argv[1], 'acme')
ids, mids, wrong = set(), set(), 0
for e in good:
    ids.add(e.id)
    try:
        body = e.without_received()
    except qcheck.QError as ex:
        wrong += 1
        print('# %s' % ex)
        continue
    # smtp-source: a few header fields, a blank line, then -l octets of
    # text in lines of 78 plus CRLF, and a final CRLF
    hdr, sep, text = body.partition(b'\r\n\r\n')
    m = re.search(rb'(?im)^message-id: *(<[^>]*>)', hdr)
    if m:
        mids.add(m.group(1))
    if (e.rcpts != ['user@acme.example'] or e.sender != 'sender@example.org'
            or not sep or len(text) != 4096 + 2 or not m):
        wrong += 1
        print('# wrong: %s rcpts=%s text=%d' % (e.path, e.rcpts, len(text)))
print('ids=%d mids=%d wrong=%d' % (len(ids), len(mids), wrong))
EOF
)
printf '%s\n' "$r" | grep '^#'
r=$(printf '%s\n' "$r" | tail -1)
is "$(kv ids "$r")" 200 "200 distinct queue ids"
is "$(kv mids "$r")" 200 "200 distinct Message-Ids"
is "$(kv wrong "$r")" 0 "every entry has the envelope and the 4096-octet text"
