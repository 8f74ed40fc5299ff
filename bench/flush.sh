#!/bin/sh
# flush.sh - releasing a held queue with ETRN, bridged against Postfix
# set up as an ETRN holding server (ETRN_README: relay_domains,
# fast_flush_domains, the domain's transport in defer_transports), same
# machine, same run, into the same smtp-sink.
#
#   flush: MSGS (5000) messages of SIZE (4096) octets, injected with
#          smtp-source, then one ETRN; the time until the holder's queue
#          is empty (every message has had its 250 from the sink).
#   thin:  THIN_N (200) corpus messages (every 16th of the corpus)
#          over a long thin link, 300 ms each way, 2 Mbit/s each
#          direction, emulated twice: "per", ../shared/tools/
#          delayline.py, which paces each connection on its own (twenty
#          connections get twenty links), and "shared",
#          regress/sharedline.py, one bandwidth for all connections as
#          on a real link.  On each:
#          a) bridged into a private Postfix smtpd (CHUNKING) against
#             the time the octets need at 2 Mbit/s (per: one
#             connection, so it gets one link's worth; shared: the
#             defaults); again with the first THIN_N hard-ham messages
#             (larger, so the fixed round trips weigh less);
#          b) bridged into smtp-sink (no CHUNKING) with the defaults
#             (2 connections, widening up to 20) and with widening off
#             (flush-connections-max = 2), against Postfix's own ETRN
#             flush (its default 20 connections) through the same link.
#
# Every run is bounded; key=value lines on stdout.  Environment: MSGS,
# SIZE, SESSIONS (10, smtp-source), FLUSH_CONNS (bridged, default 2),
# THIN_N, THIN_LINKS ("per shared"), SKIP_THIN=1.
. "$(dirname "$0")/common.sh"

MSGS=${MSGS:-5000}
SIZE=${SIZE:-4096}
SESSIONS=${SESSIONS:-10}
FLUSH_CONNS=${FLUSH_CONNS:-2}
THIN_N=${THIN_N:-200}
THIN_LINKS=${THIN_LINKS:-per shared}
need bridged etrn smtp-source smtp-sink postfix postconf python3
FT=$TOP/regress/flushtool
[ -x "$FT" ] || { echo "error=regress/flushtool-not-built"; exit 1; }
DELAYLINE=$TOP/../shared/tools/delayline.py
[ -f "$DELAYLINE" ] || DELAYLINE=/work/shared/tools/delayline.py
SHAREDLINE=$TOP/regress/sharedline.py
SINKUSER=
[ "$(id -u)" = 0 ] && SINKUSER="-u nobody"

echo "bench=flush $(machine)"

# until SECONDS COMMAND...: poll every 20 ms; 1 when time ran out
until_() {
	_lim=$(( $1 * 50 ))
	shift
	_i=0
	while [ $_i -lt $_lim ]; do
		"$@" && return 0
		sleep 0.02
		_i=$((_i + 1))
	done
	return 1
}
hub_empty() { [ -z "$(ls "$HUB_SPOOL/q/$1/new" 2>/dev/null)" ]; }
pf_empty() { [ "$(pf_queue_count)" -eq 0 ]; }
pf_deferred() {
	[ "$(find "$PF_QUEUE/deferred" -type f | wc -l)" -ge "$1" ]
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

SINK=$(free_port)
smtp-sink $SINKUSER 127.0.0.1:$SINK 512 >"$WORK/sink.log" 2>&1 &
at_exit "kill $!"
wait_port $SINK || { echo "error=smtp-sink-did-not-start"; exit 1; }

# ---- flush: bridged ----
HUB_ACME_OPTS="deliver-to = {\"127.0.0.1:$SINK\"} etrn-from = {\"127.0.0.1\"} flush-connections = $FLUSH_CONNS"
hub_init
hub_start >/dev/null || { echo "error=bridged-did-not-start"; exit 1; }
timeout 120 smtp-source -s "$SESSIONS" -m "$MSGS" -l "$SIZE" \
    -t user@acme.example -f sender@example.org "127.0.0.1:$HUB_PORT" \
    >"$WORK/inject-bridged.out" 2>&1
bq=$(ls "$HUB_SPOOL/q/acme/new" | wc -l | tr -d ' ')
t0=$(now)
etrn "127.0.0.1:$HUB_PORT" acme.example >"$WORK/etrn-bridged.out" 2>&1
until_ 300 hub_empty acme
brc=$?
t1=$(now)
bs=$(secs "$t0" "$t1")
bsent=$(grep -c "status=sent" "$HUB_LOG")
hub_stop

# ---- flush: Postfix ----
pf_init etrnhold
pf_etrn_hold "$SINK"
pf_start >/dev/null || { echo "error=postfix-did-not-start"; exit 1; }
timeout 120 smtp-source -s "$SESSIONS" -m "$MSGS" -l "$SIZE" \
    -t user@etrn.example -f sender@example.org "127.0.0.1:$PF_PORT" \
    >"$WORK/inject-postfix.out" 2>&1
until_ 120 pf_deferred "$MSGS"
pq=$(find "$PF_QUEUE/deferred" -type f | wc -l | tr -d ' ')
t0=$(now)
etrn "127.0.0.1:$PF_PORT" etrn.example >"$WORK/etrn-postfix.out" 2>&1
until_ 300 pf_empty
prc=$?
t1=$(now)
ps_=$(secs "$t0" "$t1")
psent=$(pf_log_count 'status=sent')
pf_stop

echo "flush_msgs=$MSGS size=$SIZE bridged_connections=$FLUSH_CONNS bridged_queued=$bq bridged_sent=$bsent bridged_secs=$bs bridged_msgs_per_s=$(rate "$MSGS" "$bs") bridged_timeout=$brc"
echo "postfix_deferred=$pq postfix_sent=$psent postfix_secs=$ps_ postfix_msgs_per_s=$(rate "$MSGS" "$ps_") postfix_timeout=$prc"
echo "flush_ratio_bridged_over_postfix=$(ratio "$ps_" "$bs")"
[ "${SKIP_THIN:-}" = 1 ] && exit 0

# ---- thin link ----
CORPUS=$(corpus_dir) || { echo "error=no-corpus"; exit 1; }
find "$CORPUS" -type f -name '*.eml' | sort | awk 'NR % 16 == 1' |
    head -n "$THIN_N" >"$WORK/thin.files"
find "$CORPUS/hard-ham-1" -type f -name '*.eml' | sort | head -n "$THIN_N" \
    >"$WORK/thinbig.files"
THIN_N=$(wc -l <"$WORK/thin.files" | tr -d ' ')
# octets of the messages in a queue, and the seconds they need at 2 Mbit/s
qbytes() { cat "$HUB_SPOOL"/q/$1/new/* | awk '/^size / { s += $2 } END { print s + 0 }'; }
wire_of() { awk -v b="$1" 'BEGIN { printf "%.3f", b * 8 / 2e6 }'; }

# link KIND PORT TARGETPORT: the 300 ms, 2 Mbit/s link of that kind
link() {
	if [ "$1" = per ]; then
		python3 "$DELAYLINE" "$2" "127.0.0.1:$3" --delay-ms 300 \
		    --kbit 2000 --quiet &
	else
		python3 "$SHAREDLINE" "$2" "127.0.0.1:$3" --delay-ms 300 \
		    --kbit 2000 --quiet &
	fi
	at_exit "kill $!"
	wait_port "$2" || { echo "error=link-$1"; exit 1; }
}

# thin_run CUSTOMER SECONDS: ETRN, then the time until its queue is empty
thin_run() {
	_t0=$(now)
	etrn "127.0.0.1:$HUB_PORT" "#$1" >>"$WORK/etrn-thin.out" 2>&1
	until_ "$2" hub_empty "$1"
	_rc=$?
	_t1=$(now)
	echo "$(secs "$_t0" "$_t1") $_rc"
}

# widest CUSTOMER: the most connections its flush had at once
widest() {
	_w=$(sed -n "s/.* $1: flush: widened to \([0-9]*\) connections.*/\1/p" \
	    "$HUB_LOG" | sort -n | tail -1)
	echo "${_w:-$2}"
}

# thin_link KIND: every thin run over one kind of link
thin_link() {
	k=$1
	pf_init "recv$k"
	pf_set "relay_domains = thin.example" "default_process_limit = 100"
	pf_start >/dev/null || { echo "error=postfix-recv-did-not-start"; exit 1; }
	RECV_CONF=$PF_CONF
	RECV_LOG=$PF_LOG
	L1=$(free_port)
	L2=$(free_port)
	link "$k" $L1 $PF_PORT
	link "$k" $L2 $SINK
	one=
	[ "$k" = per ] && one="flush-connections = 1"
	HUB_ACME_OPTS=
	rm -rf "$WORK/hub"
	hub_init "customer \"chunk\" { release = {\"etrn\"} deliver-to = {\"127.0.0.1:$L1\"} etrn-from = {\"127.0.0.1\"} $one }
customer \"big\" { release = {\"etrn\"} deliver-to = {\"127.0.0.1:$L1\"} etrn-from = {\"127.0.0.1\"} $one }
customer \"sink\" { release = {\"etrn\"} deliver-to = {\"127.0.0.1:$L2\"} etrn-from = {\"127.0.0.1\"} }
customer \"narrow\" { release = {\"etrn\"} deliver-to = {\"127.0.0.1:$L2\"} etrn-from = {\"127.0.0.1\"} flush-connections-max = 2 }"
	printf 'chunk.example\tchunk\nbig.example\tbig\nsink.example\tsink\nnarrow.example\tnarrow\n' >>"$HUB_ROUTES"
	for c in chunk sink narrow; do
		xargs "$FT" enqueue -f sender@example.org "$HUB_SPOOL" $c \
		    u@$c.example <"$WORK/thin.files" >/dev/null
	done
	xargs "$FT" enqueue -f sender@example.org "$HUB_SPOOL" big \
	    u@big.example <"$WORK/thinbig.files" >/dev/null
	bytes=$(qbytes chunk)
	wire=$(wire_of "$bytes")
	bigbytes=$(qbytes big)
	bigwire=$(wire_of "$bigbytes")
	hub_start >/dev/null || { echo "error=bridged-did-not-start"; exit 1; }
	set -- $(thin_run chunk 120)
	tc=$1 tcrc=$2
	grep -q "chunk: connected to .*CHUNKING" "$HUB_LOG" && tchunk=yes ||
	    tchunk=no
	set -- $(thin_run big 120)
	tb=$1 tbrc=$2
	set -- $(thin_run sink 300)
	ts=$1 tsrc=$2
	set -- $(thin_run narrow 400)
	tn=$1 tnrc=$2
	wide=$(widest sink 2)
	hub_stop
	precv=$(grep -c 'status=sent' "$RECV_LOG")
	pf_stop_dir "$RECV_CONF"

	# Postfix's own ETRN flush through the same link
	pf_init "etrn$k"
	pf_etrn_hold "$L2"
	pf_start >/dev/null || { echo "error=postfix-did-not-start"; exit 1; }
	while read -r f; do
		pf_sendmail -f sender@example.org u@etrn.example <"$f"
	done <"$WORK/thin.files"
	until_ 120 pf_deferred "$THIN_N"
	t0=$(now)
	etrn "127.0.0.1:$PF_PORT" etrn.example >>"$WORK/etrn-thin.out" 2>&1
	until_ 400 pf_empty
	tprc=$?
	t1=$(now)
	tp=$(secs "$t0" "$t1")
	tpsent=$(pf_log_count 'status=sent')
	pf_stop

	echo "link=$k thin_msgs=$THIN_N thin_bytes=$bytes thin_wire_secs=$wire"
	echo "link=$k thin_chunking_secs=$tc thin_chunking_over_wire=$(ratio "$tc" "$wire") thin_chunking_offered=$tchunk thin_chunking_timeout=$tcrc postfix_recv_log_sent=$precv"
	echo "link=$k thin_big_bytes=$bigbytes thin_big_wire_secs=$bigwire thin_big_chunking_secs=$tb thin_big_chunking_over_wire=$(ratio "$tb" "$bigwire") thin_big_timeout=$tbrc"
	echo "link=$k thin_sink_bridged_secs=$ts thin_sink_bridged_widest=$wide thin_sink_bridged_nowiden_secs=$tn thin_sink_postfix_secs=$tp postfix_thin_sent=$tpsent timeouts=$tsrc/$tnrc/$tprc"
	echo "link=$k thin_sink_postfix_over_bridged=$(ratio "$tp" "$ts") thin_sink_postfix_over_bridged_nowiden=$(ratio "$tp" "$tn")"
}

for kind in $THIN_LINKS; do
	thin_link "$kind"
done
