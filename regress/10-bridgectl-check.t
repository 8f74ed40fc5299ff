#!/bin/sh
# 10-bridgectl-check.t - golden files for "bridgectl check" and
# "bridgectl route".  regress/check/NAME.conf is checked and its output
# (stdout and stderr, then "exit N") must equal NAME.ok; each line of
# route-good.in is routed with good.conf and the whole must equal
# route-good.ok.  Paths are relative: bridgectl runs from the top of the
# checkout.  The shipped etc/bridge.conf must pass.
. "$(dirname "$0")/lib.sh"
cd "$TOP" || exit 1

# golden NAME OUTFILE: compare with regress/check/NAME.ok
golden() {
	if diff -u "regress/check/$1.ok" "$2" >"$2.diff" 2>&1; then
		pass "$1"
	else
		fail "$1"
		sed 's/^/# /' "$2.diff"
	fi
}

if ! command -v bridgectl >/dev/null 2>&1; then
	fail "bridgectl is built"
	exit 1
fi

# git keeps no modes: set the ones the goldens rely on.
chmod 0600 regress/check/good.secret
chmod 0644 regress/check/secret-mode.secret

n=0
for conf in regress/check/*.conf; do
	name=$(basename "$conf" .conf)
	out=$WORK/$name.out
	# -s: the configs' text, not this host (regress/62-check-host.t)
	bridgectl -c "$conf" check -s >"$out.raw" 2>&1
	echo "exit $?" >>"$out.raw"
	# the files a config names are reported by absolute path
	sed "s|$TOP/||g" "$out.raw" >"$out"
	golden "$name" "$out"
	n=$((n + 1))
done
[ "$n" -ge 20 ]
ok $? "at least 20 golden configs ($n)"

out=$WORK/route-good.out
: >"$out"
while IFS= read -r addr; do
	bridgectl -c regress/check/good.conf route "$addr" >"$out.one" 2>&1
	echo "exit $?" >>"$out.one"
	sed "s|$TOP/||g" "$out.one" >>"$out"
done <regress/check/route-good.in
golden route-good "$out"

got=$(bridgectl -c regress/check/no-such.conf check -s 2>&1; echo "exit $?")
is "$got" "regress/check/no-such.conf: cannot read: No such file or directory
bridgectl: regress/check/no-such.conf: 1 problem
exit 78" "missing config file"

got=$(bridgectl -c etc/bridge.conf check -s 2>&1; echo "exit $?")
is "$got" "bridgectl: etc/bridge.conf: OK (3 customers, 6 routes)
exit 0" "shipped etc/bridge.conf passes (check -s: written for another host)"

got=$(bridgectl -c builtin check -s 2>&1; echo "exit $?")
is "$got" "bridgectl: builtin: OK (1 customer, 3 routes)
exit 0" "builtin config passes"

bridgectl -c etc/bridge.conf >/dev/null 2>&1
is $? 64 "no command: usage, 64"
bridgectl -c etc/bridge.conf frobnicate >/dev/null 2>&1
is $? 64 "unknown command: usage, 64"
bridgectl -c etc/bridge.conf check extra >/dev/null 2>&1
is $? 64 "check takes no arguments but -s: 64"
bridgectl -c etc/bridge.conf check -s extra >/dev/null 2>&1
is $? 64 "check -s takes no more: 64"
bridgectl -c etc/bridge.conf route >/dev/null 2>&1
is $? 64 "route without an address: 64"
bridgectl -c etc/bridge.conf queue -x >/dev/null 2>&1
is $? 64 "queue with an unknown option: 64"
got=$(bridgectl -c etc/bridge.conf queue nosuch 2>&1; echo "exit $?")
is "$got" 'bridgectl: no customer "nosuch" in etc/bridge.conf
exit 67' "queue for an unknown customer: 67"
