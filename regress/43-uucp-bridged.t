#!/bin/sh
# 43-uucp-bridged.t - UUCP end to end with mail entering bridged: the
# corpus is sent over SMTP to bridged (one recipient, every 10th message
# two, every 25th three, all of the uucp customer "farm"); bridged
# bundles it (bundle-max 2M: many bundles; bundle-delay 2s: its timer
# bundles while mail still arrives, `bridgectl bundle` takes the rest)
# and hands each bundle to the hub's uux (uucp.sh); the leaf polls with
# uucico, its uuxqt runs bridge-unbatch as rgsmtp, which injects over
# SMTP into Postfix's smtp-sink.  Every copy arrives once, byte for byte
# once the hub's X-Envelope-To and Received: are taken off (CRLF/LF
# aside), with its sender and its own recipient, X-Envelope-To naming
# that recipient; the hub's queue, outbox and UUCP spool end up empty.
# E2E_N limits the corpus (default: all 3,250 messages).
. "$(dirname "$0")/lib.sh"
. "$TOP/regress/hubrun.sh"
. "$TOP/regress/uucp.sh"

uu_require
hub_require
require smtp-sink bridge-unbatch bridgectl gzip
CHECK="python3 $TOP/regress/e2echeck.py"
CORPUS=$(corpus_dir) || { fail "corpus"; exit 1; }
N=${E2E_N:-100000}

uu_init "$WORK/uucp"
SINK=$WORK/sink
LEAF=$WORK/leaf

# --- the leaf: bridge-unbatch as rgsmtp, injecting into smtp-sink ------
PORT=$(free_port)
mkdir -p "$SINK" "$LEAF/spool"
chown nobody "$SINK"
chown -R uucp "$LEAF"
smtp-sink -u nobody -c -d "$SINK/%M." "127.0.0.1:$PORT" 1000 \
    >"$WORK/sink.log" 2>&1 &
SINK_PID=$!
at_exit "kill $SINK_PID"
wait_port "$PORT" 10 || { fail "smtp-sink listens"; exit 1; }
cat >"$LEAF/leaf.conf" <<EOF
hostname = "leaf.test"
spool = "$LEAF/spool"
inject {
    method = "smtp"
    server = "127.0.0.1:$PORT"
}
EOF
chmod 644 "$LEAF/leaf.conf"
bridge-unbatch -n -c "$LEAF/leaf.conf"
ok $? "leaf.conf is valid"
uu_rgsmtp "$TOP/uucp/bridge-unbatch" -c "$LEAF/leaf.conf"

# --- the hub: bridged with the uucp customer farm ----------------------
# -I makes uux drop its setuid bit: it runs as the hub's user, which
# must own the UUCP spool (uucp.sh), so the hub runs as uucp here
HUB_USER=uucp
hub_init "customer \"farm\" {
    release = {\"uucp\"}
    uucp-node = \"leaf\"
    uux = {\"$UU_UUX\", \"-I\", \"$UU_HUB_CFG\"}
    bundle-max = \"2M\"
    bundle-delay = \"2s\"
}"
echo "farm.example		farm" >>"$HUB_ROUTES"
bridgectl -c "$HUB_CONF" check >/dev/null 2>"$WORK/check.err"
ok $? "bridge.conf with a uucp customer is valid"
hub_start
ok $? "bridged started"
CTL="bridgectl -c $HUB_CONF"

# --- the corpus into bridged over SMTP ---------------------------------
# jobs: ID, file, recipients, sender: easy ham from alice, hard ham
# from bob, spam from the null sender.
(cd "$CORPUS" && find . -name '*.eml' -type f | sort) | head -n "$N" |
    awk -v c="$CORPUS" '
{	f = substr($0, 3); id = sprintf("c%04d", NR)
	r = id "@farm.example"
	if (NR % 25 == 0) r = r "," id ".b@farm.example," id ".c@farm.example"
	else if (NR % 10 == 0) r = r "," id ".b@farm.example"
	s = f ~ /^easy/ ? "alice@example.org" : \
	    f ~ /^hard/ ? "bob@example.net" : ""
	print id "\t" c "/" f "\t" r "\t" s
}' >"$WORK/jobs"
MSGS=$(wc -l <"$WORK/jobs" | tr -d ' ')
COPIES=$(awk -F'\t' '{ n += split($3, a, ",") } END { print n }' \
    "$WORK/jobs")
: >"$WORK/sent.log"
for s in alice@example.org bob@example.net ""; do
	awk -F'\t' -v s="$s" '$4 == s' "$WORK/jobs" | cut -f1-3 \
	    >"$WORK/jobs.part"
	$SMTPSEND -s "127.0.0.1:$HUB_PORT" -f "$s" -j "$WORK/jobs.part" \
	    -o "$WORK/sent.part" -c 4 -m 50 -t 120 >/dev/null
	cat "$WORK/sent.part" >>"$WORK/sent.log"
done
is "$(grep -c '	250	' "$WORK/sent.log")" "$MSGS" \
    "bridged accepted all $MSGS messages ($COPIES copies)"
awk -F'\t' '$2 != "250"' "$WORK/sent.log" | head -5 | sed 's/^/# /'

# --- bundled and handed to uux ------------------------------------------
$CTL bundle farm >"$WORK/ctl.out" 2>&1
ok $? "bridgectl bundle farm: $(cat "$WORK/ctl.out")"
# done when no worker runs, the queue and outbox are empty (a timer
# run may still start after the forced one)
i=0
while [ $i -lt 1200 ]; do
	if $CTL status 2>/dev/null | grep -q 'jobs=0$' &&
	    [ -z "$(find "$HUB_SPOOL/q/farm/new" "$HUB_SPOOL/outbox/farm" \
	    -type f)" ]
	then
		break
	fi
	sleep 0.1
	i=$((i + 1))
done
v=$(hub_verify farm)
is "$(kv farm.new "$v") $(kv farm.tmp "$v") $(kv farm.corrupt "$v")" \
    "0 0 0" "farm's queue is empty"
is "$(ls "$HUB_SPOOL/outbox/farm" | wc -l | tr -d ' ')" 0 \
    "the outbox is empty: every bundle went to uux"
is "$(find "$HUB_SPOOL/bundle-tmp/farm" -type f ! -name handoff |
    wc -l | tr -d ' ')" 0 "bundle-tmp/farm holds no bundle or manifest"
# the bundler's log lines: name, messages, copies, raw octets
sed -n 's/.*: farm: bundle \([^ ]*\): \([0-9]*\) messages, \([0-9]*\) copies, raw \([0-9]*\),.*/\1 \2 \3 \4/p' \
    "$HUB_LOG" >"$WORK/bundles"
NB=$(wc -l <"$WORK/bundles" | tr -d ' ')
NQ=$(grep -c ': farm: bundle [^ ]*: queued with uux for leaf!rgsmtp' \
    "$HUB_LOG")
ok "$([ "$NB" -ge 2 ]; echo $?)" "bridged made $NB bundles"
diag "in $(cut -d. -f2 "$WORK/bundles" | sort -u | wc -l | tr -d ' ') runs" \
    "(the timer's while mail arrived, then bridgectl bundle's)"
is "$(awk '{ m += $2; c += $3 } END { print m + 0, c + 0 }' \
    "$WORK/bundles")" "$MSGS $COPIES" \
    "they hold the $MSGS messages, $COPIES copies"
is "$(awk '$4 > 2 * 1024 * 1024 && $2 > 1' "$WORK/bundles" | wc -l |
    tr -d ' ')" 0 "none over bundle-max unless it holds one message"
is "$NQ" "$NB" "each was queued with uux"
is "$(grep -c 'uux failed' "$HUB_LOG")" 0 "uux never failed"
is "$(uu_hub_jobs)" "$NB" "the hub's UUCP spool holds $NB jobs for the leaf"

# --- the leaf polls -----------------------------------------------------
uu_poll
ok $? "the leaf called the hub (uucico) and ran uuxqt"
is "$(uu_hub_jobs)" 0 "the hub's UUCP spool is empty"
is "$(uu_leaf_failed)" 0 "no failed execution at the leaf"
is "$(grep -c 'Executing .*(rgsmtp)' "$UU_DIR/leaf/log/Log")" "$NB" \
    "uuxqt ran rgsmtp once per bundle"
[ "$_tap_failed" -eq 0 ] || uu_logs

# --- what smtp-sink got ---------------------------------------------------
res=$($CHECK sink "$WORK/jobs" "$SINK" hub.test)
printf '%s\n' "$res" | sed -n '2,$p'
is "$(printf '%s\n' "$res" | head -1)" \
    "expected $COPIES delivered $COPIES missing 0 duplicated 0 extra 0 bad 0 envelope 0 differ 0 qid 0" \
    "every copy arrived once, byte for byte, with its own envelope"
is "$(ls "$LEAF/spool/kept" 2>/dev/null | wc -l | tr -d ' ')" 0 \
    "the leaf kept no bundle"
hub_stop
