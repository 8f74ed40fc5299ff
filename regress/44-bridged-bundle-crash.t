#!/bin/sh
# 44-bridged-bundle-crash.t - kill -9 of bridged while it bundles, at
# many moments: mail for an SSH customer ("boat", bundles simply pile up
# in its outbox) enters bridged over SMTP, 100 generated messages of
# 1-12 KB before each round, some to two or three recipients; then
# `bridgectl bundle boat` starts a bundle worker (bundle-max 8K: about a
# bundle per message, dozens per run) and after a random 0-300 ms every
# process of bridged (the master's group and the worker's, which leads
# its own) gets SIGKILL; bridged is started again, its start-up
# recovery settles what the crash left, and it bundles what is left
# (bundle-max is reached).  Once no worker runs, each (message,
# recipient) that got a 250 must be exactly once in the queue or in
# exactly one published bundle (gzip -dc; by recipient, Message-ID and
# the queue id in the hub's Received:): none lost, none twice.  Every
# fifth round kills only the master's process group, so the worker
# lives on while a new bridged starts beside it; in others bridged is
# killed again 20-250 ms after its restart, in its start-up recovery or
# while it bundles what the first kill left.  At the end a last
# bundle run empties the queue: every copy in exactly one bundle,
# bundle-tmp/ empty.
# CRASH_ROUNDS sets the number of rounds (default 6; 24 with TEST_FULL=1,
# as make torture runs it), CRASH_SEED the
# random seed (default: the process id, printed).
. "$(dirname "$0")/lib.sh"
. "$TOP/regress/hubrun.sh"
hub_require
require bridgectl gzip python3 setsid ps
CHECK="python3 $TOP/regress/e2echeck.py"
E2E_CACHE=$WORK/bcache
export E2E_CACHE
mkdir -p "$E2E_CACHE"

ROUNDS=${CRASH_ROUNDS:-6}
[ "${TEST_FULL:-0}" = 1 ] && ROUNDS=${CRASH_ROUNDS:-24}
SEED=${CRASH_SEED:-$$}
diag "CRASH_SEED=$SEED"

hub_init 'customer "boat" { release = {"ssh"} bundle-max = "8K" bundle-delay = "1h" }'
echo "boat.example		boat" >>"$HUB_ROUTES"
bridgectl -c "$HUB_CONF" check >/dev/null 2>"$WORK/check.err"
ok $? "bridge.conf with an ssh customer is valid"
CTL="bridgectl -c $HUB_CONF"

# boot: bridged in a session of its own (hub_start's way, without an
# at_exit per start: the pids of killed instances are not ours any
# more), ready once its control socket answers, which is after its
# start-up recovery.
boot() {
	setsid bridged -d -c "$HUB_CONF" >>"$HUB_LOG" 2>&1 &
	HUB_PID=$!
	_i=0
	while [ $_i -lt 200 ]; do
		$CTL status >/dev/null 2>&1 && wait_port "$HUB_PORT" 1 &&
		    return 0
		kill -0 "$HUB_PID" 2>/dev/null || break
		sleep 0.05
		_i=$((_i + 1))
	done
	diag "bridged did not start"
	tail -5 "$HUB_LOG" | sed 's/^/# /'
	return 1
}
at_exit '[ -n "$HUB_PID" ] && crash all'
boot
ok $? "bridged started"

# jobs: generated messages of 1-12 KB, one to three recipients; the
# first BATCH at once, MORE before each round, so that every round
# finds a run of dozens of bundles to interrupt.
BATCH=100
MORE=100
TOTAL=$((BATCH + ROUNDS * MORE))
python3 - "$SEED" "$TOTAL" >"$WORK/jobs" <<'EOF'
import random, sys
rnd = random.Random(int(sys.argv[1]))
for i in range(1, int(sys.argv[2]) + 1):
    n = rnd.choice((1, 1, 1, 2, 3))
    rc = ','.join('m%04d.%d@boat.example' % (i, k) for k in range(n))
    print('m%04d\tgen:%d\t%s\tsender@example.org' %
          (i, rnd.randint(1000, 12000), rc))
EOF
: >"$WORK/sent.log"
# send FIRST COUNT: jobs FIRST.. into bridged, one log for all
send() {
	sed -n "$1,$(($1 + $2 - 1))p" "$WORK/jobs" | cut -f1-3 >"$WORK/part"
	$SMTPSEND -s "127.0.0.1:$HUB_PORT" -f sender@example.org \
	    -j "$WORK/part" -o "$WORK/part.log" -c 2 -m 50 -t 60 >/dev/null
	cat "$WORK/part.log" >>"$WORK/sent.log"
}
send 1 "$BATCH"
is "$(grep -c '	250	' "$WORK/sent.log")" "$BATCH" "$BATCH messages accepted"

# session_pids: every process of the session hub_start made (setsid:
# the session id is bridged's pid), the workers' groups included.
session_pids() {
	ps -e -o pid=,sid= | awk -v s="$HUB_PID" '$2 == s { print $1 }'
}

# crash: SIGKILL to the whole session, or with "master" to the master's
# process group only.  The master is stopped first, so that it cannot
# start a worker between the look at the session and the kill.  Waits
# for the master; its workers are waited for by wait_workers_gone.
crash() {
	if [ "$1" = master ]; then
		kill -9 "-$HUB_PID" 2>/dev/null
	else
		kill -STOP "$HUB_PID" 2>/dev/null
		# shellcheck disable=SC2046
		kill -9 $(session_pids) 2>/dev/null
	fi
	wait "$HUB_PID" 2>/dev/null
	HUB_PID=
}

# wait_workers_gone SID: until no process of the old session is left.
wait_workers_gone() {
	_i=0
	while [ $_i -lt 600 ]; do
		[ -z "$(ps -e -o sid= | awk -v s="$1" '$1 == s')" ] && return 0
		sleep 0.05
		_i=$((_i + 1))
	done
	return 1
}

# leftovers: what a kill left for the recovery in bundle-tmp/boat:
# manifests (a bundle published or about to be), finished bundles not
# yet published, bundles being written.
leftovers() {
	_b=$HUB_SPOOL/bundle-tmp/boat
	echo "$(find "$_b" -maxdepth 1 -type f -name '*.mf' 2>/dev/null |
	    wc -l)" "$(find "$_b/ready" -type f 2>/dev/null | wc -l)" \
	    "$(find "$_b/tmp" -type f 2>/dev/null | wc -l)"
}

state_bad=0
rounds_hit=0
left_mf=0
left_ready=0
left_tmp=0
orphans=0
again_hit=0
bad_restart=0
r=1
while [ "$r" -le "$ROUNDS" ]; do
	send $((BATCH + (r - 1) * MORE + 1)) "$MORE"
	# the first round kills at once (a worker surely runs), the next
	# two early, the others anywhere in 0-300 ms
	ms=$(python3 -c "import random; r = random.Random($SEED * 1000 + $r)
print(0 if $r == 1 else r.choice((0, 5, 20, 50)) if $r <= 3 else
      r.randint(0, 300))")
	$CTL bundle boat >"$WORK/ctl.out" 2>&1
	sleep "$(printf '0.%03d' "$ms")"
	when="killed $ms ms after bridgectl bundle"
	# workers lead their own process groups within the session
	nw=$(ps -e -o sid=,pgid= |
	    awk -v s="$HUB_PID" '$1 == s && $2 != s' | wc -l | tr -d ' ')
	[ "$nw" -gt 0 ] && rounds_hit=$((rounds_hit + 1))
	old=$HUB_PID
	if [ $((r % 5)) -eq 0 ]; then
		crash master
		orphans=$((orphans + 1))
	else
		crash all
	fi
	if [ $((r % 5)) -ne 0 ]; then
		# shellcheck disable=SC2046
		set -- $(leftovers)
		[ "$1" -gt 0 ] && left_mf=$((left_mf + 1))
		[ "$2" -gt 0 ] && left_ready=$((left_ready + 1))
		[ "$3" -gt 0 ] && left_tmp=$((left_tmp + 1))
	fi
	wait_workers_gone "$old" || diag "round $r: old workers still run"
	if [ $((r % 3)) -eq 2 ] && [ $((r % 5)) -ne 0 ]; then
		# again, 20-250 ms after bridged was started: during its
		# start-up recovery or the run it starts by itself for what
		# the first kill left (bundle-max is reached)
		ms2=$(python3 -c "import random
print(random.Random($SEED * 1000 + $r + 500).randint(20, 250))")
		setsid bridged -d -c "$HUB_CONF" >>"$HUB_LOG" 2>&1 &
		HUB_PID=$!
		sleep "$(printf '0.%03d' "$ms2")"
		nw=$(ps -e -o sid=,pgid= |
		    awk -v s="$HUB_PID" '$1 == s && $2 != s' | wc -l)
		[ "$nw" -gt 0 ] && again_hit=$((again_hit + 1))
		crash all
		when="$when, again $ms2 ms after a restart"
	fi
	boot || bad_restart=$((bad_restart + 1))
	# the restarted bridged may bundle by itself (bundle-max reached):
	# look when no worker runs
	i=0
	while [ $i -lt 200 ] && ! $CTL status 2>/dev/null | grep -q 'jobs=0'
	do
		sleep 0.05
		i=$((i + 1))
	done
	st=$($CHECK state "$WORK/jobs" "$WORK/sent.log" "$HUB_SPOOL" boat)
	case $st in
	*" lost 0 twice 0 unknown 0 split 0 bad 0"*) ;;
	*)
		state_bad=$((state_bad + 1))
		diag "round $r ($when): $st" ;;
	esac
	diag "round $r, $when: $(printf '%s\n' "$st" | sed -n 1p)"
	r=$((r + 1))
done
is "$(grep -c '	250	' "$WORK/sent.log")" "$TOTAL" "all $TOTAL messages accepted"
is "$bad_restart" 0 "bridged started again after each of $ROUNDS kills"
is "$state_bad" 0 "after each restart: no copy lost, none twice"
ok "$([ "$rounds_hit" -ge 1 ]; echo $?)" \
    "a bundle worker was running at $rounds_hit of the kills"
diag "$orphans rounds killed only the master's group;" \
    "$again_hit second kills hit the run a restarted bridged started"
diag "kills that left manifests: $left_mf, unpublished bundles:" \
    "$left_ready, bundles being written: $left_tmp"

# --- the last run, undisturbed -----------------------------------------
$CTL bundle boat >"$WORK/ctl.out" 2>&1
ok $? "bridgectl bundle: $(cat "$WORK/ctl.out")"
i=0
while [ $i -lt 600 ]; do
	$CTL status 2>/dev/null | grep -q 'jobs=0' &&
	    [ -z "$(ls "$HUB_SPOOL/q/boat/new")" ] && break
	sleep 0.1
	i=$((i + 1))
done
st=$($CHECK state "$WORK/jobs" "$WORK/sent.log" "$HUB_SPOOL" boat)
printf '%s\n' "$st" | sed -n '2,$p'
COPIES=$(awk -F'\t' '{ n += split($3, a, ",") } END { print n }' \
    "$WORK/jobs")
case $st in
"copies $COPIES queued 0 bundled $COPIES bundles "*" lost 0 twice 0 unknown 0 split 0 bad 0")
	pass "every one of the $COPIES copies in exactly one bundle" ;;
*)
	fail "every one of the $COPIES copies in exactly one bundle"
	diag "$st" ;;
esac
is "$(find "$HUB_SPOOL/bundle-tmp/boat" -type f | wc -l | tr -d ' ')" 0 \
    "bundle-tmp/boat holds nothing"
v=$(hub_verify boat)
is "$(kv boat.new "$v") $(kv boat.tmp "$v")" "0 0" "boat's queue is empty"
hub_kill_pid "$HUB_PID"
HUB_PID=
