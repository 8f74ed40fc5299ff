#!/bin/sh
# 35-mx.t - deliver-to = "mx" (etrn/mx.c) through regress/flushtool, in
# a private network and mount namespace: regress/dnsstub.py answers for
# the test zone on 127.0.0.1:53 (a private /etc/resolv.conf points at
# it) and smtp-sink plays the MX hosts on 127.0.0.1:25 and 127.0.0.2:25.
# The best MX gets the mail; when it is down the next one does; a hub
# that is the best MX refuses (loop) and keeps the mail; hosts not
# preferred over the hub are never used; no MX means the domain itself;
# SERVFAIL keeps the mail for later; NXDOMAIN is permanent.  Through
# bridged: a customer with two domains whose MX hosts differ gets its
# mail at the MX of the domain the ETRN named (the first domain's for
# ETRN #customer).
if [ -z "${MX_NS:-}" ] && [ "$(id -u)" = 0 ] &&
    unshare --mount --net true 2>/dev/null; then
	MX_NS=1 exec unshare --mount --net "$0" "$@"
fi
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hubrun.sh"
hub_require
require smtp-sink python3 ip etrn
[ "${MX_NS:-}" = 1 ] ||
    skip_all "needs root and unshare --mount --net (private resolv.conf)"
ip link set lo up || skip_all "cannot bring up lo in the namespace"
printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' \
    >"$WORK/resolv.conf"
mount --bind "$WORK/resolv.conf" /etc/resolv.conf ||
    skip_all "cannot bind-mount /etc/resolv.conf"

FT=$TOP/regress/flushtool
[ -x "$FT" ] || { fail "regress/flushtool is built"; exit 1; }
SPOOL=$WORK/spool

python3 "$TOP/regress/dnsstub.py" \
    mx:acme.test:20:mx2.acme.test mx:acme.test:10:mx1.acme.test \
    a:mx1.acme.test:127.0.0.1 a:mx2.acme.test:127.0.0.2 \
    mx:loop.test:10:HUB.TEST. mx:loop.test:20:mx2.acme.test \
    mx:mid.test:10:mx1.acme.test mx:mid.test:20:hub.test \
    mx:mid.test:30:mx2.acme.test \
    a:nomx.test:127.0.0.2 servfail:bad.test \
    mx:duo.test:10:mx1.acme.test mx:duo2.test:10:mx2.acme.test \
    mx:sub.duo2.test:10:mx2.acme.test >"$WORK/dns.out" \
    2>"$WORK/dns.err" &
DNSPID=$!
at_exit "kill $DNSPID"

# wait_sink ADDR: until something accepts on ADDR:25.
wait_sink() {
	python3 -c "import socket,sys,time
for i in range(200):
    s = socket.socket(); s.settimeout(0.2)
    if s.connect_ex(('$1', 25)) == 0: sys.exit(0)
    s.close(); time.sleep(0.05)
sys.exit(1)"
}

# sink N ADDR: smtp-sink on ADDR:25 dumping into $WORK/sinkN; its pid.
sink() {
	mkdir -p "$WORK/sink$1"
	chmod 777 "$WORK/sink$1"
	smtp-sink -u nobody -d "$WORK/sink$1/%M." "$2:25" 16 \
	    >"$WORK/sink$1.log" 2>&1 &
	echo $! >"$WORK/sink$1.pid"
	at_exit "kill $!"
	wait_sink "$2"
}

got() {	# got N: messages sink N received
	find "$WORK/sink$1" -type f | wc -l | tr -d ' '
}

left() {	# left CUSTOMER: entries still queued
	ls "$SPOOL/q/$1/new" 2>/dev/null | wc -l | tr -d ' '
}

sink 1 127.0.0.1 || fail "smtp-sink on 127.0.0.1:25"
sink 2 127.0.0.2 || fail "smtp-sink on 127.0.0.2:25"
wait_file "$WORK/dns.out" && sleep 0.2
grep -q ready "$WORK/dns.out" || fail "dnsstub listens"

cat >"$WORK/routes" <<EOF2
.acme.test acme
acme.test acme
loop.test loop
mid.test mid
nomx.test nomx
bad.test bad
gone.test gone
EOF2
{
	printf 'hostname = "hub.test"\nspool = "%s"\n' "$SPOOL"
	printf 'routes = "routes"\npostmaster = "postmaster@hub.test"\n'
	for c in acme loop mid nomx bad gone; do
		printf 'customer "%s" {\n\trelease = {"etrn"}\n' $c
		printf '\tdeliver-to = {"mx"}\n\tflush-connections = 1\n}\n'
	done
} >"$WORK/bridge.conf"
printf 'Subject: mx test\n\nhello\n' >"$WORK/msg"

# flush CUSTOMER: queue one message for it and flush; the exit status.
flush() {
	"$FT" enqueue -f s@example.org "$SPOOL" "$1" "u@$1.test" \
	    "$WORK/msg" >/dev/null || fail "$1: enqueue"
	"$FT" flush -c "$WORK/bridge.conf" "$1" >"$WORK/out-$1" \
	    2>"$WORK/log-$1"
}

flush acme
ok $? "best MX up: flush exits 0"
is "$(got 1)/$(got 2)" "1/0" "best MX up: mx1 got it"
grep -q 'relay=mx1.acme.test\[127.0.0.1\]:25' "$WORK/log-acme"
ok $? "best MX up: logged relay=mx1.acme.test"

kill "$(cat "$WORK/sink1.pid")"
sleep 0.2
flush acme
ok $? "best MX down: flush exits 0"
is "$(got 1)/$(got 2)" "1/1" "best MX down: mx2 got it"
is "$(left acme)" 0 "best MX down: queue empty"

flush loop
is $? 78 "hub is the best MX: a configuration error"
grep -q 'this hub is the best MX for loop.test: mail would loop' \
    "$WORK/log-loop"
ok $? "hub is the best MX: logged"
is "$(left loop)/$(got 2)" "1/1" "hub is the best MX: mail stays queued"

flush mid
is $? 75 "only MX preferred over the hub is down: temporary"
is "$(left mid)/$(got 2)" "1/1" \
    "MX less preferred than the hub not used, mail stays"

flush nomx
ok $? "no MX records: flush exits 0"
is "$(left nomx)/$(got 2)" "0/2" "no MX records: the domain itself got it"

flush bad
is $? 75 "SERVFAIL: temporary"
is "$(left bad)" 1 "SERVFAIL: mail stays queued"

flush gone
is $? 78 "NXDOMAIN: permanent"
grep -q 'gone.test: MX lookup: no such domain' "$WORK/log-gone"
ok $? "NXDOMAIN: logged"
is "$(left gone)" 1 "NXDOMAIN: mail stays queued"

# ---- bridged: ETRN names one of the customer's domains ----
sink 1 127.0.0.1 || fail "smtp-sink on 127.0.0.1:25 again"
hub_init "customer \"duo\" { release = {\"etrn\"} deliver-to = {\"mx\"} etrn-from = {\"127.0.0.0/8\"} flush-connections = 1 }"
printf 'duo.test\tduo\nduo2.test\tduo\n.duo2.test\tduo\n' >>"$HUB_ROUTES"
hub_start || { fail "bridged started"; exit 1; }

has() { [ "$(got "$1")" -ge "$2" ]; }	# has N COUNT: sink N has COUNT

# duo_etrn ADDR NODE: queue one message for duo, then ETRN NODE from
# ADDR (one ETRN per client and customer starts work in 10 s, so each
# step uses another address); the reply code.
duo_etrn() {
	"$FT" enqueue -f s@example.org "$HUB_SPOOL" duo u@duo.test \
	    "$WORK/msg" >/dev/null || fail "duo: enqueue"
	python3 "$TOP/regress/smtpprobe.py" -b "$1" $HUB_PORT \
	    "EHLO leaf.test" "ETRN $2" QUIT | sed -n 3p | cut -c1-3
}

"$FT" enqueue -f s@example.org "$HUB_SPOOL" duo u@duo.test "$WORK/msg" \
    >/dev/null || fail "duo: enqueue"
out=$(etrn -H leaf.test 127.0.0.1:$HUB_PORT duo2.test)
is "$?/$out" "0/127.0.0.1:$HUB_PORT: ETRN duo2.test: 253 2.0.0 OK, 1 pending messages for node duo2.test started" \
    "etrn duo2.test: 253"
wait_for 10 has 2 3
is "$(got 1)/$(got 2)" "1/3" "ETRN duo2.test: duo2.test's MX (mx2) got it"
grep -q 'duo: flush started, pid [0-9]*, to the MX of duo2.test' \
    "$HUB_LOG" && grep -q 'relay=mx2.acme.test\[127.0.0.2\]:25' "$HUB_LOG"
ok $? "ETRN duo2.test: logged, relay=mx2.acme.test"
is "$(ls "$HUB_SPOOL/q/duo/new" | wc -l | tr -d " ")" 0 \
    "ETRN duo2.test: queue empty"

is "$(duo_etrn 127.0.0.3 '#duo')" 253 "ETRN #duo: 253"
wait_for 10 has 1 2
is "$(got 1)/$(got 2)" "2/3" "ETRN #duo: the first domain's MX (mx1) got it"

is "$(duo_etrn 127.0.0.4 @sub.duo2.test)" 253 \
    "ETRN @sub.duo2.test (routed by .duo2.test): 253"
wait_for 10 has 2 4
is "$(got 1)/$(got 2)" "2/4" "ETRN @sub.duo2.test: its MX (mx2) got it"
