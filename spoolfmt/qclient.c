/*
 * qclient.c - intake's side of the queue (qclient.h): either straight
 * into the spool through queue.c, or to the queue process over a
 * conf/chan.h socket (qproto.h).
 *
 * Invariants: over the socket the session never holds a spool
 * descriptor; message octets go as QM_DATA messages of at most
 * CHAN_MAX, in order, and the queue counts them itself.  Once the
 * socket fails (the queue went away, a reply did not come in time, a
 * reply made no sense) the link is broken for good and every later
 * call is RS_TEMP, so the client gets 451 and nothing is half-queued:
 * the queue removes a dead session's open entries.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chan.h"
#include "qclient.h"
#include "qint.h"
#include "qproto.h"
#include "verdict.h"

struct qlink {
	char   *spool;			/* direct; NULL over the socket */
	uint64_t min_free;		/* direct: room a commit needs */
	int	sock;
	int	timeout_ms;
	int	broken;
	struct chan_msg *in;		/* the last answer */
	unsigned char *out;		/* a payload being built */
	char	ticket[QID_LEN];	/* the id of the next message, or "" */
	unsigned char used[QP_OPEN_MAX];	/* entry numbers taken */
};

struct qcw {
	struct qlink *l;
	struct qwriter *w;		/* direct */
	uint32_t entry;			/* over the socket */
	char	id[QID_LEN];
	uint64_t size;
	size_t	len;			/* octets waiting in buf */
	unsigned char *buf;		/* CHAN_MAX, made at the first write */
};

struct qlink *
qlink_direct(const char *spool)
{
	struct qlink *l;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		return NULL;
	l->sock = -1;
	if ((l->spool = strdup(spool)) == NULL) {
		free(l);
		return NULL;
	}
	return l;
}

void
qlink_min_free(struct qlink *l, uint64_t min_free)
{
	l->min_free = min_free;
}

struct qlink *
qlink_chan(int sock, int timeout_ms)
{
	struct qlink *l;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		return NULL;
	l->sock = sock;
	l->timeout_ms = timeout_ms;
	if ((l->in = malloc(sizeof(*l->in))) == NULL ||
	    (l->out = malloc(CHAN_MAX)) == NULL) {
		free(l->in);
		free(l);
		return NULL;
	}
	return l;
}

void
qlink_free(struct qlink *l)
{
	if (l == NULL)
		return;
	if (l->sock != -1)
		close(l->sock);
	free(l->spool);
	free(l->in);
	free(l->out);
	free(l);
}

/* broken - the link fails from now on; err says why. */
static enum result
broken(struct qlink *l, char *err, size_t errlen, const char *why)
{
	if (!l->broken && err != NULL)
		err_set(err, errlen, "queue process: %s", why);
	else if (err != NULL)
		err_set(err, errlen, "queue process not available");
	l->broken = 1;
	return RS_TEMP;
}

static int
send_msg(struct qlink *l, uint32_t type, uint32_t id, const void *p,
    size_t len)
{
	if (l->broken)
		return -1;
	if (chan_send(l->sock, type, id, p, len, -1) == -1) {
		l->broken = 1;
		return -1;
	}
	return 0;
}

/* answer - wait for the queue's answer of type; -1 breaks the link. */
static int
answer(struct qlink *l, uint32_t type, char *err, size_t errlen)
{
	struct pollfd pfd;
	int n;

	if (l->broken) {
		broken(l, err, errlen, "");
		return -1;
	}
	pfd.fd = l->sock;
	pfd.events = POLLIN;
	do
		n = poll(&pfd, 1, l->timeout_ms > 0 ? l->timeout_ms : -1);
	while (n == -1 && errno == EINTR);
	if (n == 0) {
		broken(l, err, errlen, "no answer in time");
		return -1;
	}
	do
		n = chan_recv(l->sock, l->in);
	while (n == -1 && errno == EINTR);
	if (n <= 0) {
		broken(l, err, errlen, n == 0 ? "gone" : strerror(errno));
		return -1;
	}
	if (l->in->fd != -1)
		close(l->in->fd);
	if (l->in->type == QM_TICKET) {
		struct chan_rd r;

		chan_rd_init(&r, l->in);
		chan_get_str(&r, l->ticket, sizeof(l->ticket));
		if (chan_get_end(&r) != 0 || !qid_is_valid(l->ticket)) {
			broken(l, err, errlen, "malformed ticket");
			return -1;
		}
		return type == QM_TICKET ? 0 : answer(l, type, err, errlen);
	}
	if (l->in->type != type) {
		broken(l, err, errlen, "unexpected answer");
		return -1;
	}
	return 0;
}

/* put_rcpts - u32 k and the recipients from i that fit; the next i. */
static int
put_rcpts(struct chan_wr *w, const struct qenv *env,
    const unsigned char *verdicts, int i)
{
	static const unsigned char none[VERDICT_LEN];
	const struct qrcpt_dsn *d;
	size_t at = w->len;
	uint32_t count = 0;

	chan_put_u32(w, 0);
	/* a recipient takes at most 4+256+4+4+DSN text+4+16 octets */
	for (; i < env->nrcpts && w->len + 1400 < CHAN_MAX; i++) {
		d = qenv_rcpt_dsn(env, env->rcpts[i]);
		chan_put_str(w, env->rcpts[i]);
		chan_put_u32(w, d != NULL ? d->notify : 0);
		chan_put_str(w, d != NULL ? d->orcpt : NULL);
		chan_put_bytes(w, verdicts != NULL ? verdicts +
		    (size_t)i * VERDICT_LEN : none, VERDICT_LEN);
		count++;
	}
	if (!w->err)
		memcpy(w->p + at, &count, sizeof(count));
	return i;
}

/*
 * send_env - QM_OPEN with env and as many recipients as fit, then
 * QM_RCPT messages for the rest (real mail: none).
 */
static int
send_env(struct qlink *l, const struct qenv *env,
    const unsigned char *verdicts, uint32_t entry, uint32_t src,
    const char *id)
{
	struct chan_wr w;
	int i;

	chan_wr_init(&w, l->out, CHAN_MAX);
	chan_put_u32(&w, entry);
	chan_put_u32(&w, src);
	chan_put_str(&w, id);
	chan_put_str(&w, env->customer);
	chan_put_u32(&w, (uint32_t)env->body_8bit);
	chan_put_str(&w, env->protocol);
	chan_put_str(&w, env->client);
	chan_put_str(&w, env->helo);
	chan_put_str(&w, env->sender);
	chan_put_str(&w, env->envid);
	chan_put_u32(&w, (uint32_t)env->ret);
	chan_put_u32(&w, (uint32_t)env->nrcpts);
	i = put_rcpts(&w, env, verdicts, 0);
	if (w.err || send_msg(l, QM_OPEN, 0, w.p, w.len) == -1)
		return -1;
	while (i < env->nrcpts) {
		chan_wr_init(&w, l->out, CHAN_MAX);
		i = put_rcpts(&w, env, verdicts, i);
		if (w.err || send_msg(l, QM_RCPT, 0, w.p, w.len) == -1)
			return -1;
	}
	return 0;
}

/*
 * open_entry - QM_OPEN for env under a free entry number: a new
 * message (src 0) takes the ticket as its id, a copy src's id.  Not
 * answered: a failure to open comes back with the commit.
 */
static enum result
open_entry(struct qlink *l, struct qenv *env, const unsigned char *verdicts,
    struct qcw *src, struct qcw **wp, char *err, size_t errlen)
{
	struct qcw *w;
	uint32_t e;

	for (e = 0; e < QP_OPEN_MAX && l->used[e]; e++)
		;
	if (e == QP_OPEN_MAX) {
		err_set(err, errlen, "too many entries open");
		return RS_TEMP;
	}
	if (src == NULL && l->ticket[0] == '\0' &&
	    answer(l, QM_TICKET, err, errlen) == -1)
		return RS_TEMP;
	if ((w = calloc(1, sizeof(*w))) == NULL) {
		err_set(err, errlen, "%s", strerror(errno));
		return RS_TEMP;
	}
	w->l = l;
	w->entry = e + 1;
	strlcpy_(w->id, src != NULL ? src->id : l->ticket, sizeof(w->id));
	if (send_env(l, env, verdicts, w->entry, src != NULL ? src->entry : 0,
	    src != NULL ? NULL : l->ticket) == -1) {
		free(w);
		return broken(l, err, errlen, strerror(errno));
	}
	l->used[e] = 1;
	l->ticket[0] = '\0';
	strlcpy_(env->id, w->id, sizeof(env->id));
	if (src == NULL)
		env->arrival = time(NULL);
	*wp = w;
	return RS_OK;
}

enum result
qc_open(struct qlink *l, struct qenv *env, const unsigned char *verdicts,
    struct qcw **wp, char *err, size_t errlen)
{
	struct qcw *w;
	enum result rs;

	*wp = NULL;
	if (l->spool == NULL)
		return open_entry(l, env, verdicts, NULL, wp, err, errlen);
	qid_new(env->id, sizeof(env->id));
	env->arrival = time(NULL);
	if ((w = calloc(1, sizeof(*w))) == NULL) {
		err_set(err, errlen, "%s", strerror(errno));
		return RS_TEMP;
	}
	w->l = l;
	if ((rs = qw_open(l->spool, env, &w->w, err, errlen)) != RS_OK) {
		free(w);
		return rs;
	}
	*wp = w;
	return RS_OK;
}

/* flush - send the buffered octets as one QM_DATA. */
static int
flush(struct qcw *w)
{
	if (w->len == 0)
		return 0;
	if (send_msg(w->l, QM_DATA, w->entry, w->buf, w->len) == -1)
		return -1;
	w->len = 0;
	return 0;
}

enum result
qc_write(struct qcw *w, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	size_t c;

	if (w == NULL)
		return RS_TEMP;
	if (w->w != NULL) {
		if (qw_write(w->w, buf, len) != RS_OK)
			return RS_TEMP;
		w->size += len;
		return RS_OK;
	}
	if (w->l->broken)
		return RS_TEMP;
	if (w->buf == NULL && (w->buf = malloc(CHAN_MAX)) == NULL)
		return RS_TEMP;
	w->size += len;
	while (len > 0) {
		c = CHAN_MAX - w->len < len ? CHAN_MAX - w->len : len;
		memcpy(w->buf + w->len, p, c);
		w->len += c;
		p += c;
		len -= c;
		if (w->len == CHAN_MAX && flush(w) == -1)
			return RS_TEMP;
	}
	return RS_OK;
}

uint64_t
qc_size(const struct qcw *w)
{
	return w->size;
}

enum result
qc_clone(struct qcw *src, struct qenv *env, const unsigned char *verdicts,
    struct qcw **dst, char *err, size_t errlen)
{
	struct qlink *l = src->l;
	struct qcw *w;
	enum result rs;

	*dst = NULL;
	if (l->spool == NULL) {
		if (flush(src) == -1)
			return broken(l, err, errlen, strerror(errno));
		if ((rs = open_entry(l, env, verdicts, src, dst, err,
		    errlen)) == RS_OK)
			(*dst)->size = src->size;
		return rs;
	}
	strlcpy_(env->id, qw_id(src->w), sizeof(env->id));
	env->arrival = qw_arrival(src->w);
	if ((w = calloc(1, sizeof(*w))) == NULL) {
		err_set(err, errlen, "%s", strerror(errno));
		return RS_TEMP;
	}
	w->l = l;
	if ((rs = qw_clone(src->w, l->spool, env, &w->w, err, errlen)) !=
	    RS_OK) {
		free(w);
		return rs;
	}
	w->size = src->size;
	*dst = w;
	return RS_OK;
}

static void
cw_free(struct qcw *w)
{
	if (w->w == NULL && w->entry > 0 && w->entry <= QP_OPEN_MAX)
		w->l->used[w->entry - 1] = 0;
	free(w->buf);
	free(w);
}

/* commit_direct - qw_commit_set on the writers behind ws. */
static int
commit_direct(struct qcw **ws, int n, int all, enum result *res,
    char *errs, size_t errlen)
{
	struct qwriter **qw;
	uint64_t min_free = n > 0 ? ws[0]->l->min_free : 0;
	int i, ok;

	if ((qw = calloc((size_t)n, sizeof(*qw))) == NULL) {
		for (i = 0; i < n; i++) {
			err_set(errs + (size_t)i * errlen, errlen, "%s",
			    strerror(ENOMEM));
			res[i] = RS_TEMP;
			qc_abort(ws[i]);
			ws[i] = NULL;
		}
		return 0;
	}
	for (i = 0; i < n; i++) {
		qw[i] = ws[i]->w;
		cw_free(ws[i]);
		ws[i] = NULL;
	}
	ok = qw_commit_set(qw, n, all, min_free, res, errs, errlen);
	free(qw);
	return ok;
}

int
qc_commit(struct qcw **ws, int n, int all, enum result *res, char *errs,
    size_t errlen)
{
	struct qlink *l;
	struct chan_wr wr;
	struct chan_rd r;
	char err[QP_ERR];
	uint32_t rs;
	int i, ok = 0;

	if (n <= 0)
		return 0;
	l = ws[0]->l;
	if (l->spool != NULL)
		return commit_direct(ws, n, all, res, errs, errlen);
	chan_wr_init(&wr, l->out, CHAN_MAX);
	chan_put_u32(&wr, (uint32_t)all);
	chan_put_u32(&wr, (uint32_t)n);
	for (i = 0; i < n; i++) {
		chan_put_u32(&wr, ws[i]->entry);
		/* the first one's last octets ride along when they fit */
		if ((i > 0 || ws[i]->len > CHAN_MAX - 12 - 4 * (size_t)n) &&
		    flush(ws[i]) == -1)
			wr.err = 1;
	}
	if (ws[0]->len > 0)
		chan_put_bytes(&wr, ws[0]->buf, ws[0]->len);
	else
		chan_put_u32(&wr, 0);
	ws[0]->len = 0;
	err[0] = '\0';
	if (wr.err || send_msg(l, QM_COMMIT, 0, wr.p, wr.len) == -1)
		broken(l, err, sizeof(err), strerror(errno));
	else if (answer(l, QM_COMMITTED, err, sizeof(err)) == 0) {
		chan_rd_init(&r, l->in);
		if (chan_get_u32(&r) != (uint32_t)n)
			r.err = 1;
		for (i = 0; i < n && !r.err; i++) {
			rs = chan_get_u32(&r);
			chan_get_str(&r, errs + (size_t)i * errlen, errlen);
			res[i] = rs <= RS_PERM ? (enum result)rs : RS_TEMP;
		}
		if (chan_get_end(&r) != 0)
			broken(l, err, sizeof(err), "malformed answer");
	}
	for (i = 0; i < n; i++) {
		if (l->broken) {
			res[i] = RS_TEMP;
			err_set(errs + (size_t)i * errlen, errlen, "%s", err);
		} else if (res[i] == RS_OK)
			ok++;
		cw_free(ws[i]);
		ws[i] = NULL;
	}
	return ok;
}

void
qc_abort(struct qcw *w)
{
	if (w == NULL)
		return;
	if (w->w != NULL)
		qw_abort(w->w);
	else
		send_msg(w->l, QM_ABORT, 0, &w->entry, sizeof(w->entry));
	cw_free(w);
}
