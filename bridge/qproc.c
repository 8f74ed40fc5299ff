/*
 * qproc.c - the master's side of the queue process (qproc.h, the
 * process itself is queued.c): fork, then fexecve of bridged's own
 * executable (opened before the privilege drop, so a work tree the
 * hub's user cannot search still works) with "-x queue" and the socket
 * on descriptor 3; the customer list as QM_CONFIG messages; for each
 * session a socket pair whose one end goes to the queue with the peer
 * address the kernel gave accept(); a restart one second after a
 * quick death, at once otherwise.
 *
 * Invariants: the master never waits on the queue except at the first
 * start (recovery must end before any session); what it sends is
 * queued at most QPROC_QUEUE deep, and a session that cannot be handed
 * over is refused, never given a queue it cannot reach silently.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "qproto.h"
#include "util.h"
#include "qproc.h"

extern char **environ;

#define QPROC_QUEUE	1024	/* messages waiting for the queue */
#define QPROC_QUICK	2.0	/* a death sooner after a start than this */

void
qproc_init(struct qproc *q, int selffd, int fg, void (*child_setup)(void *),
    void *arg)
{
	memset(q, 0, sizeof(*q));
	q->selffd = selffd;
	q->fg = fg;
	q->ch.sock = -1;
	q->child_setup = child_setup;
	q->arg = arg;
}

/* child - in the fork: descriptor 3, default signals, exec. */
static void __attribute__((noreturn))
child(struct qproc *q, int sock, int first)
{
	char *argv[6];
	int argc = 0, exe;
	sigset_t none;

	/* child_setup closes the master's copy of the executable's fd */
	if ((exe = fcntl(q->selffd, F_DUPFD_CLOEXEC, 4)) == -1 ||
	    (sock = fcntl(sock, F_DUPFD_CLOEXEC, 4)) == -1)
		_exit(EXIT_OSERR);
	if (q->child_setup != NULL)
		q->child_setup(q->arg);
	if (dup2(sock, 3) == -1)	/* not close-on-exec */
		_exit(EXIT_OSERR);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	argv[argc++] = "bridged";
	argv[argc++] = "-x";
	argv[argc++] = "queue";
	if (q->fg)
		argv[argc++] = "-d";
	if (!first)
		argv[argc++] = "-R";
	argv[argc] = NULL;
	fexecve(exe, argv, environ);
	log_warn("queue process: exec");
	_exit(EXIT_OSERR);
}

/* send_config - QM_CONFIG messages for the whole customer list. */
static int
send_config(struct qproc *q, const struct bridge_conf *c)
{
	static unsigned char buf[CHAN_MAX];
	struct chan_wr w;
	size_t room;
	int i = 0, j, first = 1;

	do {
		/* the names that fit after the fixed fields */
		room = CHAN_MAX - 4 * 4 - 8 - 4 - strlen(c->spool);
		for (j = i; j < c->ncustomers &&
		    4 + strlen(c->customers[j].name) <= room; j++)
			room -= 4 + strlen(c->customers[j].name);
		chan_wr_init(&w, buf, sizeof(buf));
		chan_put_u32(&w, (uint32_t)first);
		chan_put_u32(&w, (uint32_t)(j >= c->ncustomers));
		chan_put_str(&w, c->spool);
		chan_put_u64(&w, c->smtp.max_size);
		chan_put_u32(&w, (uint32_t)(j - i));
		for (; i < j; i++)
			chan_put_str(&w, c->customers[i].name);
		if (w.err) {
			errno = EMSGSIZE;
			return -1;
		}
		if (chan_queue(&q->ch, QM_CONFIG, 0, w.p, w.len, -1) == -1)
			return -1;
		first = 0;
	} while (i < c->ncustomers);
	return chan_flush(&q->ch) == -1 ? -1 : 0;
}

/* wait_ready - the first start: flush the config, wait for QM_READY. */
static int
wait_ready(struct qproc *q)
{
	static struct chan_msg m;
	struct pollfd pfd;
	int n;

	for (;;) {
		pfd.fd = q->ch.sock;
		pfd.events = POLLIN | (q->ch.queued > 0 ? POLLOUT : 0);
		if (poll(&pfd, 1, -1) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if ((pfd.revents & POLLOUT) && chan_flush(&q->ch) == -1)
			return -1;
		if (!(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		if ((n = chan_recv(q->ch.sock, &m)) == -1 && (errno == EAGAIN ||
		    errno == EINTR))
			continue;
		if (n <= 0)
			return -1;
		if (m.fd != -1)
			close(m.fd);
		if (m.type == QM_READY)
			return 0;
	}
}

int
qproc_start(struct qproc *q, const struct bridge_conf *c, int first)
{
	int sv[2];
	pid_t pid;

	if (q->stopping)
		return -1;
	if (chan_pair(sv) == -1) {
		log_warn("queue process: socket pair");
		return -1;
	}
	if ((pid = fork()) == -1) {
		log_warn("queue process: fork");
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		close(sv[0]);
		child(q, sv[1], first);
	}
	close(sv[1]);
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	chan_init(&q->ch, sv[0], QPROC_QUEUE);
	q->pid = pid;
	q->started = time_mono();
	q->restart_at = 0;
	if (send_config(q, c) == -1) {
		log_warn("queue process: configuration");
		kill(pid, SIGTERM);
		return -1;
	}
	if (first && wait_ready(q) == -1) {
		log_warnx("queue process %ld did not start", (long)pid);
		return -1;
	}
	if (!first)
		log_info("queue process restarted (pid %ld)", (long)pid);
	return 0;
}

int
qproc_config(struct qproc *q, const struct bridge_conf *c)
{
	if (q->ch.sock == -1)
		return 0;		/* it gets the list when it starts */
	return send_config(q, c);
}

/* dead_end - a socket whose peer is gone: the session's 451. */
static int
dead_end(void)
{
	int sv[2];

	if (chan_pair(sv) == -1)
		return -1;
	close(sv[1]);
	return sv[0];
}

int
qproc_session(struct qproc *q, const char *peer)
{
	unsigned char buf[128];
	struct chan_wr w;
	uint32_t serial;
	int sv[2];

	if (q->ch.sock == -1)
		return dead_end();
	if (chan_pair(sv) == -1) {
		log_warn("session socket pair");
		return -1;
	}
	serial = ++q->serial;
	chan_wr_init(&w, buf, sizeof(buf));
	chan_put_u32(&w, serial);
	chan_put_str(&w, peer);
	if (chan_queue(&q->ch, QM_CLIENT, 0, w.p, w.len, sv[1]) == -1) {
		log_warn("queue process: handing over a session");
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (chan_flush(&q->ch) == -1)
		log_warn("queue process: its socket");
	return sv[0];
}

int
qproc_reaped(struct qproc *q, pid_t pid, int st)
{
	double now = time_mono();

	if (q->pid == 0 || pid != q->pid)
		return 0;
	if (!q->stopping) {
		if (WIFSIGNALED(st))
			log_warnx("queue process %ld died of signal %d; "
			    "restarting it", (long)pid, WTERMSIG(st));
		else
			log_warnx("queue process %ld exited with %d; "
			    "restarting it", (long)pid, WEXITSTATUS(st));
	}
	q->pid = 0;
	chan_clear(&q->ch);
	if (q->ch.sock != -1)
		close(q->ch.sock);
	q->ch.sock = -1;
	q->restart_at = now - q->started < QPROC_QUICK ? now + 1 : now;
	return 1;
}

int
qproc_poll(const struct qproc *q, short *events)
{
	*events = POLLIN | (q->ch.queued > 0 ? POLLOUT : 0);
	return q->ch.sock;
}

void
qproc_io(struct qproc *q)
{
	static struct chan_msg m;
	int i, n;

	if (q->ch.sock == -1)
		return;
	for (i = 0; i < 16; i++) {
		n = chan_recv(q->ch.sock, &m);
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK ||
		    errno == EINTR))
			break;
		if (n <= 0) {
			/* gone: reaped soon; stop handing sessions to it */
			chan_clear(&q->ch);
			close(q->ch.sock);
			q->ch.sock = -1;
			return;
		}
		if (m.fd != -1)
			close(m.fd);
		if (m.type != QM_READY)
			log_warnx("queue process: unexpected message %u",
			    m.type);
	}
	if (chan_flush(&q->ch) == -1)
		log_warn("queue process: its socket");
}

double
qproc_tick(struct qproc *q, const struct bridge_conf *c)
{
	double now;

	if (q->pid != 0 || q->stopping)
		return -1;
	now = time_mono();
	if (now < q->restart_at)
		return q->restart_at - now;
	if (qproc_start(q, c, 0) == -1)
		q->restart_at = now + 1;
	return q->pid != 0 ? -1 : 1;
}

void
qproc_stop(struct qproc *q)
{
	q->stopping = 1;
	if (q->pid != 0)
		kill(q->pid, SIGTERM);
}

void
qproc_close_child(struct qproc *q)
{
	if (q->ch.sock != -1)
		close(q->ch.sock);
	if (q->selffd != -1)
		close(q->selffd);
}
