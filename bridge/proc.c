/*
 * proc.c - the master's side of the processes it execs (proc.h; the
 * processes themselves are queued.c and lookupd.c): fork, then
 * fexecve of bridged's own executable (opened before the privilege
 * drop, so a work tree the hub's user cannot search still works) with
 * "-x NAME" and the socket on descriptor 3 (or the same done by the
 * root spawner, for a process that drops root itself: the lookup
 * process when bridged was started as root); its configuration as
 * messages; for each session a socket pair whose one end goes to it
 * with what the master knows of the session (the peer address the
 * kernel gave accept()); a restart one second after a quick death, at
 * once otherwise.
 *
 * Invariants: the master never waits on one except at the first
 * start (the queue's recovery must end before any session); what it
 * sends is queued at most PROC_QUEUE deep, and a session that cannot
 * be handed over is refused, never given a process it cannot reach
 * silently.
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
#include "spawner.h"
#include "util.h"
#include "proc.h"

extern char **environ;

#define PROC_QUEUE	1024	/* messages waiting for the process */
#define PROC_QUICK	2.0	/* a death sooner after a start than this */

void
proc_init(struct proc *q, const struct proc_kind *k, int selffd, int fg,
    const char *conf_path, void (*child_setup)(void *), void *arg)
{
	memset(q, 0, sizeof(*q));
	q->k = k;
	q->conf_path = conf_path;
	q->selffd = selffd;
	q->fg = fg;
	q->ch.sock = -1;
	q->child_setup = child_setup;
	q->arg = arg;
}

/* child - in the fork: descriptor 3, default signals, exec. */
static void __attribute__((noreturn))
child(struct proc *q, int sock, int first)
{
	char *argv[8];
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
	argv[argc++] = (char *)q->k->name;
	if (q->conf_path != NULL) {
		argv[argc++] = "-c";
		argv[argc++] = (char *)q->conf_path;
	}
	if (q->fg)
		argv[argc++] = "-d";
	if (!first)
		argv[argc++] = "-R";
	argv[argc] = NULL;
	fexecve(exe, argv, environ);
	log_warn("%s process: exec", q->k->name);
	_exit(EXIT_OSERR);
}

void
proc_set_spawner(struct proc *q, struct chan *sp, uint32_t what)
{
	q->spawner = sp;
	q->spawn_what = what;
}

/*
 * spawn - ask the spawner to start it on sock (which goes with the
 * message); its pid comes with proc_spawned.  -1 when it cannot ask.
 */
static int
spawn(struct proc *q, int sock, int first)
{
	static uint32_t next;
	unsigned char buf[16];
	struct chan_wr w;

	if (q->spawner->sock == -1) {
		close(sock);
		errno = EPIPE;
		return -1;
	}
	q->spawn_id = 0x80000000U | (++next & 0x7fffffffU);
	chan_wr_init(&w, buf, sizeof(buf));
	chan_put_u32(&w, q->spawn_id);
	chan_put_u32(&w, q->spawn_what);
	chan_put_u32(&w, first ? 0 : 1);
	if (chan_queue(q->spawner, SP_START, 0, w.p, w.len, sock) == -1) {
		close(sock);
		return -1;
	}
	(void)chan_flush(q->spawner);
	return 0;
}

int
proc_spawned(struct proc *q, uint32_t id, pid_t pid)
{
	if (q->spawner == NULL || q->pid != -1 || id != q->spawn_id)
		return 0;
	if (pid > 0) {
		q->pid = pid;
		return 1;
	}
	log_warnx("%s process: the spawner could not start it", q->k->name);
	q->pid = 0;
	chan_clear(&q->ch);
	if (q->ch.sock != -1)
		close(q->ch.sock);
	q->ch.sock = -1;
	q->restart_at = time_mono() + 1;
	return 1;
}

void
proc_kill(struct proc *q, int sig)
{
	unsigned char buf[16];
	struct chan_wr w;

	if (q->pid <= 0)
		return;		/* not started yet: its end of file stops it */
	if (q->spawner == NULL) {
		(void)kill(q->pid, sig);
		return;
	}
	if (q->spawner->sock == -1)
		return;		/* the spawner has gone, and stopped it */
	chan_wr_init(&w, buf, sizeof(buf));
	chan_put_u32(&w, (uint32_t)q->pid);
	chan_put_u32(&w, (uint32_t)sig);
	if (chan_queue(q->spawner, SP_KILL, 0, w.p, w.len, -1) == 0)
		(void)chan_flush(q->spawner);
}

/* wait_ready - the first start: flush the config, wait for ready. */
static int
wait_ready(struct proc *q)
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
		if (m.type == q->k->ready)
			return 0;
	}
}

int
proc_start(struct proc *q, const struct bridge_conf *c, int first)
{
	int sv[2];
	pid_t pid;

	if (q->stopping)
		return -1;
	if (chan_pair(sv) == -1) {
		log_warn("%s process: socket pair", q->k->name);
		return -1;
	}
	if (q->spawner != NULL) {
		if (spawn(q, sv[1], first) == -1) {
			log_warn("%s process: the spawner", q->k->name);
			close(sv[0]);
			return -1;
		}
		pid = -1;
		goto started;
	}
	if ((pid = fork()) == -1) {
		log_warn("%s process: fork", q->k->name);
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		close(sv[0]);
		child(q, sv[1], first);
	}
	close(sv[1]);
started:
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	chan_init(&q->ch, sv[0], PROC_QUEUE);
	q->pid = pid;
	q->started = time_mono();
	q->restart_at = 0;
	if (q->k->configure(q, c, 1) == -1 || chan_flush(&q->ch) == -1) {
		log_warn("%s process: configuration", q->k->name);
		proc_kill(q, SIGTERM);
		return -1;
	}
	if (first && wait_ready(q) == -1) {
		log_warnx("%s process %ld did not start", q->k->name,
		    (long)pid);
		return -1;
	}
	if (!first && pid > 0)
		log_info("%s process restarted (pid %ld)", q->k->name,
		    (long)pid);
	else if (!first)
		log_info("%s process restarted", q->k->name);
	return 0;
}

int
proc_config(struct proc *q, const struct bridge_conf *c)
{
	if (q->ch.sock == -1)
		return 0;		/* it gets the list when it starts */
	if (q->k->configure(q, c, 0) == -1)
		return -1;
	return chan_flush(&q->ch) == -1 ? -1 : 0;
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
proc_session(struct proc *q, uint32_t type, const void *payload, size_t len)
{
	int sv[2];

	if (q->ch.sock == -1)
		return dead_end();
	if (chan_pair(sv) == -1) {
		log_warn("session socket pair");
		return -1;
	}
	if (chan_queue(&q->ch, type, 0, payload, len, sv[1]) == -1) {
		log_warn("%s process: handing over a session", q->k->name);
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (chan_flush(&q->ch) == -1)
		log_warn("%s process: its socket", q->k->name);
	return sv[0];
}

int
proc_send(struct proc *q, uint32_t type, const void *payload, size_t len,
    int fd)
{
	if (q->ch.sock == -1)
		return -1;
	if (chan_queue(&q->ch, type, 0, payload, len, fd) == -1)
		return -1;
	return chan_flush(&q->ch) == -1 ? -1 : 0;
}

int
proc_reaped(struct proc *q, pid_t pid, int st)
{
	double now = time_mono();

	if (q->pid <= 0 || pid != q->pid)
		return 0;
	if (!q->stopping) {
		if (WIFSIGNALED(st))
			log_warnx("%s process %ld died of signal %d; "
			    "restarting it", q->k->name, (long)pid,
			    WTERMSIG(st));
		else
			log_warnx("%s process %ld exited with %d; "
			    "restarting it", q->k->name, (long)pid,
			    WEXITSTATUS(st));
	}
	q->pid = 0;
	chan_clear(&q->ch);
	if (q->ch.sock != -1)
		close(q->ch.sock);
	q->ch.sock = -1;
	q->restart_at = now - q->started < PROC_QUICK ? now + 1 : now;
	return 1;
}

int
proc_poll(const struct proc *q, short *events)
{
	*events = POLLIN | (q->ch.queued > 0 ? POLLOUT : 0);
	return q->ch.sock;
}

void
proc_io(struct proc *q)
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
		if (m.type != q->k->ready && q->k->message != NULL)
			q->k->message(q, &m);	/* may take m.fd */
		else if (m.type != q->k->ready)
			log_warnx("%s process: unexpected message %u",
			    q->k->name, m.type);
		if (m.fd != -1)
			close(m.fd);
	}
	if (chan_flush(&q->ch) == -1)
		log_warn("%s process: its socket", q->k->name);
}

double
proc_tick(struct proc *q, const struct bridge_conf *c)
{
	double now;

	if (q->pid != 0 || q->stopping)
		return -1;
	now = time_mono();
	if (now < q->restart_at)
		return q->restart_at - now;
	if (proc_start(q, c, 0) == -1)
		q->restart_at = now + 1;
	return q->pid != 0 ? -1 : 1;
}

void
proc_stop(struct proc *q)
{
	q->stopping = 1;
	if (q->pid == -1 && q->ch.sock != -1) {
		/* its pid not known yet: its end of file stops it */
		chan_clear(&q->ch);
		close(q->ch.sock);
		q->ch.sock = -1;
	}
	proc_kill(q, SIGTERM);
}

void
proc_close_child(struct proc *q)
{
	if (q->ch.sock != -1)
		close(q->ch.sock);
}

void
proc_child_signals(void (*on_stop)(int), sigset_t *waitmask)
{
	struct sigaction act;
	sigset_t block;

	memset(&act, 0, sizeof(act));
	sigemptyset(&act.sa_mask);
	act.sa_handler = on_stop;
	sigaction(SIGTERM, &act, NULL);
	sigaction(SIGINT, &act, NULL);
	act.sa_handler = SIG_IGN;
	sigaction(SIGHUP, &act, NULL);
	sigaction(SIGPIPE, &act, NULL);
	act.sa_handler = SIG_DFL;
	sigaction(SIGCHLD, &act, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, waitmask);
	sigdelset(waitmask, SIGTERM);
	sigdelset(waitmask, SIGINT);
}
