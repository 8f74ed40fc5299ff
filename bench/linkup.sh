#!/bin/sh
# linkup.sh - bridge-linkup (issue 11): from `bridge-linkup up` to the
# last message injected at the leaf, LINKUP_BYTES (5,000,000) of corpus
# mail queued at the hub, over ../shared/tools/delayline.py at 300 ms
# each way and 2 Mbit/s, for each method, in one run:
#   etrn  the leaf's ETRN goes over one line to the hub; the hub's flush
#         (one connection) comes back over another to the leaf's MTA;
#         done when the hub's queue is empty (its last 250 came back)
#   odmr  the built-in client over the line; done when `up` returns
#   uucp  uucico -S over the line (bench/uupipe.py carries Taylor's
#         pipe port over TCP), then uuxqt and bridge-unbatch; done when
#         `up` returns
#   ssh   the bridge-fetch engine over the line; done when `up` returns
# and, through the same lines into the same MTA, fetchmail driven the
# usual way: --protocol ODMR (done when it exits) and --protocol ETRN
# (done when the hub's queue is empty).  The leaf's MTA is a private
# Postfix (CHUNKING, PIPELINING; it discards what it takes).
#
# Each figure is set against its wire floor: the octets the delay line
# carried in the busier direction at 2 Mbit/s, plus the round trips the
# protocol cannot do without, at 600 ms each (counted in rtt_* below;
# see bench/RESULTS.md).  Target: at most 1.2x the floor, and faster
# than fetchmail.  key=value lines on stdout.  Needs root (sshd,
# Postfix, Taylor UUCP).  Environment: LINKUP_BYTES, LINKUP_METHODS
# ("etrn odmr uucp ssh"), LINKUP_FETCHMAIL=0 to leave fetchmail out,
# BUNDLE_MAX (256K, the hub's bundle-max for uucp and ssh),
# RTCOUNT_TRACE=FILE (every silence of every connection, bench/rtcount.py).
. "$(dirname "$0")/common.sh"
. "$TOP/regress/uucp.sh"
. "$TOP/regress/sshd.sh"

BYTES=${LINKUP_BYTES:-5000000}
METHODS=${LINKUP_METHODS:-etrn odmr uucp ssh}
BUNDLE_MAX=${BUNDLE_MAX:-256K}
need bridged bridgectl bridge-linkup fetchmail postfix uucico uux uuxqt sshd \
    python3
[ "$(id -u)" = 0 ] || { echo "error=needs-root"; exit 1; }
FT=$TOP/regress/flushtool
OUTBOXCTL=$TOP/regress/outboxctl
(cd "$TOP" && bmake -f BSDmakefile regress/flushtool regress/outboxctl) \
    >/dev/null 2>&1 || { echo "error=helpers-not-built"; exit 1; }
DL=$(delayline) || { echo "error=no-delayline.py"; exit 1; }
PY=$(command -v python3)
CORPUS=$(corpus_dir) || { echo "error=no-corpus"; exit 1; }
BPS=250000		# 2 Mbit/s in octets
RTT=0.6

echo "bench=linkup $(machine)"

# --- the mail: corpus files until BYTES ------------------------------------
find "$CORPUS" -type f -name '*.eml' | sort | xargs ls -l 2>/dev/null |
    awk -v max="$BYTES" '{ if (n >= max) exit; n += $5; print $NF }' \
    >"$WORK/files"
NMSG=$(wc -l <"$WORK/files" | tr -d ' ')
RAW=$(xargs cat <"$WORK/files" | wc -c | tr -d ' ')
echo "messages=$NMSG octets=$RAW"

# --- the leaf's MTA ----------------------------------------------------------
pf_init leafmta
pf_set "relay_domains = acme.example boat.example farm.example yacht.example" \
    "default_process_limit = 50"
pf_start >/dev/null || { echo "error=postfix-did-not-start"; exit 1; }
MTA=$PF_PORT
mta_count() { pf_log_count 'status=sent|discarded'; }

# --- UUCP: both nodes, the leaf's port a TCP call through a delay line ------
uu_init "$WORK/uucp"
UU_LINE=$(free_port)
UU_SERVE=$(free_port)
# the leaf's uucico runs it as uucp: a python3 that user can run
UPY=/usr/bin/python3
[ -x "$UPY" ] || UPY=$PY
cat >"$UU_DIR/leaf/port" <<EOF
port to-hub
type pipe
command $UPY $TOP/bench/uupipe.py connect 127.0.0.1:$UU_LINE
EOF
"$PY" "$TOP/bench/uupipe.py" serve "$UU_SERVE" "$UU_UUCICO" -I "$UU_HUB_CFG" \
    2>>"$WORK/uupipe.log" &
at_exit "kill $!"

# --- SSH: the outbox of customer yacht in sshd's chroot ---------------------
sshd_accounts "$SSH_U1" || { echo "error=accounts"; exit 1; }
sshd_client_key "$SSH_U1"
sshd_start || { echo "error=sshd-did-not-start"; exit 1; }

# --- the hub: acme (etrn), boat (odmr), farm (uucp), yacht (ssh) -------------
HUB_USER=uucp
ODMR=$(free_port)
LEAF_MTA_LINE=$(free_port)	# the hub's flush to the leaf's MTA
printf 'boat secret\n' >"$WORK/boat.secret"
chmod 600 "$WORK/boat.secret"
HUB_ACME_OPTS="deliver-to = {\"127.0.0.1:$LEAF_MTA_LINE\"} flush-connections = 1 flush-connections-max = 1"
hub_init "odmr { listen = {\"127.0.0.1:$ODMR\"} }
customer \"boat\" { release = {\"odmr\"} secret = \"$WORK/boat.secret\" }
customer \"farm\" { release = {\"uucp\"} uucp-node = \"leaf\"
    uux = {\"$UU_UUX\", \"-I\", \"$UU_HUB_CFG\"}
    bundle-max = \"$BUNDLE_MAX\" bundle-delay = \"1h\" }
customer \"yacht\" { release = {\"ssh\"} bundle-max = \"$BUNDLE_MAX\" bundle-delay = \"1h\" }"
# the spool where sshd accepts the chroot beside it
sed "s|^spool = .*|spool = \"$HUBSIDE/spool\"|" "$HUB_CONF" >"$HUB_CONF.new" &&
    mv "$HUB_CONF.new" "$HUB_CONF"
HUB_SPOOL=$HUBSIDE/spool
install -d -o uucp -m 0700 "$HUB_SPOOL"
chmod 644 "$HUB_CONF"
printf 'boat.example\tboat\nfarm.example\tfarm\nyacht.example\tyacht\n' \
    >>"$HUB_ROUTES"
"$OUTBOXCTL" prepare "$HUB_SPOOL" "$CHROOTS" yacht "$SSH_U1" uucp \
    >"$WORK/outboxctl.out" || { echo "error=outbox-prepare"; exit 1; }
OUTBOX=$CHROOTS/$SSH_U1/outbox
hub_own "$WORK/boat.secret"
hub_start >/dev/null || { echo "error=bridged-did-not-start"; exit 1; }
wait_port "$ODMR" || { echo "error=no-odmr-listener"; exit 1; }

# --- the lines: 300 ms each way, 2 Mbit/s; each logs its connections --------
# line NAME PORT TARGET-PORT: the client connects to PORT, bench/rtcount.py
# (no delay: it times the chunks), which connects to the delay line
line() {
	_dp=$(free_port)
	: >>"$WORK/line.$1"
	: >>"$WORK/rt.$1"
	"$PY" "$DL" "$_dp" "127.0.0.1:$3" --delay-ms 300 --kbit 2000 \
	    2>>"$WORK/line.$1" &
	at_exit "kill $!"
	wait_port "$_dp" || { echo "error=line-$1"; exit 1; }
	"$PY" "$TOP/bench/rtcount.py" "$2" "127.0.0.1:$_dp" 2>>"$WORK/rt.$1" &
	at_exit "kill $!"
	wait_port "$2" || { echo "error=rtcount-$1"; exit 1; }
}
ETRN_LINE=$(free_port)
ODMR_LINE=$(free_port)
SSH_LINE=$(free_port)
line etrn "$ETRN_LINE" "$HUB_PORT"
line mta "$LEAF_MTA_LINE" "$MTA"
line odmr "$ODMR_LINE" "$ODMR"
line uucp "$UU_LINE" "$UU_SERVE"
line ssh "$SSH_LINE" "$SSHD_PORT"
SAVE=$SSHD_PORT
SSHD_PORT=$SSH_LINE known_hosts "$WORK/known_hosts"
SSHD_PORT=$SAVE

# --- the leaf: a hub section per method, so each runs alone ---------------------
LEAF=$WORK/leaf
cat >"$WORK/leaf.conf" <<EOF
hostname = "leaf.test"
spool = "$LEAF"
inject { method = "smtp" server = "127.0.0.1:$MTA" timeout = "60s" }
hub "etrn" {
    etrn { server = "127.0.0.1:$ETRN_LINE" targets = {"acme.example"} }
    max-online = "20m"
}
hub "odmr" {
    odmr { server = "127.0.0.1:$ODMR_LINE" user = "boat"
           secret = "$WORK/boat.secret" targets = {"boat.example"} }
    max-online = "20m"
}
hub "uucp" {
    uucp { system = "hub" config = "$UU_LEAF_CFG" }
    max-online = "20m"
}
hub "ssh" {
    ssh { server = "127.0.0.1:$SSH_LINE" user = "$SSH_U1" dir = "outbox"
          identity = "$KEYS/id_$SSH_U1" known-hosts = "$WORK/known_hosts" }
    max-online = "20m"
}
EOF
chmod 644 "$WORK/leaf.conf"
bridge-linkup -c "$WORK/leaf.conf" check || { echo "error=leaf.conf"; exit 1; }
uu_rgsmtp "$TOP/uucp/bridge-unbatch" -c "$WORK/leaf.conf"
install -d "$LEAF/incoming" "$LEAF/kept" "$LEAF/quarantine" "$LEAF/journal" \
    "$LEAF/tmp"
chown -R uucp "$LEAF"

# --- helpers ------------------------------------------------------------------
until_() {	# until_ SECONDS COMMAND...: poll every 20 ms
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
enqueue() {	# enqueue CUSTOMER DOMAIN
	xargs "$FT" enqueue -f s@example.org "$HUB_SPOOL" "$1" "u@$2" \
	    <"$WORK/files" >/dev/null
	chown -R uucp "$HUB_SPOOL/q"
}
lines_of() { wc -l <"$WORK/line.$1" | tr -d ' '; }
rts_of() { wc -l <"$WORK/rt.$1" | tr -d ' '; }
# waited NAME FROM: the round trips the clients of NAME's connections after
# line FROM of its rtcount log waited for (their silences / 600 ms), how many
# silences, and their own work in seconds
waited() {
	sed -n "$(($2 + 1)),\$p" "$WORK/rt.$1" | awk -v rtt=$RTT '
	/^rtcount:/ { w += $5; n += $7; l += $9 }
	END { printf "waited_rtts=%.1f waits=%d client_local_secs=%.3f", w / rtt, n, l }'
}
# octets LINE FROM: up and down octets of LINE's connections after line FROM
octets() {
	sed -n "$(($2 + 1)),\$p" "$WORK/line.$1" | awk '
	/connection closed/ { u += $5; d += $8; n++ }
	END { printf "%d %d %d\n", u, d, n }'
}
# settle LINE FROM N: wait (up to 10 s) until N more connections closed
settle() {
	until_ 10 sh -c "[ \$(wc -l <'$WORK/line.$1') -ge $(($2 + $3)) ]"
}
# rsettle LINE FROM N: the same for the line's rtcount log
rsettle() {
	until_ 10 sh -c "[ \$(wc -l <'$WORK/rt.$1') -ge $(($2 + $3)) ]"
}
f3() { awk -v a="$1" 'BEGIN { printf "%.3f", a }'; }
floor() {	# floor OCTETS ROUND-TRIPS
	awk -v b="$1" -v r="$2" -v bps=$BPS -v rtt=$RTT \
	    'BEGIN { printf "%.3f", b / bps + r * rtt }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
report() {	# report NAME SECONDS BUSY-OCTETS ROUND-TRIPS EXTRA...
	_n=$1 _s=$2 _b=$3 _r=$4
	shift 4
	_f=$(floor "$_b" "$_r")
	echo "$_n secs=$_s wire_octets=$_b wire_secs=$(f3 "$(awk -v b="$_b" -v bps=$BPS 'BEGIN { print b / bps }')") rtt_counted=$_r floor_secs=$_f over_floor=$(ratio "$_s" "$_f") $*"
}

# The protocol's round trips (600 ms each), the fewest it allows:
# ETRN: greeting 0.5, EHLO 1, ETRN reaches the hub 0.5; the flush's
#   greeting 0.5, EHLO 1, (BDAT pipelined), the last octets 0.5, their
#   250 back 0.5 = 4.5
# ODMR: greeting 0.5, EHLO 1, AUTH CRAM-MD5 2, ATRN 1, the turn (220,
#   EHLO, 250) 1.5, the last octets 0.5, their 250 0.5, QUIT 0.5 = 7.5
# UUCP (protocol t): the handshake (Shere, S, ROK and P, U) 2, each file
#   1 (its S waits for SY before the data; the CY crosses the next S),
#   the hangup 1: 3 + 1 per file, two files per job (data, execute)
# SSH: banners and KEXINIT 0.5, ECDH 1, NEWKEYS and the service 1,
#   publickey 1, channel 1, sftp subsystem 1, SFTP init 1, listing
#   (opendir, readdir) 2, the first open 1, the last octets 0.5, the
#   last remove 1 = 11
RTT_ETRN=4.5
RTT_ODMR=7.5
RTT_SSH=11

# --- etrn ---------------------------------------------------------------------
run_etrn() {	# run_etrn bridge-linkup|fetchmail
	enqueue acme acme.example
	e0=$(lines_of etrn) m0=$(lines_of mta)
	er0=$(rts_of etrn) mr0=$(rts_of mta)
	t0=$(now)
	if [ "$1" = fetchmail ]; then
		cat >"$WORK/fetchmailrc.etrn" <<EOF
set no syslog
poll 127.0.0.1 protocol etrn service $ETRN_LINE
    fetchdomains acme.example
EOF
		chmod 600 "$WORK/fetchmailrc.etrn"
		timeout 300 fetchmail --nosyslog -N --pidfile "$WORK/fm.pid" \
		    -f "$WORK/fetchmailrc.etrn" >"$WORK/fetchmail.etrn.out" 2>&1
		_rc=$?
		# fetchmail says 1 ("no mail") for an ETRN that was accepted
		[ $_rc = 1 ] && _rc=0
		until_ 600 hub_empty acme || _rc=timeout
		t1=$(now)
		tup=$(secs "$t0" "$(now)")
	else
		bridge-linkup -v -c "$WORK/leaf.conf" up etrn \
		    >"$WORK/up.etrn.out" 2>&1 &
		_p=$!
		until_ 600 hub_empty acme
		t1=$(now)
		wait $_p
		_rc=$?
		tup=$(secs "$t0" "$(now)")
	fi
	s=$(secs "$t0" "$t1")
	settle etrn "$e0" 1
	settle mta "$m0" 1
	rsettle etrn "$er0" 1
	rsettle mta "$mr0" 1
	waited etrn "$er0" >"$WORK/w.etrn"
	waited mta "$mr0" >"$WORK/w.mta"
	set -- $(octets etrn "$e0")
	eu=$1 ed=$2 en=$3
	set -- $(octets mta "$m0")
	mu=$1 md=$2 mn=$3
	# the busier direction: hub to leaf is the ETRN line's down and
	# the flush line's up (the hub is the flush's client)
	busy=$((ed + mu > eu + md ? ed + mu : eu + md))
	echo "$busy $s $tup $_rc $en $mn $eu $ed $mu $md"
}

if echo " $METHODS " | grep -q " etrn "; then
	set -- $(run_etrn bridge-linkup)
	report "method=etrn client=bridge-linkup" "$2" "$1" $RTT_ETRN \
	    "up_returned_secs=$3 exit=$4 connections=$5+$6 etrn_up=$7 etrn_down=$8 flush_up=$9 flush_down=${10} etrn_line_$(cat "$WORK/w.etrn" | sed 's/ / etrn_line_/g') flush_$(cat "$WORK/w.mta" | sed 's/ / flush_/g')"
	el=$2
	if [ "${LINKUP_FETCHMAIL:-1}" = 1 ]; then
		set -- $(run_etrn fetchmail)
		report "method=etrn client=fetchmail" "$2" "$1" $RTT_ETRN \
		    "exit=$4 connections=$5+$6 etrn_up=$7 etrn_down=$8 flush_up=$9 flush_down=${10} etrn_line_$(cat "$WORK/w.etrn" | sed 's/ / etrn_line_/g') flush_$(cat "$WORK/w.mta" | sed 's/ / flush_/g')"
		echo "method=etrn fetchmail_over_bridge_linkup=$(ratio "$2" "$el")"
	fi
fi

# --- odmr ---------------------------------------------------------------------
run_odmr() {	# run_odmr bridge-linkup|fetchmail
	enqueue boat boat.example
	o0=$(lines_of odmr) or0=$(rts_of odmr)
	c0=$(mta_count)
	t0=$(now)
	if [ "$1" = fetchmail ]; then
		cat >"$WORK/fetchmailrc.odmr" <<EOF
set no syslog
poll 127.0.0.1 protocol odmr service $ODMR_LINE
    user "boat" password "boat secret"
    fetchdomains boat.example
    smtphost "127.0.0.1/$MTA"
EOF
		chmod 600 "$WORK/fetchmailrc.odmr"
		timeout 600 fetchmail -v --nosyslog -N --pidfile "$WORK/fm.pid" \
		    -f "$WORK/fetchmailrc.odmr" >"$WORK/fetchmail.odmr.out" 2>&1
		_rc=$?
	else
		bridge-linkup -v -c "$WORK/leaf.conf" up odmr \
		    >"$WORK/up.odmr.out" 2>&1
		_rc=$?
	fi
	t1=$(now)
	s=$(secs "$t0" "$t1")
	hub_empty boat || _rc="$_rc/left-at-hub"
	settle odmr "$o0" 1
	rsettle odmr "$or0" 1
	set -- $(octets odmr "$o0")
	echo "$2 $s $_rc $3 $1 $2 $(waited odmr "$or0")"
}

if echo " $METHODS " | grep -q " odmr "; then
	set -- $(run_odmr bridge-linkup)
	report "method=odmr client=bridge-linkup" "$2" "$1" $RTT_ODMR \
	    "exit=$3 connections=$4 up=$5 down=$6 $7 $8 $9"
	ol=$2
	if [ "${LINKUP_FETCHMAIL:-1}" = 1 ]; then
		set -- $(run_odmr fetchmail)
		report "method=odmr client=fetchmail" "$2" "$1" $RTT_ODMR \
		    "exit=$3 connections=$4 up=$5 down=$6 $7 $8 $9"
		echo "method=odmr fetchmail_over_bridge_linkup=$(ratio "$2" "$ol")"
	fi
fi

# --- uucp ---------------------------------------------------------------------
if echo " $METHODS " | grep -q " uucp "; then
	enqueue farm farm.example
	bridgectl -c "$HUB_CONF" bundle farm >/dev/null
	until_ 120 sh -c "[ -z \"\$(find '$HUB_SPOOL/q/farm/new' '$HUB_SPOOL/outbox/farm' -type f 2>/dev/null)\" ]" ||
	    echo "error=farm-not-bundled"
	jobs=$(uu_hub_jobs)
	files=$(find "$UU_DIR/hub/spool" -type f -name 'D.*' | wc -l | tr -d ' ')
	dbytes=$(find "$UU_DIR/hub/spool" -type f -name 'D.*' -exec cat {} + | wc -c | tr -d ' ')
	u0=$(lines_of uucp) ur0=$(rts_of uucp)
	t0=$(now)
	bridge-linkup -v -c "$WORK/leaf.conf" up uucp >"$WORK/up.uucp.out" 2>&1
	rc=$?
	t1=$(now)
	s=$(secs "$t0" "$t1")
	settle uucp "$u0" 1
	rsettle uucp "$ur0" 1
	set -- $(octets uucp "$u0")
	# each job is two files over the line: its data and its execute file
	r=$(awk -v j="$files" 'BEGIN { print 3 + 2 * j }')
	report "method=uucp client=bridge-linkup" "$s" "$2" "$r" \
	    "exit=$rc jobs=$jobs data_files=$files data_octets=$dbytes up=$1 down=$2 left_at_hub=$(uu_hub_jobs) $(waited uucp "$ur0")"
fi

# --- ssh ----------------------------------------------------------------------
if echo " $METHODS " | grep -q " ssh "; then
	enqueue yacht yacht.example
	bridgectl -c "$HUB_CONF" bundle yacht >/dev/null
	until_ 120 sh -c "[ -z \"\$(find '$HUB_SPOOL/q/yacht/new' -type f)\" ] && [ -n \"\$(ls '$OUTBOX')\" ]" ||
	    echo "error=yacht-not-bundled"
	nb=$(ls "$OUTBOX" | wc -l | tr -d ' ')
	bb=$(cat "$OUTBOX"/* | wc -c | tr -d ' ')
	s0=$(lines_of ssh) sr0=$(rts_of ssh)
	t0=$(now)
	bridge-linkup -v -c "$WORK/leaf.conf" up ssh >"$WORK/up.ssh.out" 2>&1
	rc=$?
	t1=$(now)
	s=$(secs "$t0" "$t1")
	settle ssh "$s0" 1
	rsettle ssh "$sr0" 1
	set -- $(octets ssh "$s0")
	report "method=ssh client=bridge-linkup" "$s" "$2" $RTT_SSH \
	    "exit=$rc bundles=$nb bundle_octets=$bb up=$1 down=$2 left_at_hub=$(ls "$OUTBOX" | wc -l | tr -d ' ') $(waited ssh "$sr0")"
fi
echo "leaf_mta_took=$(mta_count)"
