/*
 * bexpire.c - the outbox part of the lifetime sweeper (see qexpire.h):
 * bundles published for a uucp or ssh customer that nobody took.
 *
 * A bundle's age is the time in its name (bundle_name_new: when the
 * bundler made it, at most bundle-delay after its newest message
 * arrived), so names sort oldest first and the scan stops at the first
 * young one.  An old bundle is verified whole first (gzip CRC, every
 * command); then its copies are read in order and grouped back into
 * messages: consecutive copies from the same sender whose Received:
 * header (ours, "(mailbridge) with ... id QID") names the same queue
 * id are one message and get one DSN for all their recipients.  The
 * bundle is unlinked only after every DSN is committed.  Nothing else
 * takes bundles out of the outbox while the queue lock is held except
 * the leaf (SFTP) or a UUCP hand-off: bridged runs the sweep in the
 * customer's job slot, so never beside its hand-off ("bridgectl
 * expire" can be: then a bundle uux is taking at that moment may be
 * both sent and reported failed, never lost); a leaf that is
 * reading a bundle we unlink still reads it whole (UNIX semantics) and
 * its own removal then finds nothing, which it tolerates.
 */
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "bundle.h"
#include "bundler.h"
#include "log.h"
#include "qexpire.h"

#define HEAD_MAX	(DSN_HEADERS_MAX + 4)

/* One message being gathered from its copies. */
struct group {
	char   *sender;
	char	qid[QID_LEN];		/* "" when the copies named none */
	char  **rcpts;
	int	nrcpts;
	char   *head;			/* the first copy's headers */
	size_t	headlen;
};

struct bsweep {
	const struct qexpire_opts *o;
	struct qexpire_stats *st;
	const char *name;		/* the bundle */
	char	diag[200];
	int	failed;			/* a DSN was not queued */
	int	messages;
};

/* head_qid - the queue id in our Received: header of a copy, or "". */
static void
head_qid(const char *h, size_t len, char *qid, size_t qlen)
{
	static const char mark[] = "(mailbridge) with ";
	const char *p, *end = h + len;
	size_t n;

	qid[0] = '\0';
	if ((p = memmem(h, len, mark, sizeof(mark) - 1)) == NULL ||
	    (p = memmem(p, (size_t)(end - p), " id ", 4)) == NULL)
		return;
	p += 4;
	for (n = 0; p + n < end && n + 1 < qlen && ((p[n] >= '0' &&
	    p[n] <= '9') || (p[n] >= 'A' && p[n] <= 'F') || p[n] == '.'); n++)
		;
	memcpy(qid, p, n);
	qid[n] = '\0';
	if (!qid_is_valid(qid))
		qid[0] = '\0';
}

/* copy_head - the copy's first octets without its X-Envelope-To line. */
static char *
copy_head(const struct bundle_msg *m, size_t *len)
{
	static const char xet[] = "X-Envelope-To:";
	char *buf, *nl;
	ssize_t n;

	if ((buf = malloc(HEAD_MAX + 1)) == NULL ||
	    (n = bundle_msg_pread(m, buf, HEAD_MAX, 0)) < 0) {
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
	return buf;
}

static void
group_free(struct group *g)
{
	int i;

	for (i = 0; i < g->nrcpts; i++)
		free(g->rcpts[i]);
	free(g->rcpts);
	free(g->sender);
	free(g->head);
	memset(g, 0, sizeof(*g));
}

/* group_report - the failed DSN for one gathered message. */
static void
group_report(struct bsweep *b, struct group *g)
{
	const struct qexpire_opts *o = b->o;
	struct dsn_report r;
	struct dsn_rcpt *rc;
	char qid[QID_LEN], err[256];
	const char *to;
	int i;

	b->messages++;
	to = dsn_recipient(g->sender, o->postmaster, g->head, g->headlen);
	if (to == NULL) {
		log_info("%s: bundle %s: message %s from <%s>: no DSN: %s",
		    o->customer, b->name, g->qid[0] ? g->qid : "-", g->sender,
		    g->sender[0] ? "automatic message and no postmaster" :
		    "null sender");
		return;
	}
	if ((rc = calloc((size_t)g->nrcpts, sizeof(*rc))) == NULL) {
		b->failed = 1;
		return;
	}
	for (i = 0; i < g->nrcpts; i++) {
		rc[i].addr = g->rcpts[i];
		rc[i].action = DSN_FAILED;
		rc[i].status = QEXPIRE_FAIL_STATUS;
		rc[i].diag = b->diag;
	}
	memset(&r, 0, sizeof(r));
	r.reporting_mta = o->hostname;
	r.to = to;
	r.orig_sender = g->sender;
	r.queue_id = g->qid[0] ? g->qid : NULL;
	r.arrival = g->qid[0] ? qid_time(g->qid) : 0;
	r.now = o->now;
	r.rcpts = rc;
	r.nrcpts = g->nrcpts;
	r.orig = g->head;
	r.origlen = g->headlen;
	if (dsn_queue(o->spool, &r, qid, sizeof(qid), err, sizeof(err)) !=
	    RS_OK) {
		log_warnx("%s: bundle %s: DSN to <%s> not queued: %s",
		    o->customer, b->name, to, err);
		b->failed = 1;
	} else {
		log_info("%s: bundle %s: message %s: failed DSN %s queued for "
		    "<%s>, %d recipient%s", o->customer, b->name,
		    g->qid[0] ? g->qid : "-", qid, to, g->nrcpts,
		    g->nrcpts == 1 ? "" : "s");
		b->st->dsns++;
	}
	free(rc);
}

/* group_add - add copy m to g, or report g and start a new one. */
static int
group_add(struct bsweep *b, struct group *g, const struct bundle_msg *m)
{
	char qid[QID_LEN], **nv, *head;
	size_t hlen;
	unsigned i;

	if ((head = copy_head(m, &hlen)) == NULL)
		return -1;
	head_qid(head, hlen, qid, sizeof(qid));
	if (g->sender == NULL || qid[0] == '\0' || strcmp(qid, g->qid) != 0 ||
	    strcmp(m->sender, g->sender) != 0) {
		if (g->sender != NULL)
			group_report(b, g);
		group_free(g);
		if ((g->sender = strdup(m->sender)) == NULL) {
			free(head);
			return -1;
		}
		strlcpy_(g->qid, qid, sizeof(g->qid));
		g->head = head;
		g->headlen = hlen;
	} else
		free(head);
	for (i = 0; i < m->nrcpts; i++) {
		if ((nv = reallocarray(g->rcpts, (size_t)g->nrcpts + 1,
		    sizeof(*nv))) == NULL)
			return -1;
		g->rcpts = nv;
		if ((g->rcpts[g->nrcpts] = strdup(m->rcpts[i])) == NULL)
			return -1;
		g->nrcpts++;
	}
	return 0;
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
		log_warnx("%s: bundle %s: expire: %s", b->o->customer, b->name,
		    err);
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
	    qexpire_dur(o->expire_after, d1, sizeof(d1)));
	if (read_all(&b, fd) == -1) {
		close(fd);
		log_warnx("%s: bundle %s: expire: kept for the next sweep",
		    o->customer, name);
		st->skipped++;
		return;
	}
	close(fd);
	qexpire_hook("bundle-dsns-committed");
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

enum result
qexpire_outbox(const struct qexpire_opts *o, struct qexpire_stats *st)
{
	char dir[PATH_MAX], **names;
	size_t n, i;

	if (bundler_outbox(dir, sizeof(dir), o->spool, o->customer) == -1 ||
	    bundle_list(dir, &names, &n) == -1) {
		log_warn("%s: expire: outbox", o->customer);
		return RS_TEMP;
	}
	for (i = 0; i < n; i++) {
		if ((long)(o->now - qid_time(names[i])) < o->expire_after)
			break;		/* the rest are younger */
		expire_bundle(o, dir, names[i], st);
	}
	strv_free(names, n);
	return RS_OK;
}
