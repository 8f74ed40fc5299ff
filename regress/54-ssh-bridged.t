#!/bin/sh
# 54-ssh-bridged.t - SSH pull end to end with mail entering bridged:
# bridged runs as the bridge user with an ssh customer "cust1" whose
# outbox is laid out by outbox_prepare (regress/outboxctl, ssh/outbox.h)
# inside the chroot of a private OpenSSH sshd (sshd.sh, the shipped
# Match block); every 10th corpus message is sent to bridged over SMTP
# (every 5th of them to two recipients, every 15th to three);
# `bridgectl bundle` publishes bundles (bundle-max 512K: several) into
# the chroot; bridge-fetch downloads them over SFTP, verifies them,
# injects every copy into Postfix's smtp-sink and removes them on the
# hub.  Every copy arrives once, byte for byte once the hub's
# X-Envelope-To and Received: are taken off (CRLF/LF aside), with its
# sender and its own recipient; the hub's queue and outbox end up empty.
. "$(dirname "$0")/lib.sh"
. "$TOP/regress/hubrun.sh"
. "$TOP/regress/sshd.sh"

sshd_require
hub_require
require bridgectl gzip
OUTBOXCTL=$TOP/regress/outboxctl
[ -x "$OUTBOXCTL" ] || { fail "regress/outboxctl is built"; exit 1; }
CHECK="python3 $TOP/regress/e2echeck.py"
CORPUS=$(corpus_dir) || { fail "corpus"; exit 1; }

# --- the hub: spool, the customer's chroot and outbox, sshd --------------
# bridged's spool beside the chroots (the bundler renames into them);
# hub_init keeps its config, routes and log in $WORK/hub.
HUB=$HUBSIDE/spool
sshd_accounts ${SSH_U1}
install -d -o "$SSH_BRIDGE" -m 0700 "$HUB"
"$OUTBOXCTL" prepare "$HUB" "$CHROOTS" cust1 ${SSH_U1} "$SSH_BRIDGE" \
    >"$WORK/prepare.out"
ok $? "outbox_prepare: cust1's outbox in ${SSH_U1}'s chroot"
sed 's/^/# /' "$WORK/prepare.out"
OUTBOX=$CHROOTS/${SSH_U1}/outbox
is "$(readlink "$HUB/outbox/cust1")" "$OUTBOX" \
    "the spool's outbox/cust1 is a symlink into the chroot"
sshd_client_key ${SSH_U1}
sshd_start || { fail "sshd started"; cat "$WORK/sshd/log" >&2; exit 1; }

HUB_USER=$SSH_BRIDGE
hub_init "customer \"cust1\" { release = {\"ssh\"} bundle-max = \"512K\" bundle-delay = \"1h\" }"
sed "s|^spool = .*|spool = \"$HUB\"|" "$HUB_CONF" >"$HUB_CONF.new" &&
    mv "$HUB_CONF.new" "$HUB_CONF"
chmod 644 "$HUB_CONF"
HUB_SPOOL=$HUB
echo "cust1.example		cust1" >>"$HUB_ROUTES"
bridgectl -c "$HUB_CONF" check >/dev/null 2>"$WORK/check.err"
ok $? "bridge.conf with an ssh customer is valid"
hub_start
ok $? "bridged started (as $SSH_BRIDGE)"
CTL="bridgectl -c $HUB_CONF"

# --- the leaf: leaf.conf, known_hosts, smtp-sink ------------------------
SINK=$(free_port)
start_sink "$SINK" "$WORK/sink" || { fail "smtp-sink listens"; exit 1; }
C=$(leaf_conf leaf "$SINK")
known_hosts "$WORK/known_hosts"

# --- corpus mail into bridged over SMTP ----------------------------------
# jobs: ID, file, recipients, sender (spam from the null sender)
(cd "$CORPUS" && find . -name '*.eml' -type f | sort) | awk -v c="$CORPUS" '
NR % 10 == 1 {
	f = substr($0, 3); n++; id = sprintf("s%04d", n)
	r = id "@cust1.example"
	if (n % 15 == 0) r = r "," id ".b@cust1.example," id ".c@cust1.example"
	else if (n % 5 == 0) r = r "," id ".b@cust1.example"
	s = f ~ /^spam/ ? "" : "alice@example.org"
	print id "\t" c "/" f "\t" r "\t" s
}' >"$WORK/jobs"
MSGS=$(wc -l <"$WORK/jobs" | tr -d ' ')
COPIES=$(awk -F'\t' '{ n += split($3, a, ",") } END { print n }' \
    "$WORK/jobs")
: >"$WORK/sent.log"
for s in alice@example.org ""; do
	awk -F'\t' -v s="$s" '$4 == s' "$WORK/jobs" | cut -f1-3 \
	    >"$WORK/jobs.part"
	$SMTPSEND -s "127.0.0.1:$HUB_PORT" -f "$s" -j "$WORK/jobs.part" \
	    -o "$WORK/sent.part" -c 2 -m 50 -t 60 >/dev/null
	cat "$WORK/sent.part" >>"$WORK/sent.log"
done
is "$(grep -c '	250	' "$WORK/sent.log")" "$MSGS" \
    "bridged accepted all $MSGS messages ($COPIES copies)"
awk -F'\t' '$2 != "250"' "$WORK/sent.log" | head -5 | sed 's/^/# /'

# --- bundles published into the chroot -------------------------------------
$CTL bundle cust1 >"$WORK/ctl.out" 2>&1
ok $? "bridgectl bundle cust1: $(cat "$WORK/ctl.out")"
i=0
while [ $i -lt 600 ]; do
	$CTL status 2>/dev/null | grep -q 'jobs=0$' &&
	    [ -z "$(find "$HUB/q/cust1/new" -type f)" ] && break
	sleep 0.1
	i=$((i + 1))
done
v=$(hub_verify cust1)
is "$(kv cust1.new "$v") $(kv cust1.tmp "$v")" "0 0" \
    "cust1's queue is empty after bundling"
NB=$(count "$OUTBOX")
ok "$([ "$NB" -ge 2 ]; echo $?)" "$NB bundles in the chroot's outbox"
st=$($CHECK state "$WORK/jobs" "$WORK/sent.log" "$HUB" cust1)
printf '%s\n' "$st" | sed -n '2,$p'
is "$(printf '%s\n' "$st" | head -1)" \
    "copies $COPIES queued 0 bundled $COPIES bundles $NB lost 0 twice 0 unknown 0 split 0 bad 0" \
    "gzip -dc: every copy in exactly one bundle"
is "$(stat -c '%U %a' "$OUTBOX"/* | sort -u)" "$SSH_BRIDGE 644" \
    "the bundles belong to $SSH_BRIDGE, mode 0644"
"$OUTBOXCTL" check "$HUB" "$CHROOTS" cust1 ${SSH_U1} "$SSH_BRIDGE" \
    >"$WORK/check.out"
ok $? "outbox_check finds nothing wrong with the published outbox"
sed 's/^/# /' "$WORK/check.out"

# --- the leaf fetches -------------------------------------------------------
bridge-fetch -v -c "$C" isp 2>"$WORK/fetch.err"
rc=$?
is "$rc" 0 "bridge-fetch over the private sshd: exit 0"
[ "$rc" -eq 0 ] || tail -5 "$WORK/fetch.err" | sed 's/^/# /'
is "$(grep -c ', injected, removed from the hub' "$WORK/fetch.err")" "$NB" \
    "each bundle fetched, verified, injected, removed: one line each"
is "$(count "$OUTBOX")" 0 "the outbox is empty"
res=$($CHECK sink "$WORK/jobs" "$WORK/sink" hub.test)
printf '%s\n' "$res" | sed -n '2,$p'
is "$(printf '%s\n' "$res" | head -1)" \
    "expected $COPIES delivered $COPIES missing 0 duplicated 0 extra 0 bad 0 envelope 0 differ 0 qid 0" \
    "every copy arrived once, byte for byte, with its own envelope"
v=$(hub_verify cust1)
is "$(kv cust1.new "$v") $(kv cust1.tmp "$v") $(find "$HUB/bundle-tmp/cust1" \
    -type f | wc -l | tr -d ' ')" "0 0 0" \
    "the hub's queue and bundle-tmp are empty"
is "$(find "$LEAF/fetch" "$LEAF/incoming" "$LEAF/kept" "$LEAF/quarantine" \
    "$LEAF/journal" ! -path "$LEAF/fetch/lock" \
    -type f 2>/dev/null | wc -l | tr -d ' ')" 0 \
    "the leaf's spool keeps nothing"
hub_stop
