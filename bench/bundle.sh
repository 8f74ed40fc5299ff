#!/bin/sh
# bundle.sh - bundle building against gzip -6 on the same bytes: the
# whole corpus (3,250 messages, CRLF) as one bundle, one copy each,
# timed in CPU seconds (best of 3) by bench/bundlebench, which also
# times gzip -6 over the bundle's own uncompressed stream.  Targets
# (issue 4): speed at least 0.9x gzip -6, size within 2 % of it.
# Usage: sh bench/bundle.sh     (from the top of the tree)
set -eu
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP"
W=$TOP/bench/work/bundle
C=$TOP/bench/work/corpus
mkdir -p "$W"
if [ ! -f "$C/.done" ]; then
	for t in "$TOP/../shared/corpus" "$TOP/regress/corpus"; do
		[ -f "$t/spamassassin-public.tar.gz" ] && break
	done
	rm -rf "$C"
	mkdir -p "$C"
	tar -xzf "$t/spamassassin-public.tar.gz" -C "$C"
	touch "$C/.done"
fi
bmake -f BSDmakefile bench/bundlebench >/dev/null
out=$(bench/bundlebench "$C" "$W" 3)
echo "date $(date -u +%Y-%m-%dT%H:%MZ) host $(uname -n) cpus $(nproc 2>/dev/null || echo ?)"
echo "$out"
echo "$out" | awk '
	$1 == "speed_ratio" { s = $2 }
	$1 == "size_ratio" { z = $2 }
	END {
		sm = (s >= 0.9) ? "met" : "NOT met"
		zm = (z <= 1.02) ? "met" : "NOT met"
		printf "speed %.2fx gzip -6 (target >= 0.90): %s\n", s, sm
		printf "size %.2f%% of gzip -6 (target <= 102%%): %s\n", z * 100, zm
		exit !((s >= 0.9) && (z <= 1.02))
	}'
