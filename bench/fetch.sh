#!/bin/sh
# fetch.sh - bridge-fetch against OpenSSH's sftp fetching the same
# bundles from the same private sshd (regress/sshd.sh: the shipped
# Match block, chroot, internal-sftp), in the same run:
#   loopback:  50 MB in 10 bundles
#   delayline: 5 MB in 2 bundles through delayline.py, 300 ms each
#              way, 10 Mbit/s
# sftp runs "get /outbox/* dir".  bridge-fetch does its whole job
# (download, fsync, verify, inject into an smtp-sink, remove on the
# hub); its transfer figure is what compares with sftp's get:
# connecting and listing plus each bundle's download from open to EOF,
# as -v reports them, and its end-to-end figure is shown beside it.  Each side's best of a few runs, alternating, as
# MB/s (10^6 octets) of bundle data.
# Targets (issue 5): bridge-fetch's transfer at least 0.9x sftp on both.
# Needs root (sshd chroots).  Usage: sh bench/fetch.sh  (from the top)
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP" || exit 1
WORK=$TOP/bench/work/fetch
rm -rf "$WORK"
mkdir -p "$WORK"
PATH=$TOP/ssh:/usr/sbin:/sbin:$PATH

# What regress/sshd.sh expects of regress/lib.sh, without TAP.
_cleanups=
at_exit() { _cleanups="$*; $_cleanups"; }
trap 'eval "$_cleanups" >/dev/null 2>&1; _ports_release' EXIT
trap 'exit 1' INT TERM
fail() { echo "fetch.sh: $*" >&2; exit 1; }
require() {
	for _p in "$@"; do
		command -v "$_p" >/dev/null 2>&1 || fail "$_p is missing"
	done
}
. "$TOP/regress/share.sh"
wait_port() {
	python3 - "$1" "${2:-10}" <<'EOF'
import socket, sys, time
end = time.time() + float(sys.argv[2])
while time.time() < end:
    s = socket.socket()
    s.settimeout(0.2)
    if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0:
        sys.exit(0)
    s.close()
    time.sleep(0.05)
sys.exit(1)
EOF
}
. "$TOP/regress/sshd.sh"

[ "$(id -u)" = 0 ] || fail "needs root (sshd must chroot)"
require ssh-keygen sftp smtp-sink python3 base64 bmake
bmake -f BSDmakefile -j2 ssh/bridge-fetch regress/mkbundle >/dev/null ||
    fail "build failed"
DL=$(delayline) || fail "delayline.py not found"
RCPTS=bob@acme.example

sshd_accounts ${SSH_U1}
sshd_layout cust1 ${SSH_U1}
sshd_client_key ${SSH_U1}
sshd_start || fail "sshd did not start"
known_hosts "$WORK/kh1"
DLPORT=$(free_port)
SAVE=$SSHD_PORT
SSHD_PORT=$DLPORT known_hosts "$WORK/kh2"
SSHD_PORT=$SAVE
cat "$WORK/kh1" "$WORK/kh2" > "$WORK/known_hosts"
SINK=$(free_port)
smtp-sink -u nobody 127.0.0.1:"$SINK" 100 >/dev/null 2>&1 &
at_exit "kill $!"
wait_port "$SINK" || fail "smtp-sink did not start"
C=$(leaf_conf leaf "$SINK")
OUTBOX=$CHROOTS/${SSH_U1}/outbox

# bundles SET COUNT OCTETS: COUNT bundles of about OCTETS compressed,
# one message of base64 text each, kept in $WORK/SET.
bundles() {
	mkdir -p "$WORK/$1" "$WORK/msg"
	_raw=$(( $3 * 100 / 76 ))
	for _i in $(seq 1 "$2"); do
		{
			printf 'From: a@example.org\r\nTo: b@acme.example\r\n'
			printf 'Subject: bench %s\r\n\r\n' "$_i"
			head -c $(( _raw * 3 / 4 )) /dev/urandom | base64 -w 76
		} > "$WORK/msg/$_i"
		_b=$(publish cust1 "$WORK/msg/$_i") || fail "mkbundle failed"
		mv "$_b" "$WORK/$1/"
	done
	rm -rf "$WORK/msg"
	du -b -c "$WORK/$1"/* | tail -1 | cut -f1
}

# stage SET: the set's bundles into the outbox as the bundler leaves them.
stage() {
	rm -f "$OUTBOX"/*
	cp "$WORK/$1"/* "$OUTBOX/"
	chown "$SSH_BRIDGE" "$OUTBOX"/*
	chmod 0644 "$OUTBOX"/*
}

now() { date +%s.%N; }

# t_sftp SET PORT: seconds for sftp to get every bundle.
t_sftp() {
	stage "$1"
	rm -rf "$WORK/sftpdl"
	mkdir -p "$WORK/sftpdl"
	echo "get /outbox/* $WORK/sftpdl/" > "$WORK/batch"
	_t0=$(now)
	sftp -q -b "$WORK/batch" -i "$KEYS/id_${SSH_U1}" \
	    -o UserKnownHostsFile="$WORK/known_hosts" \
	    -o StrictHostKeyChecking=yes -o BatchMode=yes -P "$2" \
	    ${SSH_U1}@127.0.0.1 >/dev/null 2>&1 || fail "sftp failed"
	_t1=$(now)
	[ "$(ls "$WORK/sftpdl" | wc -l)" = "$(ls "$WORK/$1" | wc -l)" ] ||
	    fail "sftp did not get every bundle"
	awk -v a="$_t1" -v b="$_t0" 'BEGIN { print a - b }'
}

# t_fetch SET PORT: "end transfer" seconds for bridge-fetch: end to end
# (download, fsync, verify, inject, remove), and the transfer alone as
# -v reports it: connecting and listing, plus each bundle's download
# from open to EOF.
t_fetch() {
	stage "$1"
	rm -rf "$LEAF"
	_t0=$(now)
	bridge-fetch -v -c "$C" -p "$2" isp 2>"$WORK/fetch.err" ||
	    fail "bridge-fetch failed: $(cat "$WORK/fetch.err")"
	_t1=$(now)
	[ -z "$(ls "$OUTBOX")" ] || fail "bridge-fetch left bundles"
	sed -n -e 's/.*: fetched .* bytes in \([0-9.]*\) s$/\1/p' \
	    -e 's/.*: connected and listed .* in \([0-9.]*\) s$/\1/p' \
	    "$WORK/fetch.err" | awk -v a="$_t0" -v b="$_t1" \
	    '{ t += $1 } END { print b - a, t }'
}

min() { printf '%s\n' "$@" | sort -g | head -1; }

# compare NAME SET PORT RUNS: best of RUNS each, alternating.
compare() {
	_s= _e= _x=
	for _r in $(seq 1 "$4"); do
		_s="$_s $(t_sftp "$2" "$3")"
		_f=$(t_fetch "$2" "$3")
		_e="$_e ${_f% *}"
		_x="$_x ${_f#* }"
	done
	echo "  runs: sftp$_s; bridge-fetch end to end$_e, transfer$_x" >&2
	_oct=$(du -b -c "$WORK/$2"/* | tail -1 | cut -f1)
	awk -v n="$1" -v o="$_oct" -v s="$(min $_s)" -v e="$(min $_e)" \
	    -v x="$(min $_x)" -v c="$(ls "$WORK/$2" | wc -l)" 'BEGIN {
		printf "%s: %.1f MB in %d bundles\n", n, o / 1e6, c
		printf "  sftp get                 %7.2f s %8.2f MB/s\n", s, o / s / 1e6
		printf "  bridge-fetch transfer    %7.2f s %8.2f MB/s  %.2fx sftp (target >= 0.90): %s\n",
		    x, o / x / 1e6, s / x, (s / x >= 0.9) ? "met" : "NOT met"
		printf "  bridge-fetch end to end  %7.2f s %8.2f MB/s  %.2fx sftp (download, verify, inject, remove)\n",
		    e, o / e / 1e6, s / e
	}'
}

bundles loop 10 5000000 >/dev/null
bundles slow 2 2500000 >/dev/null
echo "date $(date -u +%Y-%m-%dT%H:%MZ) host $(uname -n) cpus $(nproc 2>/dev/null || echo ?)"
echo "libssh2 $(dpkg-query -W -f '${Version}' libssh2-1 2>/dev/null || echo ?), $(ssh -V 2>&1)"
compare loopback loop "$SSHD_PORT" 3 | tee "$WORK/result"
python3 "$DL" "$DLPORT" "127.0.0.1:$SSHD_PORT" --delay-ms 300 --kbit 10000 \
    --quiet &
at_exit "kill $!"
wait_port "$DLPORT" || fail "delayline did not start"
compare "delayline 300 ms, 10 Mbit/s" slow "$DLPORT" 2 | tee -a "$WORK/result"
! grep -q "NOT met" "$WORK/result"
