/*
 * pool.c - the master's side of the session processes (pool.h): fork,
 * then fexecve of bridged's own executable with "-x session -c CONFIG"
 * and the process's socket on descriptor 3; per connection the queue socket, the lookup socket
 * and the client, each a message with its descriptor, the client last
 * (it starts the session).  A process started for a connection gets
 * it queued at once, so nobody waits for it to be ready.
 *
 * Invariants: a process serves one connection at a time and is given
 * the next only after its SM_DONE; slots are never moved while the
 * master runs, so a poll table stays valid for its round; a process
 * that retires (a reload) or is one idle too many has its socket
 * closed and exits on the end of file; one that dies busy is logged.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "util.h"
#include "pool.h"
#include "spawner.h"

extern char **environ;

#define POOL_QUEUE	8	/* messages waiting for one process */
#define POOL_IDLE_MAX	16	/* idle processes kept */

static void shut(struct sproc *);

void
pool_init(struct pool *p, int selffd, int fg, const char *conf_path,
    void (*child_setup)(void *), void *arg)
{
	memset(p, 0, sizeof(*p));
	p->selffd = selffd;
	p->fg = fg;
	p->conf_path = conf_path;
	p->child_setup = child_setup;
	p->arg = arg;
}

/* child - in the fork: descriptor 3, default signal mask, exec. */
static void __attribute__((noreturn))
child(struct pool *p, int sock)
{
	char *argv[8];
	int argc = 0, exe;
	sigset_t none;

	if ((exe = fcntl(p->selffd, F_DUPFD_CLOEXEC, 4)) == -1 ||
	    (sock = fcntl(sock, F_DUPFD_CLOEXEC, 4)) == -1)
		_exit(EXIT_OSERR);
	if (p->child_setup != NULL)
		p->child_setup(p->arg);
	if (dup2(sock, 3) == -1)
		_exit(EXIT_OSERR);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	argv[argc++] = "bridged";
	argv[argc++] = "-x";
	argv[argc++] = "session";
	argv[argc++] = "-c";
	argv[argc++] = (char *)p->conf_path;
	if (p->fg)
		argv[argc++] = "-d";
	argv[argc] = NULL;
	fexecve(exe, argv, environ);
	log_warn("session process: exec");
	_exit(EXIT_OSERR);
}

/* slot - a free slot, the table grown if need be; NULL without memory. */
static struct sproc *
slot(struct pool *p)
{
	struct sproc *v;
	int i, n;

	for (i = 0; i < p->n; i++)
		if (p->v[i].pid == 0 && p->v[i].ch.sock == -1)
			return &p->v[i];
	if (p->n == p->a) {
		n = p->a ? p->a * 2 : 32;
		if ((v = realloc(p->v, (size_t)n * sizeof(*v))) == NULL)
			return NULL;
		p->v = v;
		p->a = n;
	}
	memset(&p->v[p->n], 0, sizeof(p->v[p->n]));
	p->v[p->n].ch.sock = -1;
	return &p->v[p->n++];
}

void
pool_set_spawner(struct pool *p, struct chan *sp)
{
	p->spawner = sp;
}

/* pkill - sig to s, itself or through the spawner. */
static void
pkill(const struct pool *p, const struct sproc *s, int sig)
{
	unsigned char buf[16];
	struct chan_wr w;

	if (s->pid <= 0)
		return;		/* not started yet: its end of file stops it */
	if (p->spawner != NULL && p->spawner->sock == -1)
		return;		/* the spawner has gone, and stopped it */
	if (p->spawner == NULL) {
		(void)kill(s->pid, sig);
		return;
	}
	chan_wr_init(&w, buf, sizeof(buf));
	chan_put_u32(&w, (uint32_t)s->pid);
	chan_put_u32(&w, (uint32_t)sig);
	if (chan_queue(p->spawner, SP_KILL, 0, w.p, w.len, -1) == 0)
		(void)chan_flush(p->spawner);
}

/*
 * spawned - ask the spawner for a process on sv[1]; its pid comes
 * with pool_spawned.  -1 when it cannot be asked now.
 */
static int
spawned(struct pool *p, struct sproc *s, int sv[2])
{
	unsigned char buf[16];
	struct chan_wr w;

	s->id = ++p->next_id;
	chan_wr_init(&w, buf, sizeof(buf));
	chan_put_u32(&w, s->id);
	chan_put_u32(&w, SPAWN_SESSION);
	chan_put_u32(&w, 0);
	if (chan_queue(p->spawner, SP_START, 0, w.p, w.len, sv[1]) == -1) {
		log_warn("session process: the spawner");
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	(void)chan_flush(p->spawner);
	s->pid = -1;
	return 0;
}

void
pool_spawned(struct pool *p, uint32_t id, pid_t pid)
{
	struct sproc *s;
	int i;

	for (i = 0; i < p->n; i++) {
		s = &p->v[i];
		if (s->pid != -1 || s->id != id)
			continue;
		if (pid > 0) {
			s->pid = pid;
			return;
		}
		log_warnx("session process: the spawner could not start it");
		shut(s);
		s->pid = 0;
		s->busy = s->retire = 0;
		return;
	}
	log_warnx("session process: the spawner started %ld unasked",
	    (long)pid);
}

/* start - a new session process in a free slot; NULL when it failed. */
static struct sproc *
start(struct pool *p)
{
	struct sproc *s;
	sigset_t all, old;
	int sv[2];
	pid_t pid;

	if ((s = slot(p)) == NULL || chan_pair(sv) == -1) {
		log_warn("session process");
		return NULL;
	}
	if (p->spawner != NULL) {
		memset(s, 0, sizeof(*s));
		if (spawned(p, s, sv) == -1)
			return NULL;
		pid = s->pid;
		goto started;
	}
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	pid = fork();
	if (pid == 0) {
		close(sv[0]);
		child(p, sv[1]);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(sv[1]);
	if (pid == -1) {
		log_warn("session process: fork");
		close(sv[0]);
		return NULL;
	}
	memset(s, 0, sizeof(*s));
started:
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	s->pid = pid;
	chan_init(&s->ch, sv[0], POOL_QUEUE);
	return s;
}

/*
 * shut - close a process's socket: it exits at the end of file.  A
 * busy one stays busy until it is reaped (and logged).
 */
static void
shut(struct sproc *s)
{
	chan_clear(&s->ch);
	if (s->ch.sock != -1)
		close(s->ch.sock);
	s->ch.sock = -1;
}

static int
idle_count(const struct pool *p)
{
	int i, n = 0;

	for (i = 0; i < p->n; i++)
		if (p->v[i].ch.sock != -1 && !p->v[i].busy &&
		    !p->v[i].retire)
			n++;
	return n;
}

int
pool_conn(struct pool *p, int fd, int kind, const char *peer,
    const struct sockaddr *sa, socklen_t salen, int qfd, int lfd)
{
	unsigned char buf[512];
	struct chan_wr w;
	struct sproc *s = NULL;
	int i;

	for (i = 0; i < p->n && s == NULL; i++)
		if (p->v[i].ch.sock != -1 && !p->v[i].busy &&
		    !p->v[i].retire && p->v[i].ch.queued == 0)
			s = &p->v[i];
	if (s == NULL)
		s = start(p);
	chan_wr_init(&w, buf, sizeof(buf));
	chan_put_u32(&w, (uint32_t)kind);
	chan_put_str(&w, peer);
	chan_put_bytes(&w, sa, sa != NULL ? salen : 0);
	if (s == NULL || w.err ||
	    (qfd != -1 && chan_queue(&s->ch, SM_QUEUE, 0, NULL, 0, qfd) == -1)) {
		if (qfd != -1)
			close(qfd);
		close(lfd);
		return -1;
	}
	if (chan_queue(&s->ch, SM_LOOKUP, 0, NULL, 0, lfd) == -1) {
		close(lfd);
		shut(s);		/* it has a queue socket of no session */
		return -1;
	}
	if (chan_queue(&s->ch, SM_CONN, 0, w.p, w.len, fd) == -1) {
		shut(s);
		return -1;
	}
	s->busy = 1;
	s->kind = kind;
	s->peerlen = 0;
	if (sa != NULL && salen > 0 && (size_t)salen <= sizeof(s->peer) &&
	    (sa->sa_family == AF_INET || sa->sa_family == AF_INET6)) {
		memcpy(&s->peer, sa, (size_t)salen);
		s->peerlen = salen;
	}
	if (chan_flush(&s->ch) == -1) {
		/* the client's descriptor went with the queue */
		log_warn("session process %ld", (long)s->pid);
		shut(s);
	}
	return 0;
}

/* same_net - a and b agree in their first bits bits. */
static int
same_net(const unsigned char *a, const unsigned char *b, int bits)
{
	int whole = bits / 8, rest = bits % 8;

	if (memcmp(a, b, (size_t)whole) != 0)
		return 0;
	return rest == 0 || ((a[whole] ^ b[whole]) &
	    (unsigned char)(0xff << (8 - rest))) == 0;
}

int
pool_busy_from(const struct pool *p, const struct sockaddr *sa, int bits4,
    int bits6)
{
	const unsigned char *want, *have;
	const struct sockaddr *ps;
	int i, n = 0;

	if (sa->sa_family == AF_INET)
		want = (const unsigned char *)
		    &((const struct sockaddr_in *)sa)->sin_addr;
	else if (sa->sa_family == AF_INET6)
		want = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
	else
		return 0;
	for (i = 0; i < p->n; i++) {
		if (!p->v[i].busy || p->v[i].peerlen == 0)
			continue;
		ps = (const struct sockaddr *)&p->v[i].peer;
		if (ps->sa_family != sa->sa_family)
			continue;
		have = ps->sa_family == AF_INET ? (const unsigned char *)
		    &((const struct sockaddr_in *)ps)->sin_addr :
		    ((const struct sockaddr_in6 *)ps)->sin6_addr.s6_addr;
		if (same_net(want, have, sa->sa_family == AF_INET ? bits4 :
		    bits6))
			n++;
	}
	return n;
}

int
pool_busy(const struct pool *p, int kind)
{
	int i, n = 0;

	for (i = 0; i < p->n; i++)
		if (p->v[i].busy && (kind == -1 || p->v[i].kind == kind))
			n++;
	return n;
}

int
pool_count(const struct pool *p)
{
	int i, n = 0;

	for (i = 0; i < p->n; i++)
		if (p->v[i].pid != 0)
			n++;
	return n;
}

int
pool_npoll(const struct pool *p)
{
	return p->n;
}

void
pool_fill(const struct pool *p, struct pollfd *pfd)
{
	int i;

	for (i = 0; i < p->n; i++) {
		pfd[i].fd = p->v[i].ch.sock;
		pfd[i].events = POLLIN | (p->v[i].ch.queued > 0 ? POLLOUT : 0);
		pfd[i].revents = 0;
	}
}

/* from - what one process says: SM_DONE, or its end. */
static void
from(struct pool *p, struct sproc *s)
{
	static struct chan_msg m;
	int n, k;

	for (k = 0; k < 8 && s->ch.sock != -1; k++) {
		n = chan_recv(s->ch.sock, &m);
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK ||
		    errno == EINTR))
			return;
		if (n <= 0) {
			shut(s);	/* exiting: reaped soon */
			return;
		}
		if (m.fd != -1)
			close(m.fd);
		if (m.type != SM_DONE || !s->busy) {
			log_warnx("session process %ld: unexpected message "
			    "%u: stopped", (long)s->pid, m.type);
			shut(s);
			pkill(p, s, SIGTERM);
			return;
		}
		s->busy = 0;
		if (s->retire || idle_count(p) > POOL_IDLE_MAX)
			shut(s);
	}
}

void
pool_io(struct pool *p, const struct pollfd *pfd, int npfd)
{
	struct sproc *s;
	int i;

	for (i = 0; i < npfd && i < p->n; i++) {
		s = &p->v[i];
		if (s->ch.sock == -1 || pfd[i].fd != s->ch.sock ||
		    pfd[i].revents == 0)
			continue;
		if ((pfd[i].revents & POLLOUT) && chan_flush(&s->ch) == -1) {
			shut(s);
			continue;
		}
		if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
			from(p, s);
	}
}

void
pool_retire(struct pool *p)
{
	int i;

	for (i = 0; i < p->n; i++) {
		if (p->v[i].ch.sock == -1)
			continue;
		p->v[i].retire = 1;
		if (!p->v[i].busy)
			shut(&p->v[i]);
	}
}

int
pool_reaped(struct pool *p, pid_t pid, int st)
{
	struct sproc *s;
	int i;

	for (i = 0; i < p->n; i++) {
		s = &p->v[i];
		if (s->pid != pid)
			continue;
		if (WIFSIGNALED(st) && WTERMSIG(st) != SIGTERM)
			log_warnx("session %ld died of signal %d%s", (long)pid,
			    WTERMSIG(st), s->busy ? " during a session" : "");
		else if (WIFEXITED(st) && WEXITSTATUS(st) != 0 &&
		    WEXITSTATUS(st) != 1)
			log_warnx("session process %ld exited with %d",
			    (long)pid, WEXITSTATUS(st));
		shut(s);
		s->pid = 0;
		s->busy = s->retire = 0;
		return 1;
	}
	return 0;
}

void
pool_signal(const struct pool *p, int sig)
{
	int i;

	for (i = 0; i < p->n; i++)
		if (p->v[i].pid != 0)
			pkill(p, &p->v[i], sig);
}

void
pool_close_child(struct pool *p)
{
	int i;

	for (i = 0; i < p->n; i++)
		if (p->v[i].ch.sock != -1)
			close(p->v[i].ch.sock);
}

void
pool_forget(struct pool *p)
{
	int i;

	for (i = 0; i < p->n; i++) {
		shut(&p->v[i]);
		p->v[i].pid = 0;
		p->v[i].busy = p->v[i].retire = 0;
	}
}
