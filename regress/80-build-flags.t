#!/bin/sh
# 80-build-flags.t - the build takes the usual additions: a CFLAGS,
# CPPFLAGS or LDFLAGS from the command line or the environment adds to
# every compile and link instead of replacing the include paths and
# libraries; DESTDIR is never taken for a sysroot; a changed PREFIX
# (or other flags) rebuilds what has the old one compiled in, so that
# "make install PREFIX=/x" after a plain "make" installs programs that
# read /x/etc/bridge.  Runs bmake in a copy of the sources in $WORK.
. "$(dirname "$0")/lib.sh"
require bmake cc
SRC=$WORK/src
mkdir -p "$SRC"
(cd "$TOP" && tar -cf - --exclude='*.[oda]' --exclude=work \
    --exclude='*.t' --exclude=.flags BSDmakefile mk conf spoolfmt etrn \
    uucp ssh linkup bridge bench regress) | tar -xf - -C "$SRC"
[ -f "$SRC/BSDmakefile" ] && [ -f "$SRC/conf/leafconf.c" ]
ok $? "a copy of the sources"
cd "$SRC" || exit 1
BM="bmake -f BSDmakefile"
CCW=$($BM -V CC | awk '{ print $1 }')
TARGETS="all $($BM -V '${UNIT_TESTS} ${BR_HELPERS}')"

# lines NOUT: how many compile (-c) and link lines, and those lacking
# an include path, the user's flags, or (links) LDFLAGS and libraries.
check_lines() {
	awk -v cc="$CCW" -v want="$2" -v ld="$3" '
	$1 != cc { next }
	/ -c / { nc++
		if ($0 !~ / -Iconf / || index($0, want) == 0) { bad++; print "# " $0 }
		next }
	/ -o / { nl++
		if ($0 !~ / -Iconf / || index($0, want) == 0 ||
		    index($0, ld) == 0 || $0 !~ / -lz /) { bad++; print "# " $0 }
	}
	END { printf "compiles=%d links=%d bad=%d\n", nc, nl, bad }' "$1"
}

$BM -n $TARGETS CFLAGS=-DMB_CMDLINE_CFLAGS CPPFLAGS=-DMB_CMDLINE_CPPFLAGS \
    LDFLAGS=-Wl,--mb-cmdline-ldflags >"$WORK/cmdline.n" 2>&1
ok $? "bmake -n with CFLAGS, CPPFLAGS and LDFLAGS on the command line"
r=$(check_lines "$WORK/cmdline.n" "-DMB_CMDLINE_CFLAGS" "--mb-cmdline-ldflags")
printf '%s\n' "$r" | grep '^#'
r=$(printf '%s\n' "$r" | tail -1)
case $r in
compiles=[1-9]*" links="[1-9]*" bad=0") pass "every compile and link keeps the build's flags and has the user's: $r" ;;
*) fail "every compile and link keeps the build's flags and has the user's: $r" ;;
esac
grep -q 'MB_CMDLINE_CPPFLAGS' "$WORK/cmdline.n"
ok $? "CPPFLAGS reaches the compiler"

CFLAGS=-DMB_ENV_CFLAGS LDFLAGS=-Wl,--mb-env-ldflags $BM -n $TARGETS \
    >"$WORK/env.n" 2>&1
ok $? "bmake -n with CFLAGS and LDFLAGS in the environment"
r=$(check_lines "$WORK/env.n" "-DMB_ENV_CFLAGS" "--mb-env-ldflags" | tail -1)
case $r in
compiles=[1-9]*" links="[1-9]*" bad=0") pass "the environment's flags too: $r" ;;
*) fail "the environment's flags too: $r" ;;
esac

$BM -n uucp/bridge-unbatch.o DESTDIR="$WORK/dest" >"$WORK/destdir.n" 2>&1
! grep -q -e '-nostdinc' -e '-idirafter' "$WORK/destdir.n"
ok $? "DESTDIR is where install puts files, not a sysroot"

# A changed PREFIX rebuilds; the object carries the new path.
$BM uucp/bridge-unbatch.o >"$WORK/b1.out" 2>&1
ok $? "build uucp/bridge-unbatch.o"
grep -q '/usr/local/etc/bridge/leaf.conf' uucp/bridge-unbatch.o
ok $? "with the default PREFIX compiled in"
$BM uucp/bridge-unbatch.o >"$WORK/b2.out" 2>&1
! grep -q ' -c ' "$WORK/b2.out"
ok $? "a second make with the same flags builds nothing"
$BM uucp/bridge-unbatch.o PREFIX=/opt/mbx >"$WORK/b3.out" 2>&1
grep -q -- '-DPREFIX=\\"/opt/mbx\\"' "$WORK/b3.out" &&
    grep -q '/opt/mbx/etc/bridge/leaf.conf' uucp/bridge-unbatch.o &&
    ! grep -q '/usr/local/etc/bridge' uucp/bridge-unbatch.o
ok $? "PREFIX=/opt/mbx rebuilds it with /opt/mbx/etc/bridge"
$BM uucp/bridge-unbatch.o >"$WORK/b4.out" 2>&1
grep -q '/usr/local/etc/bridge/leaf.conf' uucp/bridge-unbatch.o
ok $? "and a plain make after that rebuilds it with the default again"
$BM uucp/bridge-unbatch.o CFLAGS=-DMB_CHANGED >"$WORK/b5.out" 2>&1
grep -q -- '-DMB_CHANGED' "$WORK/b5.out"
ok $? "other CFLAGS rebuild too"
$BM -n test-sanitize >"$WORK/san.n" 2>&1 &&
    grep -q '^sh mk/sanitize.sh .* regress/unit-bundle.t' "$WORK/san.n" &&
    sh -n mk/sanitize.sh && $BM -n sanitize-build \
    CFLAGS=-fsanitize=address LDFLAGS=-fsanitize=address >"$WORK/san2.n" 2>&1
ok $? "make test-sanitize is there (mk/sanitize.sh, its build target)"
