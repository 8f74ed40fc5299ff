#!/bin/sh
# 70-auth-tls.t - AUTH PLAIN and LOGIN under TLS (issue 12; RFC 4616,
# RFC 4954) and STARTTLS on the ODMR listener with ATRN under TLS.
# swaks authenticates with PLAIN and LOGIN (the password is the
# customer's secret) after STARTTLS, a wrong password is 535 and
# logged; PLAIN's initial response, LOGIN's two steps, "*" and a proxy
# authorisation are tried by hand; a password mechanism in clear is
# 538 (ODMR with auth-without-tls, where CRAM-MD5 is still offered in
# clear).  On ODMR: EHLO offers STARTTLS, after it AUTH CRAM-MD5 PLAIN
# LOGIN; ATRN under TLS turns the connection round and the queue is
# delivered over the same TLS stream (the session relays the worker),
# nothing left queued.
. "$(dirname "$0")/lib.sh"
. "$TOP/regress/hubrun.sh"
hub_require
require openssl swaks python3

T=$WORK/tls
hub_test_ca "$T"
ok $? "a test CA and the hub's certificate" || { sed 's/^/# /' "$T/openssl.log"; exit 1; }

SECRET=plain-secret-$$
printf '%s\n' "$SECRET" >"$WORK/acme.secret"
ODMRPORT=$(free_port)
HUB_ACME_OPTS="release = {\"etrn\", \"odmr\"} secret = \"$WORK/acme.secret\""
hub_init "tls { cert = \"$T/cert.pem\" key = \"$T/key.pem\" }
odmr { listen = {\"127.0.0.1:$ODMRPORT\"} auth-without-tls = yes }"
hub_secret "$WORK/acme.secret"
hub_start || { fail "bridged started"; exit 1; }
HUB=127.0.0.1:$HUB_PORT
TLSOPT="--tls --tls-verify --tls-ca-path $T/ca.pem"

# ---- swaks: PLAIN and LOGIN after STARTTLS ----
swaks --server "$HUB" $TLSOPT --ehlo client.test -a PLAIN -au acme \
    -ap "$SECRET" --quit-after AUTH >"$WORK/plain.out" 2>&1
ok $? "swaks --tls -a PLAIN with the customer's secret: authenticated"
grep -q '^<~ *235 2.7.0' "$WORK/plain.out"
ok $? "... 235 2.7.0"
swaks --server "$HUB" $TLSOPT --ehlo client.test -a LOGIN -au acme \
    -ap "$SECRET" --quit-after AUTH >"$WORK/login.out" 2>&1
ok $? "swaks --tls -a LOGIN: authenticated"
grep -q "smtp: localhost\[127.0.0.1\]: authenticated as acme (PLAIN)" "$HUB_LOG" &&
    grep -q "smtp: localhost\[127.0.0.1\]: authenticated as acme (LOGIN)" "$HUB_LOG"
ok $? "the log names the customer and the mechanism"
swaks --server "$HUB" $TLSOPT --ehlo client.test -a PLAIN -au acme \
    -ap "wrong-$SECRET" --quit-after AUTH >"$WORK/wrong.out" 2>&1
[ "$?" -ne 0 ]
ok $? "a wrong password: swaks fails"
grep -q '^<~[* ]*535 5.7.8' "$WORK/wrong.out"
ok $? "... 535 5.7.8"
wait_for 5 grep -q "AUTH PLAIN failed for acme: wrong password" "$HUB_LOG"
ok $? "... logged: $(grep -o 'AUTH PLAIN failed.*' "$HUB_LOG" | head -1)"
! grep -q "$SECRET" "$HUB_LOG"
ok $? "no secret in the log"

# ---- by hand: initial responses, the steps, cancel, proxying ----
python3 - "$HUB_PORT" "$T/ca.pem" "$SECRET" >"$WORK/hand.out" 2>&1 <<'EOF'
import base64, smtplib, ssl, sys
port, ca, secret = int(sys.argv[1]), sys.argv[2], sys.argv[3]
b64 = lambda s: base64.b64encode(s.encode()).decode()
def session():
    s = smtplib.SMTP('127.0.0.1', port, timeout=20)
    s.ehlo('client.test')
    s.starttls(context=ssl.create_default_context(cafile=ca))
    s.ehlo('client.test')
    return s
def out(*a):
    print(' '.join(str(x) for x in a))
s = session()
out('plain-ir', s.docmd('AUTH PLAIN', b64('\0acme\0' + secret))[0])
out('again', s.docmd('AUTH PLAIN', b64('\0acme\0' + secret))[0])
s.close()
s = session()
c, t = s.docmd('AUTH PLAIN')
out('plain-empty-334', c, repr(t.decode()))
out('plain-authzid-self', s.docmd(b64('acme\0acme\0' + secret))[0])
s.close()
s = session()
c, t = s.docmd('AUTH LOGIN')
out('login-user', c, base64.b64decode(t).decode())
c, t = s.docmd(b64('acme'))
out('login-pass', c, base64.b64decode(t).decode())
out('login-done', s.docmd(b64(secret))[0])
s.close()
s = session()
c, t = s.docmd('AUTH LOGIN', b64('acme'))
out('login-ir', c, base64.b64decode(t).decode())
out('login-ir-done', s.docmd(b64(secret))[0])
s.close()
s = session()
s.docmd('AUTH PLAIN')
out('cancel', s.docmd('*')[0])
out('proxy', s.docmd('AUTH PLAIN', b64('ship\0acme\0' + secret))[0])
out('not-b64', s.docmd('AUTH PLAIN', '!!!!')[0])
out('unknown-mech', s.docmd('AUTH DIGEST-MD5')[0])
s.close()
EOF
is "$(cat "$WORK/hand.out")" "plain-ir 235
again 503
plain-empty-334 334 ''
plain-authzid-self 235
login-user 334 Username:
login-pass 334 Password:
login-done 235
login-ir 334 Password:
login-ir-done 235
cancel 501
proxy 535
not-b64 501
unknown-mech 504" "PLAIN with and without an initial response, LOGIN in two steps and with the name up front, * cancels, no acting as another, bad base64 501, an unknown mechanism 504"
grep -q "AUTH PLAIN failed for acme: asked to act as another user" "$HUB_LOG"
ok $? "... the proxy attempt is logged as a failure for acme"

# ---- ODMR in clear: STARTTLS offered; PLAIN is 538, CRAM still works ----
python3 - "$ODMRPORT" "$SECRET" >"$WORK/odmr-clear.out" 2>&1 <<'EOF'
import base64, hmac, smtplib, sys
port, secret = int(sys.argv[1]), sys.argv[2]
s = smtplib.SMTP('127.0.0.1', port, timeout=20)
s.ehlo('leaf.test')
print('starttls' if s.has_extn('starttls') else 'no-starttls')
print('auth=' + s.esmtp_features.get('auth', '').strip())
print(s.docmd('AUTH PLAIN', base64.b64encode(('\0acme\0' + secret).encode()).decode())[0])
print(s.docmd('AUTH LOGIN')[0])
c, t = s.docmd('AUTH CRAM-MD5')
d = hmac.new(secret.encode(), base64.b64decode(t), 'md5').hexdigest()
print(c, s.docmd(base64.b64encode(('acme ' + d).encode()).decode())[0])
s.close()
EOF
is "$(tr '\n' ' ' <"$WORK/odmr-clear.out")" "starttls auth=CRAM-MD5 538 538 334 235 " \
    "ODMR in clear (auth-without-tls): STARTTLS and AUTH CRAM-MD5 offered; PLAIN and LOGIN 538; CRAM-MD5 235"

# ---- ODMR: STARTTLS, AUTH PLAIN, ATRN, the queue delivered under TLS ----
N=3
i=0
while [ $i -lt $N ]; do
	swaks --server "$HUB" --from s@example.org --to "u$i@acme.example" \
	    --header "Subject: odmr tls $i" --body "turned under tls $i" \
	    >"$WORK/send.$i" 2>&1 || fail "message $i queued"
	i=$((i + 1))
done
is "$(ls "$HUB_SPOOL/q/acme/new" | wc -l | tr -d ' ')" "$N" "$N messages for acme queued"
python3 - "$ODMRPORT" "$T/ca.pem" "$SECRET" "$WORK/turned" >"$WORK/odmr-tls.out" 2>&1 <<'EOF'
import base64, socket, ssl, sys
port, ca, secret, dump = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
raw = socket.create_connection(('127.0.0.1', port), timeout=30)
def lines(f):
    out = []
    while True:
        l = f.readline()
        if not l:
            return out + ['EOF']
        out.append(l.decode().rstrip('\r\n'))
        if l[3:4] != b'-':
            return out
f = raw.makefile('rb')
lines(f)
raw.sendall(b'EHLO leaf.test\r\n'); lines(f)
raw.sendall(b'STARTTLS\r\n'); print('starttls', lines(f)[-1][:3])
ctx = ssl.create_default_context(cafile=ca)
s = ctx.wrap_socket(raw, server_hostname='hub.test')
f = s.makefile('rb')
s.sendall(b'EHLO leaf.test\r\n')
ehlo = lines(f)
print('tls-ehlo', ' '.join(l[4:] for l in ehlo[1:]))
s.sendall(b'AUTH PLAIN ' + base64.b64encode(('\0acme\0' + secret).encode()) + b'\r\n')
print('auth', lines(f)[-1][:3])
s.sendall(b'ATRN\r\n')
print('atrn', lines(f)[-1][:3])
# the roles turn: we are the SMTP server now, still under TLS
s.sendall(b'220 leaf.test ESMTP\r\n')
msgs, data, cur = 0, False, []
while True:
    l = f.readline()
    if not l:
        print('eof'); break
    if data:
        if l == b'.\r\n':
            data = False
            msgs += 1
            open('%s.%d' % (dump, msgs), 'wb').write(b''.join(cur))
            cur = []
            s.sendall(b'250 2.0.0 taken\r\n')
        else:
            cur.append(l)
        continue
    v = l[:4].upper()
    if v in (b'EHLO', b'HELO'):
        s.sendall(b'250-leaf.test\r\n250 PIPELINING\r\n')
    elif v == b'DATA':
        data = True
        s.sendall(b'354 go\r\n')
    elif v == b'QUIT':
        s.sendall(b'221 bye\r\n')
        print('quit'); break
    else:
        s.sendall(b'250 ok\r\n')
print('messages', msgs)
print('cipher', s.version())
EOF
is "$(tr '\n' ' ' <"$WORK/odmr-tls.out")" "starttls 220 tls-ehlo AUTH CRAM-MD5 PLAIN LOGIN ATRN ENHANCEDSTATUSCODES auth 235 atrn 250 quit messages $N cipher TLSv1.3 " \
    "ODMR: STARTTLS, EHLO offers AUTH CRAM-MD5 PLAIN LOGIN and no STARTTLS, PLAIN 235, ATRN 250, $N messages delivered over the same TLS stream, QUIT"
is "$(cat "$WORK"/turned.* 2>/dev/null | grep -c '^turned under tls [0-9]')" "$N" \
    "... each message came with its body"
wait_for 10 grep -q "odmr: acme: localhost\[127.0.0.1\]: $N sent, 0 deferred" "$HUB_LOG"
ok $? "the worker logs $N sent"
wait_for 5 sh -c "[ \$(ls '$HUB_SPOOL/q/acme/new' | wc -l) -eq 0 ]"
ok $? "nothing is left in acme's queue"
grep -q 'ODMR: TLS from localhost\[127.0.0.1\]: TLSv1.3' "$HUB_LOG"
ok $? "the ODMR log names the TLS protocol"
! grep -q 'ended early' "$HUB_LOG"
ok $? "the relay did not end early"

# ---- ATRN pipelined under TLS: the session closes, nothing delivered ----
swaks --server "$HUB" --from s@example.org --to "late@acme.example" \
    --body "late" >"$WORK/send.late" 2>&1
python3 - "$ODMRPORT" "$T/ca.pem" "$SECRET" >"$WORK/odmr-pipe.out" 2>&1 <<'EOF'
import base64, socket, ssl, sys
port, ca, secret = int(sys.argv[1]), sys.argv[2], sys.argv[3]
raw = socket.create_connection(('127.0.0.1', port), timeout=30)
f = raw.makefile('rb')
def reply(f):
    while True:
        l = f.readline()
        if not l or l[3:4] != b'-':
            return l.decode()[:3] if l else 'EOF'
reply(f)
raw.sendall(b'EHLO leaf.test\r\n'); reply(f)
raw.sendall(b'STARTTLS\r\n'); reply(f)
s = ssl.create_default_context(cafile=ca).wrap_socket(raw, server_hostname='hub.test')
f = s.makefile('rb')
s.sendall(b'EHLO leaf.test\r\n'); reply(f)
s.sendall(b'AUTH PLAIN ' + base64.b64encode(('\0acme\0' + secret).encode()) + b'\r\n')
print(reply(f))
s.sendall(b'ATRN\r\n220 leaf.test ESMTP\r\n')
print(reply(f))
EOF
is "$(tr '\n' ' ' <"$WORK/odmr-pipe.out")" "235 EOF " \
    "ATRN with the greeting pipelined after it under TLS: the session closes, no turn"
is "$(ls "$HUB_SPOOL/q/acme/new" | wc -l | tr -d ' ')" 1 "... the message stays queued"

hub_stop
