#!/bin/sh
# 22-postfix-lmtp.t - bridged behind a real Postfix: Postfix relays the
# customer domains to bridged's LMTP socket (transport_maps lmtp:unix:).
# 20 messages arrive whole in acme's queue without their forged
# X-Envelope-To headers; recipients bridged refuses (unknown user from
# acme's recipients list, an error route) are bounced by Postfix with
# bridged's 5xx, and a mixed message is split per recipient correctly.
. "$(dirname "$0")/lib.sh"
. "$TOP/regress/hubrun.sh"
. "$TOP/regress/postfix.sh"
hub_require
pf_require
require swaks

mkdir -p "$WORK/hub"
for i in 01 02 03 04 05 06 07 08 09 10 11 12 13 14 15 16 17 18 19 20; do
	echo "u$i"
done >"$WORK/hub/acme.users"
chmod 644 "$WORK/hub/acme.users"
HUB_ACME_OPTS="recipients = \"$WORK/hub/acme.users\""
# only Postfix may reach the socket: group postfix, mode 0660
HUB_LMTP_GROUP=postfix
hub_init
hub_start
ok $? "bridged started with LMTP on $HUB_LMTP"
is "$(stat -c '%a %G' "$HUB_LMTP")" "660 postfix" "the socket is 0660, group postfix"

pf_init
lm="lmtp:unix:$HUB_LMTP"
pf_set "relay_domains = acme.example, ship.example, blocked.example" \
    "transport_maps = inline:{ acme.example=$lm, ship.example=$lm, blocked.example=$lm }"
pf_start
ok $? "postfix started on 127.0.0.1:$PF_PORT"

# send MSGID RCPT...: one message through Postfix with a forged
# X-Envelope-To header
send() {
	_id=$1
	shift
	_to=$(echo "$@" | tr ' ' ',')
	swaks --server 127.0.0.1 --port "$PF_PORT" --from sender@example.org \
	    --to "$_to" --header "Subject: $_id" \
	    --header "Message-ID: <$_id@lmtp.test>" \
	    --header "X-Envelope-To: forged@evil.example" \
	    --body "body of $_id" >>"$WORK/swaks.out" 2>&1
}

fails=0
for i in 01 02 03 04 05 06 07 08 09 10 11 12 13 14 15 16 17 18 19 20; do
	send "m$i" "u$i@acme.example" || fails=$((fails + 1))
done
is "$fails" 0 "Postfix accepted 20 messages for acme"
send unknown nosuchuser@acme.example
ok $? "Postfix accepted a message for an unknown acme user"
send blocked x@blocked.example
ok $? "Postfix accepted a message for an error route"
send mixed u01@acme.example nosuch2@acme.example s1@ship.example
ok $? "Postfix accepted a message with good and unknown recipients"

pf_wait_empty 60
ok $? "Postfix's queue drains"
if [ "$(pf_queue_count)" -ne 0 ]; then
	postqueue -c "$PF_CONF" -p | sed 's/^/# /' | head -20
fi

v=$(hub_verify acme ship)
diag "$v"
is "$(kv acme.good "$v")" 21 "21 entries in acme's queue"
is "$(kv acme.bad "$v")" 0 "none of them bad"
is "$(kv ship.good "$v")" 1 "1 entry in ship's queue"

r=$(TOP=$TOP python3 - "$HUB_SPOOL" <<'EOF'
import os, re, sys
sys.path.insert(0, os.environ['TOP'] + '/regress')
import qcheck
spool = sys.argv[1]
wrong, xenv, proto = 0, 0, 0
want = {'m%02d' % i: ['u%02d@acme.example' % i] for i in range(1, 21)}
want['mixed'] = ['u01@acme.example']
got = {}
for cu in ('acme', 'ship'):
    good, bad = qcheck.entries(spool, cu)
    for e in good:
        hdr = e.headers()
        if re.search(rb'(?im)^x-envelope-to:', hdr):
            xenv += 1
        if e.get('protocol') != 'LMTP':
            proto += 1
        m = re.search(rb'(?im)^message-id: *<([^@>]*)@lmtp.test>', hdr)
        mid = m.group(1).decode() if m else '?'
        got.setdefault(cu, {}).setdefault(mid, []).extend(e.rcpts)
        if b'body of ' + mid.encode() not in e.body:
            wrong += 1
            print('# %s: body of %s missing' % (e.path, mid))
if got.get('acme') != want:
    wrong += 1
    print('# acme: got %s' % sorted(got.get('acme', {}).items()))
if got.get('ship') != {'mixed': ['s1@ship.example']}:
    wrong += 1
    print('# ship: got %s' % got.get('ship'))
print('wrong=%d xenv=%d proto=%d' % (wrong, xenv, proto))
EOF
)
printf '%s\n' "$r" | grep '^#'
r=$(printf '%s\n' "$r" | tail -1)
is "$(kv wrong "$r")" 0 "each message in the right queue with the right recipients"
is "$(kv xenv "$r")" 0 "no X-Envelope-To header left"
is "$(kv proto "$r")" 0 "envelopes say protocol LMTP"

is "$(pf_log_count 'postfix/lmtp\[.*status=sent')" 22 \
    "Postfix logged 22 recipients delivered over LMTP"
pf_log_count 'to=<nosuchuser@acme.example>.*status=bounced .*550[ -]5\.1\.1' |
    grep -qx 1
ok $? "unknown user bounced by Postfix with bridged's 550 5.1.1"
pf_log_count 'to=<nosuch2@acme.example>.*status=bounced .*550[ -]5\.1\.1' |
    grep -qx 1
ok $? "unknown user in a mixed message bounced with 550 5.1.1"
pf_log_count 'to=<x@blocked.example>.*status=bounced .*550[ -]5\.7\.1 .*no mail here' |
    grep -qx 1
ok $? "error route bounced by Postfix with 550 5.7.1 and its text"
is "$(pf_log_count 'status=deferred')" 0 "nothing deferred"
grep -E "status=(bounced|deferred)" "$PF_LOG" | head -5 | cut -c1-400 | sed "s/^/# /"
