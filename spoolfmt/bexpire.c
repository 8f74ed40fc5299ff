/*
 * bexpire.c - the outbox part of the lifetime sweeper (see qexpire.h):
 * bundles published for a uucp or ssh customer that nobody took.
 *
 * Lifetimes are timed from the messages' arrival (each copy's
 * ARRIVAL=), not from the bundle's creation (the time in its name,
 * which is no earlier than its newest message's arrival): a message
 * is warned about warn_after after it arrived, and the bundle (all or
 * nothing) expires expire_after after its newest message arrived, or
 * at once when it was made that long ago.  Every bundle's first copy
 * (the bundler packs the oldest first) is read to see whether anything
 * in it is due; only then all of it.  A due bundle is verified whole
 * first (gzip CRC, every
 * command); then its copies are read in order and grouped back into
 * messages by the queue id in each copy's X-Mailbridge-Envelope: field
 * (dsnenv.h), which also gives the arrival, ENVID, RET and each
 * recipient's NOTIFY and ORCPT: one delayed DSN per message (with the
 * recipients of its due copies in other customers' outboxes, or left
 * to the sweep of a due copy in a queue; qexpire.h), its queue id then
 * recorded in the bundle's marker; one failed DSN per message for the
 * recipients whose NOTIFY asks for it, carrying the whole message for
 * RET=FULL (up to DSN_FULL_MAX).  Copies from bundles written before
 * the field existed are grouped by sender and header, one after the
 * other, and all reported.  The bundle is unlinked only after every
 * DSN is committed.  Nothing else
 * takes bundles out of the outbox while the queue lock is held except
 * the leaf (SFTP) or a UUCP hand-off: bridged runs the sweep in the
 * customer's job slot, so never beside its hand-off ("bridgectl
 * expire" can be: then a bundle uux is taking at that moment may be
 * both sent and reported failed, never lost); a leaf that is
 * reading a bundle we unlink still reads it whole (UNIX semantics) and
 * its own removal then finds nothing, which it tolerates.
 */
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "bexpire.h"
#include "bundle.h"
#include "bundler.h"
#include "crashpt.h"
#include "dsnenv.h"
#include "log.h"
#include "qexpire.h"
#include "qint.h"

#define HEAD_MAX	(DSN_HEADERS_MAX + 4)
#define WARNED_SUFFIX	".warned"	/* bundle-tmp/<c>/NAME.warned */
#define XET_MAX		(BUNDLE_PATH_MAX + 20)	/* our X-Envelope-To line */

/* One message being gathered from its copies. */
struct group {
	char   *sender;
	struct dsnenv env;		/* the message's part; qid "" if none */
	int	nrcpts;
	char  **rcpts;
	unsigned *notify;		/* each copy's NOTIFY */
	char  **orcpt;			/* each copy's ORCPT, or NULL */
	char  **remote;			/* each copy's last 4xx: host, */
	char  **reply;			/* and reply; or NULL */
	char   *orig;			/* the first copy, from its header on */
	size_t	origlen;
	size_t	headlen;		/* octets of its header in orig */
	int	full;			/* orig is the whole message */
};

struct bsweep {
	const struct qexpire_opts *o;
	struct qexpire_stats *st;
	const char *name;		/* the bundle */
	enum dsn_action kind;		/* failed (expiry) or delayed */
	time_t	retry_until;		/* delayed: when it will expire */
	char	diag[200];
	int	failed;			/* a DSN was not queued */
	int	messages;
	struct strv done;		/* delayed: the messages warned about */
	int	newly;			/* ... of them by this sweep */
	int	deferred;		/* a message left for later, or to
					   another customer's sweep */
};

/*
 * Another customer's copy of a message, in a bundle in its outbox,
 * that is due for a delayed DSN too: its queue is locked until the
 * DSN is committed and the copy marked.
 */
struct bcopy {
	char	customer[64];
	char	name[BUNDLE_NAME_MAX];
	int	lock;
	struct group g;
	time_t	retry_until;
};

struct bexpire_copies {
	int	n;
	struct bcopy v[BEXPIRE_COPIES_MAX];
};

/* head_len - octets of the header section of p (n octets), cut at n. */
static size_t
head_len(const char *p, size_t n)
{
	const char *q;

	if (n >= 2 && p[0] == '\r' && p[1] == '\n')
		return 0;
	for (q = p; (q = memchr(q, '\n', (size_t)(p + n - q))) != NULL; q++)
		if (q + 1 < p + n && (q[1] == '\n' || (q[1] == '\r' &&
		    q + 2 < p + n && q[2] == '\n')))
			return (size_t)(q + 1 - p);
	return n;
}

/*
 * copy_orig - what a DSN returns of copy m: all of it for RET=FULL up
 * to DSN_FULL_MAX (*full = 1), else enough for its header; without the
 * X-Envelope-To: line the writer put first.
 */
static char *
copy_orig(const struct bundle_msg *m, int want_full, size_t *len,
    int *full)
{
	static const char xet[] = "X-Envelope-To:";
	size_t want;
	char *buf, *nl;
	ssize_t n;

	*full = want_full && m->size <= DSN_FULL_MAX + XET_MAX;
	want = *full ? (size_t)m->size : HEAD_MAX;
	if ((buf = malloc(want + 1)) == NULL ||
	    (n = bundle_msg_pread(m, buf, want, 0)) < 0) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	*len = (size_t)n;
	if (*len > sizeof(xet) && strncasecmp(buf, xet, sizeof(xet) - 1) ==
	    0 && (nl = memchr(buf, '\n', *len)) != NULL) {
		*len -= (size_t)(nl + 1 - buf);
		memmove(buf, nl + 1, *len + 1);
	}
	if (*full && *len > DSN_FULL_MAX)
		*full = 0;
	return buf;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
group_free(struct group *g)
{
	int i;

	for (i = 0; i < g->nrcpts; i++) {
		free(g->rcpts[i]);
		free(g->orcpt[i]);
		free(g->remote[i]);
		free(g->reply[i]);
	}
	free(g->rcpts);
	free(g->orcpt);
	free(g->remote);
	free(g->reply);
	free(g->notify);
	free(g->sender);
	free(g->orig);
	memset(g, 0, sizeof(*g));
}

/*
 * last_reply - recipient i of g had a 4xx reply recorded before it was
 * bundled: that reply is rc's Diagnostic-Code and its host Remote-MTA
 * (and, in a delayed DSN, its status code), as for a queued entry.
 */
static void
last_reply(struct dsn_rcpt *rc, const struct group *g, int i)
{
	if (g->reply[i] == NULL)
		return;
	rc->remote_mta = g->remote[i];
	rc->diag = g->reply[i];
	if (rc->action == DSN_DELAYED && dsn_reply_status(g->reply[i],
	    rc->status_buf, sizeof(rc->status_buf)) != NULL)
		rc->status = rc->status_buf;
}

/* group_select - the recipients of g whose NOTIFY asks for b->kind. */
static int
group_select(struct bsweep *b, const struct group *g, struct dsn_rcpt *rc)
{
	int i, n = 0, failed = b->kind == DSN_FAILED;

	for (i = 0; i < g->nrcpts; i++) {
		if (!dsnenv_notify(g->notify[i], failed ? QN_FAILURE :
		    QN_DELAY))
			continue;
		memset(&rc[n], 0, sizeof(rc[n]));
		rc[n].addr = g->rcpts[i];
		rc[n].action = b->kind;
		rc[n].status = failed ? QEXPIRE_FAIL_STATUS :
		    QEXPIRE_DELAY_STATUS;
		rc[n].retry_until = failed ? 0 : b->retry_until;
		rc[n].diag = b->diag;
		rc[n].orcpt = g->orcpt[i];
		last_reply(&rc[n], g, i);
		n++;
	}
	return n;
}

/*
 * same_message - is copy m (envelope e) another copy of g's message?
 * By the queue id in the envelopes; copies written before bundles had
 * envelopes: the same sender and the same header, one after the other.
 */
static int
same_message(const struct group *g, const struct bundle_msg *m,
    const struct dsnenv *e, const char *orig, size_t headlen)
{
	if (g->sender == NULL || strcmp(m->sender, g->sender) != 0)
		return 0;
	if (e->qid[0] != '\0' || g->env.qid[0] != '\0')
		return strcmp(e->qid, g->env.qid) == 0;
	return headlen == g->headlen && memcmp(orig, g->orig, headlen) == 0;
}

/* grow - room for one more in the array *v of n elements of size sz. */
static int
grow(void *v, int n, size_t sz)
{
	void *nv;

	if ((nv = reallocarray(*(void **)v, (size_t)n + 1, sz)) == NULL)
		return -1;
	*(void **)v = nv;
	return 0;
}

/* group_rcpt - add the recipients of copy m to g. */
static int
group_rcpt(struct group *g, const struct bundle_msg *m,
    const struct dsnenv *e)
{
	unsigned i;
	int k;

	for (i = 0; i < m->nrcpts; i++) {
		k = g->nrcpts;
		if (grow(&g->rcpts, k, sizeof(*g->rcpts)) == -1 ||
		    grow(&g->orcpt, k, sizeof(*g->orcpt)) == -1 ||
		    grow(&g->notify, k, sizeof(*g->notify)) == -1 ||
		    grow(&g->remote, k, sizeof(*g->remote)) == -1 ||
		    grow(&g->reply, k, sizeof(*g->reply)) == -1 ||
		    (g->rcpts[k] = strdup(m->rcpts[i])) == NULL)
			return -1;
		g->notify[k] = e->notify;
		g->orcpt[k] = g->remote[k] = g->reply[k] = NULL;
		g->nrcpts++;		/* group_free frees what is set */
		if (e->orcpt[0] != '\0' &&
		    (g->orcpt[k] = strdup(e->orcpt)) == NULL)
			return -1;
		if (e->reply[0] != '\0' &&
		    ((g->remote[k] = strdup(e->remote)) == NULL ||
		    (g->reply[k] = strdup(e->reply)) == NULL))
			return -1;
	}
	return 0;
}

/* --- markers: which messages of a published bundle were warned about */

/* marker - "<spool>/bundle-tmp/<customer>/NAME.warned" (or its tmp). */
static int
marker(char *buf, size_t len, const char *spool, const char *customer,
    const char *name, int tmp)
{
	return path_build(buf, len, "%s/bundle-tmp/%s/%s%s%s", spool,
	    customer, name, tmp ? ".tmp" : "", WARNED_SUFFIX);
}

/*
 * marker_read - what the marker of customer's bundle name says: 1 the
 * whole bundle was warned about ("warned" line), 0 the messages whose
 * queue ids it lists ("qid" lines, into ids, may be none), -1 no
 * marker or none this reader understands (the sweep decides again).
 */
static int
marker_read(const char *spool, const char *customer, const char *name,
    struct strv *ids)
{
	char path[PATH_MAX], *line = NULL, *sp;
	size_t cap = 0;
	ssize_t n;
	FILE *fp;
	int rv = -1, fd;

	if (marker(path, sizeof(path), spool, customer, name, 0) == -1 ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return -1;
	if ((fp = fdopen(fd, "r")) == NULL) {
		close(fd);
		return -1;
	}
	while ((n = getline(&line, &cap, fp)) > 0) {
		if (line[n - 1] == '\n')
			line[--n] = '\0';
		if (rv == -1) {
			if (strcmp(line, "MBW 1") != 0)
				break;
			rv = 0;
		} else if (strncmp(line, "warned ", 7) == 0)
			rv = 1;
		else if (strncmp(line, "qid ", 4) == 0) {
			if ((sp = strchr(line + 4, ' ')) != NULL)
				*sp = '\0';
			if (qid_is_valid(line + 4) &&
			    strv_add(ids, line + 4) == -1) {
				rv = -1;
				break;
			}
		}
	}
	free(line);
	fclose(fp);
	return rv;
}

/*
 * marker_write - the marker of customer's bundle name, durably (tmp,
 * fsync, rename, fsync): whole, or the messages in ids.  0 or -1.
 */
static int
marker_write(const char *spool, const char *customer, const char *name,
    int whole, const struct strv *ids, time_t now)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	size_t i;
	int fd, bad;

	if (marker(path, sizeof(path), spool, customer, name, 0) == -1 ||
	    marker(tmp, sizeof(tmp), spool, customer, name, 1) == -1 ||
	    (fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC |
	    O_NOFOLLOW, 0600)) == -1)
		return -1;
	bad = dprintf(fd, "MBW 1\nbundle %s\n", name) < 0;
	for (i = 0; i < ids->n && !bad; i++)
		bad = dprintf(fd, "qid %s %lld\n", ids->v[i],
		    (long long)now) < 0;
	if (whole && !bad)
		bad = dprintf(fd, "warned %lld\n", (long long)now) < 0;
	bad = bad || fsync(fd) == -1;
	if (close(fd) == -1 || bad || rename(tmp, path) == -1 ||
	    io_fsync_parent(path) == -1) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

static int
strv_has(const struct strv *sv, const char *s)
{
	size_t i;

	for (i = 0; i < sv->n; i++)
		if (strcmp(sv->v[i], s) == 0)
			return 1;
	return 0;
}

/* --- the copies of one message in other customers' outboxes -------- */

/*
 * warn_due - is a copy of age seconds due for a delayed DSN by warn
 * and expire (one customer's lifetimes)?
 */
static int
warn_due(long age, long warn, long expire)
{
	return warn > 0 && age >= warn && (expire == 0 ||
	    (warn < expire && age < expire));
}

/*
 * copy_arrival - when the message of a copy in bundle name arrived: its
 * ARRIVAL=, else the time of its queue id, else (a copy from before
 * bundles had envelopes) the bundle's.
 */
static time_t
copy_arrival(const struct dsnenv *e, const char *name)
{
	if (e->arrival != 0)
		return e->arrival;
	return qid_time(e->qid[0] != '\0' ? e->qid : name);
}

/*
 * bundle_times - when the first copy's message of bundle dir/name
 * arrived (*oldest: the bundler packs the oldest first) and, unless
 * first_only, the newest arrival of all; 0, or -1 when it could not be
 * read.
 */
static int
bundle_times(const struct qexpire_opts *o, const char *dir,
    const char *name, int first_only, time_t *oldest, time_t *newest)
{
	struct bundle_reader *r;
	struct bundle_msg m;
	struct dsnenv e;
	char path[PATH_MAX], err[256];
	time_t t;
	int rc, fd, seen = 0;

	if (path_build(path, sizeof(path), "%s/%s", dir, name) == -1 ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return -1;
	if ((r = bundle_reader_open(fd, o->spool)) == NULL) {
		close(fd);
		return -1;
	}
	while ((rc = bundle_read_next(r, &m, err, sizeof(err))) == 1) {
		if (bundle_read_body(r, &m, 1, err, sizeof(err)) == -1) {
			bundle_msg_free(&m);
			rc = -1;
			break;
		}
		if (m.env == NULL || dsnenv_parse(m.env, m.envlen, &e) == -1)
			memset(&e, 0, sizeof(e));
		bundle_msg_free(&m);
		t = copy_arrival(&e, name);
		if (!seen)
			*oldest = *newest = t;
		else if (t > *newest)
			*newest = t;
		seen = 1;
		if (first_only)
			break;
	}
	bundle_reader_close(r);
	close(fd);
	return rc == -1 || !seen ? -1 : 0;
}

/*
 * find_copy - the copy (its recipients) of message qid in bundle dir/name
 * into g, and the newest arrival of the bundle's messages (when it will
 * expire) into *newest.  1 found and not warned about while queued; 0
 * not there (or warned); -1 the bundle could not be read.
 */
static int
find_copy(const char *spool, const char *dir, const char *name,
    const char *qid, struct group *g, time_t *newest)
{
	struct bundle_reader *r;
	struct bundle_msg m;
	struct dsnenv e;
	char path[PATH_MAX], err[256];
	int rc, fd, found = 0;

	*newest = 0;
	if (path_build(path, sizeof(path), "%s/%s", dir, name) == -1 ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return -1;
	if ((r = bundle_reader_open(fd, spool)) == NULL) {
		close(fd);
		return -1;
	}
	while ((rc = bundle_read_next(r, &m, err, sizeof(err))) == 1) {
		if (bundle_read_body(r, &m, 1, err, sizeof(err)) == -1) {
			bundle_msg_free(&m);
			rc = -1;
			break;
		}
		if (m.env == NULL || dsnenv_parse(m.env, m.envlen, &e) == -1)
			memset(&e, 0, sizeof(e));
		if (copy_arrival(&e, name) > *newest)
			*newest = copy_arrival(&e, name);
		if (strcmp(e.qid, qid) != 0 || e.qid[0] == '\0') {
			bundle_msg_free(&m);
			continue;
		}
		if (m.nrcpts != 1)
			e.notify = 0;
		if (!found && (g->sender = strdup(m.sender)) != NULL)
			g->env = e;
		found = 1;
		if (g->sender == NULL || group_rcpt(g, &m, &e) == -1)
			rc = -1;
		bundle_msg_free(&m);
		if (rc == -1)
			break;
	}
	bundle_reader_close(r);
	close(fd);
	if (rc == -1 || !found || g->env.warned != 0) {
		group_free(g);
		return rc == -1 ? -1 : 0;
	}
	return 1;
}

/*
 * outbox_copy - customer's copy of message qid (arrived at arrival) in
 * a bundle of its outbox, when it is due by that customer's lifetimes
 * (timed from the arrival) and not warned about, locked, into c.  0 or
 * -1.
 */
static int
outbox_copy(const struct qexpire_opts *o, const char *customer,
    const char *qid, time_t arrival, struct bcopy *c)
{
	struct strv ids;
	char dir[PATH_MAX], **names;
	long warn, expire;
	time_t newest;
	size_t n, i;
	int m, rv = -1;

	if (o->lifetimes(o->lifetimes_arg, customer, &warn, &expire) == -1 ||
	    !warn_due((long)(o->now - arrival), warn, expire) ||
	    bundler_outbox(dir, sizeof(dir), o->spool, customer) == -1 ||
	    bundle_list(dir, &names, &n) == -1)
		return -1;
	c->lock = -1;
	for (i = 0; i < n && rv == -1; i++) {
		if (qid_time(names[i]) + 1 < arrival)	/* made before it */
			continue;
		if (c->lock == -1 && (c->lock = spool_lock_wait(o->spool,
		    customer, QEXPIRE_LOCK_TRIES)) == -1)
			break;		/* left to its own sweep */
		memset(&ids, 0, sizeof(ids));
		m = marker_read(o->spool, customer, names[i], &ids);
		if (m != 1 && !strv_has(&ids, qid) && find_copy(o->spool,
		    dir, names[i], qid, &c->g, &newest) == 1) {
			strlcpy_(c->customer, customer, sizeof(c->customer));
			strlcpy_(c->name, names[i], sizeof(c->name));
			c->retry_until = expire > 0 ? newest + expire : 0;
			rv = 0;
		}
		strv_free(ids.v, ids.n);
	}
	strv_free(names, n);
	if (rv == -1 && c->lock != -1)
		close(c->lock);
	return rv;
}

struct bexpire_copies *
bexpire_copies(const struct qexpire_opts *o, const char *qid,
    time_t arrival)
{
	struct bexpire_copies *bc;
	char **queues;
	int nq, i;

	if (o->lifetimes == NULL || spool_customers(o->spool, &queues,
	    &nq) == -1)
		return NULL;
	if ((bc = calloc(1, sizeof(*bc))) != NULL)
		for (i = 0; i < nq && bc->n < BEXPIRE_COPIES_MAX; i++)
			if (strcmp(queues[i], o->customer) != 0 &&
			    strcmp(queues[i], DSN_QUEUE) != 0 &&
			    outbox_copy(o, queues[i], qid, arrival,
			    &bc->v[bc->n]) == 0)
				bc->n++;
	spool_customers_free(queues, nq);
	if (bc != NULL && bc->n == 0) {
		free(bc);
		bc = NULL;
	}
	return bc;
}

int
bexpire_copies_rcpts(const struct bexpire_copies *bc)
{
	int i, n = 0;

	for (i = 0; bc != NULL && i < bc->n; i++)
		n += bc->v[i].g.nrcpts;
	return n;
}

int
bexpire_copies_select(const struct bexpire_copies *bc, const char *diag,
    struct dsn_rcpt *rc)
{
	const struct group *g;
	int i, k, n = 0;

	for (i = 0; bc != NULL && i < bc->n; i++) {
		g = &bc->v[i].g;
		for (k = 0; k < g->nrcpts; k++) {
			if (!dsnenv_notify(g->notify[k], QN_DELAY))
				continue;
			memset(&rc[n], 0, sizeof(rc[n]));
			rc[n].addr = g->rcpts[k];
			rc[n].action = DSN_DELAYED;
			rc[n].status = QEXPIRE_DELAY_STATUS;
			rc[n].retry_until = bc->v[i].retry_until;
			rc[n].diag = diag;
			rc[n].orcpt = g->orcpt[k];
			last_reply(&rc[n], g, k);
			n++;
		}
	}
	return n;
}

const char *
bexpire_copies_first(const struct bexpire_copies *bc)
{
	const char *first = NULL;
	int i;

	for (i = 0; bc != NULL && i < bc->n; i++)
		if (first == NULL || strcmp(bc->v[i].customer, first) < 0)
			first = bc->v[i].customer;
	return first;
}

void
bexpire_copies_mark(const struct qexpire_opts *o,
    const struct bexpire_copies *bc, const char *qid)
{
	const struct bcopy *c;
	struct strv ids;
	int i, m;

	for (i = 0; bc != NULL && i < bc->n; i++) {
		c = &bc->v[i];
		memset(&ids, 0, sizeof(ids));
		m = marker_read(o->spool, c->customer, c->name, &ids);
		if (m != 1 && (strv_add(&ids, qid) == -1 ||
		    marker_write(o->spool, c->customer, c->name, 0, &ids,
		    o->now) == -1))
			log_warn("%s: bundle %s: %s: delayed DSN queued but "
			    "not recorded; it may be sent again", c->customer,
			    c->name, qid);
		strv_free(ids.v, ids.n);
	}
}

void
bexpire_copies_free(struct bexpire_copies *bc)
{
	int i;

	for (i = 0; bc != NULL && i < bc->n; i++) {
		group_free(&bc->v[i].g);
		close(bc->v[i].lock);
	}
	free(bc);
}

/*
 * queue_copy_due - is a copy of message qid in another customer's
 * queue due for a delayed DSN by that customer's lifetimes?  Then that
 * queue's sweep sends it, with this copy in it (qexpire.c).
 */
static int
queue_copy_due(const struct qexpire_opts *o, const char *qid)
{
	char path[PATH_MAX], **queues;
	long warn, expire;
	struct qenv env;
	int nq, i, due = 0;

	if (o->lifetimes == NULL || spool_customers(o->spool, &queues,
	    &nq) == -1)
		return 0;
	for (i = 0; i < nq && !due; i++) {
		if (strcmp(queues[i], o->customer) == 0 ||
		    strcmp(queues[i], DSN_QUEUE) == 0 ||
		    q_path(path, sizeof(path), o->spool, queues[i], "new",
		    qid) == -1 || access(path, F_OK) == -1 ||
		    o->lifetimes(o->lifetimes_arg, queues[i], &warn,
		    &expire) == -1 ||
		    qenv_read(path, &env, NULL, NULL, 0) != RS_OK)
			continue;
		due = env.warned == 0 && strcmp(env.customer, queues[i]) == 0 &&
		    warn_due((long)(o->now - env.arrival), warn, expire);
		qenv_free(&env);
	}
	spool_customers_free(queues, nq);
	return due;
}

/*
 * other_copies - for a delayed DSN about message qid: the copies of it
 * in other customers' outboxes that are due too, locked, into *bc.  1
 * when another customer's sweep is to send it: a copy in a queue is
 * due (queues go first), or one in an outbox whose customer sorts
 * first.
 */
static int
other_copies(struct bsweep *b, const char *qid, time_t arrival,
    struct bexpire_copies **bc)
{
	const char *first;

	*bc = NULL;
	if (queue_copy_due(b->o, qid))
		return 1;
	*bc = bexpire_copies(b->o, qid, arrival);
	if ((first = bexpire_copies_first(*bc)) != NULL &&
	    strcmp(first, b->o->customer) < 0) {
		bexpire_copies_free(*bc);
		*bc = NULL;
		return 1;
	}
	return 0;
}

/*
 * decided - the delayed DSN about qid is queued (or nobody was owed
 * one): this bundle's sweep and the other copies' markers say so.
 */
static void
decided(struct bsweep *b, const char *qid, const struct bexpire_copies *bc)
{
	if (b->kind != DSN_DELAYED || qid == NULL)
		return;
	if (strv_add(&b->done, qid) == -1)
		b->failed = 1;
	b->newly++;
	bexpire_copies_mark(b->o, bc, qid);
}

/*
 * group_report - the failed (or delayed) DSN for one gathered message;
 * no delayed one when the message was warned about while queued or by
 * another copy's sweep.  A delayed DSN names the recipients of the
 * message's due copies in other customers' outboxes too, and is left
 * to another customer's sweep when other_copies says so.
 */
static void
group_report(struct bsweep *b, struct group *g)
{
	const struct qexpire_opts *o = b->o;
	const char *qid = g->env.qid[0] ? g->env.qid : NULL;
	const char *what = dsn_action_name(b->kind);
	struct bexpire_copies *bc = NULL;
	struct dsn_report r;
	struct dsn_rcpt *rc;
	char dqid[QID_LEN], err[256];
	const char *to;
	time_t arrival;
	int n;

	b->messages++;
	arrival = copy_arrival(&g->env, b->name);
	if (b->kind == DSN_DELAYED && (g->env.warned != 0 ||
	    (qid != NULL && strv_has(&b->done, qid))))
		return;
	if (b->kind == DSN_DELAYED && (long)(o->now - arrival) <
	    o->warn_after) {
		b->deferred = 1;	/* not late yet: a later sweep */
		return;
	}
	if (b->kind == DSN_DELAYED && qid != NULL &&
	    other_copies(b, qid, arrival, &bc) == 1) {
		log_debug("%s: bundle %s: message %s: delayed DSN left to the "
		    "sweep of another customer's copy", o->customer, b->name,
		    qid);
		b->deferred = 1;
		return;
	}
	if ((rc = calloc((size_t)(g->nrcpts + bexpire_copies_rcpts(bc)),
	    sizeof(*rc))) == NULL) {
		bexpire_copies_free(bc);
		b->failed = 1;
		return;
	}
	n = group_select(b, g, rc);
	n += bexpire_copies_select(bc, b->diag, rc + n);
	to = dsn_recipient(g->sender, o->postmaster, g->orig, g->origlen);
	if (n == 0 || to == NULL) {
		log_info("%s: bundle %s: message %s from <%s>: no %s DSN: %s",
		    o->customer, b->name, qid ? qid : "-", g->sender, what,
		    n == 0 ? "NOTIFY does not ask for one" : g->sender[0] ?
		    "automatic message and no postmaster" : "null sender");
		decided(b, qid, bc);
		goto out;
	}
	memset(&r, 0, sizeof(r));
	r.reporting_mta = o->hostname;
	r.to = to;
	r.orig_sender = g->sender;
	r.queue_id = qid;
	r.arrival = arrival;
	r.now = o->now;
	r.rcpts = rc;
	r.nrcpts = n;
	r.orig = g->orig;
	r.origlen = g->full && b->kind == DSN_FAILED ? g->origlen : g->headlen;
	r.envid = g->env.envid[0] ? g->env.envid : NULL;
	r.ret_full = g->full && b->kind == DSN_FAILED;
	if (dsn_queue(o->spool, &r, dqid, sizeof(dqid), err, sizeof(err)) !=
	    RS_OK) {
		log_warnx("%s: bundle %s: DSN to <%s> not queued: %s",
		    o->customer, b->name, to, err);
		b->failed = 1;
	} else {
		log_info("%s: bundle %s: message %s: %s DSN %s queued for "
		    "<%s>, %d recipient%s%s", o->customer, b->name,
		    qid ? qid : "-", what, dqid, to, n, n == 1 ? "" : "s",
		    bc != NULL ? " in the copies of several customers" : "");
		b->st->dsns++;
		decided(b, qid, bc);
	}
out:
	free(rc);
	bexpire_copies_free(bc);
}

/* group_add - add copy m to g, or report g and start a new one. */
static int
group_add(struct bsweep *b, struct group *g, const struct bundle_msg *m)
{
	struct dsnenv e;
	size_t len, hlen;
	char *orig;
	int full;

	if (m->env == NULL || dsnenv_parse(m->env, m->envlen, &e) == -1)
		memset(&e, 0, sizeof(e));
	if (m->nrcpts != 1)		/* not ours: its NOTIFY is unknown */
		e.notify = 0;
	if ((orig = copy_orig(m, e.ret == QRET_FULL, &len, &full)) == NULL)
		return -1;
	hlen = head_len(orig, len);
	if (same_message(g, m, &e, orig, hlen))
		free(orig);
	else {
		if (g->sender != NULL)
			group_report(b, g);
		group_free(g);
		if ((g->sender = strdup(m->sender)) == NULL) {
			free(orig);
			return -1;
		}
		g->env = e;
		g->orig = orig;
		g->origlen = len;
		g->headlen = hlen;
		g->full = full;
	}
	return group_rcpt(g, m, &e);
}

/* read_all - every message of the bundle on fd gets its DSN; 0 or -1. */
static int
read_all(struct bsweep *b, int fd)
{
	struct bundle_reader *r;
	struct bundle_msg m;
	struct group g;
	char err[256];
	int rc;

	memset(&g, 0, sizeof(g));
	if (lseek(fd, 0, SEEK_SET) == -1 ||
	    (r = bundle_reader_open(fd, b->o->spool)) == NULL)
		return -1;
	while ((rc = bundle_read_next(r, &m, err, sizeof(err))) == 1) {
		if (bundle_read_body(r, &m, 1, err, sizeof(err)) == -1 ||
		    group_add(b, &g, &m) == -1) {
			bundle_msg_free(&m);
			rc = -1;
			break;
		}
		bundle_msg_free(&m);
	}
	if (rc == 0 && g.sender != NULL)
		group_report(b, &g);
	group_free(&g);
	bundle_reader_close(r);
	if (rc == -1)
		log_warnx("%s: bundle %s: %s: %s", b->o->customer, b->name,
		    b->kind == DSN_FAILED ? "expire" : "warn", err);
	return rc == 0 && !b->failed ? 0 : -1;
}

/* move_aside - a damaged bundle goes where nobody fetches it. */
static void
move_aside(const struct qexpire_opts *o, const char *dir, const char *name,
    const char *why, struct qexpire_stats *st)
{
	char from[PATH_MAX], cdir[PATH_MAX], to[PATH_MAX];

	if (path_build(from, sizeof(from), "%s/%s", dir, name) == -1 ||
	    path_build(cdir, sizeof(cdir), "%s/bundle-tmp/%s/corrupt",
	    o->spool, o->customer) == -1 ||
	    path_build(to, sizeof(to), "%s/%s", cdir, name) == -1)
		return;
	if (dir_make(cdir, 0700) == -1 || rename(from, to) == -1) {
		if (errno != EXDEV || path_build(to, sizeof(to),
		    "%s/%s.corrupt", dir, name) == -1 ||
		    rename(from, to) == -1) {
			log_warn("%s: bundle %s is damaged (%s) and cannot "
			    "be moved aside", o->customer, name, why);
			st->skipped++;
			return;
		}
	}
	io_fsync_dir(dir);
	io_fsync_parent(to);
	log_warnx("%s: bundle %s is damaged (%s): moved to %s, no DSN sent",
	    o->customer, name, why, to);
	st->corrupt++;
}

/* expire_bundle - DSNs for every message of dir/name, then unlink it. */
static void
expire_bundle(const struct qexpire_opts *o, const char *dir,
    const char *name, struct qexpire_stats *st)
{
	struct bsweep b;
	char path[PATH_MAX], err[256], d1[32];
	int fd;

	if (path_build(path, sizeof(path), "%s/%s", dir, name) == -1)
		return;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		if (errno != ENOENT)	/* else fetched meanwhile */
			log_warn("%s: bundle %s: expire: open", o->customer,
			    name);
		return;
	}
	if (bundle_verify_fd(fd, NULL, err, sizeof(err)) == -1) {
		close(fd);
		move_aside(o, dir, name, err, st);
		return;
	}
	memset(&b, 0, sizeof(b));
	b.o = o;
	b.st = st;
	b.name = name;
	snprintf(b.diag, sizeof(b.diag), "X-Mailbridge; delivery time "
	    "expired: the recipient's site did not collect it within %s",
	    duration_format(o->expire_after, d1, sizeof(d1)));
	if (read_all(&b, fd) == -1) {
		close(fd);
		log_warnx("%s: bundle %s: expire: kept for the next sweep",
		    o->customer, name);
		st->skipped++;
		return;
	}
	close(fd);
	spool_crash_point("bundle-dsns-committed");
	if (unlink(path) == -1 && errno != ENOENT) {
		log_warn("%s: bundle %s: expire: unlink", o->customer, name);
		st->skipped++;
		return;
	}
	io_fsync_dir(dir);
	log_info("%s: bundle %s expired after %s: %d message%s, removed",
	    o->customer, name, d1, b.messages, b.messages == 1 ? "" : "s");
	st->bundles++;
}

/*
 * warn_bundle - a bundle waiting past warn-after: one delayed DSN for
 * each message in it not warned about yet (while it was queued, or by
 * the sweep of another copy, as its marker says), then the marker:
 * whole once no message was left to another customer's sweep.
 */
static void
warn_bundle(const struct qexpire_opts *o, const char *dir,
    const char *name, time_t newest, struct qexpire_stats *st)
{
	struct bsweep b;
	char path[PATH_MAX], err[256], d1[32];
	int fd, rv;

	memset(&b, 0, sizeof(b));
	if (marker_read(o->spool, o->customer, name, &b.done) == 1 ||
	    path_build(path, sizeof(path), "%s/%s", dir, name) == -1 ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		goto out;		/* done, or fetched meanwhile */
	if (bundle_verify_fd(fd, NULL, err, sizeof(err)) == -1) {
		close(fd);
		move_aside(o, dir, name, err, st);
		goto out;
	}
	b.o = o;
	b.st = st;
	b.name = name;
	b.kind = DSN_DELAYED;
	if (o->expire_after > 0)
		b.retry_until = newest + o->expire_after;
	snprintf(b.diag, sizeof(b.diag), "X-Mailbridge; not yet delivered: "
	    "the recipient's site has not collected it after %s",
	    duration_format(o->warn_after, d1, sizeof(d1)));
	rv = read_all(&b, fd);
	close(fd);
	if (rv == -1)
		st->skipped++;
	if (rv == -1 && b.newly == 0)
		goto out;
	spool_crash_point("bundle-warn-dsns-committed");
	if ((b.newly > 0 || (rv == 0 && !b.deferred)) && marker_write(o->spool,
	    o->customer, name, rv == 0 && !b.deferred, &b.done, o->now) == -1) {
		log_warn("%s: bundle %s: delayed DSNs queued but not recorded; "
		    "they may be sent again", o->customer, name);
		st->skipped++;
		goto out;
	}
	if (b.newly > 0)
		st->warned++;
out:
	strv_free(b.done.v, b.done.n);
}

/* drop_markers - the markers of bundles no longer in the outbox. */
static void
drop_markers(const struct qexpire_opts *o, char **names, size_t n)
{
	char base[PATH_MAX], path[PATH_MAX], bn[BUNDLE_NAME_MAX];
	struct dirent *de;
	size_t len, k = sizeof(WARNED_SUFFIX) - 1;
	DIR *dp;

	if (path_build(base, sizeof(base), "%s/bundle-tmp/%s", o->spool,
	    o->customer) == -1 || (dp = opendir(base)) == NULL)
		return;
	while ((de = readdir(dp)) != NULL) {
		len = strlen(de->d_name);
		if (len <= k || len - k >= sizeof(bn) ||
		    strcmp(de->d_name + len - k, WARNED_SUFFIX) != 0)
			continue;
		memcpy(bn, de->d_name, len - k);
		bn[len - k] = '\0';
		if ((n == 0 || bsearch(&(const char *){ bn }, names, n,
		    sizeof(*names), name_cmp) == NULL) &&
		    path_build(path, sizeof(path),
		    "%s/%s", base, de->d_name) == 0)
			unlink(path);
	}
	closedir(dp);
}

/*
 * outbox_one - one bundle of the outbox: expired once its newest
 * message arrived expire_after ago (so no message's lifetime is cut
 * short; a bundle made that long ago surely is), else delayed DSNs for
 * its messages that arrived warn_after ago.  Times are the messages'
 * arrivals, not the bundle's creation: the first copy (the oldest)
 * tells whether to read it all.
 */
static void
outbox_one(const struct qexpire_opts *o, const char *dir, const char *name,
    int warn, struct qexpire_stats *st)
{
	struct strv ids;
	time_t first, newest;
	long age;
	int m;

	age = (long)(o->now - qid_time(name));
	if (o->expire_after > 0 && age >= o->expire_after) {
		expire_bundle(o, dir, name, st);
		return;
	}
	if (bundle_times(o, dir, name, 1, &first, &newest) == -1)
		return;			/* fetched, or damaged: by age, later */
	age = (long)(o->now - first);
	if (o->expire_after == 0 || age < o->expire_after) {
		if (!warn || age < o->warn_after)
			return;
		memset(&ids, 0, sizeof(ids));
		m = marker_read(o->spool, o->customer, name, &ids);
		strv_free(ids.v, ids.n);
		if (m == 1)
			return;
	}
	if (bundle_times(o, dir, name, 0, &first, &newest) == -1)
		newest = first;
	if (o->expire_after > 0 && (long)(o->now - newest) >= o->expire_after)
		expire_bundle(o, dir, name, st);
	else if (warn)
		warn_bundle(o, dir, name, newest, st);
}

enum result
bexpire_outbox(const struct qexpire_opts *o, struct qexpire_stats *st)
{
	char dir[PATH_MAX], **names;
	size_t n, i;
	int warn = o->warn_after > 0 && (o->expire_after == 0 ||
	    o->warn_after < o->expire_after);

	if (bundler_outbox(dir, sizeof(dir), o->spool, o->customer) == -1 ||
	    bundle_list(dir, &names, &n) == -1) {
		log_warn("%s: expire: outbox", o->customer);
		return RS_TEMP;
	}
	for (i = 0; i < n; i++)
		outbox_one(o, dir, names[i], warn, st);
	strv_free(names, n);
	if (bundle_list(dir, &names, &n) == 0) {
		drop_markers(o, names, n);
		strv_free(names, n);
	}
	return RS_OK;
}
