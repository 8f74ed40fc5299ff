#!/bin/sh
# 70-linkup-odmr.t - bridge-linkup's built-in ODMR client against our
# hub: corpus mail enters bridged over SMTP (every 7th message to two
# recipients) for customer acme, released by ODMR; `bridge-linkup up`
# authenticates with CRAM-MD5, sends ATRN and injects every copy, with
# its own X-Envelope-To, into Postfix's smtp-sink: every copy once,
# byte for byte (e2echeck.py), exit 0, and `status` (text and JSON)
# says so.  The same mail again, fetched by fetchmail --protocol ODMR
# into a second smtp-sink: both leaves got the same mail.  Then bad
# input: a wrong secret (77, a clear error, the backoff at its
# ceiling, no second attempt at the hub), nothing listening (75), a
# hub that answers garbage (a clear error, nothing lost), and a local
# MTA that takes one recipient of a message and defers the other (the
# deferred copy is kept at the leaf, the hub's copy is gone, and it is
# delivered by the next run).  A window's size cap leaves big mail at
# the hub.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hubrun.sh"
hub_require
require smtp-sink fetchmail bridge-linkup
CHECK="python3 $TOP/regress/e2echeck.py"
CMP="python3 $TOP/regress/linkupcmp.py"
CORPUS=$(corpus_dir) || { fail "corpus"; exit 1; }

count() { ls "$1" 2>/dev/null | wc -l | tr -d ' '; }
queued() { count "$HUB_SPOOL/q/acme/new"; }

# --- the peers ---------------------------------------------------------
SINK=$(free_port)
SINK2=$(free_port)
ODMR=$(free_port)
mkdir -p "$WORK/sink" "$WORK/sink2"
chmod 777 "$WORK/sink" "$WORK/sink2"
smtp-sink -u nobody -d "$WORK/sink/%M." 127.0.0.1:$SINK 100 \
    >"$WORK/sink.log" 2>&1 &
at_exit "kill $!"
smtp-sink -u nobody -d "$WORK/sink2/%M." 127.0.0.1:$SINK2 100 \
    >"$WORK/sink2.log" 2>&1 &
at_exit "kill $!"
wait_port $SINK && wait_port $SINK2 || { fail "smtp-sinks listen"; exit 1; }

SECRET="leaf and hub share this"
printf '%s\n' "$SECRET" >"$WORK/acme.secret"
printf 'not it\n' >"$WORK/wrong.secret"
chmod 600 "$WORK/acme.secret" "$WORK/wrong.secret"
HUB_ACME_OPTS="release = {\"odmr\"} secret = \"$WORK/acme.secret\""
hub_init "odmr { listen = {\"127.0.0.1:$ODMR\"} }"
hub_secret "$WORK/acme.secret"
hub_start || { fail "bridged started"; exit 1; }
wait_port $ODMR || { fail "bridged listens for ODMR"; exit 1; }

# leaf_conf NAME SERVER SECRET SINKPORT [HUB-LINES]
leaf_conf() {
	cat >"$WORK/$1.conf" <<EOF
hostname = "leaf.test"
spool = "$WORK/$1"
inject { method = "smtp" server = "127.0.0.1:$4" timeout = "30s" }
hub "isp" {
    odmr { server = "$2" user = "acme" secret = "$3"
           targets = {"acme.example", "sub.acme.example"} }
    ${5:-}
}
EOF
	echo "$WORK/$1.conf"
}
L=$(leaf_conf leaf 127.0.0.1:$ODMR "$WORK/acme.secret" $SINK)
bridge-linkup -c "$L" check
ok $? "bridge-linkup check accepts the leaf.conf"

# jobs ID FIRST LAST: corpus messages FIRST..LAST of easy-ham-1 as jobs
jobs() {
	find "$CORPUS/easy-ham-1" -type f -name '*.eml' | sort |
	    sed -n "$2,$3p" | awk -v p="$1" '
{	id = sprintf("%s%03d", p, NR); r = id "@acme.example"
	if (NR % 7 == 0) r = r "," id ".b@sub.acme.example"
	print id "\t" $0 "\t" r "\ts@example.org" }'
}
# send JOBS: into bridged over SMTP
send() {
	cut -f1-3 "$1" >"$1.send"
	$SMTPSEND -s "127.0.0.1:$HUB_PORT" -f s@example.org -j "$1.send" \
	    -o "$1.log" -c 2 -m 50 -t 60 >/dev/null
	grep -c '	250	' "$1.log"
}

# --- 1. up: everything once ---------------------------------------------
jobs a 1 60 >"$WORK/jobs1"
N=$(wc -l <"$WORK/jobs1" | tr -d ' ')
COPIES=$(awk -F'\t' '{ n += split($3, a, ",") } END { print n }' \
    "$WORK/jobs1")
is "$(send "$WORK/jobs1")" "$N" "bridged took $N messages for acme"
bridge-linkup -v -c "$L" up >"$WORK/up1.out" 2>&1
ok $? "bridge-linkup up: exit 0"
is "$(queued)" 0 "acme's queue at the hub is empty"
res=$($CHECK sink "$WORK/jobs1" "$WORK/sink" hub.test)
is "$(printf '%s\n' "$res" | head -1)" \
    "expected $COPIES delivered $COPIES missing 0 duplicated 0 extra 0 bad 0 envelope 0 differ 0 qid 0" \
    "every copy arrived once, byte for byte, with its own X-Envelope-To"
printf '%s\n' "$res" | sed -n '2,6p'
grep -q "ATRN acme.example,sub.acme.example" "$HUB_LOG" ||
    grep -q "odmr: acme: .*: ATRN, $N pending" "$HUB_LOG"
ok $? "the hub logged the ATRN with $N pending"
st=$(bridge-linkup -c "$L" status)
echo "$st" | grep -q "^  odmr   last attempt .*: ok, $COPIES messages, "
ok $? "status: the odmr attempt, ok, $COPIES copies"
bridge-linkup -c "$L" status -j >"$WORK/status.json"
python3 - "$WORK/status.json" $COPIES <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
m = s["hubs"][0]["methods"][0]
assert s["hubs"][0]["hub"] == "isp" and m["method"] == "odmr"
assert m["last_attempt"]["exit"] == 0, m
assert m["last_attempt"]["messages"] == int(sys.argv[2]), m
assert m["last_attempt"]["bytes"] > 100000, m
assert m["last_success"]["time"] == m["last_attempt"]["time"], m
EOF
ok $? "status -j: valid JSON with the same"

# --- 2. the same mail through fetchmail ---------------------------------
jobs b 1 60 >"$WORK/jobs2"
is "$(send "$WORK/jobs2")" "$N" "the same $N messages again, new ids"
sed 's/b\([0-9][0-9][0-9]\)/a\1/g' "$WORK/jobs2" | cmp -s - "$WORK/jobs1"
ok $? "  (the same files and recipients)"
cat >"$WORK/fetchmailrc" <<EOF
set no syslog
poll 127.0.0.1 protocol odmr service $ODMR
    user "acme" password "$SECRET"
    fetchdomains acme.example,sub.acme.example
    smtphost "127.0.0.1/$SINK2"
EOF
chmod 600 "$WORK/fetchmailrc"
timeout 120 fetchmail --nosyslog --pidfile "$WORK/fetchmail.pid" \
    -f "$WORK/fetchmailrc" >"$WORK/fetchmail.out" 2>&1
ok $? "fetchmail --protocol ODMR: exit 0"
is "$(queued)" 0 "fetchmail emptied acme's queue"
# the recipients differ in their ids (a001/b001): compare as id-less
mkdir -p "$WORK/cmp-a" "$WORK/cmp-b"
for f in "$WORK"/sink/*; do
	sed 's/\([<: ]\)a\([0-9][0-9][0-9]\)/\1x\2/g' "$f" \
	    >"$WORK/cmp-a/$(basename "$f")"
done
for f in "$WORK"/sink2/*; do
	sed 's/\([<: ]\)b\([0-9][0-9][0-9]\)/\1x\2/g' "$f" \
	    >"$WORK/cmp-b/$(basename "$f")"
done
out=$($CMP "$WORK/cmp-a" "$WORK/cmp-b")
ok $? "bridge-linkup and fetchmail delivered the same mail: $(echo "$out" | head -1)"
echo "$out" | sed -n '2,$p'

# --- 3. bad input -------------------------------------------------------
jobs c 61 63 >"$WORK/jobs3"
send "$WORK/jobs3" >/dev/null
W=$(leaf_conf wrong 127.0.0.1:$ODMR "$WORK/wrong.secret" $SINK \
    'backoff { base = "1m" ceiling = "2h" }')
fails0=$(grep -c "AUTH CRAM-MD5 failed for acme" "$HUB_LOG")
out=$(bridge-linkup -c "$W" up 2>&1)
is "$?" 77 "a wrong secret: exit 77"
echo "$out" | grep -q "AUTH CRAM-MD5 as acme: 535"
ok $? "with a clear error: $(echo "$out" | grep 535 | head -1)"
is "$(($(grep -c "AUTH CRAM-MD5 failed for acme" "$HUB_LOG") - fails0))" 1 \
    "one attempt at the hub"
python3 - "$W" <<'EOF'
import json, subprocess, sys
s = json.loads(subprocess.check_output(
    ["bridge-linkup", "-c", sys.argv[1], "status", "-j"]))
h = s["hubs"][0]
# refused: straight to the ceiling (2h), not the base (1m)
assert h["failures"] == 1 and h["retry_at"] - h["last_run"]["end"] >= 7000, h
assert "535" in h["methods"][0]["last_error"]["text"], h
EOF
ok $? "status: refused, the next try at the backoff ceiling"
is "$(queued)" 3 "nothing left the hub"

DEAD=$(free_port)
D=$(leaf_conf dead 127.0.0.1:$DEAD "$WORK/acme.secret" $SINK)
bridge-linkup -c "$D" up >"$WORK/dead.out" 2>&1
is "$?" 75 "nothing listening: exit 75"
bridge-linkup -c "$D" status | grep -q "failures in a row 1, retry not before"
ok $? "status: one failure, a retry time"

GARB=$(free_port)
python3 - $GARB <<'EOF' &
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(1)
s.settimeout(60)
c, _ = s.accept()
try:
    c.sendall(b"220 garbage.test ESMTP\r\n")
    c.recv(1000)
    c.sendall(b"\x00\x01 this is not SMTP at all\r\n" * 3)
except OSError:
    pass
c.close()
EOF
GPID=$!
at_exit "kill $GPID"
wait_port $GARB
G=$(leaf_conf garbage 127.0.0.1:$GARB "$WORK/acme.secret" $SINK)
out=$(bridge-linkup -c "$G" up 2>&1)
rc=$?
ok "$([ $rc = 75 ] || [ $rc = 69 ]; echo $?)" "a hub answering garbage: exit $rc"
echo "$out" | grep -q "odmr: 127.0.0.1:$GARB"
ok $? "a one-line error naming it: $(echo "$out" | grep "odmr: 127" | head -1)"
is "$(queued)" 3 "nothing left the hub"

# --- 4. a local MTA that takes one copy and defers the other --------------
MIX=$(free_port)
mkdir -p "$WORK/mix"
python3 "$TOP/regress/smtpsrv.py" $MIX "$WORK/mix" --idle 120 &
at_exit "kill $!"
wait_port $MIX
printf 'c999\t%s\tc999.ok@acme.example,c999.temp@acme.example\ts@example.org\n' \
    "$CORPUS/easy-ham-1/00001.eml" >"$WORK/jobs4"
send "$WORK/jobs4" >/dev/null
M=$(leaf_conf mixed 127.0.0.1:$ODMR "$WORK/acme.secret" $MIX)
bridge-linkup -c "$M" up >"$WORK/mix.out" 2>&1
ok $? "a run with a copy deferred by the local MTA: exit 0 (the leaf has it)"
is "$(queued)" 0 "the hub's copies are gone"
is "$(grep -l 'c999.ok@acme.example' "$WORK"/mix/*.rcpt 2>/dev/null | wc -l | tr -d ' ')" 1 \
    "the accepted copy arrived once"
is "$(ls "$WORK/mixed/kept" | wc -l | tr -d ' ')" 1 \
    "the deferred copy is kept at the leaf"
is "$(cat "$WORK"/mix/*.rcpt | grep -c '^c00[123]@acme.example')" 3 \
    "the three messages the failed runs left arrived too"

# --- 5. a window's size cap ------------------------------------------------
printf 'd001\tgen:20000\td001@acme.example\ts@example.org\n' >"$WORK/jobs5"
printf 'd002\tgen:300\td002@acme.example\ts@example.org\n' >>"$WORK/jobs5"
send "$WORK/jobs5" >/dev/null
C=$(leaf_conf capped 127.0.0.1:$ODMR "$WORK/acme.secret" $SINK \
    'windows = {"00:00-24:00 max 10K"}')
before=$(count "$WORK/sink")
bridge-linkup -v -c "$C" up >"$WORK/cap.out" 2>&1
ok $? "a run under a 10K cap: exit 0"
is "$(($(count "$WORK/sink") - before))" 1 "the small message was delivered"
is "$(queued)" 1 "the big one stays at the hub"
grep -q "1 over the cap" "$WORK/cap.out"
ok $? "the leaf says so"
