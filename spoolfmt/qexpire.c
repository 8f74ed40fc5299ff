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

#include "log.h"
#include "qexpire.h"

#define HEAD_READ	(DSN_HEADERS_MAX + 4)	/* octets read for headers */

struct sweep {
	const struct qexpire_opts *o;
	struct qexpire_stats *st;
};

static void (*hook)(const char *);

void
qexpire_set_hook(void (*fn)(const char *step))
{
	hook = fn;
}

void
qexpire_hook(const char *step)
{
	if (hook != NULL)
		hook(step);
}

char *
qexpire_dur(long secs, char *buf, size_t len)
{
	if (secs > 0 && secs % 86400 == 0)
		snprintf(buf, len, "%ldd", secs / 86400);
	else if (secs > 0 && secs % 3600 == 0)
		snprintf(buf, len, "%ldh", secs / 3600);
	else if (secs > 0 && secs % 60 == 0)
		snprintf(buf, len, "%ldm", secs / 60);
	else
		snprintf(buf, len, "%lds", secs);
	return buf;
}

/*
 * remote_status - the enhanced status code at the start of a 4xx reply
 * ("451 4.2.0 ...") into buf, or NULL when it has none.
 */
static const char *
remote_status(const char *reply, char *buf, size_t len)
{
	size_t n;

	if (reply[0] != '4' || strspn(reply, "0123456789") != 3 ||
	    reply[3] != ' ' || reply[4] != '4' || reply[5] != '.')
		return NULL;
	n = strspn(reply + 4, "0123456789.");
	if (n < 5 || n >= len || (reply[4 + n] != ' ' && reply[4 + n] != '\0'))
		return NULL;
	memcpy(buf, reply + 4, n);
	buf[n] = '\0';
	return buf;
}

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
			if (kind == DSN_DELAYED && remote_status(d->reply,
			    rc[n].status_buf, sizeof(rc[n].status_buf)))
				rc[n].status = rc[n].status_buf;
		}
		n++;
	}
	return n;
}

/*
 * read_orig - the first octets of the message of the entry at path
 * (body at off): all of it for a failed DSN with RET=FULL up to
 * DSN_FULL_MAX (*full = 1; RFC 3461 4.3 asks for it in failed DSNs
 * only), else enough for its headers.  NULL on error.
 */
static char *
read_orig(const char *path, const struct qenv *env, off_t off,
    enum dsn_action kind, size_t *len, int *full)
{
	size_t want, have = 0;
	ssize_t n;
	char *buf;
	int fd;

	*full = kind == DSN_FAILED && env->ret == QRET_FULL &&
	    env->size <= DSN_FULL_MAX;
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
    struct qexpire_stats *st)
{
	struct dsn_report r;
	struct dsn_rcpt *rc;
	char qid[QID_LEN], err[256], *msg;
	const char *to;
	size_t len = 0;
	int n, full, rv = -1;

	if ((msg = read_orig(path, env, off, kind, &len, &full)) == NULL) {
		log_warn("%s: expire: cannot read the message", env->id);
		return -1;
	}
	if ((rc = calloc((size_t)env->nrcpts, sizeof(*rc))) == NULL) {
		free(msg);
		return -1;
	}
	n = qexpire_select(o, env, kind, diag, rc);
	to = dsn_recipient(env->sender, o->postmaster, msg, len);
	if (n == 0 || to == NULL) {
		(kind == DSN_FAILED ? log_info : log_debug)("%s: no %s DSN: %s", env->id, kind == DSN_FAILED ?
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
	log_info("%s: %s DSN %s queued for <%s>, %d recipient%s", env->id,
	    kind == DSN_FAILED ? "failed" : "delayed", qid, to, n,
	    n == 1 ? "" : "s");
	st->dsns++;
	rv = 1;
out:
	free(rc);
	free(msg);
	return rv;
}

/* expire_entry - the failed DSN, then the entry goes. */
static void
expire_entry(const struct qexpire_opts *o, const struct qenv *env,
    const char *path, off_t off, struct qexpire_stats *st)
{
	char diag[200], d1[32];

	qexpire_dur(o->expire_after, d1, sizeof(d1));
	if (strcmp(o->customer, DSN_QUEUE) == 0) {
		log_info("%s: expired DSN to <%s> dropped: not delivered "
		    "within %s", env->id, env->rcpts[0], d1);
	} else {
		snprintf(diag, sizeof(diag), "X-Mailbridge; delivery time "
		    "expired: the recipient's site did not collect it "
		    "within %s", d1);
		if (report(o, env, path, off, DSN_FAILED, diag, st) == -1) {
			st->skipped++;
			return;
		}
		qexpire_hook("expire-dsn-committed");
	}
	if (q_remove(o->spool, o->customer, env->id) != RS_OK) {
		log_warn("%s: expire: remove", env->id);
		st->skipped++;
		return;
	}
	log_info("%s: expired after %s, removed", env->id, d1);
	st->expired++;
}

/* warn_entry - the delayed DSN, then the entry records it. */
static void
warn_entry(const struct qexpire_opts *o, struct qenv *env, const char *path,
    off_t off, struct qexpire_stats *st)
{
	char diag[200], d1[32], err[256];
	int rv;

	snprintf(diag, sizeof(diag), "X-Mailbridge; not yet delivered: the "
	    "recipient's site has not collected it after %s",
	    qexpire_dur(o->warn_after, d1, sizeof(d1)));
	if ((rv = report(o, env, path, off, DSN_DELAYED, diag, st)) == -1) {
		st->skipped++;
		return;
	}
	if (rv == 0)
		return;		/* nothing to record: nobody was told */
	qexpire_hook("warn-dsn-committed");
	env->warned = o->now;
	if (qenv_rewrite(o->spool, env, err, sizeof(err)) != RS_OK) {
		log_warnx("%s: delayed DSN queued but not recorded: %s; it "
		    "may be sent again", env->id, err);
		st->skipped++;
		return;
	}
	st->warned++;
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
		warn_entry(o, &env, path, off, a->st);
	qenv_free(&env);
	return 0;
}

enum result
qexpire_run(const struct qexpire_opts *o, struct qexpire_stats *st)
{
	struct sweep a = { o, st };
	enum result rs = RS_OK;
	int lock;

	memset(st, 0, sizeof(*st));
	if (!name_is_safe(o->customer))
		return RS_PERM;
	if ((lock = spool_lock(o->spool, o->customer, &st->busy)) == -1) {
		if (st->busy)
			log_info("%s: expire: the queue is busy; next time",
			    o->customer);
		return st->busy || errno != ENOENT ? RS_TEMP : RS_OK;
	}
	if (spool_list(o->spool, o->customer, one_entry, &a) != 0) {
		log_warn("%s: expire: cannot list the queue", o->customer);
		rs = RS_TEMP;
	}
	if (strcmp(o->customer, DSN_QUEUE) != 0 && o->expire_after > 0 &&
	    qexpire_outbox(o, st) != RS_OK)
		rs = RS_TEMP;
	close(lock);
	if (st->skipped > 0)
		rs = RS_TEMP;
	return rs;
}
