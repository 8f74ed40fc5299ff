#!/bin/sh
# run.sh - "make run": start the hub in the foreground with the
# embedded demo config (bridged -d -c builtin).  make has built the
# programs; this builds nothing.  The spool is run/spool under the
# work tree (or $BRIDGE_SPOOL); works as root (no user to drop to in
# the builtin config) and as a normal user (ports 2525/3366 need no
# privileges).
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
if [ ! -x bridge/bridged ]; then
	echo "run.sh: bridge/bridged is not built; run make first" >&2
	exit 69
fi
mkdir -p run
cat <<EOT
mailbridge demo hub: SMTP on 127.0.0.1:2525, LMTP on
${BRIDGE_SPOOL:-$top/run/spool}/lmtp.sock.
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
