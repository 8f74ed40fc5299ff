#!/bin/sh
# run.sh - `make bench`: every benchmark once, bounded in time, output
# as key=value lines for bench/RESULTS.md.  Scale down for a quick check
# with INTAKE_MSGS=300 RSS_MSGS=2000 sh bench/run.sh.
# Each benchmark gets at most 15 minutes.
cd "$(dirname "$0")/.." || exit 1
rc=0
MSGS=${INTAKE_MSGS:-5000} timeout 900 sh bench/intake.sh || rc=1
MSGS=${RSS_MSGS:-100000} timeout 900 sh bench/rss.sh || rc=1
exit $rc
