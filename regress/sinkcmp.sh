# sinkcmp.sh - compare what smtp-sink dumped (smtp-sink -d DIR/%M.)
# with the originals, copy by copy: each copy is expected with one
# X-Envelope-To naming its recipient and no other; the sink's own
# lines are taken off.  Sourced by tests after lib.sh.

# expect FILE RCPT: the message as the sink should dump it for RCPT.
expect() {
	printf 'X-Envelope-To: <%s>\n' "$2"
	awk 'body { print; next }
	    /^$/ { body = 1; print; next }
	    /^[ \t]/ { if (!drop) print; next }
	    { drop = tolower($0) ~ /^x-envelope-to:/; if (!drop) print }' "$1"
}

# expected_keys RCPTLIST FILE...: "rcpt cksum" per copy, sorted.
expected_keys() {
	_rl=$1
	shift
	for _f in "$@"; do
		for _r in $(echo "$_rl" | tr , ' '); do
			echo "$_r $(expect "$_f" "$_r" | cksum | tr ' ' _)"
		done
	done | sort
}

# got_keys DIR: "rcpt cksum" per dumped message, sorted.
got_keys() {
	for _d in "$1"/*; do
		[ -s "$_d" ] || continue
		_r=$(sed -n 's/^X-Rcpt-Args: <\(.*\)>.*/\1/p' "$_d" | head -1)
		echo "$_r $(awk 'p >= 2 { print; next }
		    /^\tby smtp-sink/ { p = 1; next } p == 1 { p = 2 }' "$_d" |
		    sed '$d' | cksum | tr ' ' _)"
	done | sort
}
