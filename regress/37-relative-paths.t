#!/bin/sh
# 37-relative-paths.t - bridged started as "bridged -c bridge.conf" from
# the config's directory, with every file named relative to it (spool,
# routes, recipients, secret).  bridged changes directory to its spool,
# so each of those must have been resolved against the config's
# directory: the secret is read at AUTH time, the recipients and routes
# at every reload (SIGHUP).
. "$(dirname "$0")/lib.sh"
require bridged bridgectl etrn swaks smtp-sink useradd
test_user HUBUSER hub
test_user SESSUSER smtp
test_user LKUSER lka

SINKUSER=
[ "$(id -u)" = 0 ] && SINKUSER="-u nobody"
D=$WORK/site
mkdir -p "$D" "$D/empty"
chmod 755 "$D" "$D/empty"
PORT=$(free_port)
SINK=$(free_port)
printf 'rel-secret-for-acme\n' >"$D/acme.secret"
chmod 600 "$D/acme.secret"
chown "$LKUSER:" "$D/acme.secret"
printf 'alice\n' >"$D/acme.users"
printf 'acme.example\tacme\n' >"$D/routes"
cat >"$D/bridge.conf" <<EOF
hostname = "hub.test"
user = "$HUBUSER"
session-user = "$SESSUSER"
session-chroot = "empty"
lookup-user = "$LKUSER"
spool = "spool"
routes = "routes"
postmaster = "postmaster@hub.test"
smtp { listen = {"127.0.0.1:$PORT"} }
customer "acme" {
	release = {"etrn"}
	deliver-to = {"127.0.0.1:$SINK"}
	etrn-from = {"192.0.2.1"}
	secret = "acme.secret"
	recipients = "acme.users"
}
EOF
smtp-sink $SINKUSER 127.0.0.1:$SINK 8 >"$WORK/sink.log" 2>&1 &
at_exit "kill $!"
(cd "$D" && exec bridged -d -c bridge.conf) >"$WORK/hub.log" 2>&1 &
at_exit "kill $!"
wait_port $PORT || { fail "bridged listens"; exit 1; }
pass "bridged started with a relative config path"

send() {	# send RCPT: swaks's exit status
	swaks -s 127.0.0.1:$PORT -f s@example.org -t "$1" --silent 2 \
	    >/dev/null 2>&1
}
send alice@acme.example
ok $? "a listed recipient is accepted"
send mallory@acme.example
ok $((!$?)) "an unlisted one is refused (recipients file loaded)"
out=$(cd "$D" && etrn -p $PORT -u acme -s acme.secret 127.0.0.1 acme.example 2>&1)
is "$?" 0 "AUTH with the relative secret, after bridged's chdir: $out"
grep -q "secret: No such file" "$WORK/hub.log"
ok $((!$?)) "bridged found the secret"

kill -HUP "$(cat "$D/spool/bridged.pid")"
wait_for 10 grep -q "reloaded" "$WORK/hub.log"
ok $? "SIGHUP reloads the config by its absolute path"
grep -q "reloading $D/bridge.conf" "$WORK/hub.log"
ok $? "the reload names the config's absolute path"
send alice@acme.example
ok $? "after the reload, routes and recipients still load"
send mallory@acme.example
ok $((!$?)) "and the recipients file still applies"
