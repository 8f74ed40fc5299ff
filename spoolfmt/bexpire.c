/*
 * bexpire.c - the outbox part of the lifetime sweeper (see qexpire.h):
 * bundles published for a uucp or ssh customer that nobody took.
 *
 * A bundle's age is the time in its name (bundle_name_new: when the
 * bundler made it, at most bundle-delay after its newest message
 * arrived), so names sort oldest first and the scan stops at the first
 * young one.  An old bundle is verified whole first (gzip CRC, every
 * command); then its copies are read in order and grouped back into
 * messages by the queue id in each copy's X-Mailbridge-Envelope: field
 * (dsnenv.h), which also gives the arrival, ENVID, RET and each
 * recipient's NOTIFY and ORCPT: one failed DSN per message for the
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
	}
	free(g->rcpts);
	free(g->orcpt);
	free(g->notify);
	free(g->sender);
	free(g->orig);
	memset(g, 0, sizeof(*g));
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
		n++;
	}
	return n;
}

/*
 * group_report - the failed (or delayed) DSN for one gathered message;
 * no delayed one when the message was warned about while queued.
 */
static void
group_report(struct bsweep *b, struct group *g)
{
	const struct qexpire_opts *o = b->o;
	const char *qid = g->env.qid[0] ? g->env.qid : NULL;
	const char *what = dsn_action_name(b->kind);
	struct dsn_report r;
	struct dsn_rcpt *rc;
	char dqid[QID_LEN], err[256];
	const char *to;
	int n;

	b->messages++;
	if (b->kind == DSN_DELAYED && g->env.warned != 0)
		return;
	if ((rc = calloc((size_t)g->nrcpts, sizeof(*rc))) == NULL) {
		b->failed = 1;
		return;
	}
	n = group_select(b, g, rc);
	to = dsn_recipient(g->sender, o->postmaster, g->orig, g->origlen);
	if (n == 0 || to == NULL) {
		log_info("%s: bundle %s: message %s from <%s>: no %s DSN: %s",
		    o->customer, b->name, qid ? qid : "-", g->sender, what,
		    n == 0 ? "NOTIFY does not ask for one" : g->sender[0] ?
		    "automatic message and no postmaster" : "null sender");
		free(rc);
		return;
	}
	memset(&r, 0, sizeof(r));
	r.reporting_mta = o->hostname;
	r.to = to;
	r.orig_sender = g->sender;
	r.queue_id = qid;
	r.arrival = g->env.arrival ? g->env.arrival : qid ? qid_time(qid) : 0;
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
		    "<%s>, %d recipient%s", o->customer, b->name,
		    qid ? qid : "-", what, dqid, to, n, n == 1 ? "" : "s");
		b->st->dsns++;
	}
	free(rc);
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
		    (g->rcpts[k] = strdup(m->rcpts[i])) == NULL)
			return -1;
		g->notify[k] = e->notify;
		g->orcpt[k] = NULL;
		if (e->orcpt[0] != '\0' &&
		    (g->orcpt[k] = strdup(e->orcpt)) == NULL) {
			free(g->rcpts[k]);
			return -1;
		}
		g->nrcpts++;
	}
	return 0;
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

/* marker - "<spool>/bundle-tmp/<customer>/NAME.warned". */
static int
marker(char *buf, size_t len, const struct qexpire_opts *o,
    const char *name)
{
	return path_build(buf, len, "%s/bundle-tmp/%s/%s%s", o->spool,
	    o->customer, name, WARNED_SUFFIX);
}

/* mark_warned - the bundle's delayed DSNs are committed: say so. */
static int
mark_warned(const struct qexpire_opts *o, const char *name)
{
	char path[PATH_MAX];
	int fd, bad;

	if (marker(path, sizeof(path), o, name) == -1 ||
	    (fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC |
	    O_NOFOLLOW, 0600)) == -1)
		return -1;
	bad = dprintf(fd, "MBW 1\nbundle %s\nwarned %lld\n", name,
	    (long long)o->now) < 0 || fsync(fd) == -1;
	if (close(fd) == -1 || bad || io_fsync_parent(path) == -1) {
		unlink(path);
		return -1;
	}
	return 0;
}

/*
 * warn_bundle - a bundle waiting past warn-after: one delayed DSN for
 * each message in it not warned about while it was queued, then the
 * marker, so it happens once.
 */
static void
warn_bundle(const struct qexpire_opts *o, const char *dir,
    const char *name, struct qexpire_stats *st)
{
	struct bsweep b;
	char path[PATH_MAX], err[256], d1[32];
	int fd;

	if (marker(path, sizeof(path), o, name) == -1 ||
	    access(path, F_OK) == 0 ||
	    path_build(path, sizeof(path), "%s/%s", dir, name) == -1)
		return;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return;			/* fetched meanwhile */
	if (bundle_verify_fd(fd, NULL, err, sizeof(err)) == -1) {
		close(fd);
		move_aside(o, dir, name, err, st);
		return;
	}
	memset(&b, 0, sizeof(b));
	b.o = o;
	b.st = st;
	b.name = name;
	b.kind = DSN_DELAYED;
	if (o->expire_after > 0)
		b.retry_until = qid_time(name) + o->expire_after;
	snprintf(b.diag, sizeof(b.diag), "X-Mailbridge; not yet delivered: "
	    "the recipient's site has not collected it after %s",
	    duration_format(o->warn_after, d1, sizeof(d1)));
	if (read_all(&b, fd) == -1) {
		close(fd);
		st->skipped++;
		return;
	}
	close(fd);
	spool_crash_point("bundle-warn-dsns-committed");
	if (mark_warned(o, name) == -1) {
		log_warn("%s: bundle %s: delayed DSNs queued but not recorded; "
		    "they may be sent again", o->customer, name);
		st->skipped++;
		return;
	}
	st->warned++;
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

enum result
bexpire_outbox(const struct qexpire_opts *o, struct qexpire_stats *st)
{
	char dir[PATH_MAX], **names;
	size_t n, i;
	long age;
	int warn = o->warn_after > 0 && (o->expire_after == 0 ||
	    o->warn_after < o->expire_after);

	if (bundler_outbox(dir, sizeof(dir), o->spool, o->customer) == -1 ||
	    bundle_list(dir, &names, &n) == -1) {
		log_warn("%s: expire: outbox", o->customer);
		return RS_TEMP;
	}
	for (i = 0; i < n; i++) {
		age = (long)(o->now - qid_time(names[i]));
		if (o->expire_after > 0 && age >= o->expire_after)
			expire_bundle(o, dir, names[i], st);
		else if (warn && age >= o->warn_after)
			warn_bundle(o, dir, names[i], st);
		else
			break;		/* the rest are younger */
	}
	strv_free(names, n);
	if (bundle_list(dir, &names, &n) == 0) {
		drop_markers(o, names, n);
		strv_free(names, n);
	}
	return RS_OK;
}
