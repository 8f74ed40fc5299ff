#!/bin/sh
# 61-compromised-session.t - a session taken over (issue 10): the test
# takes the queue and lookup sockets out of a live SMTP session of the
# real hub (pidfd_getfd, as root; regress/qhostile.py) and sends what a
# compromised session could.  To the queue: a client line with another
# address, data or a commit for an entry it never opened, recipients
# without an envelope, the id of an entry already queued instead of its
# ticket, a customer name that is a path, a descriptor, an unknown
# message, a recipient without the lookup's verdict or with another
# recipient's.  The queue process must cut each off and log why, queue
# nothing and leave the entries already queued as they were; the
# session's own next message then gets 451 at DATA.  To the lookup: a
# flush request of its own (only the lookup process asks the master),
# an AUTH answer to no challenge, ATRN on the SMTP listener: cut off
# and logged, no flush; an ETRN for a node whose etrn-from does not
# hold the peer's address: 459, decided on the address the master saw.
# A message the session queues in due form gets an id the queue chose,
# never one that replaces an entry.
. "$(dirname "$0")/lib.sh"
. "$TOP/regress/hubrun.sh"
hub_require
require pgrep sha256sum ss
CLIENT="python3 $TOP/regress/smtpclient.py"
HOSTILE="python3 $TOP/regress/qhostile.py"

hub_init 'customer "vault" { release = {"etrn"} deliver-to = {"127.0.0.1:9"} etrn-from = {"192.0.2.0/24"} }'
echo 'vault.example		vault' >>"$HUB_ROUTES"
hub_start || { fail "bridged started"; exit 1; }
E='EHLO c.example\r\n'
M='MAIL FROM:<s@example.org>\r\n'
R='RCPT TO:<alice@acme.example>\r\n'
D='DATA\r\n'
Q='QUIT\r\n'
is "$($CLIENT "$HUB_PORT" "$E" "$M" "$R" "$D" wait:4 \
    'Subject: victim\r\n\r\nan honest message\r\n.\r\n' "$Q")" \
    "220 250 250 250 354 250 221" "an honest message queued first"
sums() { (cd "$HUB_SPOOL/q/acme/new" && sha256sum * 2>/dev/null); }
before=$(sums)
victim=$(ls "$HUB_SPOOL/q/acme/new" | head -1)

# session_pid: the session process holding the client's connection
# (the session processes are a pool: the one with the TCP socket)
session_pid() {
	ss -Htnp state established "( sport = :$HUB_PORT )" 2>/dev/null |
	    sed -n 's/.*"bridged",pid=\([0-9]*\),.*/\1/p' | head -1
}
n=0
# hostile CASE LOG-WORDS: one session per case; it waits after EHLO,
# the test plays it, then the session tries its own message
hostile() {
	n=$((n + 1))
	rm -f "$WORK/ready$n" "$WORK/go$n"
	$CLIENT --timeout "${CT:-30}" "$HUB_PORT" "$E" wait:2 "touch:$WORK/ready$n" \
	    "waitfile:$WORK/go$n" "$M" "$R" "$D" wait:3 "$Q" >"$WORK/s$n.out" &
	cpid=$!
	wait_file "$WORK/ready$n" 10
	sp=$(session_pid)
	$HOSTILE "$sp" "$@" >"$WORK/h$n.out" 2>&1
	touch "$WORK/go$n"
	wait $cpid
}

for c in peer:"claims another peer address" \
    data:"data for an entry it does not have" \
    rcpt:"recipients without an envelope" \
    commit:"commit of an entry it does not have" \
    path:"bad customer name" "id $victim":"an id it was not given" \
    fd:"sent a descriptor" \
    unknown:"unknown message" \
    notoken:"a recipient without the lookup's verdict" \
    othertoken:"a recipient without the lookup's verdict"; do
	case_=${c%%:*} words=${c#*:}
	hostile $case_
	grep -q '^closed$' "$WORK/h$n.out"
	ok $? "$case_: the queue cut the session off ($(tr '\n' ' ' <"$WORK/h$n.out"))"
	grep -q "queue: session [0-9]* (127.0.0.1): $words: cut off" "$HUB_LOG"
	ok $? "$case_: logged \"$words\""
	is "$(cat "$WORK/s$n.out")" "220 250 250 250 451 221" \
	    "$case_: the session's own message then gets 451 at DATA"
done

# the lookup's side: cut off (the session's MAIL then gets 451), or
# refused on the address the master recorded
for c in lflush:"unknown message" \
    lanswer:"an AUTH answer without a challenge" \
    latrn:"ATRN on another listener"; do
	case_=${c%%:*} words=${c#*:}
	hostile $case_
	grep -q '^closed$' "$WORK/h$n.out"
	ok $? "$case_: the lookup cut the session off ($(tr '\n' ' ' <"$WORK/h$n.out"))"
	grep -q "lookup: session [0-9]* (127.0.0.1): $words: cut off" "$HUB_LOG"
	ok $? "$case_: logged \"$words\""
	is "$(cat "$WORK/s$n.out")" "220 250 451 503 503 221" \
	    "$case_: the session's own MAIL then gets 451"
done
grep -q "flush started" "$HUB_LOG"
ok $((! $?)) "no flush was started for the session's own request"
hostile letrn
is "$(head -1 "$WORK/h$n.out")" "reply 459" \
    "an ETRN for a node the peer has no right to: 459"
! grep -q "vault: flush\|vault: ETRN" "$HUB_LOG"
ok $? "and no flush for it"
is "$(sums)" "$before" "the queued entries are untouched"
is "$(ls "$HUB_SPOOL/q/acme/tmp" | wc -l)" 0 "nothing left in tmp/"
[ ! -e "$WORK/hub/etc" ] && [ ! -e "$HUB_SPOOL/etc" ]
ok $? "no queue made for a path"

# a message in due form: queued, under an id of the queue's choosing
# (the test took the session's next ticket too: its own client is not
# waited for)
CT=3 hostile queue
id=$(sed -n 's/^id //p' "$WORK/h$n.out")
grep -q '^answer committed 0$' "$WORK/h$n.out" && [ -n "$id" ] &&
    [ -f "$HUB_SPOOL/q/acme/new/$id" ]
ok $? "a compromised session can queue a message, as any client can ($id)"
grep -q "^client c.example \[127.0.0.1\]$" "$HUB_SPOOL/q/acme/new/$id"
ok $? "with the peer's own address in its envelope"
for line in $before; do
	case $line in *[!0-9a-f]*) old=$line ;; *) continue ;; esac
	[ "$old" != "$id" ] || fail "the queue gave an existing id"
done
is "$(cd "$HUB_SPOOL/q/acme/new" && sha256sum $(echo "$before" | awk '{print $2}'))" \
    "$before" "the earlier entries are still untouched"
hub_stop
