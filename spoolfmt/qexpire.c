/*
 * qexpire.c - the queue part of the lifetime sweeper (see qexpire.h):
 * lock the queue, look at every entry's envelope in id order, and
 * warn about or expire the ones that are old enough.
 *
 * Order of every step: the DSN is committed into _dsn (dsn_queue
 * fsyncs it) before the entry is marked "warned" or removed; a DSN
 * that cannot be queued leaves the entry exactly as it was.  Only the
 * first octets of a message are read (its headers, or all of it up to
 * DSN_FULL_MAX for RET=FULL).
 */
#include <sys/types.h>
#include <sys/file.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bexpire.h"
#include "crashpt.h"
#include "log.h"
#include "qexpire.h"
#include "qint.h"

#define HEAD_READ	(DSN_HEADERS_MAX + 4)	/* octets read for headers */
#define SIBS_MAX	32	/* other queues' copies taken along */

struct sweep {
	const struct qexpire_opts *o;
	struct qexpire_stats *st;
	char  **queues;			/* the customer queues, once listed */
	int	nqueues;
	int	listed;
};

/* Another customer's copy of a message being warned about, locked. */
struct sib {
	char	customer[64];
	int	lock;
	struct qenv env;
	struct qexpire_opts o;		/* with that customer's lifetimes */
};

int
qexpire_select(const struct qexpire_opts *o, const struct qenv *env,
    enum dsn_action kind, const char *diag, struct dsn_rcpt *rc)
{
	const struct qrcpt_dsn *d;
	int i, n = 0;

	for (i = 0; i < env->nrcpts; i++) {
		if (!qenv_notify(env, env->rcpts[i], kind == DSN_FAILED ?
		    QN_FAILURE : QN_DELAY))
			continue;
		memset(&rc[n], 0, sizeof(rc[n]));
		rc[n].addr = env->rcpts[i];
		rc[n].action = kind;
		rc[n].status = kind == DSN_FAILED ? QEXPIRE_FAIL_STATUS :
		    QEXPIRE_DELAY_STATUS;
		rc[n].diag = diag;
		rc[n].last_attempt = env->last_attempt;
		if (kind == DSN_DELAYED && o->expire_after > 0)
			rc[n].retry_until = env->arrival + o->expire_after;
		if ((d = qenv_rcpt_dsn(env, env->rcpts[i])) != NULL)
			rc[n].orcpt = d->orcpt;
		if (d != NULL && d->reply != NULL) {
			rc[n].remote_mta = d->remote;
			rc[n].diag = d->reply;
			if (kind == DSN_DELAYED && dsn_reply_status(d->reply,
			    rc[n].status_buf, sizeof(rc[n].status_buf)))
				rc[n].status = rc[n].status_buf;
		}
		n++;
	}
	return n;
}

/*
 * read_orig - the first octets of the message of the entry at path
 * (body at off): all of it when want_full, up to DSN_FULL_MAX
 * (*full = 1), else enough for its headers.  NULL on error.
 */
static char *
read_orig(const char *path, const struct qenv *env, off_t off,
    int want_full, size_t *len, int *full)
{
	size_t want, have = 0;
	ssize_t n;
	char *buf;
	int fd;

	*full = want_full && env->size <= DSN_FULL_MAX;
	want = *full ? (size_t)env->size : env->size < HEAD_READ ?
	    (size_t)env->size : HEAD_READ;
	if ((buf = malloc(want + 1)) == NULL)
		return NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		free(buf);
		return NULL;
	}
	while (have < want) {
		n = pread(fd, buf + have, want - have, off + (off_t)have);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	close(fd);
	if (have < want) {
		free(buf);
		return NULL;
	}
	buf[have] = '\0';
	*len = have;
	return buf;
}

/*
 * report - compose and commit the DSN of kind about env (message at
 * path, body at off).  1: committed; 0: nobody to tell (logged);
 * -1: not queued (logged), the caller leaves the entry alone.
 */
static int
report(const struct qexpire_opts *o, const struct qenv *env,
    const char *path, off_t off, enum dsn_action kind, const char *diag,
    struct qexpire_stats *st, const struct sib *sv, int nsv,
    const struct bexpire_copies *bc)
{
	struct dsn_report r;
	struct dsn_rcpt *rc;
	char qid[QID_LEN], err[256], *msg;
	const char *to;
	size_t len = 0, room = (size_t)env->nrcpts;
	int n, full, k, rv = -1;

	if ((msg = read_orig(path, env, off, kind == DSN_FAILED &&
	    env->ret == QRET_FULL, &len, &full)) == NULL) {
		log_warn("%s: expire: cannot read the message", env->id);
		return -1;
	}
	for (k = 0; k < nsv; k++)
		room += (size_t)sv[k].env.nrcpts;
	room += (size_t)bexpire_copies_rcpts(bc);
	if ((rc = calloc(room, sizeof(*rc))) == NULL) {
		free(msg);
		return -1;
	}
	n = qexpire_select(o, env, kind, diag, rc);
	for (k = 0; k < nsv; k++)
		n += qexpire_select(&sv[k].o, &sv[k].env, kind, diag, rc + n);
	n += bexpire_copies_select(bc, diag, rc + n);
	to = dsn_recipient(env->sender, o->postmaster, msg, len);
	if (n == 0 || to == NULL) {
		log_info("%s: no %s DSN: %s", env->id, kind == DSN_FAILED ?
		    "failed" : "delayed", n == 0 ? "NOTIFY does not ask "
		    "for one" : env->sender[0] ? "automatic message and no "
		    "postmaster" : "null sender");
		rv = 0;
		goto out;
	}
	memset(&r, 0, sizeof(r));
	r.reporting_mta = o->hostname;
	r.to = to;
	r.orig_sender = env->sender;
	r.queue_id = env->id;
	r.arrival = env->arrival;
	r.now = o->now;
	r.rcpts = rc;
	r.nrcpts = n;
	r.orig = msg;
	r.origlen = len;
	r.envid = env->envid;
	r.ret_full = full;
	if (dsn_queue(o->spool, &r, qid, sizeof(qid), err, sizeof(err)) !=
	    RS_OK) {
		log_warnx("%s: %s DSN to <%s> not queued: %s; entry kept as "
		    "it was", env->id, kind == DSN_FAILED ? "failed" :
		    "delayed", to, err);
		goto out;
	}
	log_info("%s: %s DSN %s queued for <%s>, %d recipient%s%s", env->id,
	    kind == DSN_FAILED ? "failed" : "delayed", qid, to, n,
	    n == 1 ? "" : "s", nsv > 0 || bc != NULL ? " in the copies of "
	    "several customers" : "");
	st->dsns++;
	rv = 1;
out:
	free(rc);
	free(msg);
	return rv;
}

/*
 * expire_dsn - a DSN the relayhost did not take within expire-after:
 * its copy goes to the postmaster (or, when it was the postmaster's
 * copy, it is dropped, logged).  1 done; -1 not now, the entry stays.
 */
static int
expire_dsn(const struct qexpire_opts *o, const struct qenv *env,
    const char *path, off_t off, const char *d1, struct qexpire_stats *st)
{
	struct dsn_rcpt rc[1];
	char diag[200], qid[QID_LEN], err[256], *msg;
	size_t len = 0;
	enum result rs;
	int full;

	snprintf(diag, sizeof(diag), "X-Mailbridge; delivery time expired: "
	    "the relay host did not take it within %s", d1);
	if ((msg = read_orig(path, env, off, 1, &len, &full)) == NULL) {
		log_warn("%s: expire: cannot read the DSN", env->id);
		return -1;
	}
	qexpire_select(o, env, DSN_FAILED, diag, rc);
	rs = dsn_postmaster_copy(o->spool, o->postmaster, o->hostname, env,
	    msg, len, rc, o->now, qid, sizeof(qid), err, sizeof(err));
	free(msg);
	if (rs == RS_TEMP) {
		log_warnx("%s: expired DSN: the postmaster's copy not queued: "
		    "%s; entry kept as it was", env->id, err);
		return -1;
	}
	if (rs == RS_PERM)
		log_warnx("%s: expired DSN to <%s> dropped: %s", env->id,
		    env->rcpts[0], err);
	else {
		log_info("%s: expired DSN to <%s>: copy %s queued for the "
		    "postmaster <%s>", env->id, env->rcpts[0], qid,
		    o->postmaster);
		st->dsns++;
	}
	return 1;
}

/* expire_entry - the failed DSN, then the entry goes. */
static void
expire_entry(const struct qexpire_opts *o, const struct qenv *env,
    const char *path, off_t off, struct qexpire_stats *st)
{
	char diag[200], d1[32];

	duration_format(o->expire_after, d1, sizeof(d1));
	if (strcmp(o->customer, DSN_QUEUE) == 0) {
		if (expire_dsn(o, env, path, off, d1, st) == -1) {
			st->skipped++;
			return;
		}
		spool_crash_point("expire-dsn-committed");
	} else {
		snprintf(diag, sizeof(diag), "X-Mailbridge; delivery time "
		    "expired: the recipient's site did not collect it "
		    "within %s", d1);
		if (report(o, env, path, off, DSN_FAILED, diag, st, NULL,
		    0, NULL) == -1) {
			st->skipped++;
			return;
		}
		spool_crash_point("expire-dsn-committed");
	}
	if (q_remove(o->spool, o->customer, env->id) != RS_OK) {
		log_warn("%s: expire: remove", env->id);
		st->skipped++;
		return;
	}
	log_info("%s: expired after %s, removed", env->id, d1);
	st->expired++;
}

/*
 * copy_due - is customer's copy env due for a delayed DSN by that
 * customer's lifetimes (o->lifetimes; none: no)?  Fills so with them.
 */
static int
copy_due(const struct qexpire_opts *o, const char *customer,
    const struct qenv *env, struct qexpire_opts *so)
{
	long age = (long)(o->now - env->arrival);

	*so = *o;
	so->customer = customer;
	if (o->lifetimes == NULL || o->lifetimes(o->lifetimes_arg, customer,
	    &so->warn_after, &so->expire_after) == -1)
		return 0;
	return env->warned == 0 && so->warn_after > 0 &&
	    age >= so->warn_after && (so->expire_after == 0 ||
	    (so->warn_after < so->expire_after && age < so->expire_after));
}

static void
sibs_free(struct sib *sv, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		qenv_free(&sv[i].env);
		close(sv[i].lock);
	}
}

/* sib_take - customer's copy of id, when it is due, locked, into sb. */
static int
sib_take(struct sweep *a, const char *customer, const char *id,
    struct sib *sb)
{
	const struct qexpire_opts *o = a->o;
	char path[PATH_MAX];

	if (q_path(path, sizeof(path), o->spool, customer, "new", id) == -1 ||
	    (sb->lock = spool_lock_wait(o->spool, customer,
	    QEXPIRE_LOCK_TRIES)) == -1)
		return -1;
	if (qenv_read(path, &sb->env, NULL, NULL, 0) != RS_OK) {
		close(sb->lock);
		return -1;
	}
	if (!copy_due(o, customer, &sb->env, &sb->o) ||
	    strcmp(sb->env.customer, customer) != 0) {
		sibs_free(sb, 1);
		return -1;
	}
	strlcpy_(sb->customer, customer, sizeof(sb->customer));
	sb->o.customer = sb->customer;
	return 0;
}

/*
 * siblings - the copies of env's message in other customers' queues
 * that are due for a delayed DSN too (by their own lifetimes), locked,
 * into sv (*n of them), so that one DSN names every recipient.  1 when
 * such a copy is in a queue whose name sorts first: that queue's sweep
 * sends the DSN for all, and this one leaves it alone (sv empty).
 * A copy that is busy for a second is left to its own sweep.
 */
static int
siblings(struct sweep *a, const struct qenv *env, struct sib *sv, int *n)
{
	const struct qexpire_opts *o = a->o;
	struct qexpire_opts so;
	char path[PATH_MAX];
	struct qenv e;
	int i, first;

	*n = 0;
	if (o->lifetimes == NULL)
		return 0;
	if (!a->listed && spool_customers(o->spool, &a->queues,
	    &a->nqueues) == 0)
		a->listed = 1;
	for (i = 0; i < a->nqueues; i++) {
		if (strcmp(a->queues[i], o->customer) == 0 ||
		    strcmp(a->queues[i], DSN_QUEUE) == 0 ||
		    q_path(path, sizeof(path), o->spool, a->queues[i], "new",
		    env->id) == -1 || access(path, F_OK) == -1 ||
		    qenv_read(path, &e, NULL, NULL, 0) != RS_OK)
			continue;
		first = copy_due(o, a->queues[i], &e, &so) &&
		    strcmp(a->queues[i], o->customer) < 0;
		qenv_free(&e);
		if (first) {
			sibs_free(sv, *n);
			*n = 0;
			return 1;
		}
		if (*n < SIBS_MAX && sib_take(a, a->queues[i], env->id,
		    &sv[*n]) == 0)
			(*n)++;
	}
	return 0;
}

/* mark - a copy records that its delayed DSN was queued (or decided). */
static int
mark(const struct qexpire_opts *o, struct qenv *env, int rv,
    struct qexpire_stats *st)
{
	char err[256];

	env->warned = o->now;
	if (qenv_rewrite(o->spool, env, err, sizeof(err)) != RS_OK) {
		log_warnx("%s: %s: delayed DSN %s but not recorded: %s; it may "
		    "be %s again", env->customer, env->id, rv == 1 ? "queued" :
		    "decided", err, rv == 1 ? "sent" : "logged");
		st->skipped++;
		return -1;
	}
	st->warned++;
	return 0;
}

/*
 * warn_entry - one delayed DSN for the message, its copies in other
 * queues and outboxes included, then each copy records it.
 */
static void
warn_entry(struct sweep *a, struct qenv *env, const char *path, off_t off)
{
	const struct qexpire_opts *o = a->o;
	struct bexpire_copies *bc;
	struct sib sv[SIBS_MAX];
	char diag[200], d1[32];
	int rv, nsv, i;

	if (siblings(a, env, sv, &nsv) == 1) {
		log_debug("%s: delayed DSN left to the sweep of another "
		    "customer's copy", env->id);
		return;
	}
	snprintf(diag, sizeof(diag), "X-Mailbridge; not yet delivered: the "
	    "recipient's site has not collected it after %s",
	    duration_format(o->warn_after, d1, sizeof(d1)));
	bc = bexpire_copies(o, env->id, env->arrival);
	if ((rv = report(o, env, path, off, DSN_DELAYED, diag, a->st, sv,
	    nsv, bc)) == -1) {
		a->st->skipped++;
		sibs_free(sv, nsv);
		bexpire_copies_free(bc);
		return;
	}
	if (rv == 1)
		spool_crash_point("warn-dsn-committed");
	mark(o, env, rv, a->st);
	for (i = 0; i < nsv; i++)
		mark(&sv[i].o, &sv[i].env, rv, a->st);
	bexpire_copies_mark(o, bc, env->id);
	sibs_free(sv, nsv);
	bexpire_copies_free(bc);
}

/* one_entry - spool_list callback: look at one entry. */
static int
one_entry(void *arg, const char *id, const char *path)
{
	struct sweep *a = arg;
	const struct qexpire_opts *o = a->o;
	struct qenv env;
	char err[256];
	off_t off;
	long age;

	if (qenv_read(path, &env, &off, err, sizeof(err)) != RS_OK) {
		if (errno != ENOENT)
			log_warnx("%s: %s: expire: skipped: %s", o->customer,
			    id, err);
		return 0;
	}
	a->st->entries++;
	age = (long)(o->now - env.arrival);
	if (strcmp(env.id, id) != 0 || strcmp(env.customer, o->customer) != 0)
		log_warnx("%s: %s: expire: skipped: envelope names another "
		    "place", o->customer, id);
	else if (o->expire_after > 0 && age >= o->expire_after)
		expire_entry(o, &env, path, off, a->st);
	else if (o->warn_after > 0 && age >= o->warn_after &&
	    env.warned == 0 && strcmp(o->customer, DSN_QUEUE) != 0 &&
	    (o->expire_after == 0 || o->warn_after < o->expire_after))
		warn_entry(a, &env, path, off);
	qenv_free(&env);
	return 0;
}

enum result
qexpire_run(const struct qexpire_opts *o, struct qexpire_stats *st)
{
	struct sweep a;
	enum result rs = RS_OK;
	int lock;

	memset(&a, 0, sizeof(a));
	a.o = o;
	a.st = st;

	memset(st, 0, sizeof(*st));
	if (!name_is_safe(o->customer))
		return RS_PERM;
	if ((lock = spool_lock(o->spool, o->customer, &st->busy)) == -1) {
		if (st->busy)		/* every sweep while a flush runs */
			log_debug("%s: expire: the queue is busy; next time",
			    o->customer);
		return st->busy || errno != ENOENT ? RS_TEMP : RS_OK;
	}
	if (spool_list(o->spool, o->customer, one_entry, &a) != 0) {
		log_warn("%s: expire: cannot list the queue", o->customer);
		rs = RS_TEMP;
	}
	if (strcmp(o->customer, DSN_QUEUE) != 0 && (o->expire_after > 0 ||
	    o->warn_after > 0) && bexpire_outbox(o, st) != RS_OK)
		rs = RS_TEMP;
	close(lock);
	if (a.listed)
		spool_customers_free(a.queues, a.nqueues);
	if (st->skipped > 0)
		rs = RS_TEMP;
	return rs;
}
