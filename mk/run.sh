#!/bin/sh
# run.sh - "make run": start the hub in the foreground with the
# embedded demo config (bridged -d -c builtin).  make has built the
# programs; this builds nothing.  The spool is run/spool under the
# work tree (or $BRIDGE_SPOOL).  As root, the hub drops to the system
# user _bridge (made by mk/users.sh when missing); when _bridge cannot
# reach the work tree the spool goes to /var/lib/bridge-demo instead.
# As a normal user it runs as that user (ports 2525/3366 need no
# privileges).
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
if [ ! -x bridge/bridged ]; then
	echo "run.sh: bridge/bridged is not built; run make first" >&2
	exit 69
fi
mkdir -p run
# reachable - can everybody search every directory down to $1?
reachable() {
	_p=$1
	while [ -n "$_p" ] && [ "$_p" != / ]; do
		[ -d "$_p" ] && case $(ls -ld "$_p") in
		d????????[xt]*) ;;
		*) return 1 ;;
		esac
		_p=${_p%/*}
	done
	return 0
}
if [ "$(id -u)" -eq 0 ]; then
	sh mk/users.sh
	if [ -z "${BRIDGE_SPOOL:-}" ] && ! reachable "$top/run"; then
		BRIDGE_SPOOL=/var/lib/bridge-demo/spool
		export BRIDGE_SPOOL
		echo "run.sh: _bridge cannot reach $top; spool in $BRIDGE_SPOOL"
	fi
	chmod 755 run
fi
cat <<EOT
mailbridge demo hub: SMTP on 127.0.0.1:2525, LMTP on
$(dirname "${BRIDGE_SPOOL:-$top/run/spool}")/sock/lmtp.sock.
Customer "demo" takes mail for demo.example and its subdomains;
blocked.demo.example is refused with an error route.

Send a message (another terminal):
  swaks --server 127.0.0.1:2525 --to someone@demo.example
  smtp-source -c -m 10 -f me@example.org -t someone@demo.example 127.0.0.1:2525
List the queue:
  bridge/bridgectl -c builtin queue
  bridge/bridgectl -c builtin queue --summary
Release it to the customer's server (127.0.0.1:2526; start a sink
there first, e.g. smtp-sink -c 127.0.0.1:2526 100):
  etrn/etrn -p 2525 127.0.0.1 demo.example     # ETRN, as a leaf would
  bridge/bridgectl -c builtin flush demo       # or by hand
ODMR listens on 127.0.0.1:3366 (customer demo has no secret set).
Stop with Ctrl-C.

EOT
exec "$top/bridge/bridged" -d -c builtin
