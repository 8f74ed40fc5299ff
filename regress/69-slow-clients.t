#!/bin/sh
# 69-slow-clients.t - the limits that keep one client from holding or
# filling the hub (issue 12), against a real bridged with timeout = 2s:
# a command line trickled a byte at a time gets 421 4.4.2 (the line must
# be whole within the timeout); a DATA trickled below min-data-rate gets
# 421 4.4.2 and nothing is queued, while the same message at full speed
# is; max-session-time ends a session kept busy with NOOPs.  With
# loopback taken out of limits-exempt, 200 slowloris sockets from
# 127.0.0.1 hold max-per-client sessions and the rest get 421 4.7.0
# (logged); 127.0.0.3 has what is left of its /24's max-per-network;
# a client from 127.0.1.2 (another /24) is still served, and how soon
# is printed, never asserted.  With the default limits-exempt loopback
# is not limited.
. "$(dirname "$0")/lib.sh"
. "$TOP/regress/hubrun.sh"
hub_require
require python3

LIM='timeout = "2s" min-data-rate = 1000 max-session-time = "4s" max-per-client = 10 max-per-network = 15 limits-exempt = {"192.0.2.0\/24"}'
hub_init
sed -i "s/max-clients = 50 max-size = \"50M\" timeout = \"5m\" }/max-clients = 250 max-size = \"50M\" $LIM }/" "$HUB_CONF"
grep -q 'max-per-client = 10' "$HUB_CONF"
ok $? "the hub's config has the limits"
hub_start || { fail "bridged started"; exit 1; }

cat >"$WORK/cl.py" <<'EOF'
import socket, sys, time
port = int(sys.argv[1])
def conn(src='127.0.0.1'):
    s = socket.socket()
    s.settimeout(15)
    s.bind((src, 0))
    s.connect(('127.0.0.1', port))
    return s
def line(s):
    b = b''
    while not b.endswith(b'\n'):
        try:
            c = s.recv(1)
        except OSError:
            return b
        if not c:
            return b
        b += c
    return b
def reply(s):
    while True:
        l = line(s)
        if l[3:4] != b'-':
            return l[:3].decode() or 'closed'
def pending(s):
    """a reply the hub sent unasked, or b''"""
    s.setblocking(False)
    try:
        r = s.recv(200)
    except (BlockingIOError, OSError):
        r = b''
    s.setblocking(True)
    s.settimeout(15)
    return r
def trickle(s, chunks, pause, limit=60):
    for c in chunks[:limit]:
        try:
            s.send(c)
        except OSError:
            break
        time.sleep(pause)
        r = pending(s)
        if r:
            return r.decode(errors='replace').split('\r\n')[0]
    return 'no reply'
def envelope(s, rcpt):
    out = [reply(s)]
    for c in [b'EHLO client.test\r\n', b'MAIL FROM:<a@example.org>\r\n',
              b'RCPT TO:<' + rcpt + b'>\r\n', b'DATA\r\n']:
        s.send(c)
        out.append(reply(s))
    return ' '.join(out)
what = sys.argv[2]
if what == 'line':
    s = conn(); reply(s)
    print(trickle(s, [bytes([c]) for c in b'EHLO trickle.test\r\n'], 0.5))
elif what == 'data':
    s = conn()
    print(envelope(s, b'slow@ship.example'))
    print(trickle(s, [b'Subject: slow\r\n'] + [b'x' * 20 + b'\r\n'] * 59, 0.5))
elif what == 'fast':
    s = conn()
    print(envelope(s, b'fast@ship.example'))
    s.send(b'Subject: fast\r\n\r\n' + (b'x' * 70 + b'\r\n') * 100 + b'.\r\n')
    print(reply(s))
    s.send(b'QUIT\r\n')
elif what == 'session':
    s = conn(); reply(s)
    s.send(b'EHLO client.test\r\n'); reply(s)
    t, r = time.monotonic(), ''
    while time.monotonic() - t < 20:
        s.send(b'NOOP\r\n')
        r = reply(s)
        if r != '250':
            break
        time.sleep(0.5)
    print(r)
elif what == 'flood':
    socks, codes = [], {}
    def count(n, src):
        c = {}
        for i in range(n):
            s = conn(src)
            socks.append(s)
            k = line(s)[:9].decode(errors='replace').strip()
            c[k] = c.get(k, 0) + 1
        return ' '.join('%s=%d' % (k, c[k]) for k in sorted(c))
    print(count(200, '127.0.0.1'))
    print(count(8, '127.0.0.3'))
    t = time.monotonic()
    s = conn('127.0.1.2')
    print(envelope(s, b'served@ship.example'))
    s.send(b'Subject: served\r\n\r\nhello\r\n.\r\n')
    print(reply(s))
    print('# served in %.3f s with %d other sockets open' %
          (time.monotonic() - t, len(socks)), file=sys.stderr)
elif what == 'loop':
    socks, c = [], {}
    for i in range(20):
        s = conn('127.0.0.1')
        socks.append(s)
        k = line(s)[:3].decode()
        c[k] = c.get(k, 0) + 1
    print(' '.join('%s=%d' % (k, c[k]) for k in sorted(c)))
EOF
cl() { timeout 60 python3 "$WORK/cl.py" "$HUB_PORT" "$@"; }
queued() { find "$HUB_SPOOL/q/ship/new" -type f 2>/dev/null | wc -l | tr -d ' '; }

r=$(cl line)
case $r in "421 4.4.2 "*) ok 0 "a command line trickled a byte each 0.5 s: $r" ;;
*) ok 1 "a command line trickled a byte each 0.5 s: 421 4.4.2 (got: $r)" ;; esac

cl data >"$WORK/data.out"
is "$(head -1 "$WORK/data.out")" "220 250 250 250 354" "the trickled message's envelope is taken"
r=$(sed -n 2p "$WORK/data.out")
case $r in "421 4.4.2 "*) ok 0 "DATA trickled at 44 octets/s (min-data-rate 1000): $r" ;;
*) ok 1 "DATA trickled below min-data-rate: 421 4.4.2 (got: $r)" ;; esac
sleep 1
is "$(queued)" 0 "... and nothing of it is queued"
is "$(cl fast | tr '\n' ' ')" "220 250 250 250 354 250 " "the same at full speed: 250"
is "$(queued)" 1 "... and queued"

is "$(cl session)" 421 "NOOPs every 0.5 s: max-session-time (4s) ends the session with 421"

cl flood >"$WORK/flood.out" 2>"$WORK/flood.err"
diag "$(cat "$WORK/flood.err")"
is "$(sed -n 1p "$WORK/flood.out")" "220 hub.t=10 421 4.7.0=190" \
    "200 sockets from 127.0.0.1: max-per-client (10) get 220, 190 get 421 4.7.0"
is "$(sed -n 2p "$WORK/flood.out")" "220 hub.t=5 421 4.7.0=3" \
    "8 from 127.0.0.3: what is left of the /24's max-per-network (15), then 421 4.7.0"
is "$(sed -n 3,4p "$WORK/flood.out" | tr '\n' ' ')" "220 250 250 250 354 250 " \
    "meanwhile a client from 127.0.1.2 is served"
wait_for 5 grep -q 'too many connections from 127.0.0.1: refused (max-per-client 10)' "$HUB_LOG"
ok $? "the refusals are logged ($(grep -c 'too many connections from' "$HUB_LOG") lines)"
grep -q "too many connections from 127.0.0.3's network: refused (max-per-network 15)" "$HUB_LOG"
ok $? "... naming the network's limit"
hub_stop

# the default limits-exempt: loopback is not counted
hub_init
sed -i 's/max-clients = 50 max-size = "50M" timeout = "5m" }/max-clients = 50 max-size = "50M" timeout = "5m" max-per-client = 10 }/' "$HUB_CONF"
hub_start || { fail "bridged started again"; exit 1; }
is "$(cl loop)" "220=20" "default limits-exempt: 20 sockets from 127.0.0.1 all get 220"
hub_stop
