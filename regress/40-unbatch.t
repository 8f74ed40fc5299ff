#!/bin/sh
# 40-unbatch.t - bridge-unbatch against a real Postfix smtp-sink and a
# stand-in sendmail command: every copy arrives byte for byte with one
# X-Envelope-To, argv order of the sendmail interface, MTA down keeps
# the bundle and -q delivers it exactly once, kill -9 in the middle of
# 200 messages loses nothing and repeats at most one, damaged bundles
# are quarantined with exit 65 and nothing injected, a permanent
# refusal gives a DSN and the rest goes on.
. "$(dirname "$0")/lib.sh"

require smtp-sink gzip python3 cksum awk
UB=$TOP/uucp/bridge-unbatch
MK=$TOP/regress/mkbundle
FIX=$TOP/regress/bundles
[ -x "$UB" ] && [ -x "$MK" ] || { fail "bridge-unbatch and regress/mkbundle are built"; exit 1; }
CORPUS=$(corpus_dir) || exit 1

SINKUSER=
[ "$(id -u)" = 0 ] && SINKUSER="-u nobody"
SINKPID=

# start_sink PORT DUMPDIR [smtp-sink options]: a sink that dumps each message.
start_sink() {
	_port=$1 _dir=$2
	shift 2
	mkdir -p "$_dir"
	chmod 777 "$_dir"
	smtp-sink $SINKUSER "$@" -d "$_dir/%M." 127.0.0.1:"$_port" 100 \
	    >/dev/null 2>&1 &
	SINKPID=$!
	at_exit "kill $SINKPID"
	wait_port "$_port" 10
}

stop_sink() {
	kill "$SINKPID" 2>/dev/null
	wait "$SINKPID" 2>/dev/null
	return 0
}

# conf NAME METHOD SERVER|COMMAND: a leaf.conf with its own spool.
conf() {
	_c=$WORK/$1.conf
	if [ "$2" = sendmail ]; then
		_inj="method = \"sendmail\" command = {\"$3\", \"-oi\"}"
	else
		_inj="method = \"$2\" server = \"$3\""
	fi
	cat > "$_c" <<EOF
hostname = "leaf.acme.example"
spool = "$WORK/spool-$1"
inject { $_inj timeout = "30s" }
EOF
	echo "$_c"
}

. "$TOP/regress/sinkcmp.sh"

xenv_once() {	# every dump has exactly one X-Envelope-To in its header
	for _d in "$1"/*; do
		[ -s "$_d" ] || continue
		_n=$(awk '/^$/ { exit } tolower($0) ~ /^x-envelope-to:/ { n++ }
		    END { print n + 0 }' "$_d")
		[ "$_n" = 1 ] || return 1
	done
	return 0
}

spool_empty() {	# nothing left in incoming/, kept/, journal/
	[ -z "$(ls -A "$1/incoming" "$1/kept" "$1/journal" 2>/dev/null |
	    grep -v ':$' | grep -v '^$')" ]
}

count() { ls "$1" 2>/dev/null | wc -l | tr -d ' '; }

# Messages: plain ham, spam with long lines, ones with leading dots and
# ones that carry an X-Envelope-To of their own.
MSGS=$(ls "$CORPUS"/easy-ham-1/*.eml | head -12)
MSGS="$MSGS $(grep -l '^\.' "$CORPUS"/easy-ham-1/*.eml | head -4)"
MSGS="$MSGS $CORPUS/easy-ham-1/00843.eml $CORPUS/easy-ham-1/00896.eml"
MSGS="$MSGS $CORPUS/spam-1/00245.eml $CORPUS/hard-ham-1/00108.eml"
MSGS="$MSGS $(ls "$CORPUS"/spam-1/*.eml | tail -4)"
RCPTS=bob@acme.example,carol@acme.example
mkdir -p "$WORK/tmp" "$WORK/pub"
BUNDLE=$("$MK" "$WORK/tmp" "$WORK/pub" alice@example.org "$RCPTS" $MSGS)
NCOPIES=$(( $(echo $MSGS | wc -w) * 2 ))

# --- configuration ----------------------------------------------------
"$UB" -n -c "$TOP/etc/leaf.conf"
ok $? "-n accepts the sample etc/leaf.conf"
printf 'spool = "/x"\ninject {\n  method = "carrier-pigeon"\n}\n' > "$WORK/bad.conf"
"$UB" -n -c "$WORK/bad.conf" 2> "$WORK/bad.err"
is $? 78 "-n on a bad config exits 78"
grep -q "^$WORK/bad.conf:3: method" "$WORK/bad.err"
ok $? "the error names file and line"

# --- SMTP into smtp-sink, byte for byte -------------------------------
P=$(free_port)
start_sink "$P" "$WORK/sink1"
C=$(conf smtp smtp "127.0.0.1:$P")
"$UB" -c "$C" < "$BUNDLE" 2> "$WORK/smtp.err"
is $? 0 "smtp: bundle from stdin injected"
is "$(count "$WORK/sink1")" "$NCOPIES" "smtp: one message per copy"
expected_keys "$RCPTS" $MSGS > "$WORK/want1"
got_keys "$WORK/sink1" > "$WORK/got1"
diff -u "$WORK/want1" "$WORK/got1" > "$WORK/diff1"
ok $? "smtp: every copy arrived byte for byte"
xenv_once "$WORK/sink1"
ok $? "smtp: exactly one X-Envelope-To per copy"
spool_empty "$WORK/spool-smtp"
ok $? "smtp: bundle and journal removed"

# Plain BSMTP given as a file argument, into the same sink.
gzip -dc "$BUNDLE" > "$WORK/plain.bsmtp"
rm -f "$WORK/sink1"/*
"$UB" -c "$C" "$WORK/plain.bsmtp"
is $? 0 "smtp: plain BSMTP file argument injected"
got_keys "$WORK/sink1" > "$WORK/got1b"
cmp -s "$WORK/want1" "$WORK/got1b"
ok $? "smtp: plain bundle arrived byte for byte"
ok "$([ -f "$WORK/plain.bsmtp" ]; echo $?)" "file argument left in place"

# Exim-style input: LF only, no HELO/QUIT, two RCPTs, <> sender.
rm -f "$WORK/sink1"/*
"$UB" -c "$C" < "$FIX/exim-lf.bsmtp"
is $? 0 "LF-only bundle without HELO/QUIT accepted"
is "$(count "$WORK/sink1")" 2 "its two transactions arrived"
grep -l '^X-Rcpt-Args: <carol@acme.example>' "$WORK"/sink1/* |
    xargs grep -q '^\.leading dot$'
ok $? "both RCPTs of one transaction delivered, dot un-stuffed"
stop_sink

# --- LMTP -------------------------------------------------------------
P=$(free_port)
start_sink "$P" "$WORK/sinkl" -L
C=$(conf lmtp lmtp "127.0.0.1:$P")
"$UB" -c "$C" < "$BUNDLE"
is $? 0 "lmtp: injected"
got_keys "$WORK/sinkl" > "$WORK/gotl"
cmp -s "$WORK/want1" "$WORK/gotl"
ok $? "lmtp: every copy arrived byte for byte"
stop_sink

# --- sendmail interface -----------------------------------------------
FAKE=$WORK/fake-sendmail
cat > "$FAKE" <<EOF
#!/bin/sh
# stand-in for sendmail: keeps argv and stdin; refuses refuse@ with 67.
d=$WORK/sm
mkdir -p "\$d"
n=\$(ls "\$d" | wc -l)
printf '%s\n' "\$@" > "\$d/\$n.args.tmp"
cat > "\$d/\$n.msg"
mv "\$d/\$n.args.tmp" "\$d/\$n.args"
case " \$* " in *" refuse@"*) echo "refuse@: user unknown" >&2; exit 67 ;; esac
case " \$* " in *" later@"*) exit 75 ;; esac
exit 0
EOF
chmod 755 "$FAKE"
C=$(conf sm sendmail "$FAKE")
M1=$(echo $MSGS | cut -d' ' -f1)
B1=$("$MK" "$WORK/tmp" "$WORK/pub" alice@example.org bob@acme.example "$M1")
"$UB" -c "$C" < "$B1"
is $? 0 "sendmail: injected"
is "$(cat "$WORK/sm/0.args" | tr '\n' ' ')" \
    "-oi -f alice@example.org -- bob@acme.example " \
    "sendmail: argv is command -f sender -- rcpt"
expect "$M1" bob@acme.example > "$WORK/want-sm"
cmp -s "$WORK/want-sm" "$WORK/sm/0.msg"
ok $? "sendmail: stdin is the message with LF line ends"

# Permanent refusal of one copy: DSN to the sender, the rest goes on.
rm -rf "$WORK/sm"
M2=$(echo $MSGS | cut -d' ' -f2)
B2=$("$MK" "$WORK/tmp" "$WORK/pub" alice@example.org \
    bob@acme.example,refuse@acme.example,carol@acme.example "$M2")
"$UB" -c "$C" < "$B2"
is $? 0 "refusal: exit 0"
is "$(count "$WORK/sm")" 8 "refusal: three copies and one DSN injected"
DSN=$(grep -l '^<>$' "$WORK"/sm/*.args | head -1)
ok "$([ -n "$DSN" ] && grep -qx alice@example.org "$DSN"; echo $?)" \
    "refusal: DSN sent from <> to the sender"
DM=${DSN%.args}.msg
grep -q 'report-type=delivery-status' "$DM" &&
    grep -q '^Final-Recipient: rfc822; refuse@acme.example' "$DM" &&
    grep -q '^Action: failed' "$DM" && grep -q '^Status: 5.1.1' "$DM" &&
    grep -q '^Diagnostic-Code: x-unix;' "$DM" &&
    tr -d '\n' <"$DM" | grep -q 'Diagnostic-Code: x-unix; .* user unknown' &&
    grep -q '^Reporting-MTA: dns; leaf.acme.example' "$DM" &&
    grep -q '^Content-Type: text/rfc822-headers' "$DM" &&
    grep -q '^X-Envelope-To: <refuse@acme.example>' "$DM"
ok $? "refusal: DSN is a delivery-status report with the headers"
ok "$(grep -l 'carol@acme.example' "$WORK"/sm/*.args >/dev/null; echo $?)" \
    "refusal: the copy after the refused one was injected"
spool_empty "$WORK/spool-sm"
ok $? "refusal: bundle done and removed"

# A refused message from <> gets no DSN.
rm -rf "$WORK/sm"
B3=$("$MK" "$WORK/tmp" "$WORK/pub" "" refuse@acme.example "$M2")
"$UB" -c "$C" < "$B3"
is "$?:$(count "$WORK/sm")" "0:2" "refusal of a <> message: no DSN"

# sendmail exit 75: kept, exit 0.
rm -rf "$WORK/sm"
B4=$("$MK" "$WORK/tmp" "$WORK/pub" alice@example.org later@acme.example "$M2")
"$UB" -c "$C" < "$B4"
is "$?:$(count "$WORK/spool-sm/kept")" "0:1" "sendmail exit 75: bundle kept, exit 0"

# --- local MTA down, then -q ------------------------------------------
P=$(free_port)
C=$(conf down smtp "127.0.0.1:$P")
"$UB" -c "$C" < "$BUNDLE" 2> "$WORK/down.err"
is $? 0 "MTA down: exit 0"
is "$(count "$WORK/spool-down/kept")" 1 "MTA down: bundle kept"
"$UB" -q -c "$C"
is "$?:$(count "$WORK/spool-down/kept")" "0:1" "-q with the MTA still down keeps it"
start_sink "$P" "$WORK/sink2"
"$UB" -q -c "$C"
is $? 0 "-q after the MTA is back"
got_keys "$WORK/sink2" > "$WORK/got2"
cmp -s "$WORK/want1" "$WORK/got2"
ok $? "-q: everything injected exactly once"
spool_empty "$WORK/spool-down"
ok $? "-q: kept bundle and journal removed"
stop_sink

# --- kill -9 in the middle of 200 messages ----------------------------
M200=$(ls "$CORPUS"/easy-ham-1/*.eml | head -200)
B200=$("$MK" "$WORK/tmp" "$WORK/pub" alice@example.org bob@acme.example $M200)
expected_keys bob@acme.example $M200 > "$WORK/want3"
P=$(free_port)
start_sink "$P" "$WORK/sink3" -w 1
C=$(conf kill smtp "127.0.0.1:$P")
"$UB" -c "$C" < "$B200" &
UBPID=$!
i=0
while [ $i -lt 200 ]; do
	j=$(cat "$WORK"/spool-kill/journal/*.j 2>/dev/null | wc -l)
	[ "$j" -ge 2 ] && break
	sleep 0.1
	i=$((i + 1))
done
kill -9 $UBPID
wait $UBPID 2>/dev/null
J=$(cat "$WORK"/spool-kill/journal/*.j 2>/dev/null | wc -l)
ok "$([ "$J" -ge 2 ] && [ "$J" -lt 200 ]; echo $?)" \
    "killed in the middle ($J of 200 journaled)"
stop_sink
start_sink "$P" "$WORK/sink3"
"$UB" -q -c "$C"
is $? 0 "-q after kill -9"
got_keys "$WORK/sink3" > "$WORK/got3"
is "$(sort -u "$WORK/got3" | cmp -s - "$WORK/want3"; echo $?)" 0 \
    "after kill -9: every message arrived"
is "$(( $(wc -l < "$WORK/got3") - 200 <= 1 ))" 1 \
    "after kill -9: at most one arrived twice ($(wc -l < "$WORK/got3") for 200)"
spool_empty "$WORK/spool-kill"
ok $? "after kill -9: spool clean"

# --- damaged bundles: quarantined, exit 65, nothing injected ----------
rm -f "$WORK/sink3"/*
for f in truncated.bsmtp.gz crc.bsmtp.gz nodot.bsmtp norcpt.bsmtp \
    longline.bsmtp empty.bsmtp.gz compress.bsmtp.Z mbox.txt; do
	"$UB" -c "$C" < "$FIX/$f" 2> "$WORK/q.err"
	rc=$?
	q=$(ls "$WORK/spool-kill/quarantine" | grep -v '\.why$' | grep -c .)
	why=$(cat "$WORK"/spool-kill/quarantine/*.why 2>/dev/null | tail -1)
	ok "$([ $rc = 65 ] && [ "$q" = 1 ] && grep -q quarantined "$WORK/q.err"
	    echo $?)" "$f: exit 65, quarantined ($why)"
	rm -f "$WORK/spool-kill/quarantine"/*
done
is "$(count "$WORK/sink3")" 0 "damaged bundles: nothing injected"
"$UB" -c "$C" < "$FIX/good.bsmtp.gz"
is "$?:$(count "$WORK/sink3")" "0:3" "the undamaged original injects"
stop_sink
