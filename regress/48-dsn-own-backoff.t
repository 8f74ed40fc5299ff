#!/bin/sh
# 48-dsn-own-backoff.t - each delivery report waits on its own
# schedule.  The relayhost (smtpsrv.py) answers 451 to the DSN for
# stemp@ and takes the others.  acme's warn-after is 1 s, so the
# lifetime sweep runs every second and queues each delayed DSN at once.
# The DSN for stemp@ is refused: attempt 1, its entry records attempts
# and its own next-attempt (300 s on); a DSN for fresh@ queued after it
# is delivered at once, not held by the other's backoff, and the
# refused one is not tried again with it; over 8 s of sweeps every
# second no more runs; bridged restarted: the refused DSN's time has
# not come, so no run at start (a start used to try the queue at once).
# Then its next-attempt is moved into the past and bridged restarted:
# attempt 2 is made, refused again, and it waits 600 s (doubled).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hubrun.sh"
hub_require
require bridgectl python3

CLIENT="python3 $TOP/regress/smtpclient.py"
runs() { grep -c '_dsn: dsn started' "$HUB_LOG"; }
logged() { grep -q "$1" "$HUB_LOG"; }
count() { ls "$1" 2>/dev/null | grep -c "${2:-.}"; }
# field NAME: the value of NAME in the envelope of stemp@'s DSN
field() {
	for _f in "$HUB_SPOOL"/q/_dsn/new/*; do
		grep -q '^rcpt <stemp@example.org>$' "$_f" &&
		    sed -n "/^\$/q; s/^$1 //p" "$_f"
	done
}
# send SENDER: one message from SENDER for acme
send() {
	$CLIENT "$HUB_PORT" 'EHLO client.example\r\n' \
	    "MAIL FROM:<$1>\\r\\n" 'RCPT TO:<a@acme.example>\r\n' 'DATA\r\n' \
	    "Subject: from $1\\r\\n\\r\\nbody\\r\\n.\\r\\n" 'QUIT\r\n' |
	    grep -q ' 354 250 221$'
}

RP=$(free_port)
mkdir -p "$WORK/srv"
python3 "$TOP/regress/smtpsrv.py" $RP "$WORK/srv" --idle 120 &
SRVPID=$!
at_exit "kill $SRVPID"
wait_port $RP || { fail "the relayhost listens"; exit 1; }
HUB_ACME_OPTS='warn-after = "1s" expire-after = "1h"'
hub_init "relayhost = \"127.0.0.1:$RP\"
postmaster = \"postmaster@hub.test\""
hub_start || { fail "bridged started"; exit 1; }

send stemp@example.org
ok $? "a message from stemp@ for acme"
wait_for 30 logged ': attempt 1 left it queued; next attempt in 300 s'
ok $? "its delayed DSN: refused (451), attempt 1, next attempt in 300 s"
is "$(field attempts)" 1 "... its entry records attempts 1"
LAST=$(field last-attempt)
is "$(field next-attempt)" "$((LAST + 300))" \
    "... and its own next-attempt, last-attempt + 300 s"
is "$(runs)" 1 "one DSN run so far"

send fresh@example.org
ok $? "a message from fresh@ for acme"
wait_for 30 sh -c "grep -l '^Subject: from fresh@example.org' \
    '$WORK/srv'/*.msg >/dev/null 2>&1"
ok $? "fresh@'s delayed DSN delivered at once, not held by the other's backoff"
is "$(runs)" 2 "... by a second run"
grep -qx 'fresh@example.org' "$WORK/srv"/*.rcpt 2>/dev/null
ok $? "... addressed to fresh@"
is "$(grep -c 'attempt .* left it queued' "$HUB_LOG")" 1 \
    "the refused DSN was not tried again with it"
is "$(field attempts)" 1 "... its attempts still 1"
sleep 8
is "$(runs)" 2 "no more runs in 8 s of sweeps every second"
is "$(count "$HUB_SPOOL/q/_dsn/new")" 1 "_dsn: the refused DSN alone"

hub_stop
hub_start || { fail "bridged restarted"; exit 1; }
sleep 3
is "$(runs)" 2 "restarted: no run, the refused DSN's time has not come"

hub_stop
F=$(grep -l '^rcpt <stemp@example.org>$' "$HUB_SPOOL"/q/_dsn/new/*)
sed -i "s/^next-attempt $((LAST + 300))\$/next-attempt $((LAST - 300))/" "$F"
hub_start || { fail "bridged restarted"; exit 1; }
wait_for 30 logged ': attempt 2 left it queued; next attempt in 600 s'
ok $? "its time come: attempt 2, refused, next attempt in 600 s (doubled)"
is "$(runs)" 3 "... one run"
is "$(field attempts)" 2 "... its entry records attempts 2"
hub_stop
