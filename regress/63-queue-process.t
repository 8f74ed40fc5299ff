#!/bin/sh
# 63-queue-process.t - bridged's queue process (issue 10): started as
# root, the hub runs "bridged -x queue" as its user, a child of the
# master, and the sessions' mail reaches q/ through it; killed, it is
# restarted and mail flows again, while a message caught mid-DATA gets
# a 4xx and nothing of it reaches new/; SIGTERM to bridged stops it
# too; nobody can start it by hand as root.
. "$(dirname "$0")/lib.sh"
. "$TOP/regress/hubrun.sh"
hub_require
require pgrep
CLIENT="python3 $TOP/regress/smtpclient.py"

hub_init
hub_start || { fail "bridged started"; exit 1; }
pass "bridged started as root"

queue_pid() {
	pgrep -P "$HUB_PID" -f -- 'bridged -x queue' | head -1
}
QPID=$(queue_pid)
[ -n "$QPID" ]
ok $? "the master has a queue process child (pid ${QPID:-none})"
is "$(ps -o user= -p "$QPID" 2>/dev/null | tr -d ' ')" "$(id -nu "$HUB_USER")" \
    "it runs as the hub's user"
is "$(ps -o user= -p "$HUB_PID" | tr -d ' ')" "$(id -nu "$HUB_USER")" \
    "so does the master"

E='EHLO c.example\r\n'
M='MAIL FROM:<s@example.org>\r\n'
R='RCPT TO:<alice@acme.example>\r\n'
D='DATA\r\n'
B='Subject: through the queue\r\n\r\nhello\r\n.\r\n'
Q='QUIT\r\n'
is "$($CLIENT "$HUB_PORT" "$E" "$M" "$R" 'RCPT TO:<bob@ship.example>\r\n' \
    "$D" wait:5 "$B" "$Q")" "220 250 250 250 250 354 250 221" \
    "a message for two customers: 250"
v=$(hub_verify acme ship)
case $v in *acme.good=1*ship.good=1*) pass "one entry in each queue ($v)" ;;
*) fail "one entry in each queue ($v)" ;; esac
is "$(ls "$HUB_SPOOL/q/acme/new" | sort)" "$(ls "$HUB_SPOOL/q/ship/new" | sort)" \
    "with the same queue id"
is "$($CLIENT "unix:$HUB_LMTP" 'LHLO c\r\n' "$M" "$R" "$D" wait:4 "$B" "$Q")" \
    "220 250 250 250 354 250 221" "LMTP goes through the queue too"

# a session caught in DATA when the queue process dies
rm -f "$WORK/mid"
$CLIENT --timeout 20 "$HUB_PORT" "$E" "$M" "$R" "$D" wait:4 \
    'Subject: cut\r\n\r\nfirst half\r\n' "touch:$WORK/mid" \
    "waitfile:$WORK/go" 'second half\r\n.\r\n' wait:1 "$Q" >"$WORK/cut.out" &
cut=$!
wait_file "$WORK/mid" 10
sleep 0.3
before=$(ls "$HUB_SPOOL/q/acme/new" | wc -l)
kill -9 "$QPID"
touch "$WORK/go"
wait $cut
is "$(cat "$WORK/cut.out")" "220 250 250 250 354 451 221" \
    "the queue killed mid-DATA: 451 at the dot"
is "$(ls "$HUB_SPOOL/q/acme/new" | wc -l)" "$before" "and nothing of it in new/"
wait_for 10 grep -q "queue process $QPID died of signal 9; restarting" "$HUB_LOG"
ok $? "the master logged the death"
new_queue() { n=$(queue_pid); [ -n "$n" ] && [ "$n" != "$QPID" ]; }
wait_for 10 new_queue
ok $? "and started a new queue process ($(queue_pid))"
is "$($CLIENT "$HUB_PORT" "$E" "$M" "$R" "$D" wait:3 "$B" "$Q")" \
    "220 250 250 250 354 250 221" "mail is accepted again"
is "$(ls "$HUB_SPOOL/q/acme/new" | wc -l)" "$((before + 1))" "and queued"
kill -0 "$HUB_PID"
ok $? "the master lives on"

# nobody starts it by hand as root
bridged -x queue -d </dev/null >"$WORK/byhand.out" 2>&1
is $? 64 "bridged -x queue by hand as root: exit 64"
grep -q "not a process of bridged" "$WORK/byhand.out"
ok $? "saying why ($(head -1 "$WORK/byhand.out"))"

# SIGTERM: the master and the queue process go
QPID=$(queue_pid)
hub_stop
gone() { ! kill -0 "$QPID" 2>/dev/null; }
wait_for 10 gone
ok $? "SIGTERM to bridged: the queue process is gone too"
is "$(ls "$HUB_SPOOL/q/acme/tmp" | wc -l)" 0 "it left nothing in tmp/"
