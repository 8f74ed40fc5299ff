#!/bin/sh
# 50-ssh-fetch.t - bridge-fetch against a private OpenSSH sshd serving
# the hub layout through the shipped Match block: corpus bundles are
# fetched, injected into Postfix's smtp-sink byte for byte and removed
# on the hub; unknown and changed host keys and a wrong client key are
# refused (77) with nothing downloaded; -A records a first key only; a
# bundle already injected is removed without a second injection; a
# damaged bundle is quarantined and left on the hub (65); with the local
# MTA down bundles still move to the leaf (kept/); an unreachable hub is
# 75; bad settings are 78.  Also the hub's real bundler, publishing
# through the outbox symlink into the chroot.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/sshd.sh"

sshd_require
CORPUS=$(corpus_dir) || exit 1
sshd_accounts ${SSH_U1} ${SSH_U2}
sshd_layout cust1 ${SSH_U1}
sshd_client_key ${SSH_U1}
sshd_client_key ${SSH_U2} id_stranger	# a key ${SSH_U1} does not accept
sshd_start || { fail "sshd started"; cat "$WORK/sshd/log" >&2; exit 1; }
SINK=$(free_port)
start_sink "$SINK" "$WORK/sink"
C=$(leaf_conf leaf "$SINK")
KH=$WORK/known_hosts
OUTBOX=$CHROOTS/${SSH_U1}/outbox
PARTIAL="$LEAF/fetch/${SSH_U1}@127.0.0.1/partial"
DONE="$LEAF/fetch/${SSH_U1}@127.0.0.1/done"
RCPTS=bob@acme.example,carol@acme.example

# Three bundles: plain ham, ham with leading dots, spam with long lines.
M1=$(ls "$CORPUS"/easy-ham-1/*.eml | head -20)
M2=$(grep -l '^\.' "$CORPUS"/easy-ham-1/*.eml | head -8)
M3=$(ls "$CORPUS"/spam-1/*.eml | tail -15)
publish cust1 $M1 > /dev/null
publish cust1 $M2 > /dev/null
publish cust1 $M3 > /dev/null
ALL="$M1 $M2 $M3"
NCOPIES=$(( $(echo $ALL | wc -w) * 2 ))
FP=$(ssh-keygen -lf "$WORK/sshd/host_ed25519.pub" | awk '{ print $2 }')

# --- unknown host -------------------------------------------------------
rm -f "$KH"
bridge-fetch -c "$C" isp 2> "$WORK/unknown.err"
is $? 77 "unknown host key: refused with 77"
grep -q "not known.*ssh-ed25519 key $FP" "$WORK/unknown.err"
ok $? "the refusal shows the key type and SHA256 fingerprint"
grep -q -- "-A" "$WORK/unknown.err"
ok $? "and says how to record it (-A)"
is "$(count "$OUTBOX")" 3 "unknown host: nothing removed on the hub"
is "$(ls "$PARTIAL" 2>/dev/null | wc -l | tr -d ' ')" 0 \
    "unknown host: nothing downloaded"
is "$(count "$WORK/sink")" 0 "unknown host: nothing injected"
ok "$([ ! -e "$KH" ]; echo $?)" "unknown host: known_hosts not written"

# --- -A records the first key, then everything arrives ------------------
bridge-fetch -A -v -c "$C" isp 2> "$WORK/first.err"
is $? 0 "-A: first key recorded and bundles fetched"
ssh-keygen -F "[127.0.0.1]:$SSHD_PORT" -f "$KH" | grep -q ssh-ed25519
ok $? "the recorded entry is one OpenSSH's ssh-keygen -F finds"
ssh-keygen -lf "$KH" | grep -q "$FP"
ok $? "with the hub's fingerprint"
is "$(count "$OUTBOX")" 0 "every bundle removed on the hub"
is "$(count "$WORK/sink")" "$NCOPIES" "one message per copy injected"
expected_keys "$RCPTS" $ALL > "$WORK/want"
got_keys "$WORK/sink" > "$WORK/got"
diff -u "$WORK/want" "$WORK/got" > "$WORK/diff"
ok $? "every copy arrived byte for byte"
is "$(grep -c ', injected, removed from the hub' "$WORK/first.err")" 3 \
    "one line per bundle saying so"
is "$(ls "$PARTIAL" "$DONE" "$LEAF/incoming" "$LEAF/kept" \
    "$LEAF/journal" | grep -v -e ':$' -e '^$' | wc -l | tr -d ' ')" 0 \
    "the leaf spool holds nothing afterwards"

STALE=0000000000000.00000001.00000001.cust1.bsmtp.gz
echo partial > "$PARTIAL/$STALE.part"
: > "$DONE/$STALE"
ssh-keygen -q -H -f "$KH" > /dev/null 2>&1
grep -q '^|1|' "$KH"
ok $? "known_hosts hashed with ssh-keygen -H"
echo "@cert-authority *.example $(cut -d' ' -f1-2 "$KEYS/id_${SSH_U1}.pub")" >> "$KH"
echo "truncated.example ssh-ed25519" >> "$KH"
echo "garbage" >> "$KH"
bridge-fetch -v -c "$C" isp 2> "$WORK/again.err"
is $? 0 "nothing to fetch: exit 0 (a hashed entry matches)"
is "$(grep -c 'entry not understood, ignored' "$WORK/again.err")" 2 \
    "lines libssh2 cannot read are skipped with a warning"
ok "$([ ! -e "$PARTIAL/$STALE.part" ] && [ ! -e "$DONE/$STALE" ]; echo $?)" \
    "a partial file and a record of a bundle the hub no longer has are swept"
is "$(count "$WORK/sink")" "$NCOPIES" "nothing injected twice"

# --- through the real bundler ---------------------------------------------
# The hub's bundler packs cust1's queue and publishes through the
# symlink into the chroot; the bundles it leaves must be readable there.
rm -f "$WORK"/sink/*
BT=$TOP/regress/bundletool
mkdir -p "$WORK/canon"
for f in $M3; do
	"$BT" canon "$f" | tr -d '\r' > "$WORK/canon/$(basename "$f")"
done
"$BT" enqueue -f alice@example.org -r bob@acme.example \
    -r carol@acme.example "$HUB" cust1 $M3 > /dev/null 2>&1 &&
    "$BT" bundle -F -m 200K "$HUB" cust1 > /dev/null 2>&1
ok $? "the bundler packed cust1's queue"
NB=$(count "$OUTBOX")
ok "$([ "$NB" -ge 2 ]; echo $?)" "into bundles in the chroot's outbox ($NB)"
bridge-fetch -c "$C" isp 2> "$WORK/bundler.err"
is $? 0 "bridge-fetch fetched the bundler's bundles"
expected_keys "$RCPTS" "$WORK"/canon/* > "$WORK/want-b"
got_keys "$WORK/sink" > "$WORK/got-b"
diff -u "$WORK/want-b" "$WORK/got-b" > "$WORK/diff-b"
ok $? "every queued copy arrived byte for byte"
is "$(count "$OUTBOX")" 0 "and the outbox is empty"

# --- direct form, user@host:dir -----------------------------------------
rm -f "$WORK"/sink/*
B=$(publish cust1 $M2)
echo "not a bundle" > "$OUTBOX/notes.txt"
bridge-fetch -c "$C" -i "$KEYS/id_${SSH_U1}" -k "$KH" -p "$SSHD_PORT" \
    ${SSH_U1}@127.0.0.1:outbox 2> "$WORK/direct.err"
is $? 0 "user@host:dir with -i, -k, -p"
is "$(count "$WORK/sink")" "$(( $(echo $M2 | wc -w) * 2 ))" \
    "direct: the bundle's copies injected"
ok "$([ ! -e "$B" ] && [ -f "$OUTBOX/notes.txt" ]; echo $?)" \
    "direct: bundle removed, a name that is not a bundle's left alone"
rm -f "$OUTBOX/notes.txt"

# --- injected before a crash, not yet removed on the hub -----------------
rm -f "$WORK"/sink/*
B=$(publish cust1 $M2)
mkdir -p "$DONE"
: > "$DONE/$(basename "$B")"
bridge-fetch -v -c "$C" isp 2> "$WORK/done.err"
is $? 0 "a bundle with a done record: exit 0"
ok "$([ ! -e "$B" ]; echo $?)" "it is removed on the hub"
is "$(count "$WORK/sink")" 0 "without being injected again"
grep -q "fetched $(basename "$B")" "$WORK/done.err"
is $? 1 "nor downloaded again"
is "$(count "$DONE")" 0 "and its record is gone"

# --- changed host key -----------------------------------------------------
cp "$KH" "$WORK/kh.before"
sshd_stop
sshd_host_key
sshd_start || fail "sshd restarted"
FP2=$(ssh-keygen -lf "$WORK/sshd/host_ed25519.pub" | awk '{ print $2 }')
B=$(publish cust1 $M1)
bridge-fetch -A -c "$C" isp 2> "$WORK/changed.err"
is $? 77 "changed host key: refused with 77, even with -A"
grep -q "HAS CHANGED.*ssh-ed25519 key $FP2" "$WORK/changed.err"
ok $? "the refusal shows the new key's fingerprint"
grep -q "ssh-keygen -R" "$WORK/changed.err"
ok $? "and says how to remove the old entry"
cmp -s "$KH" "$WORK/kh.before"
ok $? "known_hosts left as it was"
ok "$([ -f "$B" ]; echo $?)" "changed key: the bundle stays on the hub"
is "$(ls "$PARTIAL" | wc -l | tr -d ' ')" 0 "changed key: nothing downloaded"

known_hosts "$KH"
# --- wrong client key -----------------------------------------------------
bridge-fetch -c "$C" -i "$KEYS/id_stranger" isp 2> "$WORK/wrongkey.err"
is $? 77 "a key the hub does not accept: 77"
grep -q "refused the key" "$WORK/wrongkey.err"
ok $? "the message says the key was refused"
ok "$([ -f "$B" ]; echo $?)" "wrong key: the bundle stays on the hub"

bridge-fetch -c "$C" -i "$WORK/no-such-key" isp 2> /dev/null
is $? 78 "an identity file that does not exist: 78"

bridge-fetch -c "$C" isp 2> /dev/null
is $? 0 "with the right key and the new host key: fetched"
ok "$([ ! -e "$B" ]; echo $?)" "and removed"

# --- a damaged bundle -------------------------------------------------------
rm -f "$WORK"/sink/*
B=$(publish cust1 $M2)
# The damaged copy sorts first: same name with the time set to zero (so
# it can never be the sound bundle's own name).
BAD=$OUTBOX/$(basename "$B" | sed 's/^[0-9a-f]\{13\}/0000000000000/')
[ "$BAD" != "$B" ] || fail "the damaged bundle has a name of its own"
head -c 2000 "$B" > "$BAD"
chmod 0644 "$BAD"
bridge-fetch -c "$C" isp 2> "$WORK/bad.err"
is $? 65 "a damaged bundle: 65"
ok "$([ -f "$BAD" ] && [ ! -e "$B" ]; echo $?)" \
    "it stays on the hub, the sound one after it is fetched and removed"
ok "$([ -f "$LEAF/quarantine/$(basename "$BAD")" ]; echo $?)" \
    "it is quarantined on the leaf"
grep -q "damaged" "$WORK/bad.err"
ok $? "the message says it is damaged"
is "$(count "$WORK/sink")" "$(( $(echo $M2 | wc -w) * 2 ))" \
    "only the sound bundle's copies injected"
bridge-fetch -v -c "$C" isp 2> "$WORK/bad2.err"
is $? 65 "next run: still 65 while it is on the hub"
grep -q "fetched $(basename "$BAD")" "$WORK/bad2.err"
is $? 1 "but it is not downloaded again"
rm -f "$BAD"

# --- the local MTA is down -----------------------------------------------
DOWN=$(leaf_conf down "$(free_port)")
B=$(publish cust1 $M2)
bridge-fetch -v -c "$DOWN" isp 2> "$WORK/down.err"
is $? 0 "local MTA down: the fetch itself succeeds"
ok "$([ ! -e "$B" ] && [ -f "$LEAF/kept/$(basename "$B")" ]; echo $?)" \
    "the bundle moves from the hub to the leaf's kept/"
grep -q "kept: the local MTA is unavailable, removed from the hub" \
    "$WORK/down.err"
ok $? "and the log line says so"
rm -f "$WORK"/sink/*
bridge-unbatch -q -c "$C" 2> /dev/null
is "$(count "$WORK/sink")" "$(( $(echo $M2 | wc -w) * 2 ))" \
    "bridge-unbatch -q injects it when the MTA is back"

# --- settings and reachability ---------------------------------------------
bridge-fetch -c "$C" nosuchhub 2> /dev/null
is $? 78 "an unknown hub: 78"
bridge-fetch -c "$C" ${SSH_U1}@127.0.0.1 2> /dev/null
is $? 78 "user@host without -i and -k: 78"
DEAD=$(free_port)
bridge-fetch -c "$C" -p "$DEAD" isp 2> "$WORK/dead.err"
is $? 75 "hub unreachable: 75"
grep -q "cannot connect" "$WORK/dead.err"
ok $? "the message says so"
