#!/bin/sh
# rss.sh - what a big queue costs: fill acme's queue with MSGS small
# messages over SMTP (smtp-source -s SESSIONS -m MSGS -l SIZE; after
# FILL_SECS the rest are copies of a queued entry, bench/qclone.py), restart
# bridged on it (start-up recovery reads every entry), then report the
# resident memory of bridged's master and its children and how long
# `bridgectl queue --summary` takes.  Prints key=value lines.  The
# spool is removed afterwards unless KEEP=1.
# Environment: MSGS (100000), SESSIONS (10), SIZE (200), FILL_SECS (240).
. "$(dirname "$0")/common.sh"

MSGS=${MSGS:-100000}
SESSIONS=${SESSIONS:-10}
SIZE=${SIZE:-200}
FILL_SECS=${FILL_SECS:-240}
need bridged smtp-source python3
[ "${KEEP:-0}" = 1 ] || at_exit "rm -rf '$WORK/hub/spool'"

echo "bench=rss $(machine)"

# rss_of PID: "master_kb children_kb children"
rss_of() {
	_m=$(ps -o rss= -p "$1" | tr -d ' ')
	_c=$(ps -o rss= --ppid "$1" | awk '{ s += $1; n++ } END { printf "%d %d", s, n }')
	echo "${_m:-0} $_c"
}

hub_init
hub_start >/dev/null || { echo "error=bridged-did-not-start"; exit 1; }
set -- $(rss_of "$HUB_PID")
echo "empty_rss_master_kb=$1 empty_rss_children_kb=$2 empty_children=$3"
t0=$(now)
timeout "$FILL_SECS" smtp-source -s "$SESSIONS" -m "$MSGS" -l "$SIZE" \
    -t user@acme.example -f sender@example.org "127.0.0.1:$HUB_PORT" \
    >"$WORK/fill.out" 2>&1
rc=$?
t1=$(now)
fs=$(secs "$t0" "$t1")
set -- $(rss_of "$HUB_PID")
hub_stop
viasmtp=$(find "$HUB_SPOOL/q/acme/new" -type f | wc -l | tr -d ' ')
echo "fill_rc=$rc fill_secs=$fs fill_smtp_msgs=$viasmtp fill_msgs_per_s=$(rate "$viasmtp" "$fs") filled_rss_master_kb=$1 filled_rss_children_kb=$2 filled_children=$3"
if [ "$viasmtp" -lt "$MSGS" ]; then
	echo "fill_$(python3 "$TOP/bench/qclone.py" "$HUB_SPOOL" acme "$MSGS")"
	rc=0
fi

n=$(find "$HUB_SPOOL/q/acme/new" -type f | wc -l | tr -d ' ')
kb=$(du -sk "$HUB_SPOOL" | awk '{ print $1 }')
echo "queued=$n spool_kb=$kb"

t0=$(now)
HUB_WAIT=600 hub_start >/dev/null || { echo "error=bridged-did-not-restart"; exit 1; }
t1=$(now)
sleep 2
set -- $(rss_of "$HUB_PID")
echo "restart_secs=$(secs "$t0" "$t1") rss_master_kb=$1 rss_children_kb=$2 children=$3 rss_total_kb=$(($1 + $2))"
an=$(find "$HUB_SPOOL/q/acme/new" -type f | wc -l | tr -d ' ')
ac=$(find "$HUB_SPOOL/q/acme/corrupt" -type f | wc -l | tr -d ' ')
echo "after_restart_new=$an after_restart_corrupt=$ac"

if command -v bridgectl >/dev/null 2>&1; then
	t0=$(now)
	bridgectl -c "$HUB_CONF" queue --summary >"$WORK/summary.out" 2>&1
	src=$?
	t1=$(now)
	echo "summary_rc=$src summary_secs=$(secs "$t0" "$t1")"
	sed 's/^/# /' "$WORK/summary.out" | head -5
else
	echo "summary_rc=missing summary_secs=none"
fi
hub_stop
ok=yes
[ "$rc" -eq 0 ] && [ "$n" = "$MSGS" ] && [ "$an" = "$MSGS" ] || ok=no
echo "msgs=$MSGS sessions=$SESSIONS size=$SIZE verified=$ok"
[ $ok = yes ]
