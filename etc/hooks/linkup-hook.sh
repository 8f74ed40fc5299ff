# linkup-hook.sh - shared part of the bridge-linkup hooks in this
# directory: sourced by each, after it has decided what happened.
# linkup_event up|down WHY: tell bridge-linkup, in the background so
# that pppd, NetworkManager or ifupdown is never held up while the mail
# comes in; the result goes to syslog (bridge-linkup logs there).
# BRIDGE_LINKUP and LEAF_CONF override the installed paths.
# linkup_ignore WHY: log that nothing is done, exit 0.

BRIDGE_LINKUP=${BRIDGE_LINKUP:-/usr/local/sbin/bridge-linkup}
LEAF_CONF=${LEAF_CONF:-/usr/local/etc/bridge/leaf.conf}

_linkup_log() {
	if command -v logger >/dev/null 2>&1; then
		logger -t bridge-linkup-hook -p mail.info -- "$*"
	fi
	[ -n "${LINKUP_HOOK_VERBOSE:-}" ] && echo "bridge-linkup-hook: $*" >&2
	return 0
}

linkup_event() {
	_linkup_log "$2: link $1"
	if [ -n "${LINKUP_HOOK_WAIT:-}" ]; then
		"$BRIDGE_LINKUP" -c "$LEAF_CONF" "$1" </dev/null
		return $?
	fi
	nohup "$BRIDGE_LINKUP" -c "$LEAF_CONF" "$1" </dev/null >/dev/null 2>&1 &
	return 0
}

linkup_ignore() {
	_linkup_log "ignored: $*"
	exit 0
}
