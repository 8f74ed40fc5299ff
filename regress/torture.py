#!/usr/bin/env python3
# torture.py - crash points and a filling disk under intake, against the
# real hub (make torture, regress/torture.t; a smoke run in
# regress/26-torture-smoke.t).  Client threads send messages over SMTP,
# LMTP and bridge-enqueue (one or two customers' copies each, sizes
# from a few hundred octets to 300 KB, dot lines included) and retry
# what got no 2xx with the same message, as an MTA would; meanwhile
#   kill:  SIGKILL goes, at random moments, to a session, the lookup,
#          the queue process, the master, or a bridge-enqueue client
#          (a dead master is restarted, its leftover children killed
#          first when they outlive it);
#   disk:  the spool's small filesystem is filled at random moments,
#          below min-free or to the last block, and emptied again.
# In rounds: after each, the hub is stopped, restarted (recovery) and
# stopped, and an independent checker (qcheck.py, this file) reads
# every entry: each acknowledged copy must be there byte for byte
# (the message minus the hub's Received: field is what was sent, the
# envelope names its sender and recipient), nothing may be in tmp/ or
# corrupt/; a copy queued more than once is a duplicate.  The spool is
# then emptied for the next round.  Bounded: a number of kills or
# fills, and a deadline; figures as key=value on stdout.
#
# Usage: torture.py kill|disk CONF SPOOL PORT LMTP USER LOG COUNT SECONDS
#   environment: TORTURE_SEED (default: the pid), TORTURE_FILLDIR (disk:
#   a directory on the spool's filesystem), TORTURE_MINFREE (disk: the
#   config's min-free in octets)
# Runs bridged (from PATH) as USER, not as root: then every process of
# the hub runs as that user and needs no other account.

import os
import pwd
import random
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qcheck

CUSTOMERS = ('acme', 'ship')
SENDER = 'torture@example.org'


def message(mid):
    """The message with id mid, CRLF line ends, always the same."""
    r = random.Random(mid)
    head = ('From: torture <%s>\r\nTo: <%s@acme.example>\r\n'
            'Subject: %s\r\nDate: Thu, 03 Dec 2026 12:00:00 +0000\r\n'
            'Message-ID: <%s@torture.test>\r\n\r\n' %
            (SENDER, mid, mid, mid)).encode()
    size = r.choice((300, 2000, 9000, 30000, 70000, 140000, 300000))
    size = r.randint(size // 2, size)
    lines, n = [], len(head)
    while n < size:
        k = r.random()
        if k < 0.05:
            ln = b'.'
        elif k < 0.1:
            ln = b'.' + mid.encode() + b' dot-stuffed'
        elif k < 0.15:
            ln = b''
        else:
            ln = ('%s %d ' % (mid, n)).encode() * r.randint(1, 9)
            ln = ln[:998]
        lines.append(ln)
        n += len(ln) + 2
    return head + b'\r\n'.join(lines) + b'\r\n'


class Peer:
    """A minimal SMTP/LMTP client: one reply per read, multi-line."""

    def __init__(self, addr, lmtp, timeout=30):
        if isinstance(addr, str):
            self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        else:
            self.s = socket.socket()
        self.s.settimeout(timeout)
        self.s.connect(addr)
        self.f = self.s.makefile('rb')
        self.lmtp = lmtp

    def reply(self):
        code, text = None, []
        while True:
            ln = self.f.readline(2048)
            if not ln.endswith(b'\n'):
                raise ConnectionError('connection closed')
            code = int(ln[:3])
            text.append(ln[4:].decode('latin-1').strip())
            if ln[3:4] != b'-':
                return code, ' '.join(text)

    def cmd(self, line):
        self.s.sendall(line.encode() + b'\r\n')
        return self.reply()

    def hello(self):
        c, t = self.reply()
        if c != 220:
            raise ConnectionError('greeting %d %s' % (c, t))
        c, t = self.cmd(('LHLO' if self.lmtp else 'EHLO') + ' torture.test')
        if c != 250:
            raise ConnectionError('hello %d %s' % (c, t))

    def data(self, msg):
        stuffed = b'\r\n'.join(b'.' + l if l.startswith(b'.') else l
                               for l in msg[:-2].split(b'\r\n'))
        self.s.sendall(stuffed + b'\r\n.\r\n')

    def close(self):
        try:
            self.s.sendall(b'QUIT\r\n')
        except OSError:
            pass
        self.s.close()


class Load:
    """The client threads and what the hub acknowledged to them."""

    def __init__(self, t, nthreads):
        self.t = t
        self.lock = threading.Lock()
        self.acked = {}		# (mid, customer) -> acknowledgements
        self.replies = {}	# code -> count, for refusals
        self.errors = 0		# connections broken, no reply
        self.retry = []		# (mid, rcpts) waiting to be sent again
        self.enq = set()	# live bridge-enqueue pids
        self.stop = threading.Event()
        self.serial = 0
        self.sent = {}		# mid -> customers it is for
        self.threads = [threading.Thread(target=self.run, args=(i,),
                                         daemon=True)
                        for i in range(nthreads)]

    def start(self):
        for th in self.threads:
            th.start()

    def join(self, seconds):
        self.stop.set()
        end = time.monotonic() + seconds
        for th in self.threads:
            th.join(max(0.1, end - time.monotonic()))
        return all(not th.is_alive() for th in self.threads)

    def note(self, code):
        with self.lock:
            self.replies[code] = self.replies.get(code, 0) + 1

    def ack(self, mid, cu):
        with self.lock:
            self.acked[(mid, cu)] = self.acked.get((mid, cu), 0) + 1

    def next_job(self, r):
        with self.lock:
            if self.retry and r.random() < 0.7:
                return self.retry.pop(r.randrange(len(self.retry)))
            self.serial += 1
            mid = 't%s%06d' % (self.t.tag, self.serial)
            cus = r.choice((('acme',), ('ship',), ('acme', 'ship')))
            self.sent[mid] = cus
            return mid, cus

    def again(self, mid, cus):
        if cus:
            with self.lock:
                self.retry.append((mid, tuple(cus)))

    def run(self, i):
        r = random.Random('%s-%d' % (self.t.seed, i))
        while not self.stop.is_set():
            kind = r.choice(('smtp', 'smtp', 'lmtp', 'enqueue'))
            try:
                if kind == 'enqueue':
                    self.enqueue(r)
                else:
                    self.session(r, kind == 'lmtp')
            except Exception as ex:	# a crash point: counted, not fatal
                with self.lock:
                    self.errors += 1
                time.sleep(0.02)

    def session(self, r, lmtp):
        if lmtp:
            p = Peer(self.t.lmtp, True)
        else:
            p = Peer(('127.0.0.1', self.t.port), False)
        job = None
        try:
            p.hello()
            for _ in range(r.randint(1, 4)):
                if self.stop.is_set():
                    break
                mid, cus = self.next_job(r)
                job = (mid, list(cus))
                ok = self.transaction(p, mid, job[1])
                job = None
                if not ok:		# a 4xx: come back later, as an MTA
                    time.sleep(0.02)
                    break
        finally:
            if job is not None:
                self.again(*job)
            p.close()

    def transaction(self, p, mid, cus):
        """Send mid to the customers in cus, retry later what was not
        acknowledged; False after a refusal."""
        c, t = p.cmd('MAIL FROM:<%s>' % SENDER)
        if c != 250:
            self.note(c)
            self.again(mid, cus)
            del cus[:]
            return False
        took = []
        for cu in cus:
            c, t = p.cmd('RCPT TO:<%s@%s.example>' % (mid, cu))
            if c == 250:
                took.append(cu)
            else:
                self.note(c)
        if not took:
            self.again(mid, cus)
            del cus[:]
            return False
        c, t = p.cmd('DATA')
        if c != 354:
            self.note(c)
            self.again(mid, cus)
            del cus[:]
            return False
        p.data(self.t.msg(mid))
        refused = len(took) < len(cus)
        for cu in (took if p.lmtp else [None]):
            c, t = p.reply()
            if c != 250:
                self.note(c)
                refused = True
                continue
            for got in ((cu,) if p.lmtp else took):
                self.ack(mid, got)
                cus.remove(got)
        self.again(mid, cus)
        del cus[:]
        return not refused

    def enqueue(self, r):
        mid, cus = self.next_job(r)
        argv = ['bridge-enqueue', '-c', self.t.conf, '-f', SENDER, '--']
        argv += ['%s@%s.example' % (mid, cu) for cu in cus]
        pr = subprocess.Popen(argv, stdin=subprocess.PIPE,
                              stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
        with self.lock:
            self.enq.add(pr.pid)
        try:
            _, err = pr.communicate(self.t.msg(mid).replace(b'\r\n', b'\n'),
                                    timeout=60)
        except (BrokenPipeError, subprocess.TimeoutExpired):
            pr.kill()
            pr.wait()
            err = b''
        with self.lock:
            self.enq.discard(pr.pid)
        if pr.returncode == 0:
            for cu in cus:
                self.ack(mid, cu)
            return
        self.note('enqueue-%s' % (pr.returncode if pr.returncode >= 0 else
                                  'killed'))
        self.again(mid, cus)


def procs():
    """pid -> (ppid, pgid, argv) of every process."""
    out = {}
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % d) as f:
                st = f.read()
            with open('/proc/%s/cmdline' % d, 'rb') as f:
                argv = f.read().split(b'\0')
        except OSError:
            continue
        rest = st[st.rindex(')') + 2:].split()
        if rest[0] == 'Z':
            continue
        out[int(d)] = (int(rest[1]), int(rest[2]),
                       [a.decode('latin-1') for a in argv])
    return out


class Torture:
    def __init__(self, argv):
        (self.mode, self.conf, self.spool, port, self.lmtp,
         user, self.log, count, seconds) = argv
        self.port = int(port)
        self.count = int(count)
        self.deadline = time.monotonic() + float(seconds)
        self.seed = os.environ.get('TORTURE_SEED', str(os.getpid()))
        self.filldir = os.environ.get('TORTURE_FILLDIR')
        self.tag = '%x' % (abs(hash(self.seed)) % 0xfffff)
        self.pw = pwd.getpwnam(user)
        self.r = random.Random(self.seed)
        self.master = None
        self.msgs = {}
        self.kills = {}
        self.outlived = 0
        self.restarts = 0
        self.fig = {'acked': 0, 'checked': 0, 'lost': 0, 'corrupt': 0,
                    'dup': 0, 'unacked_queued': 0, 'tmp_left': 0,
                    'corrupt_dir': 0, 'rounds': 0}
        self.fills = {}
        self.bad = []

    def msg(self, mid):
        m = self.msgs.get(mid)
        if m is None:
            m = self.msgs[mid] = message(mid)
        return m

    # the hub -----------------------------------------------------------

    def started_lines(self):
        try:
            with open(self.log, 'rb') as f:
                return f.read().count(b' started: ')
        except OSError:
            return 0

    def hub_start(self):
        before = self.started_lines()
        pw = self.pw

        def drop():
            os.setsid()
            os.setgroups([])
            os.setgid(pw.pw_gid)
            os.setuid(pw.pw_uid)
        logf = open(self.log, 'ab')
        self.master = subprocess.Popen(['bridged', '-d', '-c', self.conf],
                                       stdout=logf, stderr=logf,
                                       preexec_fn=drop, cwd='/')
        logf.close()
        end = time.monotonic() + 30
        while time.monotonic() < end:
            if self.master.poll() is not None:
                raise RuntimeError('bridged exited with %d at start' %
                                   self.master.returncode)
            if self.started_lines() > before:
                try:
                    socket.create_connection(('127.0.0.1', self.port),
                                             1).close()
                    return
                except OSError:
                    pass
            time.sleep(0.02)
        raise RuntimeError('bridged did not start in 30 s')

    def group(self):
        if self.master is None:
            return []
        pg = self.master.pid
        return [p for p, (pp, g, a) in procs().items() if g == pg]

    def hub_gone(self, seconds):
        """Wait until no process of the hub's group is left; then kill
        what is.  True when none had to be killed."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if not self.group():
                self.master.wait()
                return True
            self.master.poll()
            time.sleep(0.02)
        try:
            os.killpg(self.master.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.master.wait()
        while self.group():
            time.sleep(0.02)
        return False

    def hub_stop(self):
        self.master.send_signal(signal.SIGTERM)
        if not self.hub_gone(20):
            self.bad.append('the hub did not stop in 20 s on SIGTERM')
        self.master = None

    def children(self, what):
        m = self.master.pid
        return [p for p, (pp, g, a) in procs().items()
                if pp == m and '-x' in a and a[a.index('-x') + 1:][:1] ==
                [what]]

    # kill ----------------------------------------------------------------

    KINDS = (('session', 35), ('lookup', 15), ('queue', 20),
             ('master', 15), ('enqueue', 15))

    def kill_one(self, load):
        """One SIGKILL; every kind is taken once before the weights
        choose, so that a short run kills each."""
        first = sorted(k for k, w in self.KINDS if k not in self.kills)
        kind = self.r.choice(first or
                             [k for k, w in self.KINDS for _ in range(w)])
        if kind == 'master':
            pids = [self.master.pid]
        elif kind == 'enqueue':
            with load.lock:
                pids = sorted(load.enq)
        else:
            pids = self.children(kind)
        if not pids:
            return False
        try:
            os.kill(self.r.choice(pids), signal.SIGKILL)
        except ProcessLookupError:
            return False
        self.kills[kind] = self.kills.get(kind, 0) + 1
        if kind == 'master':
            if not self.hub_gone(3):
                self.outlived += 1
            self.hub_start()
            self.restarts += 1
        return True

    def kill_round(self, n):
        load = Load(self, 6)
        self.hub_start()
        load.start()
        done = 0
        while done < n and time.monotonic() < self.deadline:
            time.sleep(self.r.uniform(0.02, 0.2))
            if self.kill_one(load):
                done += 1
        self.end_round(load)
        return done

    # disk ----------------------------------------------------------------

    def fill(self, path, free_target):
        """Write path until the filesystem has at most free_target
        octets free (or none)."""
        chunk = b'\0' * 65536
        with open(path, 'ab') as f:
            while True:
                st = os.statvfs(self.filldir)
                free = st.f_bavail * st.f_frsize
                if free <= free_target:
                    break
                try:
                    f.write(chunk[:max(4096, min(65536,
                                                 free - free_target))])
                    f.flush()
                except OSError:
                    break

    def disk_round(self, n, minfree):
        load = Load(self, 6)
        self.hub_start()
        load.start()
        path = os.path.join(self.filldir, 'fill')
        done = 0
        while done < n and time.monotonic() < self.deadline:
            time.sleep(self.r.uniform(0.03, 0.25))
            k = self.r.random()
            if k < 0.4:
                what, target = 'full', 0
            elif k < 0.8:
                what, target = 'below-min-free', self.r.randint(0, minfree)
            else:
                what, target = 'above-min-free', minfree + (1 << 20)
            with load.lock:
                seen = sum(load.replies.values())
            self.fill(path, target)
            self.fills[what] = self.fills.get(what, 0) + 1
            time.sleep(self.r.uniform(0.03, 0.25))
            # a short disk is refused at least once before it is freed
            end = time.monotonic() + 2
            while what != 'above-min-free' and time.monotonic() < end:
                with load.lock:
                    if sum(load.replies.values()) > seen:
                        break
                time.sleep(0.01)
            os.unlink(path)
            done += 1
        self.end_round(load)
        return done

    # a round's end: stop, recover, check, empty ------------------------

    def end_round(self, load):
        if not load.join(90):
            self.bad.append('client threads still running 90 s after '
                            'the round')
        self.hub_stop()
        self.hub_start()
        self.hub_stop()
        self.check(load)
        self.fig['rounds'] += 1
        for code, n in load.replies.items():
            k = 'reply_%s' % code
            self.fig[k] = self.fig.get(k, 0) + n
        self.fig['broken'] = self.fig.get('broken', 0) + load.errors
        self.msgs = {}

    def check(self, load):
        queued = {}
        for cu in CUSTOMERS:
            self.fig['tmp_left'] += len(qcheck.names(self.spool, cu, 'tmp'))
            self.fig['corrupt_dir'] += len(qcheck.names(self.spool, cu,
                                                        'corrupt'))
            good, bad = qcheck.entries(self.spool, cu)
            for b in bad:
                self.fig['corrupt'] += 1
                self.bad.append('unreadable entry: %s' % b)
            for e in good:
                mid = e.rcpts[0].split('@')[0] if e.rcpts else ''
                if not self.whole(e, cu, mid, load):
                    self.fig['corrupt'] += 1
                    continue
                queued[(mid, cu)] = queued.get((mid, cu), 0) + 1
            for n in qcheck.names(self.spool, cu):
                os.unlink(os.path.join(qcheck.qdir(self.spool, cu), n))
        for key, n in load.acked.items():
            self.fig['acked'] += 1
            if key not in queued:
                self.fig['lost'] += 1
                self.bad.append('%s for %s: acknowledged, not queued' % key)
        for key, n in queued.items():
            self.fig['checked'] += 1
            self.fig['dup'] += n - 1
            if key not in load.acked:
                self.fig['unacked_queued'] += 1

    def whole(self, e, cu, mid, load):
        why = None
        if load.sent.get(mid) is None or cu not in load.sent[mid]:
            why = 'a message never sent to %s' % cu
        elif e.rcpts != ['%s@%s.example' % (mid, cu)]:
            why = 'recipients %r' % e.rcpts
        elif e.sender != SENDER:
            why = 'sender %r' % e.sender
        else:
            try:
                if e.without_received() != self.msg(mid):
                    why = 'the message differs from what was sent'
            except qcheck.QError as ex:
                why = str(ex)
        if why:
            self.bad.append('%s: %s' % (e.path, why))
        return why is None

    def report(self, kind, done):
        f = dict(self.fig)
        f[kind] = done
        for k, v in sorted(self.kills.items()):
            f['kill_' + k] = v
        for k, v in sorted(self.fills.items()):
            f['fill_' + k] = v
        f['master_restarts'] = self.restarts
        f['children_outlived_master'] = self.outlived
        for b in self.bad[:30]:
            print('# %s' % b)
        print(' '.join('%s=%s' % (k, v) for k, v in sorted(f.items())))


def main(argv):
    if len(argv) != 10 or argv[1] not in ('kill', 'disk'):
        print('usage: see the head of torture.py', file=sys.stderr)
        return 64
    t = Torture(argv[1:])
    done, per = 0, 50
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
    try:
        if t.mode == 'kill':
            while done < t.count and time.monotonic() < t.deadline:
                done += t.kill_round(min(per, t.count - done))
        else:
            minfree = int(os.environ.get('TORTURE_MINFREE', 10 << 20))
            while done < t.count and time.monotonic() < t.deadline:
                done += t.disk_round(min(per, t.count - done), minfree)
    finally:
        if t.master is not None and t.master.poll() is None:
            try:
                os.killpg(t.master.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    t.report('kills' if t.mode == 'kill' else 'fills', done)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
