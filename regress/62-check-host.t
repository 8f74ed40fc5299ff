#!/bin/sh
# 62-check-host.t - "bridgectl check" run as root also checks this host
# for what bridged started as root would refuse or get wrong (issue
# 10): its user exists and is not root, the spool is root's or that
# user's and 0700, each unix socket's directory is one nobody else can
# change, the lmtp group exists, each secret is that user's.  "check
# -s" leaves the host out, for a config written for another machine.
. "$(dirname "$0")/lib.sh"
. "$TOP/regress/hubrun.sh"
require useradd groupadd bridgectl
[ "$(id -u)" = 0 ] || skip_all "needs root (the host checks are root's)"

hub_init
conf0=$HUB_CONF

# check CONF [ARGS]: bridgectl's output, then "exit N"
check() {
	c=$1; shift
	bridgectl -c "$c" check "$@" 2>&1
	echo "exit $?"
}

out=$(check "$conf0")
case "$out" in *": OK ("*"exit 0") pass "the test hub's config and host pass" ;;
*) fail "the test hub's config and host pass ($out)" ;; esac

sed "s|^user = .*|user = \"$TAG-nosuchuser\"|" "$conf0" >"$WORK/nouser.conf"
out=$(check "$WORK/nouser.conf")
is "$(echo "$out" | head -1)" "$WORK/nouser.conf: user $TAG-nosuchuser does not exist: bridged would not start; create it (mk/users.sh) or name another in user" \
    "a missing user is named, with the key"
is "$(echo "$out" | tail -1)" "exit 78" "and is a problem (78)"
out=$(check "$WORK/nouser.conf" -s)
case "$out" in *": OK ("*"exit 0") pass "check -s leaves the host out" ;;
*) fail "check -s leaves the host out ($out)" ;; esac

sed 's|^user = .*|user = "root"|' "$conf0" >"$WORK/root.conf"
out=$(check "$WORK/root.conf")
case "$out" in *"user root is root: bridged does not run as root"*"exit 78")
	pass "user = root is a problem" ;;
*) fail "user = root is a problem ($out)" ;; esac

sed '/^user = /d' "$conf0" >"$WORK/default.conf"
out=$(check "$WORK/default.conf")
if id _bridge >/dev/null 2>&1; then
	# it exists: not refused as missing (the spool is the test's user's,
	# so that mismatch may be named)
	case "$out" in *"user _bridge does not exist"*) fail "no user: _bridge, which exists ($out)" ;;
	*) pass "no user: _bridge, which exists" ;; esac
else
	case "$out" in *"user _bridge does not exist"*"exit 78")
		pass "no user: the default _bridge is checked (missing here)" ;;
	*) fail "no user: the default _bridge is checked ($out)" ;; esac
fi

chmod 755 "$HUB_SPOOL"
out=$(check "$conf0")
case "$out" in *"spool $HUB_SPOOL: mode 0755, must be 0700"*"exit 78")
	pass "a spool others can read is a problem" ;;
*) fail "a spool others can read is a problem ($out)" ;; esac
chmod 700 "$HUB_SPOOL"

test_user OTHER other
chown "$OTHER:" "$HUB_SPOOL"
out=$(check "$conf0")
case "$out" in *"spool $HUB_SPOOL belongs to uid $(id -u "$OTHER"), not to the hub's user $HUB_USER"*"exit 78")
	pass "another user's spool is a problem" ;;
*) fail "another user's spool is a problem ($out)" ;; esac
chown root: "$HUB_SPOOL"
out=$(check "$conf0")
case "$out" in *"exit 0") pass "a root-owned spool passes (bridged gives it to its user)" ;;
*) fail "a root-owned spool passes ($out)" ;; esac
chown "$HUB_USER:" "$HUB_SPOOL"
rm -rf "$HUB_SPOOL"
out=$(check "$conf0")
case "$out" in *"exit 0") pass "a missing spool passes (bridged makes it)" ;;
*) fail "a missing spool passes ($out)" ;; esac
mkdir -m 700 "$HUB_SPOOL"
chown "$HUB_USER:" "$HUB_SPOOL"

sed "s|^lmtp .*|lmtp { listen = {\"unix:$HUB_SPOOL/lmtp.sock\"} }|" "$conf0" \
    >"$WORK/insock.conf"
out=$(check "$WORK/insock.conf")
case "$out" in *"listen unix:$HUB_SPOOL/lmtp.sock: $HUB_SPOOL belongs to uid $(id -u "$HUB_USER")"*"bridged would refuse to bind it"*"exit 78")
	pass "a socket in the spool is a problem" ;;
*) fail "a socket in the spool is a problem ($out)" ;; esac
mkdir -m 1777 "$WORK/open"
sed "s|^lmtp .*|lmtp { listen = {\"unix:$WORK/open/new/lmtp.sock\"} }|" \
    "$conf0" >"$WORK/newdir.conf"
out=$(check "$WORK/newdir.conf")
case "$out" in *"exit 0") pass "a socket directory bridged would make (under a sticky one) passes" ;;
*) fail "a socket directory bridged would make passes ($out)" ;; esac
sed "s|^lmtp .*|lmtp { listen = {\"unix:$WORK/open/lmtp.sock\"} }|" \
    "$conf0" >"$WORK/open.conf"
out=$(check "$WORK/open.conf")
case "$out" in *"$WORK/open is writable by others"*"exit 78")
	pass "a socket in a directory others can write is a problem" ;;
*) fail "a socket in a directory others can write is a problem ($out)" ;; esac

sed 's|^lmtp .*|lmtp { listen = {"unix:'"$HUB_LMTP"'"} group = "nosuchgroup-'"$TAG"'" }|' \
    "$conf0" >"$WORK/nogroup.conf"
out=$(check "$WORK/nogroup.conf")
case "$out" in *"lmtp group nosuchgroup-$TAG does not exist"*"exit 78")
	pass "a missing lmtp group is a problem" ;;
*) fail "a missing lmtp group is a problem ($out)" ;; esac

printf 'sesame\n' >"$WORK/acme.secret"
chmod 600 "$WORK/acme.secret"
sed "s|^customer \"acme\" {|customer \"acme\" { secret = \"$WORK/acme.secret\"|" \
    "$conf0" >"$WORK/secret.conf"
out=$(check "$WORK/secret.conf")
case "$out" in *"secret file $WORK/acme.secret: belongs to uid 0; bridged's lookup process runs as $HUB_LOOKUP_USER"*"exit 78")
	pass "a secret the lookup user does not own is a problem" ;;
*) fail "a secret the lookup user does not own is a problem ($out)" ;; esac
chown "$HUB_USER:" "$WORK/acme.secret"
out=$(check "$WORK/secret.conf")
case "$out" in *"belongs to uid $(id -u "$HUB_USER"); bridged's lookup process runs as"*"exit 78")
	pass "so is one of the hub's user: the lookup reads it" ;;
*) fail "so is one of the hub's user: the lookup reads it ($out)" ;; esac
chown "$HUB_LOOKUP_USER:" "$WORK/acme.secret"
out=$(check "$WORK/secret.conf")
case "$out" in *"exit 0") pass "given to the lookup user it passes" ;;
*) fail "given to the lookup user it passes ($out)" ;; esac

