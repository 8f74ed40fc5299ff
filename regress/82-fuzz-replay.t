#!/bin/sh
# 82-fuzz-replay.t - every fuzz harness (regress/fuzz/NAME.c, FUZZERS
# in the BSDmakefile) linked with the plain replay driver
# (regress/fuzz/replay.c, no libFuzzer) and run on each of its seeds
# (regress/fuzz/seeds/NAME/) and each saved crash
# (regress/fuzz/crashes/NAME-*): one line per harness, not ok when
# the harness aborts or crashes on any file.  "make fuzz" is the real
# fuzzing; this keeps what it found fixed.
. "$(dirname "$0")/lib.sh"
require bmake
cd "$TOP" || exit 1
FUZZERS=$(bmake -f BSDmakefile -V FUZZERS)
[ -n "$FUZZERS" ]
ok $? "FUZZERS is set in the BSDmakefile"
# make test (and mk/sanitize.sh's sanitize-build) built them with its
# flags; build here only what is missing (after a plain "make all"), as
# a bmake with other flags would remove everything built with them.
missing=
for f in $FUZZERS; do
	[ -x "regress/fuzz/$f-replay" ] || missing=yes
done
[ -z "$missing" ] || bmake -f BSDmakefile fuzz-replay >"$WORK/build.log" 2>&1
ok $? "replay drivers built (make fuzz-replay)"
[ -f "$WORK/build.log" ] && sed 's/^/# /' "$WORK/build.log"
TMPDIR=$WORK
export TMPDIR
for f in $FUZZERS; do
	set --
	for s in regress/fuzz/seeds/"$f"/* regress/fuzz/crashes/"$f"-*; do
		[ -f "$s" ] && set -- "$@" "$s"
	done
	if [ $# -eq 0 ]; then
		fail "$f: no seeds in regress/fuzz/seeds/$f"
		continue
	fi
	# one file at a time, so that a failure names its file
	bad=
	for s in "$@"; do
		"regress/fuzz/$f-replay" "$s" >>"$WORK/$f.log" 2>&1 ||
		    bad="$bad $s"
	done
	[ -z "$bad" ]
	ok $? "$f: $# files replayed without an abort"
	[ -z "$bad" ] || diag "$f failed on:$bad"
done
