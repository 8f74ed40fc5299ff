#!/bin/sh
# 72-client-tls.t - the leaf's clients under TLS (issue 12): etrn(1)
# and bridge-linkup's ODMR client use STARTTLS as their tls-policy says
# against our hub with a certificate of a test CA made here.  etrn -T
# verify -C ca with AUTH CRAM-MD5: exit 0 and the hub logs the TLS
# session; without the CA, or under another name (-N), 75 and no AUTH
# sent; -T encrypt to a server without STARTTLS (smtp-sink) 69; the
# default (may) uses TLS unverified.  bridge-linkup up with odmr {
# tls-policy = "verify" }: STARTTLS, AUTH, ATRN, and every copy of the
# corpus mail comes back over the same TLS stream into smtp-sink, byte
# for byte (e2echeck.py).  A bad tls-policy in leaf.conf is refused.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hubrun.sh"
hub_require
require smtp-sink openssl etrn bridge-linkup
CHECK="python3 $TOP/regress/e2echeck.py"
CORPUS=$(corpus_dir) || { fail "corpus"; exit 1; }

T=$WORK/tls
hub_test_ca "$T"
ok $? "a test CA and the hub's certificate" || { sed 's/^/# /' "$T/openssl.log"; exit 1; }

SINK=$(free_port)
BARE=$(free_port)
ODMR=$(free_port)
mkdir -p "$WORK/sink"
chmod 777 "$WORK/sink"
smtp-sink -u nobody -d "$WORK/sink/%M." 127.0.0.1:$SINK 100 \
    >"$WORK/sink.log" 2>&1 &
at_exit "kill $!"
smtp-sink -u nobody 127.0.0.1:$BARE 10 >"$WORK/bare.log" 2>&1 &
at_exit "kill $!"
wait_port $SINK && wait_port $BARE || { fail "smtp-sinks listen"; exit 1; }

SECRET="leaf and hub share this under tls"
printf '%s\n' "$SECRET" >"$WORK/acme.secret"
chmod 600 "$WORK/acme.secret"
HUB_ACME_OPTS="release = {\"etrn\", \"odmr\"} secret = \"$WORK/acme.secret\""
hub_init "tls { cert = \"$T/cert.pem\" key = \"$T/key.pem\" }
odmr { listen = {\"127.0.0.1:$ODMR\"} }"
hub_secret "$WORK/acme.secret"
hub_start || { fail "bridged started"; exit 1; }
wait_port $ODMR || { fail "bridged listens for ODMR"; exit 1; }
HUB=127.0.0.1:$HUB_PORT
auths() { grep -c 'authenticated as acme' "$HUB_LOG"; }

# ---- etrn(1) ----
etrn -v -T verify -C "$T/ca.pem" -u acme -s "$WORK/acme.secret" "$HUB" '#acme' \
    >"$WORK/etrn1.out" 2>"$WORK/etrn1.err"
ok $? "etrn -T verify -C ca -u acme: exit 0 ($(head -1 "$WORK/etrn1.out"))"
grep -q "TLS: TLSv1.3 with cipher .*, verified, subject /CN=hub.test" "$WORK/etrn1.err"
ok $? "... -v shows the verified TLS session"
grep -q "SMTP: TLS from localhost\[127.0.0.1\]: TLSv1.3" "$HUB_LOG" &&
    grep -q "smtp: localhost\[127.0.0.1\]: authenticated as acme (CRAM-MD5)" "$HUB_LOG"
ok $? "... the hub logged TLS, then AUTH (offered only under TLS)"
n0=$(auths)
etrn -T verify -u acme -s "$WORK/acme.secret" "$HUB" '#acme' \
    >"$WORK/etrn2.out" 2>"$WORK/etrn2.err"
is "$?" 75 "etrn -T verify with the system's CAs: 75"
grep -q "certificate not verified: unable to get local issuer certificate" "$WORK/etrn2.err"
ok $? "... saying why ($(head -1 "$WORK/etrn2.err" | cut -c1-140))"
etrn -T verify -C "$T/ca.pem" -N other.test -u acme -s "$WORK/acme.secret" \
    "$HUB" '#acme' >"$WORK/etrn3.out" 2>"$WORK/etrn3.err"
is "$?" 75 "etrn -T verify -N other.test: 75"
grep -q "certificate not verified: hostname mismatch" "$WORK/etrn3.err"
ok $? "... hostname mismatch"
sleep 0.5
is "$(auths)" "$n0" "... and no AUTH was attempted by either"
etrn -T encrypt "127.0.0.1:$BARE" example.org >"$WORK/etrn4.out" 2>"$WORK/etrn4.err"
is "$?" 69 "etrn -T encrypt to a server without STARTTLS: 69"
grep -q "offers no STARTTLS and tls-policy is encrypt" "$WORK/etrn4.err"
ok $? "... saying so ($(head -1 "$WORK/etrn4.err"))"
etrn -v "$HUB" '#acme' >"$WORK/etrn5.out" 2>"$WORK/etrn5.err"
ok $? "etrn without -T (may): exit 0"
grep -q "TLS: TLSv1.3 .*, trusted, not verified\|TLS: TLSv1.3 .*, unverified" "$WORK/etrn5.err"
ok $? "... over TLS, the certificate not checked"
etrn -T sometimes "$HUB" '#acme' >/dev/null 2>"$WORK/etrn6.err"
is "$?" 64 "etrn -T sometimes: 64 ($(cat "$WORK/etrn6.err"))"

# ---- bridge-linkup: ODMR under TLS ----
cat >"$WORK/leaf.conf" <<EOF
hostname = "leaf.test"
spool = "$WORK/leaf"
inject { method = "smtp" server = "127.0.0.1:$SINK" timeout = "30s" }
hub "isp" {
    odmr { server = "127.0.0.1:$ODMR" user = "acme" secret = "$WORK/acme.secret"
           targets = {"acme.example", "sub.acme.example"}
           tls-policy = "verify" tls-ca = "$T/ca.pem" tls-name = "hub.test" }
}
EOF
bridge-linkup -c "$WORK/leaf.conf" check
ok $? "bridge-linkup check takes tls-policy, tls-ca and tls-name"
find "$CORPUS/easy-ham-1" -type f -name '*.eml' | sort | sed -n '1,30p' |
    awk '{ id = sprintf("t%03d", NR); r = id "@acme.example"
	if (NR % 7 == 0) r = r "," id ".b@sub.acme.example"
	print id "\t" $0 "\t" r "\ts@example.org" }' >"$WORK/jobs"
N=$(wc -l <"$WORK/jobs" | tr -d ' ')
COPIES=$(awk -F'\t' '{ n += split($3, a, ",") } END { print n }' "$WORK/jobs")
cut -f1-3 "$WORK/jobs" >"$WORK/jobs.send"
$SMTPSEND -s "$HUB" -f s@example.org -j "$WORK/jobs.send" -o "$WORK/send.log" \
    -c 2 -m 50 -t 60 >/dev/null
is "$(grep -c '	250	' "$WORK/send.log")" "$N" "bridged took $N messages for acme"
bridge-linkup -v -c "$WORK/leaf.conf" up >"$WORK/up.out" 2>&1
ok $? "bridge-linkup up with odmr tls-policy verify: exit 0"
is "$(ls "$HUB_SPOOL/q/acme/new" | wc -l | tr -d ' ')" 0 "acme's queue at the hub is empty"
res=$($CHECK sink "$WORK/jobs" "$WORK/sink" hub.test)
is "$(printf '%s\n' "$res" | head -1)" \
    "expected $COPIES delivered $COPIES missing 0 duplicated 0 extra 0 bad 0 envelope 0 differ 0 qid 0" \
    "every copy came back under TLS once, byte for byte"
grep -q "odmr: .*250 2.0.0 OK, now reversing the connection; under TLSv1.3 with cipher .*, verified" "$WORK/up.out"
ok $? "the leaf logs the turn under verified TLS"
grep -q "ODMR: TLS from localhost\[127.0.0.1\]: TLSv1.3" "$HUB_LOG"
ok $? "the hub logs the ODMR session's TLS"
! grep -q 'ended early' "$HUB_LOG"
ok $? "the hub's relay ended with the session"

# ---- bad leaf.conf ----
sed 's/tls-policy = "verify"/tls-policy = "strict"/' "$WORK/leaf.conf" >"$WORK/bad.conf"
bridge-linkup -c "$WORK/bad.conf" check >"$WORK/bad.out" 2>&1
isnt_zero=$?
[ "$isnt_zero" -ne 0 ] && grep -q 'bad tls-policy "strict" (none, may, encrypt or verify)' "$WORK/bad.out"
ok $? "a bad tls-policy in leaf.conf is refused ($(head -1 "$WORK/bad.out"))"
hub_stop
