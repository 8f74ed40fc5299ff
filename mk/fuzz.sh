#!/bin/sh
# fuzz.sh - "make fuzz": build the libFuzzer harnesses (regress/fuzz/)
# with clang, -fsanitize=fuzzer,address,undefined, in a copy of the
# tree (the plain build here is left alone), then run each for SECONDS
# on a copy of its seeds, in a directory unique to the run and removed
# at the end (FUZZ_KEEP=1 keeps it).  A crash, leak or timeout is saved
# as regress/fuzz/crashes/NAME-<kind>-<sha1> in this tree, and the
# harness counts as failed.  FUZZ_CC names the compiler (clang);
# regress/fuzz/NAME.options holds a harness's own libFuzzer options
# (smtpd: -close_fd_mask=2, its log lines stay out of the run's log);
# FUZZ_ARGS adds options for every harness (-jobs=2 ...).
# Usage: sh mk/fuzz.sh MAKE SECONDS NAME...
# Exit status: 0 when every harness ran its time without a finding.
set -u
cd "$(dirname "$0")/.."
top=$(pwd)
make=$1
secs=$2
shift 2
CC=${FUZZ_CC:-clang}
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
dir=$(mktemp -d "${TMPDIR:-/tmp}/mailbridge-fuzz.XXXXXX") || exit 1
[ "${FUZZ_KEEP:-}" = 1 ] || trap 'rm -rf "$dir"' EXIT
trap 'exit 1' HUP INT TERM
tar -cf - --exclude=./.git --exclude=./regress/work --exclude=./bench/work \
    --exclude=./run --exclude=./regress/corpus --exclude='*.o' \
    --exclude='*.a' --exclude='*.d' --exclude=./.flags . |
    tar -xf - -C "$dir/" || exit 1
echo "mk/fuzz.sh: building in $dir with $CC $SAN"
cd "$dir" || exit 1
targets=
for f in "$@"; do targets="$targets regress/fuzz/$f-fuzz"; done
"$make" -f BSDmakefile CC="$CC" \
    CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link $SAN" \
    LDFLAGS="$SAN" $targets >build.log 2>&1 || {
	tail -n 40 build.log >&2
	exit 1
}
mkdir -p "$top/regress/fuzz/crashes"
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export UBSAN_OPTIONS
failed=0
for f in "$@"; do
	mkdir -p "corpus/$f"
	cp "$top/regress/fuzz/seeds/$f/"* "corpus/$f/" 2>/dev/null
	opts=
	[ -f "regress/fuzz/$f.options" ] && opts=$(cat "regress/fuzz/$f.options")
	echo "mk/fuzz.sh: $f for ${secs}s"
	"./regress/fuzz/$f-fuzz" -max_total_time="$secs" -timeout=10 \
	    -rss_limit_mb=1024 -print_final_stats=1 \
	    -artifact_prefix="$top/regress/fuzz/crashes/$f-" \
	    $opts ${FUZZ_ARGS:-} "corpus/$f" >"$f.log" 2>&1
	rc=$?
	grep -E '^(Done [0-9]+ runs|stat::number_of_executed_units|stat::peak_rss_mb)' \
	    "$f.log" | sed "s/^/$f: /"
	if [ "$rc" -ne 0 ]; then
		echo "mk/fuzz.sh: $f FAILED (exit $rc):"
		grep -E 'ERROR|SUMMARY|runtime error|Test unit written' \
		    "$f.log" | head -n 20
		failed=1
	fi
done
exit $failed
