#!/bin/sh
# test.sh - "make test": run the tests under prove, the independent
# ones TEST_JOBS at a time, slowest first (prove keeps each test's time
# in regress/work/prove.state), then those that cannot share the
# machine with other tests (a line "# serial: REASON" among a test's
# first 20 lines) one at a time, alone.  make has built everything.
# A unit test's stderr (the log lines of the code it drives) goes to
# regress/work/unit/NAME.stderr and is shown only when it fails;
# integration tests do the same for themselves (regress/lib.sh).
# Usage: sh mk/test.sh [-j N] TEST...
#        sh mk/test.sh --one TEST       (what prove runs for each test)
# Exit status: 0 when every test passed.
set -u
cd "$(dirname "$0")/.."
if [ "${1:-}" = --one ]; then
	case $2 in
	*/unit-*)
		mkdir -p regress/work/unit
		log=regress/work/unit/$(basename "$2" .t).stderr
		"$2" 2>"$log"
		rc=$?
		if [ $rc -ne 0 ] && [ -s "$log" ]; then
			echo "$2: the last lines of $log:" >&2
			tail -n 25 "$log" | sed 's/^/    /' >&2
		fi
		exit $rc ;;
	*)
		exec "$2" ;;
	esac
fi
jobs=4
if [ "${1:-}" = -j ]; then
	jobs=$2
	shift 2
fi
mkdir -p regress/work
par=
ser=
for t in "$@"; do
	case $t in
	*/unit-*) par="$par $t"; continue ;;
	esac
	if head -n 20 "$t" 2>/dev/null | grep -q '^# serial:'; then
		ser="$ser $t"
	else
		par="$par $t"
	fi
done
rc=0
state="--statefile=regress/work/prove.state --state=save"
[ -f regress/work/prove.state ] &&
    state="--statefile=regress/work/prove.state --state=slow,save"
if [ -n "$par" ]; then
	# shellcheck disable=SC2086
	prove -f --exec 'sh mk/test.sh --one' -j "$jobs" $state $par || rc=1
fi
if [ -n "$ser" ]; then
	echo "mk/test.sh: one at a time:$ser"
	# shellcheck disable=SC2086
	prove -f --exec 'sh mk/test.sh --one' $ser || rc=1
fi
exit $rc
