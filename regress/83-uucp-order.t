#!/bin/sh
# 83-uucp-order.t - UUCP may deliver a bundle twice and uuxqt may run
# the jobs in any order: the leaf's journal is keyed by the bundle's
# content, so nothing is lost or injected twice.  Two Taylor UUCP nodes
# (uucp.sh); the hub hands bundles A, B, C to uux, then A again (what a
# hub that crashed between uux and removing its copy does); the leaf's
# uuxqt runs the four jobs one at a time, last first (A again, C, B, A).
# Then bundle D twice, the first run meeting a mail server that goes
# down after one message (D kept, its journal "1 0 ok"), the second
# (the other copy of D) injecting only the rest, and bridge-unbatch -q
# removing the kept D without injecting anything.  The leaf injects
# over SMTP into smtpsrv.py; every recipient is unique to one copy.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/uucp.sh"

uu_require
require bridge-unbatch python3
BT=$TOP/regress/bundletool
[ -x "$BT" ] || { fail "regress/bundletool is built"; exit 1; }

SPOOL=$WORK/hub-spool
LEAF=$WORK/leaf
OUTBOX=$SPOOL/outbox/farm
uu_init "$WORK/uucp"
chmod 755 "$WORK"
HUBUUX="$UU_UUX -I $UU_HUB_CFG"
ASIDE=$WORK/aside
mkdir -p "$ASIDE" "$LEAF/spool"
chown -R uucp "$LEAF"

PORT=$(free_port)
# srv DIR [ARG...]: smtpsrv.py as the leaf's mail server, into DIR
srv() {
	mkdir -p "$1"
	_d=$1
	shift
	python3 "$TOP/regress/smtpsrv.py" "$PORT" "$_d" --idle 120 "$@" \
	    >>"$WORK/srv.log" 2>&1 &
	SRV=$!
	at_exit "kill $SRV 2>/dev/null"
	wait_port "$PORT" 10
}
srv_stop() {
	kill "$SRV" 2>/dev/null
	wait "$SRV" 2>/dev/null
}
printf '%s\n' 'hostname = "leaf.test"' "spool = \"$LEAF/spool\"" \
    'inject {' '    method = "smtp"' "    server = \"127.0.0.1:$PORT\"" '}' \
    >"$LEAF/leaf.conf"
chmod 644 "$LEAF/leaf.conf"
bridge-unbatch -n -c "$LEAF/leaf.conf"
ok $? "leaf.conf is valid"
# bridge-unbatch's log (-v: stderr) into leaf.log
: >"$WORK/leaf.log"
chown uucp "$WORK/leaf.log"
uu_rgsmtp /bin/sh -c "exec '$TOP/uucp/bridge-unbatch' -v -c '$LEAF/leaf.conf' \
    2>>'$WORK/leaf.log'"

# bundle TAG N: N messages to TAG-1@farm.example ... in one bundle
bundle() {
	_i=1
	while [ "$_i" -le "$2" ]; do
		printf 'From: a@example.org\nSubject: %s %s\n\nbody %s-%s\n' \
		    "$1" "$_i" "$1" "$_i" >"$WORK/$1-$_i.eml"
		"$BT" enqueue -f a@example.org -r "$1-$_i@farm.example" \
		    "$SPOOL" farm "$WORK/$1-$_i.eml" >/dev/null || return 1
		_i=$((_i + 1))
	done
	"$BT" bundle -F "$SPOOL" farm >/dev/null 2>&1
}
# handoff TAG: the outbox's bundle, kept as WORK/TAG.bsmtp.gz, to uux
handoff() {
	cp "$OUTBOX"/* "$WORK/$1.bsmtp.gz" || return 1
	ls "$OUTBOX" >"$WORK/$1.name"
	# shellcheck disable=SC2086
	"$BT" handoff -F -n leaf -p postmaster@hub.test "$SPOOL" farm $HUBUUX \
	    >/dev/null 2>>"$WORK/handoff.log"
}
# transfer: the leaf calls the hub, uuxqt not started; each job it got
# is moved aside as ASIDE/TAG.N (TAG the bundle its standard input is),
# so that uuxqt runs only what run_job puts back
transfer() {
	timeout 120 "$UU_UUCICO" -I "$UU_LEAF_CFG" -q -S hub || return 1
	for _x in $(find "$UU_DIR/leaf/spool" -type f -name 'X.*'); do
		_in=$(sed -n 's/^I //p' "$_x")
		_d=$(find "$UU_DIR/leaf/spool" -type f -name "$_in" | head -1)
		_tag=
		for _b in "$WORK"/*.bsmtp.gz; do
			cmp -s "$_b" "$_d" && _tag=$(basename "$_b" .bsmtp.gz)
		done
		[ -n "$_tag" ] || return 1
		_n=1
		while [ -e "$ASIDE/$_tag.$_n" ]; do _n=$((_n + 1)); done
		dirname "$_x" >"$ASIDE/$_tag.$_n.where"
		mv "$_x" "$ASIDE/$_tag.$_n"
		echo "$(basename "$_x")" >"$ASIDE/$_tag.$_n.name"
	done
}
# run_job TAG.N: that job back in the spool, uuxqt runs it alone
run_job() {
	[ -f "$ASIDE/$1" ] || return 1
	mv "$ASIDE/$1" "$(cat "$ASIDE/$1.where")/$(cat "$ASIDE/$1.name")" &&
	    timeout 120 "$UU_UUXQT" -I "$UU_LEAF_CFG"
}
# rcpts DIR...: the recipients the servers took, sorted
rcpts() {
	for _d in "$@"; do cat "$_d"/*.rcpt 2>/dev/null; done | sort
}
expect() {	# expect TAG N: TAG-1@farm.example ... TAG-N@farm.example
	_i=1
	while [ "$_i" -le "$2" ]; do
		echo "$1-$_i@farm.example"
		_i=$((_i + 1))
	done
}
leaf_files() {	# leaf_files SUBDIR: what is in the leaf's spool there
	ls "$LEAF/spool/$1" 2>/dev/null | tr '\n' ' ' | sed 's/ $//'
}
count() { grep -c -- "$1" "$WORK/leaf.log"; }

# --- A, B, C, then A again; the jobs run last first ----------------------
bundle A 3 && handoff A && bundle B 2 && handoff B && bundle C 4 &&
    handoff C
ok $? "bundles A, B and C handed to uux"
# the hub crashed after uux took A, before A left its outbox
cp "$WORK/A.bsmtp.gz" "$OUTBOX/$(cat "$WORK/A.name")"
"$BT" handoff -F -n leaf -p postmaster@hub.test "$SPOOL" farm $HUBUUX \
    >/dev/null 2>>"$WORK/handoff.log"
ok $? "A handed to uux again"
is "$(uu_hub_jobs)" 4 "the hub's UUCP spool holds 4 jobs"
transfer
ok $? "the leaf fetched them, uuxqt not run"
is "$(ls "$ASIDE" | grep -c -v '\.where$\|\.name$')" 4 "4 jobs at the leaf"

srv "$WORK/srv1"
for j in A.2 C.1 B.1 A.1; do
	run_job "$j"
	ok $? "uuxqt ran job $j alone"
done
is "$(uu_leaf_failed)" 0 "no failed execution at the leaf"
order=$(sed -n 's/.*Executing \(X\.[^ ]*\) (rgsmtp).*/\1/p' \
    "$UU_DIR/leaf/log/Log" | tr '\n' ' ')
is "$order" "$(for j in A.2 C.1 B.1 A.1; do cat "$ASIDE/$j.name"; done |
    tr '\n' ' ')" "uuxqt ran them in that order: $order"
is "$(rcpts "$WORK/srv1")" "$( (expect A 3; expect B 2; expect C 4) | sort)" \
    "every copy of A, B and C injected exactly once"
is "$(count 'was injected before: removed, nothing injected again')" 1 \
    "the second A was known and removed: $(grep 'injected before' \
    "$WORK/leaf.log" | sed 's/.*: \([^:]*\): the same.*/\1/')"
is "$(leaf_files incoming)$(leaf_files kept)" "" "no bundle left at the leaf"
is "$(ls "$LEAF/spool/finished" | wc -l | tr -d ' ')" 3 \
    "three finished bundles recorded in finished/"
is "$(ls "$LEAF/spool/journal" | grep -c '\.j$')" 0 "no journal left"

# --- D twice: the first run cut short, the second finishes it ------------
srv_stop
bundle D 3 && handoff D
ok $? "bundle D handed to uux"
cp "$WORK/D.bsmtp.gz" "$OUTBOX/$(cat "$WORK/D.name")"
"$BT" handoff -F -n leaf -p postmaster@hub.test "$SPOOL" farm $HUBUUX \
    >/dev/null 2>>"$WORK/handoff.log"
ok $? "D handed to uux again"
transfer
ok $? "the leaf fetched both"
srv "$WORK/srv2" --max-msgs 1
run_job D.1
ok $? "uuxqt ran the first D (its mail server goes down after one message)"
wait "$SRV" 2>/dev/null
is "$(rcpts "$WORK/srv2")" "D-1@farm.example" "the first D injected D-1 only"
is "$(ls "$LEAF/spool/kept" | wc -l | tr -d ' ')" 1 "and is kept"
is "$(cat "$LEAF/spool/journal"/*.j 2>/dev/null)" "1 0 ok" \
    "its journal, named by its content, lists D-1"
srv "$WORK/srv3"
run_job D.2
ok $? "uuxqt ran the second D"
is "$(rcpts "$WORK/srv3")" "$(printf 'D-2@farm.example\nD-3@farm.example')" \
    "the second D, the same content, injected only D-2 and D-3"
setpriv --reuid=uucp --regid=uucp --clear-groups \
    "$TOP/uucp/bridge-unbatch" -v -q -c "$LEAF/leaf.conf" 2>>"$WORK/leaf.log"
ok $? "bridge-unbatch -q"
is "$(leaf_files kept)$(leaf_files incoming)" "" \
    "the kept D was removed"
is "$(count 'was injected before: removed, nothing injected again')" 2 \
    "as the same bundle, injected before"
is "$(rcpts "$WORK/srv1" "$WORK/srv2" "$WORK/srv3")" \
    "$( (expect A 3; expect B 2; expect C 4; expect D 3) | sort)" \
    "in all, every copy exactly once"
is "$(uu_leaf_failed)" 0 "no failed execution at the leaf"
is "$(ls "$LEAF/spool/journal" | grep -c '\.j$')" 0 "no journal left"

# --- the records age: finished/ after 60 days, orphaned journals -----------
OLD=$(printf '%064d' 1)
FRESH=$(printf '%064d' 2)
: >"$LEAF/spool/finished/$OLD"
: >"$LEAF/spool/finished/$FRESH"
: >"$LEAF/spool/journal/$OLD.j"
touch -d '61 days ago' "$LEAF/spool/finished/$OLD"
touch -d '2 hours ago' "$LEAF/spool/journal/$OLD.j"
chown uucp "$LEAF/spool/finished/$OLD" "$LEAF/spool/finished/$FRESH" \
    "$LEAF/spool/journal/$OLD.j"
setpriv --reuid=uucp --regid=uucp --clear-groups \
    "$TOP/uucp/bridge-unbatch" -v -q -c "$LEAF/leaf.conf" 2>>"$WORK/leaf.log"
ok $? "bridge-unbatch -q again"
[ ! -e "$LEAF/spool/finished/$OLD" ] && [ -e "$LEAF/spool/finished/$FRESH" ]
ok $? "a finished/ record 61 days old removed, a fresh one kept"
[ ! -e "$LEAF/spool/journal/$OLD.j" ]
ok $? "a journal of no bundle, 2 hours old, removed"
