#!/bin/sh
# 65-session-pool.t - bridged's session processes and lookup process
# (issue 10): sessions run in "bridged -x session" processes, exec'd by
# the root spawner (a child of the master) and running as the session
# user, each reused for connection after
# connection (no fork per connection); concurrent clients get
# processes of their own; a session process killed mid-session loses
# only its client, and the next client is served; after SIGHUP the
# processes that served before retire; the lookup process (also the
# spawner's child, as the lookup user), killed in the middle of a
# session, makes that session answer 451 and is started again by the
# spawner, and mail flows.
. "$(dirname "$0")/lib.sh"
. "$TOP/regress/hubrun.sh"
hub_require
require pgrep ss
CLIENT="python3 $TOP/regress/smtpclient.py"

hub_init
hub_start || { fail "bridged started"; exit 1; }
E='EHLO c.example\r\n'
M='MAIL FROM:<s@example.org>\r\n'
R='RCPT TO:<alice@acme.example>\r\n'
D='DATA\r\n'
B='Subject: pool\r\n\r\nhello\r\n.\r\n'
Q='QUIT\r\n'

# holder: the pid of the session process serving the one open client
holder() {
	ss -Htnp state established "( sport = :$HUB_PORT )" 2>/dev/null |
	    sed -n 's/.*"bridged",pid=\([0-9]*\),.*/\1/p' | sort -u
}
# hold N: a client that waits after EHLO until $WORK/go$N exists; it is
# ready once the greeting and the EHLO reply have come, so a session
# process holds it (before, it may still be in the listen queue or in
# flight to a process being started, held by none)
hold() {
	rm -f "$WORK/ready$1" "$WORK/go$1"
	$CLIENT --timeout 30 "$HUB_PORT" "$E" wait:2 "touch:$WORK/ready$1" \
	    "waitfile:$WORK/go$1" "$Q" >"$WORK/hold$1.out" &
	eval "hpid$1=\$!"
	wait_file "$WORK/ready$1" 10
}
release() { touch "$WORK/go$1"; eval "wait \$hpid$1"; }

hold 1
p1=$(holder)
[ -n "$p1" ] && tr '\0' ' ' <"/proc/$p1/cmdline" | grep -q 'bridged -x session'
ok $? "a client is served by a session process, bridged -x session ($p1)"
SP=$(ps -o ppid= -p "$p1" | tr -d ' ')
is "$(ps -o ppid= -p "$SP" | tr -d ' ')" "$HUB_PID" \
    "a child of the spawner, a child of the master"
is "$(ps -o user= -p "$SP" | tr -d ' ')" root "the spawner is root's"
is "$(ps -o user= -p "$p1" | tr -d ' ')" "$HUB_SESSION_USER" \
    "the session runs as the session user"
release 1
hold 2
p2=$(holder)
release 2
is "$p2" "$p1" "the next client is served by the same process: no fork per connection"
ok_all=1
i=0
while [ $i -lt 20 ]; do
	[ "$($CLIENT "$HUB_PORT" "$E" "$M" "$R" "$D" wait:3 "$B" "$Q")" = \
	    "220 250 250 250 354 250 221" ] || ok_all=0
	i=$((i + 1))
done
is "$ok_all" 1 "20 messages one after the other: each 250"
is "$(ls "$HUB_SPOOL/q/acme/new" | wc -l)" 20 "and each queued"
n=$(pgrep -P "$SP" -f -- 'bridged -x session' | wc -l)
[ "$n" -ge 1 ] && [ "$n" -le 2 ]
ok $? "served by $n session processes"

# concurrent clients: a process each
for k in 3 4 5 6; do hold $k; done
is "$(holder | wc -l)" 4 "four clients at once: four session processes"
for k in 3 4 5 6; do release $k; done

# a session process killed mid-session
hold 7
p7=$(holder)
kill -9 "$p7"
release 7
is "$(cat "$WORK/hold7.out")" "220 250" "killed mid-session: its client loses the connection"
wait_for 10 grep -q "session $p7 died of signal 9 during a session" "$HUB_LOG"
ok $? "the master logged it"
is "$($CLIENT "$HUB_PORT" "$E" "$M" "$R" "$D" wait:3 "$B" "$Q")" \
    "220 250 250 250 354 250 221" "the next client is served"

# the lookup process killed mid-session
LPID=$(pgrep -P "$SP" -f -- 'bridged -x lookup' | head -1)
rm -f "$WORK/mid" "$WORK/go"
$CLIENT --timeout 20 "$HUB_PORT" "$E" "$M" wait:3 "touch:$WORK/mid" "waitfile:$WORK/go" \
    "$R" "$Q" >"$WORK/lk.out" &
lk=$!
wait_file "$WORK/mid" 10
kill -9 "$LPID"
sleep 0.3
touch "$WORK/go"
wait $lk
is "$(cat "$WORK/lk.out")" "220 250 250 451 221" \
    "the lookup killed mid-session: the next RCPT gets 451"
grep -q "451 4.3.0 Temporary lookup failure" "$HUB_LOG" ||
    grep -q "the lookup process did not answer" "$HUB_LOG"
ok $? "the session logged it"
wait_for 10 grep -q "lookup process $LPID died of signal 9; restarting" "$HUB_LOG"
ok $? "the master logged the death"
new_lookup() { n=$(pgrep -P "$SP" -f -- 'bridged -x lookup' | head -1); [ -n "$n" ] && [ "$n" != "$LPID" ]; }
wait_for 10 new_lookup
ok $? "and started a new lookup process"
is "$($CLIENT "$HUB_PORT" "$E" "$M" "$R" "$D" wait:3 "$B" "$Q")" \
    "220 250 250 250 354 250 221" "mail is accepted again"

# SIGHUP: the processes that served before retire
old=$(pgrep -P "$SP" -f -- 'bridged -x session' | tr '\n' ' ')
kill -HUP "$HUB_PID"
wait_for 10 grep -q "^bridged: reloaded" "$HUB_LOG"
gone() { for p in $old; do kill -0 "$p" 2>/dev/null && return 1; done; return 0; }
wait_for 10 gone
ok $? "after SIGHUP the idle session processes exit ($old)"
hold 8
p8=$(holder)
release 8
case " $old " in *" $p8 "*) fail "a new process serves after the reload ($p8)" ;;
*) pass "a new process serves after the reload ($p8)" ;; esac
hub_stop
ok $? "bridged stops"
left=$(pgrep -f -- "bridged -x session -c $HUB_CONF" | wc -l)
is "$left" 0 "no session process is left"
! kill -0 "$SP" 2>/dev/null
ok $? "nor the spawner"
