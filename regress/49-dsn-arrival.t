#!/bin/sh
# 49-dsn-arrival.t - a bundle's lifetimes are timed from its messages'
# arrival, not from when the bundle was made.  boat (ssh, warn-after
# 4h, expire-after 5d) gets three messages: A is made 5 h old and C
# stays fresh while queued, then both are bundled now into one bundle;
# B is made 6 d old and bundled alone.  Both bundles are young by their
# names.  One sweep: A gets a delayed DSN whose Will-Retry-Until is the
# newest arrival in its bundle (C's) plus 5 d, C none yet, B's bundle
# expires with a failed DSN (4.4.7) and is removed; A's bundle stays,
# and the next sweep sends nothing.  The DSNs are read from smtp-sink
# with Python's email package (dsncheck.py).  Before, both bundles were
# young: no DSN at all.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hubrun.sh"
hub_require
require smtp-sink bridgectl python3

CHECK="python3 $TOP/regress/dsncheck.py"
SMTP="python3 $TOP/regress/smtpclient.py"
SINKUSER=
[ "$(id -u)" = 0 ] && SINKUSER="-u nobody"
count() { ls "$1" 2>/dev/null | grep -c "${2:-.}"; }
has() { [ "$(count "$1" "${3:-.}")" -ge "$2" ]; }
ctl() { bridgectl -c "$HUB_CONF" "$@"; }

SINKPORT=$(free_port)
mkdir -p "$WORK/sink"
chmod 777 "$WORK/sink"
smtp-sink $SINKUSER -d "$WORK/sink/%M." 127.0.0.1:$SINKPORT 16 \
    >"$WORK/sink.log" 2>&1 &
at_exit "kill $!"
wait_port $SINKPORT || { fail "smtp-sink listens"; exit 1; }

hub_init "relayhost = \"127.0.0.1:$SINKPORT\"
postmaster = \"postmaster@hub.test\"
customer \"boat\" { release = {\"ssh\"} bundle-delay = \"1h\" warn-after = \"4h\" expire-after = \"5d\" }"
printf 'boat.example\tboat\n' >>"$HUB_ROUTES"
hub_start || { fail "bridged started"; exit 1; }
Q=$HUB_SPOOL/q/boat/new
OUT=$HUB_SPOOL/outbox/boat

# send X: message X from sX@example.org to x@boat.example
send() {
	$SMTP "$HUB_PORT" 'EHLO client.example\r\n' \
	    "MAIL FROM:<s$1@example.org>\\r\\n" "RCPT TO:<$1@boat.example>\\r\\n" \
	    'DATA\r\n' "Subject: message $1\\r\\n\\r\\nbody $1\\r\\n.\\r\\n" \
	    'QUIT\r\n' | grep -q ' 354 250 221$'
}
# age SENDER SECONDS: that queued message's arrival moved back
age() {
	python3 - "$Q" "$1" "$2" <<'EOF'
import os, re, sys
d, who, back = sys.argv[1], sys.argv[2].encode(), int(sys.argv[3])
n = 0
for f in os.listdir(d):
    with open(os.path.join(d, f), "r+b") as fp:
        head = fp.read(4096)
        if b"\nsender <" + who + b">\n" not in head:
            continue
        m = re.search(rb"\narrival (\d+)\n", head)
        fp.seek(m.start(1))
        fp.write(str(int(m.group(1)) - back).encode())
        n += 1
sys.exit(0 if n == 1 else 1)
EOF
}
arrival() { sed -n 's/^arrival //p' "$Q"/* | sort -n | tail -1; }

send a && send c
ok $? "messages A and C for boat"
age sa@example.org 18000
ok $? "A's arrival 5 h back"
NEWEST=$(arrival)
ctl bundle boat >/dev/null
wait_for 20 has "$OUT" 1 bsmtp
ok $? "A and C bundled now"
send b && age sb@example.org 518400
ok $? "message B, its arrival 6 d back"
ctl bundle boat >/dev/null
wait_for 20 has "$OUT" 2 bsmtp
ok $? "B bundled now, alone"
FIRST=$(ls "$OUT" | head -1)

ctl expire boat >"$WORK/sweep.out" 2>&1
grep -q ' 1 warned, 0 expired, 1 bundles expired, .* 2 DSNs queued$' \
    "$WORK/sweep.out"
ok $? "one sweep: a delayed DSN (A) and B's bundle expired with its DSN" ||
    sed 's/^/# /' "$WORK/sweep.out"
is "$(ls "$OUT")" "$FIRST" "A's and C's bundle stays, B's is gone"
ctl expire boat >"$WORK/again.out" 2>&1
grep -q ' 0 DSNs queued$' "$WORK/again.out"
ok $? "the next sweep sends nothing" || sed 's/^/# /' "$WORK/again.out"

hub_stop	# a start tries the DSN queue at once: no wait for its timer
hub_start || { fail "bridged restarted"; exit 1; }
wait_for 60 has "$WORK/sink" 2
ok $? "the DSNs reached smtp-sink"
sleep 2

cat >"$WORK/spec.json" <<EOF
{"mta": "hub.test", "only": true,
 "none": [{"to": "sc@example.org", "kind": "delayed"}],
 "dsns": [
  {"to": "sa@example.org", "kind": "delayed", "envid": null, "full": false,
   "subject": "message a",
   "rcpts": [{"final": "a@boat.example", "status": "4.4.1", "orcpt": null,
              "remote": null, "diag": "not yet delivered"}]},
  {"to": "sb@example.org", "kind": "failed", "envid": null, "full": false,
   "subject": "message b",
   "rcpts": [{"final": "b@boat.example", "status": "4.4.7", "orcpt": null,
              "remote": null, "diag": "delivery time expired"}]}]}
EOF
$CHECK "$WORK/sink" "$WORK/spec.json" >"$WORK/check.out" 2>&1
[ -s "$WORK/check.out" ] || echo "not ok dsncheck.py said nothing" \
    >"$WORK/check.out"
while read -r _st _rest; do
	if [ "$_st" = ok ]; then pass "$_rest"; else fail "${_rest#ok }"; fi
done <"$WORK/check.out"

python3 - "$WORK/sink" "$((NEWEST + 5 * 86400))" <<'EOF' >"$WORK/until.out"
import email, email.policy, email.utils, os, sys
want = int(sys.argv[2])
for n in os.listdir(sys.argv[1]):
    m = email.message_from_bytes(open(os.path.join(sys.argv[1], n),
                                      "rb").read(),
                                 policy=email.policy.compat32)
    if m.get_content_type() != "multipart/report":
        continue
    for b in m.get_payload()[1].get_payload()[1:]:
        if b.get("Will-Retry-Until"):
            t = email.utils.parsedate_to_datetime(b["Will-Retry-Until"])
            print(int(t.timestamp()) - want)
EOF
is "$(cat "$WORK/until.out")" 0 \
    "A's Will-Retry-Until: the newest arrival in its bundle plus 5 d"
hub_stop
