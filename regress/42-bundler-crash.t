#!/bin/sh
# 42-bundler-crash.t - kill -9 while bundling, at every step the bundler
# has (each entry added, bundle written, finished into ready/, manifest
# written and renamed, published, outbox fsync'd, each entry removed,
# manifest removed), and also at every step of the recovery that
# follows (after the first and last kill of each kind; after every
# kill with TEST_FULL=1); then recover and bundle the rest.  After recovery every
# (message, recipient) is exactly once in the queue or in a published
# bundle (no loss, none in two bundles), and bundle-tmp/ holds no
# leftovers; after the final run every copy is in exactly one bundle.
. "$(dirname "$0")/lib.sh"

BT=$TOP/regress/bundletool
[ -x "$BT" ] || { fail "regress/bundletool is built"; exit 1; }
MAX=16K

# --- a queue template: 24 messages, some with 2 or 3 recipients, one
# bigger than MAX (it travels alone) ---------------------------------
TPL=$WORK/template
mkdir -p "$WORK/msgs"
i=1
while [ $i -le 24 ]; do
	f=$WORK/msgs/$i
	{
		printf 'From: sender%d@example.org\n' "$i"
		printf 'To: farm@farm.example\nSubject: crash test %d\n' "$i"
		printf 'Message-ID: <%d@crash.test>\n\n' "$i"
		n=$((i * 4))
		[ $i -eq 7 ] && n=600
		j=0
		while [ $j -lt $n ]; do
			printf 'line %d of message %d .. some text\n' "$j" "$i"
			j=$((j + 1))
		done
		printf '.\n..leading dots\n'
	} >"$f"
	if [ $((i % 5)) -eq 0 ]; then
		r="-r a@farm.example -r b@farm.example -r c@farm.example"
	elif [ $((i % 3)) -eq 0 ]; then
		r="-r a@farm.example -r b@farm.example"
	else
		r="-r a@farm.example"
	fi
	# shellcheck disable=SC2086
	"$BT" enqueue -f "s$i@example.org" $r "$TPL" farm "$f" >/dev/null ||
	    { fail "enqueue $i"; exit 1; }
	i=$((i + 1))
done

# state SPOOL: every (message-id, recipient) in the queue and in the
# published bundles, sorted.
state() {
	{
		"$BT" qlist "$1" farm | awk '{ print $5, $3 }'
		set -- "$1"/outbox/farm/*
		[ -f "$1" ] && "$BT" list "$@" | awk '{ print $4, $2 }'
	} | sort
}
state "$TPL" >"$WORK/want"
is "$(wc -l <"$WORK/want" | tr -d ' ')" 39 "the template holds 39 copies"

# leftovers SPOOL: files in bundle-tmp/.
leftovers() {
	find "$1/bundle-tmp/farm" -type f | wc -l | tr -d ' '
}

# A clean run, to count the steps.
rm -rf "$WORK/s"
cp -a "$TPL" "$WORK/s"
out=$(BUNDLER_TRACE=1 "$BT" bundle -F -m $MAX "$WORK/s" farm \
    2>"$WORK/trace")
ok $? "an uninterrupted run: $out"
STEPS=$(grep -c '^step ' "$WORK/trace")
NB=$(ls "$WORK/s/outbox/farm" | wc -l | tr -d ' ')
ok $([ "$NB" -ge 5 ] && echo 0 || echo 1) "$NB bundles, $STEPS steps"
state "$WORK/s" >"$WORK/got"
cmp -s "$WORK/want" "$WORK/got"
ok $? "the uninterrupted run: every copy in exactly one bundle"
for w in add written ready manifest-tmp manifest published synced remove \
    removed done; do
	grep -q " $w\$" "$WORK/trace" || fail "step $w is traced"
done
big=$("$BT" list "$WORK"/s/outbox/farm/* | grep -c '<7@crash.test>')
is "$big" 1 "the big message is in the outbox once"
alone=0
for b in "$WORK"/s/outbox/farm/*; do
	if "$BT" list "$b" | grep -q '<7@crash.test>'; then
		alone=$("$BT" list "$b" | wc -l | tr -d ' ')
	fi
done
is "$alone" 1 "the message bigger than bundle-max travels alone"

# --- kill at every step, then recover ------------------------------------
# The recovery is killed at each of its steps, and the bundles are
# taken away before it, after the first and the last kill of each kind
# of bundler step (after every kill: TEST_FULL=1, as make torture runs
# it).
if [ "${TEST_FULL:-0}" = 1 ]; then
	NEST=$(awk '/^step /{ printf " %d", $2 }' "$WORK/trace")
else
	NEST=$(awk '/^step /{ if (!($3 in first)) first[$3] = $2; last[$3] = $2 }
	    END { for (k in first) printf " %d %d", first[k], last[k] }' \
	    "$WORK/trace")
fi
bad_state=0
bad_left=0
bad_final=0
bad_kill=0
bad_taken=0
nested=0
k=1
while [ $k -le "$STEPS" ]; do
	rm -rf "$WORK/c"
	cp -a "$TPL" "$WORK/c"
	BUNDLER_CRASH_AT=$k "$BT" bundle -F -m $MAX "$WORK/c" farm \
	    >/dev/null 2>&1
	rc=$?
	if [ $rc -ne 137 ]; then
		bad_kill=$((bad_kill + 1))
		diag "step $k: exit $rc"
	fi
	# After the first and last kill of each kind: kill the recovery
	# too, at each of its steps, and let the leaf (sftp) or the
	# hand-off (uux) take the published bundles before the restart:
	# still no loss, no duplicate.
	case " $NEST " in
	*" $k "*)
		rm -rf "$WORK/r"
		cp -a "$WORK/c" "$WORK/r"
		BUNDLER_TRACE=1 "$BT" recover "$WORK/r" farm 2>"$WORK/rtrace"
		rsteps=$(grep -c '^step ' "$WORK/rtrace")
		j=1
		while [ $j -le "$rsteps" ]; do
			rm -rf "$WORK/r"
			cp -a "$WORK/c" "$WORK/r"
			BUNDLER_CRASH_AT=$j "$BT" recover "$WORK/r" farm \
			    >/dev/null 2>&1
			"$BT" recover "$WORK/r" farm 2>/dev/null
			state "$WORK/r" >"$WORK/got"
			if ! cmp -s "$WORK/want" "$WORK/got"; then
				bad_state=$((bad_state + 1))
				diag "step $k, recovery step $j: state differs"
			fi
			nested=$((nested + 1))
			j=$((j + 1))
		done
		rm -rf "$WORK/t" "$WORK/taken"
		cp -a "$WORK/c" "$WORK/t"
		mkdir -p "$WORK/taken/outbox/farm" "$WORK/taken/q/farm/new"
		set -- "$WORK/t/outbox/farm"/*
		[ -f "$1" ] && mv "$@" "$WORK/taken/outbox/farm/"
		"$BT" recover "$WORK/t" farm 2>/dev/null
		{ state "$WORK/t"; state "$WORK/taken"; } | sort >"$WORK/got"
		if ! cmp -s "$WORK/want" "$WORK/got"; then
			bad_taken=$((bad_taken + 1))
			diag "step $k: bundles taken before recovery: state differs"
		fi
		;;
	esac
	# Plain recovery, check, then finish the bundling.
	"$BT" recover "$WORK/c" farm 2>/dev/null
	state "$WORK/c" >"$WORK/got"
	if ! cmp -s "$WORK/want" "$WORK/got"; then
		bad_state=$((bad_state + 1))
		diag "step $k: state after recovery differs:"
		diff "$WORK/want" "$WORK/got" | head -5 | sed 's/^/# /'
	fi
	[ "$(leftovers "$WORK/c")" -eq 0 ] || {
		bad_left=$((bad_left + 1))
		diag "step $k: leftovers in bundle-tmp"
	}
	"$BT" bundle -F -m $MAX "$WORK/c" farm >/dev/null 2>&1
	state "$WORK/c" >"$WORK/got"
	if ! cmp -s "$WORK/want" "$WORK/got" ||
	    [ -n "$("$BT" qlist "$WORK/c" farm)" ]; then
		bad_final=$((bad_final + 1))
		diag "step $k: final state differs"
	fi
	k=$((k + 1))
done
is "$bad_kill" 0 "killed at each of the $STEPS steps"
d="$STEPS kills, $nested kills during recovery"
is "$bad_state" 0 "after recovery: no copy lost, none twice ($d)"
is "$bad_taken" 0 "bundles taken away before recovery: no copy lost, none twice"
is "$bad_left" 0 "recovery leaves nothing in bundle-tmp"
is "$bad_final" 0 "after the final run every copy is in exactly one bundle"
