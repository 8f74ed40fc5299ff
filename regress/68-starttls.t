#!/bin/sh
# 68-starttls.t - STARTTLS on bridged's SMTP listener (issue 12, RFC
# 3207) with a tls section: a certificate of a test CA made here.
# EHLO offers STARTTLS and, in clear, no AUTH; openssl s_client and
# swaks verify the chain and the name; after the handshake EHLO offers
# AUTH and no STARTTLS, CRAM-MD5 works, the Received: line says ESMTPS
# and the log names protocol and cipher.  Commands pipelined after
# STARTTLS are refused (554, the CVE-2011-0411 class) and never run; a
# second STARTTLS is 503; TLS 1.1 is refused.  bridgectl check and
# bridged refuse a key that does not match, a key open to others and
# protocols below TLS 1.2.
. "$(dirname "$0")/lib.sh"
. "$TOP/regress/hubrun.sh"
hub_require
require openssl swaks bridgectl python3

T=$WORK/tls
hub_test_ca "$T"
ok $? "a test CA and the hub's certificate" || { sed 's/^/# /' "$T/openssl.log"; exit 1; }
# a second key that matches nothing
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
    -out "$T/other.pem" 2>>"$T/openssl.log"
chmod 600 "$T/other.pem"

SECRET=tls-test-secret-$$
printf '%s\n' "$SECRET" >"$WORK/acme.secret"
HUB_ACME_OPTS="secret = \"$WORK/acme.secret\""
TLSSEC="tls { cert = \"$T/cert.pem\" key = \"$T/key.pem\" }"
hub_init "$TLSSEC"
hub_secret "$WORK/acme.secret"
bridgectl -c "$HUB_CONF" check >"$WORK/check.out" 2>&1
ok $? "bridgectl check (as root) loads the chain and the key"
hub_start || { fail "bridged started"; exit 1; }
HUB=127.0.0.1:$HUB_PORT

# ---- in clear ----
python3 - "$HUB_PORT" >"$WORK/clear.out" <<'EOF'
import smtplib, sys
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=20)
s.ehlo('client.test')
print('starttls' if s.has_extn('starttls') else 'no-starttls')
print('auth' if s.has_extn('auth') else 'no-auth')
print(s.docmd('AUTH CRAM-MD5')[0])
print(s.docmd('STARTTLS x')[0])
s.quit()
EOF
is "$(tr '\n' ' ' <"$WORK/clear.out")" "starttls no-auth 503 501 " \
    "in clear: EHLO offers STARTTLS and no AUTH; AUTH 503, STARTTLS with an argument 501"

# ---- openssl s_client: the chain and the name verified ----
printf 'EHLO client.test\nQUIT\n' | timeout 30 openssl s_client -starttls smtp \
    -connect "$HUB" -CAfile "$T/ca.pem" -verify_hostname hub.test \
    -verify_return_error -crlf -ign_eof >"$WORK/s_client.out" 2>&1
ok $? "openssl s_client -starttls smtp: the handshake, verified"
grep -q 'Verify return code: 0 (ok)' "$WORK/s_client.out"
ok $? "... verify return code 0"
grep -q '^250-AUTH CRAM-MD5' "$WORK/s_client.out" &&
    ! grep -q '^250-STARTTLS' "$WORK/s_client.out"
ok $? "... EHLO under TLS offers AUTH CRAM-MD5 and no STARTTLS"
grep -q '^221 ' "$WORK/s_client.out"
ok $? "... and QUIT under TLS is 221"
wait_for 5 grep -q 'SMTP: TLS from localhost\[127.0.0.1\]: TLSv1.3 with cipher ' "$HUB_LOG"
ok $? "the log names the protocol and the cipher ($(grep -o 'SMTP: TLS from.*' "$HUB_LOG" | head -1))"
printf 'QUIT\n' | timeout 30 openssl s_client -starttls smtp -tls1_2 \
    -connect "$HUB" -CAfile "$T/ca.pem" -verify_return_error -crlf \
    -ign_eof >"$WORK/tls12.out" 2>&1
ok $? "TLS 1.2 is taken"
printf 'QUIT\n' | timeout 30 openssl s_client -starttls smtp -tls1_1 \
    -cipher 'DEFAULT@SECLEVEL=0' -connect "$HUB" -crlf -ign_eof \
    >"$WORK/tls11.out" 2>&1
is "$?" 1 "TLS 1.1 is refused"
wait_for 5 grep -q 'TLS from localhost\[127.0.0.1\] failed: handshake: .*unsupported protocol' "$HUB_LOG"
ok $? "... logged: $(grep -o 'failed: handshake.*' "$HUB_LOG" | head -1)"

# ---- swaks: mail under TLS ----
swaks --server "$HUB" --tls --tls-verify --tls-ca-path "$T/ca.pem" \
    --ehlo client.test --from s@example.org \
    --to x@ship.example --header 'Subject: over TLS' --body 'secret body' \
    >"$WORK/swaks.out" 2>&1
ok $? "swaks --tls --tls-verify: delivered"
f=$(ls "$HUB_SPOOL"/q/ship/new/* 2>/dev/null | head -1)
head -c 400 "$f" | grep -aq 'with ESMTPS id'
ok $? "the Received: line says with ESMTPS (RFC 3848)"
grep -q '^protocol ESMTPS$' "$f"
ok $? "... and the envelope's protocol"

# ---- under TLS: AUTH, the reset, a second STARTTLS ----
python3 - "$HUB_PORT" "$T/ca.pem" "$SECRET" >"$WORK/tls.out" 2>&1 <<'EOF'
import smtplib, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=20)
s.ehlo('client.test')
print(s.docmd('MAIL FROM:<a@example.org>')[0])
print(s.docmd('RSET')[0])
s.starttls(context=ctx)	# the name checked: 127.0.0.1 (its SAN)
# the session started again: MAIL wants EHLO first
print(s.docmd('MAIL FROM:<a@example.org>')[0])
s.ehlo('client.test')
print('starttls' if s.has_extn('starttls') else 'no-starttls')
print('auth=' + s.esmtp_features.get('auth', '').strip())
print(s.docmd('STARTTLS')[0])
code, _ = s.login('acme', sys.argv[3])
print(code)
print(s.docmd('ETRN', '#acme')[0])
s.quit()
EOF
is "$(tr '\n' ' ' <"$WORK/tls.out")" "250 250 503 no-starttls auth=CRAM-MD5 PLAIN LOGIN 503 235 251 " \
    "under TLS: state reset (MAIL wants EHLO: 503), no STARTTLS, AUTH CRAM-MD5 PLAIN LOGIN offered, a second STARTTLS 503, AUTH 235, ETRN 251 (nothing waits for acme)"

# ---- STARTTLS with commands pipelined after it ----
python3 - "$HUB_PORT" >"$WORK/inject.out" <<'EOF'
import socket, sys
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=20)
f = s.makefile('rb')
def reply():
    out = []
    while True:
        l = f.readline()
        if not l:
            return 'EOF'
        out.append(l.decode().rstrip())
        if l[3:4] != b'-':
            return out[-1]
reply()
s.sendall(b'EHLO client.test\r\n'); reply()
s.sendall(b'STARTTLS\r\nMAIL FROM:<inject@example.org>\r\nRCPT TO:<x@ship.example>\r\n')
print(reply().split(' ')[0])
print(reply())
EOF
is "$(tr '\n' ' ' <"$WORK/inject.out")" "554 EOF " \
    "STARTTLS with commands after it: 554, the connection closed"
grep -q 'improper command pipelining after STARTTLS from localhost\[127.0.0.1\]' "$HUB_LOG"
ok $? "... logged"
is "$(ls "$HUB_SPOOL/q/ship/new" | wc -l | tr -d ' ')" 1 "... nothing injected was queued"

# ---- configs the hub refuses ----
hub_stop
bad() {
	_want=$1 _desc=$2
	shift 2
	sed '/^tls {/d' "$HUB_CONF" >"$WORK/bad.conf"
	printf '%s\n' "$1" >>"$WORK/bad.conf"
	bridgectl -c "$WORK/bad.conf" check >"$WORK/bad.out" 2>&1
	_rc=$?
	grep -q -- "$_want" "$WORK/bad.out"
	ok $? "bridgectl check: $_desc ($(grep -v '^bridgectl: .*problem' "$WORK/bad.out" | head -1))"
	is "$_rc" 78 "... exit 78"
}
bad 'does not match' "a key of another certificate" \
    "tls { cert = \"$T/cert.pem\" key = \"$T/other.pem\" }"
cp "$T/key.pem" "$T/open.pem"
chmod 644 "$T/open.pem"
bad 'others may read it' "a key open to others" \
    "tls { cert = \"$T/cert.pem\" key = \"$T/open.pem\" }"
bad 'bad protocols' "TLS 1.1" \
    "tls { cert = \"$T/cert.pem\" key = \"$T/key.pem\" protocols = \"TLSv1.1 TLSv1.2\" }"
bad 'cert and key go together' "a cert without its key" \
    "tls { cert = \"$T/cert.pem\" }"
sed '/^tls {/d' "$HUB_CONF" >"$WORK/bad.conf"
printf 'tls { cert = "%s" key = "%s" }\n' "$T/cert.pem" "$T/other.pem" >>"$WORK/bad.conf"
bridged -d -c "$WORK/bad.conf" >"$WORK/bad.log" 2>&1
is "$?" 78 "bridged with a key that does not match: not started, 78"
grep -q 'tls: .*does not match' "$WORK/bad.log"
ok $? "... saying why ($(grep 'tls:' "$WORK/bad.log" | head -1))"
