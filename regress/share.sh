# share.sh - what lets any number of test runs share one machine:
# ports, users, groups and directories outside the work tree that are
# unique to the test (named after its pid) and removed at its exit.
# Sourced by lib.sh (and by benchmarks that do without it); needs
# at_exit.  Call _ports_release at exit.
#
#   TAG                      mbt<the test's pid in hex>
#   free_port                a port reserved for this test
#   test_user VAR ROLE ...   a system user $TAG-ROLE; test_group alike
#   root_dir VAR ROLE        a root-owned 0755 directory under /var/lib
# Users and groups left by a test that was killed are removed by the
# next test that makes one.

TAG=mbt$(printf '%x' $$)

# free_port: a TCP port nobody listens on at 127.0.0.1, reserved for
# this test until it exits.  It is taken below the kernel's ephemeral
# range, so that no outgoing connection takes it before the server
# binds, and reserved by a file $PORTS_DIR/mailbridge-port.N holding
# the test's pid, created with O_EXCL: two tests never get the same
# port, and a reservation whose test is gone is taken over.
PORTS_DIR=${PORTS_DIR:-/run/lock}
[ -d "$PORTS_DIR" ] && [ -w "$PORTS_DIR" ] || PORTS_DIR=/tmp
free_port() {
	python3 - "$$" "$PORTS_DIR" <<'EOF'
import os, random, socket, sys
owner, d = sys.argv[1], sys.argv[2]
lo, hi = 1024, 9999
try:
    with open('/proc/sys/net/ipv4/ip_local_port_range') as f:
        first = int(f.read().split()[0])
    if first > 11000:
        lo, hi = 10000, first - 1
except (OSError, ValueError, IndexError):
    pass


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def reserve(port):
    path = '%s/mailbridge-port.%d' % (d, port)
    for _ in range(2):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            try:
                with open(path) as f:
                    pid = int(f.read().strip() or 0)
            except (OSError, ValueError):
                return False
            if pid > 0 and alive(pid):
                return False
            try:
                os.unlink(path)
            except OSError:
                return False
            continue
        os.write(fd, (owner + '\n').encode())
        os.close(fd)
        return True
    return False


rnd = random.SystemRandom()
for _ in range(1000):
    port = rnd.randint(lo, hi)
    s = socket.socket()
    try:
        s.bind(('127.0.0.1', port))
    except OSError:
        continue
    finally:
        s.close()
    if reserve(port):
        print(port)
        sys.exit(0)
sys.exit('free_port: no free port in %d-%d' % (lo, hi))
EOF
}

# _ports_release: remove the reservations this test made.
_ports_release() {
	for _f in "$PORTS_DIR"/mailbridge-port.*; do
		[ -f "$_f" ] && [ "$(cat "$_f" 2>/dev/null)" = "$$" ] &&
		    rm -f "$_f"
	done
	return 0
}

# _tagged_dead NAME: NAME is mbt<hex pid>-... of a process that is gone.
_tagged_dead() {
	_td=${1#mbt}
	_td=${_td%%-*}
	case $_td in
	''|*[!0-9a-f]*) return 1 ;;
	esac
	! kill -0 "$((0x$_td))" 2>/dev/null
}

# _sweep_accounts: the users and groups of test runs that were killed.
_sweep_accounts() {
	for _u in $(getent passwd | cut -d: -f1 | grep '^mbt[0-9a-f]*-'); do
		_tagged_dead "$_u" && userdel "$_u" 2>/dev/null
	done
	for _g in $(getent group | cut -d: -f1 | grep '^mbt[0-9a-f]*-'); do
		_tagged_dead "$_g" && groupdel "$_g" 2>/dev/null
	done
	return 0
}

# _retry_shadow COMMAND...: useradd and friends fail while another run
# holds the lock on /etc/passwd; try again for a while.
_retry_shadow() {
	_rs=0
	while ! "$@"; do
		_rs=$((_rs + 1))
		[ $_rs -lt 50 ] || return 1
		sleep 0.2
	done
}

_accounts_swept=
# test_user VAR ROLE [useradd options]: a system user $TAG-ROLE for this
# test (no home, no login shell, a group of its own); its name goes into
# VAR.  Removed at exit, with its group.
test_user() {
	_tu_var=$1
	_tu_name=$TAG-$2
	shift 2
	[ -n "$_accounts_swept" ] || { _sweep_accounts; _accounts_swept=1; }
	if getent passwd "$_tu_name" >/dev/null; then
		# left behind by a killed test that had our pid
		userdel "$_tu_name" 2>/dev/null
		groupdel "$_tu_name" 2>/dev/null
	fi
	_retry_shadow useradd -r -M -d / -s /usr/sbin/nologin -U "$@" \
	    "$_tu_name" || return 1
	at_exit "_retry_shadow userdel $_tu_name; groupdel $_tu_name"
	eval "$_tu_var=\$_tu_name"
}

# test_group VAR ROLE: a system group $TAG-ROLE, removed at exit.
test_group() {
	_tg_var=$1
	_tg_name=$TAG-$2
	[ -n "$_accounts_swept" ] || { _sweep_accounts; _accounts_swept=1; }
	getent group "$_tg_name" >/dev/null && groupdel "$_tg_name" 2>/dev/null
	_retry_shadow groupadd -r "$_tg_name" || return 1
	at_exit "_retry_shadow groupdel $_tg_name"
	eval "$_tg_var=\$_tg_name"
}

# root_dir VAR ROLE: a new directory /var/lib/$TAG-ROLE.XXXXXX owned by
# root with mode 0755, for what cannot live in $WORK (a chroot whose
# parents sshd checks); its path goes into VAR.  Removed at exit.
root_dir() {
	_rd=$(mktemp -d "/var/lib/$TAG-$2.XXXXXX") || return 1
	chmod 0755 "$_rd"
	at_exit "rm -rf '$_rd'"
	eval "$1=\$_rd"
}
