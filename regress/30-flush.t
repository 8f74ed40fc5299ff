#!/bin/sh
# 30-flush.t - flush_customer() (etrn/flush.c) through regress/flushtool:
# corpus messages to Postfix's smtp-sink arrive byte for byte (CRLF/LF
# aside); a scripted server that refuses some recipients with 4xx and
# 5xx (over BDAT windows and over DATA) leaves the 4xx ones queued with
# attempts + 1, turns the 5xx ones into DSN entries in q/_dsn, and
# removes the rest; kill -9 in the middle of a slow flush loses nothing
# and re-sends at most the message in flight.
. "$(dirname "$0")/lib.sh"
require smtp-sink python3

FT=$TOP/regress/flushtool
[ -x "$FT" ] || { fail "regress/flushtool is built"; exit 1; }
CORPUS=$(corpus_dir) || { fail "corpus"; exit 1; }
SPOOL=$WORK/spool
SINKUSER=
[ "$(id -u)" = 0 ] && SINKUSER="-u nobody"

# The scripted server (regress/smtpsrv.py) and the checker
# (regress/samemsgs.py) are shared with 32-etrn-server.t and 33-odmr.t.
SRV="python3 $TOP/regress/smtpsrv.py"
SAME="python3 $TOP/regress/samemsgs.py"


count_entries() {	# count_entries CUSTOMER
	ls "$SPOOL/q/$1/new" 2>/dev/null | wc -l | tr -d ' '
}

# ---- 1. the corpus to smtp-sink, two connections ----
FILES=$(ls "$CORPUS"/easy-ham-1/*.eml | head -30; ls "$CORPUS"/spam-1/*.eml | head -10)
PORT=$(free_port)
mkdir -p "$WORK/sink"
chmod 777 "$WORK/sink"
smtp-sink $SINKUSER -d "$WORK/sink/%M." 127.0.0.1:$PORT 64 \
    >"$WORK/sink.log" 2>&1 &
SINKPID=$!
at_exit "kill $SINKPID"
wait_port $PORT || fail "smtp-sink listens"
# shellcheck disable=SC2086
"$FT" enqueue -f sender@example.org "$SPOOL" acme \
    a@acme.example,b@acme.example $FILES >"$WORK/ids" 2>"$WORK/enq.err"
is "$(wc -l <"$WORK/ids" | tr -d ' ')" 40 "40 corpus messages queued"
"$FT" flush -n 2 "$SPOOL" acme 127.0.0.1:$PORT >"$WORK/out1" \
    2>"$WORK/log1"
ok $? "flush to smtp-sink exits 0"
is "$(cat "$WORK/out1")" \
    "entries=40 done=40 sent=80 deferred=0 bounced=0 dsns=0 busy=0" \
    "every recipient sent"
is "$(count_entries acme)" 0 "queue empty"
# shellcheck disable=SC2086
$SAME sink "$WORK/sink" $FILES
ok $? "smtp-sink got each message byte for byte (CRLF/LF aside)"
is "$(grep -c 'status=sent (250 2.0.0 Ok)' "$WORK/log1")" 80 \
    "one Postfix-style log line per recipient"
grep -q ': to=<a@acme.example>, relay=127.0.0.1\[127.0.0.1\]:'"$PORT"', delay=[0-9]*, dsn=2.0.0, status=sent' \
    "$WORK/log1"
ok $? "log line format"
kill $SINKPID 2>/dev/null
# gone, not dying: a sink still exiting may accept the next connection
wait $SINKPID 2>/dev/null

# ---- 2. nothing listening: all stay, exit 75 ----
"$FT" enqueue -f s@example.org "$SPOOL" acme x@acme.example \
    "$CORPUS/easy-ham-1/00001.eml" >/dev/null
"$FT" flush -n 1 "$SPOOL" acme 127.0.0.1:$PORT >"$WORK/out2" 2>"$WORK/log2"
is $? 75 "no connection: exit 75"
is "$(count_entries acme)" 1 "entry kept"
grep -q "no connection: connect to 127.0.0.1\[127.0.0.1\]:$PORT" "$WORK/log2"
ok $? "no connection logged"
grep -q "^attempts 0$" "$SPOOL"/q/acme/new/*
ok $? "attempts unchanged when nothing answered"
rm -f "$SPOOL"/q/acme/new/*

# ---- 3. 4xx / 5xx mixes, over BDAT and over DATA ----
mixed() {	# mixed MODE
	mode=$1
	cust=mix$mode
	out=$WORK/srv-$mode
	mkdir -p "$out"
	p=$(free_port)
	opt=
	[ "$mode" = chunking ] && opt=--chunking
	$SRV $p "$out" $opt --idle 120 &
	spid=$!
	at_exit "kill $spid"
	wait_port $p || fail "scripted server listens"
	m1=$CORPUS/easy-ham-1/00002.eml
	m2=$CORPUS/easy-ham-1/00003.eml
	printf 'From: robot@example.org\nAuto-Submitted: auto-generated\nSubject: cron\n\nout\n' >"$WORK/auto.eml"
	e1=$("$FT" enqueue -f alice@example.org "$SPOOL" $cust \
	    ok1@acme.example,temp1@acme.example,perm1@acme.example "$m1")
	e2=$("$FT" enqueue -f alice@example.org "$SPOOL" $cust \
	    ok2@acme.example,ok3@acme.example "$m2")
	e3=$("$FT" enqueue -f "" "$SPOOL" $cust perm3@acme.example "$m2")
	e4=$("$FT" enqueue -f robot@example.org "$SPOOL" $cust \
	    perm4@acme.example "$WORK/auto.eml")
	e5=$("$FT" enqueue -f alice@example.org "$SPOOL" $cust \
	    temp5@acme.example,temp6@acme.example "$m1")
	before=$(count_entries _dsn)
	"$FT" flush -n 1 -P postmaster@hub.test "$SPOOL" $cust 127.0.0.1:$p \
	    >"$WORK/out-$mode" 2>"$WORK/log-$mode"
	is $? 75 "$mode: some deferred: exit 75"
	is "$(cat "$WORK/out-$mode")" \
	    "entries=5 done=3 sent=3 deferred=3 bounced=3 dsns=2 busy=0" \
	    "$mode: counts"
	q=$SPOOL/q/$cust/new
	[ -f "$q/$e1" ] && ! grep -q '^rcpt <ok1@' "$q/$e1" &&
	    ! grep -q '^rcpt <perm1@' "$q/$e1" &&
	    grep -q '^rcpt <temp1@acme.example>$' "$q/$e1" &&
	    grep -q '^attempts 1$' "$q/$e1" && grep -q '^last-attempt ' "$q/$e1"
	ok $? "$mode: mixed entry keeps only the 4xx recipient, attempts 1"
	[ ! -f "$q/$e2" ] && [ ! -f "$q/$e3" ] && [ ! -f "$q/$e4" ]
	ok $? "$mode: finished entries removed"
	[ -f "$q/$e5" ] && grep -q '^attempts 1$' "$q/$e5" &&
	    [ "$(grep -c '^rcpt ' "$q/$e5")" = 2 ]
	ok $? "$mode: all-4xx entry kept whole, attempts 1"
	is "$(count_entries _dsn)" $((before + 2)) \
	    "$mode: two DSNs (none for the null sender)"
	grep -q "$e3: no DSN: null sender" "$WORK/log-$mode"
	ok $? "$mode: null sender only logged"
	d1=$(grep -l "^X-Mailbridge-Queue-ID: $e1" "$SPOOL"/q/_dsn/new/*)
	[ -n "$d1" ] && grep -q '^sender <>$' "$d1" &&
	    grep -q '^rcpt <alice@example.org>$' "$d1" &&
	    grep -q '^customer _dsn$' "$d1"
	ok $? "$mode: DSN from <> to the sender"
	tr -d '\r' <"$d1" >"$WORK/dsn-$mode"
	grep -q '^Content-Type: multipart/report; report-type=delivery-status;' "$WORK/dsn-$mode" &&
	    grep -q '^Final-Recipient: rfc822; perm1@acme.example$' "$WORK/dsn-$mode" &&
	    grep -q '^Action: failed$' "$WORK/dsn-$mode" &&
	    grep -q '^Status: 5.1.1$' "$WORK/dsn-$mode" &&
	    grep -q '^Remote-MTA: dns; 127.0.0.1$' "$WORK/dsn-$mode" &&
	    grep -q '^Diagnostic-Code: smtp; 550 5.1.1 <perm1@acme.example>: no such' "$WORK/dsn-$mode" &&
	    grep -q '^Content-Type: text/rfc822-headers$' "$WORK/dsn-$mode" &&
	    grep -q '^Auto-Submitted: auto-replied$' "$WORK/dsn-$mode" &&
	    ! grep -q 'temp1@' "$WORK/dsn-$mode" &&
	    ! grep -q 'ok1@' "$WORK/dsn-$mode"
	ok $? "$mode: DSN structure: report, only the 5xx recipient"
	d4=$(grep -l "^X-Mailbridge-Queue-ID: $e4" "$SPOOL"/q/_dsn/new/*)
	[ -n "$d4" ] && grep -q '^rcpt <postmaster@hub.test>$' "$d4"
	ok $? "$mode: DSN about automatic mail goes to the postmaster"
	is "$(cat "$out"/*.rcpt | sort | tr '\n' ' ')" \
	    "ok1@acme.example ok2@acme.example ok3@acme.example " \
	    "$mode: the server got exactly the accepted recipients"
	$SAME msg "$out" "$m1" "$m2" >/dev/null
	ok $? "$mode: message octets intact"
	grep -q "status=deferred (451 4.2.0 <temp1@acme.example>" \
	    "$WORK/log-$mode" &&
	    grep -q "to=<perm1@acme.example>, .*dsn=5.1.1, status=bounced" \
	    "$WORK/log-$mode"
	ok $? "$mode: deferred and bounced logged"
	kill $spid 2>/dev/null
}
mixed chunking
mixed data

# ---- 4. kill -9 in the middle: nothing lost, at most one duplicate ----
KOUT=$WORK/srv-kill
mkdir -p "$KOUT"
KP=$(free_port)
$SRV $KP "$KOUT" --delay 0.3 --idle 120 &
KPID=$!
at_exit "kill $KPID"
wait_port $KP || fail "slow server listens"
KFILES=$(ls "$CORPUS"/hard-ham-1/*.eml | head -12)
# shellcheck disable=SC2086
"$FT" enqueue -f s@example.org "$SPOOL" slow k@acme.example $KFILES \
    >/dev/null
"$FT" flush -n 1 "$SPOOL" slow 127.0.0.1:$KP >/dev/null 2>&1 &
FPID=$!
wait_file "$KOUT/4.msg" 20
kill -9 $FPID
wait $FPID 2>/dev/null
got=$(ls "$KOUT" | grep -c '\.msg$')
left=$(count_entries slow)
[ $((got + left)) -ge 12 ]
ok $? "after kill -9: delivered ($got) + queued ($left) covers all 12"
"$FT" flush -n 1 "$SPOOL" slow 127.0.0.1:$KP >/dev/null 2>&1
ok $? "second flush finishes"
is "$(count_entries slow)" 0 "queue empty"
total=$(ls "$KOUT" | grep -c '\.msg$')
[ "$total" -ge 12 ] && [ "$total" -le 13 ]
ok $? "12 messages delivered, at most one twice ($total)"
# shellcheck disable=SC2086
$SAME msgset "$KOUT" $KFILES >/dev/null
ok $? "the same messages arrived"

# ---- 6. from a bridge.conf: deliver-to list in order, "peer" ----
CP=$(free_port)
mkdir -p "$WORK/srv-cfg"
$SRV $CP "$WORK/srv-cfg" --idle 120 &
CPID=$!
at_exit "kill $CPID"
wait_port $CP || fail "scripted server for the config part listens"
DEAD=$(free_port)
printf 'cfg.example cfg\npeer.example peerc\n' >"$WORK/routes"
cat >"$WORK/bridge.conf" <<EOF
hostname   = "hub.cfg.test"
spool      = "$SPOOL"
routes     = "routes"
postmaster = "postmaster@cfg.test"
customer "cfg" {
	release    = {"etrn"}
	deliver-to = {"127.0.0.1:$DEAD", "127.0.0.1:$CP"}
	flush-connections = 3
}
customer "peerc" {
	release    = {"etrn"}
	deliver-to = {"peer"}
}
EOF
# shellcheck disable=SC2086
"$FT" enqueue -f s@example.org "$SPOOL" cfg u@cfg.example,perm@cfg.example \
    $(ls "$CORPUS"/easy-ham-1/*.eml | sed -n '201,206p') >/dev/null
"$FT" flush -c "$WORK/bridge.conf" cfg >"$WORK/out-cfg" 2>"$WORK/log-cfg"
ok $? "config: flush exits 0"
is "$(cat "$WORK/out-cfg")" \
    "entries=6 done=6 sent=6 deferred=0 bounced=6 dsns=6 busy=0" \
    "config: counts (three connections, second host)"
is "$(grep -c "flush: connect to 127.0.0.1\[127.0.0.1\]:$DEAD" "$WORK/log-cfg")" \
    3 "config: the dead first host was tried by each connection"
grep -q "relay=127.0.0.1\[127.0.0.1\]:$CP" "$WORK/log-cfg"
ok $? "config: delivered through the second host"
grep -l 'Reporting-MTA: dns; hub.cfg.test' "$SPOOL"/q/_dsn/new/* >/dev/null
ok $? "config: DSN names the configured hostname"
"$FT" enqueue -f s@example.org "$SPOOL" peerc p@peer.example \
    "$CORPUS/easy-ham-1/00007.eml" >/dev/null
"$FT" flush -c "$WORK/bridge.conf" peerc >/dev/null 2>&1
is $? 78 "config: deliver-to peer without a peer is a config error"
"$FT" flush -c "$WORK/bridge.conf" -p 127.0.0.1:$CP peerc >"$WORK/out-peer" \
    2>&1
ok $? "config: deliver-to peer with -p"
is "$(count_entries peerc)" 0 "config: peer queue empty"
kill $CPID 2>/dev/null

# ---- 5. a real Postfix smtpd (PIPELINING + CHUNKING: BDAT windows) ----
if [ ! -f "$TOP/regress/postfix.sh" ]; then
	diag "regress/postfix.sh not present: no Postfix part"
	exit 0
fi
. "$TOP/regress/postfix.sh"
pf_require
pf_init flush
pf_set "relay_domains = acme.example" \
    "smtpd_recipient_restrictions = check_recipient_access inline:{{perm@acme.example=REJECT no such user}, {temp@acme.example=DEFER_IF_PERMIT try later}}, permit_mynetworks, reject"
pf_start || { fail "private Postfix started"; exit 1; }
PFILES=$(ls "$CORPUS"/easy-ham-1/*.eml | sed -n '101,120p')
# shellcheck disable=SC2086
"$FT" enqueue -f s@example.org "$SPOOL" pf a@acme.example,b@acme.example \
    $PFILES >/dev/null
# shellcheck disable=SC2086
"$FT" enqueue -f s@example.org "$SPOOL" pf perm@acme.example \
    $(ls "$CORPUS"/spam-1/*.eml | sed -n '101,105p') >/dev/null
# shellcheck disable=SC2086
"$FT" enqueue -f s@example.org "$SPOOL" pf temp@acme.example,c@acme.example \
    $(ls "$CORPUS"/spam-1/*.eml | sed -n '106,110p') >/dev/null
"$FT" flush -v -n 1 "$SPOOL" pf 127.0.0.1:$PF_PORT >"$WORK/out-pf" \
    2>"$WORK/log-pf"
is $? 75 "Postfix: some deferred: exit 75"
grep -q "connected to .*PIPELINING CHUNKING" "$WORK/log-pf"
ok $? "Postfix offers PIPELINING and CHUNKING"
is "$(cat "$WORK/out-pf")" \
    "entries=30 done=25 sent=45 deferred=5 bounced=5 dsns=5 busy=0" \
    "Postfix: counts"
is "$(count_entries pf)" 5 "Postfix: the five 4xx entries stay"
grep -q "to=<perm@acme.example>, .*dsn=5.7.1, status=bounced (554 5.7.1 <perm@acme.example>: Recipient address rejected: no such user)" \
    "$WORK/log-pf"
ok $? "Postfix: 5xx logged with Postfix's reply"
i=0
while [ "$(pf_log_count 'to=<[abc]@acme.example>.*status=sent')" -lt 45 ] &&
    [ $i -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
is "$(pf_log_count 'to=<[abc]@acme.example>.*status=sent')" 45 \
    "Postfix took exactly the accepted recipients"
