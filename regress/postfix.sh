# postfix.sh - run a private Postfix instance as a test peer.  Source it
# after lib.sh.  The instance has its own config, queue and data
# directories under $WORK/<name>, listens only on 127.0.0.1:$PF_PORT,
# logs to $PF_LOG through postlogd (never syslog), delivers nothing
# locally and sends nothing off the machine: whatever no transport map
# names is discarded.  It does not read /etc/postfix/main.cf.
# Invariant: every instance pf_start started is stopped at exit.
#
# Root only.  The set-gid programs (postdrop, hence sendmail, and
# postqueue) accept "-C DIR"/"-c DIR" for a private instance only when
# run by root; anyone else gets "unauthorized configuration directory
# name" unless /etc/postfix/main.cf lists DIR in
# alternate_config_directories, which the tests never touch.  So inject
# with pf_sendmail (as root) or over SMTP to $PF_PORT.
#
#   pf_init [NAME]           write main.cf and master.cf; sets PF_DIR,
#                            PF_CONF, PF_QUEUE, PF_PORT, PF_LOG
#   pf_set 'key = value'...  edit main.cf (postconf -e)
#   pf_master LINE...        append service lines to master.cf
#   pf_start / pf_stop       start (and wait for the port) / stop
#   pf_queue_count           messages in the queue (files, no daemon needed)
#   pf_wait_empty [SECONDS]  until the queue is empty
#   pf_flush                 postqueue -f
#   pf_sendmail ARGS...      sendmail -C $PF_CONF ARGS (message on stdin)
#   pf_log_count REGEX       lines of the log matching an ERE

PF_BIN=/usr/sbin
PF_RUNNING=

pf_require() {
	require postfix postconf postqueue
	if ! getent passwd postfix >/dev/null || ! getent group postdrop >/dev/null; then
		if [ "${CI:-}" = true ]; then
			echo "1..1"
			echo "not ok 1 - postfix user or postdrop group missing"
			exit 1
		fi
		echo "1..0 # SKIP postfix user or postdrop group missing"
		exit 0
	fi
	if [ "$(id -u)" != 0 ]; then
		if [ "${CI:-}" = true ]; then
			echo "1..1"
			echo "not ok 1 - a private Postfix needs root"
			exit 1
		fi
		echo "1..0 # SKIP a private Postfix needs root"
		exit 0
	fi
}

# pf_init [NAME]
pf_init() {
	PF_NAME=${1:-postfix}
	PF_DIR=$WORK/$PF_NAME
	PF_CONF=$PF_DIR/etc
	PF_QUEUE=$PF_DIR/spool
	PF_DATA=$PF_DIR/data
	PF_LOG=$PF_DIR/postfix.log
	PF_PORT=$(free_port)
	rm -rf "$PF_DIR"
	mkdir -p "$PF_CONF" "$PF_QUEUE" "$PF_DATA"
	chmod 755 "$PF_DIR" "$PF_CONF" "$PF_QUEUE"
	chown postfix "$PF_DATA"
	chmod 700 "$PF_DATA"
	_meta=$($PF_BIN/postconf -d -h meta_directory)
	_daemon=$($PF_BIN/postconf -d -h daemon_directory)
	cat >"$PF_CONF/main.cf" <<EOF
# private test instance: written by regress/postfix.sh
compatibility_level = 3.6
config_directory = $PF_CONF
queue_directory = $PF_QUEUE
data_directory = $PF_DATA
meta_directory = $_meta
daemon_directory = $_daemon
command_directory = $PF_BIN
mail_owner = postfix
setgid_group = postdrop
myhostname = pf-$PF_NAME.test
mydomain = test
myorigin = \$myhostname
mydestination =
relay_domains =
local_recipient_maps =
local_transport = error:5.1.1 no local delivery in this test instance
alias_maps =
alias_database =
default_transport = discard:no mail leaves this test instance
relay_transport = discard:no mail leaves this test instance
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_banner = \$myhostname ESMTP private test instance
smtp_dns_support_level = disabled
biff = no
maillog_file = $PF_LOG
maillog_file_prefixes = $PF_DIR
default_process_limit = 20
delay_warning_time = 0
queue_run_delay = 10s
minimal_backoff_time = 10s
maximal_backoff_time = 60s
smtputf8_enable = no
EOF
	cat >"$PF_CONF/master.cf" <<EOF
# private test instance: written by regress/postfix.sh; nothing chrooted
127.0.0.1:$PF_PORT inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
}

# pf_set 'key = value'...
pf_set() {
	$PF_BIN/postconf -c "$PF_CONF" -e "$@"
}

# pf_master LINE... : one master.cf line per argument
pf_master() {
	for _l in "$@"; do
		printf '%s\n' "$_l" >>"$PF_CONF/master.cf"
	done
}

# pf_etrn_hold PORT: the instance holds mail for etrn.example until an
# ETRN releases it to 127.0.0.1:PORT (Postfix's ETRN_README:
# relay_domains, fast_flush_domains, the domain's own transport in
# defer_transports); process limits raised for load runs.
pf_etrn_hold() {
	pf_set "relay_domains = etrn.example" \
	    "transport_maps = inline:{ etrn.example=etrn-only:[127.0.0.1]:$1 }" \
	    "defer_transports = etrn-only" \
	    "fast_flush_domains = \$relay_domains" \
	    "smtpd_etrn_restrictions = permit_mynetworks, reject" \
	    "default_process_limit = 100"
	pf_master "etrn-only unix - - n - - smtp"
}

# pf_start: start the instance and wait until its SMTP port answers.
pf_start() {
	if ! $PF_BIN/postfix -c "$PF_CONF" start >"$PF_DIR/start.out" 2>&1; then
		diag "postfix start failed:"
		sed 's/^/# /' "$PF_DIR/start.out"
		return 1
	fi
	PF_RUNNING="$PF_RUNNING $PF_CONF"
	at_exit "pf_stop_dir '$PF_CONF'"
	if ! wait_port "$PF_PORT" 20; then
		diag "postfix did not listen on 127.0.0.1:$PF_PORT"
		[ -f "$PF_LOG" ] && tail -20 "$PF_LOG" | sed 's/^/# /'
		return 1
	fi
	return 0
}

# pf_stop_dir CONFDIR: stop, and abort if the master is still there.
pf_stop_dir() {
	_q=$($PF_BIN/postconf -c "$1" -h queue_directory 2>/dev/null)
	$PF_BIN/postfix -c "$1" stop >/dev/null 2>&1
	_i=0
	while [ $_i -lt 100 ] && [ -f "$_q/pid/master.pid" ] &&
	    kill -0 "$(tr -d ' ' <"$_q/pid/master.pid")" 2>/dev/null; do
		sleep 0.05
		_i=$((_i + 1))
	done
	if [ -f "$_q/pid/master.pid" ] &&
	    kill -0 "$(tr -d ' ' <"$_q/pid/master.pid")" 2>/dev/null; then
		$PF_BIN/postfix -c "$1" abort >/dev/null 2>&1
		sleep 0.2
		_p=$(tr -d ' ' <"$_q/pid/master.pid" 2>/dev/null)
		[ -n "$_p" ] && kill -9 "$_p" 2>/dev/null
	fi
	return 0
}

pf_stop() {
	pf_stop_dir "$PF_CONF"
}

# pf_queue_count: every queue file, whichever queue it is in.
pf_queue_count() {
	find "$PF_QUEUE/maildrop" "$PF_QUEUE/incoming" "$PF_QUEUE/active" \
	    "$PF_QUEUE/deferred" "$PF_QUEUE/hold" -type f 2>/dev/null | wc -l |
	    tr -d ' '
}

# pf_wait_empty [SECONDS]: until postqueue -p says the queue is empty.
pf_wait_empty() {
	_i=0
	_lim=$(( ${1:-30} * 10 ))
	while [ $_i -lt $_lim ]; do
		if [ "$(pf_queue_count)" -eq 0 ] &&
		    $PF_BIN/postqueue -c "$PF_CONF" -p 2>/dev/null |
		    grep -q 'Mail queue is empty'; then
			return 0
		fi
		sleep 0.1
		_i=$((_i + 1))
	done
	return 1
}

pf_flush() {
	$PF_BIN/postqueue -c "$PF_CONF" -f
}

pf_sendmail() {
	$PF_BIN/sendmail -C "$PF_CONF" "$@"
}

# pf_log_count ERE
pf_log_count() {
	grep -cE "$1" "$PF_LOG" 2>/dev/null || true
}
