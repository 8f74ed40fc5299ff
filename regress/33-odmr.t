#!/bin/sh
# 33-odmr.t - ODMR (RFC 2645) in bridged: fetchmail --protocol ODMR
# with the customer's password (its secret file) relays the customer's
# queue into its smtphost, Postfix's smtp-sink, byte for byte; then a
# Python client speaking CRAM-MD5 for the rest: EHLO lists AUTH
# CRAM-MD5 and ATRN, other commands get 502, ATRN before AUTH 530, a
# wrong password 535 (three: 421), ATRN naming another customer's
# domain 450 with nothing sent, 453 when there is no mail, 451 while
# the customer's queue is being flushed, and a plain ATRN turns the
# connection round.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hubrun.sh"
hub_require
require smtp-sink fetchmail

FT=$TOP/regress/flushtool
[ -x "$FT" ] || { fail "regress/flushtool is built"; exit 1; }
CORPUS=$(corpus_dir) || { fail "corpus"; exit 1; }
PROBE="python3 $TOP/regress/smtpprobe.py"
SAME="python3 $TOP/regress/samemsgs.py"
SINKUSER=
[ "$(id -u)" = 0 ] && SINKUSER="-u nobody"

queued() { ls "$HUB_SPOOL/q/$1/new" 2>/dev/null | wc -l | tr -d ' '; }
empty() { [ "$(queued "$1")" = 0 ]; }
running() { bridgectl -c "$HUB_CONF" status | grep -q " $1=flush:"; }

SINKPORT=$(free_port)
SLOWPORT=$(free_port)
ODMRPORT=$(free_port)
mkdir -p "$WORK/sink" "$WORK/slow" "$WORK/turn"
chmod 777 "$WORK/sink"
smtp-sink $SINKUSER -d "$WORK/sink/%M." 127.0.0.1:$SINKPORT 16 \
    >"$WORK/sink.log" 2>&1 &
at_exit "kill $!"
python3 "$TOP/regress/smtpsrv.py" $SLOWPORT "$WORK/slow" --delay 0.5 \
    --idle 120 &
at_exit "kill $!"
wait_port $SINKPORT && wait_port $SLOWPORT ||
    { fail "peers listen"; exit 1; }

SECRET="tanstaafl with spaces"
printf '%s\nsecond line is ignored\n' "$SECRET" >"$WORK/acme.secret"
printf 'other-secret\n' >"$WORK/dual.secret"
chmod 600 "$WORK/acme.secret" "$WORK/dual.secret"
HUB_ACME_OPTS="release = {\"odmr\"} secret = \"$WORK/acme.secret\""
hub_init "odmr { listen = {\"127.0.0.1:$ODMRPORT\"} }
customer \"dual\" { release = {\"etrn\", \"odmr\"} secret = \"$WORK/dual.secret\" deliver-to = {\"127.0.0.1:$SLOWPORT\"} flush-connections = 1 }"
printf 'dual.example\tdual\n' >>"$HUB_ROUTES"
hub_secret "$WORK/acme.secret" "$WORK/dual.secret"
hub_start || { fail "bridged started"; exit 1; }
wait_port $ODMRPORT || { fail "ODMR listener"; exit 1; }
pass "bridged listens for ODMR on 127.0.0.1:$ODMRPORT"

# ---- 1. fetchmail --protocol ODMR ----
find "$CORPUS/easy-ham-1" -type f -name '*.eml' | sort | sed -n '301,340p' \
    >"$WORK/files"
xargs "$FT" enqueue -f s@example.org "$HUB_SPOOL" acme u@acme.example \
    <"$WORK/files" >/dev/null
"$FT" enqueue -f s@example.org "$HUB_SPOOL" acme v@sub.acme.example \
    "$CORPUS/spam-1/00001.eml" >/dev/null
echo "$CORPUS/spam-1/00001.eml" >>"$WORK/files"
N=$(wc -l <"$WORK/files" | tr -d ' ')
is "$(queued acme)" "$N" "$N messages queued for acme"
cat >"$WORK/fetchmailrc" <<EOF
set no syslog
poll 127.0.0.1 protocol odmr service $ODMRPORT
    user "acme" password "$SECRET"
    fetchdomains acme.example,sub.acme.example
    smtphost "127.0.0.1/$SINKPORT"
EOF
chmod 600 "$WORK/fetchmailrc"
timeout 120 fetchmail -v --nosyslog --pidfile "$WORK/fetchmail.pid" \
    -f "$WORK/fetchmailrc" >"$WORK/fetchmail.out" 2>&1
ok $? "fetchmail --protocol ODMR: exit 0"
grep -q "ODMR> AUTH CRAM-MD5" "$WORK/fetchmail.out" &&
    grep -q "< 235 2.7.0 Authentication successful" "$WORK/fetchmail.out"
ok $? "fetchmail authenticated with CRAM-MD5"
grep -q "ODMR> ATRN acme.example,sub.acme.example" "$WORK/fetchmail.out" &&
    grep -q "ODMR< 250 2.0.0 OK, now reversing the connection" \
    "$WORK/fetchmail.out"
ok $? "fetchmail sent ATRN with its domains"
is "$(queued acme)" 0 "acme's queue is empty"
is "$(ls "$WORK/sink" | wc -l | tr -d ' ')" "$N" "the smtphost got $N messages"
xargs $SAME sink "$WORK/sink" <"$WORK/files"
ok $? "every message arrived byte for byte (CRLF/LF aside)"
grep -q "odmr: localhost\[127.0.0.1\]: authenticated as acme" "$HUB_LOG" &&
    grep -q "odmr: acme: localhost\[127.0.0.1\]: $N sent, 0 deferred" \
    "$HUB_LOG"
ok $? "authentication and delivery logged"
# the session never delivers: a worker of the master does (issue 10)
grep -q "^bridged: acme: odmr started, pid [0-9]*" "$HUB_LOG" &&
    grep -q "^bridged: acme: odmr ended, pid [0-9]*, status 0" "$HUB_LOG"
ok $? "the delivery ran in a worker of the master, not in the session"

# ---- 2. the protocol, with a CRAM-MD5 client ----
out=$($PROBE $ODMRPORT "EHLO leaf.test" "MAIL FROM:<a@b.example>" \
    "ATRN" "ATRN acme.example" QUIT)
is "$(echo "$out" | cut -c1-3 | tr '\n' ' ')" "220 250 502 530 530 221 " \
    "MAIL 502; ATRN before AUTH 530"
python3 - $ODMRPORT >"$WORK/ehlo" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
f = s.makefile("rb")
f.readline()
s.sendall(b"EHLO leaf.test\r\n")
while True:
    l = f.readline().decode()
    print(l.rstrip())
    if l[3] == " ":
        break
s.sendall(b"QUIT\r\n")
EOF
grep -q '^250-AUTH CRAM-MD5$' "$WORK/ehlo" && grep -q '^250-ATRN$' "$WORK/ehlo" &&
    ! grep -qi 'STARTTLS\|PLAIN' "$WORK/ehlo"
ok $? "EHLO lists AUTH CRAM-MD5 and ATRN, nothing needing TLS"

out=$($PROBE $ODMRPORT "EHLO leaf.test" "cram:acme:wrong" "ATRN" \
    "cram:nosuch:$SECRET" "cram:acme:$SECRET second" "NOOP")
is "$(echo "$out" | cut -c1-3 | tr '\n' ' ')" "220 250 535 530 535 421 EOF " \
    "wrong password 535, ATRN still 530; the third failure 421"
grep -q "odmr: localhost\[127.0.0.1\]: AUTH CRAM-MD5 failed for acme: wrong digest" \
    "$HUB_LOG"
ok $? "a failed AUTH is logged"
out=$($PROBE $ODMRPORT "EHLO leaf.test" "cram:ship:x" QUIT | sed -n 3p)
is "$out" "535 5.7.8 Authentication credentials invalid" \
    "a customer not released by odmr cannot authenticate"

"$FT" enqueue "$HUB_SPOOL" acme w@acme.example \
    "$CORPUS/easy-ham-1/00001.eml" >/dev/null
out=$($PROBE $ODMRPORT "EHLO leaf.test" "cram:acme:$SECRET" \
    "ATRN acme.example,ship.example" "quiet:1" "ATRN dual.example" \
    "ATRN nosuch.example" "ATRN bad!domain" QUIT)
is "$(echo "$out" | sed -n 3,8p | cut -c1-3 | tr '\n' ' ')" \
    "235 450 qui 450 450 501 " \
    "ATRN naming another customer's domain: 450, and nothing is sent"
is "$(queued acme)" 1 "the message is still queued"

# ---- 3. 453 without mail; 451 while a flush runs; the turn ----
out=$($PROBE $ODMRPORT "EHLO leaf.test" "cram:dual:other-secret" ATRN QUIT |
    sed -n 4p)
is "$out" "453 4.3.0 You have no mail" "no mail: 453"
"$FT" enqueue "$HUB_SPOOL" dual d@dual.example \
    $(find "$CORPUS/hard-ham-1" -type f -name '*.eml' | sort | head -6) \
    >/dev/null
bridgectl -c "$HUB_CONF" flush dual >/dev/null
wait_for 10 running dual
out=$($PROBE $ODMRPORT "EHLO leaf.test" "cram:dual:other-secret" \
    "ATRN dual.example" QUIT | sed -n 4p)
case "$out" in
"451 4.3.0 "*) pass "ATRN while the customer's flush runs: 451" ;;
*) fail "ATRN while the customer's flush runs: 451"; diag "$out" ;;
esac
wait_for 30 empty dual
ok $? "the flush job finished the dual queue"

out=$($PROBE $ODMRPORT "EHLO leaf.test" "cram:acme:$SECRET" ATRN \
    "turn:$WORK/turn")
is "$(echo "$out" | sed -n 4,5p | tr '\n' '|')" \
    "250 2.0.0 OK, now reversing the connection|turned 1|" \
    "ATRN without domains: 250, the connection turns round"
is "$(queued acme)" 0 "delivered over the turned connection"
$SAME msg "$WORK/turn" "$CORPUS/easy-ham-1/00001.eml" >/dev/null
ok $? "the message arrived intact"
