/*
 * recv.c - the turned-round ODMR session (recv.h): srecv's deliver()
 * makes each recipient's copy (X-Envelope-To: first, the message's own
 * X-Envelope-To: and X-Mailbridge-Envelope: fields and their
 * continuation lines left out, as the bundle writer does), injects
 * it, and turns the verdicts into the one reply SMTP allows after the
 * data.
 *
 * A copy the MTA took is remembered (seen file, below) before the 250
 * goes back: when the link breaks after our 250 left but before the
 * provider read it, the provider sends the message again on the next
 * turn, and the copy is acknowledged without being injected twice.
 * A session that ends with the provider's QUIT has read every reply,
 * so then the file is emptied: only copies of sessions that broke are
 * remembered, and mail that is the same octet for octet as an earlier
 * message (a hub that adds no Received:) is never taken for a repeat
 * once a session has ended cleanly.
 *
 * Invariant: a 250 is given only when every copy is either taken by
 * the local MTA (and recorded) or synced in a kept/ bundle.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "bundle.h"
#include "inject.h"
#include "linkup.h"
#include "log.h"
#include "recv.h"
#include "srecv.h"
#include "util.h"

#define HDR_SCAN	(256 * 1024)	/* header octets looked at */
#define COPY_CHUNK	(64 * 1024)
#define SESSION_TIMEOUT	600
#define SEEN_KEEP	(14 * 86400)	/* seconds a delivered copy is known */
#define SEEN_MAX	200000		/* copies remembered at most */
#define KEY_LEN		32		/* SHA-256 */

/*
 * The seen file, <spool>/linkup/HUB.odmr-seen: one line per copy the
 * local MTA took, "HEX-SHA256 EPOCH", the hash over sender, recipient
 * and the message as the provider sent it; appended and fdatasync'ed
 * before the 250, rewritten without old lines after a session.
 */
struct seen {
	unsigned char (*key)[KEY_LEN];
	time_t	*when;
	size_t	n, cap;
	size_t	*slot;			/* hash set: entry + 1, 0 = empty */
	size_t	nslot;			/* a power of two, > 2 n */
	int	fd;			/* appending; -1 when unusable */
	char	path[PATH_MAX];
	size_t	stale;			/* lines older than SEEN_KEEP */
};

struct recv {
	const struct leaf_conf *lc;
	const char *hub;
	struct injector *ij;
	struct recv_stats *rs;
	struct seen seen;
	char	tmp[PATH_MAX];
	char	kept[PATH_MAX];
};

/* --- the seen file --------------------------------------------------- */

static size_t
seen_hash(const unsigned char *key)
{
	size_t h;

	memcpy(&h, key, sizeof(h));	/* SHA-256 octets are uniform */
	return h;
}

static void
seen_index(struct seen *sn, size_t i)
{
	size_t j = seen_hash(sn->key[i]) & (sn->nslot - 1);

	while (sn->slot[j] != 0)
		j = (j + 1) & (sn->nslot - 1);
	sn->slot[j] = i + 1;
}

/* seen_rehash - a table twice as large as needed for cap entries. */
static int
seen_rehash(struct seen *sn, size_t cap)
{
	size_t n = 16, i;

	while (n < 2 * cap)
		n *= 2;
	free(sn->slot);
	if ((sn->slot = calloc(n, sizeof(*sn->slot))) == NULL) {
		sn->nslot = 0;
		return -1;
	}
	sn->nslot = n;
	for (i = 0; i < sn->n; i++)
		seen_index(sn, i);
	return 0;
}

static int
seen_push(struct seen *sn, const unsigned char *key, time_t when)
{
	void *k, *w;
	size_t cap;

	if (sn->n == sn->cap) {
		cap = sn->cap ? sn->cap * 2 : 1024;
		if ((k = realloc(sn->key, cap * KEY_LEN)) == NULL)
			return -1;
		sn->key = k;
		if ((w = realloc(sn->when, cap * sizeof(*sn->when))) == NULL)
			return -1;
		sn->when = w;
		sn->cap = cap;
		if (seen_rehash(sn, cap) == -1)
			return -1;
	}
	memcpy(sn->key[sn->n], key, KEY_LEN);
	sn->when[sn->n] = when;
	seen_index(sn, sn->n++);
	return 0;
}

static int
unhex(const char *h, unsigned char *out)
{
	int i;
	unsigned v;

	for (i = 0; i < KEY_LEN; i++) {
		if (sscanf(h + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (unsigned char)v;
	}
	return 0;
}

static void
seen_open(struct seen *sn, const struct leaf_conf *lc, const char *hub)
{
	char line[128], dir[PATH_MAX];
	unsigned char key[KEY_LEN];
	time_t now = time(NULL);
	long long when;
	FILE *f;

	memset(sn, 0, sizeof(*sn));
	sn->fd = -1;
	if (lstatus_dir(lc, dir, sizeof(dir)) == -1 ||
	    path_build(sn->path, sizeof(sn->path), "%s/%s.odmr-seen", dir,
	    hub) == -1)
		return;
	if ((f = fopen(sn->path, "re")) != NULL) {
		while (fgets(line, sizeof(line), f) != NULL &&
		    sn->n < SEEN_MAX) {
			if (strlen(line) < 2 * KEY_LEN + 2 ||
			    unhex(line, key) == -1 ||
			    sscanf(line + 2 * KEY_LEN, " %lld", &when) != 1)
				continue;
			if (now - (time_t)when > SEEN_KEEP) {
				sn->stale++;
				continue;
			}
			if (seen_push(sn, key, (time_t)when) == -1)
				break;
		}
		fclose(f);
	}
	sn->fd = open(sn->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
	    O_NOFOLLOW, 0600);
}

static int
seen_has(const struct seen *sn, const unsigned char *key)
{
	size_t j;

	if (sn->nslot == 0)
		return 0;
	for (j = seen_hash(key) & (sn->nslot - 1); sn->slot[j] != 0;
	    j = (j + 1) & (sn->nslot - 1))
		if (memcmp(sn->key[sn->slot[j] - 1], key, KEY_LEN) == 0)
			return 1;
	return 0;
}

/* seen_add - record key durably; -1 when it could not be. */
static int
seen_add(struct seen *sn, const unsigned char *key)
{
	char line[2 * KEY_LEN + 32];
	time_t now = time(NULL);
	int i, n;

	if (sn->fd == -1)
		return -1;
	for (i = 0; i < KEY_LEN; i++)
		snprintf(line + 2 * i, 3, "%02x", key[i]);
	n = 2 * KEY_LEN + snprintf(line + 2 * KEY_LEN, sizeof(line) -
	    2 * KEY_LEN, " %lld\n", (long long)now);
	if (io_write_all(sn->fd, line, (size_t)n) == -1 ||
	    fdatasync(sn->fd) == -1)
		return -1;
	seen_push(sn, key, now);
	return 0;
}

/*
 * seen_close - rewrite the file: empty after a clean session (forget),
 * else without its old lines if there are many.
 */
static void
seen_close(struct seen *sn, int forget)
{
	char tmp[PATH_MAX];
	size_t i, from;
	FILE *f;
	int fd;

	if (sn->fd != -1)
		close(sn->fd);
	from = sn->n > SEEN_MAX / 2 ? sn->n - SEEN_MAX / 2 : 0;
	if (forget)
		from = sn->n;
	if ((forget || sn->stale > 1000 || from > 0) &&
	    sn->path[0] != '\0' && path_build(tmp, sizeof(tmp),
	    "%s.tmp", sn->path) == 0 && (fd = open(tmp, O_WRONLY | O_CREAT |
	    O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600)) != -1) {
		if ((f = fdopen(fd, "w")) == NULL)
			close(fd);
		else {
			for (i = from; i < sn->n; i++) {
				int k;

				for (k = 0; k < KEY_LEN; k++)
					fprintf(f, "%02x", sn->key[i][k]);
				fprintf(f, " %lld\n", (long long)sn->when[i]);
			}
			if (fflush(f) == 0 && fsync(fileno(f)) == 0 &&
			    fclose(f) == 0 && rename(tmp, sn->path) == 0)
				io_fsync_parent(sn->path);
			else
				unlink(tmp);
		}
	}
	free(sn->key);
	free(sn->when);
	free(sn->slot);
	memset(sn, 0, sizeof(*sn));
	sn->fd = -1;
}

/* copy_key - SHA-256 over sender, NUL, rcpt, NUL and the message. */
static int
copy_key(const struct srecv_msg *m, const char *rcpt, unsigned char *key)
{
	EVP_MD_CTX *ctx;
	char buf[COPY_CHUNK];
	uint64_t off;
	ssize_t n;
	unsigned len = 0;
	int rc = -1;

	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return -1;
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, m->sender, strlen(m->sender) + 1) != 1 ||
	    EVP_DigestUpdate(ctx, rcpt, strlen(rcpt) + 1) != 1)
		goto out;
	if (m->fd == -1) {
		if (EVP_DigestUpdate(ctx, m->mem, (size_t)m->size) != 1)
			goto out;
	} else
		for (off = 0; off < m->size; off += (uint64_t)n) {
			n = pread(m->fd, buf, sizeof(buf), (off_t)off);
			if (n <= 0 || EVP_DigestUpdate(ctx, buf, (size_t)n) !=
			    1)
				goto out;
		}
	rc = EVP_DigestFinal_ex(ctx, key, &len) == 1 && len == KEY_LEN ? 0 : -1;
out:
	EVP_MD_CTX_free(ctx);
	return rc;
}

/* --- the copies ------------------------------------------------------ */

/* hdr_end - where the header ends in p[0..n) (after its empty line). */
static size_t
hdr_end(const char *p, size_t n)
{
	size_t i;

	if (n >= 2 && p[0] == '\r' && p[1] == '\n')
		return 0;
	for (i = 0; i + 3 < n; i++)
		if (p[i] == '\r' && p[i + 1] == '\n' && p[i + 2] == '\r' &&
		    p[i + 3] == '\n')
			return i + 2;
	return n;
}

/*
 * hdr_filter - the header p[0..n) without X-Envelope-To: fields into
 * out (n octets at most); the length written.
 */
static size_t
hdr_filter(const char *p, size_t n, char *out)
{
	size_t i = 0, o = 0, e;
	int skip = 0;

	while (i < n) {
		const char *nl = memchr(p + i, '\n', n - i);

		e = nl ? (size_t)(nl - p) + 1 : n;
		if (p[i] != ' ' && p[i] != '\t')
			skip = (e - i >= 14 &&
			    strncasecmp(p + i, "X-Envelope-To:", 14) == 0) ||
			    (e - i >= 22 && strncasecmp(p + i,
			    "X-Mailbridge-Envelope:", 22) == 0);
		if (!skip) {
			memmove(out + o, p + i, e - i);
			o += e - i;
		}
		i = e;
	}
	return o;
}

/* copy_make - m for rcpt as a bundle_msg (in memory or a temp file). */
static int
copy_make(struct recv *r, const struct srecv_msg *m, const char *rcpt,
    struct bundle_msg *c)
{
	char pre[BUNDLE_PATH_MAX + 32], *head, buf[COPY_CHUNK], path[PATH_MAX];
	size_t scan, he, hl, pl;
	uint64_t off;
	ssize_t n;
	int fd;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	pl = (size_t)snprintf(pre, sizeof(pre), "X-Envelope-To: <%s>\r\n",
	    rcpt);
	scan = m->size < HDR_SCAN ? (size_t)m->size : HDR_SCAN;
	if ((head = malloc(scan + 1)) == NULL)
		return -1;
	if (m->fd == -1)
		memcpy(head, m->mem, scan);
	else if (pread(m->fd, head, scan, 0) != (ssize_t)scan) {
		free(head);
		return -1;
	}
	he = hdr_end(head, scan);
	if (m->fd == -1) {
		if ((c->mem = malloc(pl + (size_t)m->size + 1)) == NULL) {
			free(head);
			return -1;
		}
		memcpy(c->mem, pre, pl);
		hl = hdr_filter(head, he, c->mem + pl);
		memcpy(c->mem + pl + hl, m->mem + he, (size_t)m->size - he);
		c->size = pl + hl + (m->size - he);
		free(head);
		return 0;
	}
	if (path_build(path, sizeof(path), "%s/odmr.XXXXXX", r->tmp) == -1 ||
	    (fd = mkostemp(path, O_CLOEXEC)) == -1) {
		free(head);
		return -1;
	}
	unlink(path);
	c->fd = fd;
	hl = hdr_filter(head, he, head);
	if (io_write_all(fd, pre, pl) == -1 ||
	    io_write_all(fd, head, hl) == -1) {
		free(head);
		return -1;
	}
	free(head);
	c->size = pl + hl;
	for (off = he; off < m->size; off += (uint64_t)n) {
		n = pread(m->fd, buf, sizeof(buf), (off_t)off);
		if (n <= 0 || io_write_all(fd, buf, (size_t)n) == -1)
			return -1;
		c->size += (uint64_t)n;
	}
	return 0;
}

/* --- keeping what the MTA did not take ------------------------------ */

/* keep - the copies with rs != RS_OK into a kept/ bundle; 0 or -1. */
static int
keep(struct recv *r, const struct srecv_msg *m, const struct inject_rcpt *ir)
{
	struct bundle *b;
	char err[256], name[BUNDLE_NAME_MAX];
	enum result rs = RS_OK;
	int i;

	if (bundle_open(&b, r->tmp, r->hub, r->lc->hostname, 6, err,
	    sizeof(err)) != RS_OK) {
		log_warnx("%s: odmr: cannot keep copies: %s", r->hub, err);
		return -1;
	}
	for (i = 0; i < m->nrcpts && rs == RS_OK; i++) {
		if (ir[i].rs == RS_OK)
			continue;
		rs = m->fd == -1 ? bundle_add_buf(b, m->sender, m->rcpts[i],
		    NULL, m->mem, (size_t)m->size, err, sizeof(err)) :
		    bundle_add_fd(b, m->sender, m->rcpts[i], NULL, m->fd, 0,
		    m->size, err, sizeof(err));
	}
	if (rs != RS_OK) {
		bundle_abort(b);
		log_warnx("%s: odmr: cannot keep copies: %s", r->hub, err);
		return -1;
	}
	if (bundle_publish(b, r->kept, name, sizeof(name), err,
	    sizeof(err)) != RS_OK) {
		log_warnx("%s: odmr: cannot keep copies: %s", r->hub, err);
		return -1;
	}
	log_info("%s: odmr: from=<%s>: copies the local MTA did not take "
	    "kept in %s/%s", r->hub, m->sender, r->kept, name);
	return 0;
}

/* --- the verdict ---------------------------------------------------- */

static const char *
word(enum result rs)
{
	return rs == RS_OK ? "sent" : rs == RS_TEMP ? "deferred" : "bounced";
}

/*
 * verdict - the reply for copies that all ended as rs: the first
 * one's status and diagnostic, prefixed as the local MTA's.
 */
static void
verdict(const struct inject_rcpt *ir, enum result rs, char *reply,
    size_t len)
{
	const char *diag = ir->diag, *semi = strstr(diag, "; ");
	char st[16];

	if (semi != NULL)
		diag = semi + 2;
	snprintf(st, sizeof(st), "%s", ir->status);
	if (st[0] != (rs == RS_TEMP ? '4' : '5') || st[1] != '.')
		snprintf(st, sizeof(st), "%s", rs == RS_TEMP ? "4.0.0" :
		    "5.0.0");
	snprintf(reply, len, "%s %s local MTA: %.300s", rs == RS_TEMP ? "451" :
	    "550", st, diag);
}

static int
deliver(void *arg, const struct srecv_msg *m, char *reply, size_t len)
{
	struct recv *r = arg;
	struct inject_rcpt *ir;
	struct bundle_msg c;
	unsigned char key[KEY_LEN];
	unsigned ok = 0, temp = 0, perm = 0;
	int i, down = 0, d, first_temp = -1, first_perm = -1, haskey;

	r->rs->messages++;
	if ((ir = calloc((size_t)m->nrcpts, sizeof(*ir))) == NULL) {
		snprintf(reply, len, "451 4.3.0 Out of memory");
		return 0;
	}
	for (i = 0; i < m->nrcpts; i++) {
		ir[i].addr = m->rcpts[i];
		haskey = copy_key(m, m->rcpts[i], key) == 0;
		if (haskey && seen_has(&r->seen, key)) {
			ir[i].rs = RS_OK;
			snprintf(ir[i].diag, sizeof(ir[i].diag), "delivered "
			    "before: the provider did not get our 250");
			r->rs->again++;
		} else if (down) {
			ir[i].rs = RS_TEMP;
			snprintf(ir[i].status, sizeof(ir[i].status), "4.3.0");
			snprintf(ir[i].diag, sizeof(ir[i].diag), "local MTA "
			    "unavailable");
		} else if (copy_make(r, m, m->rcpts[i], &c) == -1) {
			ir[i].rs = RS_TEMP;
			snprintf(ir[i].status, sizeof(ir[i].status), "4.3.0");
			snprintf(ir[i].diag, sizeof(ir[i].diag), "x-unix; "
			    "cannot make the copy: %s", strerror(errno));
			bundle_msg_free(&c);
		} else {
			d = 0;
			inject_message(r->ij, m->sender, &ir[i], 1, &c, &d);
			down |= d;
			bundle_msg_free(&c);
			if (ir[i].rs == RS_OK && (!haskey ||
			    seen_add(&r->seen, key) == -1))
				log_warn("%s: odmr: to=<%s>: cannot record the "
				    "delivery in %s", r->hub, m->rcpts[i],
				    r->seen.path);
		}
		log_info("%s: odmr: from=<%s>, to=<%s>, status=%s (%s)", r->hub,
		    m->sender, ir[i].addr, word(ir[i].rs), ir[i].diag);
		if (ir[i].rs == RS_OK)
			ok++;
		else if (ir[i].rs == RS_TEMP && temp++ == 0)
			first_temp = i;
		else if (ir[i].rs == RS_PERM && perm++ == 0)
			first_perm = i;
	}
	if (temp == 0 && perm == 0)
		snprintf(reply, len, "250 2.0.0 Ok: %u cop%s delivered", ok,
		    ok == 1 ? "y" : "ies");
	else if (ok == 0 && perm == 0)
		verdict(&ir[first_temp], RS_TEMP, reply, len);
	else if (ok == 0 && temp == 0)
		verdict(&ir[first_perm], RS_PERM, reply, len);
	else if (keep(r, m, ir) == 0) {
		snprintf(reply, len, "250 2.0.0 Ok: %u cop%s delivered, %u "
		    "kept by the leaf", ok, ok == 1 ? "y" : "ies", temp + perm);
		r->rs->kept += temp + perm;
	} else {
		/* the copies taken may come again: better than a loss */
		log_warnx("%s: odmr: from=<%s>: %u copies delivered, the rest "
		    "could not be kept: deferring the whole message", r->hub,
		    m->sender, ok);
		snprintf(reply, len, "451 4.3.0 Some copies could not be "
		    "delivered or kept here");
	}
	r->rs->copies += ok;
	if (reply[0] == '4')
		r->rs->deferred++;
	else if (reply[0] == '5')
		r->rs->refused++;
	free(ir);
	return down;
}

int
recv_session(const struct leaf_conf *lc, const char *hub, int fd, void *tls,
    uint64_t cap, volatile sig_atomic_t *stop, double deadline,
    struct recv_stats *rs, char *err, size_t errlen)
{
	struct recv r;
	struct srecv_opts o;
	struct srecv_stats st;
	int rc;

	memset(&r, 0, sizeof(r));
	r.lc = lc;
	r.hub = hub;
	r.rs = rs;
	if (path_build(r.tmp, sizeof(r.tmp), "%s/tmp", lc->spool) == -1 ||
	    path_build(r.kept, sizeof(r.kept), "%s/kept", lc->spool) == -1 ||
	    dir_make(r.tmp, 0700) == -1 || dir_make(r.kept, 0700) == -1 ||
	    (r.ij = inject_new(&lc->inject, lc->hostname)) == NULL) {
		snprintf(err, errlen, "leaf spool %s: %s", lc->spool,
		    strerror(errno));
		srecv_tls_free(tls);
		close(fd);
		return EXIT_TEMPFAIL;
	}
	memset(&o, 0, sizeof(o));
	o.tls = tls;
	o.hostname = lc->hostname;
	o.timeout = SESSION_TIMEOUT;
	o.cap = cap;
	o.tmpdir = r.tmp;
	o.deliver = deliver;
	o.arg = &r;
	o.stop = stop;
	o.deadline = deadline;
	memset(&st, 0, sizeof(st));
	seen_open(&r.seen, lc, hub);
	rc = srecv_session(fd, &o, &st, err, errlen);
	inject_free(r.ij);
	seen_close(&r.seen, rc == 0 && st.quit);
	rs->bytes = st.bytes;
	rs->quit = st.quit;
	rs->capped = st.capped;
	log_info("%s: odmr: %u messages, %llu copies delivered (%u of them "
	    "before), %llu kept, %u deferred, %u refused, %u over the cap, "
	    "%llu octets%s", hub, rs->messages, (unsigned long long)rs->copies,
	    rs->again,
	    (unsigned long long)rs->kept, rs->deferred, rs->refused,
	    rs->capped, (unsigned long long)rs->bytes,
	    rc == 0 ? "" : "; the session broke");
	if (rc == 0 && rs->deferred > 0)
		snprintf(err, errlen, "%u messages deferred by the local MTA "
		    "stay at the hub", rs->deferred);
	return rc == 0 && rs->deferred == 0 ? 0 : EXIT_TEMPFAIL;
}
