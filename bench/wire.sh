#!/bin/sh
# wire.sh - octets on the wire per message for the corpus: as bundles
# (gzip'ed batched SMTP, what uux or sftp moves) against plain SMTP
# (the DATA octets of each message: CRLF line ends, dot-stuffed, with
# the final ".").  The corpus goes into one customer's queue with one
# recipient per message (bench/work/wire, removed afterwards), then is
# bundled at several bundle-max sizes with regress/bundletool.  A
# second pass gives every message three recipients: three copies in a
# bundle, one DATA over SMTP.  SMTP's command and reply octets are left
# out (they favour bundles further).  Not a test; prints figures.
# Usage: sh bench/wire.sh [N]   (N messages of the corpus, default all)
set -eu
cd "$(dirname "$0")/.."
TOP=$(pwd)
N=${1:-100000}
W=$TOP/bench/work/wire
BT=$TOP/regress/bundletool

bmake -f BSDmakefile regress/bundletool >/dev/null
# The corpus, where the test library unpacks it (corpus_dir in lib.sh).
C=$TOP/regress/work/corpus
if [ ! -f "$C/.done" ]; then
	rm -rf "$C"
	mkdir -p "$C"
	tar -xzf regress/corpus/spamassassin-public.tar.gz -C "$C"
	touch "$C/.done"
fi
rm -rf "$W"
mkdir -p "$W"
find "$C" -type f -name '*.eml' | sort | head -n "$N" >"$W/list"

# smtp_data LIST: DATA octets of each file as an SMTP client sends them.
smtp_data() {
	python3 - "$1" <<'EOF'
import sys
total = n = 0
for f in open(sys.argv[1]).read().split():
    data = open(f, "rb").read()
    if not data.endswith(b"\n"):
        data += b"\n"
    lines = data[:-1].split(b"\n")
    total += sum(len(l.rstrip(b"\r")) + 2 + (l[:1] == b".") for l in lines)
    total += 3              # ".\r\n"
    n += 1
print(n, total)
EOF
}

# bundled RCPTS MAX: total octets in the outbox after bundling the list.
bundled() {
	rm -rf "$W/spool"
	_r=
	_i=0
	while [ $_i -lt "$1" ]; do
		_r="$_r -r user$_i@farm.example"
		_i=$((_i + 1))
	done
	# shellcheck disable=SC2086
	xargs "$BT" enqueue -f sender@example.org $_r "$W/spool" farm \
	    <"$W/list" >/dev/null
	"$BT" bundle -F -m "$2" "$W/spool" farm 2>/dev/null
}

set -- $(smtp_data "$W/list")
MSGS=$1
DATA=$2
echo "$(uname -sr), $(nproc 2>/dev/null || sysctl -n hw.ncpu) cpus," \
    "$(date -u +%Y-%m-%d); corpus: $MSGS messages"
echo "plain SMTP, DATA octets: $DATA in all, $((DATA / MSGS)) per message"
# SMTP sends DATA once per message whatever the recipients; a bundle
# carries one copy per recipient (its own X-Envelope-To, no Bcc leak).
for rc in 1 3; do
	echo "-- $rc recipient(s) per message"
	for max in 100K 1M 10M; do
		out=$(bundled "$rc" "$max")
		set -- $out
		# bundles B messages M copies C raw R packed P skipped S
		echo "bundle-max $max: $2 bundles, $6 copies, raw $8," \
		    "packed ${10}: $((${10} / MSGS)) octets per message" \
		    "($(( ${10} * 1000 / DATA ))/1000 of SMTP DATA)"
	done
done
rm -rf "$W"
