#!/bin/sh
# 46-dsn-relay.t - the flush passes the DSN parameters on, and owes the
# sender what RFC 3461 6.2 asks when it cannot.  The 21 messages of
# dsncases.py (every pair of NOTIFY, RET, ENVID, ORCPT values) go to a
# customer whose server offers DSN (Postfix's smtp-sink, which records
# MAIL and RCPT as it got them): every parameter arrives, decoded and
# encoded back the same, and nobody gets a DSN.  Three more sets go to
# a customer server without DSN that answers by recipient
# (smtpsrv.py): those it takes give a "relayed" DSN to each sender
# whose NOTIFY has SUCCESS, those it refuses with 550 a failed one with
# Remote-MTA and its reply, those it answers 451 stay queued with that
# reply and later give a delayed DSN (its status 4.2.0, Remote-MTA, the
# reply) and after expire-after a failed one that still names the last
# reply.  Every DSN leaves through the relayhost and is read with
# Python's email package and checked field by field (dsncheck.py).
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
queued() { count "$HUB_SPOOL/q/$1/new"; }
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
sink() {	# sink PORT DIR
	mkdir -p "$2"
	chmod 777 "$2"
	smtp-sink $SINKUSER -d "$2/%M." 127.0.0.1:$1 16 >>"$WORK/sink.log" 2>&1 &
	at_exit "kill $!"
	wait_port "$1"
}

RELAY=$(free_port)
sink $RELAY "$WORK/sink" || { fail "smtp-sink (relayhost) listens"; exit 1; }
CUST=$(free_port)
sink $CUST "$WORK/cust" || { fail "smtp-sink (customer) listens"; exit 1; }
SRV=$(free_port)
mkdir -p "$WORK/srv"
python3 "$TOP/regress/smtpsrv.py" $SRV "$WORK/srv" --idle 120 &
at_exit "kill $!"
wait_port $SRV || { fail "smtpsrv.py listens"; exit 1; }

hub_init "relayhost = \"127.0.0.1:$RELAY\"
postmaster = \"postmaster@hub.test\"
customer \"dsn\" { release = {\"etrn\"} deliver-to = {\"127.0.0.1:$CUST\"} etrn-from = {\"127.0.0.0/8\"} }
customer \"plain\" { release = {\"etrn\"} deliver-to = {\"127.0.0.1:$SRV\"} etrn-from = {\"127.0.0.0/8\"} warn-after = \"1h\" expire-after = \"2h\" }"
printf 'dsn.example\tdsn\nplain.example\tplain\n' >>"$HUB_ROUTES"
hub_start || { fail "bridged started"; exit 1; }

# ---- a server that offers DSN gets every parameter ----
$CASES send "$HUB_PORT" dsn.example S
ok $? "21 messages for the customer whose server offers DSN"
ctl flush dsn >/dev/null
wait_for 30 has "$WORK/cust" 21
ok $? "all 21 delivered to its smtp-sink"
python3 - "$WORK/cust" "$TOP/regress" <<'EOF' >"$WORK/cust.out" 2>&1
import os, sys
sys.path.insert(0, sys.argv[2])
import dsncases
enc = lambda v: "".join("+%02X" % ord(x) if x in "+= " else x for x in v)
got = {}
for n in os.listdir(sys.argv[1]):
    with open(os.path.join(sys.argv[1], n), "rb") as f:
        h = dict(ln.split(": ", 1) for ln in
                 f.read().decode().split("\n") if ln.startswith("X-"))
    got[h["X-Rcpt-Args"].split(" ")[0].strip("<>")] = h
bad = 0
for c in dsncases.cases("dsn.example", "S"):
    h = got.get(c["rcpt"])
    mail = c["mail"]
    rcpt = [p if not p.startswith("ORCPT=") else "ORCPT=rfc822;" +
            enc(c["orcpt"][7:]) for p in c["rcptp"]]
    if h is None or h["X-Mail-Args"].split(" ")[1:] != mail or \
            h["X-Rcpt-Args"].split(" ")[1:] != rcpt:
        print("%s: %r %r, want %r %r" % (c["rcpt"], h and h["X-Mail-Args"],
              h and h["X-Rcpt-Args"], mail, rcpt))
        bad += 1
print("bad=%d" % bad)
EOF
is "$(tail -1 "$WORK/cust.out")" "bad=0" \
    "RET, ENVID on MAIL and NOTIFY, ORCPT on RCPT, as each message gave them"
[ "$(tail -1 "$WORK/cust.out")" = "bad=0" ] || sed 's/^/# /' "$WORK/cust.out"
is "$(queued dsn)" 0 "its queue is empty"

# ---- a server without DSN: relayed, refused, deferred ----
$CASES send "$HUB_PORT" plain.example R &&
    $CASES send "$HUB_PORT" plain.example Pperm &&
    $CASES send "$HUB_PORT" plain.example Ttemp
ok $? "63 messages for the customer whose server has no DSN"
ctl flush plain >/dev/null
wait_for 30 sh -c "[ \$(ls '$HUB_SPOOL/q/plain/new' | wc -l) = 21 ] &&
    [ \$(ls '$WORK/srv' | grep -c '\\.msg\$') = 21 ] &&
    [ \$(grep -l '^reply ' '$HUB_SPOOL'/q/plain/new/* | wc -l) = 21 ]"
ok $? "21 taken, 21 refused, 21 deferred and still queued"
grep -l 'RET=\|ENVID=' "$WORK/srv"/*.from >/dev/null 2>&1
is $? 1 "no DSN parameter sent to a server that does not offer DSN"
grep -q '^reply 127.0.0.1 451 4.2.0 <rTtemp-0@plain.example>: try again later$' \
    "$HUB_SPOOL"/q/plain/new/*
ok $? "a deferred entry records the server's 451 and who said it"
wait_for 60 has "$WORK/sink" 18
ok $? "6 relayed and 12 failed DSNs leave through the relayhost"

# ---- the deferred ones: delayed, then failed, with the last reply ----
age plain 3700
ctl expire plain >"$WORK/expire1.out" 2>&1
grep -q '21 entries, [0-9]* warned, 0 expired, .* 12 DSNs queued' \
    "$WORK/expire1.out" || sed 's/^/# /' "$WORK/expire1.out"
ok $? "after warn-after: twelve delayed DSNs"
age plain 3700
ctl expire plain >"$WORK/expire2.out" 2>&1
grep -q '21 entries, 0 warned, 21 expired, .* 12 DSNs queued' \
    "$WORK/expire2.out" || sed 's/^/# /' "$WORK/expire2.out"
ok $? "after expire-after: twelve failed DSNs, the entries removed"
hub_stop	# a start tries the DSN queue at once: no wait for its timer
hub_start || { fail "bridged restarted"; exit 1; }
wait_for 90 has "$WORK/sink" 42
ok $? "all 42 DSNs reached the relayhost"
sleep 2
is "$(count "$WORK/sink")" 42 "... and no more"

checks relayed 2.0.0 plain.example R 127.0.0.1 "250 2.0.0 Ok: queued" \
    + failed 5.1.1 plain.example Pperm 127.0.0.1 "550 5.1.1 <rPperm-" \
    + delayed 4.2.0 plain.example Ttemp 127.0.0.1 "451 4.2.0 <rTtemp-" \
    + failed 4.4.7 plain.example Ttemp 127.0.0.1 "451 4.2.0 <rTtemp-"
hub_stop
