# hubrun.sh - run bridged for an integration test.  Source it after
# lib.sh.  hub_init writes a bridge.conf and routes under $WORK/hub with
# two customers, acme (acme.example and its subdomains) and ship
# (ship.example), both released by ETRN towards a port nobody listens
# on, so nothing leaves their queues during a test; blocked.example is
# an error route.  bridged listens on 127.0.0.1:$HUB_PORT and on the
# LMTP socket $HUB_LMTP, logs to $HUB_LOG.  It runs as $HUB_USER, a
# user of the test's own unless the test sets it first, its sessions
# as $HUB_SESSION_USER (the same), chrooted to $HUB_CHROOT, its lookup
# process as $HUB_LOOKUP_USER (the same: hub_secret gives it the secret
# files; HUB_NAME sets
# the directory's name under $WORK, "hub" by default; HUB_LMTP_GROUP
# the LMTP socket's group, 0666 without); the spool
# belongs to that user, so the test helpers run on it as that user.
# Invariant: every bridged hub_start started is killed at exit.
#
#   hub_init [EXTRA-CONF-LINES]   sets HUB_DIR HUB_CONF HUB_SPOOL HUB_ROUTES
#                                 HUB_PORT HUB_LMTP HUB_LOG HUB_CHROOT
#   hub_start / hub_stop / hub_kill9   HUB_PID is bridged's pid
#                                 (HUB_CONTROL set: the config has a
#                                 control { listen } of its own)
#   hub_verify CUSTOMER...        qcheck.py verify: key=value on stdout
#   hub_own [PATH...]             give the spool (or PATHs) to $HUB_USER
#                                 after the test wrote there as root
#   hub_secret PATH...            give secret files to $HUB_LOOKUP_USER,
#                                 mode 0600 (the lookup process reads them)

QCHECK="python3 $TOP/regress/qcheck.py"
SMTPSEND="python3 $TOP/regress/smtpsend.py"
HUB_PID=

hub_require() {
	require bridged python3
}

# hub_init [EXTRA]: EXTRA is appended to bridge.conf as it is;
# $HUB_ACME_OPTS goes inside acme's section.
hub_init() {
	HUB_DIR=$WORK/${HUB_NAME:-hub}
	HUB_CONF=$HUB_DIR/bridge.conf
	HUB_SPOOL=$HUB_DIR/spool
	HUB_ROUTES=$HUB_DIR/routes
	HUB_LMTP=$HUB_DIR/lmtp.sock
	HUB_LOG=$HUB_DIR/bridged.log
	HUB_PORT=$(free_port)
	HUB_DEAD=$(free_port)
	if [ -z "${HUB_USER:-}" ]; then
		test_user HUB_USER hub || return 1
	fi
	if [ -z "${HUB_SESSION_USER:-}" ]; then
		test_user HUB_SESSION_USER smtp || return 1
	fi
	if [ -z "${HUB_LOOKUP_USER:-}" ]; then
		test_user HUB_LOOKUP_USER lka || return 1
	fi
	HUB_CHROOT=$HUB_DIR/empty
	mkdir -p "$HUB_DIR" "$HUB_SPOOL" "$HUB_CHROOT"
	chmod 755 "$HUB_DIR" "$HUB_CHROOT"
	chown "$HUB_USER:" "$HUB_SPOOL"
	chmod 700 "$HUB_SPOOL"
	cat >"$HUB_ROUTES" <<EOF
# test routes: written by regress/hubrun.sh
acme.example		acme
.acme.example		acme
ship.example		ship
blocked.example		error:5.7.1 no mail here
EOF
	_hub_lgroup=
	[ -n "${HUB_LMTP_GROUP:-}" ] && _hub_lgroup="group = \"$HUB_LMTP_GROUP\""
	cat >"$HUB_CONF" <<EOF
# test config: written by regress/hubrun.sh
hostname = "hub.test"
user = "$HUB_USER"
session-user = "$HUB_SESSION_USER"
session-chroot = "$HUB_CHROOT"
lookup-user = "$HUB_LOOKUP_USER"
spool = "$HUB_SPOOL"
routes = "$HUB_ROUTES"
smtp { listen = {"127.0.0.1:$HUB_PORT"} max-clients = 50 max-size = "50M" timeout = "5m" }
lmtp { listen = {"unix:$HUB_LMTP"} $_hub_lgroup }
queue { min-free = "10M" }
customer "acme" { release = {"etrn"} deliver-to = {"127.0.0.1:$HUB_DEAD"} etrn-from = {"127.0.0.0/8"} ${HUB_ACME_OPTS:-} }
customer "ship" { release = {"etrn"} deliver-to = {"127.0.0.1:$HUB_DEAD"} etrn-from = {"127.0.0.0/8"} }
${1:-}
EOF
	chmod 644 "$HUB_CONF" "$HUB_ROUTES"
}

# hub_start: start bridged in the foreground (-d) in the background,
# wait until it listens on its SMTP port (and LMTP socket) and has made
# its control socket.
hub_start() {
	# its own process group, so that a crash can be simulated for the
	# daemon and all its children at once
	setsid bridged -d -c "$HUB_CONF" >>"$HUB_LOG" 2>&1 &
	HUB_PID=$!
	at_exit "hub_kill_pid $HUB_PID"
	if ! wait_port "$HUB_PORT" "${HUB_WAIT:-10}"; then
		diag "bridged did not listen on 127.0.0.1:$HUB_PORT"
		tail -20 "$HUB_LOG" | sed 's/^/# /'
		return 1
	fi
	if ! wait_file "$HUB_LMTP" 5; then
		diag "bridged did not create $HUB_LMTP"
		return 1
	fi
	# the control socket comes last, once the lookup and queue
	# processes are up: then the hub is ready
	# (the spool the config names: a test may have moved it)
	_hub_sp=$(sed -n 's/^spool = "\(.*\)"$/\1/p' "$HUB_CONF" | tail -1)
	if [ -n "${HUB_CONTROL:-}" ]; then
		# a control { listen } is bound at once: the log says ready
		wait_for "${HUB_WAIT:-10}" grep -q '^bridged: started:' \
		    "$HUB_LOG" && return 0
		diag "bridged did not start (no \"started\" in $HUB_LOG)"
		return 1
	fi
	if ! wait_file "${_hub_sp:-$HUB_SPOOL}/control" "${HUB_WAIT:-10}"; then
		diag "bridged did not create ${_hub_sp:-$HUB_SPOOL}/control"
		return 1
	fi
	return 0
}

# hub_kill_pid PID: SIGTERM, up to 5 s, then SIGKILL to its group.
hub_kill_pid() {
	kill "$1" 2>/dev/null || { kill -9 "-$1" 2>/dev/null; return 0; }
	_i=0
	while [ $_i -lt 100 ] && kill -0 "$1" 2>/dev/null; do
		sleep 0.05
		_i=$((_i + 1))
	done
	kill -9 "-$1" 2>/dev/null
	wait "$1" 2>/dev/null
	return 0
}

# hub_stop: SIGTERM, wait for the exit.
hub_stop() {
	[ -n "$HUB_PID" ] && hub_kill_pid "$HUB_PID"
	HUB_PID=
}

# hub_kill9: SIGKILL to bridged and its children at once (its group).
hub_kill9() {
	kill -9 "-$HUB_PID" 2>/dev/null
	wait "$HUB_PID" 2>/dev/null
	HUB_PID=
}

# hub_verify CUSTOMER...: parse every entry; one line of key=value
# counts on stdout, the reasons for bad entries as TAP comments on
# stderr.
hub_verify() {
	_v=$($QCHECK verify "$HUB_SPOOL" "$@")
	printf '%s\n' "$_v" | grep '^#' | head -20 >&2
	printf '%s\n' "$_v" | tail -1
}

# hub_own [PATH...]: what the test wrote as root into the spool (or
# PATHs) goes to the hub's user, as the hub would have written it.
hub_own() {
	[ $# -gt 0 ] || set -- "$HUB_SPOOL"
	chown -R "$HUB_USER:" "$@"
}

# hub_test_ca DIR: a test CA (DIR/ca.pem) and the hub's certificate
# for hub.test and 127.0.0.1 signed by it (DIR/cert.pem, DIR/key.pem
# mode 0600); the log in DIR/openssl.log.  1 when openssl failed.
hub_test_ca() {
	mkdir -p "$1"
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 \
	    -subj "/CN=Test CA $$" -keyout "$1/ca.key" -out "$1/ca.pem" \
	    >"$1/openssl.log" 2>&1 &&
	openssl req -newkey rsa:2048 -nodes -subj "/CN=hub.test" \
	    -keyout "$1/key.pem" -out "$1/hub.csr" >>"$1/openssl.log" 2>&1 &&
	printf 'subjectAltName=DNS:hub.test,IP:127.0.0.1\n' >"$1/ext.cnf" &&
	openssl x509 -req -in "$1/hub.csr" -CA "$1/ca.pem" \
	    -CAkey "$1/ca.key" -CAcreateserial -days 2 -extfile "$1/ext.cnf" \
	    -out "$1/cert.pem" >>"$1/openssl.log" 2>&1 || return 1
	chmod 600 "$1/key.pem"
	chmod 644 "$1/cert.pem" "$1/ca.pem"
}

hub_secret() {
	chown "$HUB_LOOKUP_USER:" "$@"
	chmod 600 "$@"
}

# kv KEY TEXT: the value of KEY=value in TEXT.
kv() {
	printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -1
}
