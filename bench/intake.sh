#!/bin/sh
# intake.sh - SMTP intake throughput, bridged against Postfix set up as
# an ETRN holding server (ETRN_README: the domain in relay_domains and
# fast_flush_domains, its transport in defer_transports, so mail waits
# in the deferred queue), same machine, same run, same load:
# smtp-source -s SESSIONS -m MSGS -l SIZE.  Afterwards every message
# must be in bridged's queue and in Postfix's deferred queue.
# Prints key=value lines.  Environment: MSGS (5000), SESSIONS (10),
# SIZE (4096).
. "$(dirname "$0")/common.sh"

MSGS=${MSGS:-5000}
SESSIONS=${SESSIONS:-10}
SIZE=${SIZE:-4096}
need bridged smtp-source postfix postconf python3

echo "bench=intake $(machine)"

# bridged
hub_init
hub_start >/dev/null || { echo "error=bridged-did-not-start"; exit 1; }
t0=$(now)
timeout 80 smtp-source -s "$SESSIONS" -m "$MSGS" -l "$SIZE" \
    -t user@acme.example -f sender@example.org "127.0.0.1:$HUB_PORT" \
    >"$WORK/bridged.out" 2>&1
rc=$?
t1=$(now)
bs=$(secs "$t0" "$t1")
v=$(hub_verify acme)
bq=$(kv acme.good "$v")
hub_stop

# Postfix holding mail for an ETRN-only domain
pf_init
dead=$(free_port)
pf_etrn_hold "$dead"
pf_start >/dev/null || { echo "error=postfix-did-not-start"; exit 1; }
t0=$(now)
timeout 80 smtp-source -s "$SESSIONS" -m "$MSGS" -l "$SIZE" \
    -t user@etrn.example -f sender@example.org "127.0.0.1:$PF_PORT" \
    >"$WORK/postfix.out" 2>&1
prc=$?
t1=$(now)
ps_=$(secs "$t0" "$t1")
# smtp-source is done when the last 250 came (Postfix has the message
# on disk in incoming/); wait for qmgr to file them all as deferred
i=0
while [ $i -lt 1200 ]; do
	pq=$(find "$PF_QUEUE/deferred" -type f | wc -l | tr -d ' ')
	[ "$pq" -ge "$MSGS" ] && break
	sleep 0.1
	i=$((i + 1))
done
t2=$(now)
pall=$(postqueue -c "$PF_CONF" -p | awk '/Requests\./ { print $5 }')
pf_stop

echo "bridged_rc=$rc bridged_secs=$bs bridged_msgs_per_s=$(rate "$MSGS" "$bs") bridged_queued=$bq"
echo "postfix_rc=$prc postfix_secs=$ps_ postfix_msgs_per_s=$(rate "$MSGS" "$ps_") postfix_deferred=$pq postfix_queue_requests=${pall:-0} postfix_deferred_after_secs=$(secs "$t0" "$t2")"
echo "msgs=$MSGS sessions=$SESSIONS size=$SIZE ratio_bridged_over_postfix=$(awk -v a="$bs" -v b="$ps_" 'BEGIN { printf "%.2f", (a > 0 ? b / a : 0) }')"
ok=yes
[ "$rc" -eq 0 ] && [ "$bq" = "$MSGS" ] || ok=no
[ "$prc" -eq 0 ] && [ "$pq" = "$MSGS" ] || ok=no
echo "verified=$ok"
[ $ok = yes ]
