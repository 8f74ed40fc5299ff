# lib.sh - shared shell for integration tests: TAP output, a private
# work directory, free loopback ports, waiting for servers, and the
# rule that under CI=true a missing peer is a failure, never a skip.
# Source it from a regress/*.t script: . "$(dirname "$0")/lib.sh"
#
# Sharing the machine: any number of runs (in other clones, or prove
# -j in this one) may run at once, so everything a test makes outside
# $WORK is unique to it and removed at exit (share.sh: free_port,
# test_user, test_group, root_dir; never a fixed name or a shared
# directory that is rm -rf'ed).  The test's stderr goes to
# $WORK/stderr.log (expected warnings stay there); when the test fails
# the end of that log is shown on stderr.  A test that cannot share
# the machine with other tests says so in a line "# serial: REASON"
# among its first lines; make test runs those one at a time.

set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
T=$(basename "$0" .t)
WORK=${WORK:-$TOP/regress/work/$T}
rm -rf "$WORK"
mkdir -p "$WORK"
# Peers that drop privileges (smtp-sink -u, Postfix, sshd) must reach it.
chmod 755 "$TOP/regress/work" "$WORK"
_tap_n=0
_tap_failed=0
_cleanups=
. "$TOP/regress/share.sh"
exec 3>&2 2>>"$WORK/stderr.log"

PATH=$TOP/bridge:$TOP/etrn:$TOP/uucp:$TOP/ssh:$TOP/linkup:/usr/sbin:/sbin:$PATH
# python3 may be a version manager's shim costing a shell or two per
# call: the interpreter it runs goes first in PATH.
_py=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) &&
    [ -x "$_py" ] && PATH=${_py%/*}:$PATH
export PATH

ok() {	# ok CONDITION-EXIT-STATUS DESCRIPTION
	_tap_n=$((_tap_n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $_tap_n - $2"
	else
		echo "not ok $_tap_n - $2"
		_tap_failed=$((_tap_failed + 1))
	fi
}

pass() { ok 0 "$1"; }
fail() { ok 1 "$1"; }
diag() { echo "# $*"; }

is() {	# is GOT WANT DESCRIPTION
	if [ "$1" = "$2" ]; then
		ok 0 "$3"
	else
		ok 1 "$3"
		diag "got:  '$1'"
		diag "want: '$2'"
	fi
}

_skipped=

# skip_all REASON: skip the whole file; under CI=true, where make test
# installed every peer, that is a failure instead.
skip_all() {
	_skipped=yes
	if [ "${CI:-}" = true ]; then
		echo "1..1"
		echo "not ok 1 - cannot run under CI: $*"
		exit 1
	fi
	echo "1..0 # SKIP $*"
	exit 0
}

# require PROGRAM...: skip_all when a peer is missing.
require() {
	for _p in "$@"; do
		command -v "$_p" >/dev/null 2>&1 || skip_all "$_p not installed"
	done
}

# at_exit COMMAND: run at exit, last registered first.
at_exit() {
	_cleanups="$*; $_cleanups"
}

# _stderr_tail: a failed test shows the end of its stderr log.
_stderr_tail() {
	[ -s "$WORK/stderr.log" ] || return 0
	echo "$T: the last lines of $WORK/stderr.log:" >&3
	tail -n 25 "$WORK/stderr.log" | sed 's/^/    /' >&3
}

_finish() {
	_rc=$?
	eval "$_cleanups" >/dev/null 2>&1 || true
	_ports_release
	[ -n "$_skipped" ] && exit $_rc
	if [ "$_rc" -ne 0 ] && [ "$_tap_n" -eq 0 ]; then
		echo "not ok 1 - script died with status $_rc"
		echo "1..1"
		_stderr_tail
		exit 1
	fi
	echo "1..$_tap_n"
	[ "$_tap_failed" -eq 0 ] && [ "$_rc" -eq 0 ]
	_rc=$?
	[ "$_rc" -eq 0 ] || _stderr_tail
	exit $_rc
}
trap _finish EXIT
trap 'exit 1' INT TERM

# wait_port PORT [SECONDS]: until something accepts on 127.0.0.1:PORT.
wait_port() {
	python3 - "$1" "${2:-10}" <<'EOF'
import socket, sys, time
end = time.monotonic() + float(sys.argv[2])
while True:
    s = socket.socket()
    s.settimeout(0.2)
    up = s.connect_ex(('127.0.0.1', int(sys.argv[1]))) == 0
    s.close()
    if up:
        sys.exit(0)
    if time.monotonic() >= end:
        sys.exit(1)
    time.sleep(0.05)
EOF
}

# wait_for SECONDS COMMAND...: until COMMAND succeeds (0) or the time
# is up (1), trying every 0.1 s.
wait_for() {
	_wf_s=$1
	shift
	_wf_i=0
	while [ $_wf_i -lt $((_wf_s * 10)) ]; do
		"$@" && return 0
		sleep 0.1
		_wf_i=$((_wf_i + 1))
	done
	return 1
}

# wait_file PATH [SECONDS]
wait_file() {
	_i=0
	_lim=$(( ${2:-10} * 20 ))
	while [ $_i -lt $_lim ]; do
		[ -e "$1" ] && return 0
		sleep 0.05
		_i=$((_i + 1))
	done
	return 1
}

# corpus_dir: the 3,250 messages unpacked once into regress/work/corpus.
corpus_dir() {
	_c=$TOP/regress/work/corpus
	if [ ! -f "$_c/.done" ]; then
		_tgz=
		for _d in "$TOP/../shared/corpus" "$TOP/regress/corpus"; do
			[ -f "$_d/spamassassin-public.tar.gz" ] &&
			    _tgz=$_d/spamassassin-public.tar.gz && break
		done
		[ -n "$_tgz" ] || { echo "corpus not found" >&2; return 1; }
		mkdir -p "$_c.tmp.$$"
		tar -xzf "$_tgz" -C "$_c.tmp.$$" || return 1
		rm -rf "$_c"
		mv "$_c.tmp.$$" "$_c" && touch "$_c/.done"
	fi
	echo "$_c"
}
