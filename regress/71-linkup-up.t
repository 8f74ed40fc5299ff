#!/bin/sh
# 71-linkup-up.t - `bridge-linkup up` with every method, two hubs in
# parallel.  Hub "isp" is a bridged (as root) with three customers:
# acme released by ETRN (delivered to its own smtp-sink), boat by ODMR,
# farm by UUCP (a real Taylor UUCP pair, uucp.sh: the hub's uux, the
# leaf's uucico -S and uuxqt running bridge-unbatch as rgsmtp).  Hub
# "sat" is a second bridged (as the bridge user) whose customer yacht is
# published into a private sshd's internal-sftp chroot (sshd.sh).
# Corpus mail enters both over SMTP; one `up` runs both hubs at once
# and the methods of isp in the order written.  Every copy arrives
# once, byte for byte (e2echeck.py), the queues, outboxes and UUCP
# spool end empty, exit 0, and `status` tells each method's story; a
# second `up` moves nothing and delivers nothing twice.
. "$(dirname "$0")/lib.sh"
. "$TOP/regress/hubrun.sh"
. "$TOP/regress/uucp.sh"
. "$TOP/regress/sshd.sh"

uu_require
sshd_require
hub_require
require smtp-sink bridge-unbatch bridgectl bridge-linkup gzip
CHECK="python3 $TOP/regress/e2echeck.py"
OUTBOXCTL=$TOP/regress/outboxctl
CORPUS=$(corpus_dir) || { fail "corpus"; exit 1; }

count() { ls "$1" 2>/dev/null | wc -l | tr -d ' '; }

# --- the leaf's MTA and ETRN's target: two smtp-sinks --------------------
LSINK=$(free_port)
ESINK=$(free_port)
mkdir -p "$WORK/lsink" "$WORK/esink"
chmod 777 "$WORK/lsink" "$WORK/esink"
smtp-sink -u nobody -d "$WORK/lsink/%M." 127.0.0.1:$LSINK 100 \
    >/dev/null 2>&1 &
at_exit "kill $!"
smtp-sink -u nobody -d "$WORK/esink/%M." 127.0.0.1:$ESINK 100 \
    >/dev/null 2>&1 &
at_exit "kill $!"
wait_port $LSINK && wait_port $ESINK || { fail "smtp-sinks listen"; exit 1; }

# --- hub "sat": bridged as the bridge user, yacht's outbox in a chroot -----
SAT=$HUBSIDE/spool
sshd_accounts ${SSH_U1}
install -d -o "$SSH_BRIDGE" -m 0700 "$SAT"
"$OUTBOXCTL" prepare "$SAT" "$CHROOTS" yacht ${SSH_U1} "$SSH_BRIDGE" \
    >/dev/null || { fail "outbox_prepare"; exit 1; }
OUTBOX=$CHROOTS/${SSH_U1}/outbox
sshd_client_key ${SSH_U1}
sshd_start || { fail "sshd started"; exit 1; }
known_hosts "$WORK/known_hosts"
WORK0=$WORK
WORK=$WORK0/sat
mkdir -p "$WORK"
chmod 755 "$WORK"
HUB_USER=$SSH_BRIDGE
hub_init "customer \"yacht\" { release = {\"ssh\"} bundle-max = \"256K\" bundle-delay = \"1h\" }"
sed "s|^spool = .*|spool = \"$SAT\"|" "$HUB_CONF" >"$HUB_CONF.new" &&
    mv "$HUB_CONF.new" "$HUB_CONF"
chmod 644 "$HUB_CONF"
echo "yacht.example		yacht" >>"$HUB_ROUTES"
hub_start || { fail "bridged (sat) started"; exit 1; }
SAT_PORT=$HUB_PORT
SAT_CONF=$HUB_CONF
WORK=$WORK0

# --- hub "isp": bridged as root with acme (etrn), boat (odmr), farm (uucp)
uu_init "$WORK/uucp"
LEAF=$WORK/leaf
mkdir -p "$LEAF"
ODMR=$(free_port)
printf 'boat secret\n' >"$WORK/boat.secret"
chmod 600 "$WORK/boat.secret"
# the ISP hub runs uux with -I, which drops its setuid bit: as uucp,
# the owner of the test's UUCP spool (uucp.sh)
HUB_USER=uucp
HUB_ACME_OPTS="deliver-to = {\"127.0.0.1:$ESINK\"}"
hub_init "odmr { listen = {\"127.0.0.1:$ODMR\"} }
customer \"boat\" { release = {\"odmr\"} secret = \"$WORK/boat.secret\" }
customer \"farm\" { release = {\"uucp\"} uucp-node = \"leaf\"
    uux = {\"$UU_UUX\", \"-I\", \"$UU_HUB_CFG\"}
    bundle-max = \"256K\" bundle-delay = \"1h\" }"
printf 'boat.example\tboat\nfarm.example\tfarm\n' >>"$HUB_ROUTES"
hub_secret "$WORK/boat.secret"
hub_start || { fail "bridged (isp) started"; exit 1; }
wait_port $ODMR || { fail "ODMR listener"; exit 1; }

# --- the leaf --------------------------------------------------------------
cat >"$WORK/leaf.conf" <<EOF
hostname = "leaf.test"
spool = "$LEAF"
inject { method = "smtp" server = "127.0.0.1:$LSINK" timeout = "30s" }
hub "isp" {
    etrn { server = "127.0.0.1:$HUB_PORT" targets = {"#acme"} }
    odmr { server = "127.0.0.1:$ODMR" user = "boat"
           secret = "$WORK/boat.secret" targets = {"boat.example"} }
    uucp { system = "hub" config = "$UU_LEAF_CFG" }
    max-online = "5m"
}
hub "sat" {
    ssh { server = "127.0.0.1:$SSHD_PORT" user = "${SSH_U1}" dir = "outbox"
          identity = "$KEYS/id_${SSH_U1}" known-hosts = "$WORK/known_hosts" }
}
EOF
chmod 644 "$WORK/leaf.conf"
bridge-linkup -c "$WORK/leaf.conf" check
ok $? "bridge-linkup check: two hubs, four methods"
bridge-unbatch -n -c "$WORK/leaf.conf"
ok $? "bridge-unbatch -n accepts the same file"
uu_rgsmtp "$TOP/uucp/bridge-unbatch" -c "$WORK/leaf.conf"
install -d "$LEAF/incoming" "$LEAF/kept" "$LEAF/quarantine" "$LEAF/journal" \
    "$LEAF/tmp"
chown -R uucp "$LEAF"

# --- mail for each customer ------------------------------------------------
# jobs CUSTOMER DOMAIN FIRST: 15 corpus messages, every 5th to two
jobs() {
	find "$CORPUS/easy-ham-1" -type f -name '*.eml' | sort |
	    sed -n "$3,$(($3 + 14))p" | awk -v p="$1" -v d="$2" '
{	id = sprintf("%s%03d", p, NR); r = id "@" d
	if (NR % 5 == 0) r = r "," id ".b@" d
	print id "\t" $0 "\t" r "\ts@example.org" }'
}
send() {	# send JOBS PORT
	cut -f1-3 "$1" >"$1.send"
	$SMTPSEND -s "127.0.0.1:$2" -f s@example.org -j "$1.send" \
	    -o "$1.log" -c 2 -m 50 -t 60 >/dev/null
	grep -c '	250	' "$1.log"
}
copies() { awk -F'\t' '{ n += split($3, a, ",") } END { print n }' "$1"; }
jobs acme acme.example 1 >"$WORK/j.acme"
jobs boat boat.example 101 >"$WORK/j.boat"
jobs farm farm.example 201 >"$WORK/j.farm"
jobs yacht yacht.example 301 >"$WORK/j.yacht"
ok "$(for c in acme boat farm; do send "$WORK/j.$c" $HUB_PORT; done |
    awk '{ n += $1 } END { print (n == 45 ? 0 : 1) }')" \
    "bridged (isp) took 45 messages for acme, boat and farm"
is "$(send "$WORK/j.yacht" $SAT_PORT)" 15 "bridged (sat) took 15 for yacht"
bridgectl -c "$HUB_CONF" bundle farm >/dev/null &&
    bridgectl -c "$SAT_CONF" bundle yacht >/dev/null
ok $? "bridgectl bundle farm, yacht"
wait_for 60 sh -c "[ \$(find '$UU_DIR/hub/spool' -type f -name 'C.*' | wc -l) -ge 1 ] &&
    [ -z \"\$(find '$HUB_SPOOL/q/farm/new' -type f)\" ] &&
    [ -z \"\$(find '$HUB_SPOOL/outbox/farm' -type f)\" ]"
ok $? "farm's bundles are queued with uux"
wait_for 60 sh -c "[ -n \"\$(ls '$OUTBOX')\" ] &&
    [ -z \"\$(find '$SAT/q/yacht/new' -type f)\" ]"
ok $? "yacht's bundles are in the chroot's outbox"

# --- one up ----------------------------------------------------------------
t0=$(date +%s)
bridge-linkup -v -c "$WORK/leaf.conf" up >"$WORK/up.out" 2>&1
rc=$?
is "$rc" 0 "bridge-linkup up: exit 0"
[ "$rc" = 0 ] || tail -20 "$WORK/up.out" | sed 's/^/# /'
diag "took $(($(date +%s) - t0))s"

# the hubs ran at once: sat's run started before isp's ended
isp_end=$(grep -n 'isp: run ended' "$WORK/up.out" | cut -d: -f1)
sat_start=$(grep -n 'sat: run (up event)' "$WORK/up.out" | cut -d: -f1)
ok "$([ -n "$isp_end" ] && [ -n "$sat_start" ] && [ "$sat_start" -lt "$isp_end" ]; echo $?)" \
    "the two hubs ran in parallel"
is "$(grep -o 'isp: [a-z]*: ok\|isp: [a-z]*: try later' "$WORK/up.out" |
    cut -d' ' -f2 | tr -d ':' | tr '\n' ' ')" "etrn odmr uucp " \
    "isp's methods one after the other, in the order written"

# sort the leaf's dumps by customer (the recipient's domain)
for c in boat farm yacht; do mkdir -p "$WORK/by/$c"; done
for f in "$WORK"/lsink/*; do
	d=$(sed -n 's/^X-Rcpt-Args: <[^@]*@\([a-z]*\)\.example>.*/\1/p' "$f" |
	    head -1)
	[ -d "$WORK/by/$d" ] && mv "$f" "$WORK/by/$d/"
done
is "$(count "$WORK/lsink")" 0 "every dump at the leaf is for boat, farm or yacht"
for c in boat farm yacht; do
	res=$($CHECK sink "$WORK/j.$c" "$WORK/by/$c" hub.test)
	n=$(copies "$WORK/j.$c")
	is "$(printf '%s\n' "$res" | head -1)" \
	    "expected $n delivered $n missing 0 duplicated 0 extra 0 bad 0 envelope 0 differ 0 qid 0" \
	    "$c: every copy once, byte for byte, with its X-Envelope-To"
	printf '%s\n' "$res" | sed -n '2,4p'
done
is "$(cat "$WORK"/esink/* | grep -c '^X-Rcpt-Args: <acme')" \
    "$(copies "$WORK/j.acme")" "acme (ETRN): every recipient delivered once"
v=$(hub_verify acme boat farm)
is "$(kv acme.new "$v") $(kv boat.new "$v") $(kv farm.new "$v")" "0 0 0" \
    "isp's queues are empty"
is "$(count "$OUTBOX") $(uu_hub_jobs)" "0 0" \
    "yacht's outbox and the hub's UUCP spool are empty"

st=$(bridge-linkup -c "$WORK/leaf.conf" status)
echo "$st" | sed 's/^/# /'
echo "$st" | grep -q "^  etrn   last attempt .*: ok, 15 messages"
ok $? "status: etrn ok, the hub's 15 pending"
echo "$st" | grep -q "^  odmr   last attempt .*: ok, $(copies "$WORK/j.boat") messages"
ok $? "status: odmr ok with its copies"
echo "$st" | grep -q "^  uucp   last attempt .*: ok"
ok $? "status: uucp ok"
echo "$st" | grep -q "^  ssh    last attempt .*: ok, $(copies "$WORK/j.yacht") messages"
ok $? "status: ssh ok with its copies"

# --- again: nothing to do, nothing twice -------------------------------------
n0=$(find "$WORK/by" "$WORK/lsink" "$WORK/esink" -type f | wc -l)
bridge-linkup -c "$WORK/leaf.conf" up >"$WORK/up2.out" 2>&1
is "$?" 0 "a second up: exit 0"
is "$(find "$WORK/by" "$WORK/lsink" "$WORK/esink" -type f | wc -l)" "$n0" \
    "and nothing delivered twice"
bridge-linkup -c "$WORK/leaf.conf" status | grep -q "etrn   last attempt .*: ok, 0 messages.*hub pending 0"
ok $? "status: etrn's second run found nothing pending"
hub_stop
