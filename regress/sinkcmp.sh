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

# expected_keys RCPTLIST FILE...: "rcpt key" per copy, sorted.
expected_keys() {
	python3 "$TOP/regress/sinkkeys.py" expected "$@"
}

# got_keys DIR: "rcpt key" per dumped message, sorted.
got_keys() {
	python3 "$TOP/regress/sinkkeys.py" got "$1"
}
