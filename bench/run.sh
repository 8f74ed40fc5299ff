#!/bin/sh
# run.sh - `make bench`: every benchmark once, bounded in time, output
# as key=value lines for bench/RESULTS.md.  Scale down for a quick check
# with INTAKE_MSGS=300 RSS_MSGS=2000 sh bench/run.sh.
# intake gets at most 3 minutes, rss 6.5: under 10 minutes in all.
cd "$(dirname "$0")/.." || exit 1
rc=0
MSGS=${INTAKE_MSGS:-5000} timeout 180 sh bench/intake.sh || rc=1
MSGS=${RSS_MSGS:-100000} timeout 390 sh bench/rss.sh || rc=1
exit $rc
