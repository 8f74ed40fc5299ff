#!/bin/sh
# run.sh - `make bench`: every benchmark once, each side by side with
# its peer in the same run, each bounded in time; output as key=value
# or table lines for bench/RESULTS.md.  About 11 minutes in all.  Scale
# down for a quick check with INTAKE_MSGS=300 RSS_MSGS=2000 MSGS=500.
cd "$(dirname "$0")/.." || exit 1
rc=0
echo "== intake (issue 2): bridged against Postfix"
MSGS=${INTAKE_MSGS:-5000} timeout 180 sh bench/intake.sh || rc=1
echo "== intake before and after the queue process (issue 10: at most 10% lost)"
ROUNDS=${COMPARE_ROUNDS:-3} timeout 900 sh bench/intake-compare.sh || rc=1
echo "== RSS and queue summary with a large queue (issue 2)"
MSGS=${RSS_MSGS:-100000} timeout 390 sh bench/rss.sh || rc=1
echo "== flush on ETRN and the thin link (issue 3): bridged against Postfix"
timeout 900 sh bench/flush.sh || rc=1
echo "== bundle writer against gzip -6 (issue 4)"
timeout 120 sh bench/bundle.sh || rc=1
echo "== bytes on the wire per message (issue 4)"
timeout 300 sh bench/wire.sh || rc=1
echo "== bridge-fetch against sftp (issue 5; needs root for sshd)"
timeout 600 sh bench/fetch.sh || rc=1
exit $rc
