# common.sh - shared by the benchmark scripts: the test library's
# private work directory, free ports and servers (regress/lib.sh,
# hubrun.sh, postfix.sh), but plain key=value output instead of TAP.
# Invariant: every server a benchmark starts is stopped when it exits.
# Source it from bench/NAME.sh: . "$(dirname "$0")/common.sh"

WORK=${WORK:-$(cd "$(dirname "$0")/.." && pwd)/bench/work/$(basename "$0" .sh)}
. "$(dirname "$0")/../regress/lib.sh"
. "$TOP/regress/hubrun.sh"
. "$TOP/regress/postfix.sh"
# benchmarks report on stderr: undo lib.sh's redirection to a log
exec 2>&3 3>&-
trap 'eval "$_cleanups" >/dev/null 2>&1; _ports_release' EXIT
trap 'exit 1' INT TERM

# need PROGRAM...: stop with a message when something is missing.
need() {
	for _p in "$@"; do
		command -v "$_p" >/dev/null 2>&1 && continue
		echo "error=missing-$_p"
		exit 1
	done
}

now() { date +%s.%N; }
# secs T0 T1: elapsed seconds, 3 decimals
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
# rate COUNT SECONDS
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.1f", (s > 0 ? n / s : 0) }'; }

# machine: one line describing where the numbers come from
machine() {
	_cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null | tr ' ' '_')
	echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ) host=$(uname -n) os=$(uname -sr | tr ' ' '_')" \
	    "cpus=$(getconf _NPROCESSORS_ONLN) cpu=${_cpu:-unknown}" \
	    "fs=$(df -T "$WORK" 2>/dev/null | awk 'NR==2 { print $2 }')"
}
