# uucp.sh - two Taylor UUCP nodes, "hub" and "leaf", on one machine, for
# integration tests.  Source it after lib.sh.  Each node has its own
# main config (passed with -I), sys and port files, spool, pubdir, lock
# and log directories under $UU_DIR/<node>; /etc/uucp is never read.
# The nodes reach each other through "port type pipe" ports whose
# command is the other node's uucico with its own -I config: run with
# no system argument, uucico is a slave on its standard input/output,
# the login having happened already.
#
# Privileges: -I makes Taylor programs drop their setuid bits, and
# Debian's uux/uucico/uuxqt started by root switch to the uucp user, so
# the tests run as root and every UUCP directory is owned by uucp.
# Commands that uuxqt runs at the leaf (rgsmtp) run as uucp with PATH
# set to the leaf's command-path only: wrappers use absolute paths.
#
#   uu_require            skip (fail under CI) without Taylor UUCP or root
#   uu_init [DIR]         write both nodes; sets UU_DIR, UU_HUB_CFG,
#                         UU_LEAF_CFG, UU_LEAF_BIN
#   uu_rgsmtp PROG ARG... the leaf's rgsmtp runs PROG ARG... (stdin: the
#                         bundle)
#   uu_poll               the leaf calls the hub (uucico -S hub, without
#                         starting uuxqt), then runs uuxqt itself
#   uu_hub_jobs           jobs the hub has queued for the leaf
#   uu_leaf_failed        executions that failed at the leaf
#   uu_logs               both nodes' logs as TAP diagnostics
# Invariant: nothing is left running; uu_poll is bounded in time.

UU_UUX=/usr/bin/uux
UU_UUCICO=/usr/sbin/uucico
UU_UUXQT=/usr/sbin/uuxqt

uu_require() {
	require uux uucico uuxqt timeout
	if [ "$(id -u)" != 0 ] || ! getent passwd uucp >/dev/null; then
		skip_all "the UUCP harness needs root and a uucp user"
	fi
	UU_UUX=$(command -v uux)
	UU_UUCICO=$(command -v uucico)
	UU_UUXQT=$(command -v uuxqt)
}

# _uu_node NAME OTHER: the config, sys and port files of one node.
_uu_node() {
	_n=$1
	_o=$2
	_d=$UU_DIR/$_n
	mkdir -p "$_d/spool" "$_d/pub" "$_d/lock" "$_d/log" "$_d/bin"
	cat >"$_d/config" <<EOF
# $_n: written by regress/uucp.sh
nodename $_n
spool $_d/spool
pubdir $_d/pub
lockdir $_d/lock
logfile $_d/log/Log
statfile $_d/log/Stats
debugfile $_d/log/Debug
sysfile $_d/sys
portfile $_d/port
EOF
	cat >"$_d/port" <<EOF
port to-$_o
type pipe
command $UU_UUCICO -I $UU_DIR/$_o/config
EOF
	chown -R uucp:uucp "$_d/spool" "$_d/pub" "$_d/lock" "$_d/log"
	chmod 755 "$_d" "$_d/bin"
}

# uu_init [DIR]
uu_init() {
	UU_DIR=${1:-$WORK/uucp}
	rm -rf "$UU_DIR"
	mkdir -p "$UU_DIR"
	chmod 755 "$UU_DIR"
	_uu_node hub leaf
	_uu_node leaf hub
	UU_HUB_CFG=$UU_DIR/hub/config
	UU_LEAF_CFG=$UU_DIR/leaf/config
	UU_LEAF_BIN=$UU_DIR/leaf/bin
	# What the hub knows about the leaf: the leaf may run nothing here.
	cat >"$UU_DIR/hub/sys" <<EOF
system leaf
time any
port to-leaf
chat ""
protocol t
commands rmail
EOF
	# What the leaf knows about the hub: the hub may run rgsmtp here,
	# found only in the leaf's bin directory.
	cat >"$UU_DIR/leaf/sys" <<EOF
system hub
time any
port to-hub
chat ""
protocol t
commands rgsmtp
command-path $UU_LEAF_BIN
EOF
	uu_rgsmtp /bin/sh -c 'cat >/dev/null'
}

# uu_rgsmtp PROG ARG...: the leaf's rgsmtp command.
uu_rgsmtp() {
	{
		echo "#!/bin/sh"
		printf 'exec'
		for _a in "$@"; do
			_q=$(printf '%s' "$_a" | sed "s/'/'\\\\''/g")
			printf " '%s'" "$_q"
		done
		printf '\n'
	} >"$UU_LEAF_BIN/rgsmtp.tmp"
	chmod 755 "$UU_LEAF_BIN/rgsmtp.tmp"
	mv "$UU_LEAF_BIN/rgsmtp.tmp" "$UU_LEAF_BIN/rgsmtp"
}

# uu_poll: one call from the leaf to the hub, then the leaf's uuxqt.
uu_poll() {
	timeout 300 "$UU_UUCICO" -I "$UU_LEAF_CFG" -q -S hub || return 1
	timeout 600 "$UU_UUXQT" -I "$UU_LEAF_CFG" || return 1
	return 0
}

uu_hub_jobs() {
	find "$UU_DIR/hub/spool" -type f -name 'C.*' | wc -l | tr -d ' '
}

uu_leaf_failed() {
	if [ -d "$UU_DIR/leaf/spool/.Failed" ]; then
		find "$UU_DIR/leaf/spool/.Failed" -type f -name 'X.*' |
		    wc -l | tr -d ' '
	else
		echo 0
	fi
}

uu_logs() {
	for _n in hub leaf; do
		[ -f "$UU_DIR/$_n/log/Log" ] &&
		    tail -20 "$UU_DIR/$_n/log/Log" | sed "s/^/# $_n: /"
	done
	return 0
}
