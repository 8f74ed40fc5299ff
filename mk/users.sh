#!/bin/sh
# users.sh - the system users of the hub (bridged(8) USERS): _bridge,
# which owns the spool and runs the master and the queue process,
# _bridge-smtp, which runs the chrooted session processes, and
# _bridge-lka, which runs the lookup process and owns the secrets; each with
# a group of its own, no home and no shell, made when it is missing
# (Debian and other Linux: useradd; FreeBSD: pw).  Run as root by
# "make run" and "make install"; does nothing for a user that exists,
# and nothing at all when not root.  USERS_PREFIX= in the environment
# makes the names <prefix>_bridge... (for tests).
set -eu
[ "$(id -u)" -eq 0 ] || exit 0
nologin=/usr/sbin/nologin
[ -x "$nologin" ] || nologin=/sbin/nologin
for u in "${USERS_PREFIX:-}_bridge" "${USERS_PREFIX:-}_bridge-smtp" \
    "${USERS_PREFIX:-}_bridge-lka"; do
	id "$u" >/dev/null 2>&1 && continue
	case $(uname -s) in
	FreeBSD|DragonFly)
		pw useradd "$u" -d /nonexistent -s "$nologin" \
		    -c "mailbridge hub" ;;
	*)
		useradd -r -M -d /nonexistent -s "$nologin" -U \
		    -c "mailbridge hub" "$u" ;;
	esac
	echo "users.sh: created the system user $u"
done
