#!/bin/sh
# sanitize.sh - "make test-sanitize": build a copy of the tree with
# AddressSanitizer and UndefinedBehaviorSanitizer (an undefined act
# aborts: -fno-sanitize-recover) and run the given tests there under
# mk/test.sh.  The copy lives in its own directory, unique to the run
# and removed at the end (SAN_KEEP=1 keeps it), so the plain build in
# this tree is left alone.  Leak checking is off: the programs are
# short-lived and a few keep what they allocate until exit (bridge-fetch's
# hub names, bundletool); ASAN_OPTIONS from the caller wins.
# Usage: sh mk/sanitize.sh MAKE TEST...
# Exit status: 0 when the build worked and every test passed.
set -u
cd "$(dirname "$0")/.."
make=$1
shift
SAN=${SAN:--fsanitize=address,undefined -fno-sanitize-recover=undefined}
dir=$(mktemp -d "${TMPDIR:-/tmp}/mailbridge-san.XXXXXX") || exit 1
[ "${SAN_KEEP:-}" = 1 ] || trap 'rm -rf "$dir"' EXIT
trap 'exit 1' HUP INT TERM
tar -cf - --exclude=./.git --exclude=./regress/work --exclude=./bench/work \
    --exclude=./run --exclude='*.o' --exclude='*.a' --exclude='*.d' \
    --exclude=./.flags . | tar -xf - -C "$dir" || exit 1
echo "mk/sanitize.sh: building in $dir with $SAN"
cd "$dir" || exit 1
"$make" -f BSDmakefile CFLAGS="-O1 -g -fno-omit-frame-pointer $SAN" \
    LDFLAGS="$SAN" sanitize-build >build.log 2>&1 || {
	tail -n 40 build.log >&2
	exit 1
}
ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=0}
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export ASAN_OPTIONS UBSAN_OPTIONS
sh mk/test.sh -j "${TEST_JOBS:-4}" "$@"
