#!/bin/sh
# 90-docs.t - every manual page the build installs is clean under
# mandoc -Tlint, and the shipped sample configs pass their checkers.
. "$(dirname "$0")/lib.sh"
require mandoc bmake
cd "$TOP" || exit 1

pages=$(bmake -f BSDmakefile -V '${MAN1} ${MAN5} ${MAN8}')
n=0
for m in $pages; do
	n=$((n + 1))
	out=$(mandoc -Tlint -Wwarning "$m" 2>&1)
	ok $? "mandoc -Tlint: $m"
	[ -n "$out" ] && diag "$out"
done
[ "$n" -ge 10 ]
ok $? "at least ten manual pages ($n)"

bridge/bridgectl -c etc/bridge.conf check -s >"$WORK/check.out" 2>&1
ok $? "bridgectl check accepts etc/bridge.conf"
uucp/bridge-unbatch -c etc/leaf.conf -n >"$WORK/leaf.out" 2>&1
ok $? "bridge-unbatch -n accepts etc/leaf.conf"
linkup/bridge-linkup -c etc/leaf.conf check >"$WORK/linkup.out" 2>&1
ok $? "bridge-linkup check accepts etc/leaf.conf"
for h in etc/hooks/* etc/rc.d/bridge_linkup; do
	sh -n "$h"
	ok $? "sh -n $h"
done
grep -q 'make test' README.md && grep -q 'make run' README.md
ok $? "README shows make run and make test"
