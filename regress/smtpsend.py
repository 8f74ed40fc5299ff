#!/usr/bin/env python3
# smtpsend.py - an SMTP client for the integration tests that knows,
# message by message, what the server answered.  Several connections
# in parallel, several messages per connection; each message is sent
# with CRLF line ends and dot-stuffed (smtplib), and its outcome is
# written to the log the moment the final reply arrives, so a test
# that kills the server knows exactly which messages got a 250.
#
# Usage: smtpsend.py -s HOST:PORT -f SENDER -j JOBS -o LOG
#                    [-c CONNECTIONS] [-m PER-CONNECTION] [-t SECONDS]
#                    [-k COUNT:PGID]
# JOBS: one message per line, tab-separated: ID, SOURCE, RCPT[,RCPT...]
#   SOURCE is a file (LF or CRLF line ends) or "gen:SIZE": a generated
#   message with Message-ID <ID@smtpsend.test>, Subject ID, and about
#   SIZE octets of body.
# LOG: one line per message: ID, then 250 (accepted), the reply code of
#   a refusal, "lost" (the connection broke before the final reply) or
#   "unsent" (no connection could be made), then detail.
# -k: send SIGKILL to process group PGID right after the COUNT-th 250
#   is logged, while the other connections are in the middle of their
#   transactions (a crash test).
# Summary on stdout: sent=N accepted=A refused=R lost=L unsent=U.

import getopt
import os
import queue
import signal
import smtplib
import socket
import sys
import threading


def load(source, mid):
    if source.startswith('gen:'):
        size = int(source[4:])
        head = ('From: smtpsend <sender@example.org>\r\n'
                'To: test <rcpt@example.org>\r\n'
                'Subject: %s\r\n'
                'Message-ID: <%s@smtpsend.test>\r\n'
                '\r\n' % (mid, mid)).encode()
        line = (mid + ' ').encode() * 8
        line = line[:70] + b'\r\n'
        body = b''
        while len(head) + len(body) < size:
            body += line
        return head + body
    with open(source, 'rb') as f:
        data = f.read()
    data = data.replace(b'\r\n', b'\n').replace(b'\n', b'\r\n')
    if not data.endswith(b'\r\n'):
        data += b'\r\n'
    return data


class Sender:
    def __init__(self, host, port, sender, jobs, log, per_conn, timeout,
                 kill_after=0, kill_pgid=0):
        self.host, self.port = host, port
        self.sender = sender
        self.jobs = jobs
        self.logf = log
        self.per_conn = per_conn
        self.timeout = timeout
        self.kill_after, self.kill_pgid = kill_after, kill_pgid
        self.lock = threading.Lock()
        self.counts = {'sent': 0, 'accepted': 0, 'refused': 0, 'lost': 0,
                       'unsent': 0}

    def record(self, mid, status, detail=''):
        detail = ' '.join(str(detail).split())
        with self.lock:
            self.logf.write('%s\t%s\t%s\n' % (mid, status, detail))
            self.logf.flush()
            if status == '250':
                self.counts['accepted'] += 1
                if self.counts['accepted'] == self.kill_after:
                    os.killpg(self.kill_pgid, signal.SIGKILL)
            elif status == 'lost':
                self.counts['lost'] += 1
            elif status == 'unsent':
                self.counts['unsent'] += 1
            else:
                self.counts['refused'] += 1
            if status != 'unsent':
                self.counts['sent'] += 1

    def connect(self):
        s = smtplib.SMTP(timeout=self.timeout)
        s.connect(self.host, self.port)
        s.ehlo('smtpsend.test')
        return s

    def one(self, s, mid, source, rcpts):
        msg = load(source, mid)
        opts = []
        if s.has_extn('8bitmime') and any(b > 127 for b in msg):
            opts.append('BODY=8BITMIME')
        try:
            refused = s.sendmail(self.sender, rcpts, msg, mail_options=opts)
        except smtplib.SMTPRecipientsRefused as ex:
            codes = sorted({str(v[0]) for v in ex.recipients.values()})
            self.record(mid, codes[0], ex.recipients)
            return True
        except smtplib.SMTPResponseException as ex:
            self.record(mid, str(ex.smtp_code), ex.smtp_error)
            return ex.smtp_code != 421
        except (smtplib.SMTPServerDisconnected, OSError) as ex:
            self.record(mid, 'lost', ex)
            return False
        self.record(mid, '250', refused or '')
        return True

    def worker(self):
        s, n = None, 0
        while True:
            try:
                mid, source, rcpts = self.jobs.get_nowait()
            except queue.Empty:
                break
            if s is None:
                try:
                    s, n = self.connect(), 0
                except (OSError, smtplib.SMTPException) as ex:
                    self.record(mid, 'unsent', ex)
                    continue
            if not self.one(s, mid, source, rcpts):
                try:
                    s.close()
                except OSError:
                    pass
                s = None
                continue
            n += 1
            if n >= self.per_conn:
                try:
                    s.quit()
                except (OSError, smtplib.SMTPException):
                    s.close()
                s = None
        if s is not None:
            try:
                s.quit()
            except (OSError, smtplib.SMTPException):
                s.close()


def main(argv):
    opts, args = getopt.getopt(argv, 's:f:j:o:c:m:t:k:')
    o = dict(opts)
    kill_after, kill_pgid = 0, 0
    if '-k' in o:
        kill_after, kill_pgid = (int(x) for x in o['-k'].split(':'))
    host, port = o['-s'].rsplit(':', 1)
    jobs = queue.Queue()
    with open(o['-j']) as f:
        for line in f:
            line = line.rstrip('\n')
            if not line:
                continue
            mid, source, rcpts = line.split('\t')
            jobs.put((mid, source, rcpts.split(',')))
    with open(o['-o'], 'w') as log:
        snd = Sender(host, int(port), o.get('-f', 'sender@example.org'),
                     jobs, log, int(o.get('-m', '20')),
                     float(o.get('-t', '60')), kill_after, kill_pgid)
        ts = [threading.Thread(target=snd.worker)
              for _ in range(int(o.get('-c', '4')))]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    print(' '.join('%s=%d' % (k, v) for k, v in snd.counts.items()))
    return 0


if __name__ == '__main__':
    socket.setdefaulttimeout(60)
    sys.exit(main(sys.argv[1:]))
