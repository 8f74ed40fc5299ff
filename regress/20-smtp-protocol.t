#!/bin/sh
# 20-smtp-protocol.t - bridged's SMTP and LMTP intake from the outside:
# swaks for a normal delivery (entry checked byte for byte), a raw
# client (smtpclient.py) for a catalogue of bad input and relay tricks
# with the exact reply codes, several customers in one message, the
# limits (size, recipients, clients, quota, free space, idle timeout),
# a slow client beside a fast one, SIGHUP with a session open, SIGTERM
# in the middle of DATA, LMTP on a unix socket, and bridge-enqueue's
# exit codes.  Everything listens on 127.0.0.1 and stops at exit.
. "$(dirname "$0")/lib.sh"

require swaks python3 bridged bridge-enqueue useradd setpriv
test_user HUBUSER hub
test_user SESSUSER smtp
test_user LKUSER lka
mkdir -m 755 "$WORK/empty"

CLIENT="python3 $TOP/regress/smtpclient.py"
PORT=$(free_port)
SPOOL=$WORK/spool
CONF=$WORK/bridge.conf
ROUTES=$WORK/routes
LOG=$WORK/bridged.log
LMTP=$WORK/sock/lmtp.sock
PID=

MINFREE=1M
TIMEOUT=30s
write_conf() {
	cat >"$CONF" <<EOF
hostname = "hub.test"
user = "$HUBUSER"
session-user = "$SESSUSER"
lookup-user = "$LKUSER"
session-chroot = "$WORK/empty"
spool = "$SPOOL"
routes = "$ROUTES"
smtp { listen = {"127.0.0.1:$PORT"} max-clients = 4 max-size = "100K"
       max-recipients = 5 timeout = "$TIMEOUT" }
lmtp { listen = {"unix:$LMTP"} }
queue { min-free = "$MINFREE" }
customer "acme" { release = {"etrn"} recipients = "$WORK/acme.users" }
customer "ship" { release = {"etrn"} }
customer "tiny" { release = {"etrn"} quota = "1" }
EOF
}

cat >"$ROUTES" <<EOF
acme.example		acme
.acme.example		acme
ship.example		ship
tiny.example		tiny
gone.example		error:5.1.2 this domain has moved
later.example		error:4.4.0 try again later
EOF
printf 'alice\nbob@acme.example\n' >"$WORK/acme.users"
write_conf

# start: bridged, and wait until it is ready: its "started" line
# comes once the queue process has recovered the spool (the ports are
# bound before that)
started() { [ "$(grep -c '^bridged: started:' "$LOG" 2>/dev/null)" -gt "$_n" ]; }
start() {
	_n=$(grep -c '^bridged: started:' "$LOG" 2>/dev/null)
	_n=${_n:-0}
	bridged -d -c "$CONF" >>"$LOG" 2>&1 &
	PID=$!
	at_exit "kill -9 $PID"
	wait_port "$PORT" 10 && wait_file "$LMTP" 5 && wait_for 20 started
}

stop() {
	kill -TERM "$PID" 2>/dev/null
	wait "$PID" 2>/dev/null
}

# idle: wait (bounded) until no session is open: the session processes
# stay (bridged -x session, a pool), so count what they log at the
# start and end of each connection.
sessions() {
	[ "$(grep -c '^bridged: connect from' "$LOG")" != \
	    "$(grep -c '^bridged: disconnect from' "$LOG")" ]
}
idle() {
	_i=0
	while [ $_i -lt 100 ] && sessions; do
		sleep 0.05
		_i=$((_i + 1))
	done
}

# reload: SIGHUP, then wait for the line that says it is done.
reload() {
	_n=$(grep -c 'reload' "$LOG")
	kill -HUP "$PID"
	_i=0
	while [ $_i -lt 100 ]; do
		[ "$(grep -c 'reload' "$LOG")" -ge $((_n + 2)) ] && return 0
		sleep 0.05
		_i=$((_i + 1))
	done
	return 1
}

entries() {	# entries CUSTOMER: number of committed entries
	ls "$SPOOL/q/$1/new" 2>/dev/null | wc -l | tr -d ' '
}

longlines() {	# longlines CHAR N FILE...: lines of exactly N CHARs and CRLF
	python3 -c 'import sys
want = sys.argv[1].encode() * int(sys.argv[2]) + b"\r\n"
print(sum(l == want for f in sys.argv[3:] for l in open(f, "rb")))' "$@"
}

clear_queues() {
	rm -f "$SPOOL"/q/*/new/*
}

# case CODES DESCRIPTION STEP...: one connection, exact reply codes.
case_() {
	_want=$1 _desc=$2
	shift 2
	idle
	_got=$($CLIENT "$PORT" "$@")
	is "$_got" "$_want" "$_desc"
}

start || { fail "bridged did not start"; tail "$LOG" | sed 's/^/# /'; exit 1; }
pass "bridged listens on 127.0.0.1:$PORT and $LMTP"
bridged -d -c "$CONF" 2>"$WORK/second.err"
is "$?" 75 "a second bridged on the same spool refuses to start"
grep -q "already running as pid $PID" "$WORK/second.err"
ok $? "and says which pid runs"
is "$($CLIENT "unix:$LMTP" 'LHLO c\r\n' 'QUIT\r\n')" "220 250 221" "the first one's LMTP socket is untouched"

# ---- a normal delivery with swaks, checked byte for byte ----
printf 'From: sender@example.org\r\nX-Envelope-To: forged@ship.example\r\nTo: alice@acme.example\r\nx-envelope-to:\r\n  folded@ship.example\r\nSubject: byte check\r\n\r\nfirst line\r\n.a line with a leading dot\r\nX-Envelope-To: stays in the body\r\n\r\nlast line\r\n' >"$WORK/msg.in"
# (swaks sends one more empty line before the final dot)
printf 'From: sender@example.org\r\nTo: alice@acme.example\r\nSubject: byte check\r\n\r\nfirst line\r\n.a line with a leading dot\r\nX-Envelope-To: stays in the body\r\n\r\nlast line\r\n\r\n' >"$WORK/msg.want"
swaks --server "127.0.0.1:$PORT" --from sender@example.org \
    --to alice@acme.example --helo client.example \
    --data "$WORK/msg.in" >"$WORK/swaks.out" 2>&1
ok $? "swaks delivers to alice@acme.example"
grep -q '<-  250 2.0.0 Ok: queued as ' "$WORK/swaks.out"
ok $? "250 2.0.0 Ok: queued as <id>"
is "$(entries acme)" 1 "one entry in acme's queue"
f=$(ls "$SPOOL"/q/acme/new/* | head -1)
id=$(basename "$f")
python3 - "$f" "$WORK/msg.got" "$WORK/rcvd.got" <<'EOF'
import sys
d = open(sys.argv[1], "rb").read()
msg = d.split(b"\n\n", 1)[1]
lines = msg.split(b"\r\n")
rcvd = b"\r\n".join(lines[:3]) + b"\r\n"
open(sys.argv[2], "wb").write(msg[len(rcvd):])
open(sys.argv[3], "wb").write(rcvd)
EOF
cmp -s "$WORK/msg.got" "$WORK/msg.want"
ok $? "stored message = sent message, un-dot-stuffed, X-Envelope-To removed from the header only"
grep -q "^Received: from client.example (localhost \[127.0.0.1\])" "$WORK/rcvd.got" &&
    grep -q "	by hub.test (mailbridge) with ESMTP id $id" "$WORK/rcvd.got" &&
    grep -q "	for <alice@acme.example>; " "$WORK/rcvd.got"
ok $? "Received: header names the client, HELO, host and queue id"
grep -q "^sender <sender@example.org>$" "$f" && grep -q "^rcpt <alice@acme.example>$" "$f"
ok $? "envelope sender and recipient"
grep -q "$id: from=<sender@example.org>, size=[0-9]*, nrcpt=1, client=localhost\[127.0.0.1\], customers=acme" "$LOG"
ok $? "Postfix-style log line for the message"
clear_queues

# ---- bad input: one connection each, exact codes ----
E='EHLO c.example\r\n'
M='MAIL FROM:<s@example.org>\r\n'
R='RCPT TO:<x@ship.example>\r\n'
Q='QUIT\r\n'
case_ "220 500 221" "unknown command: 500, no disconnect" 'FOO\r\n' "$Q"
case_ "220 500 250 221" "empty line: 500" '\r\n' 'NOOP\r\n' "$Q"
case_ "220 503 221" "MAIL before EHLO: 503" "$M" "$Q"
case_ "220 250 503 221" "RCPT before MAIL: 503" "$E" "$R" "$Q"
case_ "220 250 503 221" "DATA before MAIL: 503" "$E" 'DATA\r\n' wait:3 "$Q"
case_ "220 250 250 554 221" "DATA without recipients: 554" "$E" "$M" 'DATA\r\n' wait:4 "$Q"
case_ "220 250 250 550 554 554" "the message sent ahead of DATA's 554: never commands, 554 5.5.0 and closed" \
    "$E$M"'RCPT TO:<x@nowhere.example>\r\nDATA\r\nMAIL FROM:<evil@example.org>\r\n'"$R"'DATA\r\nsmuggled\r\n.\r\n'"$Q"
is "$(entries ship)" 0 "nothing of it queued"
case_ "220 250 250 503 221" "nested MAIL: 503" "$E" "$M" "$M" "$Q"
case_ "220 501 250 221" "EHLO without a name: 501" 'EHLO\r\n' 'NOOP\r\n' "$Q"
case_ "220 250 501 221" "MAIL without <>: 501" "$E" 'MAIL FROM:s@example.org\r\n' "$Q"
case_ "220 250 501 221" "MAIL FROM missing colon: 501" "$E" 'MAIL FROM <s@example.org>\r\n' "$Q"
case_ "220 250 501 221" "sender with two @: 501" "$E" 'MAIL FROM:<a@b@example.org>\r\n' "$Q"
case_ "220 250 501 221" "unterminated sender path: 501" "$E" 'MAIL FROM:<a@example.org\r\n' "$Q"
case_ "220 250 555 221" "unknown MAIL parameter: 555" "$E" 'MAIL FROM:<s@example.org> FOO=BAR\r\n' "$Q"
case_ "220 250 501 221" "bad SIZE value: 501" "$E" 'MAIL FROM:<s@example.org> SIZE=12x\r\n' "$Q"
case_ "220 250 501 221" "bad BODY value: 501" "$E" 'MAIL FROM:<s@example.org> BODY=BINARYMIME\r\n' "$Q"
case_ "220 250 552 221" "SIZE over max-size: 552" "$E" 'MAIL FROM:<s@example.org> SIZE=999999999\r\n' "$Q"
case_ "220 250 502 221" "STARTTLS without a tls section: 502" "$E" 'STARTTLS\r\n' "$Q"
case_ "220 500 221" "STARTTLSX (no such verb): 500" 'STARTTLSX\r\n' "$Q"
case_ "220 250 250 555 221" "unknown RCPT parameter: 555" "$E" "$M" 'RCPT TO:<x@ship.example> FOO=BAR\r\n' "$Q"
case_ "220 250 250 250 221" "RCPT NOTIFY= and ORCPT= (DSN): 250" "$E" "$M" 'RCPT TO:<x@ship.example> NOTIFY=DELAY ORCPT=rfc822;x+2By@ship.example\r\n' "$Q"
case_ "220 250 250 501 221" "bad NOTIFY: 501" "$E" "$M" 'RCPT TO:<x@ship.example> NOTIFY=SOMETIMES\r\n' "$Q"
case_ "220 250 250 501 221" "RCPT without <>: 501" "$E" "$M" 'RCPT TO:x@ship.example\r\n' "$Q"
case_ "220 250 250 501 221" "null recipient: 501" "$E" "$M" 'RCPT TO:<>\r\n' "$Q"
case_ "220 250 250 501 221" "recipient without domain: 501" "$E" "$M" 'RCPT TO:<postmaster>\r\n' "$Q"
case_ "220 250 250 501 221" "local part over 64 octets: 501" "$E" "$M" "RCPT TO:<$(printf '%070d' 0)@ship.example>\r\n" "$Q"
case_ "220 250 250 501 221" "path over 256 octets: 501" "$E" "$M" "RCPT TO:<a@$(printf '%0250d' 0).ship.example>\r\n" "$Q"
case_ "220 250 250 501 221" "8-bit octet in address: 501" "$E" "$M" 'RCPT TO:<\xe9@ship.example>\r\n' "$Q"
case_ "220 501 250 221" "bare LF ends nothing good: 501" 'EHLO c.example\n' 'NOOP\r\n' "$Q"
case_ "220 501 221" "bare CR in a command: 501, not executed" 'NOOP\rQUIT x\r\n' "$Q"
case_ "220 501 250 221" "NUL in a command: 501" 'NO\x00OP\r\n' 'NOOP\r\n' "$Q"
case_ "220 500 250 221" "command line of 3000 octets: 500, session in step" 'NOOP ' 'rep:3000:x' '\r\n' 'NOOP\r\n' "$Q"
case_ "220 250 501 221" "RSET with an argument: 501" "$E" 'RSET now\r\n' "$Q"
case_ "220 501 221" "QUIT with an argument: 501" 'QUIT now\r\n' "$Q"
case_ "220 252 214 250 221" "VRFY 252, HELP 214, NOOP 250" 'VRFY alice\r\n' 'HELP\r\n' 'NOOP\r\n' "$Q"
case_ "220 250 555 221" "parameters after HELO: 555" 'HELO c.example\r\n' 'MAIL FROM:<s@example.org> SIZE=10\r\n' "$Q"
case_ "220 500 500 500 500 500 500 500 500 500 500 421" "ten bad commands in a row: 421" \
    'rep:11:BAD\r\n'
case_ "220 250 250 250 354 550 250 221" "bare LF in the data: 550 at the dot" "$E" "$M" "$R" 'DATA\r\n' 'a\nb\r\n.\r\n' 'NOOP\r\n' "$Q"
case_ "220 250 250 250 354 550 250 221" "LF.CRLF does not end the data (smuggling)" "$E" "$M" "$R" 'DATA\r\n' 'a\r\n\n.\r\nMAIL FROM:<evil@example.org>\r\n.\r\n' 'NOOP\r\n' "$Q"
case_ "220 250 250 250 354 550 250 221" "CR.CR does not end the data" "$E" "$M" "$R" 'DATA\r\n' 'a\r.\r\r\n.\r\n' 'NOOP\r\n' "$Q"
case_ "220 250 250 250 354 554 250 221" "NUL in the data: 554" "$E" "$M" "$R" 'DATA\r\n' 'a\x00b\r\n.\r\n' 'NOOP\r\n' "$Q"
case_ "220 250 250 250 354 552 221" "over max-size without SIZE: 552 at the dot" "$E" "$M" "$R" 'DATA\r\n' 'rep:2000:0123456789012345678901234567890123456789012345678901234567890123\r\n' '.\r\n' "$Q"
case_ "220 250 250 250 250 250 250 250 452 221" "sixth recipient: 452" "$E" "$M" \
    'RCPT TO:<a@ship.example>\r\n' 'RCPT TO:<b@ship.example>\r\n' 'RCPT TO:<c@ship.example>\r\n' \
    'RCPT TO:<d@ship.example>\r\n' 'RCPT TO:<e@ship.example>\r\n' 'RCPT TO:<f@ship.example>\r\n' "$Q"
grep -q 'reject: RCPT from localhost\[127.0.0.1\]: 452 4.5.3 ' "$LOG"
ok $? "452 4.5.3 logged as a reject"
is "$(entries ship)" 0 "nothing of the refused messages was queued"
is "$(ls "$SPOOL"/q/ship/tmp | wc -l | tr -d ' ')" 0 "no tmp leftovers"
case_ "220 250 250 250 354 250 250 250 250 250 250 354 250 221" "pipelined transactions, replies in order" \
    "$E$M$R"'DATA\r\n' 'x\r\n.\r\n'"$M"'RCPT TO:<y@ship.example>\r\nRSET\r\n'"$M$R"'DATA\r\n' 'y\r\n.\r\n' "$Q"
is "$(entries ship)" 2 "two pipelined messages queued"
clear_queues
# Real mail has lines over 998 octets (RFC 5322's limit; 41 in the
# corpus): they are kept as they are, bounded only by max-size.
case_ "220 250 250 250 354 250 250 221" "line of 999 octets: accepted" "$E" "$M" "$R" 'DATA\r\n' 'rep:999:y' '\r\n.\r\n' 'NOOP\r\n' "$Q"
case_ "220 250 250 250 354 250 250 221" "line of 70000 octets: accepted, session in step" "$E" "$M" "$R" 'DATA\r\n' 'rep:70000:y' '\r\n.\r\n' 'NOOP\r\n' "$Q"
is "$(longlines y 70000 "$SPOOL"/q/ship/new/*)" 1 "the 70000-octet line is kept intact"
clear_queues

# ---- relay attempts: none accepted ----
relay() {	# relay ADDRESS DESCRIPTION
	idle
	_got=$($CLIENT "$PORT" "$E" "$M" "RCPT TO:<$1>\\r\\n" "$Q")
	case "$_got" in
	"220 250 250 5"??" 221") pass "relay refused: $2 ($_got)" ;;
	*) fail "relay refused: $2"; diag "got: $_got" ;;
	esac
}
relay 'user%other.example@ship.example' "percent hack"
relay 'user@other.example@ship.example' "two @"
relay '@ship.example:user@other.example' "source route"
relay '@ship.example,@acme.example:user@other.example' "source route list"
relay 'other.example!user@ship.example' "bang path"
relay '"user@other.example"@ship.example' "quoted @"
relay 'user@[127.0.0.1]' "address literal"
relay 'user@[IPv6:::1]' "IPv6 literal"
relay 'user@other.example' "domain that is not ours"
relay 'user@ship.example.other.example' "our domain as a prefix"
relay 'user@notship.example' "our domain as a suffix"
relay 'user@example' "parent of our domain"
relay 'carol@acme.example' "user not in acme's list"
relay 'a@gone.example' "error route"
idle
is "$($CLIENT "$PORT" "$E" "$M" 'RCPT TO:<a@later.example>\r\n' "$Q")" "220 250 250 450 221" "temporary error route: 450"
is "$($CLIENT -v "$PORT" "$E" "$M" 'RCPT TO:<x@other.example>\r\n' "$Q" 2>&1 | grep -c '550 5.7.1 <x@other.example>: Relay access denied')" 1 "550 5.7.1 relay access denied"
grep -q 'reject: RCPT from localhost\[127.0.0.1\]: 550 5.7.1 <x@other.example>: Relay access denied; from=<s@example.org> to=<x@other.example>' "$LOG"
ok $? "relay attempt logged Postfix-style"
is "$(cat "$SPOOL"/q/*/new/* 2>/dev/null | wc -c | tr -d ' ')" 0 "no relay attempt reached a queue"
idle
is "$($CLIENT "$PORT" "$E" "$M" 'RCPT TO:<SHIP@SHIP.EXAMPLE.>\r\n' 'RCPT TO:<ALICE@Sub.ACME.example>\r\n' 'DATA\r\n' 'case\r\n.\r\n' "$Q")" \
    "220 250 250 250 250 354 250 221" "USER@OURS. and a subdomain accepted"
is "$(entries ship) $(entries acme)" "1 1" "each into the queue of its own customer"
grep -q '^rcpt <SHIP@ship.example>$' "$SPOOL"/q/ship/new/* && grep -q '^rcpt <ALICE@sub.acme.example>$' "$SPOOL"/q/acme/new/*
ok $? "domain lower-cased, trailing dot dropped, local part kept"
idle
is "$($CLIENT "$PORT" "$E" "$M" 'RCPT TO:<"alice"@acme.example>\r\n' 'RCPT TO:<"carol"@acme.example>\r\n' 'DATA\r\n' 'quoted\r\n.\r\n' "$Q")" \
    "220 250 250 250 550 354 250 221" '"alice"@ is alice, in acme'"'"'s list ("carol"@ is not)'
grep -q '^rcpt <alice@acme.example>$' "$SPOOL"/q/acme/new/*
ok $? "queued without the quotes"

# ---- several customers, one message ----
clear_queues
idle
is "$($CLIENT "$PORT" "$E" "$M" 'RCPT TO:<alice@acme.example>\r\n' 'RCPT TO:<x@ship.example>\r\n' 'RCPT TO:<bob@acme.example>\r\n' 'DATA\r\n' 'Subject: two customers\r\n\r\nhello\r\n.\r\n' "$Q")" \
    "220 250 250 250 250 250 354 250 221" "one message for acme and ship"
is "$(ls "$SPOOL/q/acme/new") $(entries acme)" "$(ls "$SPOOL/q/ship/new") 1" "one entry per customer, the same queue id"
grep -c '^rcpt ' "$SPOOL"/q/acme/new/* | grep -qx 2 && grep -c '^rcpt ' "$SPOOL"/q/ship/new/* | grep -qx 1
ok $? "each entry lists only its customer's recipients"
a=$(sed '1,/^$/d' "$SPOOL"/q/acme/new/*) s=$(sed '1,/^$/d' "$SPOOL"/q/ship/new/*)
is "$a" "$s" "the same message octets in both"
grep -q "customers=acme,ship" "$LOG"
ok $? "log line names both customers"
clear_queues

# ---- quota ----
idle
is "$($CLIENT "$PORT" "$E" 'MAIL FROM:<s@example.org> SIZE=100\r\n' 'RCPT TO:<x@tiny.example>\r\n' "$Q")" "220 250 250 452 221" "over quota at RCPT (SIZE=): 452"
idle
is "$($CLIENT -v "$PORT" "$E" "$M" 'RCPT TO:<x@tiny.example>\r\n' 'DATA\r\n' 'some text\r\n.\r\n' "$Q" 2>&1 | grep -c '^<- 452 4.2.2 ')" 1 "over quota at the dot: 452 4.2.2"
is "$(entries tiny)" 0 "nothing queued over quota"

# ---- LMTP on the unix socket ----
idle
is "$($CLIENT "unix:$LMTP" 'EHLO c\r\n' 'LHLO c.example\r\n' "$M" 'RCPT TO:<alice@acme.example>\r\n' 'RCPT TO:<x@other.example>\r\n' 'RCPT TO:<x@ship.example>\r\n' 'RCPT TO:<x@ship.example>\r\n' 'DATA\r\n' 'lmtp\r\n.\r\n' "$Q")" \
    "220 500 250 250 250 550 250 250 354 250 250 250 221" "LMTP: EHLO refused, one reply per accepted recipient"
is "$(entries acme) $(entries ship)" "1 1" "LMTP entries queued"
grep -q '^protocol LMTP$' "$SPOOL"/q/ship/new/*
ok $? "protocol LMTP in the envelope"
if swaks --socket "$LMTP" --protocol LMTP --from s@example.org --to x@ship.example,y@ship.example >"$WORK/swaks-lmtp.out" 2>&1; then
	is "$(grep -c '<-  250 2.0.0' "$WORK/swaks-lmtp.out")" 2 "swaks LMTP: two per-recipient 250s"
else
	fail "swaks LMTP"
fi
clear_queues

# ---- max-clients ----
idle
rm -f "$WORK"/hold*
holders=
for i in 1 2 3 4; do
	$CLIENT --hold "$PORT" wait:1 "touch:$WORK/hold$i" "waitfile:$WORK/release" "$Q" >"$WORK/hold$i.out" &
	holders="$holders $!"
done
for i in 1 2 3 4; do wait_file "$WORK/hold$i" 10; done
is "$($CLIENT -v "$PORT" 2>&1 | grep -c '^<- 421 4.3.2 hub.test too many connections')" 1 "fifth client: 421 4.3.2"
touch "$WORK/release"
wait $holders
is "$(cat "$WORK"/hold1.out "$WORK"/hold4.out | tr '\n' ' ')" "220 221 220 221 " "the four held sessions went on"

# ---- a slow client does not delay another ----
idle
rm -f "$WORK/slow" "$WORK/fastdone"
$CLIENT "$PORT" "$E" wait:2 'MAIL FROM:<slow@exa' "touch:$WORK/slow" "waitfile:$WORK/fastdone" 'mple.org>\r\n' "$Q" >"$WORK/slow.out" &
slow=$!
wait_file "$WORK/slow" 10
swaks --server "127.0.0.1:$PORT" --from fast@example.org --to x@ship.example >/dev/null 2>&1
ok $? "a second client delivers while the first is stuck in a line"
touch "$WORK/fastdone"
wait $slow
is "$(cat "$WORK/slow.out")" "220 250 250 221" "the slow client finishes afterwards"
clear_queues

# ---- SIGHUP with a session open ----
idle
rm -f "$WORK/s1" "$WORK/s2"
$CLIENT "$PORT" "$E" "$M" 'RCPT TO:<x@ship.example>\r\n' wait:3 "touch:$WORK/s1" "waitfile:$WORK/s2" \
    'RCPT TO:<x@new.example>\r\n' 'DATA\r\n' 'across a reload\r\n.\r\n' "$Q" >"$WORK/hup.out" &
hup=$!
wait_file "$WORK/s1" 10
echo 'new.example		ship' >>"$ROUTES"
reload
ok $? "SIGHUP: reloaded"
is "$($CLIENT "$PORT" "$E" "$M" 'RCPT TO:<x@new.example>\r\n' "$Q")" "220 250 250 250 221" "a route added takes effect for new sessions"
touch "$WORK/s2"
wait $hup
# routing is the lookup process's: it reloads with the master, so the
# open session takes the new route too (as Postfix's trivial-rewrite)
is "$(cat "$WORK/hup.out")" "220 250 250 250 250 354 250 221" "the open session goes on across the reload, routed by the new config, and delivers"
is "$(entries ship)" 1 "its message is queued"
echo 'this is { not a config' >"$CONF"
reload
ok $? "SIGHUP with a broken config"
grep -q 'reload failed: keeping the old configuration' "$LOG"
ok $? "broken config: logged, old one kept"
idle
is "$($CLIENT "$PORT" "$E" "$M" 'RCPT TO:<x@new.example>\r\n' "$Q")" "220 250 250 250 221" "still serving with the old config"
clear_queues

# ---- min-free and idle timeout, by reload ----
MINFREE=1000000G
write_conf
reload
idle
is "$($CLIENT "$PORT" "$E" "$M" 'RCPT TO:<x@ship.example>\r\n' \
    'RCPT TO:<y@ship.example>\r\n' "$Q")" "220 250 250 452 452 221" \
    "free space under min-free: MAIL 250, then 452 at each RCPT"
is "$($CLIENT -v "$PORT" "$E" "$M" 'RCPT TO:<x@ship.example>\r\n' "$Q" 2>&1 |
    grep -c '^<- 452 4.3.1 <x@ship.example>: Insufficient system storage')" 1 \
    "... 452 4.3.1 Insufficient system storage, naming the recipient"
is "$(entries ship)" 0 "nothing queued then"
MINFREE=1M
TIMEOUT=2s
write_conf
reload
idle
is "$($CLIENT -v --hold --timeout 15 "$PORT" "$E" 2>&1 | grep -c '^<- 421 4.4.2 hub.test')" 1 "idle client: 421 4.4.2 after the timeout"
TIMEOUT=30s
write_conf
reload

# ---- SIGTERM in the middle of DATA ----
idle
rm -f "$WORK/mid"
$CLIENT --hold "$PORT" "$E" "$M" "$R" 'DATA\r\n' wait:5 'Subject: cut short\r\n\r\nhalf a mess' "touch:$WORK/mid" >"$WORK/term.out" &
term=$!
wait_file "$WORK/mid" 10
sleep 0.2
kill -TERM "$PID"
wait $term
is "$(cat "$WORK/term.out")" "220 250 250 250 354 421" "SIGTERM mid-DATA: 421"
wait "$PID"
ok $? "bridged exits 0 after SIGTERM"
is "$(entries ship)" 0 "nothing in new/ from the aborted transaction"
is "$(ls "$SPOOL"/q/ship/tmp | wc -l | tr -d ' ')" 0 "the session removed its tmp file"
echo leftover >"$SPOOL/q/ship/tmp/0000000000000.0000.0"
chown "$HUBUSER:" "$SPOOL/q/ship/tmp/0000000000000.0000.0"
start
ok $? "bridged restarts"
is "$(ls "$SPOOL"/q/ship/tmp | wc -l | tr -d ' ')" 0 "tmp/ leftovers removed at start"

# ---- bridge-enqueue (through the hub's <spool>/enqueue) ----
is "$(stat -c '%a %U %F' "$SPOOL/enqueue")" "600 $HUBUSER socket" \
    "<spool>/enqueue: a socket, 0600, the hub user's"
printf 'Subject: piped\nX-Envelope-To: forged@ship.example\n\nbody line\n' |
    bridge-enqueue -c "$CONF" -f sender@example.org -- x@ship.example y@acme.example 2>/dev/null
is "$?" 67 "bridge-enqueue: one unknown recipient (y@acme) refuses the message: 67"
is "$(entries ship)" 0 "nothing queued then"
printf 'Subject: piped\nX-Envelope-To: forged@ship.example\n\nbody line\n' |
    bridge-enqueue -c "$CONF" -f sender@example.org -- x@ship.example alice@acme.example 2>"$WORK/enq.err"
is "$?" 0 "bridge-enqueue: exit 0"
f=$(ls "$SPOOL"/q/ship/new/* | head -1)
python3 - "$f" "$WORK/enq.msg" "$WORK/enq.body" <<'EOF'
import sys
d = open(sys.argv[1], "rb").read()
msg = d.split(b"\n\n", 1)[1]
open(sys.argv[2], "wb").write(msg)
open(sys.argv[3], "wb").write(msg[msg.index(b"\r\nSubject:") + 2:])
EOF
printf 'Subject: piped\r\n\r\nbody line\r\n' >"$WORK/enq.want"
cmp -s "$WORK/enq.body" "$WORK/enq.want"
ok $? "entry: LF made CRLF, X-Envelope-To removed"
head -c 200 "$WORK/enq.msg" | grep -q "^Received: by hub.test (mailbridge) with pipe id $(basename "$f")"
ok $? "Received: by hub.test (mailbridge) with pipe id <id>"
grep -q '^protocol pipe$' "$f"
ok $? "protocol pipe in the envelope"
is "$(ls "$SPOOL/q/acme/new")" "$(basename "$f")" "the same id in acme's queue"
printf 'x\n' | bridge-enqueue -c "$CONF" -f s@example.org -- x@other.example 2>"$WORK/enq.err"
is "$?" 67 "not ours: 67"
grep -q 'x@other.example' "$WORK/enq.err"
ok $? "the error names the recipient"
printf 'x\n' | bridge-enqueue -c "$CONF" -f s@example.org -- 'a%b@ship.example' 2>/dev/null
is "$?" 67 "routing trick: 67"
printf 'x\n' | bridge-enqueue -c "$CONF" -f s@example.org -- carol@acme.example 2>/dev/null
is "$?" 67 "unknown user: 67"
printf 'x\0y\n' | bridge-enqueue -c "$CONF" -f s@example.org -- x@ship.example 2>/dev/null
is "$?" 65 "NUL: 65"
python3 -c 'print("z" * 70000)' | bridge-enqueue -c "$CONF" -f s@example.org -- x@ship.example 2>/dev/null
is "$?" 0 "line of 70000 octets: kept (real mail has long lines)"
is "$(longlines z 70000 "$SPOOL"/q/ship/new/*)" 1 "and stored intact with CRLF"
printf 'x\n' | bridge-enqueue -c "$CONF" -f s@example.org -- x@tiny.example 2>/dev/null
is "$?" 75 "over quota: 75"
printf 'x\n' | bridge-enqueue -c "$CONF" -f s@example.org -- x@later.example 2>/dev/null
is "$?" 75 "temporary error route: 75"
printf 'x\n' | bridge-enqueue -c "$CONF" -f s@example.org 2>/dev/null
is "$?" 64 "no recipient: 64"
printf 'x\n' | bridge-enqueue -c "$WORK/none.conf" -f s@example.org -- x@ship.example 2>/dev/null
is "$?" 78 "no config: 78"
is "$(entries ship) $(entries tiny)" "2 0" "only the accepted messages were queued"
n=$(find "$SPOOL/q" -user root | wc -l | tr -d ' ')
is "$n" 0 "bridge-enqueue as root wrote nothing in q/ itself"
printf 'x\n' | setpriv --reuid="$HUBUSER" --regid="$(id -g "$HUBUSER")" \
    --clear-groups bridge-enqueue -c "$CONF" -f s@example.org -- \
    x@ship.example 2>"$WORK/enq.err"
is "$?" 0 "bridge-enqueue as the spool's owner: exit 0"
printf 'x\n' | setpriv --reuid="$SESSUSER" --regid="$(id -g "$SESSUSER")" \
    --clear-groups bridge-enqueue -c "$CONF" -f s@example.org -- \
    x@ship.example 2>"$WORK/enq.err"
is "$?" 77 "bridge-enqueue as another user: 77"
grep -q "permission denied.*spool's owner" "$WORK/enq.err"
ok $? "and it says whom to run as ($(cat "$WORK/enq.err"))"
stop
printf 'x\n' | bridge-enqueue -c "$CONF" -f s@example.org -- x@ship.example \
    2>"$WORK/enq.err"
is "$?" 75 "the hub stopped: 75, the MTA keeps the mail"
grep -q "the hub is not running" "$WORK/enq.err"
ok $? "and it says so ($(cat "$WORK/enq.err"))"
is "$(entries ship)" 3 "nothing queued then"
