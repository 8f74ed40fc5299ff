#!/bin/sh
# 66-session-jail.t - what a client's session runs in when bridged is
# started as root (issue 10): the process table read while a session
# is open shows the process holding the client's socket running as the
# session user (neither root nor the spool's owner, no other group, no
# capability), chrooted to session-chroot, with no core file, no new
# process and few descriptors allowed; taking its uid and root
# directory, the spool and a secret file cannot be opened.  Its parent
# is the root spawner, a child of the master that holds no listener and
# nothing of the spool.  A session-user that is root, the hub's user or
# missing, and a session-chroot others may write, are refused at start
# (exit 78, naming the key) and by bridgectl check; a missing
# session-chroot is made, root's and 0755.  The lookup process, which
# reads the secrets, is the spawner's child too and runs as the lookup
# user, which neither the hub's user nor a session's can be; a secret
# is that user's alone.  The usage table that quotas
# are kept in is mapped by the queue process, not by the session, and
# the queue refuses a copy over its customer's quota at the commit.
. "$(dirname "$0")/lib.sh"
. "$TOP/regress/hubrun.sh"
hub_require
require ss python3 bridgectl
[ "$(id -u)" = 0 ] || skip_all "needs root (the jail is root's to make)"
CLIENT="python3 $TOP/regress/smtpclient.py"

printf 'jail-secret\n' >"$WORK/acme.secret"
HUB_ACME_OPTS="secret = \"$WORK/acme.secret\" quota = \"5K\""
hub_init
hub_secret "$WORK/acme.secret"
hub_start || { fail "bridged started"; exit 1; }

# a client that waits after EHLO until $WORK/go exists
rm -f "$WORK/ready" "$WORK/go"
$CLIENT --timeout 30 "$HUB_PORT" 'EHLO c.example\r\n' wait:2 "touch:$WORK/ready" \
    "waitfile:$WORK/go" 'QUIT\r\n' >"$WORK/hold.out" &
holdpid=$!
wait_file "$WORK/ready" 10
S=$(ss -Htnp state established "( sport = :$HUB_PORT )" 2>/dev/null |
    sed -n 's/.*"bridged",pid=\([0-9]*\),.*/\1/p' | sort -u)
[ -n "$S" ] && tr '\0' ' ' <"/proc/$S/cmdline" | grep -q 'bridged -x session'
ok $? "the client's socket is held by a session process ($S)"

su=$(id -u "$HUB_SESSION_USER")
sg=$(id -g "$HUB_SESSION_USER")
hu=$(id -u "$HUB_USER")
is "$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$S/status")" \
    "$su $su $su $su" "its real, effective, saved and file uids are the session user's"
is "$(awk '/^Gid:/ { print $2, $3, $4, $5 }' "/proc/$S/status")" \
    "$sg $sg $sg $sg" "and its gids that user's group"
is "$(awk '/^Groups:/ { $1 = ""; print }' "/proc/$S/status" | tr -d ' ')" \
    "$sg" "no other group"
[ "$su" != 0 ] && [ "$su" != "$hu" ]
ok $? "neither root (0) nor the spool's owner ($hu): uid $su"
is "$(awk '/^CapEff:/ { print $2 }' "/proc/$S/status")" 0000000000000000 \
    "no capability"
is "$(readlink "/proc/$S/root")" "$HUB_CHROOT" "its root directory is session-chroot, not /"
lim() { awk -v k="$1" 'index($0, k) == 1 { print $(NF - 2) }' "/proc/$S/limits"; }
is "$(lim 'Max core file size')" 0 "no core file (it would hold mail)"
is "$(lim 'Max processes')" 0 "no new process"
is "$(lim 'Max open files')" 64 "64 descriptors at most"
grep -c 'bridge-usage' "/proc/$S/maps" >"$WORK/maps.n"
is "$(cat "$WORK/maps.n")" 0 "the usage table is not mapped in the session"
Q=$(pgrep -P "$HUB_PID" -f 'bridged -x queue' | head -1)
grep -q 'memfd:bridge-usage' "/proc/$Q/maps"
ok $? "but in the queue process ($Q), which counts each commit"

# what that uid in that root can open
cat >"$WORK/try.py" <<'EOF'
import os, sys
root, uid, gid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
paths = sys.argv[4:]
pid = os.fork()
if pid == 0:
    out = []
    try:
        os.chroot(root)
        os.chdir("/")
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    except OSError as e:
        print("setup", e.__class__.__name__)
        os._exit(1)
    for p in paths:
        try:
            os.close(os.open(p, os.O_RDONLY))
            out.append("opened")
        except OSError as e:
            out.append(e.__class__.__name__)
    print(" ".join(out))
    os._exit(0)
os.waitpid(pid, 0)
EOF
is "$(python3 "$WORK/try.py" "/proc/$S/root" "$su" "$sg" "$HUB_SPOOL" \
    "$HUB_SPOOL/q" "$WORK/acme.secret" /etc/passwd)" \
    "FileNotFoundError FileNotFoundError FileNotFoundError FileNotFoundError" \
    "inside its root the spool, a queue, the secret and /etc/passwd are not there"
is "$(python3 "$WORK/try.py" / "$su" "$sg" "$HUB_SPOOL" "$WORK/acme.secret")" \
    "PermissionError PermissionError" \
    "and outside it the session user may open neither the spool nor the secret"

# its parent: the spawner, root's, a child of the master
SP=$(ps -o ppid= -p "$S" | tr -d ' ')
is "$(ps -o user= -p "$SP" | tr -d ' ')" root "its parent, the spawner, is root's"
is "$(ps -o ppid= -p "$SP" | tr -d ' ')" "$HUB_PID" "and a child of the master"
is "$(ps -o user= -p "$HUB_PID" | tr -d ' ')" "$HUB_USER" "the master runs as the hub's user"
fds=$(ls -l "/proc/$SP/fd" 2>/dev/null | grep -c -e "$HUB_SPOOL" -e "$HUB_LMTP")
is "$fds" 0 "the spawner holds nothing of the spool, no LMTP socket"
lst=$(ss -Hltnp "( sport = :$HUB_PORT )" | grep -c "pid=$SP,")
is "$lst" 0 "and no listener"

# the lookup process: the spawner's, as the lookup user
L=$(pgrep -P "$SP" -f 'bridged -x lookup' | head -1)
lu=$(id -u "$HUB_LOOKUP_USER")
lg=$(id -g "$HUB_LOOKUP_USER")
[ -n "$L" ]
ok $? "the lookup process ($L) is a child of the spawner"
is "$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$L/status")" \
    "$lu $lu $lu $lu" "it runs as the lookup user"
is "$(awk '/^Groups:/ { $1 = ""; print }' "/proc/$L/status" | tr -d ' ')" \
    "$lg" "with no other group"
is "$(awk '/^CapEff:/ { print $2 }' "/proc/$L/status")" 0000000000000000 \
    "and no capability"
is "$(awk 'index($0, "Max core file size") == 1 { print $(NF - 2) }' "/proc/$L/limits")" 0 \
    "no core file (it holds secrets)"
[ "$lu" != 0 ] && [ "$lu" != "$hu" ] && [ "$lu" != "$su" ]
ok $? "neither root, the hub's user ($hu) nor the session user ($su): uid $lu"
is "$(python3 "$WORK/try.py" / "$hu" "$(id -g "$HUB_USER")" "$WORK/acme.secret")" \
    "PermissionError" "the hub's user cannot read the secret"
is "$(python3 "$WORK/try.py" / "$lu" "$lg" "$WORK/acme.secret" "$HUB_SPOOL/q")" \
    "opened PermissionError" "the lookup user can, and cannot open the spool's queues"
grep -c 'bridge-usage' "/proc/$L/maps" >"$WORK/maps.n"
ok $? "it has the usage table, for quotas and ETRN counts"
touch "$WORK/go"
wait "$holdpid"
is "$(cat "$WORK/hold.out")" "220 250 221" "the session ends normally"
is "$($CLIENT "$HUB_PORT" 'EHLO c.example\r\n' 'MAIL FROM:<s@example.org>\r\n' \
    'RCPT TO:<alice@acme.example>\r\n' 'DATA\r\n' wait:3 \
    'Subject: jail\r\n\r\nhello\r\n.\r\n' 'QUIT\r\n')" \
    "220 250 250 250 354 250 221" "mail is taken from inside the jail"
body=$(python3 -c 'print(("x" * 70 + "\\r\\n") * 40, end="")')
is "$($CLIENT "$HUB_PORT" 'EHLO c.example\r\n' 'MAIL FROM:<s@example.org>\r\n' \
    'RCPT TO:<alice@acme.example>\r\n' 'DATA\r\n' wait:3 \
    "Subject: big\\r\\n\\r\\n$body.\\r\\n" 'QUIT\r\n')" \
    "220 250 250 250 354 250 221" "2.9 KB more under a quota of 5K: taken"
is "$($CLIENT -v "$HUB_PORT" 'EHLO c.example\r\n' 'MAIL FROM:<s@example.org>\r\n' \
    'RCPT TO:<alice@acme.example>\r\n' 'DATA\r\n' wait:3 \
    "Subject: big\\r\\n\\r\\n$body.\\r\\n" 'QUIT\r\n' 2>"$WORK/quota.err")" \
    "220 250 250 250 354 452 221" "2.9 KB more again: over the quota, 452 at the dot"
grep -q '^<- 452 4.2.2 ' "$WORK/quota.err"
ok $? "4.2.2, mailbox full ($(sed -n 's/^<- \(452.*\)/\1/p' "$WORK/quota.err"))"
grep -q 'commit for acme refused: customer over quota' "$HUB_LOG"
ok $? "logged as the queue's refusal"
is "$(ls "$HUB_SPOOL/q/acme/new" | wc -l)" 2 "two messages queued, not three"
hub_stop

# refusals
conf0=$HUB_CONF
# start CONF: bridged's exit status, its output in $WORK/start.out
start() { bridged -d -c "$1" >"$WORK/start.out" 2>&1; echo $?; }
# check CONF: bridgectl check's output
check() { bridgectl -c "$1" check 2>&1; }
sed "s|^session-user = .*|session-user = \"root\"|" "$conf0" >"$WORK/c1.conf"
is "$(start "$WORK/c1.conf")" 78 "session-user = root: exit 78"
grep -q "session-user root is root: the sessions must run as a user of their own" "$WORK/start.out"
ok $? "naming the key ($(head -1 "$WORK/start.out"))"
sed "s|^session-user = .*|session-user = \"$HUB_USER\"|" "$conf0" >"$WORK/c2.conf"
is "$(start "$WORK/c2.conf")" 78 "session-user = the hub's user: exit 78"
grep -q "session-user $HUB_USER is the hub's user" "$WORK/start.out"
ok $? "said so"
check "$WORK/c2.conf" | grep -q "session-user $HUB_USER is the hub's user.*bridged would not start"
ok $? "bridgectl check says so too"
sed "s|^session-user = .*|session-user = \"$TAG-nosuch\"|" "$conf0" >"$WORK/c3.conf"
is "$(start "$WORK/c3.conf")" 78 "a session-user that does not exist: exit 78"
grep -q "session-user $TAG-nosuch does not exist" "$WORK/start.out"
ok $? "said so"
check "$WORK/c3.conf" | grep -q "session-user $TAG-nosuch does not exist"
ok $? "bridgectl check says so too"
sed "s|^lookup-user = .*|lookup-user = \"root\"|" "$conf0" >"$WORK/l1.conf"
is "$(start "$WORK/l1.conf")" 78 "lookup-user = root: exit 78"
grep -q "lookup-user root is root: the lookup process must run as a user of its own" "$WORK/start.out"
ok $? "naming the key ($(head -1 "$WORK/start.out"))"
sed "s|^lookup-user = .*|lookup-user = \"$HUB_USER\"|" "$conf0" >"$WORK/l2.conf"
is "$(start "$WORK/l2.conf")" 78 "lookup-user = the hub's user: exit 78"
check "$WORK/l2.conf" | grep -q "lookup-user $HUB_USER is the hub's user.*bridged would not start"
ok $? "bridgectl check says so"
sed "s|^lookup-user = .*|lookup-user = \"$HUB_SESSION_USER\"|" "$conf0" >"$WORK/l3.conf"
is "$(start "$WORK/l3.conf")" 78 "lookup-user = session-user: exit 78"
grep -q "lookup-user $HUB_SESSION_USER is the session-user" "$WORK/start.out"
ok $? "said so"
sed "s|^lookup-user = .*|lookup-user = \"$TAG-nosuch\"|" "$conf0" >"$WORK/l4.conf"
is "$(start "$WORK/l4.conf")" 78 "a lookup-user that does not exist: exit 78"
check "$WORK/l4.conf" | grep -q "lookup-user $TAG-nosuch does not exist"
ok $? "bridgectl check says so too"
chmod 777 "$HUB_CHROOT"
is "$(start "$conf0")" 78 "a session-chroot anybody may write: exit 78"
grep -q "session-chroot $HUB_CHROOT: must be a directory of root's that nobody else may write" "$WORK/start.out"
ok $? "said so"
check "$conf0" | grep -q "session-chroot $HUB_CHROOT: must be"
ok $? "bridgectl check says so too"
chmod 755 "$HUB_CHROOT"
check "$conf0" | grep -q ": OK"
ok $? "bridgectl check accepts the jail once it is root's alone"

# a missing session-chroot is made
sed "s|^session-chroot = .*|session-chroot = \"$WORK/made/empty\"|" "$conf0" >"$WORK/c4.conf"
mkdir -m 755 "$WORK/made"
HUB_CONF=$WORK/c4.conf hub_start
ok $? "with a session-chroot that does not exist, bridged starts"
is "$(stat -c '%U %a' "$WORK/made/empty")" "root 755" "and makes it, root's, 0755"
hub_stop
