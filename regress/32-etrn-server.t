#!/bin/sh
# 32-etrn-server.t - ETRN (RFC 1985) in bridged against real peers:
# fetchmail --protocol ETRN releases a queue of corpus messages that
# bridged's flush job delivers into Postfix's smtp-sink byte for byte;
# etrn(1) sees 253, then 251 once the queue is empty; refusals (client
# outside etrn-from, @com, #../x, bare ETRN, ETRN inside a transaction,
# an unknown queue); a customer server answering 4xx for some
# recipients and 5xx for others (the 4xx stay queued, the 5xx get a
# DSN that reaches the relayhost, the rest are gone); kill -9 of the
# flush worker in the middle (nothing lost, at most one duplicate);
# two ETRNs in a row start one flush, and a flush asked for while one
# runs joins it and runs once more afterwards.
# ETRN_N limits the corpus part (default 300 messages).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hubrun.sh"
hub_require
require smtp-sink fetchmail etrn bridgectl

FT=$TOP/regress/flushtool
[ -x "$FT" ] || { fail "regress/flushtool is built"; exit 1; }
CORPUS=$(corpus_dir) || { fail "corpus"; exit 1; }
PROBE="python3 $TOP/regress/smtpprobe.py"
SAME="python3 $TOP/regress/samemsgs.py"
SINKUSER=
[ "$(id -u)" = 0 ] && SINKUSER="-u nobody"

count() { ls "$1" 2>/dev/null | grep -c "${2:-.}"; }
has() { [ "$(count "$1" "${3:-.}")" -ge "$2" ]; }
queued() { count "$HUB_SPOOL/q/$1/new"; }
empty() { [ "$(queued "$1")" = 0 ]; }
idle() { bridgectl -c "$HUB_CONF" status 2>/dev/null | grep -q 'jobs=0$'; }
logcount() { grep -c -- "$1" "$HUB_LOG"; }

# ---- the peers: smtp-sink for acme, smtp-sink as relayhost ----
SINKPORT=$(free_port)
RELAYPORT=$(free_port)
MIXPORT=$(free_port)
SLOWPORT=$(free_port)
mkdir -p "$WORK/sink" "$WORK/relay" "$WORK/mix" "$WORK/slow"
chmod 777 "$WORK/sink" "$WORK/relay"
smtp-sink $SINKUSER -c -d "$WORK/sink/%M." 127.0.0.1:$SINKPORT 100 \
    >"$WORK/sink.log" 2>&1 &
at_exit "kill $!"
smtp-sink $SINKUSER -d "$WORK/relay/%M." 127.0.0.1:$RELAYPORT 16 \
    >"$WORK/relay.log" 2>&1 &
at_exit "kill $!"
python3 "$TOP/regress/smtpsrv.py" $MIXPORT "$WORK/mix" --idle 120 &
at_exit "kill $!"
python3 "$TOP/regress/smtpsrv.py" $SLOWPORT "$WORK/slow" --delay 0.3 \
    --idle 120 &
at_exit "kill $!"
for p in $SINKPORT $RELAYPORT $MIXPORT $SLOWPORT; do
	wait_port $p || { fail "peer on port $p listens"; exit 1; }
done

HUB_ACME_OPTS="deliver-to = {\"127.0.0.1:$SINKPORT\"} etrn-from = {\"127.0.0.1/32\", \"127.0.0.3/32\"} flush-connections = 2"
hub_init "relayhost = \"127.0.0.1:$RELAYPORT\"
postmaster = \"postmaster@hub.test\"
customer \"mix\" { release = {\"etrn\"} deliver-to = {\"127.0.0.1:$MIXPORT\"} etrn-from = {\"127.0.0.1\"} }
customer \"slow\" { release = {\"etrn\"} deliver-to = {\"127.0.0.1:$SLOWPORT\"} etrn-from = {\"127.0.0.1\"} flush-connections = 1 }
customer \"leaf\" { release = {\"uucp\"} uucp-node = \"leaf\" }"
printf 'mix.example\tmix\nslow.example\tslow\nleaf.example\tleaf\n' \
    >>"$HUB_ROUTES"
hub_start || { fail "bridged started"; exit 1; }
pass "bridged started with ETRN customers and a relayhost"
[ -S "$HUB_SPOOL/control" ] &&
    [ "$(stat -c %a "$HUB_SPOOL/control")" = 600 ]
ok $? "control socket <spool>/control, mode 0600"

# ---- 1. fetchmail --protocol ETRN releases the corpus ----
N=${ETRN_N:-300}
find "$CORPUS/easy-ham-1" "$CORPUS/spam-1" -type f -name '*.eml' | sort |
    head -n "$N" >"$WORK/files"
N=$(wc -l <"$WORK/files" | tr -d ' ')
xargs "$FT" enqueue -f sender@example.org "$HUB_SPOOL" acme \
    a@acme.example <"$WORK/files" >/dev/null
is "$(queued acme)" "$N" "$N corpus messages queued for acme"
cat >"$WORK/fetchmailrc" <<EOF
set no syslog
poll 127.0.0.1 protocol etrn service $HUB_PORT fetchdomains acme.example
EOF
chmod 600 "$WORK/fetchmailrc"
timeout 60 fetchmail -v --nosyslog --pidfile "$WORK/fetchmail.pid" \
    -f "$WORK/fetchmailrc" >"$WORK/fetchmail.out" 2>&1
fmrc=$?
grep -q "253 2.0.0 OK, $N pending messages for node acme.example started" \
    "$WORK/fetchmail.out"
ok $? "fetchmail's ETRN acme.example: 253, $N pending (exit $fmrc)"
wait_for 120 empty acme
ok $? "acme's queue emptied by the flush job"
wait_for 30 has "$WORK/sink" "$N"
is "$(count "$WORK/sink")" "$N" "smtp-sink got $N messages"
xargs $SAME sink "$WORK/sink" <"$WORK/files"
ok $? "every corpus message arrived byte for byte (CRLF/LF aside)"
grep -q "acme: flush started, pid" "$HUB_LOG" &&
    grep -q "etrn: acme from localhost\[127.0.0.1\]: node acme.example" \
    "$HUB_LOG"
ok $? "the ETRN and the flush job are logged"
is "$(grep -c "relay=127.0.0.1\[127.0.0.1\]:$SINKPORT, .*status=sent" \
    "$HUB_LOG")" "$N" "one sent line per message, through the sink"

# ---- 2. etrn(1): 253 while mail waits, 251 when it is gone ----
wait_for 20 idle
"$FT" enqueue "$HUB_SPOOL" acme b@acme.example \
    "$CORPUS/easy-ham-1/00001.eml" "$CORPUS/easy-ham-1/00002.eml" \
    >/dev/null
out=$(etrn -H leaf.test 127.0.0.1:$HUB_PORT '#acme' 2>&1)
case "$out" in
*": ETRN #acme: 253 2.0.0 OK, 2 pending messages for node #acme started")
	pass "etrn: 253 with the count" ;;
*) fail "etrn: 253 with the count"; diag "$out" ;;
esac
out=$(etrn -w 60 127.0.0.1:$HUB_PORT @acme.example 2>&1)
ok $? "etrn -w: exit 0 once drained"
is "$(echo "$out" | tail -1 | sed 's/.*: //')" \
    "251 2.0.0 OK, no messages waiting for node @acme.example" \
    "etrn -w: the last answer is 251"
is "$(queued acme)" 0 "queue empty after etrn"

# ---- 3. refusals ----
out=$($PROBE -b 127.0.0.2 $HUB_PORT "EHLO leaf.test" "ETRN acme.example" \
    QUIT | sed -n 3p)
is "$out" "459 4.7.1 <acme.example>: node not allowed: client address not authorised" \
    "ETRN from 127.0.0.2 (outside etrn-from): 459"
grep -q "reject: ETRN from [^ ]*\[127.0.0.2\]: 459 4.7.1" "$HUB_LOG"
ok $? "the refusal is logged"
out=$($PROBE $HUB_PORT "EHLO leaf.test" "ETRN @com" "ETRN com" \
    "ETRN #../x" "ETRN" "ETRN @" "ETRN bad!domain" "ETRN #nosuch" \
    "ETRN ship.example" "ETRN #leaf" "MAIL FROM:<a@example.org>" \
    "ETRN acme.example" RSET QUIT | cut -c1-3 | tr '\n' ' ')
is "$out" "220 250 459 459 501 500 501 501 459 251 459 250 503 250 221 " \
    "@com, com 459; #../x 501; bare 500; @ and bad!domain 501; unknown 459; empty ship 251; uucp customer 459; inside MAIL 503"
printf 'EHLO x\r\nQUIT\r\n' | timeout 10 python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(sys.stdin.buffer.read())
data = b""
while True:
    b = s.recv(4096)
    if not b:
        break
    data += b
sys.stdout.write(data.decode())' $HUB_PORT | grep -q '^250-ETRN'
ok $? "EHLO advertises ETRN"

# ---- 4. 4xx stays, 5xx becomes a DSN delivered to the relayhost ----
M1=$CORPUS/easy-ham-1/00003.eml
M2=$CORPUS/easy-ham-1/00004.eml
e1=$("$FT" enqueue -f alice@example.org "$HUB_SPOOL" mix \
    ok1@mix.example,temp1@mix.example,perm1@mix.example "$M1")
e2=$("$FT" enqueue -f alice@example.org "$HUB_SPOOL" mix \
    ok2@mix.example "$M2")
e3=$("$FT" enqueue -f bob@example.org "$HUB_SPOOL" mix \
    temp3@mix.example "$M2")
out=$($PROBE $HUB_PORT "EHLO leaf.test" "ETRN mix.example" QUIT | sed -n 3p)
is "$out" "253 2.0.0 OK, 3 pending messages for node mix.example started" \
    "ETRN mix.example: 253, 3 pending"
wait_for 30 grep -q "mix: flush ended" "$HUB_LOG"
ok $? "mix's flush ended"
q=$HUB_SPOOL/q/mix/new
[ -f "$q/$e1" ] && grep -q '^rcpt <temp1@mix.example>$' "$q/$e1" &&
    [ "$(grep -c '^rcpt ' "$q/$e1")" = 1 ] && grep -q '^attempts 1$' "$q/$e1"
ok $? "the 4xx recipient stays queued alone, attempts 1"
[ -f "$q/$e3" ] && grep -q '^attempts 1$' "$q/$e3"
ok $? "an all-4xx entry stays whole, attempts 1"
[ ! -f "$q/$e2" ]
ok $? "a delivered entry is gone"
is "$(cat "$WORK"/mix/*.rcpt | sort | tr '\n' ' ')" \
    "ok1@mix.example ok2@mix.example " "the server got exactly the 2xx recipients"
wait_for 30 has "$WORK/relay" 1
ok $? "the DSN reached the relayhost"
wait_for 10 empty _dsn
ok $? "the _dsn queue is empty afterwards"
d=$(ls "$WORK"/relay/* 2>/dev/null | head -1)
tr -d '\r' <"$d" >"$WORK/dsn.txt" 2>/dev/null
grep -q '^Content-Type: multipart/report; report-type=delivery-status;' "$WORK/dsn.txt" &&
    grep -q '^Content-Type: message/delivery-status' "$WORK/dsn.txt" &&
    grep -q '^Reporting-MTA: dns; hub.test$' "$WORK/dsn.txt" &&
    grep -q '^Final-Recipient: rfc822; perm1@mix.example$' "$WORK/dsn.txt" &&
    grep -q '^Action: failed$' "$WORK/dsn.txt" &&
    grep -q '^Status: 5.1.1$' "$WORK/dsn.txt" &&
    grep -q '^Diagnostic-Code: smtp; 550 5.1.1 <perm1@mix.example>: no such user here' "$WORK/dsn.txt" &&
    grep -q "^X-Mailbridge-Queue-ID: $e1" "$WORK/dsn.txt" &&
    ! grep -q 'temp1@mix' "$WORK/dsn.txt" && ! grep -q 'ok1@mix' "$WORK/dsn.txt"
ok $? "DSN structure: multipart/report, delivery-status of the 5xx recipient only"
grep -q '^X-Mail-Args: <>' "$d" &&
    grep -q '^X-Rcpt-Args: <alice@example.org>' "$d"
ok $? "the DSN went from <> to the sender, alice@example.org"

# ---- 5. kill -9 of the flush worker in the middle ----
SFILES=$(find "$CORPUS/hard-ham-1" -type f -name '*.eml' | sort | head -12)
# shellcheck disable=SC2086
"$FT" enqueue "$HUB_SPOOL" slow k@slow.example $SFILES >/dev/null
$PROBE $HUB_PORT "EHLO leaf.test" "ETRN #slow" QUIT >/dev/null
wait_for 30 has "$WORK/slow" 4 '\.msg$'
pid=$(bridgectl -c "$HUB_CONF" status | sed -n 's/.* slow=flush:\([0-9]*\).*/\1/p')
[ -n "$pid" ] && kill -9 "-$pid"
ok $? "flush worker $pid killed with SIGKILL"
wait_for 20 grep -q "slow: flush ended, pid $pid, signal 9" "$HUB_LOG"
ok $? "bridged saw its worker die"
got=$(count "$WORK/slow" '\.msg$')
left=$(queued slow)
[ $((got + left)) -ge 12 ]
ok $? "delivered ($got) + queued ($left) covers all 12"
bridgectl -c "$HUB_CONF" flush slow >/dev/null
ok $? "bridgectl flush slow"
wait_for 60 empty slow
ok $? "the second flush empties the queue"
total=$(count "$WORK/slow" '\.msg$')
[ "$total" -ge 12 ] && [ "$total" -le 13 ]
ok $? "12 messages delivered, at most one twice ($total)"
# shellcheck disable=SC2086
$SAME msgset "$WORK/slow" $SFILES >/dev/null
ok $? "the same 12 messages arrived"

# ---- 6. coalescing ----
wait_for 30 idle
"$FT" enqueue "$HUB_SPOOL" acme c@acme.example \
    $(sed -n '1,20p' "$WORK/files") >/dev/null
before=$(logcount "acme: flush started")
out=$($PROBE -b 127.0.0.3 $HUB_PORT "EHLO leaf.test" "ETRN #acme" \
    "ETRN acme.example" QUIT | sed -n '3,4p' | cut -c1-3 | tr '\n' ' ')
is "$out" "253 253 " "two ETRNs in a row: 253 twice"
wait_for 60 empty acme
wait_for 30 idle
is "$(logcount "acme: flush started")" $((before + 1)) \
    "two ETRNs in a row started one flush"
grep -q "acme: ETRN from 127.0.0.3 within 10 s of the last one: nothing new now" \
    "$HUB_LOG"
ok $? "the second joined (logged)"

# shellcheck disable=SC2086
"$FT" enqueue "$HUB_SPOOL" slow j@slow.example $SFILES >/dev/null
before=$(logcount "slow: flush started")
o1=$(bridgectl -c "$HUB_CONF" flush slow)
o2=$(bridgectl -c "$HUB_CONF" flush slow)
o3=$(bridgectl -c "$HUB_CONF" flush slow)
is "$o1|$o2|$o3" "bridgectl: ok flush of slow started|bridgectl: ok flush of slow joins the running one|bridgectl: ok flush of slow joins the running one" \
    "a flush asked for while one runs joins it"
wait_for 60 empty slow
wait_for 30 idle
is "$(logcount "slow: flush started")" $((before + 2)) \
    "... and runs once more after it, not twice"
[ "$(grep -c "slow: flush ended, pid [0-9]*, status 0, again" "$HUB_LOG")" -ge 1 ]
ok $? "the 'again' is logged"

hub_stop
grep -q "stopped" "$HUB_LOG"
ok $? "bridged stops cleanly"
[ ! -e "$HUB_SPOOL/control" ]
ok $? "the control socket is removed at shutdown"
