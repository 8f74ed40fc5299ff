#!/bin/sh
# 51-ssh-chroot.t - what a customer's SSH user can do on the hub, tried
# with OpenSSH's own sftp -b against the shipped Match block: list, get
# and remove its own bundles, and nothing else: no other customer's
# outbox, nothing outside its chroot, no upload, mkdir, rename, links or
# mode changes, no shell, no forwarding.  Also the outbox helpers
# (ssh/outbox.c): the layout the manual's commands build passes the
# check, prepare builds a working one from nothing, and broken owners,
# modes and symlinks are reported or corrected.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/sshd.sh"

sshd_require
CTL=$TOP/regress/outboxctl
[ -x "$CTL" ] || { echo "1..0 # SKIP not built"; exit 0; }
CORPUS=$(corpus_dir) || exit 1
RCPTS=bob@acme.example
sshd_accounts ${SSH_U1} ${SSH_U2}
sshd_layout cust1 ${SSH_U1}
sshd_client_key ${SSH_U1}
sshd_client_key ${SSH_U2}

# --- the outbox helpers -----------------------------------------------------
"$CTL" check "$HUB" "$CHROOTS" cust1 ${SSH_U1} "$SSH_BRIDGE" > "$WORK/check1"
ok $? "the layout built by the manual's commands passes outbox_check"
"$CTL" prepare "$HUB" "$CHROOTS" cust2 ${SSH_U2} "$SSH_BRIDGE" > "$WORK/prep2"
ok $? "outbox_prepare builds customer 2's layout from nothing"
is "$(stat -c '%U:%G %a' "$CHROOTS/${SSH_U2}" "$CHROOTS/${SSH_U2}/outbox" |
    tr '\n' ' ')" "root:root 755 $SSH_BRIDGE:${SSH_U2} 770 " \
    "chroot root:root 0755, outbox bridge:user 0770"
is "$(readlink "$HUB/outbox/cust2")" "$CHROOTS/${SSH_U2}/outbox" \
    "the spool's outbox entry is a symlink to it"
"$CTL" check "$HUB" "$CHROOTS" cust2 ${SSH_U2} "$SSH_BRIDGE" > /dev/null
ok $? "and it passes the check"

chmod 0775 "$CHROOTS/${SSH_U1}"
B=$(publish cust1 "$(ls "$CORPUS"/easy-ham-1/*.eml | head -1)")
chmod 0600 "$B"
"$CTL" check "$HUB" "$CHROOTS" cust1 ${SSH_U1} "$SSH_BRIDGE" > "$WORK/check3"
is $? 1 "a group-writable chroot and an unreadable bundle are problems"
grep -q "$CHROOTS/${SSH_U1}: should be owned by 0:0 with mode 0755" \
    "$WORK/check3"
ok $? "the chroot's mode is reported with its path"
grep -q "$(basename "$B"): should have mode 0644" "$WORK/check3"
ok $? "the bundle's mode is reported"
"$CTL" prepare "$HUB" "$CHROOTS" cust1 ${SSH_U1} "$SSH_BRIDGE" > /dev/null
ok $? "prepare corrects both"
is "$(stat -c %a "$CHROOTS/${SSH_U1}" "$B" | tr '\n' ' ')" "755 644 " \
    "modes corrected"
rm -f "$B"

mkdir -p "$HUB/outbox/cust3"
: > "$HUB/outbox/cust3/leftover"
"$CTL" prepare "$HUB" "$CHROOTS" cust3 ${SSH_U2} "$SSH_BRIDGE" > "$WORK/prep3"
is $? 1 "a non-empty directory where the symlink goes is not replaced"
grep -q "is a directory" "$WORK/prep3"
ok $? "and is reported"
ok "$([ -f "$HUB/outbox/cust3/leftover" ]; echo $?)" "its file is untouched"
"$CTL" check "$HUB" /tmp/mb-sftp cust1 ${SSH_U1} "$SSH_BRIDGE" > "$WORK/check4"
grep -q "^outbox cust1: /tmp: must be a directory owned by root" \
    "$WORK/check4"
ok $? "a world-writable component of the chroot path is reported"

# --- sftp as the customer ---------------------------------------------------
sshd_start || { fail "sshd started"; cat "$WORK/sshd/log" >&2; exit 1; }
known_hosts "$WORK/kh"
B1=$(publish cust1 $(ls "$CORPUS"/easy-ham-1/*.eml | head -3))
B2=$(publish cust2 $(ls "$CORPUS"/easy-ham-1/*.eml | head -2))
N1=$(basename "$B1")
N2=$(basename "$B2")

# sf USER COMMAND: one sftp batch command; its exit status; output in $WORK/sf.
sf() {
	_u=$1
	shift
	printf '%s\n' "$1" > "$WORK/batch"
	sftp -q -b "$WORK/batch" -i "$KEYS/id_$_u" \
	    -o UserKnownHostsFile="$WORK/kh" -o StrictHostKeyChecking=yes \
	    -o BatchMode=yes -P "$SSHD_PORT" "$_u@127.0.0.1" \
	    > "$WORK/sf" 2>&1
}

sf ${SSH_U1} "ls -1 /"
ok $? "customer 1 can list its chroot"
is "$(grep -v '^sftp>' "$WORK/sf" | tr -d ' ' | tr '\n' ' ')" "/outbox " \
    "which holds only its outbox"
sf ${SSH_U1} "ls -1 /outbox"
grep -q "$N1" "$WORK/sf"
ok $? "customer 1 lists its own bundle"
grep -q "$N2" "$WORK/sf"
is $? 1 "but not customer 2's"
sf ${SSH_U1} "ls -1 /../.."
grep -q "/outbox" "$WORK/sf" && ! grep -q -e ${SSH_U2} -e etc "$WORK/sf"
ok $? "/../.. is still its own chroot"
sf ${SSH_U1} "ls $CHROOTS/${SSH_U2}/outbox"
is $? 1 "customer 2's outbox cannot be listed"
sf ${SSH_U1} "get $CHROOTS/${SSH_U2}/outbox/$N2 $WORK/stolen"
is $? 1 "nor read"
sf ${SSH_U1} "rm $CHROOTS/${SSH_U2}/outbox/$N2"
is $? 1 "nor its bundle removed"
sf ${SSH_U1} "rm ../${SSH_U2}/outbox/$N2"
is $? 1 "not through .. either"
ok "$([ -f "$B2" ] && [ ! -e "$WORK/stolen" ]; echo $?)" \
    "customer 2's bundle is intact"
sf ${SSH_U1} "get /etc/passwd $WORK/passwd"
is $? 1 "nothing outside the chroot can be read"
sf ${SSH_U1} "ls $TOP"
is $? 1 "or listed"

echo "uploaded data" > "$WORK/up.txt"
sf ${SSH_U1} "put $WORK/up.txt /outbox/up.bsmtp.gz"
is $? 1 "upload into its own outbox fails"
ok "$([ ! -s "$CHROOTS/${SSH_U1}/outbox/up.bsmtp.gz" ]; echo $?)" \
    "no byte of it reached the hub"
sf ${SSH_U1} "mkdir /outbox/d"
is $? 1 "mkdir fails"
sf ${SSH_U1} "rename /outbox/$N1 /outbox/renamed.bsmtp.gz"
is $? 1 "rename fails"
sf ${SSH_U1} "ln -s /outbox/$N1 /outbox/sym"
is $? 1 "symlink fails"
sf ${SSH_U1} "ln /outbox/$N1 /outbox/hard"
is $? 1 "hard link fails"
sf ${SSH_U1} "chmod 0666 /outbox/$N1"
is $? 1 "chmod of a bundle fails"
sf ${SSH_U1} "chmod 0777 /outbox"
is $? 1 "chmod of the outbox fails"
is "$(stat -c %a "$CHROOTS/${SSH_U1}/outbox" "$B1" | tr '\n' ' ')" \
    "770 644 " "modes unchanged"

sf ${SSH_U1} "get /outbox/$N1 $WORK/got1"
ok $? "customer 1 can get its bundle"
cmp -s "$WORK/got1" "$B1"
ok $? "intact"
sf ${SSH_U1} "rm /outbox/$N1"
ok $? "and remove it"
ok "$([ ! -e "$B1" ]; echo $?)" "it is gone on the hub"
rm -f "$CHROOTS/${SSH_U1}/outbox/up.bsmtp.gz"

sf ${SSH_U2} "ls -1 /outbox"
grep -q "$N2" "$WORK/sf"
ok $? "customer 2 sees its own bundle"

ssh -i "$KEYS/id_${SSH_U1}" -o UserKnownHostsFile="$WORK/kh" -o BatchMode=yes \
    -p "$SSHD_PORT" ${SSH_U1}@127.0.0.1 id < /dev/null > "$WORK/shell" 2>&1
grep -q "uid=" "$WORK/shell"
is $? 1 "no shell command runs"
ssh -i "$KEYS/id_${SSH_U1}" -o UserKnownHostsFile="$WORK/kh" -o BatchMode=yes \
    -p "$SSHD_PORT" -W "127.0.0.1:$SSHD_PORT" ${SSH_U1}@127.0.0.1 \
    < /dev/null > "$WORK/fwd" 2>&1
is $? 255 "TCP forwarding is refused"
grep -q "prohibited" "$WORK/fwd"
ok $? "administratively"
