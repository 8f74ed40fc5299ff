#!/bin/sh
# 73-linkup-daemon.t - `bridge-linkup run`, the daemon, with the test
# clock (BRIDGE_LINKUP_CLOCK: a file holding the epoch second, TZ=UTC)
# against our hub's ODMR listener: no run before the hub's window
# opens, a run at the window's start, the next `poll` later, none
# outside the window however overdue, a run when the next window
# opens.  Three `up` events at once, to the daemon and without one,
# coalesce into one run (one ATRN at the hub) and all three say how it
# went.  `down` stops polling until the next `up`.  The Prometheus
# textfile passes promtool; the sample hooks turn their systems'
# events into up and down, and ignore what they do not know.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hubrun.sh"
hub_require
require smtp-sink bridge-linkup promtool
FT=$TOP/regress/flushtool
[ -x "$FT" ] || { fail "regress/flushtool is built"; exit 1; }
CORPUS=$(corpus_dir) || { fail "corpus"; exit 1; }

export TZ=UTC
CLOCK=$WORK/clock
export BRIDGE_LINKUP_CLOCK=$CLOCK
setclock() {	# setclock "2024-01-01 08:00:00"
	date -u -d "$1" +%s >"$CLOCK.new" && mv "$CLOCK.new" "$CLOCK"
}
count() { ls "$1" 2>/dev/null | wc -l | tr -d ' '; }
queued() { count "$HUB_SPOOL/q/acme/new"; }
atrns() { grep -c "odmr: acme: .*: ATRN" "$HUB_LOG"; }
enqueue() {	# enqueue N: N messages for acme at the hub
	find "$CORPUS/hard-ham-1" -type f -name '*.eml' | sort | head -"$1" |
	    xargs "$FT" enqueue -f s@example.org "$HUB_SPOOL" acme \
	    u@acme.example >/dev/null
}

# --- the peers ---------------------------------------------------------
MTA=$(free_port)
ODMR=$(free_port)
mkdir -p "$WORK/mta"
# the leaf's MTA takes a while per message, so a run lasts a second
python3 "$TOP/regress/smtpsrv.py" $MTA "$WORK/mta" --delay 0.15 \
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

L=$WORK/leaf.conf
cat >"$L" <<EOF
hostname = "leaf.test"
spool = "$WORK/leaf"
metrics = "$WORK/textfile/mailbridge_leaf.prom"
inject { method = "smtp" server = "127.0.0.1:$MTA" timeout = "30s" }
hub "isp" {
    odmr { server = "127.0.0.1:$ODMR" user = "acme"
           secret = "$WORK/acme.secret" }
    poll = "10m"
    windows = {"Mon-Fri 08:00-18:00"}
}
EOF
mkdir -p "$WORK/textfile"
DPID=
daemon_start() {
	bridge-linkup -d -v -c "$L" run >>"$WORK/daemon.log" 2>&1 &
	DPID=$!
	at_exit "kill $DPID"
	wait_file "$WORK/leaf/linkup/control" 10
}
daemon_stop() {
	kill "$DPID" 2>/dev/null
	wait "$DPID"
	DPID=
}
st() { bridge-linkup -c "$L" status; }

# --- 1. windows and poll -------------------------------------------------
setclock "2024-01-01 07:50:00"		# a Monday
enqueue 4
daemon_start || { fail "the daemon started"; exit 1; }
pass "the daemon runs, its control socket is there"
sleep 2
is "$(queued) $(atrns)" "4 0" "07:50, before the window: no run"
st | grep -q "next run 2024-01-01 08:00:00"
ok $? "status: the next run at the window's start"
setclock "2024-01-01 08:00:00"
wait_for 20 sh -c "[ \$(ls '$HUB_SPOOL/q/acme/new' | wc -l) = 0 ]" &&
    wait_for 10 sh -c "grep -q 'isp: run ended' '$WORK/daemon.log'"
ok $? "08:00: the run, the hub's queue is empty"
is "$(ls "$WORK/mta" | grep -c '\.msg$')" 4 "four messages at the leaf's MTA"
wait_for 5 sh -c "bridge-linkup -c '$L' status | grep -q 'next run 2024-01-01 08:10:00'"
ok $? "status: the next run one poll later, 08:10"
enqueue 2
setclock "2024-01-01 08:09:00"
sleep 2
is "$(queued) $(atrns)" "2 1" "08:09: no run yet"
setclock "2024-01-01 08:10:00"
wait_for 20 sh -c "[ \$(ls '$HUB_SPOOL/q/acme/new' | wc -l) = 0 ]"
ok $? "08:10: the poll ran"
enqueue 1
setclock "2024-01-01 18:30:00"
sleep 2
is "$(queued) $(atrns)" "1 2" "18:30, outside the window, overdue: no run"
st | grep -q "next run 2024-01-02 08:00:00"
ok $? "status: the next run when Tuesday's window opens"
setclock "2024-01-02 08:00:00"
wait_for 20 sh -c "[ \$(ls '$HUB_SPOOL/q/acme/new' | wc -l) = 0 ]"
ok $? "Tuesday 08:00: the run"
is "$(atrns)" 3 "three runs in all"

# --- 2. up events coalesce -------------------------------------------------
enqueue 8
a0=$(atrns)
setclock "2024-01-02 08:01:00"	# inside the window, the poll not due
for i in 1 2 3; do
	bridge-linkup -c "$L" up >"$WORK/up$i.out" 2>&1 &
	eval "U$i=\$!"
done
wait $U1; r1=$?
wait $U2; r2=$?
wait $U3; r3=$?
is "$r1 $r2 $r3" "0 0 0" "three up events at once to the daemon: all exit 0"
is "$(($(atrns) - a0))" 1 "one run (one ATRN) at the hub"
is "$(queued)" 0 "and the mail is in"

st | grep -q "failures in a row 0"
ok $? "status: no failures"
promtool check metrics <"$WORK/textfile/mailbridge_leaf.prom" \
    >"$WORK/promtool.out" 2>&1
ok $? "promtool check metrics accepts the textfile"
sed 's/^/# /' "$WORK/promtool.out"
grep -q '^mailbridge_leaf_messages_received_total{hub="isp",method="odmr"} 15$' \
    "$WORK/textfile/mailbridge_leaf.prom"
ok $? "the textfile counts the 15 messages received"
grep -q '^mailbridge_leaf_last_success_timestamp_seconds{hub="isp",method="odmr"} [0-9]' \
    "$WORK/textfile/mailbridge_leaf.prom" &&
    grep -q '^mailbridge_leaf_link_up 1$' "$WORK/textfile/mailbridge_leaf.prom"
ok $? "it has the last success and the link"

# --- 3. down, then no polling until up --------------------------------------
bridge-linkup -c "$L" down
ok $? "down to the daemon: exit 0"
st | grep -q "^link: down"
ok $? "status: link down"
enqueue 1
setclock "2024-01-02 09:00:00"
sleep 2
is "$(queued)" 1 "a poll due while the link is down: no run"
HOOKS=$TOP/etc/hooks
export LINKUP_HOOKS=$HOOKS BRIDGE_LINKUP=$TOP/linkup/bridge-linkup \
    LEAF_CONF=$L LINKUP_HOOK_WAIT=1
"$HOOKS/ppp-ip-up" ppp0 /dev/ttyUSB0 115200 10.0.0.2 10.0.0.1 isp
ok $? "the pppd ip-up hook: exit 0"
is "$(queued)" 0 "its up event fetched the mail"
st | grep -q "^link: up"
ok $? "status: link up"

# --- 4. the hooks ignore what they do not know ---------------------------------
a0=$(atrns)
"$HOOKS/nm-dispatcher" wlan0 pre-up &&
    "$HOOKS/nm-dispatcher" wlan0 something-new &&
    CONNECTIVITY_STATE=LIMITED "$HOOKS/nm-dispatcher" "" connectivity-change &&
    IFACE=eth0 STATE=configuring "$HOOKS/networkd-dispatcher" &&
    IFACE=lo MODE=start "$HOOKS/ifupdown" &&
    IFACE=eth0 MODE=bogus "$HOOKS/ifupdown" &&
    "$HOOKS/ppp-ip-up"
ok $? "hooks called with actions they do not know: exit 0"
is "$(($(atrns) - a0))" 0 "and nothing ran"
enqueue 1
IFACE=wwan0 STATE=routable "$HOOKS/networkd-dispatcher"
ok $? "networkd-dispatcher routable: exit 0"
"$HOOKS/nm-dispatcher" wwan0 down && LINKUP_IFACES="wwan0" "$HOOKS/nm-dispatcher" eth0 up
ok $? "NetworkManager down, then up on an interface not listed"
st | grep -q "^link: down"
ok $? "status: down (the up on eth0 was ignored)"
IFACE=wwan0 MODE=start "$HOOKS/ifupdown"
ok $? "ifupdown start: exit 0"
is "$(queued)" 0 "the mail is in"
out=$(bridge-linkup -c "$L" sideways 2>&1)
is "$?/$out" "64/bridge-linkup: unknown command \"sideways\" (up, down, run, status or check)" \
    "an unknown command: 64 and one line"
out=$(bridge-linkup -c "$L" up nosuch 2>&1)
is "$?/$out" "78/bridge-linkup: $L: no hub \"nosuch\"" \
    "an unknown hub: 78 and one line"
# options after the command, as etc/leaf.conf's header shows them
bridge-linkup check -c "$L"
ok $? "check -c leaf.conf (the option after the command)"
is "$(bridge-linkup status -c "$L" -j | python3 -c 'import json, sys
print(json.load(sys.stdin)["hubs"][0]["hub"])')" isp "status -c leaf.conf -j"
out=$(bridge-linkup -c "$L" up -n 2>&1)
is "$?/$(printf '%s\n' "$out" | head -1)" "64/bridge-linkup: unknown option -n" \
    "an unknown option after the command: 64, not taken for a hub"

# --- 5. without the daemon: up events coalesce by the hub's lock ---------------
daemon_stop
st | grep -q "(no daemon running)"
ok $? "the daemon stopped; status says so"
enqueue 8
a0=$(atrns)
unset LINKUP_HOOK_WAIT
for i in 1 2 3; do
	bridge-linkup -c "$L" up >"$WORK/nd$i.out" 2>&1 &
	eval "U$i=\$!"
done
wait $U1; r1=$?
wait $U2; r2=$?
wait $U3; r3=$?
is "$r1 $r2 $r3" "0 0 0" "three up events at once without a daemon: all exit 0"
is "$(($(atrns) - a0))" 1 "one run at the hub"
is "$(queued)" 0 "the mail is in"
