#!/bin/sh
# 49-dsn-last-reply.t - delayed and expiry DSNs name the last remote
# reply.  raft (queue, ETRN) and boat (ETRN and ssh, so bundled) deliver
# to smtpsrv.py, which answers 451 to temp1@boat and temp2@raft: a flush
# records that reply in each entry.  boat's is then bundled: its copy's
# X-Mailbridge-Envelope: carries REMOTE= and REPLY= (bundle(5)).  Every
# copy is made 5 h old (past warn-after), swept, then 5 d more (past
# expire-after), swept: each sender gets a delayed DSN with the remote's
# status (4.2.0), Remote-MTA and its 451 as Diagnostic-Code, and a
# failed one (4.4.7) with the same Remote-MTA and reply, read from
# smtp-sink with Python's email package (dsncheck.py).  Before, the
# queue path did this and the bundle path gave an X-Mailbridge text.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hubrun.sh"
hub_require
require smtp-sink bridgectl python3

CHECK="python3 $TOP/regress/dsncheck.py"
CLIENT="python3 $TOP/regress/smtpclient.py"
FT=$TOP/regress/flushtool
SINKUSER=
[ "$(id -u)" = 0 ] && SINKUSER="-u nobody"
count() { ls "$1" 2>/dev/null | grep -c "${2:-.}"; }
has() { [ "$(count "$1" "${3:-.}")" -ge "$2" ]; }
ctl() { bridgectl -c "$HUB_CONF" "$@"; }
# older SECONDS: every copy that much older (raft's entry; boat's bundle:
# its name and its copies' ARRIVAL=)
older() {
	python3 - "$HUB_SPOOL" "$1" <<'EOF'
import gzip, os, re, sys
spool, back = sys.argv[1], int(sys.argv[2])
def sub(m):
    new = str(int(m.group(2)) - back).encode()
    assert len(new) == len(m.group(2))
    return m.group(1) + new
d = os.path.join(spool, "q", "raft", "new")
for n in os.listdir(d):
    with open(os.path.join(d, n), "r+b") as f:
        head = f.read(4096)
        m = re.search(rb"\narrival (\d+)\n", head)
        f.seek(m.start(1))
        f.write(str(int(m.group(1)) - back).encode())
d = os.path.join(spool, "outbox", "boat")
for n in os.listdir(d):
    p = os.path.join(d, n)
    data = re.sub(rb"(ARRIVAL=)(\d+)", sub, gzip.decompress(open(p, "rb").read()))
    with open(p, "wb") as f:
        f.write(gzip.compress(data))
    t = int(n[:13], 16) - back * 1000000
    os.rename(p, os.path.join(d, "%013x%s" % (t, n[13:])))
EOF
}

SINKPORT=$(free_port)
mkdir -p "$WORK/sink"
chmod 777 "$WORK/sink"
smtp-sink $SINKUSER -d "$WORK/sink/%M." 127.0.0.1:$SINKPORT 16 \
    >"$WORK/sink.log" 2>&1 &
at_exit "kill $!"
wait_port $SINKPORT || { fail "smtp-sink listens"; exit 1; }
SP=$(free_port)
mkdir -p "$WORK/srv"
python3 "$TOP/regress/smtpsrv.py" $SP "$WORK/srv" --idle 120 &
at_exit "kill $!"
wait_port $SP || { fail "the customers' server listens"; exit 1; }

L='warn-after = "4h" expire-after = "5d"'
hub_init "relayhost = \"127.0.0.1:$SINKPORT\"
postmaster = \"postmaster@hub.test\"
customer \"boat\" { release = {\"etrn\", \"ssh\"} deliver-to = {\"127.0.0.1:$SP\"} bundle-delay = \"1h\" $L }
customer \"raft\" { release = {\"etrn\"} deliver-to = {\"127.0.0.1:$SP\"} $L }"
printf 'boat.example\tboat\nraft.example\traft\n' >>"$HUB_ROUTES"
hub_start || { fail "bridged started"; exit 1; }

is "$($CLIENT "$HUB_PORT" 'EHLO client.example\r\n' \
    'MAIL FROM:<s1@example.org>\r\n' 'RCPT TO:<temp1@boat.example>\r\n' \
    'DATA\r\n' 'Subject: one\r\n\r\nbody one\r\n.\r\n' \
    'MAIL FROM:<s2@example.org>\r\n' 'RCPT TO:<temp2@raft.example>\r\n' \
    'DATA\r\n' 'Subject: two\r\n\r\nbody two\r\n.\r\n' 'QUIT\r\n')" \
    "220 250 250 250 354 250 250 250 354 250 221" "a message for boat, one for raft"
for c in boat raft; do
	"$FT" flush -c "$HUB_CONF" $c 127.0.0.1:$SP >>"$WORK/ft.out" 2>>"$WORK/ft.log"
done
is "$(grep -c 'deferred=1' "$WORK/ft.out")" 2 "flushes: each recipient 451"
grep -q '^reply 127.0.0.1 451 4.2.0 <temp1@boat.example>: try again later$' \
    "$HUB_SPOOL"/q/boat/new/*
ok $? "... the reply recorded in boat's entry"
ctl bundle boat >/dev/null
wait_for 20 has "$HUB_SPOOL/outbox/boat" 1 bsmtp
ok $? "boat's entry bundled"
gzip -dc "$HUB_SPOOL"/outbox/boat/*.bsmtp.gz | tr -d '\r' |
    sed -n '/^X-Mailbridge-Envelope:/,/^X-Envelope-To:/p' | tr -d '\n' |
    grep -q ' REMOTE=127.0.0.1 *REPLY=451+204.2.0+20<temp1@boat.example>:+20try+20again+20later'
ok $? "... its envelope carries REMOTE= and REPLY="

older 18000
ctl expire boat raft >"$WORK/warn.out" 2>&1
is "$(grep -c ' 1 DSNs queued$' "$WORK/warn.out")" 2 "5 h old: a delayed DSN each" ||
    sed 's/^/# /' "$WORK/warn.out"
older 432000
ctl expire boat raft >"$WORK/expire.out" 2>&1
is "$(grep -c ' 1 DSNs queued$' "$WORK/expire.out")" 2 "5 d later: a failed DSN each" ||
    sed 's/^/# /' "$WORK/expire.out"
hub_stop	# a start tries the DSN queue at once
hub_start || { fail "bridged restarted"; exit 1; }
wait_for 60 has "$WORK/sink" 4
ok $? "four DSNs reached smtp-sink"
sleep 2

# dsn KIND STATUS SENDER SUBJECT RCPT
dsn() {
	printf '{"to": "%s", "kind": "%s", "envid": null, "full": false,
	    "subject": "%s", "rcpts": [{"final": "%s", "status": "%s",
	    "orcpt": null, "remote": "127.0.0.1",
	    "diag": "451 4.2.0 <%s>: try again later"}]}' \
	    "$3" "$1" "$4" "$5" "$2" "$5"
}
cat >"$WORK/spec.json" <<EOF
{"mta": "hub.test", "only": true, "none": [],
 "dsns": [$(dsn delayed 4.2.0 s1@example.org one temp1@boat.example),
          $(dsn failed 4.4.7 s1@example.org one temp1@boat.example),
          $(dsn delayed 4.2.0 s2@example.org two temp2@raft.example),
          $(dsn failed 4.4.7 s2@example.org two temp2@raft.example)]}
EOF
$CHECK "$WORK/sink" "$WORK/spec.json" >"$WORK/check.out" 2>&1
[ -s "$WORK/check.out" ] || echo "not ok dsncheck.py said nothing" \
    >"$WORK/check.out"
while read -r _st _rest; do
	if [ "$_st" = ok ]; then pass "$_rest"; else fail "${_rest#ok }"; fi
done <"$WORK/check.out"
hub_stop
