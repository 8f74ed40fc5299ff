#!/bin/sh
# 69-auth-lockout.t - failed AUTHs are counted across connections by
# the hub's lookup process (issue 12): with auth-failures = 3 two
# failures from one address each get 535, the replies waiting longer
# each time, the third gets 421 4.7.0 and the lockout is logged with
# the address; from then on AUTH from that address is 421 at once (the
# right secret is never even asked for), while another address (a
# client bound to 127.0.1.2) still authenticates with the right secret.
# Also: ten refused ETRNs in a row end the session with 421.
. "$(dirname "$0")/lib.sh"
. "$TOP/regress/hubrun.sh"
hub_require
require python3

SECRET=lockout-secret-$$
printf '%s\n' "$SECRET" >"$WORK/acme.secret"
HUB_ACME_OPTS="secret = \"$WORK/acme.secret\""
hub_init
hub_secret "$WORK/acme.secret"
sed -i 's/timeout = "5m" }/timeout = "5m" auth-failures = 3 auth-lockout = "10m" }/' "$HUB_CONF"
grep -q 'auth-failures = 3' "$HUB_CONF"
ok $? "the hub's config has auth-failures = 3"
hub_start || { fail "bridged started"; exit 1; }

# one AUTH per connection; prints the codes and the time each reply took
auth() {	# auth SOURCE SECRET: one connection, one AUTH
	python3 - "$HUB_PORT" "$1" "$2" <<'EOF'
import smtplib, sys, time
port, src, secret = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = smtplib.SMTP(timeout=40, source_address=(src, 0))
s.connect('127.0.0.1', port)
s.ehlo('client.test')
t = time.monotonic()
try:
    s.login('acme', secret)
    code, text = 235, b''
except smtplib.SMTPAuthenticationError as e:
    code, text = e.smtp_code, e.smtp_error
except smtplib.SMTPServerDisconnected:
    code, text = 0, b'disconnected'
except smtplib.SMTPException as e:
    code, text = getattr(e, 'smtp_code', -1), str(e).encode()
print(code, round(time.monotonic() - t, 1), text.decode(errors='replace'))
EOF
}

a1=$(auth 127.0.0.1 wrong); a2=$(auth 127.0.0.1 wrong); a3=$(auth 127.0.0.1 wrong)
diag "three wrong secrets: $a1 | $a2 | $a3 (code, seconds, text)"
is "${a1%% *} ${a2%% *} ${a3%% *}" "535 535 421" \
    "two failures from one address 535, across connections the third 421"
case $a3 in *"4.7.0"*"too many failed authentications"*) r=0 ;; *) r=1 ;; esac
ok $r "... 421 4.7.0 saying why"
wait_for 5 grep -q 'smtp: .*\[127.0.0.1\]: 3 failed AUTHs from this address within 600s: locked out' "$HUB_LOG"
ok $? "the lockout is logged with the address"
a4=$(auth 127.0.0.1 "$SECRET")
diag "the right secret, locked out: $a4"
case $a4 in 421*|0\ *) r=0 ;; *) r=1 ;; esac
ok $r "locked out: AUTH with the right secret is refused (421)"
wait_for 5 grep -q 'smtp: .*\[127.0.0.1\]: AUTH refused: locked out for' "$HUB_LOG"
ok $? "... and logged"
a5=$(auth 127.0.1.2 "$SECRET")
diag "another address: $a5"
is "${a5%% *}" 235 "another address with the right secret: 235"

# ---- refused ETRNs count as bad commands ----
python3 - "$HUB_PORT" >"$WORK/etrn.out" 2>&1 <<'EOF'
import smtplib, sys
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=20,
                 source_address=('127.0.1.3', 0))
s.ehlo('client.test')
codes = []
for i in range(9):
    codes.append(s.docmd('ETRN', 'nosuch%d.example' % i)[0])
codes.append(s.docmd('NOOP')[0])
for i in range(11):
    try:
        codes.append(s.docmd('ETRN', 'nosuch.example')[0])
    except smtplib.SMTPServerDisconnected:
        codes.append(0)
        break
print(' '.join(str(c) for c in codes))
EOF
diag "ETRN codes: $(cat "$WORK/etrn.out")"
is "$(cat "$WORK/etrn.out")" "459 459 459 459 459 459 459 459 459 250 459 459 459 459 459 459 459 459 459 459 421" \
    "nine refused ETRNs and a NOOP go on; ten in a row: the 421 follows the tenth"
hub_stop
