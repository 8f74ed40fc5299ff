/*
 * spawner.c - bridged's root process (spawner.h): a poll loop on its
 * socket to the master; per SP_START a fork and an exec of bridged
 * itself as "bridged -x session" or "bridged -x lookup" with the
 * master's socket as descriptor 3 (each drops root itself once it has
 * read its configuration: sessiond.c, lookupd.c); SP_KILL to the
 * processes it started; SP_EXITED for each it reaped.
 *
 * Invariants: it holds no listener, no pidfile, nothing of the spool;
 * the only descriptors it gives a child are the one that came with
 * SP_START and bridged's executable; it signals no process but its
 * own children; it never blocks on the master but in a send, which the
 * master's loop always drains.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chan.h"
#include "log.h"
#include "util.h"
#include "spawner.h"

extern char **environ;

static volatile sig_atomic_t got_chld, got_term;

static void
on_chld(int sig)
{
	(void)sig;
	got_chld = 1;
}

static void
on_term(int sig)
{
	(void)sig;
	got_term = 1;
}

struct kids {
	pid_t  *v;
	int	n, a;
};

static int
kid_index(const struct kids *k, pid_t pid)
{
	int i;

	for (i = 0; i < k->n; i++)
		if (k->v[i] == pid)
			return i;
	return -1;
}

/* kid_room - room for one more; -1 without memory. */
static int
kid_room(struct kids *k)
{
	pid_t *v;
	int a;

	if (k->n == k->a) {
		a = k->a ? k->a * 2 : 64;
		if ((v = realloc(k->v, (size_t)a * sizeof(*v))) == NULL)
			return -1;
		k->v = v;
		k->a = a;
	}
	return 0;
}

/* child - in the fork: default signals, descriptor 3, exec. */
static void __attribute__((noreturn))
child(const struct spawner_args *a, int fd, uint32_t what, int restarted)
{
	static const int sigs[] = { SIGCHLD, SIGTERM, SIGHUP, SIGINT,
	    SIGPIPE };
	struct sigaction act;
	char *argv[8];
	sigset_t none;
	size_t i;
	int argc = 0, exe;

	memset(&act, 0, sizeof(act));
	sigemptyset(&act.sa_mask);
	act.sa_handler = SIG_DFL;
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &act, NULL);
	if ((exe = fcntl(a->selffd, F_DUPFD_CLOEXEC, 4)) == -1 ||
	    (fd = fcntl(fd, F_DUPFD_CLOEXEC, 4)) == -1 || dup2(fd, 3) == -1)
		_exit(EXIT_OSERR);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	argv[argc++] = "bridged";
	argv[argc++] = "-x";
	argv[argc++] = what == SPAWN_LOOKUP ? "lookup" : "session";
	argv[argc++] = "-c";
	argv[argc++] = (char *)a->conf_path;
	if (a->fg)
		argv[argc++] = "-d";
	if (restarted)
		argv[argc++] = "-R";
	argv[argc] = NULL;
	fexecve(exe, argv, environ);
	log_warn("spawner: exec of a %s process", argv[2]);
	_exit(EXIT_OSERR);
}

/* say - one message to the master; it drains its socket always. */
static void
say(int sock, uint32_t type, uint32_t a, uint32_t b)
{
	unsigned char buf[16];
	struct chan_wr w;

	chan_wr_init(&w, buf, sizeof(buf));
	chan_put_u32(&w, a);
	chan_put_u32(&w, b);
	while (chan_send(sock, type, 0, w.p, w.len, -1) == -1 &&
	    errno == EINTR)
		;
}

/* reap - every child that exited, each told to the master. */
static void
reap(struct kids *k, int sock)
{
	pid_t pid;
	int st, i;

	got_chld = 0;
	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		if ((i = kid_index(k, pid)) == -1)
			continue;
		k->v[i] = k->v[--k->n];
		if (sock != -1)
			say(sock, SP_EXITED, (uint32_t)pid, (uint32_t)st);
	}
}

/* start - SP_START: start one; SP_STARTED either way. */
static void
start(const struct spawner_args *a, struct kids *k, int sock,
    struct chan_msg *m)
{
	struct chan_rd r;
	uint32_t id, what, restarted;
	pid_t pid = -1;

	chan_rd_init(&r, m);
	id = chan_get_u32(&r);
	what = chan_get_u32(&r);
	restarted = chan_get_u32(&r);
	if (chan_get_end(&r) != 0 || m->fd == -1 ||
	    (what != SPAWN_SESSION && what != SPAWN_LOOKUP) || restarted > 1) {
		log_warnx("spawner: a malformed request from the master");
		if (m->fd != -1)
			close(m->fd);
		return;
	}
	if (kid_room(k) == 0) {
		pid = fork();
		if (pid == 0) {
			close(sock);
			child(a, m->fd, what, (int)restarted);
		}
	}
	close(m->fd);
	if (pid == -1) {
		log_warn("spawner: a %s process", what == SPAWN_LOOKUP ?
		    "lookup" : "session");
		say(sock, SP_STARTED, id, 0);
		return;
	}
	k->v[k->n++] = pid;
	say(sock, SP_STARTED, id, (uint32_t)pid);
}

/* killit - SP_KILL: only to a child of ours, only TERM or KILL. */
static void
killit(const struct kids *k, struct chan_msg *m)
{
	struct chan_rd r;
	uint32_t pid, sig;

	chan_rd_init(&r, m);
	pid = chan_get_u32(&r);
	sig = chan_get_u32(&r);
	if (m->fd != -1)
		close(m->fd);
	if (chan_get_end(&r) != 0 || (sig != SIGTERM && sig != SIGKILL) ||
	    pid == 0 || kid_index(k, (pid_t)pid) == -1) {
		log_warnx("spawner: refused to signal %lu (%lu): not a process "
		    "of mine", (unsigned long)pid, (unsigned long)sig);
		return;
	}
	(void)kill((pid_t)pid, (int)sig);
}

/* finish - the master is gone or we were told to stop. */
static void __attribute__((noreturn))
finish(struct kids *k, sigset_t *waitmask)
{
	struct timespec ts = { 0, 100 * 1000 * 1000 };
	double deadline = time_mono() + SPAWNER_WAIT;
	int i;

	for (i = 0; i < k->n; i++)
		(void)kill(k->v[i], SIGTERM);
	for (;;) {
		reap(k, -1);
		if (k->n == 0 || time_mono() >= deadline)
			break;
		(void)ppoll(NULL, 0, &ts, waitmask);
	}
	for (i = 0; i < k->n; i++)
		(void)kill(k->v[i], SIGKILL);
	while (k->n > 0 && waitpid(-1, NULL, 0) > 0)
		k->n--;
	_exit(EXIT_OK);
}

static void __attribute__((noreturn))
run(const struct spawner_args *a, int sock)
{
	static struct chan_msg m;
	struct sigaction act;
	struct kids k = { NULL, 0, 0 };
	struct pollfd pfd;
	sigset_t block, waitmask;
	int i, n;

	for (i = 0; i < a->nclose; i++)
		if (a->close_fds[i] != -1)
			close(a->close_fds[i]);
	memset(&act, 0, sizeof(act));
	sigemptyset(&act.sa_mask);
	act.sa_handler = SIG_IGN;
	sigaction(SIGHUP, &act, NULL);	/* the master's business */
	sigaction(SIGINT, &act, NULL);
	sigaction(SIGPIPE, &act, NULL);
	act.sa_handler = on_chld;
	sigaction(SIGCHLD, &act, NULL);
	act.sa_handler = on_term;
	sigaction(SIGTERM, &act, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGCHLD);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &waitmask);
	sigdelset(&waitmask, SIGCHLD);
	sigdelset(&waitmask, SIGTERM);
	log_debug("spawner: ready (pid %ld, root)", (long)getpid());
	for (;;) {
		if (got_chld)
			reap(&k, sock);
		if (got_term)
			finish(&k, &waitmask);
		pfd.fd = sock;
		pfd.events = POLLIN;
		if ((n = ppoll(&pfd, 1, NULL, &waitmask)) == -1) {
			if (errno == EINTR)
				continue;
			log_warn("spawner: poll");
			finish(&k, &waitmask);
		}
		if (n == 0)
			continue;
		if ((n = chan_recv(sock, &m)) == -1 && (errno == EINTR ||
		    errno == EAGAIN))
			continue;
		if (n == -1)
			log_warn("spawner: from the master");
		if (n <= 0)
			finish(&k, &waitmask);	/* the master has gone */
		if (m.type == SP_START)
			start(a, &k, sock, &m);
		else if (m.type == SP_KILL)
			killit(&k, &m);
		else {
			log_warnx("spawner: unexpected message %u from the "
			    "master", m.type);
			if (m.fd != -1)
				close(m.fd);
		}
	}
}

int
spawner_start(const struct spawner_args *a, pid_t *pid)
{
	int sv[2];

	if (chan_pair(sv) == -1)
		return -1;
	if ((*pid = fork()) == -1) {
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (*pid == 0) {
		close(sv[0]);
		run(a, sv[1]);
	}
	close(sv[1]);
	return sv[0];
}
