#!/bin/sh
# 38-flush-widen.t - a flush widens past flush-connections when the
# customer's server costs a round trip per message and that round trip
# is most of each message's time (etrn/flush.c), and only then:
#   1. through a 100 ms delay line into Postfix's smtp-sink (no
#      CHUNKING): more than one connection, at most the maximum, every
#      message arrives byte for byte;
#   2. the same with the maximum equal to the start: one connection;
#   3. a server offering CHUNKING behind the same line: BDAT windows
#      fill the link, so no widening;
#   4. a server that turns away a third connection (421): widening
#      stops, nothing is lost, every message arrives once;
#   5. bridged itself: flush-connections-max in bridge.conf, ETRN,
#      the log says it widened and the sink has every message.
# The links are regress/sharedline.py (one budget for all connections,
# as on a real link).
. "$(dirname "$0")/lib.sh"
require smtp-sink python3 useradd

FT=$TOP/regress/flushtool
[ -x "$FT" ] || { fail "regress/flushtool is built"; exit 1; }
CORPUS=$(corpus_dir) || { fail "corpus"; exit 1; }
SRV="python3 $TOP/regress/smtpsrv.py"
SAME="python3 $TOP/regress/samemsgs.py"
LINE="python3 $TOP/regress/sharedline.py"
SINKUSER=
[ "$(id -u)" = 0 ] && SINKUSER="-u nobody"
FILES=$(ls "$CORPUS"/easy-ham-1/*.eml | head -40)
NFILES=40

count_entries() {	# count_entries SPOOL CUSTOMER
	ls "$1/q/$2/new" 2>/dev/null | wc -l | tr -d ' '
}

# enqueue SPOOL: the 40 messages for acme
enqueue() {
	# shellcheck disable=SC2086
	"$FT" enqueue -f sender@example.org "$1" acme u@acme.example \
	    $FILES >/dev/null 2>"$WORK/enq.err" ||
	    fail "enqueue: $(head -1 "$WORK/enq.err")"
}

# line PORT TARGETPORT: a 100 ms, 2 Mbit/s link to 127.0.0.1:TARGETPORT
line() {
	$LINE "$1" "127.0.0.1:$2" --delay-ms 100 --kbit 2000 --quiet &
	at_exit "kill $!"
	wait_port "$1" || fail "sharedline listens on $1"
}

# conns LOG: the connections flushtool made
conns() { sed -n 's/^flushtool: connections=//p' "$1"; }

# ---- 1. smtp-sink behind the line: widens ----
SINK=$(free_port)
mkdir -p "$WORK/sink1"
chmod 777 "$WORK/sink1"
smtp-sink $SINKUSER -d "$WORK/sink1/%M." 127.0.0.1:$SINK 64 \
    >"$WORK/sink1.log" 2>&1 &
at_exit "kill $!"
wait_port $SINK || fail "smtp-sink listens"
L1=$(free_port)
line $L1 $SINK
enqueue "$WORK/s1"
"$FT" flush -n 1 -m 4 "$WORK/s1" acme 127.0.0.1:$L1 >"$WORK/out1" \
    2>"$WORK/log1"
ok $? "flush through the line exits 0"
is "$(cat "$WORK/out1")" \
    "entries=$NFILES done=$NFILES sent=$NFILES deferred=0 bounced=0 dsns=0 busy=0" \
    "every message sent"
is "$(count_entries "$WORK/s1" acme)" 0 "queue empty"
n=$(conns "$WORK/log1")
[ "${n:-0}" -ge 2 ] && [ "${n:-0}" -le 4 ]
ok $? "widened from 1 to between 2 and 4 connections (made $n)"
grep -q "round trip [0-9]* ms of [0-9]* ms a message to .*: asking for" \
    "$WORK/log1"
ok $? "the ask names the round trip and the time a message takes"
grep -q "flush: widened to [234] connections" "$WORK/log1"
ok $? "widening logged"
# shellcheck disable=SC2086
$SAME sink "$WORK/sink1" $FILES
ok $? "smtp-sink got each message once, byte for byte"

# ---- 2. maximum = start: stays at one ----
rm -f "$WORK"/sink1/*
enqueue "$WORK/s2"
"$FT" flush -n 1 "$WORK/s2" acme 127.0.0.1:$L1 >"$WORK/out2" 2>"$WORK/log2"
ok $? "flush with -n 1 alone exits 0"
is "$(conns "$WORK/log2")" 1 "one connection when the maximum is the start"
grep -q "asking for" "$WORK/log2"
ok $((!$?)) "no ask to widen"
# shellcheck disable=SC2086
$SAME sink "$WORK/sink1" $FILES
ok $? "every message arrived"

# ---- 3. CHUNKING behind the line: no widening ----
SRV3=$(free_port)
mkdir -p "$WORK/srv3"
$SRV $SRV3 "$WORK/srv3" --chunking --idle 120 &
at_exit "kill $!"
wait_port $SRV3 || fail "scripted server listens"
L3=$(free_port)
line $L3 $SRV3
enqueue "$WORK/s3"
"$FT" flush -n 1 -m 4 "$WORK/s3" acme 127.0.0.1:$L3 >"$WORK/out3" \
    2>"$WORK/log3"
ok $? "CHUNKING flush exits 0"
is "$(conns "$WORK/log3")" 1 "BDAT windows: one connection is enough"
set -- $(cat "$WORK/srv3/conns")
is "$2 $6" "1 0" "the server saw one connection at a time, none refused"
# shellcheck disable=SC2086
$SAME msg "$WORK/srv3" $FILES
ok $? "the server got every message once"

# ---- 4. a server that takes two connections at most ----
SRV4=$(free_port)
mkdir -p "$WORK/srv4"
$SRV $SRV4 "$WORK/srv4" --max-conns 2 --idle 120 &
at_exit "kill $!"
wait_port $SRV4 || fail "scripted server listens"
L4=$(free_port)
line $L4 $SRV4
enqueue "$WORK/s4"
"$FT" flush -n 1 -m 8 "$WORK/s4" acme 127.0.0.1:$L4 >"$WORK/out4" \
    2>"$WORK/log4"
ok $? "flush against a 2-connection server exits 0"
is "$(cat "$WORK/out4")" \
    "entries=$NFILES done=$NFILES sent=$NFILES deferred=0 bounced=0 dsns=0 busy=0" \
    "every message sent"
set -- $(cat "$WORK/srv4/conns")
is "$2" 2 "the server saw two connections at once"
[ "$6" -ge 1 ]
ok $? "a third connection was turned away ($6 refused)"
grep -q "said: 421 4.7.0 srv.test too many connections" "$WORK/log4"
ok $? "the 421 is logged"
grep -q "no more connections: staying at" "$WORK/log4"
ok $? "widening stopped"
# shellcheck disable=SC2086
$SAME msg "$WORK/srv4" $FILES
ok $? "the server got every message exactly once"

# ---- 5. bridged: flush-connections-max in bridge.conf, ETRN ----
HUB=$(free_port)
L5=$(free_port)
rm -f "$WORK"/sink1/*
line $L5 $SINK
mkdir -p "$WORK/hub/spool"
test_user HUBUSER hub
test_user SESSUSER smtp
test_user LKUSER lka
mkdir -m 755 "$WORK/hub/empty"
chown "$HUBUSER:" "$WORK/hub/spool"
chmod 700 "$WORK/hub/spool"
cat >"$WORK/hub/bridge.conf" <<EOF
hostname = "hub.test"
user = "$HUBUSER"
session-user = "$SESSUSER"
lookup-user = "$LKUSER"
session-chroot = "$WORK/hub/empty"
spool = "$WORK/hub/spool"
routes = "$WORK/hub/routes"
postmaster = "postmaster@hub.test"
smtp { listen = {"127.0.0.1:$HUB"} }
customer "acme" {
	release = {"etrn"}
	deliver-to = {"127.0.0.1:$L5"}
	etrn-from = {"127.0.0.1"}
	flush-connections = 1
	flush-connections-max = 3
}
EOF
printf 'acme.example\tacme\n' >"$WORK/hub/routes"
bridgectl -c "$WORK/hub/bridge.conf" check >"$WORK/check5" 2>&1
ok $? "bridgectl check accepts flush-connections-max"
enqueue "$WORK/hub/spool"
bridged -d -c "$WORK/hub/bridge.conf" >"$WORK/hub.log" 2>&1 &
HUBPID=$!
at_exit "kill $HUBPID"
wait_port $HUB || fail "bridged listens"
etrn -p $HUB 127.0.0.1 acme.example >"$WORK/etrn5" 2>&1
ok $? "etrn accepted: $(head -1 "$WORK/etrn5")"
i=0
while [ "$(count_entries "$WORK/hub/spool" acme)" != 0 ] && [ $i -lt 600 ]
do
	sleep 0.1
	i=$((i + 1))
done
is "$(count_entries "$WORK/hub/spool" acme)" 0 "bridged emptied the queue"
grep -q "acme: flush: widened to [23] connections" "$WORK/hub.log"
ok $? "bridged widened the flush"
grep -q "widened to [4-9] connections" "$WORK/hub.log"
ok $((!$?)) "and never past flush-connections-max"
# shellcheck disable=SC2086
$SAME sink "$WORK/sink1" $FILES
ok $? "smtp-sink got each message once, byte for byte"

# ---- the key's checks ----
sed 's/flush-connections = 1/flush-connections = 4/' \
    "$WORK/hub/bridge.conf" >"$WORK/bad.conf"
bridgectl -c "$WORK/bad.conf" check >"$WORK/bad.out" 2>&1
ok $((!$?)) "flush-connections-max below flush-connections is refused"
grep -q "bad.conf:[0-9]*: .*flush-connections-max (3) is below flush-connections (4)" \
    "$WORK/bad.out"
ok $? "with file, line and both values: $(head -1 "$WORK/bad.out")"

