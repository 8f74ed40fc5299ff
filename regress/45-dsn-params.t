#!/bin/sh
# 45-dsn-params.t - the DSN parameters end to end on the queue path and
# the bundle path.  21 messages that cover every pair of NOTIFY, RET,
# ENVID and ORCPT values (dsncases.py) go into acme's queue and 21
# more into boat's, which is bundled for ssh: every copy in the bundle
# carries its own envelope (X-Mailbridge-Envelope:).  acme's entries
# get delayed DSNs from bridged's timer, the bundle when it has waited
# past warn-after (once); after expire-after, entries and bundle get
# failed DSNs; all leave through the relayhost into
# smtp-sink, and each one is parsed with Python's email package and
# checked field by field against RFC 3464 and against what its
# message asked for (dsncheck.py): who gets one, Original-Envelope-Id,
# Original-Recipient, RET=FULL or headers, Status, Will-Retry-Until.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hubrun.sh"
hub_require
require smtp-sink bridgectl python3

CASES="python3 $TOP/regress/dsncases.py"
CHECK="python3 $TOP/regress/dsncheck.py"
SINKUSER=
[ "$(id -u)" = 0 ] && SINKUSER="-u nobody"
count() { ls "$1" 2>/dev/null | grep -c "${2:-.}"; }
has() { [ "$(count "$1" "${3:-.}")" -ge "$2" ]; }
ctl() { bridgectl -c "$HUB_CONF" "$@"; }
# age CUSTOMER SECONDS: every entry's arrival moved back (same length)
age() {
	python3 - "$HUB_SPOOL/q/$1/new" "$2" <<'EOF'
import os, re, sys
d, back = sys.argv[1], int(sys.argv[2])
for n in os.listdir(d):
    p = os.path.join(d, n)
    with open(p, 'r+b') as f:
        head = f.read(4096)
        m = re.search(rb'\narrival (\d+)\n', head)
        new = str(int(m.group(1)) - back).encode()
        assert len(new) == len(m.group(1))
        f.seek(m.start(1))
        f.write(new)
EOF
}
# checks SPEC...: run dsncheck.py on the sink, one TAP line per check
checks() {
	$CASES spec "$@" >"$WORK/spec.json"
	$CHECK "$WORK/sink" "$WORK/spec.json" >"$WORK/check.out" 2>&1
	[ -s "$WORK/check.out" ] || echo "not ok dsncheck.py said nothing" \
	    >"$WORK/check.out"
	while read -r _st _rest; do
		if [ "$_st" = ok ]; then
			pass "$_rest"
		else
			fail "${_rest#ok }"
		fi
	done <"$WORK/check.out"
}

SINKPORT=$(free_port)
mkdir -p "$WORK/sink"
chmod 777 "$WORK/sink"
smtp-sink $SINKUSER -d "$WORK/sink/%M." 127.0.0.1:$SINKPORT 16 \
    >"$WORK/sink.log" 2>&1 &
at_exit "kill $!"
wait_port $SINKPORT || { fail "smtp-sink listens"; exit 1; }

HUB_ACME_OPTS='warn-after = "2s" expire-after = "1h"'
hub_init "relayhost = \"127.0.0.1:$SINKPORT\"
postmaster = \"postmaster@hub.test\"
customer \"boat\" { release = {\"ssh\"} bundle-delay = \"1h\" warn-after = \"30m\" expire-after = \"1h\" }"
printf 'boat.example\tboat\n' >>"$HUB_ROUTES"
hub_start || { fail "bridged started"; exit 1; }

$CASES send "$HUB_PORT" acme.example Q
ok $? "21 messages for acme with every pair of DSN parameters"
$CASES send "$HUB_PORT" boat.example B
ok $? "21 more for boat"

# ---- the bundle carries each copy's envelope ----
ctl bundle boat >/dev/null
OUT=$HUB_SPOOL/outbox/boat
wait_for 20 has "$OUT" 1 'bsmtp'
ok $? "boat's queue bundled into its outbox"
python3 - "$OUT" "$TOP/regress" <<'EOF' >"$WORK/bundle.out" 2>&1
import gzip, os, re, sys
sys.path.insert(0, sys.argv[2])
import dsncases
d = sys.argv[1]
data = gzip.open(os.path.join(d, os.listdir(d)[0])).read().decode()
copies = re.findall(r"RCPT TO:<([^>]*)>\r\nDATA\r\n"
                    r"X-Mailbridge-Envelope:((?:[^\r]*\r\n )*[^\r]*)\r\n"
                    r"X-Envelope-To: <([^>]*)>\r\n", data)
byrcpt = {c[0]: " ".join(c[1].replace("\r\n", "").split()) for c in copies}
bad = 0
for c in dsncases.cases("boat.example", "B"):
    h = byrcpt.get(c["rcpt"])
    enc = lambda v: "".join("+%02X" % ord(x) if x in "+= " else x for x in v)
    want = ["QID=", "ARRIVAL="] + c["mail"] + [
        p if not p.startswith("ORCPT=") else "ORCPT=rfc822;" +
        enc(c["orcpt"][7:]) for p in c["rcptp"]]
    if h is None or not all(w in h.split(" ") or
                            (w.endswith("=") and w in h) for w in want):
        print("copy for %s: %r, want %r" % (c["rcpt"], h, want))
        bad += 1
    elif len(h.split(" ")) != len(want):
        print("copy for %s: extra parameters in %r" % (c["rcpt"], h))
        bad += 1
print("copies=%d bad=%d" % (len(copies), bad))
EOF
is "$(tail -1 "$WORK/bundle.out")" "copies=21 bad=0" \
    "each copy's X-Mailbridge-Envelope: names its own RET, ENVID, NOTIFY, ORCPT"
[ "$(tail -1 "$WORK/bundle.out")" = "copies=21 bad=0" ] ||
    sed 's/^/# /' "$WORK/bundle.out"

# ---- delayed DSNs for acme (warn-after 2s) ----
wait_for 60 has "$WORK/sink" 12
ok $? "twelve delayed DSNs leave through the relayhost"
sleep 2

# ---- the bundle waits past warn-after, then past expire-after ----
# age_bundle SECONDS: the bundle's name (its time) and its copies'
# ARRIVAL= moved back (lifetimes are timed from the arrival)
age_bundle() {
	python3 - "$OUT" "$1" <<'EOF'
import gzip, os, re, sys
d, back = sys.argv[1], int(sys.argv[2])
def older(m):
    new = str(int(m.group(2)) - back).encode()
    assert len(new) == len(m.group(2))
    return m.group(1) + new
for n in os.listdir(d):
    p = os.path.join(d, n)
    data = re.sub(rb"(ARRIVAL=)(\d+)", older,
                  gzip.decompress(open(p, "rb").read()))
    with open(p, "wb") as f:
        f.write(gzip.compress(data))
    t = int(n[:13], 16) - back * 1000000
    os.rename(p, os.path.join(d, '%013x%s' % (t, n[13:])))
EOF
}
age_bundle 1900
ctl expire boat >"$WORK/warn.out" 2>>"$WORK/expire.err"
grep -q '0 bundles expired, 0 damaged bundles moved aside, 12 DSNs queued' \
    "$WORK/warn.out" || sed 's/^/# /' "$WORK/warn.out"
ok $? "the bundle past warn-after: twelve delayed DSNs"
ctl expire boat >"$WORK/warn2.out" 2>>"$WORK/expire.err"
grep -q ' 0 DSNs queued' "$WORK/warn2.out"
ok $? "... and only once"
age acme 7200
age_bundle 7200
ctl expire boat >"$WORK/expire.out" 2>>"$WORK/expire.err"
is "$?" 0 "bridgectl expire boat"
grep -q '1 bundles expired, 0 damaged bundles moved aside, 12 DSNs queued' \
    "$WORK/expire.out" || sed 's/^/# /' "$WORK/expire.out"
ok $? "... the bundle expired: twelve DSNs for 21 messages"
# no DSN run in flight at the stop: one stopped by SIGTERM leaves the
# report it was sending queued (bridged(8)), and the restart sends it
# again (a duplicate, never a loss; not what this test counts)
dsn_idle() {
	[ "$(grep -c '_dsn: dsn started' "$HUB_LOG")" = \
	    "$(grep -c '_dsn: dsn ended' "$HUB_LOG")" ]
}
wait_for 60 dsn_idle
hub_stop	# a start tries the DSN queue at once: no wait for its timer
hub_start || { fail "bridged restarted"; exit 1; }
wait_for 90 has "$WORK/sink" 48
ok $? "all 48 DSNs reached smtp-sink"
sleep 2
is "$(count "$WORK/sink")" 48 "... and no more"

checks delayed 4.4.1 acme.example Q - "not yet delivered" \
    + delayed 4.4.1 boat.example B - "not yet delivered" \
    + failed 4.4.7 acme.example Q - "delivery time expired" \
    + failed 4.4.7 boat.example B - "delivery time expired"
hub_stop
