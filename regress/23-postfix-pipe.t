#!/bin/sh
# 23-postfix-pipe.t - bridge-enqueue as a Postfix pipe(8) transport
# running as the spool's owner (a user of this test's own): messages arrive
# whole in the customers' queues, owned by that user, without forged
# X-Envelope-To headers; exit 67 for an unknown user or an error route
# makes Postfix bounce the recipient.
. "$(dirname "$0")/lib.sh"
. "$TOP/regress/hubrun.sh"
. "$TOP/regress/postfix.sh"
hub_require
pf_require
require swaks bridge-enqueue useradd setpriv

test_user U pipe
ok $? "created the test user"

mkdir -p "$WORK/hub"
for i in 01 02 03 04 05 06 07 08 09 10; do echo "u$i"; done >"$WORK/hub/acme.users"
chmod 644 "$WORK/hub/acme.users"
HUB_ACME_OPTS="recipients = \"$WORK/hub/acme.users\""
HUB_USER=$U
hub_init
ENQ=$(command -v bridge-enqueue)
chown -R "$U" "$HUB_SPOOL"
# the test user must reach the program, the config and the spool
setpriv --reuid="$U" --regid="$(id -g "$U")" --clear-groups sh -c \
    "test -x '$ENQ' && test -r '$HUB_CONF' &&
     test -r '$HUB_ROUTES' && test -w '$HUB_SPOOL'"
ok $? "$U can run bridge-enqueue, read the config and write the spool"
hub_start
ok $? "bridged started (user $U)"

pf_init
pf_set "relay_domains = acme.example, ship.example, blocked.example" \
    "transport_maps = inline:{ acme.example=bridge:, ship.example=bridge:, blocked.example=bridge: }"
pf_master "bridge unix - n n - - pipe" \
    "  flags=R user=$U argv=$ENQ -c $HUB_CONF -f \${sender} -- \${recipient}"
pf_start
ok $? "postfix started with a pipe transport to bridge-enqueue"

send() {
	_id=$1
	shift
	swaks --server 127.0.0.1 --port "$PF_PORT" --from sender@example.org \
	    --to "$1" --header "Subject: $_id" \
	    --header "Message-ID: <$_id@pipe.test>" \
	    --header "X-Envelope-To: forged@evil.example" \
	    --body "body of $_id" >>"$WORK/swaks.out" 2>&1
}

fails=0
for i in 01 02 03 04 05 06 07 08 09 10; do
	send "m$i" "u$i@acme.example" || fails=$((fails + 1))
done
send s1 "s1@ship.example" || fails=$((fails + 1))
send s2 "s2@ship.example" || fails=$((fails + 1))
send unknown "nosuchuser@acme.example" || fails=$((fails + 1))
send blocked "x@blocked.example" || fails=$((fails + 1))
is "$fails" 0 "Postfix accepted 14 messages"

pf_wait_empty 60
ok $? "Postfix's queue drains"
if [ "$(pf_queue_count)" -ne 0 ]; then
	postqueue -c "$PF_CONF" -p | sed 's/^/# /' | head -20
fi

v=$(hub_verify acme ship)
diag "$v"
is "$(kv acme.good "$v")" 10 "10 entries in acme's queue"
is "$(kv ship.good "$v")" 2 "2 entries in ship's queue"
is "$(kv acme.bad "$v")$(kv ship.bad "$v")" 00 "no bad entries"
n=$(find "$HUB_SPOOL/q" -type f ! -user "$U" | wc -l | tr -d ' ')
is "$n" 0 "every queue file is owned by $U"

r=$(TOP=$TOP python3 - "$HUB_SPOOL" <<'EOF'
import os, re, sys
sys.path.insert(0, os.environ['TOP'] + '/regress')
import qcheck
spool = sys.argv[1]
wrong, xenv, proto = 0, 0, 0
want = {'acme': {'m%02d' % i: ['u%02d@acme.example' % i] for i in range(1, 11)},
        'ship': {'s1': ['s1@ship.example'], 's2': ['s2@ship.example']}}
for cu in ('acme', 'ship'):
    got = {}
    good, bad = qcheck.entries(spool, cu)
    for e in good:
        hdr = e.headers()
        if re.search(rb'(?im)^x-envelope-to:', hdr):
            xenv += 1
        if e.get('protocol') != 'pipe':
            proto += 1
            print('# %s: protocol %s' % (e.path, e.get('protocol')))
        if e.sender != 'sender@example.org':
            wrong += 1
            print('# %s: sender %s' % (e.path, e.sender))
        m = re.search(rb'(?im)^message-id: *<([^@>]*)@pipe.test>', hdr)
        mid = m.group(1).decode() if m else '?'
        got.setdefault(mid, []).extend(e.rcpts)
        if b'body of ' + mid.encode() not in e.body:
            wrong += 1
            print('# %s: body of %s missing' % (e.path, mid))
    if got != want[cu]:
        wrong += 1
        print('# %s: got %s' % (cu, sorted(got.items())))
print('wrong=%d xenv=%d proto=%d' % (wrong, xenv, proto))
EOF
)
printf '%s\n' "$r" | grep '^#'
r=$(printf '%s\n' "$r" | tail -1)
is "$(kv wrong "$r")" 0 "each message in the right queue with the right envelope"
is "$(kv xenv "$r")" 0 "no X-Envelope-To header left"
is "$(kv proto "$r")" 0 "envelopes say protocol pipe"

is "$(pf_log_count 'relay=bridge,.*status=sent')" 12 \
    "Postfix logged 12 deliveries through the pipe"
pf_log_count 'to=<nosuchuser@acme.example>.*status=bounced' | grep -qx 1
ok $? "unknown user bounced by Postfix"
pf_log_count 'to=<x@blocked.example>.*status=bounced' | grep -qx 1
ok $? "error route bounced by Postfix"
is "$(pf_log_count 'status=deferred')" 0 "nothing deferred"
grep -E "status=(bounced|deferred)" "$PF_LOG" | head -5 | cut -c1-400 | sed "s/^/# /"
