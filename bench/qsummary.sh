#!/bin/sh
# qsummary.sh - how long spool_usage, qlist_summary and qlist_print
# take over a large queue: N entries (default 100,000) in one customer,
# plus two small queues, made by the unit-qlist helper (copies of one
# real entry, no fsync) under bench/work/qsummary.  Warm cache: the
# figures are for the second pass.  Not a test; prints the figures.
# Usage: sh bench/qsummary.sh [N]
set -eu
cd "$(dirname "$0")/.."
N=${1:-100000}
W=bench/work/qsummary
T=regress/unit-qlist.t

bmake -f BSDmakefile "$T" >/dev/null
rm -rf "$W"
mkdir -p "$W/spool"
start=$(date +%s)
"$T" -f "$W/spool" big "$N"
"$T" -f "$W/spool" small1 10
"$T" -f "$W/spool" small2 100
echo "filled $N + 110 entries in $(( $(date +%s) - start )) s" \
    "($(du -sh "$W/spool" | cut -f1) on disk)"
"$T" -t "$W/spool" >/dev/null		# warm the cache
echo "$(uname -sr), $(nproc 2>/dev/null || sysctl -n hw.ncpu) cpus," \
    "$(date -u +%Y-%m-%d)"
"$T" -t "$W/spool"
rm -rf "$W"
