#!/bin/sh
# 49-dsn-once.t - one delayed DSN per message, whatever path its copies
# took.  Four messages, each for several customers: acme and ship keep
# queues (released by ETRN to a port nobody listens on), boat and yacht
# are bundled for ssh, so their copies wait in outboxes.  Every copy is
# then made older than warn-after (queue entries' arrival, bundles'
# names and each copy's ARRIVAL=), and the lifetime sweeps run, boat's
# first: a copy in a queue sends the one DSN for the copies in other
# queues and outboxes; a copy in an outbox leaves it to a due queue
# copy, else sends it for the other outboxes' copies too.  Each sender
# gets exactly one delayed DSN naming all its recipients (read from
# smtp-sink with Python's email package, dsncheck.py); the next sweeps
# send nothing.  Without this, every copy sent its own: eight DSNs.
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
BACK=18000	# 5 h: past warn-after (4 h), short of expire-after (5 d)

SINKPORT=$(free_port)
mkdir -p "$WORK/sink"
chmod 777 "$WORK/sink"
smtp-sink $SINKUSER -d "$WORK/sink/%M." 127.0.0.1:$SINKPORT 16 \
    >"$WORK/sink.log" 2>&1 &
at_exit "kill $!"
wait_port $SINKPORT || { fail "smtp-sink listens"; exit 1; }

HUB_ACME_OPTS='warn-after = "4h" expire-after = "5d"'
hub_init "relayhost = \"127.0.0.1:$SINKPORT\"
postmaster = \"postmaster@hub.test\"
customer \"boat\" { release = {\"ssh\"} bundle-delay = \"1h\" warn-after = \"4h\" expire-after = \"5d\" }
customer \"yacht\" { release = {\"ssh\"} bundle-delay = \"1h\" warn-after = \"4h\" expire-after = \"5d\" }"
printf 'boat.example\tboat\nyacht.example\tyacht\n' >>"$HUB_ROUTES"
hub_start || { fail "bridged started"; exit 1; }

# send N SENDER RCPT...: message N from SENDER to every RCPT
send() {
	_n=$1 _s=$2
	shift 2
	for _r; do
		set -- "$@" "RCPT TO:<$_r>\\r\\n"
		shift
	done
	$SMTP "$HUB_PORT" 'EHLO client.example\r\n' "MAIL FROM:<$_s>\\r\\n" \
	    "$@" 'DATA\r\n' \
	    "Subject: message $_n\\r\\n\\r\\nbody $_n\\r\\n.\\r\\n" \
	    'QUIT\r\n' | grep -q ' 354 250 221$'
}
send 1 s1@example.org a@acme.example b@ship.example c@boat.example
ok $? "message 1 for acme, ship and boat"
send 2 s2@example.org d@acme.example e@boat.example
ok $? "message 2 for acme and boat"
send 3 s3@example.org f@boat.example g@ship.example
ok $? "message 3 for boat and ship (boat sorts first)"
send 4 s4@example.org h@boat.example i@yacht.example
ok $? "message 4 for boat and yacht"

ctl bundle boat >/dev/null && ctl bundle yacht >/dev/null
wait_for 20 has "$HUB_SPOOL/outbox/boat" 1 bsmtp &&
    wait_for 20 has "$HUB_SPOOL/outbox/yacht" 1 bsmtp
ok $? "boat's and yacht's copies bundled into their outboxes"
is "$(count "$HUB_SPOOL/q/boat/new")$(count "$HUB_SPOOL/q/yacht/new")" 00 \
    "... and out of their queues"

# every copy BACK seconds older: queue entries' arrival; bundles'
# names and their copies' ARRIVAL= (the bundle rewritten in place)
python3 - "$HUB_SPOOL" "$BACK" <<'EOF'
import gzip, os, re, sys
spool, back = sys.argv[1], int(sys.argv[2])
def older(m):
    new = str(int(m.group(2)) - back).encode()
    assert len(new) == len(m.group(2))
    return m.group(1) + new
for c in ("acme", "ship"):
    d = os.path.join(spool, "q", c, "new")
    for n in os.listdir(d):
        with open(os.path.join(d, n), "r+b") as f:
            head = f.read(4096)
            m = re.search(rb"\narrival (\d+)\n", head)
            f.seek(m.start(1))
            f.write(str(int(m.group(1)) - back).encode())
for c in ("boat", "yacht"):
    d = os.path.join(spool, "outbox", c)
    for n in os.listdir(d):
        p = os.path.join(d, n)
        data = gzip.decompress(open(p, "rb").read())
        data = re.sub(rb"(ARRIVAL=)(\d+)", older, data)
        with open(p, "wb") as f:
            f.write(gzip.compress(data))
        t = int(n[:13], 16) - back * 1000000
        os.rename(p, os.path.join(d, "%013x%s" % (t, n[13:])))
EOF
ok $? "every copy made 5 h older"

ctl expire boat >"$WORK/boat.out" 2>&1
grep -q ' 1 warned, .* 1 DSNs queued$' "$WORK/boat.out"
ok $? "boat's sweep first: one DSN (messages 4), the rest left to queues" ||
    sed 's/^/# /' "$WORK/boat.out"
ctl expire >"$WORK/all.out" 2>&1
grep -q '^acme: .* 2 DSNs queued$' "$WORK/all.out" &&
    grep -q '^ship: .* 1 DSNs queued$' "$WORK/all.out" &&
    grep -q '^yacht: .* 0 DSNs queued$' "$WORK/all.out" &&
    grep -q '^boat: .* 0 DSNs queued$' "$WORK/all.out"
ok $? "then acme sends two (messages 1, 2), ship one (3), yacht none" ||
    sed 's/^/# /' "$WORK/all.out"
ctl expire >"$WORK/again.out" 2>&1
is "$(grep -c ' 0 DSNs queued$' "$WORK/again.out")" 5 \
    "the next sweep of every queue sends nothing" ||
    sed 's/^/# /' "$WORK/again.out"
is "$(count "$HUB_SPOOL/q/_dsn/new")" 4 "four DSNs in _dsn"

hub_stop	# a start tries the DSN queue at once: no wait for its timer
hub_start || { fail "bridged restarted"; exit 1; }
wait_for 60 has "$WORK/sink" 4
ok $? "the DSNs reached smtp-sink"
sleep 2

# dsn N SENDER RCPT...: the spec of one delayed DSN
dsn() {
	_n=$1 _s=$2
	shift 2
	_rs=
	for _r; do
		_rs="$_rs${_rs:+,}{\"final\": \"$_r\", \"status\": \"4.4.1\",
		    \"orcpt\": null, \"remote\": null,
		    \"diag\": \"not yet delivered\"}"
	done
	printf '{"to": "%s", "kind": "delayed", "envid": null, "full": false,
	    "subject": "message %s", "rcpts": [%s]}' "$_s" "$_n" "$_rs"
}
cat >"$WORK/spec.json" <<EOF
{"mta": "hub.test", "only": true, "none": [],
 "dsns": [$(dsn 1 s1@example.org a@acme.example b@ship.example c@boat.example),
          $(dsn 2 s2@example.org d@acme.example e@boat.example),
          $(dsn 3 s3@example.org f@boat.example g@ship.example),
          $(dsn 4 s4@example.org h@boat.example i@yacht.example)]}
EOF
$CHECK "$WORK/sink" "$WORK/spec.json" >"$WORK/check.out" 2>&1
[ -s "$WORK/check.out" ] || echo "not ok dsncheck.py said nothing" \
    >"$WORK/check.out"
while read -r _st _rest; do
	if [ "$_st" = ok ]; then pass "$_rest"; else fail "${_rest#ok }"; fi
done <"$WORK/check.out"
hub_stop
