#!/bin/sh
# 64-enqueue-socket.t - bridge-enqueue through the running hub (issue
# 10): with an enqueue listener in bridge.conf bridge-enqueue writes
# nothing itself; it speaks LMTP to bridged's enqueue socket (0660 with
# its group), and the queue process writes the entries.  Every
# recipient or none; the same exit codes as before (67 refused
# recipient, 65 bad message, 75 try later); a hub that is not running
# is 75 with a line saying so, a user outside the group is 77; a pipe
# has no recipient limit; the envelope names the submitting uid as the
# kernel gave it.
. "$(dirname "$0")/lib.sh"
. "$TOP/regress/hubrun.sh"
hub_require
require bridge-enqueue bridgectl setpriv useradd groupadd

test_group EGROUP enq
hub_init "enqueue { listen = {\"unix:$WORK/hub/enqueue.sock\"} group = \"$EGROUP\" }"
SOCK=$WORK/hub/enqueue.sock
bridgectl -c "$HUB_CONF" check -s >"$WORK/check.out" 2>&1
ok $? "bridgectl check accepts an enqueue section"

enq() { bridge-enqueue -c "$HUB_CONF" -f sender@example.org -- "$@"; }
entries() { ls "$HUB_SPOOL/q/$1/new" 2>/dev/null | wc -l | tr -d ' '; }

printf 'x\n' | enq x@ship.example 2>"$WORK/down.err"
is $? 75 "the hub not running: 75, the MTA keeps the mail"
grep -q "hub is not running" "$WORK/down.err"
ok $? "saying so ($(cat "$WORK/down.err"))"
is "$(entries ship)" 0 "and nothing was written into the spool"

hub_start || { fail "bridged started"; exit 1; }
is "$(stat -c '%a %G' "$SOCK")" "660 $EGROUP" "the socket is 0660, group $EGROUP"
printf 'Subject: piped\nX-Envelope-To: forged@ship.example\n\nbody line\n.leading dot\n' |
    enq x@ship.example alice@acme.example 2>"$WORK/ok.err"
is $? 0 "two customers through the socket: exit 0"
is "$(entries ship) $(entries acme)" "1 1" "one entry in each queue"
f=$(ls "$HUB_SPOOL"/q/ship/new/* | head -1)
grep -q '^protocol pipe$' "$f" && grep -q '^client localhost \[uid 0\]$' "$f"
ok $? "protocol pipe, client: the uid the kernel gave (uid 0)"
python3 - "$f" "$WORK/body" <<'EOF'
import sys
d = open(sys.argv[1], "rb").read()
msg = d.split(b"\n\n", 1)[1]
open(sys.argv[2], "wb").write(msg[msg.index(b"\r\nSubject:") + 2:])
EOF
printf 'Subject: piped\r\n\r\nbody line\r\n.leading dot\r\n' >"$WORK/body.want"
cmp -s "$WORK/body" "$WORK/body.want"
ok $? "LF made CRLF, X-Envelope-To dropped, a leading dot kept"
head -c 300 "$f" | grep -aq "^Received: by hub.test (mailbridge) with pipe id $(basename "$f")"
ok $? "Received: by hub.test (mailbridge) with pipe"
is "$(ls "$HUB_SPOOL/q/acme/new")" "$(basename "$f")" "the same id in acme's queue"

printf 'x\n' | enq x@ship.example y@blocked.example 2>"$WORK/blocked.err"
is $? 67 "one recipient on an error route: 67"
grep -q 'y@blocked.example.*550 5.7.1' "$WORK/blocked.err"
ok $? "naming it and the reply ($(cat "$WORK/blocked.err"))"
printf 'x\n' | enq y@blocked.example x@ship.example 2>/dev/null
is $? 67 "the same as the first recipient: 67"
printf 'x\n' | enq x@other.example 2>/dev/null
is $? 67 "not ours: 67"
printf 'x\0y\n' | enq x@ship.example 2>/dev/null
is $? 65 "NUL: 65"
printf 'x\ry\n' | enq x@ship.example 2>/dev/null
is $? 65 "bare CR: 65"
is "$(entries ship) $(entries acme)" "1 1" "none of those queued anything (all or none)"

r=$(i=0; while [ $i -lt 150 ]; do echo "r$i@ship.example"; i=$((i + 1)); done)
printf 'Subject: many\n\nx\n' | enq $r 2>"$WORK/many.err"
is $? 0 "150 recipients (max-recipients is 100 for SMTP): exit 0"
is "$(grep -l '^rcpt <r149@ship.example>$' "$HUB_SPOOL"/q/ship/new/* | wc -l | tr -d ' ')" 1 \
    "one entry with all 150"

test_user OUTSIDER enqout
test_user MEMBER enqin -G "$EGROUP"
printf 'x\n' | setpriv --reuid="$OUTSIDER" --regid="$(id -g "$OUTSIDER")" \
    --init-groups bridge-enqueue -c "$HUB_CONF" -f s@example.org -- x@ship.example \
    2>"$WORK/perm.err"
is $? 77 "a user outside the group: 77"
grep -q "permission denied" "$WORK/perm.err"
ok $? "saying why ($(cat "$WORK/perm.err"))"
printf 'x\n' | setpriv --reuid="$MEMBER" --regid="$(id -g "$MEMBER")" \
    --init-groups bridge-enqueue -c "$HUB_CONF" -f s@example.org -- x@ship.example \
    2>"$WORK/member.err"
is $? 0 "a member of the group: 0"
grep -lq "^client localhost \[uid $(id -u "$MEMBER")\]$" "$HUB_SPOOL"/q/ship/new/*
ok $? "its entry names its uid"
hub_stop

sed 's|^enqueue .*|enqueue { listen = {"127.0.0.1:2599"} }|' "$HUB_CONF" >"$WORK/tcp.conf"
bridgectl -c "$WORK/tcp.conf" check -s >"$WORK/tcp.out" 2>&1
is $? 78 "enqueue on a TCP port: a configuration error"
grep -q "only a unix socket" "$WORK/tcp.out"
ok $? "saying so"
