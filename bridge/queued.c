/*
 * queued.c - bridged's queue process (bridged -x queue, exec'd by the
 * master as the hub's user): the only process that writes sessions'
 * entries into q/.  At a first start it prepares and recovers every
 * customer's queue before it says QM_READY, so no session writes into
 * a queue being recovered; restarted after a crash (-R) it only sweeps
 * tmp/ of what the dead process left (the files no live writer holds
 * locked: flush and DSN workers may be writing theirs).  Then it
 * serves qproto.h: the master hands it one end of each session's
 * socket pair; each session is served by qserv.c.  Commits run on
 * QUEUED_THREADS threads, so the fsyncs of several sessions overlap as
 * they did when each session committed its own; everything else (the
 * sockets, the writes into tmp files) stays on the main thread.
 *
 * Invariants: the master's socket is fd 3 and the only way in; the
 * configuration (spool, customers, size limit) comes from the master
 * (QM_CONFIG), so this process reads no file outside the spool;
 * SIGTERM and the master's end of file stop it once the sessions it
 * serves have closed (at most QUEUED_DRAIN seconds), removing what
 * they left open; SIGHUP is ignored (the master sends the new list).
 */
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chan.h"
#include "log.h"
#include "proc.h"
#include "qproto.h"
#include "qserv.h"
#include "queue.h"
#include "smtpd.h"
#include "util.h"
#include "verdict.h"
#include "queued.h"

#define QUEUED_DRAIN	30	/* seconds the sessions get at a stop */
#define QUEUED_MAX	4096	/* sessions served at once */
#define QUEUED_THREADS	8	/* commits at once */

/*
 * The commit pool: jobs to do and jobs done, each a ring of at most
 * QUEUED_MAX (a session has one commit in flight at most); a byte on
 * the pipe wakes the main loop for what is done.
 */
struct ring {
	struct qsjob *v[QUEUED_MAX + 1];
	size_t	head, tail;
};

static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_cv = PTHREAD_COND_INITIALIZER;
static struct ring todo, done;
static int wake[2] = { -1, -1 };
static int sleeping;			/* the main thread is in ppoll */
static int inflight;			/* main thread only */

static void
ring_put(struct ring *r, struct qsjob *j)
{
	r->v[r->tail] = j;
	r->tail = (r->tail + 1) % (QUEUED_MAX + 1);
}

static struct qsjob *
ring_get(struct ring *r)
{
	struct qsjob *j;

	if (r->head == r->tail)
		return NULL;
	j = r->v[r->head];
	r->head = (r->head + 1) % (QUEUED_MAX + 1);
	return j;
}

static void *
pool_thread(void *arg)
{
	struct qsjob *j;
	int wakeit;

	(void)arg;
	for (;;) {
		pthread_mutex_lock(&pool_mu);
		while ((j = ring_get(&todo)) == NULL)
			pthread_cond_wait(&pool_cv, &pool_mu);
		pthread_mutex_unlock(&pool_mu);
		qserv_job_run(j);	/* the session has its answer */
		pthread_mutex_lock(&pool_mu);
		ring_put(&done, j);
		wakeit = sleeping;	/* one byte wakes it; busy, it looks */
		sleeping = 0;
		pthread_mutex_unlock(&pool_mu);
		if (wakeit)
			(void)write(wake[1], "", 1);
	}
	return NULL;
}

/* pool_run - qserv's runner: hand the job to a thread. */
static void
pool_run(struct qsjob *j, void *arg)
{
	(void)arg;
	inflight++;
	pthread_mutex_lock(&pool_mu);
	ring_put(&todo, j);
	pthread_cond_signal(&pool_cv);
	pthread_mutex_unlock(&pool_mu);
}

/* pool_start - the threads, with every signal blocked in them. */
static void
pool_start(void)
{
	pthread_t t;
	sigset_t all, old;
	int i;

	if (pipe(wake) == -1 || fcntl(wake[0], F_SETFL, O_NONBLOCK) == -1 ||
	    fcntl(wake[1], F_SETFL, O_NONBLOCK) == -1 ||
	    fcntl(wake[0], F_SETFD, FD_CLOEXEC) == -1 ||
	    fcntl(wake[1], F_SETFD, FD_CLOEXEC) == -1)
		log_fatal(EXIT_OSERR, "queue: pipe");
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (i = 0; i < QUEUED_THREADS; i++)
		if ((errno = pthread_create(&t, NULL, pool_thread, NULL)) != 0)
			log_fatal(EXIT_OSERR, "queue: thread");
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/*
 * pool_sleep - about to wait in ppoll: 1 when done jobs are there
 * already (do not wait), else the threads will wake us.
 */
static int
pool_sleep(void)
{
	int ready;

	pthread_mutex_lock(&pool_mu);
	ready = done.head != done.tail;
	sleeping = !ready;
	pthread_mutex_unlock(&pool_mu);
	return ready;
}

static void
pool_awake(void)
{
	pthread_mutex_lock(&pool_mu);
	sleeping = 0;
	pthread_mutex_unlock(&pool_mu);
}

/*
 * pool_done - the sessions whose commits are done (and answered) may
 * be read again; a session whose answer could not go is closed (and
 * dropped from cl).
 */
static void
pool_done(struct qsclient **cl, int *ncl, int woken)
{
	char buf[256];
	struct qsjob *j;
	struct qsclient *c;
	int i, gone;

	while (woken && read(wake[0], buf, sizeof(buf)) > 0)
		;
	for (;;) {
		pthread_mutex_lock(&pool_mu);
		j = ring_get(&done);
		pthread_mutex_unlock(&pool_mu);
		if (j == NULL)
			return;
		inflight--;
		c = qserv_job_client(j);
		if ((gone = qserv_job_done(j)) != -1)
			continue;	/* answered, or freed when closed */
		for (i = 0; i < *ncl; i++)
			if (cl[i] == c) {
				cl[i] = cl[--*ncl];
				break;
			}
		qserv_close(c);
	}
}

static volatile sig_atomic_t stop;

static void
on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

/* The customer list as it comes in, QM_CONFIG by QM_CONFIG. */
struct qconf {
	char	spool[4096];
	uint64_t max_size;
	uint64_t min_free;
	unsigned char key[VERDICT_KEY];	/* the lookup's verdicts */
	struct strv names;
	uint64_t *quotas;		/* names.n of them */
	size_t	nquotas, cap;
	int	complete;
};

/* The usage table's calls for qserv (qserv.h: struct qsusage). */
static int
used_at(int slot, const char *customer, uint64_t *octets, void *arg)
{
	return usage_get_at(arg, slot, customer, octets, NULL);
}

static void
add_at(int slot, const char *customer, uint64_t octets, void *arg)
{
	usage_add_at(arg, slot, customer, octets);
}

/*
 * on_usage - QM_USAGE: the master's table for the list it sent last,
 * in place of the one before (whose slots were another list's).
 */
static void
on_usage(struct qserv *qs, struct usage **up, int fd)
{
	struct qsusage hooks;
	struct usage *u;

	if (fd == -1 || (u = usage_attach(fd)) == NULL) {
		log_warnx("queue: a bad usage table: quotas read the spool");
		if (fd != -1)
			close(fd);
		return;
	}
	hooks.used = used_at;
	hooks.add = add_at;
	hooks.arg = u;
	qserv_set_usage(qs, &hooks);
	usage_destroy(*up);
	*up = u;
}

/* quota_add - one more customer's quota, in list order. */
static int
quota_add(struct qconf *qc, uint64_t quota)
{
	uint64_t *v;
	size_t cap;

	if (qc->nquotas == qc->cap) {
		cap = qc->cap ? qc->cap * 2 : 64;
		if ((v = reallocarray(qc->quotas, cap, sizeof(*v))) == NULL)
			return -1;
		qc->quotas = v;
		qc->cap = cap;
	}
	qc->quotas[qc->nquotas++] = quota;
	return 0;
}

/*
 * on_config - one QM_CONFIG: u32 first, u32 last, str spool, u64
 * max_size, u64 min_free, the verdict key, u32 k, then k times a
 * customer name and its quota.  1 when a list is complete.
 */
static int
on_config(struct qconf *qc, const struct chan_msg *m)
{
	char name[256];
	struct chan_rd r;
	uint32_t first, last, k, i;

	chan_rd_init(&r, m);
	first = chan_get_u32(&r);
	last = chan_get_u32(&r);
	if (first) {
		strv_free(qc->names.v, qc->names.n);
		memset(&qc->names, 0, sizeof(qc->names));
		qc->nquotas = 0;
	}
	chan_get_str(&r, qc->spool, sizeof(qc->spool));
	qc->max_size = chan_get_u64(&r);
	qc->min_free = chan_get_u64(&r);
	if (chan_get_bytes(&r, qc->key, sizeof(qc->key)) != sizeof(qc->key))
		r.err = 1;
	k = chan_get_u32(&r);
	for (i = 0; i < k && !r.err; i++) {
		chan_get_str(&r, name, sizeof(name));
		if (!r.err && (!name_is_safe(name) ||
		    strv_add(&qc->names, name) == -1 ||
		    quota_add(qc, chan_get_u64(&r)) == -1))
			r.err = 1;
	}
	if (chan_get_end(&r) != 0)
		log_fatalx(EXIT_SOFTWARE, "queue: malformed configuration");
	return last != 0;
}

/*
 * recover - first start only: every customer's queue made and what a
 * crash left there recovered.  A queue that is refused (a symlink or
 * another user's directory in its place) is logged and recovered as
 * far as it is safe (qdir.c never follows a symlink there); what
 * cannot be written there is refused with 4xx.
 */
static void
recover(const struct qconf *qc)
{
	size_t i;
	int moved;

	for (i = 0; i < qc->names.n; i++) {
		const char *name = qc->names.v[i];

		if (spool_prepare(qc->spool, name) != RS_OK)
			log_warnx("%s: its queue in %s/q needs fixing; "
			    "mail for it may be refused (4xx)", name,
			    qc->spool);
		if ((moved = spool_recover(qc->spool, name)) > 0)
			log_warnx("%s: %d damaged entries moved to corrupt/",
			    name, moved);
	}
}

/* read_config - block until the master has sent a whole list. */
static void
read_config(int fd, struct chan_msg *m, struct qconf *qc)
{
	int n;

	for (;;) {
		do
			n = chan_recv(fd, m);
		while (n == -1 && errno == EINTR && !stop);
		if (n <= 0)
			log_fatalx(EXIT_SOFTWARE, "queue: no configuration "
			    "from the master");
		if (m->fd != -1)
			close(m->fd);
		if (m->type == QM_CONFIG && on_config(qc, m))
			return;
	}
}

/* from_master - the master's messages; -1 when it has gone. */
static int
from_master(int mfd, struct chan_msg *m, struct qserv *qs, struct qconf *qc,
    struct usage **up, struct qsclient **cl, int *ncl)
{
	struct chan_rd r;
	char peer[64];
	uint32_t serial;
	int n, i;

	for (i = 0; i < 64; i++) {
		n = chan_recv(mfd, m);
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		if (m->type == QM_CONFIG) {
			if (m->fd != -1)
				close(m->fd);
			if (on_config(qc, m) &&
			    qserv_set(qs, qc->names.v, qc->quotas,
			    (int)qc->names.n, qc->max_size) == -1)
				log_warn("queue: new customer list");
			qserv_key(qs, qc->key);
			qserv_min_free(qs, qc->min_free);
			continue;
		}
		if (m->type == QM_USAGE) {
			on_usage(qs, up, m->fd);
			continue;
		}
		chan_rd_init(&r, m);
		serial = chan_get_u32(&r);
		chan_get_str(&r, peer, sizeof(peer));
		if (m->type != QM_CLIENT || m->fd == -1 || chan_get_end(&r) != 0) {
			log_warnx("queue: a malformed message from the master");
			if (m->fd != -1)
				close(m->fd);
			continue;
		}
		if (*ncl >= QUEUED_MAX || fcntl(m->fd, F_SETFL, O_NONBLOCK) ==
		    -1 || (cl[*ncl] = qserv_client(qs, m->fd, peer, serial)) ==
		    NULL) {
			log_warnx("queue: session %u not served", serial);
			close(m->fd);
			continue;
		}
		(*ncl)++;
	}
	return 0;
}

void
queue_main(int restarted)
{
	static struct chan_msg m;
	static struct qsclient *cl[QUEUED_MAX];
	struct pollfd *pfd;
	struct qconf qc;
	struct qserv *qs;
	struct usage *usage = NULL;
	sigset_t waitmask;
	double until = 0;
	uint32_t pid;
	int mfd = 3, ncl = 0, nold, i, k, n, master_gone = 0;

	proc_child_signals(on_stop, &waitmask);
	memset(&qc, 0, sizeof(qc));
	read_config(mfd, &m, &qc);
	if (!restarted)
		recover(&qc);
	else
		for (i = 0; i < (int)qc.names.n; i++)
			spool_sweep_tmp(qc.spool, qc.names.v[i]);
	if ((qs = qserv_new(qc.spool, qc.names.v, qc.quotas, (int)qc.names.n,
	    qc.max_size)) == NULL)
		log_fatal(EXIT_OSERR, "queue");
	qserv_key(qs, qc.key);
	qserv_min_free(qs, qc.min_free);
	pool_start();
	qserv_set_runner(qs, pool_run, NULL);
	pid = (uint32_t)getpid();
	if (chan_send(mfd, QM_READY, 0, &pid, sizeof(pid), -1) == -1)
		log_fatal(EXIT_OSERR, "queue: telling the master");
	if (fcntl(mfd, F_SETFL, O_NONBLOCK) == -1)
		log_fatal(EXIT_OSERR, "queue: master socket");
	if ((pfd = calloc(QUEUED_MAX + 2, sizeof(*pfd))) == NULL)
		log_fatal(EXIT_OSERR, "queue");
	log_debug("queue: ready%s, %zu customers",
	    restarted ? " (restarted)" : "", qc.names.n);
	for (;;) {
		if ((stop || master_gone) && until == 0)
			until = time_mono() + QUEUED_DRAIN;
		if (until != 0 && ((ncl == 0 && inflight == 0) ||
		    time_mono() > until))
			break;
		pfd[0].fd = master_gone ? -1 : mfd;
		pfd[0].events = POLLIN;
		pfd[1].fd = wake[0];
		pfd[1].events = POLLIN;
		for (i = 0; i < ncl; i++) {
			/* a session waiting for its commit is not read */
			pfd[i + 2].fd = qserv_busy(cl[i]) ? -1 :
			    qserv_sock(cl[i]);
			pfd[i + 2].events = POLLIN;
			if (qserv_output(cl[i]) > 0)	/* -1: POLLERR says */
				pfd[i + 2].events |= POLLOUT;
		}
		n = ppoll(pfd, (nfds_t)ncl + 2, pool_sleep() ?
		    &(struct timespec){ 0, 0 } : until != 0 ?
		    &(struct timespec){ 1, 0 } : NULL, &waitmask);
		pool_awake();
		if (n == -1 && errno != EINTR)
			log_fatal(EXIT_OSERR, "queue: poll");
		if (n <= 0) {
			pool_done(cl, &ncl, 0);
			continue;
		}
		nold = ncl;
		if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR) &&
		    from_master(mfd, &m, qs, &qc, &usage, cl, &ncl) == -1)
			master_gone = 1;
		/* sessions; those just added (nold and up) wait a round */
		for (i = 0, k = 0; i < ncl; i++) {
			short rev = i < nold && pfd[i + 2].fd != -1 ?
			    pfd[i + 2].revents : 0;

			if (((rev & (POLLIN | POLLHUP | POLLERR)) &&
			    qserv_input(qs, cl[i]) == -1) ||
			    ((rev & POLLOUT) && qserv_output(cl[i]) == -1)) {
				qserv_close(cl[i]);
				continue;
			}
			cl[k++] = cl[i];
		}
		ncl = k;
		/* last: it may reorder cl */
		pool_done(cl, &ncl, (pfd[1].revents & POLLIN) != 0);
	}
	for (i = 0; i < ncl; i++)
		qserv_close(cl[i]);
	qserv_free(qs);
	usage_destroy(usage);
	log_debug("queue: stopped");
	exit(EXIT_OK);
}
