#!/bin/sh
# 36-etrn-auth.t - ETRN authorised by AUTH CRAM-MD5 on bridged's SMTP
# listener.  Clients reach the hub from 127.0.0.2, outside every
# etrn-from here (etrn(1) through regress/srcfwd.py, the probe by
# binding).  Our etrn -u/-s: 253 and the mail arrives at smtp-sink
# (the customer's server); a wrong secret: 535, exit 77, nothing
# flushed; a secret file open to others: refused before connecting; a
# server without AUTH CRAM-MD5: exit 69.  AUTH as acme does not release
# beta's node (459) and opens no relay (550); LMTP offers no AUTH;
# swaks as an independent CRAM-MD5 client gets 235; three failures
# close the session.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hubrun.sh"
hub_require
require smtp-sink swaks etrn

FT=$TOP/regress/flushtool
[ -x "$FT" ] || { fail "regress/flushtool is built"; exit 1; }
PROBE="python3 $TOP/regress/smtpprobe.py"
SINKUSER=
[ "$(id -u)" = 0 ] && SINKUSER="-u nobody"

count() { ls "$1" 2>/dev/null | wc -l | tr -d ' '; }
queued() { count "$HUB_SPOOL/q/$1/new"; }
has() { [ "$(count "$1")" -ge "$2" ]; }

# ---- the peers: smtp-sink as acme's server, the forwarder ----
SINKPORT=$(free_port)
mkdir -p "$WORK/sink"
chmod 777 "$WORK/sink"
smtp-sink $SINKUSER -d "$WORK/sink/%M." 127.0.0.1:$SINKPORT 16 \
    >"$WORK/sink.log" 2>&1 &
at_exit "kill $!"
wait_port $SINKPORT || { fail "smtp-sink listens"; exit 1; }

SECRET=Zq8-long-random-secret-for-acme
printf '%s\n' "$SECRET" >"$WORK/acme.secret"
printf 'not-the-secret\n' >"$WORK/wrong.secret"
printf '%s\n' "$SECRET" >"$WORK/open.secret"
printf 'beta-secret\n' >"$WORK/beta.secret"
chmod 600 "$WORK/acme.secret" "$WORK/wrong.secret" "$WORK/beta.secret"
chmod 644 "$WORK/open.secret"
HUB_ACME_OPTS="deliver-to = {\"127.0.0.1:$SINKPORT\"} etrn-from = {\"127.0.0.1/32\"} secret = \"$WORK/acme.secret\" flush-connections = 1"
BETADEAD=$(free_port)
hub_init "customer \"beta\" { release = {\"etrn\"} deliver-to = {\"127.0.0.1:$BETADEAD\"} etrn-from = {\"127.0.0.1/32\"} secret = \"$WORK/beta.secret\" }"
hub_secret "$WORK/acme.secret" "$WORK/beta.secret"
printf 'beta.example\tbeta\n' >>"$HUB_ROUTES"
hub_start || { fail "bridged started"; exit 1; }
pass "bridged started; acme and beta have secrets, etrn-from 127.0.0.1"

FWDPORT=$(free_port)
python3 "$TOP/regress/srcfwd.py" $FWDPORT 127.0.0.2 $HUB_PORT 120 &
at_exit "kill $!"
wait_port $FWDPORT || { fail "srcfwd listens"; exit 1; }
HUB=127.0.0.1:$FWDPORT

printf 'Subject: auth test\n\nhello\n' >"$WORK/msg"
for i in 1 2 3; do
	"$FT" enqueue -f s@example.org "$HUB_SPOOL" acme "u$i@acme.example" \
	    "$WORK/msg" >/dev/null
done
"$FT" enqueue -f s@example.org "$HUB_SPOOL" beta u@beta.example \
    "$WORK/msg" >/dev/null
is "$(queued acme)/$(queued beta)" "3/1" "3 messages queued for acme, 1 for beta"

# ---- without AUTH, 127.0.0.2 is not allowed ----
out=$(etrn -H leaf.test $HUB '#acme' 2>&1)
is "$?/$out" "75/$HUB: ETRN #acme: 459 4.7.1 <#acme>: node not allowed: client address not authorised" \
    "no AUTH: ETRN from 127.0.0.2 is 459, exit 75"
grep -q "reject: ETRN from [^ ]*\[127.0.0.2\]: 459" "$HUB_LOG"
ok $? "the hub saw the client as 127.0.0.2"

# ---- refusals before anything is flushed ----
out=$(etrn -u acme -s "$WORK/wrong.secret" $HUB '#acme' 2>&1)
rc=$?
is "$rc" 77 "wrong secret: exit 77 (EX_NOPERM)"
is "$out" "$HUB: AUTH CRAM-MD5: 535 5.7.8 Authentication credentials invalid" \
    "wrong secret: the server's 535 printed, no ETRN sent"
grep -q "smtp: [^ ]*\[127.0.0.2\]: AUTH CRAM-MD5 failed for acme: wrong digest" \
    "$HUB_LOG"
ok $? "wrong secret: failure logged with the client address"
grep -q "etrn: acme from" "$HUB_LOG"
ok $((!$?)) "wrong secret: no ETRN reached the hub"

out=$(etrn -u acme -s "$WORK/open.secret" $HUB '#acme' 2>&1)
rc=$?
is "$rc" 78 "secret file mode 0644: exit 78"
is "$(printf '%s\n' "$out" | wc -l | tr -d ' ')" 1 "one line of error"
case "$out" in
"etrn: $WORK/open.secret: mode 0644 is too open"*) pass "it names the file and its mode" ;;
*) fail "it names the file and its mode"; diag "$out" ;;
esac

out=$(etrn -u acme -s "$WORK/acme.secret" 127.0.0.1:$SINKPORT '#acme' 2>&1)
rc=$?
is "$rc/$out" "69/etrn: 127.0.0.1:$SINKPORT does not offer AUTH CRAM-MD5" \
    "a server without AUTH CRAM-MD5 (smtp-sink): exit 69, one line"
sleep 1
is "$(queued acme)/$(count "$WORK/sink")" "3/0" "nothing flushed so far"

# ---- etrn -u -s from 127.0.0.2: 253, the mail arrives ----
out=$(etrn -H leaf.test -u acme -s "$WORK/acme.secret" $HUB '#acme' 2>&1)
rc=$?
is "$rc/$out" "0/$HUB: ETRN #acme: 253 2.0.0 OK, 3 pending messages for node #acme started" \
    "AUTH as acme: ETRN #acme from 127.0.0.2 is 253"
wait_for 30 has "$WORK/sink" 3
is "$(count "$WORK/sink")" 3 "smtp-sink got acme's 3 messages"
wait_for 10 test "$(queued acme)" = 0
is "$(queued acme)" 0 "acme's queue is empty"
grep -q "smtp: [^ ]*\[127.0.0.2\]: authenticated as acme" "$HUB_LOG" &&
    grep -q "etrn: acme from [^ ]*\[127.0.0.2\]: node #acme, 3 pending, authenticated" \
    "$HUB_LOG"
ok $? "AUTH and the authorised ETRN are logged"

# ---- etrn -c leaf.conf: the same from the leaf's configuration ----
for i in 4 5; do
	"$FT" enqueue -f s@example.org "$HUB_SPOOL" acme "u$i@acme.example" \
	    "$WORK/msg" >/dev/null
done
cat >"$WORK/leaf.conf" <<EOF
spool = "$WORK/leafspool"
inject { method = "smtp"  server = "127.0.0.1:$SINKPORT" }
hub "isp" {
    etrn { server = "$HUB"  targets = {"#acme"}
           user = "acme"  secret = "$WORK/acme.secret" }
}
hub "other" {
    ssh { server = "127.0.0.1:22"  user = "acme"
          identity = "$WORK/id"  known-hosts = "$WORK/kh" }
}
EOF
out=$(etrn -H leaf.test -c "$WORK/leaf.conf" 2>&1)
rc=$?
is "$rc/$out" "0/$HUB: ETRN #acme: 253 2.0.0 OK, 2 pending messages for node #acme started" \
    "etrn -c leaf.conf: every hub with an etrn section, AUTH from its keys"
wait_for 30 has "$WORK/sink" 5
is "$(count "$WORK/sink")" 5 \
    "smtp-sink got the 2 new messages (asked within 10 s of the last ETRN: the flush followed when the window ended)"
grep -q "acme: ETRN from 127.0.0.2 within 10 s of the last one: nothing new now; a flush follows" "$HUB_LOG"
ok $? "the rate limit deferred that flush instead of dropping it"
wait_for 10 test "$(queued acme)" = 0
out=$(etrn -c "$WORK/leaf.conf" other 2>&1)
is "$?/$out" "78/etrn: $WORK/leaf.conf: no etrn section in hub \"other\"" \
    "a named hub without an etrn section: exit 78, one line"
out=$(etrn -c "$WORK/leaf.conf" nosuch 2>&1)
is "$?/$out" "78/etrn: $WORK/leaf.conf: no hub \"nosuch\"" \
    "an unknown hub: exit 78, one line"
sed "s|$WORK/acme.secret|$WORK/wrong.secret|" "$WORK/leaf.conf" \
    >"$WORK/leaf-wrong.conf"
out=$(etrn -c "$WORK/leaf-wrong.conf" isp 2>&1)
is "$?/$out" "77/$HUB: AUTH CRAM-MD5: 535 5.7.8 Authentication credentials invalid" \
    "a wrong secret in leaf.conf: exit 77"

# ---- AUTH grants acme's nodes only, and nothing else ----
out=$($PROBE -b 127.0.0.2 $HUB_PORT "EHLO leaf.test" "cram:acme:$SECRET" \
    "ETRN beta.example" "ETRN #beta" "ETRN acme.example" "AUTH CRAM-MD5" \
    QUIT | cut -c1-3 | tr '\n' ' ')
is "$out" "220 250 235 459 459 251 503 221 " \
    "AUTH as acme: beta's nodes 459, acme's 251, a second AUTH 503"
is "$(queued beta)" 1 "beta's mail stays queued"
out=$($PROBE -b 127.0.0.2 $HUB_PORT "EHLO leaf.test" "cram:acme:$SECRET" \
    "MAIL FROM:<u@acme.example>" "RCPT TO:<x@foreign.example>" RSET \
    QUIT | sed -n '4,5p')
is "$out" "250 2.1.0 Ok
550 5.7.1 <x@foreign.example>: Relay access denied" \
    "AUTH then MAIL to a foreign domain: still 550 relay denied"
out=$($PROBE -b 127.0.0.2 $HUB_PORT "EHLO leaf.test" "cram:beta:wrong" \
    "cram:acme:wrong" "cram:nosuch:x" NOOP | cut -c1-3 | tr '\n' ' ')
is "$out" "220 250 535 535 421 EOF " "three failed AUTHs: 421 and close"

# ---- LMTP offers no AUTH ----
out=$(python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
f = s.makefile("rb")
def cmd(c):
    if c:
        s.sendall(c.encode() + b"\r\n")
    out = []
    while True:
        ln = f.readline(1000).decode().rstrip("\r\n")
        out.append(ln)
        if len(ln) < 4 or ln[3] != "-":
            return out
cmd("")
print(" ".join(l[4:] for l in cmd("LHLO leaf.test")[1:]))
print(cmd("AUTH CRAM-MD5")[0])
cmd("QUIT")' "$HUB_LMTP")
is "$out" "PIPELINING SIZE 52428800 8BITMIME DSN ENHANCEDSTATUSCODES
502 5.5.1 Error: command not implemented" "LMTP: no AUTH offered, AUTH is 502"

# ---- swaks, an independent CRAM-MD5 client ----
swaks --server 127.0.0.1 --port $HUB_PORT --ehlo leaf.test \
    --auth CRAM-MD5 --auth-user acme --auth-password "$SECRET" \
    --quit-after AUTH >"$WORK/swaks.out" 2>&1
rc=$?
grep -q '<-  250-AUTH CRAM-MD5' "$WORK/swaks.out" &&
    grep -q '<-  235 2.7.0 Authentication successful' "$WORK/swaks.out"
ok $? "swaks --auth CRAM-MD5: offered, 235 (exit $rc)"
swaks --server 127.0.0.1 --port $HUB_PORT --ehlo leaf.test \
    --auth CRAM-MD5 --auth-user acme --auth-password wrong \
    --quit-after AUTH >"$WORK/swaks2.out" 2>&1
grep -q '<\*\* 535 5.7.8 Authentication credentials invalid' \
    "$WORK/swaks2.out"
ok $? "swaks with a wrong password: 535"

# ---- a secret the hub cannot read: 454, not 535, and a warning ----
chown root: "$WORK/beta.secret"
swaks --server 127.0.0.1 --port $HUB_PORT --ehlo leaf.test \
    --auth CRAM-MD5 --auth-user beta --auth-password beta-secret \
    --quit-after AUTH >"$WORK/swaks3.out" 2>&1
grep -q '<\*\* 454 4.7.0 Temporary authentication failure' \
    "$WORK/swaks3.out"
ok $? "the lookup user cannot read beta's secret: 454 4.7.0"
grep -q "AUTH CRAM-MD5 for beta cannot be checked: secret .*beta.secret: Permission denied" "$HUB_LOG"
ok $? "logged as the hub's problem, naming the file"
out=$(bridgectl -c "$HUB_CONF" check 2>&1)
ok $((!$?)) "bridgectl check fails on it"
case "$out" in
*"beta.secret: belongs to uid 0; bridged's lookup process runs as $HUB_LOOKUP_USER and cannot read it"*)
	pass "and says why" ;;
*)	fail "and says why"; diag "$out" ;;
esac
hub_secret "$WORK/beta.secret"
bridgectl -c "$HUB_CONF" check >/dev/null 2>&1
ok $? "bridgectl check accepts it once it is the lookup user's"
swaks --server 127.0.0.1 --port $HUB_PORT --ehlo leaf.test \
    --auth CRAM-MD5 --auth-user beta --auth-password beta-secret \
    --quit-after AUTH >"$WORK/swaks4.out" 2>&1
grep -q '<-  235 2.7.0' "$WORK/swaks4.out"
ok $? "readable again: 235"
