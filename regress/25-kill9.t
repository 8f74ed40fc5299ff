#!/bin/sh
# 25-kill9.t - a crash during intake loses nothing that was promised:
# 1,000 messages over 10 connections, bridged and its children get
# SIGKILL after about 400 of them have their 250.  Every message that
# got a 250 must be in the queue, whole; nothing partial may be in
# new/; after a restart tmp/ is swept, corrupt/ is empty and intake
# works again.
. "$(dirname "$0")/lib.sh"
. "$TOP/regress/hubrun.sh"
hub_require

hub_init
hub_start
ok $? "bridged started"
pgid=$(ps -o pgid= -p "$HUB_PID" | tr -d ' ')
is "$pgid" "$HUB_PID" "bridged leads its own process group (kill -9 reaches all)"

i=1
while [ $i -le 1000 ]; do
	id=$(printf 'k%04d' $i)
	printf '%s\tgen:4096\t%s@acme.example\n' "$id" "$id"
	i=$((i + 1))
done >"$WORK/jobs"

# the client itself sends SIGKILL to bridged's process group the moment
# it has logged the 400th 250, while other sessions are mid-transaction
$SMTPSEND -s "127.0.0.1:$HUB_PORT" -f sender@example.org -j "$WORK/jobs" \
    -o "$WORK/sent.log" -c 10 -m 100 -t 30 -k "400:$HUB_PID" \
    >"$WORK/smtpsend.out" 2>&1
diag "$(cat "$WORK/smtpsend.out")"
st=$(ps -o stat= -p "$HUB_PID" | tr -d ' ')
case "$st" in
""|Z*)	pass "bridged was killed by the client" ;;
*)	fail "bridged was killed by the client (state $st)" ;;
esac
hub_kill9
acc=$(awk -F'\t' '$2 == "250"' "$WORK/sent.log" | wc -l | tr -d ' ')
[ "$acc" -ge 400 ] && [ "$acc" -lt 1000 ]
ok $? "the crash came in the middle ($acc of 1000 accepted)"

v=$(hub_verify acme)
diag "after the crash: $v"
is "$(kv acme.bad "$v")" 0 "every entry in new/ parses and is whole"

# every 250 is in the queue, whole, with its Message-ID and recipient
check() {
	TOP=$TOP python3 - "$HUB_SPOOL" "$WORK/sent.log" <<'EOF'
import os, re, sys
sys.path.insert(0, os.environ['TOP'] + '/regress')
import qcheck
spool, logf = sys.argv[1], sys.argv[2]
acc = set()
with open(logf) as f:
    for line in f:
        mid, st = line.split('\t')[:2]
        if st == '250':
            acc.add(mid)
good, bad = qcheck.entries(spool, 'acme')
queued, wrong = set(), 0
for e in good:
    mid = e.rcpts[0].split('@')[0] if e.rcpts else '?'
    hdr = e.headers()
    if (e.rcpts != [mid + '@acme.example'] or
            ('Message-ID: <%s@smtpsend.test>' % mid).encode() not in hdr or
            len(e.body) < 4096):
        wrong += 1
        print('# %s: not the message %s' % (e.path, mid))
        continue
    if mid in queued:
        wrong += 1
        print('# %s: %s twice' % (e.path, mid))
    queued.add(mid)
lost = sorted(acc - queued)
for m in lost[:20]:
    print('# %s got a 250 but is not queued' % m)
print('accepted=%d queued=%d lost=%d unpromised=%d wrong=%d' % (
    len(acc), len(queued), len(lost), len(queued - acc), wrong))
EOF
}
r=$(check)
printf '%s\n' "$r" | grep '^#'
r=$(printf '%s\n' "$r" | tail -1)
diag "$r"
is "$(kv lost "$r")" 0 "no message that got a 250 is missing"
is "$(kv wrong "$r")" 0 "every queued message is the one it claims to be"
queued=$(kv queued "$r")
diag "tmp/ before restart: $(ls "$HUB_SPOOL/q/acme/tmp" | wc -l) files"

hub_start
ok $? "bridged restarts after the crash"
# recovery may run just after the listener is up: give it a moment
i=0
while [ $i -lt 100 ] && [ -n "$(ls "$HUB_SPOOL/q/acme/tmp")" ]; do
	sleep 0.05
	i=$((i + 1))
done
v=$(hub_verify acme)
diag "after the restart: $v"
is "$(kv acme.tmp "$v")" 0 "tmp/ swept"
is "$(kv acme.corrupt "$v")" 0 "corrupt/ empty"
is "$(kv acme.good "$v")" "$queued" "new/ still holds all $queued entries"

printf 'after\tgen:1000\tafter@acme.example\n' >"$WORK/jobs2"
out=$($SMTPSEND -s "127.0.0.1:$HUB_PORT" -f sender@example.org \
    -j "$WORK/jobs2" -o "$WORK/sent2.log" -c 1)
is "$(kv accepted "$out")" 1 "intake works after the restart"
