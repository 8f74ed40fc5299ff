#!/bin/sh
# 47-dsn-leaf-retry.t - a "relayed" DSN the leaf owes is kept until the
# local MTA takes it.  A message for boat with NOTIFY=SUCCESS, ORCPT and
# ENVID is bundled by bridged; bridge-unbatch injects it by SMTP into a
# server without DSN (smtpsrv.py) that takes the copy and then goes
# down (--max-msgs 1), so the relayed DSN cannot be injected: the copy
# is journaled as taken, the bundle kept.  The server comes back and
# "bridge-unbatch -q" injects the DSN and not the copy again, then
# removes the bundle and its journal.  The DSN is read with Python's
# email package (dsncheck.py): Action relayed, Original-Recipient,
# Original-Envelope-Id.  Before, the DSN was given up at once.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hubrun.sh"
hub_require
require bridgectl bridge-unbatch python3

CHECK="python3 $TOP/regress/dsncheck.py"
CLIENT="python3 $TOP/regress/smtpclient.py"
count() { ls "$1" 2>/dev/null | grep -c "${2:-.}"; }
has() { [ "$(count "$1" "${3:-.}")" -ge "$2" ]; }

hub_init "customer \"boat\" { release = {\"ssh\"} bundle-delay = \"1h\" }"
printf 'boat.example\tboat\n' >>"$HUB_ROUTES"
hub_start || { fail "bridged started"; exit 1; }
is "$($CLIENT "$HUB_PORT" 'EHLO client.example\r\n' \
    'MAIL FROM:<s@example.org> ENVID=leaf+2Dretry\r\n' \
    'RCPT TO:<x@boat.example> NOTIFY=SUCCESS ORCPT=rfc822;X+40boat.example\r\n' \
    'DATA\r\n' 'Subject: for x\r\n\r\nbody of x\r\n.\r\n' 'QUIT\r\n')" \
    "220 250 250 250 354 250 221" "a message for x@boat.example, NOTIFY=SUCCESS"
bridgectl -c "$HUB_CONF" bundle boat >/dev/null
wait_for 20 has "$HUB_SPOOL/outbox/boat" 1 bsmtp
ok $? "bundled"
hub_stop
B=$(ls "$HUB_SPOOL"/outbox/boat/*.bsmtp.gz | head -1)
NAME=$(basename "$B")

P=$(free_port)
cat >"$WORK/leaf.conf" <<EOF
hostname = "leaf.boat.example"
spool = "$WORK/spool"
inject { method = "smtp" server = "127.0.0.1:$P" timeout = "30s" }
EOF
mkdir -p "$WORK/srv1" "$WORK/srv2"
python3 "$TOP/regress/smtpsrv.py" $P "$WORK/srv1" --idle 60 --max-msgs 1 &
SRV1=$!
at_exit "kill $SRV1"
wait_port $P || { fail "the local MTA listens"; exit 1; }

bridge-unbatch -v -c "$WORK/leaf.conf" "$B" >"$WORK/ub1.log" 2>&1
is $? 0 "bridge-unbatch: the copy taken, the MTA gone"
wait $SRV1 2>/dev/null
is "$(count "$WORK/srv1" '\.msg$')" 1 "the local MTA took the copy, then went down"
grep -qx 'x@boat.example' "$WORK/srv1/1.rcpt"
ok $? "... the copy for x@boat.example"
is "$(count "$WORK/spool/kept" "$NAME")" 1 "the bundle is kept"
grep -qx '1 0 taken' "$WORK"/spool/journal/*.j
ok $? "its journal: the copy taken, its DSN owed"
grep -q 'relayed DSN to <s@example.org>: status=deferred' "$WORK/ub1.log"
ok $? "the relayed DSN could not be injected (deferred), logged" ||
    sed 's/^/# /' "$WORK/ub1.log"

python3 "$TOP/regress/smtpsrv.py" $P "$WORK/srv2" --idle 60 &
at_exit "kill $!"
wait_port $P || { fail "the local MTA is back"; exit 1; }
bridge-unbatch -v -q -c "$WORK/leaf.conf" >"$WORK/ub2.log" 2>&1
is $? 0 "bridge-unbatch -q with the MTA back"
is "$(count "$WORK/srv2" '\.msg$')" 1 "one message injected: the DSN, not the copy again"
grep -qx '<>' "$WORK/srv2/1.from" || grep -q '^<> ' "$WORK/srv2/1.from"
ok $? "... from <>"
grep -qx 's@example.org' "$WORK/srv2/1.rcpt"
ok $? "... to s@example.org"
is "$(count "$WORK/spool/kept")" 0 "the bundle is gone"
is "$(count "$WORK/spool/journal")" 0 "... and its journal"

cat >"$WORK/spec.json" <<EOF
{"mta": "leaf.boat.example", "only": true, "none": [],
 "dsns": [{"to": "s@example.org", "kind": "relayed", "envid": "leaf-retry",
           "full": false, "subject": "for x",
           "rcpts": [{"final": "x@boat.example", "status": "2.0.0",
                      "orcpt": "rfc822;X@boat.example", "remote": null,
                      "diag": null}]}]}
EOF
$CHECK "$WORK/srv2" "$WORK/spec.json" >"$WORK/check.out" 2>&1
[ -s "$WORK/check.out" ] || echo "not ok dsncheck.py said nothing" \
    >"$WORK/check.out"
while read -r _st _rest; do
	if [ "$_st" = ok ]; then pass "$_rest"; else fail "${_rest#ok }"; fi
done <"$WORK/check.out"
