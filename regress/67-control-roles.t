#!/bin/sh
# 67-control-roles.t - bridged's control socket and its roles (issue 10;
# DECISIONS.md): with control { listen } the socket lives outside the
# spool, bound as root, and what a peer may do comes from the uid and
# groups the kernel reports (SO_PEERCRED) against control { peers }:
# root and the hub's user are operators; a viewer may ask the status
# and nothing else; customer:NAME may flush its own customer only; a
# %group entry gives its role to every member; a peer with no role is
# refused at once.  bridgectl says "error denied" and exits 77; the hub
# logs each refusal with the uid.  bridgectl check refuses a peers
# entry that does not parse or names no customer.
. "$(dirname "$0")/lib.sh"
. "$TOP/regress/hubrun.sh"
hub_require
require bridgectl setpriv useradd groupadd
[ "$(id -u)" = 0 ] || skip_all "needs root (test users and peer uids)"

test_group OPG ops
test_user VIEWER viewer
test_user CUST cust
test_user OPU op -G "$OPG"
test_user NOBODY other
CTL=$WORK/hub/ctl/control
HUB_CONTROL=$CTL
hub_init "control { listen = {\"unix:$CTL\"} peers = {\"$VIEWER:viewer\", \"$CUST:customer:acme\", \"%$OPG:operator\"} }"
hub_start || { fail "bridged started"; exit 1; }

# as USER: bridgectl ARGS; its output in $WORK/out, the exit status echoed
as() {
	_u=$1
	shift
	setpriv --reuid="$_u" --regid="$(id -g "$_u")" --init-groups \
	    bridgectl -c "$HUB_CONF" "$@" >"$WORK/out" 2>&1
	echo $?
}

is "$(stat -c '%U %a' "$CTL")" "root 666" \
    "the control socket is root's, 0666: its peers' roles guard it"
ok "$([ ! -e "$HUB_SPOOL/control" ]; echo $?)" "and there is none in the spool"
is "$(bridgectl -c "$HUB_CONF" status >/dev/null 2>&1; echo $?)" 0 \
    "root: status"
is "$(as "$HUB_USER" status)" 0 "the hub's user: status"
is "$(as "$VIEWER" status)" 0 "a viewer: status"
is "$(as "$VIEWER" flush acme)" 77 "a viewer may not flush: exit 77"
grep -q "error denied: flush needs the operator role or that customer's" "$WORK/out"
ok $? "and is told why ($(cat "$WORK/out"))"
is "$(as "$VIEWER" bundle ship)" 77 "nor bundle"
is "$(as "$CUST" flush acme)" 0 "customer:acme flushes acme ($(cat "$WORK/out"))"
is "$(as "$CUST" flush ship)" 77 "but not ship"
is "$(as "$CUST" status)" 77 "nor asks the status of every customer"
is "$(as "$OPU" flush ship)" 0 "a member of the %group operators flushes ship"
is "$(as "$NOBODY" status)" 77 "a user with no role: exit 77"
grep -q "error denied: uid $(id -u "$NOBODY") has no role on the control socket" "$WORK/out"
ok $? "told so ($(cat "$WORK/out"))"
wait_for 5 grep -q "control: uid $(id -u "$NOBODY") refused: no role" "$HUB_LOG"
ok $? "and the hub logs the uid"
grep -q "control: flush ship refused: flush needs the operator role or that customer's (customer role)" "$HUB_LOG"
ok $? "and each refused request, with the role"
grep -q "control: flush acme: " "$HUB_LOG"
ok $? "the customer's own flush is logged like any other"
hub_stop

# bridgectl check: peers that do not parse, or name no customer
bad() {
	sed "s|^control {.*|control { listen = {\"unix:$CTL\"} peers = {\"$1\"} }|" \
	    "$HUB_CONF" >"$WORK/bad.conf"
	bridgectl -c "$WORK/bad.conf" check 2>&1
}
bad "$VIEWER:admin" | grep -q "bad peer \"$VIEWER:admin\""
ok $? "an unknown role is refused by check"
bad "$VIEWER" | grep -q "bad peer"
ok $? "an entry without a role too"
bad "$CUST:customer:nosuch" | grep -q "no customer \"nosuch\""
ok $? "a customer role for no customer too"
bridgectl -c "$HUB_CONF" check >/dev/null 2>&1
ok $? "the good config passes check"
