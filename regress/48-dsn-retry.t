#!/bin/sh
# 48-dsn-retry.t - delivery reports on their own schedule, and never
# dropped unseen.  Two messages wait for acme (warn-after 1s, so the
# lifetime sweep runs every second and each delayed DSN is queued at
# once); the relayhost is down: each DSN has its attempt 1 and waits
# 300 s, which the sweeps ending every second do not cut short (the
# retry storm of issue 17 was 62 runs in 65 s).  Then the relayhost
# refuses (a server that answers 451 to one DSN and 550 to the other):
# the 451 stays queued for 600 s, the 550 becomes a copy for the
# postmaster with the DSN attached, which, being new, goes out at once
# (that server takes it); and no more runs in the interval.  Then
# smtp-sink takes mail: the deferred DSN arrives.  Both are read with
# Python's email package and checked against RFC 3464 (dsncheck.py).
# Between the phases bridged is stopped, the DSNs' next-attempt moved
# into the past (their time has come), and bridged started.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hubrun.sh"
hub_require
require smtp-sink bridgectl python3

CHECK="python3 $TOP/regress/dsncheck.py"
CLIENT="python3 $TOP/regress/smtpclient.py"
SINKUSER=
[ "$(id -u)" = 0 ] && SINKUSER="-u nobody"
count() { ls "$1" 2>/dev/null | grep -c "${2:-.}"; }
has() { [ "$(count "$1" "${3:-.}")" -ge "$2" ]; }
runs() { grep -c '_dsn: dsn started' "$HUB_LOG"; }
logged() { grep -q "$1" "$HUB_LOG"; }
# due_now: every DSN's next-attempt 1000 s earlier (its time has come)
due_now() {
	python3 - "$HUB_SPOOL/q/_dsn/new" <<'EOF'
import os, re, sys
for n in os.listdir(sys.argv[1]):
    with open(os.path.join(sys.argv[1], n), "r+b") as f:
        head = f.read(4096)
        m = re.search(rb"\nnext-attempt (\d+)\n", head)
        if m:
            f.seek(m.start(1))
            f.write(str(int(m.group(1)) - 1000).encode())
EOF
}

RP=$(free_port)
HUB_ACME_OPTS='warn-after = "1s" expire-after = "1h"'
hub_init "relayhost = \"127.0.0.1:$RP\"
postmaster = \"postmaster@hub.test\""
hub_start || { fail "bridged started"; exit 1; }

E='EHLO client.example\r\n'
D='DATA\r\n'
is "$($CLIENT "$HUB_PORT" "$E" \
    'MAIL FROM:<stemp@example.org>\r\n' 'RCPT TO:<a@acme.example>\r\n' \
    "$D" 'Subject: one\r\n\r\nbody one\r\n.\r\n' \
    'MAIL FROM:<sperm@example.org>\r\n' 'RCPT TO:<b@acme.example>\r\n' \
    "$D" 'Subject: two\r\n\r\nbody two\r\n.\r\n' 'QUIT\r\n')" \
    "220 250 250 250 354 250 250 250 354 250 221" "two messages for acme"

# ---- the relayhost is down ----
wait_for 30 sh -c "[ \$(ls '$HUB_SPOOL/q/_dsn/new' 2>/dev/null | wc -l) = 2 ] &&
    [ \$(grep -c 'attempt 1 left it queued; next attempt in 300 s' '$HUB_LOG') = 2 ]"
ok $? "two delayed DSNs queued, each: attempt 1, next attempt in 300 s"
R=$(runs)
sleep 12
is "$(runs)" "$R" "relayhost down: no more DSN runs in 12 s of sweeps every second"
is "$(grep -c 'left it queued' "$HUB_LOG")" 2 "... each attempt logged once"

# ---- the relayhost refuses ----
mkdir -p "$WORK/srv"
python3 "$TOP/regress/smtpsrv.py" $RP "$WORK/srv" --idle 60 &
SRVPID=$!
at_exit "kill $SRVPID"
wait_port $RP || fail "the refusing relayhost listens"
hub_stop
due_now
: >"$HUB_LOG"
hub_start || { fail "bridged restarted"; exit 1; }
wait_for 30 logged 'refused: copy .* queued for the postmaster <postmaster@hub.test>'
ok $? "the 550 DSN: a copy for the postmaster"
wait_for 10 logged 'attempt 2 left it queued; next attempt in 600 s'
ok $? "the 451 one stays: attempt 2, next attempt in 600 s"
wait_for 30 sh -c "grep -lx 'postmaster@hub.test' '$WORK/srv'/*.rcpt >/dev/null 2>&1"
ok $? "the postmaster's copy, new, goes out at once"
wait_for 10 sh -c "[ \$(ls '$HUB_SPOOL/q/_dsn/new' | wc -l) = 1 ]"
ok $? "_dsn: the deferred DSN alone"
grep -q '^reply 127.0.0.1 451 4.2.0 <stemp@example.org>: try again later$' \
    "$HUB_SPOOL"/q/_dsn/new/*
ok $? "the deferred DSN records the relayhost's 451"
grep -q "dropped" "$HUB_LOG"
is $? 1 "nothing dropped"
R=$(runs)
sleep 8
is "$(runs)" "$R" "relayhost refusing: no more DSN runs in 8 s"

# ---- the relayhost takes mail ----
kill $SRVPID
wait $SRVPID 2>/dev/null
mkdir -p "$WORK/sink"
chmod 777 "$WORK/sink"
smtp-sink $SINKUSER -d "$WORK/sink/%M." 127.0.0.1:$RP 16 >"$WORK/sink.log" 2>&1 &
at_exit "kill $!"
wait_port $RP || fail "smtp-sink listens"
hub_stop
due_now
hub_start || { fail "bridged restarted"; exit 1; }
wait_for 30 has "$WORK/sink" 1
ok $? "the deferred DSN delivered"
wait_for 10 sh -c "[ \$(ls '$HUB_SPOOL/q/_dsn/new' 2>/dev/null | wc -l) = 0 ]"
ok $? "_dsn empty"
for f in "$WORK/srv"/*.msg; do	# the postmaster's copy, beside the sink's
	for x in msg from rcpt; do
		cp "${f%.msg}.$x" "$WORK/sink/srv-$(basename "${f%.msg}").$x"
	done
done
cat >"$WORK/spec.json" <<EOF2
{"mta": "hub.test", "only": true, "none": [],
 "dsns": [
  {"to": "postmaster@hub.test", "kind": "failed", "envid": null,
   "full": true, "marker": "Action: delayed",
   "subject": "Mail delivery delayed (no action needed)",
   "rcpts": [{"final": "sperm@example.org", "status": "5.1.1",
              "orcpt": null, "remote": "127.0.0.1",
              "diag": "550 5.1.1 <sperm@example.org>"}]},
  {"to": "stemp@example.org", "kind": "delayed", "envid": null,
   "full": false, "subject": "one",
   "rcpts": [{"final": "a@acme.example", "status": "4.4.1",
              "orcpt": null, "remote": null, "diag": "not yet delivered"}]}
 ]}
EOF2
$CHECK "$WORK/sink" "$WORK/spec.json" >"$WORK/check.out" 2>&1
[ -s "$WORK/check.out" ] || echo "not ok dsncheck.py said nothing" >"$WORK/check.out"
while read -r _st _rest; do
	if [ "$_st" = ok ]; then pass "$_rest"; else fail "${_rest#ok }"; fi
done <"$WORK/check.out"
grep -q 'Subject: Undeliverable delivery report (postmaster copy)' "$WORK/sink"/*
ok $? "the postmaster's copy says what it is"
hub_stop
