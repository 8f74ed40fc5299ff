#!/bin/sh
# torture.t - make torture (issue 16): crash points and a filling disk
# under intake against the real hub, checked message by message
# (regress/torture.py does the work; see its head).  Not part of make
# test (26-torture-smoke.t runs a short one there).  Bounded: kill
# phase TORTURE_KILLS kills (1000) within TORTURE_SECONDS (300), disk
# phase TORTURE_FILLS fills (200) within TORTURE_DISK_SECONDS (150).
# The disk is a tmpfs of TORTURE_FS (48m) mounted under $WORK, unique
# to the run and unmounted at its end.  bridged runs as a user of the
# run's own, started as that user (not as root), so every process of
# the hub is that user's.  Prints TAP; the figures as a diag line each.
. "$(dirname "$0")/lib.sh"
. "$TOP/regress/hubrun.sh"
hub_require
require bridge-enqueue bridgectl mount umount setpriv

KILLS=${TORTURE_KILLS:-1000}
FILLS=${TORTURE_FILLS:-200}
TORTURE="python3 $TOP/regress/torture.py"
export TORTURE_SEED=${TORTURE_SEED:-$$}
diag "seed $TORTURE_SEED (TORTURE_SEED=$TORTURE_SEED repeats the choices)"

# hub_conf NAME: a hub config (hubrun.sh's) whose sockets are in a
# directory of the hub's user, who binds them, with an enqueue socket.
hub_conf() {
	HUB_NAME=$1 hub_init "enqueue { listen = {\"unix:$WORK/$1/sock/enqueue.sock\"} }" ||
	    return 1
	mkdir -p "$HUB_DIR/sock"
	chown "$HUB_USER:" "$HUB_DIR/sock"
	SOCK=$HUB_DIR/sock/lmtp.sock
	sed -i "s|unix:$HUB_LMTP\"|unix:$SOCK\"|" "$HUB_CONF"
}

# figures KEY...: the values from the torture line $R
fig() { kv "$1" "$R"; }

# --- kill -9 at random points ---------------------------------------
hub_conf hub
# as the hub's user, whose socket directory it is
setpriv --reuid="$HUB_USER" --regid="$HUB_USER" --clear-groups \
    bridgectl -c "$HUB_CONF" check >"$WORK/check.out" 2>&1
ok $? "bridgectl check accepts the torture config"
start=$(date +%s)
out=$($TORTURE kill "$HUB_CONF" "$HUB_SPOOL" "$HUB_PORT" "$SOCK" \
    "$HUB_USER" "$HUB_LOG" "$KILLS" "${TORTURE_SECONDS:-300}")
ok $? "the kill run finished"
printf '%s\n' "$out" | grep '^#'
R=$(printf '%s\n' "$out" | tail -1)
diag "kill: $R"
diag "kill: $(($(date +%s) - start)) s"
[ "$(fig kills)" -ge "$KILLS" ]
ok $? "$(fig kills) kills (of $KILLS) in the time"
for k in session lookup queue master enqueue; do
	[ "$(fig kill_$k)" -ge 1 ] 2>/dev/null
	ok $? "$k killed $(fig kill_$k) times"
done
[ "$(fig acked)" -gt 0 ] 2>/dev/null
ok $? "$(fig acked) copies acknowledged, $(fig checked) checked"
is "$(fig lost)" 0 "no acknowledged copy lost"
is "$(fig corrupt)" 0 "no entry differs from what was sent"
[ "$(fig dup)" -le "$(fig kills)" ] 2>/dev/null
ok $? "$(fig dup) duplicates, at most one per kill"
is "$(fig tmp_left)" 0 "recovery left nothing in tmp/"
is "$(fig corrupt_dir)" 0 "nothing moved to corrupt/"
bad=$(printf '%s\n' "$R" | tr ' ' '\n' | grep '^reply_5' | tr '\n' ' ')
is "$bad" "" "no permanent refusal"

# --- the disk filling at random points ------------------------------
hub_conf disk
FS=$HUB_DIR/fs
mkdir -p "$FS"
mount -t tmpfs -o "size=${TORTURE_FS:-48m},mode=0755" tmpfs "$FS"
ok $? "a tmpfs of ${TORTURE_FS:-48m} for the spool"
at_exit "umount '$FS'"
mkdir "$FS/spool"
chown "$HUB_USER:" "$FS/spool"
chmod 700 "$FS/spool"
# min-free 4M: a fill below it gives 452 before the data, one to the
# last block may meet a message being written
sed -i -e "s|^spool = .*|spool = \"$FS/spool\"|" \
    -e 's|min-free = "10M"|min-free = "4M"|' "$HUB_CONF"
grep -q 'min-free = "4M"' "$HUB_CONF"
ok $? "min-free is 4M"
start=$(date +%s)
out=$(TORTURE_FILLDIR=$FS TORTURE_MINFREE=$((4 * 1024 * 1024)) \
    $TORTURE disk "$HUB_CONF" "$FS/spool" "$HUB_PORT" "$SOCK" \
    "$HUB_USER" "$HUB_LOG" "$FILLS" "${TORTURE_DISK_SECONDS:-150}")
ok $? "the disk run finished"
printf '%s\n' "$out" | grep '^#'
R=$(printf '%s\n' "$out" | tail -1)
diag "disk: $R"
diag "disk: $(($(date +%s) - start)) s"
[ "$(fig fills)" -ge "$FILLS" ]
ok $? "$(fig fills) fills (of $FILLS) in the time"
[ "$(fig acked)" -gt 0 ] 2>/dev/null
ok $? "$(fig acked) copies acknowledged, $(fig checked) checked"
is "$(fig lost)" 0 "no acknowledged copy lost"
is "$(fig corrupt)" 0 "no entry differs from what was sent"
is "$(fig dup)" 0 "no duplicates (nothing was killed)"
is "$(fig tmp_left)" 0 "nothing left in tmp/"
is "$(fig corrupt_dir)" 0 "nothing moved to corrupt/"
codes=$(printf '%s\n' "$R" | tr ' ' '\n' | sed -n 's/^reply_\([^=]*\)=.*/\1/p' |
    sort | tr '\n' ' ')
diag "refusals: $codes"
case " $codes" in
*" 452 "*)	pass "452 while the disk was short" ;;
*)		fail "452 while the disk was short" ;;
esac
other=$(printf '%s\n' $codes | grep -v -x -e 451 -e 452 -e enqueue-75 -e enqueue-killed |
    tr '\n' ' ')
is "$other" "" "every refusal was 451 or 452 (bridge-enqueue: 75)"
