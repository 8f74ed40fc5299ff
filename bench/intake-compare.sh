#!/bin/sh
# intake-compare.sh - intake of this tree against an older revision
# (REV, default the commit before the queue process, 69a9967), each
# side by side with Postfix in the same run (bench/intake.sh), in
# interleaved rounds so that both see the same load.  The older tree is
# a clone under bench/work/intake-compare, built there.  Prints one
# line per run and the median ratio bridged/Postfix for each side.
# Environment: REV, ROUNDS (3), SESSIONS (10), MSGS (5000).
cd "$(dirname "$0")/.." || exit 1
TOP=$(pwd)
REV=${REV:-69a9967}
ROUNDS=${ROUNDS:-3}
W=$TOP/bench/work/intake-compare
OLD=$W/old

rm -rf "$OLD"
mkdir -p "$W"
git clone -q "$TOP" "$OLD" && git -C "$OLD" checkout -q "$REV" ||
    { echo "error=cannot-check-out-$REV"; exit 1; }
(cd "$OLD" && bmake -f BSDmakefile all >"$W/build.log" 2>&1) ||
    { echo "error=old-build-failed"; exit 1; }
bmake -f BSDmakefile all >/dev/null 2>&1 || { echo "error=build-failed"; exit 1; }

: >"$W/runs"
r=1
while [ $r -le "$ROUNDS" ]; do
	for side in old new; do
		dir=$TOP
		[ $side = old ] && dir=$OLD
		line=$(cd "$dir" && timeout 200 sh bench/intake.sh 2>/dev/null |
		    tr '\n' ' ')
		ratio=$(echo "$line" | sed -n 's/.*ratio_bridged_over_postfix=\([0-9.]*\).*/\1/p')
		rate=$(echo "$line" | sed -n 's/.*bridged_msgs_per_s=\([0-9.]*\).*/\1/p')
		prate=$(echo "$line" | sed -n 's/.*postfix_msgs_per_s=\([0-9.]*\).*/\1/p')
		ok=$(echo "$line" | sed -n 's/.*verified=\([a-z]*\).*/\1/p')
		echo "round=$r side=$side rev=$(git -C "$dir" rev-parse --short HEAD) bridged_msgs_per_s=$rate postfix_msgs_per_s=$prate ratio=$ratio verified=$ok load=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null)"
		echo "$side $ratio $rate" >>"$W/runs"
	done
	r=$((r + 1))
done
for side in old new; do
	echo "$side median_ratio=$(awk -v s=$side '$1 == s { print $2 }' "$W/runs" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }') median_msgs_per_s=$(awk -v s=$side '$1 == s { print $3 }' "$W/runs" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')"
done
rm -rf "$OLD"
