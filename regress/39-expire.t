#!/bin/sh
# 39-expire.t - queue lifetimes end to end: mail sent with the DSN
# extension (RET, ENVID, NOTIFY, ORCPT) is recorded in its entries;
# bridged's expire timer (acme: warn-after 2s) queues one delayed DSN
# per entry, and only one, which leaves through the relayhost into
# smtp-sink with the right fields; NOTIFY=NEVER gets none; entries aged
# past expire-after (their arrival rewritten) get a failed DSN (4.4.7)
# and are removed; "bridgectl expire" reports the messages of an old
# bundle in an ssh customer's outbox and removes it, and moves a
# damaged one aside; a flush's 5xx bounce honours NOTIFY, carries ORCPT,
# ENVID and RET=FULL, and the 4xx recipient left keeps its parameters.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hubrun.sh"
hub_require
require smtp-sink bridgectl python3

CLIENT="python3 $TOP/regress/smtpclient.py"
SINKUSER=
[ "$(id -u)" = 0 ] && SINKUSER="-u nobody"

wait_for() {	# wait_for SECONDS COMMAND...
	_s=$1
	shift
	_i=0
	while [ $_i -lt $((_s * 10)) ]; do
		"$@" && return 0
		sleep 0.1
		_i=$((_i + 1))
	done
	return 1
}
count() { ls "$1" 2>/dev/null | grep -c "${2:-.}"; }
has() { [ "$(count "$1" "${3:-.}")" -ge "$2" ]; }
queued() { count "$HUB_SPOOL/q/$1/new"; }
ctl() { bridgectl -c "$HUB_CONF" "$@"; }
# expire_now CUSTOMER: bridgectl expire, again while a bundle or expire
# run of the hub holds the queue (exit 75, "busy"; bounded)
expire_now() {
	_en=0
	while :; do
		ctl expire "$1" >"$WORK/expire.out" 2>>"$WORK/expire.err"
		_rc=$?
		[ $_rc -eq 75 ] && grep -q ': busy' "$WORK/expire.out" &&
		    [ $_en -lt 100 ] || return $_rc
		_en=$((_en + 1))
		sleep 0.1
	done
}
# sinkdone N: smtp-sink has dumped N DSNs whole (their closing
# MIME boundary written: a file is there before its last line is)
sinkdone() {
	[ "$(cat /dev/null "$WORK/sink"/* 2>/dev/null |
	    grep -c '^--mb-dsn\..*--')" -ge "$1" ]
}
# sinkfile PATTERN...: the whole dumped DSN whose text matches every
# pattern
sinkfile() {
	for _f in "$WORK/sink"/*; do
		grep -q '^--mb-dsn\..*--' "$_f" 2>/dev/null || continue
		_ok=1
		for _p in "$@"; do
			grep -q -- "$_p" "$_f" || { _ok=0; break; }
		done
		[ $_ok = 1 ] && { echo "$_f"; return 0; }
	done
	return 1
}
# age CUSTOMER SECONDS: every entry's arrival moved back (same length)
age() {
	python3 - "$HUB_SPOOL/q/$1/new" "$2" <<'EOF'
import os, re, sys
d, back = sys.argv[1], int(sys.argv[2])
for n in os.listdir(d):
    p = os.path.join(d, n)
    with open(p, 'r+b') as f:
        head = f.read(4096)
        m = re.search(rb'\narrival (\d+)\n', head)
        new = str(int(m.group(1)) - back).encode()
        assert len(new) == len(m.group(1))
        f.seek(m.start(1))
        f.write(new)
EOF
}

SINKPORT=$(free_port)
mkdir -p "$WORK/sink"
chmod 777 "$WORK/sink"
smtp-sink $SINKUSER -d "$WORK/sink/%M." 127.0.0.1:$SINKPORT 16 \
    >"$WORK/sink.log" 2>&1 &
at_exit "kill $!"
wait_port $SINKPORT || { fail "smtp-sink listens"; exit 1; }

HUB_ACME_OPTS='warn-after = "2s" expire-after = "1h"'
hub_init "relayhost = \"127.0.0.1:$SINKPORT\"
postmaster = \"postmaster@hub.test\"
customer \"boat\" { release = {\"ssh\"} bundle-delay = \"1h\" expire-after = \"1h\" }"
printf 'boat.example\tboat\n' >>"$HUB_ROUTES"
hub_start || { fail "bridged started"; exit 1; }

# ---- 1. intake records the DSN parameters ----
E='EHLO client.example\r\n'
D='DATA\r\n'
Q='QUIT\r\n'
is "$($CLIENT "$HUB_PORT" "$E" \
    'MAIL FROM:<s@example.org> RET=HDRS ENVID=env+2B1\r\n' \
    'RCPT TO:<a@acme.example> NOTIFY=DELAY,FAILURE ORCPT=rfc822;Alias+40acme.example\r\n' \
    "$D" 'Subject: A\r\n\r\nbody of A\r\n.\r\n' \
    'MAIL FROM:<n@example.org>\r\n' 'RCPT TO:<b@acme.example> NOTIFY=NEVER\r\n' \
    "$D" 'Subject: B\r\n\r\nbody of B\r\n.\r\n' \
    'MAIL FROM:<c@example.org>\r\n' 'RCPT TO:<c@acme.example>\r\n' \
    "$D" 'Subject: C\r\n\r\nbody of C\r\n.\r\n' "$Q")" \
    "220 250 250 250 354 250 250 250 354 250 250 250 354 250 221" \
    "three messages with and without DSN parameters accepted"
A=$(grep -l '^sender <s@example.org>$' "$HUB_SPOOL"/q/acme/new/* | head -1)
grep -q '^envid env+1$' "$A" && grep -q '^ret hdrs$' "$A" &&
    grep -A2 '^rcpt <a@acme.example>$' "$A" | grep -q '^notify FAILURE,DELAY$' &&
    grep -q '^orcpt rfc822;Alias@acme.example$' "$A"
ok $? "entry records envid, ret, notify, orcpt (xtext decoded)"

# ---- 2. one delayed DSN each, through the relayhost ----
wait_for 20 sinkdone 2
ok $? "delayed DSNs reach smtp-sink through the relayhost"
f=$(sinkfile 'Action: delayed' 'Original-Envelope-Id: env+1')
ok $? "the delayed DSN about A"
grep -q '^X-Rcpt-Args: <s@example.org>' "$f" &&
    grep -q '^Original-Recipient: rfc822;Alias@acme.example' "$f" &&
    grep -q '^Final-Recipient: rfc822; a@acme.example' "$f" &&
    grep -q '^Will-Retry-Until: ' "$f" && grep -q '^Status: 4.4.1' "$f"
ok $? "... to the sender, with Original-Recipient, Will-Retry-Until, 4.4.1"
sinkfile 'Action: delayed' 'Final-Recipient: rfc822; c@acme.example' >/dev/null
ok $? "the delayed DSN about C (no NOTIFY: delays are reported)"
sinkfile 'b@acme.example' >/dev/null
is $? 1 "none about B (NOTIFY=NEVER)"
grep -q '^warned [0-9]*$' "$A"
ok $? "A's entry records that it was warned about"
sleep 3
is "$(count "$WORK/sink")" 2 "later sweeps send no second delayed DSN"
is "$(grep -c 'delayed DSN .* queued' "$HUB_LOG")" 2 "... two in the log"

# ---- 3. expiry ----
age acme 7200
wait_for 20 sinkdone 3
ok $? "a failed DSN after expire-after"
f=$(sinkfile 'Action: failed' 'a@acme.example')
grep -q '^Status: 4.4.7' "$f" && grep -q 'delivery time expired' "$f" &&
    grep -q '^Original-Envelope-Id: env+1' "$f" &&
    grep -q '^Content-Type: text/rfc822-headers' "$f" &&
    ! grep -q 'body of A' "$f"
ok $? "... 4.4.7, delivery time expired, ENVID, headers only (RET=HDRS)"
wait_for 10 sh -c "[ \"\$(ls '$HUB_SPOOL/q/acme/new' | wc -l)\" = 0 ]"
ok $? "the expired entries are removed"
grep -q 'no failed DSN: NOTIFY does not ask for one' "$HUB_LOG"
ok $? "B expired without a DSN (NOTIFY=NEVER), logged"
sleep 1
is "$(count "$WORK/sink")" 4 "C's failed DSN too, and nothing else"

# ---- 4. bundles in an outbox: bridgectl expire ----
is "$($CLIENT "$HUB_PORT" "$E" \
    'MAIL FROM:<d@example.org>\r\n' 'RCPT TO:<x@boat.example>\r\n' \
    'RCPT TO:<y@boat.example>\r\n' "$D" 'Subject: D\r\n\r\nbody of D\r\n.\r\n' \
    'MAIL FROM:<>\r\n' 'RCPT TO:<z@boat.example>\r\n' "$D" \
    'Subject: E\r\n\r\nbody of E\r\n.\r\n' "$Q")" \
    "220 250 250 250 250 354 250 250 250 354 250 221" "two messages for boat"
ctl bundle boat >/dev/null
OUT=$HUB_SPOOL/outbox/boat
wait_for 20 has "$OUT" 1 'bsmtp'
ok $? "bundled into boat's outbox"
expire_now boat
is "$?" 0 "bridgectl expire boat: a young bundle stays (exit 0)"
is "$(count "$OUT" bsmtp)" 1 "... still there"
python3 - "$OUT" <<'EOF'
import os, sys
d = sys.argv[1]
for n in os.listdir(d):
    t = int(n[:13], 16) - 7200 * 1000000
    os.rename(os.path.join(d, n), os.path.join(d, '%013x%s' % (t, n[13:])))
    bad = '%013x%s' % (t - 1, n[13:].replace('.0000', '.0001', 1))
    with open(os.path.join(d, bad), 'wb') as f:
        f.write(b'\x1f\x8b\x08\x00damaged')
EOF
expire_now boat
is "$?" 0 "bridgectl expire boat: exit 0"
grep -q '1 bundles expired, 1 damaged bundles moved aside, 1 DSNs queued' \
    "$WORK/expire.out"
ok $? "... one bundle expired, one damaged moved aside, one DSN"
is "$(count "$OUT")" 0 "the outbox is empty"
is "$(count "$HUB_SPOOL/bundle-tmp/boat/corrupt")" 1 "the damaged bundle kept in bundle-tmp/boat/corrupt"
wait_for 90 sinkdone 5
ok $? "the bundle's DSN leaves through the relayhost"
f=$(sinkfile 'x@boat.example')
grep -q '^X-Rcpt-Args: <d@example.org>' "$f" &&
    grep -q 'Final-Recipient: rfc822; y@boat.example' "$f" &&
    grep -q '^Status: 4.4.7' "$f" && ! grep -q 'X-Envelope-To' "$f"
ok $? "... one DSN to d@ for x@ and y@ (the copies), no X-Envelope-To"

# ---- 5. a flush's 5xx bounce honours NOTIFY and keeps 4xx parameters ----
FT=$TOP/regress/flushtool
SP=$(free_port)
mkdir -p "$WORK/srv"
python3 "$TOP/regress/smtpsrv.py" $SP "$WORK/srv" --idle 60 &
at_exit "kill $!"
wait_port $SP || fail "scripted server listens"
is "$($CLIENT "$HUB_PORT" "$E" \
    'MAIL FROM:<f@example.org> ENVID=flush+2Denv RET=FULL\r\n' \
    'RCPT TO:<perm1@ship.example> NOTIFY=NEVER\r\n' \
    'RCPT TO:<perm2@ship.example> NOTIFY=FAILURE ORCPT=rfc822;P2+40ship.example\r\n' \
    'RCPT TO:<perm5@ship.example> NOTIFY=SUCCESS\r\n' \
    'RCPT TO:<temp3@ship.example> NOTIFY=DELAY ORCPT=rfc822;T3+40ship.example\r\n' \
    "$D" 'Subject: F\r\n\r\nbody of F\r\n.\r\n' "$Q")" \
    "220 250 250 250 250 250 250 354 250 221" "a message for four ship recipients"
"$FT" flush -c "$HUB_CONF" ship 127.0.0.1:$SP >"$WORK/ft.out" 2>"$WORK/ft.log"
is "$(cat "$WORK/ft.out")" \
    "entries=1 done=0 sent=0 deferred=1 bounced=3 dsns=1 busy=0" \
    "flush: three 5xx, one 4xx, one DSN"
F=$(ls "$HUB_SPOOL"/q/ship/new/*)
[ "$(grep -c '^rcpt ' "$F")" = 1 ] &&
    grep -A2 '^rcpt <temp3@ship.example>$' "$F" | grep -q '^notify DELAY$' &&
    grep -A2 '^rcpt <temp3@ship.example>$' "$F" |
    grep -q '^orcpt rfc822;T3@ship.example$' && grep -q '^envid flush-env$' "$F"
ok $? "the rewritten entry keeps temp3's NOTIFY and ORCPT, and the ENVID"
grep -q 'no DSN' "$WORK/ft.log"
is $? 1 "... (no 'no DSN' line: perm2 wants one)"
wait_for 90 sinkfile 'perm2@ship.example' >/dev/null
ok $? "the bounce DSN leaves through the relayhost"
f=$(sinkfile 'perm2@ship.example')
grep -q '^Original-Recipient: rfc822;P2@ship.example' "$f" &&
    grep -q '^Original-Envelope-Id: flush-env' "$f" &&
    grep -q '^Content-Type: message/rfc822' "$f" && grep -q 'body of F' "$f" &&
    ! grep -q 'perm1@ship' "$f" && ! grep -q 'perm5@ship' "$f" &&
    ! grep -q 'Final-Recipient: rfc822; temp3' "$f"
ok $? "... for perm2 only (NEVER, SUCCESS: none), ORCPT, ENVID, RET=FULL"

ctl expire nosuch 2>/dev/null
is "$?" 67 "bridgectl expire nosuch: exit 67"
hub_stop
