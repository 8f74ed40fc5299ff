#!/bin/sh
# 75-linkup-link.t - the daemon watching the link by itself, against
# our hub's ODMR listener reached through the delay line
# (delayline.py), which is the link: `link { probe every }` finds it
# up and the daemon runs; the line cut (the delay line stopped), two
# failed probes make it down, and mail queued meanwhile waits; the
# line restored, the probe's up transition runs the hub at once.
# Then the thrift keys, with the test clock (BRIDGE_LINKUP_CLOCK):
# `online-deadline` passes without mail and `link { down-command }`
# hangs up, once; the next `poll` still calls (dial on demand) and
# the deadline hangs up again after it.  Last `max-online`: a run
# that would take longer is stopped (75, said in status), nothing is
# lost, and the next run brings the rest, every message once.  With
# `backoff { give-up }` reached, each failure is a warning and the
# retries go on.  The hub
# is called "status", like the status file's lock: its run lock must
# be another file.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hubrun.sh"
hub_require
require bridge-linkup
FT=$TOP/regress/flushtool
[ -x "$FT" ] || { fail "regress/flushtool is built"; exit 1; }
CORPUS=$(corpus_dir) || { fail "corpus"; exit 1; }
DL=
for d in "$TOP/../shared/tools" /work/shared/tools; do
	[ -f "$d/delayline.py" ] && DL=$d/delayline.py && break
done
[ -n "$DL" ] || { fail "delayline.py (../shared/tools)"; exit 1; }

export TZ=UTC
count() { ls "$1" 2>/dev/null | wc -l | tr -d ' '; }
queued() { count "$HUB_SPOOL/q/acme/new"; }
atrns() { grep -c "odmr: acme: .*: ATRN" "$HUB_LOG"; }
delivered() { ls "$WORK/mta" | grep -c '\.msg$'; }
enqueue() {	# enqueue FIRST N: corpus messages FIRST.. for acme at the hub
	find "$CORPUS/hard-ham-1" -type f -name '*.eml' | sort |
	    sed -n "$1,$(($1 + $2 - 1))p" |
	    xargs "$FT" enqueue -f s@example.org "$HUB_SPOOL" acme \
	    u@acme.example >/dev/null
}

# --- the peers ---------------------------------------------------------
MTA=$(free_port)
ODMR=$(free_port)
mkdir -p "$WORK/mta"
python3 "$TOP/regress/smtpsrv.py" $MTA "$WORK/mta" --delay 0.2 \
    --idle 300 &
at_exit "kill $!"
wait_port $MTA || { fail "the leaf's MTA listens"; exit 1; }
printf 'acme secret\n' >"$WORK/acme.secret"
chmod 600 "$WORK/acme.secret"
HUB_ACME_OPTS="release = {\"odmr\"} secret = \"$WORK/acme.secret\""
hub_init "odmr { listen = {\"127.0.0.1:$ODMR\"} }"
hub_secret "$WORK/acme.secret"
hub_start || { fail "bridged started"; exit 1; }
wait_port $ODMR || { fail "ODMR listener"; exit 1; }

# --- the link: the delay line, stopped and started on the same port -----
LINK=$(free_port)
LINE_PID=
line_up() {
	python3 "$DL" "$LINK" "127.0.0.1:$ODMR" --delay-ms 20 --kbit 2000 \
	    --quiet &
	LINE_PID=$!
	at_exit "kill -9 $LINE_PID"
	wait_port "$LINK" 10
}
line_cut() {
	kill -9 "$LINE_PID"
	wait "$LINE_PID" 2>/dev/null
}

# leaf_conf NAME HUB-LINES LINK-LINES: $WORK/NAME.conf, spool $WORK/NAME
leaf_conf() {
	L=$WORK/$1.conf
	cat >"$L" <<EOF
hostname = "leaf.test"
spool = "$WORK/$1"
inject { method = "smtp" server = "127.0.0.1:$MTA" timeout = "30s" }
hub "status" {
    odmr { server = "127.0.0.1:$LINK" user = "acme"
           secret = "$WORK/acme.secret" }
$2
}
link { $3 }
EOF
	bridge-linkup -c "$L" check
}
DPID=
daemon_start() {	# daemon_start NAME
	bridge-linkup -d -v -c "$WORK/$1.conf" run >>"$WORK/daemon.log" 2>&1 &
	DPID=$!
	at_exit "kill $DPID"
	wait_file "$WORK/$1/linkup/control" 10
}
daemon_stop() {
	kill "$DPID" 2>/dev/null
	wait "$DPID"
	DPID=
}
# ran N: the daemon's log says N runs have ended
ran() { [ "$(grep -c 'status: run ended' "$WORK/daemon.log")" -ge "$1" ]; }

# --- 1. the probe -----------------------------------------------------------
leaf_conf probe '    poll = "1h"' "probe = \"127.0.0.1:$LINK\" every = \"1s\"" ||
    { fail "the leaf.conf with a probe"; exit 1; }
line_up || { fail "the delay line listens"; exit 1; }
enqueue 1 3
daemon_start probe || { fail "the daemon started"; exit 1; }
wait_for 20 sh -c "[ \$(ls '$HUB_SPOOL/q/acme/new' | wc -l) = 0 ]" &&
    wait_for 10 ran 1
ok $? "the probe finds the link up: a run, the hub's queue is empty"
is "$(delivered)" 3 "three messages at the leaf's MTA"
wait_for 10 sh -c "bridge-linkup -c '$L' status | grep -q '^link: up'"
ok $? "status: link up"
a0=$(atrns)
line_cut
wait_for 20 sh -c "bridge-linkup -c '$L' status | grep -q '^link: down'"
ok $? "the line cut: two failed probes, status says down"
grep -q "link down (the probe failed)" "$WORK/daemon.log"
ok $? "the daemon logged why"
enqueue 4 2
sleep 3
is "$(queued) $(($(atrns) - a0))" "2 0" "mail queued while the line is cut waits"
line_up || { fail "the delay line listens again"; exit 1; }
wait_for 20 sh -c "[ \$(ls '$HUB_SPOOL/q/acme/new' | wc -l) = 0 ]" &&
    wait_for 10 ran 2
ok $? "the line back: the probe's up transition runs the hub at once"
is "$(delivered) $(($(atrns) - a0))" "5 1" "five messages in all, one run"
grep -q "status: run (up event)" "$WORK/daemon.log"
ok $? "the run was an up event's (the hub's poll of 1h was not due)"
daemon_stop

# --- 2. online-deadline and the down-command ----------------------------------
CLOCK=$WORK/clock
setclock() {	# setclock "2024-01-01 08:00:00"
	date -u -d "$1" +%s >"$CLOCK.new" && mv "$CLOCK.new" "$CLOCK"
}
cat >"$WORK/hangup" <<EOF
#!/bin/sh
date -u -d @\$(cat "$CLOCK") '+%H:%M:%S' >>"$WORK/hangups"
EOF
chmod 755 "$WORK/hangup"
leaf_conf thrift '    poll = "10m"
    online-deadline = "2m"' "down-command = {\"$WORK/hangup\"}" ||
    { fail "the leaf.conf with online-deadline and down-command"; exit 1; }
hangups() { cat "$WORK/hangups" 2>/dev/null | tr '\n' ' '; }
export BRIDGE_LINKUP_CLOCK=$CLOCK
setclock "2024-01-01 08:00:00"
enqueue 6 2
a0=$(atrns)
daemon_start thrift || { fail "the daemon started (test clock)"; exit 1; }
wait_for 20 sh -c "[ \$(ls '$HUB_SPOOL/q/acme/new' | wc -l) = 0 ]" &&
    wait_for 10 ran 3
ok $? "08:00: the first run"
setclock "2024-01-01 08:01:30"
sleep 2
is "$(hangups)" "" "08:01:30: inside the online-deadline, no hang-up"
setclock "2024-01-01 08:02:10"
wait_for 10 test -s "$WORK/hangups"
is "$(hangups)" "08:02:10 " "08:02:10: the deadline passed, down-command ran once"
wait_for 10 sh -c "bridge-linkup -c '$L' status | grep -q '^link: down'"
ok $? "status: link down"
setclock "2024-01-01 08:05:00"
sleep 2
is "$(hangups)" "08:02:10 " "no second hang-up while down"
enqueue 8 1
setclock "2024-01-01 08:10:05"
wait_for 20 sh -c "[ \$(ls '$HUB_SPOOL/q/acme/new' | wc -l) = 0 ]" &&
    wait_for 10 ran 4
ok $? "08:10: the next poll still calls and fetches the mail"
is "$(($(atrns) - a0))" 2 "two runs in all"
setclock "2024-01-01 08:12:20"
wait_for 10 sh -c "[ \$(wc -l <'$WORK/hangups') -ge 2 ]"
is "$(hangups)" "08:02:10 08:12:20 " "and the deadline after it hangs up again"
daemon_stop
unset BRIDGE_LINKUP_CLOCK

# --- 3. max-online ---------------------------------------------------------
leaf_conf short '    max-online = "2s"' "" ||
    { fail "the leaf.conf with max-online"; exit 1; }
n0=$(delivered)
enqueue 20 30
t0=$(date +%s)
bridge-linkup -c "$L" up >"$WORK/short.out" 2>&1
is "$?" 75 "a run longer than max-online (30 messages at 0.2s): exit 75"
diag "it took $(($(date +%s) - t0))s; $(($(delivered) - n0)) messages in"
ok "$([ "$(queued)" -gt 0 ]; echo $?)" "some mail is still at the hub"
bridge-linkup -c "$L" status | grep -q "odmr .*last attempt.*: try later"
ok $? "status: the attempt is to be retried"
sed '/max-online/d' "$L" >"$WORK/long.conf"
L=$WORK/long.conf
bridge-linkup -c "$L" up >"$WORK/long.out" 2>&1
is "$?" 0 "the next run, without the limit: exit 0"
is "$(queued) $(($(delivered) - n0))" "0 30" \
    "the hub's queue is empty, every message at the leaf's MTA once"

# --- 4. give-up: past it every failure is a warning, the retries go on ----------
line_cut
leaf_conf giveup '    poll = "10m"
    backoff { base = "1m" ceiling = "1h" give-up = 2 }' "" ||
    { fail "the leaf.conf with give-up"; exit 1; }
export BRIDGE_LINKUP_CLOCK=$CLOCK
setclock "2024-01-01 09:00:00"
: >"$WORK/daemon.log"
daemon_start giveup || { fail "the daemon started (give-up)"; exit 1; }
wait_for 20 grep -q "status: run ended: try later" "$WORK/daemon.log"
ok $? "09:00: the line is cut, the first run fails, below give-up"
setclock "2024-01-01 09:01:30"		# past the base with its jitter
wait_for 20 grep -q "warning: status: 2 runs in a row have failed" \
    "$WORK/daemon.log"
ok $? "09:01:30: the second failure reaches give-up: a warning"
setclock "2024-01-01 09:05:00"		# past twice the base
wait_for 20 grep -q "warning: status: 3 runs in a row have failed .*still trying" \
    "$WORK/daemon.log"
ok $? "09:05: the third is a warning too, and the retries go on"
daemon_stop
unset BRIDGE_LINKUP_CLOCK
hub_stop
