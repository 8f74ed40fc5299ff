#!/bin/sh
# 72-linkup-down.t - the link dies in the middle of an `up`: the delay
# line (delayline.py, 20 ms each way, 800 kbit/s) between the leaf and
# both its hubs (bridged's ODMR listener; sshd with internal-sftp
# serving two bundles) is frozen mid-transfer (SIGSTOP: silence, as a
# real link that drops), then `bridge-linkup down` (no daemon: through
# the run's lock) stops the run: it exits 75, what was fetched stays
# journaled.  The line comes back and the next `up` finishes:
# every copy arrives exactly once, byte for byte, including the ODMR
# messages whose 250 the hub never read (the leaf's seen file), and the
# hub's queue and outbox end empty.  Then a window's size cap leaves
# the bigger of two bundles on the hub.  The SSH hub is called "ssh", like
# the SSH pulls' turn lock: its run lock must be another file.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hubrun.sh"
. "$(dirname "$0")/sshd.sh"

sshd_require
hub_require
require bridge-linkup pgrep
DL=$(delayline) || { fail "delayline.py found"; exit 1; }
CHECK="python3 $TOP/regress/e2echeck.py"
CORPUS=$(corpus_dir) || { fail "corpus"; exit 1; }
RCPTS=bob@ship.test

# --- the hubs: bridged (ODMR) and sshd (SSH) -------------------------------
printf 'acme secret\n' >"$WORK/acme.secret"
chmod 600 "$WORK/acme.secret"
ODMR=$(free_port)
HUB_ACME_OPTS="release = {\"odmr\"} secret = \"$WORK/acme.secret\""
HUB_NAME=isp
hub_init "odmr { listen = {\"127.0.0.1:$ODMR\"} }"
hub_secret "$WORK/acme.secret"
hub_start || { fail "bridged started"; exit 1; }
wait_port $ODMR || { fail "ODMR listener"; exit 1; }
sshd_accounts ${SSH_U1}
sshd_layout cust1 ${SSH_U1}
sshd_client_key ${SSH_U1}
sshd_start || { fail "sshd started"; exit 1; }
OUTBOX=$CHROOTS/${SSH_U1}/outbox
SINK=$(free_port)
start_sink "$SINK" "$WORK/sink" || { fail "smtp-sink listens"; exit 1; }

# --- the link: one delay line per hub, restartable on the same port --------
DLO=$(free_port)
DLS=$(free_port)
DLO_PID=
DLS_PID=
line_up() {
	python3 "$DL" "$DLO" "127.0.0.1:$ODMR" --delay-ms 20 --kbit 800 \
	    --quiet &
	DLO_PID=$!
	at_exit "kill -9 $DLO_PID"
	python3 "$DL" "$DLS" "127.0.0.1:$SSHD_PORT" --delay-ms 20 \
	    --kbit 800 --quiet &
	DLS_PID=$!
	at_exit "kill -9 $DLS_PID"
	wait_port "$DLO" 10 && wait_port "$DLS" 10
}
line_up || { fail "the delay lines listen"; exit 1; }
SAVE=$SSHD_PORT
SSHD_PORT=$DLS known_hosts "$WORK/known_hosts"
SSHD_PORT=$SAVE

cat >"$WORK/leaf.conf" <<EOF
hostname = "leaf.test"
spool = "$LEAF"
inject { method = "smtp" server = "127.0.0.1:$SINK" timeout = "30s" }
hub "isp" {
    odmr { server = "127.0.0.1:$DLO" user = "acme"
           secret = "$WORK/acme.secret" }
}
hub "ssh" {
    ssh { server = "127.0.0.1:$DLS" user = "${SSH_U1}"
          identity = "$KEYS/id_${SSH_U1}" known-hosts = "$WORK/known_hosts" }
}
EOF

# --- mail: 100 messages into bridged, two bundles of 150 in the outbox -----
find "$CORPUS/easy-ham-1" -type f -name '*.eml' | sort | sed -n '501,600p' |
    awk '{ id = sprintf("d%03d", NR); r = id "@acme.example"
	if (NR % 6 == 0) r = r "," id ".b@acme.example"
	print id "\t" $0 "\t" r "\ts@example.org" }' >"$WORK/jobs"
cut -f1-3 "$WORK/jobs" >"$WORK/jobs.send"
$SMTPSEND -s "127.0.0.1:$HUB_PORT" -f s@example.org -j "$WORK/jobs.send" \
    -o "$WORK/sent.log" -c 2 -m 50 -t 60 >/dev/null
is "$(grep -c '	250	' "$WORK/sent.log")" 100 "bridged took 100 messages"
M1=$(ls "$CORPUS"/spam-1/*.eml | sed -n '1,150p')
M2=$(ls "$CORPUS"/spam-1/*.eml | sed -n '151,300p')
publish cust1 $M1 >/dev/null && publish cust1 $M2 >/dev/null
is "$(count "$OUTBOX")" 2 "two bundles in the chroot's outbox"

# --- up, and the link dies under it ----------------------------------------------
bridge-linkup -v -c "$WORK/leaf.conf" up >"$WORK/up1.out" 2>&1 &
UP=$!
wait_for 60 sh -c "[ \$(ls '$WORK/sink' | wc -l) -ge 15 ]"
ok $? "mail is coming in over the line"
kill -STOP "$DLO_PID" "$DLS_PID"
n_cut=$(count "$WORK/sink")
t0=$(date +%s)
bridge-linkup -v -c "$WORK/leaf.conf" down >"$WORK/down.out" 2>&1
is "$?" 0 "the line frozen, then down: exit 0"
wait "$UP"
is "$?" 75 "the up in flight ends with 75"
diag "down took $(($(date +%s) - t0))s"
grep -q "stopping its run" "$WORK/down.out"
ok $? "down says which runs it stopped"
diag "$n_cut dumps at the cut, $(count "$WORK/sink") after down"
ok "$([ "$(count "$OUTBOX")" -ge 1 ] || [ "$(count "$HUB_SPOOL/q/acme/new")" -ge 1 ]; echo $?)" \
    "some mail is still at the hubs"

# --- the line comes back ------------------------------------------------------
kill -9 "$DLO_PID" "$DLS_PID"
wait "$DLO_PID" "$DLS_PID" 2>/dev/null
line_up || { fail "the delay lines listen again"; exit 1; }
for i in 1 2 3 4 5; do
	bridge-linkup -v -c "$WORK/leaf.conf" up >"$WORK/up2.out" 2>&1
	rc=$?
	[ "$rc" = 0 ] && break
	sleep 2		# the hub may still hold the broken session's lock
done
is "$rc" 0 "the next up: exit 0"
[ "$rc" = 0 ] || tail -10 "$WORK/up2.out" | sed 's/^/# /'

mkdir -p "$WORK/by-odmr" "$WORK/by-ssh"
for f in "$WORK"/sink/*; do
	if grep -q '^X-Rcpt-Args: <[^>]*@acme.example>' "$f"; then
		mv "$f" "$WORK/by-odmr/"
	else
		mv "$f" "$WORK/by-ssh/"
	fi
done
COPIES=$(awk -F'\t' '{ n += split($3, a, ",") } END { print n }' "$WORK/jobs")
res=$($CHECK sink "$WORK/jobs" "$WORK/by-odmr" hub.test)
is "$(printf '%s\n' "$res" | head -1)" \
    "expected $COPIES delivered $COPIES missing 0 duplicated 0 extra 0 bad 0 envelope 0 differ 0 qid 0" \
    "ODMR: every copy once, byte for byte"
printf '%s\n' "$res" | sed -n '2,6p'
again=$(grep -c "delivered before: the provider did not get our 250" \
    "$WORK/up2.out")
diag "$again copies the hub sent again were recognised"
expected_keys "$RCPTS" $M1 $M2 >"$WORK/want"
got_keys "$WORK/by-ssh" >"$WORK/got"
diff -u "$WORK/want" "$WORK/got" >"$WORK/diff"
ok $? "SSH: every copy once, byte for byte"
head -5 "$WORK/diff" | sed 's/^/# /'
is "$(count "$HUB_SPOOL/q/acme/new") $(count "$OUTBOX")" "0 0" \
    "the hub's queue and the outbox are empty"

# --- a window's size cap: SSH leaves the bigger bundle on the hub ----------
S1=$(publish cust1 $(ls "$CORPUS"/spam-1/*.eml | sed -n '301,302p'))
S2=$(publish cust1 $(ls "$CORPUS"/spam-1/*.eml | sed -n '303,402p'))
ok "$([ "$(stat -c %s "$S1")" -lt 51200 ] && [ "$(stat -c %s "$S2")" -gt 51200 ]; echo $?)" \
    "a bundle under 50K and one over it in the outbox"
sed '/^hub "ssh" {/a\
    windows = {"00:00-24:00 max 50K"}' "$WORK/leaf.conf" >"$WORK/capped.conf"
n0=$(count "$WORK/sink")
bridge-linkup -v -c "$WORK/capped.conf" up ssh >"$WORK/cap.out" 2>&1
is "$?" 0 "up under the window's 50K cap: exit 0 (a capped bundle is no failure)"
is "$(ls "$OUTBOX")" "${S2##*/}" "the big bundle stays on the hub"
ok "$([ "$(count "$WORK/sink")" -gt "$n0" ]; echo $?)" "the small one's mail is in"
grep -q "ssh: 1 bundles over the window's cap of 51200 octets left on the hub" \
    "$WORK/cap.out"
ok $? "the run says what it left"
bridge-linkup -v -c "$WORK/leaf.conf" up ssh >"$WORK/nocap.out" 2>&1
is "$?/$(count "$OUTBOX")" "0/0" "without the cap the next up takes it"
hub_stop
