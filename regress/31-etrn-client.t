#!/bin/sh
# 31-etrn-client.t - etrn(1) against a private Postfix that holds mail
# for acme.test (fast flush, ETRN from 127.0.0.0/8): output and exit
# codes for a domain with mail (which then really arrives), one without,
# one Postfix refuses (4xx), a malformed one (5xx), an unreachable port
# (75); and -w against a scripted server that says 253, then 251.
. "$(dirname "$0")/lib.sh"
require etrn smtp-sink smtp-source python3
if [ ! -f "$TOP/regress/postfix.sh" ]; then
	skip_all "regress/postfix.sh not present"
	exit 0
fi
. "$TOP/regress/postfix.sh"
pf_require

SINKUSER=
[ "$(id -u)" = 0 ] && SINKUSER="-u nobody"
SINKPORT=$(free_port)

pf_init etrn
pf_set "relay_domains = acme.test, empty.test" \
    "fast_flush_domains = \$relay_domains" \
    "smtpd_etrn_restrictions = permit_mynetworks, reject" \
    "transport_maps = inline:{acme.test=smtp:[127.0.0.1]:$SINKPORT, empty.test=smtp:[127.0.0.1]:$SINKPORT}" \
    "smtpd_recipient_restrictions = permit_mynetworks, reject" \
    "queue_run_delay = 1h" "minimal_backoff_time = 1h" \
    "maximal_backoff_time = 1h" "smtp_connect_timeout = 5s"
pf_start || { fail "private Postfix started"; exit 1; }
S=127.0.0.1:$PF_PORT

# one message for acme.test, deferred while nothing listens on SINKPORT
smtp-source -m 1 -f s@example.org -t x@acme.test $S
i=0
while [ "$(pf_log_count 'to=<x@acme.test>.*status=deferred')" -eq 0 ] &&
    [ $i -lt 200 ]; do
	sleep 0.1
	i=$((i + 1))
done
is "$(pf_log_count 'to=<x@acme.test>.*status=deferred')" 1 \
    "Postfix holds one message for acme.test"

mkdir -p "$WORK/sink"
chmod 777 "$WORK/sink"
smtp-sink $SINKUSER -d "$WORK/sink/%M." 127.0.0.1:$SINKPORT 16 \
    >"$WORK/sink.log" 2>&1 &
at_exit "kill $!"
wait_port $SINKPORT || fail "smtp-sink listens"

out=$(etrn -H leaf.test $S acme.test)
ok $? "ETRN for a domain with mail: exit 0"
is "$out" "$S: ETRN acme.test: 250 Queuing started" "output line"
i=0
while [ -z "$(ls "$WORK/sink")" ] && [ $i -lt 200 ]; do
	sleep 0.1
	i=$((i + 1))
done
[ "$(ls "$WORK/sink" | wc -l | tr -d ' ')" = 1 ]
ok $? "the held message was delivered after ETRN"

out=$(etrn -p $PF_PORT 127.0.0.1 empty.test)
ok $? "ETRN for a domain without mail (-p port): exit 0"
is "$out" "127.0.0.1: ETRN empty.test: 250 Queuing started" "output line"

out=$(etrn $S other.test)
is $? 75 "ETRN for a domain Postfix will not flush: exit 75"
case "$out" in
"$S: ETRN other.test: 459 "*) pass "459 shown" ;;
*) fail "459 shown"; diag "$out" ;;
esac

out=$(etrn $S 'bad!domain')
is $? 69 "malformed domain: exit 69"
case "$out" in
"$S: ETRN bad!domain: 501 "*) pass "501 shown" ;;
*) fail "501 shown"; diag "$out" ;;
esac

out=$(etrn $S acme.test other.test 'bad!domain')
is $? 69 "the worst reply wins"
is "$(echo "$out" | wc -l | tr -d ' ')" 3 "one line per target"

etrn $S '' >/dev/null 2>&1
is $? 64 "empty target: usage"

DEAD=$(free_port)
out=$(etrn 127.0.0.1:$DEAD acme.test empty.test)
is $? 75 "unreachable port: exit 75"
is "$out" "127.0.0.1:$DEAD: connect to 127.0.0.1[127.0.0.1]:$DEAD: Connection refused" \
    "one line for the failed connection"

# ---- -w: keep asking until 251 ----
cat >"$WORK/etrnd.py" <<'EOF'
import socket, sys
# etrnd.py PORT: ETRN x answers 253 twice, then 251; ETRN #gone 550.
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(4)
s.settimeout(60)
asked = {}

def serve(c):
    r = c.makefile("rb")
    c.sendall(b"220 etrnd.test ESMTP\r\n")
    for line in r:
        cmd = line.decode().strip()
        if cmd.upper().startswith("EHLO"):
            c.sendall(b"250-etrnd.test\r\n250 ETRN\r\n")
        elif cmd.upper().startswith("ETRN "):
            t = cmd[5:]
            asked[t] = asked.get(t, 0) + 1
            if t == "#gone":
                c.sendall(b"550 5.7.1 no such queue\r\n")
            elif asked[t] < 3:
                c.sendall(b"253 OK, 2 pending messages for node %s "
                          b"started\r\n" % t.encode())
            else:
                c.sendall(b"251 OK, no messages waiting for node %s\r\n"
                          % t.encode())
        elif cmd.upper() == "QUIT":
            c.sendall(b"221 bye\r\n")
            break

while True:
    try:
        c, _ = s.accept()
    except socket.timeout:
        break
    try:
        serve(c)
    except OSError:
        pass
    c.close()
EOF
EP=$(free_port)
python3 "$WORK/etrnd.py" $EP &
at_exit "kill $!"
wait_port $EP || fail "scripted ETRN server listens"
out=$(etrn -w 30 127.0.0.1:$EP '#acme')
ok $? "-w: exit 0 once the server says 251"
is "$(echo "$out" | sed 's/.*: //' | cut -c1-3 | tr '\n' ' ')" \
    "253 253 251 " "-w: asked until 251"
out=$(etrn -w 1 127.0.0.1:$EP '#ship')
is $? 75 "-w: out of time while mail is pending: exit 75"
out=$(etrn -w 30 127.0.0.1:$EP '#gone')
is $? 69 "-w: 5xx is final"
is "$(echo "$out" | wc -l | tr -d ' ')" 1 "-w: a 5xx is not asked again"
