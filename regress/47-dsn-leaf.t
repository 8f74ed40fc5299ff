#!/bin/sh
# 47-dsn-leaf.t - the leaf honours the DSN parameters that travel in a
# bundle.  42 messages (dsncases.py, every pair of NOTIFY, RET, ENVID,
# ORCPT values; the second 21 for recipients the leaf's MTA refuses)
# enter bridged for an ssh customer and are bundled; the same bundle
# goes to bridge-unbatch three times:
#   - SMTP to a server that offers DSN (smtp-sink): each copy arrives
#     with its RET, ENVID, NOTIFY and ORCPT, without the hub's
#     X-Mailbridge-Envelope: field, with its X-Envelope-To:;
#   - SMTP to a server without DSN that refuses those (smtpsrv.py): a "relayed" DSN to each sender whose NOTIFY has
#     SUCCESS, a failed one (RET=FULL returning the message) to each
#     whose NOTIFY asks for failures, none to the others;
#   - the sendmail command of a private Postfix with dsn-options = yes,
#     which relays to another smtp-sink: NOTIFY and RET reach it by -N
#     and -R (ENVIDs that need xtext are not passed, as leaf.conf(5)
#     says), and nobody gets a relayed DSN.
# Every DSN is read with Python's email package and checked field by
# field (dsncheck.py).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hubrun.sh"
. "$(dirname "$0")/postfix.sh"
hub_require
pf_require
require smtp-sink bridgectl bridge-unbatch python3

CASES="python3 $TOP/regress/dsncases.py"
CHECK="python3 $TOP/regress/dsncheck.py"
SINKUSER=
[ "$(id -u)" = 0 ] && SINKUSER="-u nobody"
count() { ls "$1" 2>/dev/null | grep -c "${2:-.}"; }
has() { [ "$(count "$1" "${3:-.}")" -ge "$2" ]; }
ctl() { bridgectl -c "$HUB_CONF" "$@"; }
checks() {	# checks DIR SPEC...
	_dir=$1
	shift
	$CASES spec "$@" | sed 's/"hub.test"/"leaf.boat.example"/' \
	    >"$WORK/spec.json"
	$CHECK "$_dir" "$WORK/spec.json" >"$WORK/check.out" 2>&1
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
leafconf() {	# leafconf NAME INJECT...
	cat >"$WORK/$1.conf" <<EOF
hostname = "leaf.boat.example"
spool = "$WORK/spool-$1"
inject { $2 timeout = "30s" }
EOF
}
# params DIR TAG KEYS: the DSN parameters that reached smtp-sink in DIR
# for the messages of TAG, compared with what they gave (KEYS: those
# that must arrive); prints bad=N last.
params() {
	python3 - "$1" "$TOP/regress" "$2" "$3" <<'EOF'
import os, sys
sys.path.insert(0, sys.argv[2])
import dsncases
keys = sys.argv[4].split(",")
enc = lambda v: "".join("+%02X" % ord(x) if x in "+= " else x for x in v)
got = {}
for n in os.listdir(sys.argv[1]):
    with open(os.path.join(sys.argv[1], n), "rb") as f:
        text = f.read().decode()
    h = dict(ln.split(": ", 1) for ln in text.split("\n")
             if ln.startswith("X-") and ": " in ln)
    h["text"] = text
    got[h["X-Rcpt-Args"].split(" ")[0].strip("<>")] = h
bad = 0
for c in dsncases.cases("boat.example", sys.argv[3]):
    h = got.get(c["rcpt"])
    want = [p for p in c["mail"] + c["rcptp"] if p.split("=")[0] in keys]
    want = [p if not p.startswith("ORCPT=") else "ORCPT=rfc822;" +
            enc(c["orcpt"][7:]) for p in want]
    have = [] if h is None else [p for p in h["X-Mail-Args"].split(" ")[1:] +
                                 h["X-Rcpt-Args"].split(" ")[1:]
                                 if p.split("=")[0] in keys]
    if sorted(have) != sorted(want) or "X-Mailbridge-Envelope" in \
            h["text"] or "X-Envelope-To: <%s>" % c["rcpt"] not in h["text"]:
        print("%s: %r, want %r" % (c["rcpt"], have, want))
        bad += 1
print("bad=%d" % bad)
EOF
}

# ---- the hub makes the bundle ----
hub_init "customer \"boat\" { release = {\"ssh\"} bundle-delay = \"1h\" }"
printf 'boat.example\tboat\n.boat.example\tboat\n' >>"$HUB_ROUTES"
hub_start || { fail "bridged started"; exit 1; }
$CASES send "$HUB_PORT" boat.example L &&
    $CASES send "$HUB_PORT" perm.boat.example M
ok $? "42 messages for boat"
ctl bundle boat >/dev/null
wait_for 20 has "$HUB_SPOOL/outbox/boat" 1 'bsmtp'
ok $? "bundled"
hub_stop
B=$(ls "$HUB_SPOOL"/outbox/boat/*.bsmtp.gz | head -1)
NAME=$(basename "$B")

# ---- SMTP to a server with DSN ----
S1=$(free_port)
sink $S1 "$WORK/dsn" || { fail "smtp-sink listens"; exit 1; }
leafconf dsn "method = \"smtp\" server = \"127.0.0.1:$S1\""
mkdir -p "$WORK/in-dsn"
cp "$B" "$WORK/in-dsn/$NAME"
bridge-unbatch -v -c "$WORK/dsn.conf" "$WORK/in-dsn/$NAME" >"$WORK/ub-dsn.log" 2>&1
is $? 0 "bridge-unbatch: every copy to the server with DSN"
wait_for 10 has "$WORK/dsn" 42
ok $? "42 copies there"
is "$(params "$WORK/dsn" L RET,ENVID,NOTIFY,ORCPT | tail -1)" "bad=0" \
    "each with its RET, ENVID, NOTIFY, ORCPT; no envelope field, X-Envelope-To kept"
sleep 1
is "$(grep -l 'multipart/report' "$WORK/dsn"/* 2>/dev/null | wc -l | tr -d ' ')" 0 \
    "no DSN from the leaf: the server took them all, parameters and all"

# ---- SMTP to a server without DSN that refuses some ----
S2=$(free_port)
mkdir -p "$WORK/srv"
python3 "$TOP/regress/smtpsrv.py" $S2 "$WORK/srv" --idle 60 &
at_exit "kill $!"
wait_port $S2 || { fail "smtpsrv.py listens"; exit 1; }
leafconf plain "method = \"smtp\" server = \"127.0.0.1:$S2\""
mkdir -p "$WORK/in-plain"
cp "$B" "$WORK/in-plain/$NAME"
bridge-unbatch -v -c "$WORK/plain.conf" "$WORK/in-plain/$NAME" \
    >"$WORK/ub-plain.log" 2>&1
is $? 0 "bridge-unbatch: to the server without DSN"
grep -c 'relayed DSN to' "$WORK/ub-plain.log" | grep -qx 6
ok $? "six relayed DSNs logged"
checks "$WORK/srv" relayed 2.0.0 boat.example L - "250 2.0.0 Ok: queued" \
    + failed 5.1.1 perm.boat.example M - "550 5.1.1 <rM-"

# ---- the sendmail command of a private Postfix, dsn-options = yes ----
S3=$(free_port)
sink $S3 "$WORK/pf" || { fail "smtp-sink for Postfix listens"; exit 1; }
pf_init leafpf
pf_set "default_transport = smtp:[127.0.0.1]:$S3" \
    "relay_transport = smtp:[127.0.0.1]:$S3"
pf_start
ok $? "a private Postfix relaying to smtp-sink"
leafconf pf "method = \"sendmail\" command = {\"$PF_BIN/sendmail\", \"-C\", \"$PF_CONF\", \"-oi\"} dsn-options = yes"
mkdir -p "$WORK/in-pf"
cp "$B" "$WORK/in-pf/$NAME"
python3 - "$WORK/in-pf/$NAME" <<'EOF'
import gzip, re, sys
data = gzip.open(sys.argv[1]).read()
keep = re.split(rb"(?=MAIL FROM:)", data)
out = keep[0] + b"".join(k for k in keep[1:] if b"<rM-" not in k)
if not out.endswith(b"QUIT\r\n"):
    out += b"QUIT\r\n"
gzip.open(sys.argv[1], "wb").write(out)
EOF
bridge-unbatch -v -c "$WORK/pf.conf" "$WORK/in-pf/$NAME" >"$WORK/ub-pf.log" 2>&1
is $? 0 "bridge-unbatch: 21 copies through Postfix's sendmail"
pf_wait_empty 60
wait_for 10 has "$WORK/pf" 21
ok $? "Postfix relayed them to smtp-sink"
is "$(params "$WORK/pf" L RET,NOTIFY | tail -1)" "bad=0" \
    "NOTIFY (-N) and RET (-R) reached the next MTA"
grep -q 'relayed DSN' "$WORK/ub-pf.log"
is $? 1 "no relayed DSN: sendmail took the parameters"
grep -l 'ENVID=' "$WORK/pf"/* >/dev/null 2>&1
is $? 1 "(ENVIDs that need xtext are not passed to -V)"
pf_stop
