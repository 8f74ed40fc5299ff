#!/bin/sh
# deps.sh - install what the build (and, for "test"/"run", the tests'
# real peers) need and is missing: apt-get on Debian, pkg on FreeBSD.
# Usage: sh mk/deps.sh build|run|test|bench
set -eu

what=${1:-build}

deb_build="bmake gcc make pkg-config libc6-dev libssh2-1-dev zlib1g-dev libconfuse-dev libssl-dev"
deb_test="postfix swaks fetchmail uucp openssh-server openssh-client mandoc perl python3 procps iproute2 file prometheus openssl libnet-ssleay-perl libio-socket-ssl-perl"
fbsd_build="pkgconf libssh2 libconfuse"
fbsd_test="postfix swaks fetchmail freebsd-uucp python3 p5-TAP-Harness prometheus"

case "$what" in
build) extra= ;;
run|test|bench) extra=yes ;;
*) echo "usage: deps.sh build|run|test|bench" >&2; exit 64 ;;
esac

as_root() {
	if [ "$(id -u)" = 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		echo "deps.sh: need root to run: $*" >&2
		exit 77
	fi
}

case "$(uname -s)" in
Linux)
	if ! command -v dpkg-query >/dev/null 2>&1; then
		echo "deps.sh: not Debian; install by hand: $deb_build ${extra:+$deb_test}" >&2
		exit 0
	fi
	want="$deb_build"
	[ -n "$extra" ] && want="$want $deb_test"
	missing=
	for p in $want; do
		st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
		case "$st" in
		*" installed") ;;
		*) missing="$missing $p" ;;
		esac
	done
	[ -z "$missing" ] && exit 0
	echo "deps.sh: installing:$missing" >&2
	# prometheus is there for promtool (the leaf's metrics textfile);
	# like Postfix it is only a test peer: no system instance is configured or
	# started; the tests run their own on loopback.
	echo "postfix postfix/main_mailer_type select No configuration" |
	    as_root debconf-set-selections
	export DEBIAN_FRONTEND=noninteractive
	if ! as_root apt-get install -y -q --no-install-recommends $missing; then
		as_root apt-get update -q
		as_root apt-get install -y -q --no-install-recommends $missing
	fi
	;;
FreeBSD)
	want="$fbsd_build"
	[ -n "$extra" ] && want="$want $fbsd_test"
	missing=
	for p in $want; do
		pkg info -e "$p" || missing="$missing $p"
	done
	[ -z "$missing" ] && exit 0
	echo "deps.sh: installing:$missing" >&2
	as_root env ASSUME_ALWAYS_YES=yes pkg install -y $missing
	;;
*)
	echo "deps.sh: unknown system $(uname -s); install by hand:" \
	    "libssh2 zlib libconfuse pkg-config bmake" >&2
	;;
esac
