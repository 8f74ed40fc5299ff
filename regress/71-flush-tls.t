#!/bin/sh
# 71-flush-tls.t - the flush client's STARTTLS and the customer's
# tls-policy (issue 12), against a private Postfix whose smtpd requires
# TLS (smtpd_tls_security_level = encrypt, a certificate of a test CA
# made here) on one port and offers none on another.  verify with the
# test CA delivers and logs the chain as verified, and Postfix logs the
# TLS connection; verify with another name (tls-name), or without the
# CA (the system's store), is refused and the mail stays queued;
# encrypt takes an unverified certificate but never a server without
# STARTTLS; may delivers in clear to a server without it.  bridgectl
# check refuses a bad tls-policy and a tls-ca that is not a CA file.
. "$(dirname "$0")/lib.sh"
. "$TOP/regress/hubrun.sh"
. "$TOP/regress/postfix.sh"
hub_require
pf_require
require openssl swaks bridgectl

T=$WORK/tls
hub_test_ca "$T"
ok $? "a test CA and a certificate for 127.0.0.1 and hub.test" || { sed 's/^/# /' "$T/openssl.log"; exit 1; }

pf_init
CLEARPORT=$(free_port)
pf_set "smtpd_tls_security_level = encrypt" \
    "smtpd_tls_cert_file = $T/cert.pem" "smtpd_tls_key_file = $T/key.pem" \
    "smtpd_tls_loglevel = 1" \
    "relay_domains = acme.example, ship.example, enc.example, may.example, clear.example, sys.example"
pf_master "127.0.0.1:$CLEARPORT inet n - n - - smtpd -o smtpd_tls_security_level=none" \
    "tlsmgr unix - - n 1000? 1 tlsmgr"
pf_start || { fail "postfix started"; exit 1; }
wait_port "$CLEARPORT" 10 || { fail "postfix listens on $CLEARPORT"; exit 1; }
TLSHOST=127.0.0.1:$PF_PORT
CLEARHOST=127.0.0.1:$CLEARPORT

# a server that answers STARTTLS with more than its 220 (the client's
# side of the CVE-2011-0411 class): what follows must not be taken
INJPORT=$(free_port)
python3 - "$INJPORT" >"$WORK/inj.log" 2>&1 <<'EOF' &
import socket, sys
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(('127.0.0.1', int(sys.argv[1])))
l.listen(4)
def serve(c):
    f = c.makefile('rb')
    c.sendall(b'220 inj.test ESMTP\r\n')
    while True:
        line = f.readline()
        if not line:
            return
        v = line[:4].upper()
        if v == b'EHLO':
            c.sendall(b'250-inj.test\r\n250 STARTTLS\r\n')
        elif v == b'STAR':
            c.sendall(b'220 go ahead\r\n250 injected\r\n')
        elif v == b'QUIT':
            c.sendall(b'221 bye\r\n')
            return
        else:
            c.sendall(b'250 ok\r\n')
while True:             # every connection of every try, until killed
    c, _ = l.accept()
    try:
        serve(c)
    except OSError:
        pass            # the client reset the connection: the next one
    c.close()
EOF
at_exit "kill $!"
wait_port "$INJPORT" 10 || { fail "the injecting server listens"; exit 1; }

HUB_ACME_OPTS="deliver-to = {\"$TLSHOST\"} tls-policy = \"verify\" tls-ca = \"$T/ca.pem\""
hub_init "customer \"encc\" { release = {\"etrn\"} deliver-to = {\"$TLSHOST\"} tls-policy = \"encrypt\" }
customer \"mayc\" { release = {\"etrn\"} deliver-to = {\"$CLEARHOST\"} }
customer \"clearc\" { release = {\"etrn\"} deliver-to = {\"$CLEARHOST\"} tls-policy = \"encrypt\" }
customer \"sysc\" { release = {\"etrn\"} deliver-to = {\"$TLSHOST\"} tls-policy = \"verify\" }
customer \"injc\" { release = {\"etrn\"} deliver-to = {\"127.0.0.1:$INJPORT\"} tls-policy = \"encrypt\" }"
# ship: verify against the test CA but under a name the certificate lacks
sed -i '/^customer "ship"/d' "$HUB_CONF"
printf 'customer "ship" { release = {"etrn"} deliver-to = {"%s"} tls-policy = "verify" tls-ca = "%s" tls-name = "wrong.test" }\n' \
    "$TLSHOST" "$T/ca.pem" >>"$HUB_CONF"
printf 'enc.example\tencc\nmay.example\tmayc\nclear.example\tclearc\nsys.example\tsysc\ninj.example\tinjc\n' >>"$HUB_ROUTES"
bridgectl -c "$HUB_CONF" check >"$WORK/check.out" 2>&1
ok $? "bridgectl check takes tls-policy, tls-ca and tls-name ($(head -1 "$WORK/check.out"))"
hub_start || { fail "bridged started"; exit 1; }

queued() { ls "$HUB_SPOOL/q/$1/new" 2>/dev/null | wc -l | tr -d ' '; }
for d in acme ship enc may clear sys inj; do
	swaks --server "127.0.0.1:$HUB_PORT" --from s@example.org \
	    --to "u@$d.example" --header "Subject: tls to $d" \
	    --body "flushed to $d" >"$WORK/send.$d" 2>&1 ||
	    fail "a message for $d.example queued"
done
is "$(queued acme)$(queued ship)$(queued encc)$(queued mayc)$(queued clearc)$(queued sysc)" 111111 \
    "one message queued for each customer"
for c in acme ship encc mayc clearc sysc injc; do
	bridgectl -c "$HUB_CONF" flush "$c" >"$WORK/flush.$c" 2>&1
done
emptied() { [ "$(queued "$1")" = 0 ]; }
wait_for 30 emptied acme
ok $? "verify with the test CA: acme's message delivered"
grep -q "acme: flush: TLS to 127.0.0.1\[127.0.0.1\]:$PF_PORT: TLSv1.[23] with cipher .*, verified, subject /CN=hub.test, issuer /CN=Test CA" "$HUB_LOG"
ok $? "... logged: $(grep -o 'acme: flush: TLS to.*' "$HUB_LOG" | head -1 | cut -c1-150)"
wait_for 10 grep -q 'TLS connection established from localhost\[127.0.0.1\]' "$PF_LOG"
ok $? "... and Postfix logged the TLS connection"
wait_for 30 emptied encc
ok $? "encrypt: delivered to the TLS port without checking the chain"
grep -q "encc: flush: TLS to .*, unverified, subject /CN=hub.test" "$HUB_LOG"
ok $? "... logged as unverified"
wait_for 30 emptied mayc
ok $? "may: delivered in clear to a server without STARTTLS"
wait_for 20 grep -q "ship: flush: no connection: TLS handshake with 127.0.0.1\[127.0.0.1\]:$PF_PORT failed: certificate not verified: hostname mismatch" "$HUB_LOG"
ok $? "verify under a name the certificate lacks: refused ($(grep -o 'ship: flush: no connection.*' "$HUB_LOG" | head -1 | cut -c1-160))"
is "$(queued ship)" 1 "... ship's message stays queued"
wait_for 20 grep -q "clearc: flush: no connection: 127.0.0.1\[127.0.0.1\]:$CLEARPORT offers no STARTTLS and tls-policy is encrypt" "$HUB_LOG"
ok $? "encrypt to a server without STARTTLS: refused, logged"
is "$(queued clearc)" 1 "... clearc's message stays queued"
wait_for 20 grep -q "sysc: flush: no connection: TLS handshake .*failed: certificate not verified: unable to get local issuer certificate" "$HUB_LOG"
ok $? "verify without the test CA (the system's store): refused"
is "$(queued sysc)" 1 "... sysc's message stays queued"
wait_for 20 grep -q "injc: flush: no connection: 127.0.0.1\[127.0.0.1\]:$INJPORT sent data after its 220 to STARTTLS" "$HUB_LOG"
ok $? "a server that sends more after its 220 to STARTTLS: refused, logged"
is "$(queued injc)" 1 "... injc's message stays queued"
is "$(pf_log_count 'to=<u@(acme|enc|may)\.example>.*status=sent')" 3 \
    "Postfix took exactly the three messages that met their policy"
is "$(pf_log_count 'to=<u@(ship|clear|sys)\.example>')" 0 \
    "... and none of the others"
hub_stop

# ---- configs bridgectl refuses ----
sed 's|tls-policy = "encrypt" }|tls-policy = "sometimes" }|' "$HUB_CONF" >"$WORK/bad1.conf"
bridgectl -c "$WORK/bad1.conf" check >"$WORK/bad1.out" 2>&1
is "$?" 78 "a bad tls-policy: exit 78"
grep -q 'bad tls-policy "sometimes" (none, may, encrypt or verify)' "$WORK/bad1.out"
ok $? "... naming it ($(grep tls-policy "$WORK/bad1.out" | head -1))"
sed "s|tls-ca = \"$T/ca.pem\"|tls-ca = \"$T/openssl.log\"|" "$HUB_CONF" >"$WORK/bad2.conf"
bridgectl -c "$WORK/bad2.conf" check >"$WORK/bad2.out" 2>&1
is "$?" 78 "a tls-ca that holds no certificate: exit 78"
grep -q 'customer "acme": tls-ca: CA certificates' "$WORK/bad2.out"
ok $? "... naming the customer ($(grep tls-ca "$WORK/bad2.out" | head -1 | cut -c1-150))"
