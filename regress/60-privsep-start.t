#!/bin/sh
# 60-privsep-start.t - bridged started as root holds no root where the
# spool's owner could trick it (issue 10): it never runs as root (no
# user named: _bridge; a missing user or root itself is refused with
# exit 78 naming the key), gives a root-made spool to its user, refuses
# another user's spool, and prepares and recovers the queues only as
# that user, so what the user plants there (a tmp/ or corrupt/ symlink
# to a root-owned directory, a pidfile symlink) never reaches root's
# files.  The root tools (bridge-enqueue, bridgectl) work on the spool
# as its owner.
. "$(dirname "$0")/lib.sh"
. "$TOP/regress/hubrun.sh"
hub_require
require useradd groupadd setpriv bridge-enqueue bridgectl

hub_init
conf0=$HUB_CONF

# refusals at start-up
sed "s|^user = .*|user = \"$TAG-nosuchuser\"|" "$conf0" >"$WORK/nouser.conf"
bridged -d -c "$WORK/nouser.conf" >"$WORK/nouser.out" 2>&1
is $? 78 "a user that does not exist: exit 78"
grep -q "user $TAG-nosuchuser does not exist.*user" "$WORK/nouser.out"
ok $? "naming the user and the key ($(head -1 "$WORK/nouser.out"))"
sed 's|^user = .*|user = "root"|' "$conf0" >"$WORK/root.conf"
bridged -d -c "$WORK/root.conf" >"$WORK/root.out" 2>&1
is $? 78 "user = root: exit 78"
grep -q "does not run as root" "$WORK/root.out"
ok $? "saying why ($(head -1 "$WORK/root.out"))"

# the LMTP socket: never in the spool (the hub user's), never chmod by path
sed "s|^lmtp .*|lmtp { listen = {\"unix:$HUB_SPOOL/lmtp.sock\"} }|" "$conf0" \
    >"$WORK/insock.conf"
bridged -d -c "$WORK/insock.conf" >"$WORK/insock.out" 2>&1
is $? 71 "an LMTP socket in the spool: not started"
grep -q "refused: .*spool belongs to uid" "$WORK/insock.out"
ok $? "the spool's owner could swap it: said ($(grep refused "$WORK/insock.out"))"
[ ! -e "$HUB_SPOOL/lmtp.sock" ]
ok $? "and nothing was bound there"
echo "root's config" >"$WORK/rootfile"
chmod 600 "$WORK/rootfile"
ln -s "$WORK/rootfile" "$HUB_LMTP"
bridged -d -c "$conf0" >"$WORK/symsock.out" 2>&1
is $? 71 "a symlink where the socket goes: not started"
grep -q "exists and is not a socket" "$WORK/symsock.out"
ok $? "said so"
is "$(stat -c %a "$WORK/rootfile")" 600 "its target's mode is unchanged"
rm -f "$HUB_LMTP"

# lmtp { group }: 0660 with that group; other users cannot connect
test_group LGROUP lmtp
sed "s|^lmtp .*|lmtp { listen = {\"unix:$HUB_LMTP\"} group = \"$LGROUP\" }|" \
    "$conf0" >"$WORK/group.conf"
sed 's|^lmtp .*|lmtp { listen = {"unix:'"$HUB_LMTP"'"} group = "nosuchgroup-'"$TAG"'" }|' \
    "$conf0" >"$WORK/nogroup.conf"
bridged -d -c "$WORK/nogroup.conf" >"$WORK/nogroup.out" 2>&1
is $? 71 "lmtp group that does not exist: not started"
grep -q "group nosuchgroup-$TAG does not exist" "$WORK/nogroup.out"
ok $? "said so"
HUB_CONF=$WORK/group.conf hub_start
ok $? "started with lmtp group $LGROUP"
is "$(stat -c '%a %G' "$HUB_LMTP")" "660 $LGROUP" "the socket is 0660, group $LGROUP"
test_user LUSER lmtpclient
test_user LMEMBER lmtpmember -G "$LGROUP"
lconnect() {	# lconnect USER: can USER connect to the LMTP socket?
	setpriv --reuid="$1" --regid="$(id -g "$1")" --init-groups \
	    python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); print(s.recv(100).decode().split()[0])' "$HUB_LMTP" 2>&1
}
out=$(lconnect "$LUSER")
case "$out" in *PermissionError*) pass "a user outside the group is refused" ;;
*) fail "a user outside the group is refused ($out)" ;; esac
is "$(lconnect "$LMEMBER")" 220 "a member of the group gets the greeting"
hub_stop
rm -rf "$HUB_LMTP" "$HUB_SPOOL"
mkdir "$HUB_SPOOL"

test_user OTHER other
chown "$OTHER:" "$HUB_SPOOL"
bridged -d -c "$conf0" >"$WORK/foreign.out" 2>&1
is $? 78 "a spool of another user: exit 78"
grep -q "belongs to uid" "$WORK/foreign.out"
ok $? "naming the owner ($(head -1 "$WORK/foreign.out"))"
chown root: "$HUB_SPOOL"

# what the spool's owner plants for the next start
root_dir VICTIM victim
echo "root's file" >"$VICTIM/precious"
echo "root's other file" >"$VICTIM/pidtarget"
mkdir -p "$HUB_SPOOL/q/acme/new" "$HUB_SPOOL/q/ship/tmp" \
    "$HUB_SPOOL/q/ship/new" "$HUB_SPOOL/q/ship/corrupt"
ln -s "$VICTIM" "$HUB_SPOOL/q/acme/tmp"
ln -s "$VICTIM/precious" "$HUB_SPOOL/q/ship/tmp/link"
rmdir "$HUB_SPOOL/q/ship/corrupt"
ln -s "$VICTIM" "$HUB_SPOOL/q/ship/corrupt"
bad=66FFFFFF00001.1.1
echo "not an entry" >"$HUB_SPOOL/q/ship/new/$bad"
ln -s "$VICTIM/pidtarget" "$HUB_SPOOL/bridged.pid"
chown -R "$HUB_USER:" "$HUB_SPOOL/q"
chown -h "$HUB_USER:" "$HUB_SPOOL/bridged.pid" "$HUB_SPOOL/q/acme/tmp" \
    "$HUB_SPOOL/q/ship/corrupt" "$HUB_SPOOL/q/ship/tmp/link"

hub_start
ok $? "bridged started as root with a root-owned spool"
owner=$(stat -c %U "$HUB_SPOOL")
is "$owner" "$HUB_USER" "the spool was given to the hub's user"
is "$(stat -c %a "$HUB_SPOOL")" 700 "mode 0700"
ps -o user= -p "$HUB_PID" | grep -q "^$HUB_USER"
ok $? "the master runs as $HUB_USER, not root"
is "$(cat "$VICTIM/precious" 2>/dev/null)" "root's file" \
    "a tmp/ symlink to a root directory: its file survives"
grep -q "acme: queue refused: .*acme/tmp: not a directory" "$HUB_LOG"
ok $? "and the queue is refused, in the log"
[ -L "$HUB_SPOOL/q/ship/tmp/link" ]
ok $? "a symlink in tmp/ is left alone"
grep -q "ship/tmp/link: left alone" "$HUB_LOG"
ok $? "logged"
[ -e "$HUB_SPOOL/q/ship/new/$bad" ] && [ ! -e "$VICTIM/$bad" ]
ok $? "corrupt/ a symlink: the bad entry stays, nothing is linked into root's dir"
is "$(stat -c %a "$HUB_LMTP")" 666 "the LMTP socket is 0666, set at bind"
is "$(cat "$VICTIM/pidtarget")" "root's other file" \
    "a pidfile symlink is not followed"
[ -f "$HUB_SPOOL/bridged.pid" ] && [ ! -L "$HUB_SPOOL/bridged.pid" ]
ok $? "it is replaced by a plain file"

out=$(swaks --server "127.0.0.1:$HUB_PORT" -f a@example.org \
    -t x@acme.example 2>&1 | grep '^<\*\* *4[0-9][0-9]')
ok $? "mail for the refused queue gets 4xx ($out)"
out=$(swaks --server "127.0.0.1:$HUB_PORT" -f a@example.org \
    -t x@ship.example 2>&1 | grep '^<.* 250 .*queued')
ok $? "the other customer's mail is taken ($out)"
f=$(ls "$HUB_SPOOL/q/ship/new" | grep -v "^$bad\$" | head -1)
is "$(stat -c %U "$HUB_SPOOL/q/ship/new/$f")" "$HUB_USER" \
    "written by the hub's user"

printf 'Subject: t\n\nhello\n' | bridge-enqueue -c "$HUB_CONF" \
    -f a@example.org -- y@ship.example
is $? 0 "bridge-enqueue as root: exit 0"
n=$(find "$HUB_SPOOL/q" -user root | wc -l)
is "$n" 0 "and nothing in q/ is root's"
bridgectl -c "$HUB_CONF" queue ship >"$WORK/queue.out" 2>&1
ok $? "bridgectl queue as root"
hub_stop
