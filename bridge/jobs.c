/*
 * jobs.c - bridged's background work: the job table, the timers and
 * the worker processes (see jobs.h).
 *
 * One slot per customer name (and one for _dsn), kept across reloads:
 * a worker forked with an old config finishes with it.  A slot holds
 * the running worker (pid, kind), what is wanted next (a flush, with
 * its peer; a bundle run, forced or not) and its timers.  When a
 * worker ends, what its slot wants starts; a flush is always preferred
 * to a bundle run.  A worker's exit status is 0 (done), 75 (something
 * left for later) or another sysexits code; the master only logs it.
 *
 * Invariants: at most one worker per slot; a slot's pid is 0 exactly
 * when no worker of it runs; the rate-limit table is bounded
 * (JOBS_SEEN_MAX, the oldest entry goes first).
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bundler.h"
#include "dsn.h"
#include "expire.h"
#include "flush.h"
#include "handoff.h"
#include "log.h"
#include "odmr.h"
#include "queue.h"
#include "util.h"
#include "jobs.h"

#define JOBS_SEEN_MAX	256
#define PEER_MAX	72	/* "[v6 address]:25" */

enum job_kind {
	JOB_IDLE = 0,
	JOB_FLUSH,
	JOB_BUNDLE,
	JOB_DSN,
	JOB_EXPIRE,
	JOB_TURN
};

static const char *const kind_names[] = { "idle", "flush", "bundle", "dsn",
	"expire", "odmr" };

struct job {
	char	name[64];
	pid_t	pid;			/* 0: no worker */
	enum job_kind kind;		/* of the worker */
	time_t	started;
	int	want_flush;		/* 1: asked for; 2: by a timer */
	int	want_bundle;		/* 1: when due; 2: forced */
	char	peer[PEER_MAX];		/* last ETRN peer, "" if none */
	char	run_peer[PEER_MAX];	/* the peer the worker flushes to */
	char	domain[256];		/* mx: the last ETRN's domain, or "" */
	char	run_domain[256];	/* mx: the domain the worker uses */
	time_t	next_retry;		/* 0: no retry timer */
	time_t	next_bundle;		/* 0: not bundled */
	time_t	next_dsn;		/* _dsn only */
	time_t	next_expire;		/* 0: no lifetime sweeps */
	time_t	next_asked;		/* a rate-limited ETRN's flush */
	int	want_expire;		/* a sweep is due */
	char	dsn_seen[QID_LEN];	/* _dsn: the newest DSN when its last
					   run started */
	int	quiet;			/* a timer's run: log at debug level */
	int	turn_fd;		/* JOB_TURN: the ODMR client, or -1 */
	char	turn_name[256];		/* its reverse DNS name */
	char	turn_addr[64];		/* its address */
};

struct seen {
	char	client[64];
	char	customer[64];
	time_t	when;
};

struct jobs {
	void	(*child_setup)(void *);
	void   *arg;
	struct job *v;
	int	n, cap;
	struct seen seen[JOBS_SEEN_MAX];
	int	nseen;
};

struct jobs *
jobs_new(void (*child_setup)(void *), void *arg)
{
	struct jobs *j;

	if ((j = calloc(1, sizeof(*j))) == NULL)
		return NULL;
	j->child_setup = child_setup;
	j->arg = arg;
	return j;
}

void
jobs_free(struct jobs *j)
{
	if (j == NULL)
		return;
	free(j->v);
	free(j);
}

/* slot - the slot of name, made when missing; NULL when out of memory. */
static struct job *
slot(struct jobs *j, const char *name)
{
	struct job *nv;
	int i, cap;

	for (i = 0; i < j->n; i++)
		if (strcmp(j->v[i].name, name) == 0)
			return &j->v[i];
	if (j->n == j->cap) {
		cap = j->cap ? j->cap * 2 : 16;
		if ((nv = reallocarray(j->v, (size_t)cap, sizeof(*nv))) ==
		    NULL) {
			log_warn("job table");
			return NULL;
		}
		j->v = nv;
		j->cap = cap;
	}
	memset(&j->v[j->n], 0, sizeof(j->v[j->n]));
	strlcpy_(j->v[j->n].name, name, sizeof(j->v[j->n].name));
	return &j->v[j->n++];
}

static int
bundled(const struct customer *cu)
{
	return (cu->release & (REL_UUCP | REL_SSH)) != 0;
}

/* keep_last - spool_list callback: the last (newest) id into arg. */
static int
keep_last(void *arg, const char *id, const char *path)
{
	(void)path;
	strlcpy_(arg, id, QID_LEN);
	return 0;
}

/* dsn_newest - the newest DSN's id into buf (QID_LEN; "": none). */
static int
dsn_newest(const struct bridge_conf *c, char *buf, size_t len)
{
	buf[0] = '\0';
	return len < QID_LEN || spool_list(c->spool, DSN_QUEUE, keep_last,
	    buf) != 0 ? -1 : 0;
}

/* bundle_tick - how often the customer's bundling is looked at. */
static long
bundle_tick(const struct customer *cu)
{
	long t = cu->bundle_delay;

	return t < 1 ? 1 : t > JOBS_BUNDLE_TICK ? JOBS_BUNDLE_TICK : t;
}

void
jobs_plan(struct jobs *j, const struct bridge_conf *c, time_t now)
{
	struct job *jb;
	int i;

	for (i = 0; i < j->n; i++)	/* customers that went: no timers */
		j->v[i].next_retry = j->v[i].next_bundle =
		    j->v[i].next_expire = 0;
	for (i = 0; i < c->ncustomers; i++) {
		const struct customer *cu = &c->customers[i];

		if ((jb = slot(j, cu->name)) == NULL)
			continue;
		jb->next_retry = cu->retry > 0 ? now + cu->retry : 0;
		jb->next_bundle = bundled(cu) ? now : 0;
		jb->next_expire = now + expire_tick(c, cu->name);
	}
	if ((jb = slot(j, DSN_QUEUE)) != NULL) {
		jb->next_dsn = c->relayhost != NULL ? now : 0;
		dsn_newest(c, jb->dsn_seen, sizeof(jb->dsn_seen));
		jb->next_expire = now + expire_tick(c, DSN_QUEUE);
	}
}

/* ---- the workers ---- */

static void __attribute__((noreturn))
run_flush(const struct bridge_conf *c, const char *name, const char *peer,
    const char *domain)
{
	const struct customer *cu = conf_customer(c, name);
	struct flush_target t;
	struct flush_stats st;
	char err[256];
	enum result rv;

	if (cu == NULL)
		_exit(EXIT_NOUSER);
	if ((rv = flush_target_conf(c, cu, peer[0] != '\0' ? peer : NULL,
	    domain[0] != '\0' ? domain : NULL, &t, err, sizeof(err))) !=
	    RS_OK) {
		log_warnx("%s: flush: %s", name, err);
		_exit(rv == RS_TEMP ? EXIT_TEMPFAIL : EXIT_CONFIG);
	}
	rv = flush_customer(c, cu, &t, NULL, &st);
	flush_target_free(&t);
	if (st.busy)
		_exit(EXIT_TEMPFAIL);
	_exit(rv == RS_OK ? EXIT_OK : rv == RS_TEMP ? EXIT_TEMPFAIL :
	    EXIT_UNAVAIL);
}

/* run_dsn - the _dsn queue to the relayhost, as a stand-in customer. */
static void __attribute__((noreturn))
run_dsn(const struct bridge_conf *c)
{
	struct customer cu;
	struct flush_target t;
	struct flush_opts o;
	char *hosts[1], err[256];
	enum result rv;

	if (c->relayhost == NULL)
		_exit(EXIT_OK);
	flush_opts_default(&o);
	o.backoff = JOBS_DSN_BACKOFF;	/* each DSN on its own schedule */
	o.backoff_max = JOBS_DSN_BACKOFF_MAX;
	memset(&cu, 0, sizeof(cu));
	cu.name = (char *)DSN_QUEUE;
	cu.deliver_mode = DELIVER_HOSTS;
	hosts[0] = c->relayhost;
	cu.deliver_to = hosts;
	cu.ndeliver_to = 1;
	cu.flush_connections = 1;
	if (flush_target_conf(c, &cu, NULL, NULL, &t, err, sizeof(err)) !=
	    RS_OK)
		_exit(EXIT_CONFIG);
	rv = flush_customer(c, &cu, &t, &o, NULL);
	_exit(rv == RS_OK ? EXIT_OK : EXIT_TEMPFAIL);
}

static void __attribute__((noreturn))
run_bundle(const struct bridge_conf *c, const char *name, int force)
{
	const struct customer *cu = conf_customer(c, name);
	struct bundler_stats bst;
	struct uucp_stats ust;
	char err[256];
	time_t now = time(NULL);
	int rc = EXIT_OK;

	if (cu == NULL)
		_exit(EXIT_NOUSER);
	if (bundler_run(c->spool, cu->name, c->hostname, cu->bundle_max,
	    cu->bundle_delay, force, now, &bst, err, sizeof(err)) != RS_OK) {
		log_warnx("%s: bundle: %s", cu->name, err);
		rc = EXIT_TEMPFAIL;
	}
	if ((cu->release & REL_UUCP) && uucp_handoff_run(c->spool, cu,
	    c->postmaster, NULL, force, now, &ust) != RS_OK)
		rc = EXIT_TEMPFAIL;
	_exit(rc);
}

/* run_turn - an allowed ATRN: answer it and deliver (odmr.h). */
static void __attribute__((noreturn))
run_turn(const struct bridge_conf *c, struct job *jb)
{
	const struct customer *cu = conf_customer(c, jb->name);

	if (cu == NULL)
		_exit(EXIT_NOUSER);
	odmr_turn(c, cu, jb->turn_fd, jb->turn_name, jb->turn_addr);
	close(jb->turn_fd);
	_exit(EXIT_OK);
}

/* run_expire - the lifetime sweep of one queue (expire.h). */
static void __attribute__((noreturn))
run_expire(const struct bridge_conf *c, const char *name)
{
	struct qexpire_stats st;
	enum result rv;

	rv = expire_queue(c, name, time(NULL), &st);
	_exit(rv == RS_OK ? EXIT_OK : rv == RS_TEMP ? EXIT_TEMPFAIL :
	    EXIT_NOUSER);
}

/* Why a worker starts. */
enum start_how {
	ASKED = 0,		/* ETRN, bridgectl flush */
	FORCED,			/* bridgectl bundle: ignore timers, backoff */
	TIMER			/* retry or bundling timer: log at debug */
};

/* start - fork the worker of jb; 0, or -1 when fork failed. */
static int
start(struct jobs *j, const struct bridge_conf *c, struct job *jb,
    enum job_kind kind, enum start_how how)
{
	sigset_t all, old, none;
	pid_t pid;

	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	fflush(NULL);
	if ((pid = fork()) == 0) {
		j->child_setup(j->arg);
		setpgid(0, 0);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (kind == JOB_FLUSH)
			run_flush(c, jb->name, jb->run_peer, jb->run_domain);
		if (kind == JOB_DSN)
			run_dsn(c);
		if (kind == JOB_EXPIRE)
			run_expire(c, jb->name);
		if (kind == JOB_TURN)
			run_turn(c, jb);
		run_bundle(c, jb->name, how == FORCED);
	}
	if (pid > 0)
		setpgid(pid, pid);
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (kind == JOB_TURN) {		/* the worker's now */
		close(jb->turn_fd);
		jb->turn_fd = -1;
	}
	if (pid == -1) {
		log_warn("%s: cannot start a %s worker", jb->name,
		    kind_names[kind]);
		return -1;
	}
	jb->pid = pid;
	jb->kind = kind;
	jb->quiet = how == TIMER;
	jb->started = time(NULL);
	if (kind == JOB_FLUSH && jb->run_peer[0] != '\0')
		log_info("%s: flush started, pid %ld, to peer %s", jb->name,
		    (long)pid, jb->run_peer);
	else if (kind == JOB_FLUSH && jb->run_domain[0] != '\0')
		log_info("%s: flush started, pid %ld, to the MX of %s",
		    jb->name, (long)pid, jb->run_domain);
	else
		(jb->quiet ? log_debug : log_info)("%s: %s started, pid %ld",
		    jb->name, kind_names[kind], (long)pid);
	return 0;
}

/* start_flush - the wanted flush of jb (DSN run for _dsn). */
static int
start_flush(struct jobs *j, const struct bridge_conf *c, struct job *jb)
{
	const struct customer *cu = conf_customer(c, jb->name);
	int dsn = strcmp(jb->name, DSN_QUEUE) == 0;

	jb->run_peer[0] = jb->run_domain[0] = '\0';
	if (cu != NULL && cu->deliver_mode == DELIVER_PEER)
		strlcpy_(jb->run_peer, jb->peer, sizeof(jb->run_peer));
	if (cu != NULL && cu->deliver_mode == DELIVER_MX)
		strlcpy_(jb->run_domain, jb->domain, sizeof(jb->run_domain));
	jb->domain[0] = '\0';		/* a retry later uses the first one */
	if (dsn)
		dsn_newest(c, jb->dsn_seen, sizeof(jb->dsn_seen));
	if (start(j, c, jb, dsn ? JOB_DSN : JOB_FLUSH,
	    jb->want_flush == 2 ? TIMER : ASKED) == -1)
		return -1;
	jb->want_flush = 0;
	return 0;
}

static int
start_bundle(struct jobs *j, const struct bridge_conf *c, struct job *jb)
{
	if (start(j, c, jb, JOB_BUNDLE, jb->want_bundle == 2 ? FORCED :
	    TIMER) == -1)
		return -1;
	jb->want_bundle = 0;
	return 0;
}

/* ---- requests ---- */

/* peer_of - "addr" or "[v6addr]:25" for flush_target_conf. */
static void
peer_of(const char *addr, char *out, size_t len)
{
	if (strchr(addr, ':') != NULL)
		snprintf(out, len, "[%s]:25", addr);
	else
		strlcpy_(out, addr, len);
}

enum jobs_res
jobs_flush(struct jobs *j, const struct bridge_conf *c, const char *customer,
    const char *peer, char *msg, size_t len)
{
	const struct customer *cu = conf_customer(c, customer);
	struct job *jb;

	if (cu == NULL) {
		snprintf(msg, len, "no such customer: %s", customer);
		return JOBS_ERROR;
	}
	if ((jb = slot(j, cu->name)) == NULL) {
		snprintf(msg, len, "busy: out of memory");
		return JOBS_ERROR;
	}
	if (peer != NULL)
		peer_of(peer, jb->peer, sizeof(jb->peer));
	if (cu->deliver_mode == DELIVER_PEER && jb->peer[0] == '\0') {
		snprintf(msg, len, "%s: deliver-to is \"peer\" and no ETRN "
		    "has named a peer yet", cu->name);
		return JOBS_ERROR;
	}
	jb->want_flush = 1;
	if (jb->pid != 0) {
		snprintf(msg, len, "flush of %s %s", cu->name,
		    jb->kind == JOB_FLUSH ? "joins the running one" :
		    "queued after the running bundle run");
		return jb->kind == JOB_FLUSH ? JOBS_JOINED : JOBS_QUEUED;
	}
	if (start_flush(j, c, jb) == -1) {
		snprintf(msg, len, "busy: cannot start a worker");
		return JOBS_ERROR;
	}
	snprintf(msg, len, "flush of %s started", cu->name);
	return JOBS_STARTED;
}

/*
 * seen_recently - was (client, customer) accepted within the window?
 * When it ends if so, else 0 (and the request is the window's first).
 */
static time_t
seen_recently(struct jobs *j, const char *client, const char *customer,
    time_t now)
{
	struct seen *s, *oldest = NULL;
	int i;

	for (i = 0; i < j->nseen; i++) {
		s = &j->seen[i];
		if (strcmp(s->client, client) == 0 &&
		    strcmp(s->customer, customer) == 0) {
			if (now - s->when < JOBS_ETRN_WINDOW &&
			    now >= s->when)
				return s->when + JOBS_ETRN_WINDOW;
			s->when = now;
			return 0;
		}
		if (oldest == NULL || s->when < oldest->when)
			oldest = s;
	}
	if (j->nseen < JOBS_SEEN_MAX)
		s = &j->seen[j->nseen++];
	else
		s = oldest;
	strlcpy_(s->client, client, sizeof(s->client));
	strlcpy_(s->customer, customer, sizeof(s->customer));
	s->when = now;
	return 0;
}

void
jobs_turn(struct jobs *j, const struct bridge_conf *c, const char *customer,
    int fd, const char *name, const char *addr)
{
	static const char busy[] = "451 4.3.0 Unable to process ATRN now: a "
	    "delivery of your mail is running\r\n";
	struct job *jb;

	if ((jb = slot(j, customer)) == NULL || jb->pid != 0) {
		/* one short reply, never waited for: the master reads nothing */
		(void)send(fd, busy, sizeof(busy) - 1, MSG_DONTWAIT |
		    MSG_NOSIGNAL);
		close(fd);
		return;
	}
	jb->turn_fd = fd;
	strlcpy_(jb->turn_name, name, sizeof(jb->turn_name));
	strlcpy_(jb->turn_addr, addr, sizeof(jb->turn_addr));
	if (start(j, c, jb, JOB_TURN, ASKED) == -1) {
		(void)send(fd, busy, sizeof(busy) - 1, MSG_DONTWAIT |
		    MSG_NOSIGNAL);
		close(fd);
		jb->turn_fd = -1;
	}
}

enum jobs_res
jobs_etrn(struct jobs *j, const struct bridge_conf *c, const char *customer,
    const char *client, const char *domain, time_t now)
{
	struct job *jb;
	enum jobs_res r;
	char msg[256];
	time_t until;

	if ((until = seen_recently(j, client, customer, now)) != 0) {
		if ((jb = slot(j, customer)) != NULL && jb->next_asked == 0) {
			jb->next_asked = until;
			strlcpy_(jb->domain, domain != NULL ? domain : "",
			    sizeof(jb->domain));
		}
		log_info("%s: ETRN from %s within %d s of the last one: "
		    "nothing new now; a flush follows when that window ends "
		    "if mail is waiting then", customer, client,
		    JOBS_ETRN_WINDOW);
		return JOBS_LIMITED;
	}
	if ((jb = slot(j, customer)) != NULL) {
		strlcpy_(jb->domain, domain != NULL ? domain : "",
		    sizeof(jb->domain));
		jb->next_asked = 0;
	}
	r = jobs_flush(j, c, customer, client, msg, sizeof(msg));
	if (r == JOBS_ERROR)
		log_warnx("%s: ETRN from %s: %s", customer, client, msg);
	else if (r != JOBS_STARTED)
		log_info("%s: ETRN from %s: %s", customer, client, msg);
	return r;
}

enum jobs_res
jobs_bundle(struct jobs *j, const struct bridge_conf *c, const char *customer,
    char *msg, size_t len)
{
	const struct customer *cu = conf_customer(c, customer);
	struct job *jb;

	if (cu == NULL) {
		snprintf(msg, len, "no such customer: %s", customer);
		return JOBS_ERROR;
	}
	if (!bundled(cu)) {
		snprintf(msg, len, "%s is not released by uucp or ssh",
		    cu->name);
		return JOBS_ERROR;
	}
	if ((jb = slot(j, cu->name)) == NULL) {
		snprintf(msg, len, "busy: out of memory");
		return JOBS_ERROR;
	}
	jb->want_bundle = 2;
	if (jb->pid != 0) {
		snprintf(msg, len, "bundle run of %s queued after the running "
		    "%s", cu->name, kind_names[jb->kind]);
		return jb->kind == JOB_BUNDLE ? JOBS_JOINED : JOBS_QUEUED;
	}
	if (start_bundle(j, c, jb) == -1) {
		snprintf(msg, len, "busy: cannot start a worker");
		return JOBS_ERROR;
	}
	snprintf(msg, len, "bundle run of %s started", cu->name);
	return JOBS_STARTED;
}

/* ---- the clock and the ends of workers ---- */

/* queue_waiting - does the customer's queue hold entries? */
static int
queue_waiting(const struct bridge_conf *c, const char *name)
{
	struct qusage u;

	return spool_usage(c->spool, name, &u) != RS_OK || u.count > 0;
}

/*
 * dsn_schedule - when the DSN queue is looked at next: at the soonest
 * next-attempt of its entries (each DSN keeps its own backoff, set by
 * the run that left it queued), not sooner than JOBS_DSN_TICK after a
 * run (after_run), and once a minute while it is empty.
 */
static void
dsn_schedule(struct job *jb, const struct bridge_conf *c, int after_run,
    time_t now)
{
	struct qschedule s;

	if (c->relayhost == NULL ||
	    spool_schedule(c->spool, DSN_QUEUE, &s) != RS_OK || s.count == 0) {
		jb->next_dsn = c->relayhost != NULL ? now + JOBS_DSN_TICK : 0;
		return;
	}
	jb->next_dsn = s.soonest;
	if (after_run && jb->next_dsn < now + JOBS_DSN_TICK)
		jb->next_dsn = now + JOBS_DSN_TICK;
	if (jb->next_dsn <= now) {
		jb->want_flush = 1;
		jb->next_dsn = now + JOBS_DSN_TICK;
	}
	if (after_run)
		log_info("%s: %u delivery report%s waiting; the next due in "
		    "%ld s", jb->name, s.count, s.count == 1 ? "" : "s",
		    (long)(jb->next_dsn - now));
}

/*
 * dsn_fresh - a DSN queued since the last run started (a flush or a
 * sweep made it): it is due at once, whatever the others wait for.
 */
static int
dsn_fresh(const struct bridge_conf *c, const struct job *dsn)
{
	char newest[QID_LEN];

	return c->relayhost != NULL &&
	    dsn_newest(c, newest, sizeof(newest)) == 0 &&
	    strcmp(newest, dsn->dsn_seen) > 0;
}

int
jobs_reaped(struct jobs *j, const struct bridge_conf *c, pid_t pid,
    int status)
{
	struct job *jb;
	struct job *dsn;
	char how[64];
	int i;

	for (i = 0; i < j->n; i++)
		if (j->v[i].pid == pid)
			break;
	if (i == j->n)
		return 0;
	jb = &j->v[i];
	if (WIFEXITED(status))
		snprintf(how, sizeof(how), "status %d", WEXITSTATUS(status));
	else
		snprintf(how, sizeof(how), "signal %d", WIFSIGNALED(status) ?
		    WTERMSIG(status) : 0);
	(jb->quiet && WIFEXITED(status) && WEXITSTATUS(status) == 0 ?
	    log_debug : log_info)("%s: %s ended, pid %ld, %s%s", jb->name,
	    kind_names[jb->kind], (long)pid, how,
	    jb->kind == JOB_FLUSH && jb->want_flush ? ", again" : "");
	if (jb->kind == JOB_DSN) {
		jb->want_flush = 0;
		dsn_schedule(jb, c, 1, time(NULL));
		if (dsn_fresh(c, jb))
			jb->want_flush = 1;
	}
	if ((jb->kind == JOB_FLUSH || jb->kind == JOB_EXPIRE) &&
	    (dsn = slot(j, DSN_QUEUE)) != NULL) {
		jb = &j->v[i];		/* slot() may have moved the table */
		if (dsn_fresh(c, dsn))
			dsn->want_flush = 1;	/* DSNs were queued */
	}
	jb->pid = 0;
	jb->kind = JOB_IDLE;
	return 1;
}

/* tick - the timers of one customer's slot. */
static void
tick(struct job *jb, const struct customer *cu, time_t now)
{
	if (cu->retry > 0 && jb->next_retry != 0 && now >= jb->next_retry) {
		jb->next_retry = now + cu->retry;
		if (jb->want_flush == 0 && (cu->deliver_mode == DELIVER_HOSTS ||
		    (cu->deliver_mode == DELIVER_PEER && jb->peer[0] != '\0')))
			jb->want_flush = 2;
	}
	if (bundled(cu) && jb->next_bundle != 0 && now >= jb->next_bundle) {
		jb->next_bundle = now + bundle_tick(cu);
		if (jb->want_bundle == 0)
			jb->want_bundle = 1;
	}
}

/* tick_expire - the lifetime sweep timer of a slot. */
static void
tick_expire(struct job *jb, const struct bridge_conf *c, time_t now)
{
	if (jb->next_expire != 0 && now >= jb->next_expire) {
		jb->next_expire = now + expire_tick(c, jb->name);
		jb->want_expire = 1;
	}
}

/* start_expire - the wanted sweep of jb. */
static int
start_expire(struct jobs *j, const struct bridge_conf *c, struct job *jb)
{
	if (start(j, c, jb, JOB_EXPIRE, TIMER) == -1)
		return -1;
	jb->want_expire = 0;
	return 0;
}

void
jobs_run(struct jobs *j, const struct bridge_conf *c, time_t now)
{
	struct job *jb;
	int i;

	for (i = 0; i < c->ncustomers; i++) {
		if ((jb = slot(j, c->customers[i].name)) == NULL)
			return;
		tick(jb, &c->customers[i], now);
		tick_expire(jb, c, now);
		if (jb->next_asked != 0 && now >= jb->next_asked) {
			jb->next_asked = 0;
			if (queue_waiting(c, jb->name))
				jb->want_flush = 1;
		}
	}
	if ((jb = slot(j, DSN_QUEUE)) != NULL && c->relayhost != NULL &&
	    jb->next_dsn != 0 && now >= jb->next_dsn) {
		if (jb->pid != 0)
			jb->next_dsn = now + JOBS_DSN_TICK;
		else
			dsn_schedule(jb, c, 0, now);
	}
	if ((jb = slot(j, DSN_QUEUE)) != NULL)
		tick_expire(jb, c, now);
	for (i = 0; i < j->n; i++) {
		jb = &j->v[i];
		if (jb->pid != 0)
			continue;
		if (strcmp(jb->name, DSN_QUEUE) == 0 && c->relayhost == NULL)
			jb->want_flush = 0;
		else if (strcmp(jb->name, DSN_QUEUE) != 0 &&
		    conf_customer(c, jb->name) == NULL)
			jb->want_flush = jb->want_bundle = jb->want_expire = 0;
		if (jb->want_flush)
			start_flush(j, c, jb);
		else if (jb->want_bundle)
			start_bundle(j, c, jb);
		else if (jb->want_expire)
			start_expire(j, c, jb);
	}
}

static void
soonest(time_t t, time_t now, long *best)
{
	long d;

	if (t == 0)
		return;
	d = t <= now ? 0 : (long)(t - now);
	if (*best < 0 || d < *best)
		*best = d;
}

long
jobs_next(const struct jobs *j, time_t now)
{
	long best = -1;
	int i;

	for (i = 0; i < j->n; i++) {
		soonest(j->v[i].next_retry, now, &best);
		soonest(j->v[i].next_bundle, now, &best);
		soonest(j->v[i].next_dsn, now, &best);
		soonest(j->v[i].next_expire, now, &best);
		soonest(j->v[i].next_asked, now, &best);
	}
	return best < 0 ? 3600 : best;
}

void
jobs_status(const struct jobs *j, char *buf, size_t len)
{
	size_t off;
	int i, n;

	n = snprintf(buf, len, "jobs=%d", jobs_running(j));
	off = n > 0 && (size_t)n < len ? (size_t)n : len;
	for (i = 0; i < j->n && off < len; i++) {
		const struct job *jb = &j->v[i];

		if (jb->pid == 0)
			continue;
		n = snprintf(buf + off, len - off, " %s=%s:%ld%s", jb->name,
		    kind_names[jb->kind], (long)jb->pid,
		    jb->want_flush || jb->want_bundle || jb->want_expire ?
		    ":again" : "");
		if (n < 0 || (size_t)n >= len - off)
			break;
		off += (size_t)n;
	}
}

int
jobs_running(const struct jobs *j)
{
	int i, n = 0;

	for (i = 0; i < j->n; i++)
		if (j->v[i].pid != 0)
			n++;
	return n;
}

void
jobs_signal(struct jobs *j, int sig)
{
	int i;

	for (i = 0; i < j->n; i++)
		if (j->v[i].pid != 0)
			kill(-j->v[i].pid, sig);
}
