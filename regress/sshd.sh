# sshd.sh - a private OpenSSH sshd for the SSH pull tests: its own
# host key, config and port on 127.0.0.1, test accounts, and the hub
# layout of bridge-fetch(8) (HUB SETUP) built with the commands the
# manual gives, served through the shipped Match block of
# etc/sshd_config.bridge with only its group, paths and key file
# adapted.  Also the leaf's side: a leaf.conf, a client key, an
# smtp-sink to inject into, and byte-for-byte comparison helpers.
# Source it after lib.sh: . "$(dirname "$0")/sshd.sh"
#
# sshd runs as root (it must, to chroot), so these tests need root:
# they skip without it, and fail under CI=true.

# root_path_ok DIR: sshd's rule for chroot paths holds for DIR and
# every directory above it (owned by root, not group/other-writable).
root_path_ok() {
	_p=$1
	while [ -n "$_p" ] && [ "$_p" != / ]; do
		[ "$(stat -c %u "$_p")" = 0 ] || return 1
		case $(stat -c %A "$_p") in
		?????w????|????????w?) return 1 ;;
		esac
		_p=$(dirname "$_p")
	done
}

SSHD=/usr/sbin/sshd
# Accounts are this test's own (lib.sh: test_user), made by
# sshd_accounts and removed at exit.
SSH_GROUP=$TAG-sftp			# stands for bridge-sftp
SSH_BRIDGE=$TAG-bridge			# stands for the bridge user
SSH_U1=$TAG-cust1			# the customers' users
SSH_U2=$TAG-cust2
# The hub side lives in $WORK unless the work tree is somewhere sshd
# would refuse as a chroot's parent (a clone under /tmp, umask 002):
# then in a directory of its own under /var/lib (lib.sh: root_dir).
HUBSIDE=$WORK
if [ "$(id -u)" = 0 ] && ! root_path_ok "$WORK"; then
	root_dir HUBSIDE hub || { echo "1..1"; echo "not ok 1 - root_dir"; exit 1; }
fi
HUB=$HUBSIDE/hub			# the hub's spool
CHROOTS=$HUBSIDE/sftp			# stands for /var/spool/bridge-sftp
KEYS=$HUBSIDE/keys			# AuthorizedKeysFile %u
LEAF=$WORK/leaf				# the leaf's spool
SSHD_PORT=
SSHD_PID=
SINK_PID=
FETCH=$TOP/ssh/bridge-fetch
MKBUNDLE=$TOP/regress/mkbundle

# sshd_require: root, sshd, ssh-keygen, sftp and the built programs.
sshd_require() {
	require ssh-keygen sftp smtp-sink python3 useradd
	if [ "$(id -u)" != 0 ] || [ ! -x "$SSHD" ]; then
		if [ "${CI:-}" = true ]; then
			echo "1..1"
			echo "not ok 1 - needs root and $SSHD"
			exit 1
		fi
		echo "1..0 # SKIP needs root and $SSHD"
		exit 0
	fi
	[ -x "$FETCH" ] && [ -x "$MKBUNDLE" ] ||
	    { echo "1..0 # SKIP not built"; exit 0; }
}

# sshd_accounts USER...: the group, the bridge user and the customers'
# users ($SSH_U1, $SSH_U2), this test's own: removed at exit.
sshd_accounts() {
	test_group _sa "${SSH_GROUP#$TAG-}" || return 1
	test_user _sa "${SSH_BRIDGE#$TAG-}" || return 1
	for _u in "$@"; do
		# not locked (-p '*'): sshd runs without PAM
		test_user _sa "${_u#$TAG-}" -G "$SSH_GROUP" -p '*' || return 1
	done
}

# sshd_layout CUSTOMER USER: the commands of bridge-fetch(8), HUB SETUP.
sshd_layout() {
	install -d -o root -g root -m 0755 "$CHROOTS"
	install -d -o root -g root -m 0755 "$CHROOTS/$2"
	install -d -o "$SSH_BRIDGE" -g "$2" -m 0770 "$CHROOTS/$2/outbox"
	install -d -o "$SSH_BRIDGE" -m 0700 "$HUB" "$HUB/outbox" "$HUB/tmp"
	ln -s "$CHROOTS/$2/outbox" "$HUB/outbox/$1"
}

# sshd_client_key USER [NAME]: a key pair $KEYS/NAME (default id_USER)
# whose public half is USER's only authorized key.
sshd_client_key() {
	_k=$KEYS/${2:-id_$1}
	mkdir -p "$KEYS"
	chmod 755 "$KEYS"
	rm -f "$_k" "$_k.pub"
	ssh-keygen -q -t ed25519 -N '' -C "$1-test" -f "$_k" || return 1
	cp "$_k.pub" "$KEYS/$1"
	chmod 644 "$KEYS/$1"
}

# sshd_host_key: a new ed25519 host key (the old one is gone).
sshd_host_key() {
	mkdir -p "$WORK/sshd"
	rm -f "$WORK/sshd/host_ed25519" "$WORK/sshd/host_ed25519.pub"
	ssh-keygen -q -t ed25519 -N '' -C test-hub -f "$WORK/sshd/host_ed25519"
}

# sshd_config: the server config plus the shipped Match block.
sshd_config() {
	cat > "$WORK/sshd/sshd_config" <<EOF
Port $SSHD_PORT
ListenAddress 127.0.0.1
HostKey $WORK/sshd/host_ed25519
PidFile $WORK/sshd/sshd.pid
UsePAM no
StrictModes yes
PermitRootLogin no
PasswordAuthentication no
KbdInteractiveAuthentication no
AllowGroups $SSH_GROUP
Subsystem sftp internal-sftp
LogLevel VERBOSE
MaxStartups 50
EOF
	sed -e "s|^Match Group bridge-sftp|Match Group $SSH_GROUP|" \
	    -e "s|ChrootDirectory /var/spool/bridge-sftp/%u|ChrootDirectory $CHROOTS/%u|" \
	    -e "s|AuthorizedKeysFile /etc/ssh/bridge-keys/%u|AuthorizedKeysFile $KEYS/%u|" \
	    "$TOP/etc/sshd_config.bridge" >> "$WORK/sshd/sshd_config"
}

# sshd_start: on a free port (SSHD_PORT kept across restarts).
sshd_start() {
	[ -n "$SSHD_PORT" ] || SSHD_PORT=$(free_port)
	[ -f "$WORK/sshd/host_ed25519" ] || sshd_host_key
	sshd_config
	mkdir -p /run/sshd
	chmod 755 /run/sshd
	"$SSHD" -t -f "$WORK/sshd/sshd_config" || return 1
	"$SSHD" -D -e -f "$WORK/sshd/sshd_config" 2>> "$WORK/sshd/log" &
	SSHD_PID=$!
	at_exit "kill $SSHD_PID"
	wait_port "$SSHD_PORT" 10
}

sshd_stop() {
	[ -n "$SSHD_PID" ] || return 0
	kill "$SSHD_PID" 2>/dev/null
	wait "$SSHD_PID" 2>/dev/null
	SSHD_PID=
}

# known_hosts FILE: the server's current host key, as [127.0.0.1]:port.
known_hosts() {
	printf '[127.0.0.1]:%s %s\n' "$SSHD_PORT" \
	    "$(cut -d' ' -f1-2 "$WORK/sshd/host_ed25519.pub")" > "$1"
}

# publish CUSTOMER MESSAGE...: one bundle in the customer's outbox, as
# the bundler leaves it (owner bridge user, mode 0644); prints its path.
publish() {
	_c=$1
	shift
	_b=$("$MKBUNDLE" "$HUB/tmp" "$HUB/outbox/$_c" alice@example.org \
	    "$RCPTS" "$@") || return 1
	chown "$SSH_BRIDGE" "$_b"
	chmod 0644 "$_b"
	echo "$_b"
}

# leaf_conf NAME SINKPORT [extra hub lines]: leaf.conf with hub "isp".
leaf_conf() {
	cat > "$WORK/$1.conf" <<EOF
hostname = "leaf.acme.example"
spool = "$LEAF"
inject { method = "smtp" server = "127.0.0.1:$2" timeout = "30s" }
hub "isp" {
    ssh {
        server = "127.0.0.1:$SSHD_PORT"
        user = "$SSH_U1"
        dir = "outbox"
        identity = "$KEYS/id_$SSH_U1"
        known-hosts = "$WORK/known_hosts"
    }
}
EOF
	echo "$WORK/$1.conf"
}

# start_sink PORT DIR: Postfix's smtp-sink dumping each message.
start_sink() {
	mkdir -p "$2"
	chmod 777 "$2"
	smtp-sink -u nobody -c -d "$2/%M." 127.0.0.1:"$1" 100 \
	    >/dev/null 2>&1 &
	SINK_PID=$!
	at_exit "kill $SINK_PID"
	wait_port "$1" 10
}

. "$TOP/regress/sinkcmp.sh"

count() { ls "$1" 2>/dev/null | wc -l | tr -d ' '; }

# delayline: the shared link emulator.
delayline() {
	for _d in "$TOP/../shared/tools" /work/shared/tools; do
		[ -f "$_d/delayline.py" ] && { echo "$_d/delayline.py"; return 0; }
	done
	return 1
}
