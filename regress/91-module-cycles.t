#!/bin/sh
# 91-module-cycles.t - no call cycles between the modules (one .c file
# each) and no include cycles between the headers (issue 10, and
# DECISIONS: each function lives in the module its header names, so
# qexpire's outbox sweep is bexpire_outbox in bexpire.h, the crash
# hooks are crashpt.c's, an entry's rewrite is queue.c's).  Reads the
# built objects with nm (regress/modcycles.py).
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
if ! command -v nm >/dev/null 2>&1 || ! command -v python3 >/dev/null 2>&1; then
	if [ "${CI:-}" = true ]; then
		echo "not ok 1 - nm and python3 are needed"; echo "1..1"; exit 1
	fi
	echo "1..0 # SKIP nm or python3 missing"; exit 0
fi
exec python3 "$TOP/regress/modcycles.py" "$TOP"
