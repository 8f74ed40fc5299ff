/*
 * qserv.c - the queue process's half of qproto.h: a session sends an
 * envelope, the queue opens the entry (choosing its id and arrival),
 * takes the message octets as they come, and commits or removes it.
 *
 * Invariants: only this file writes a session's entries; a session
 * reaches only the entries it opened itself, by a small number, never
 * by name; the id is the queue's, so no session can name or replace an
 * entry already queued; the client line must carry the address the
 * master saw; the queue counts the octets and checks the size limit
 * itself, and a copy that would take its customer past its quota is
 * refused (QUEUE_OVERQUOTA); a session that breaks the protocol is logged and cut off,
 * and everything it had open is removed; answers are queued at most
 * two deep and a session that does not read them is cut off, so no
 * session can stall the queue.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "chan.h"
#include "log.h"
#include "qint.h"
#include "qproto.h"
#include "verdict.h"
#include "qserv.h"

struct qsent {
	int	used;			/* 0: a free slot */
	struct qwriter *w;		/* NULL: its open failed */
	enum result open_rs;		/* and how */
	char	err[QP_ERR];
	int	failed;			/* errno of a failed write, or 0 */
	uint64_t size;
};

struct qsenv {
	int	have;			/* QM_OPEN came */
	uint32_t entry;			/* the session's number for it */
	uint32_t src;			/* the entry a copy is made of, or 0 */
	int	has_id;			/* a new message: id is the ticket */
	char	id[QID_LEN];
	int	got;			/* recipients so far */
	struct qenv env;		/* strings owned */
};

struct qsclient {
	struct qserv *qs;
	struct chan out;
	char	peer[64];
	uint32_t serial;
	int	busy;			/* a commit in flight */
	char	ticket[QID_LEN];	/* the id its next message gets */
	int	closing;		/* closed while busy: free when done */
	struct qsenv pend;
	struct qsent ent[QP_OPEN_MAX];
};

/* One QM_COMMIT: the writers to commit (NULL: refused before). */
struct qsjob {
	struct qsclient *c;
	uint32_t n, all;
	struct qwriter *ws[QP_OPEN_MAX];
	enum result res[QP_OPEN_MAX];
	char	errs[QP_OPEN_MAX][QP_ERR];
	char   *cust[QP_OPEN_MAX];	/* whose each copy is, to count it */
	uint64_t size[QP_OPEN_MAX];
	int	sent;			/* the answer went out: 0, or -1 */
};

/* A customer the queue takes entries for. */
struct qscust {
	char   *name;
	uint64_t quota;			/* queued octets allowed; 0: any */
	int	slot;			/* its place in the master's list */
};

struct qserv {
	char   *spool;
	struct qscust *cust;		/* sorted by name */
	int	ncust;
	uint64_t max_size;
	uint64_t min_free;		/* commits need this much room */
	int	have_key;		/* every recipient needs its token */
	unsigned char key[VERDICT_KEY];
	void  (*run)(struct qsjob *, void *);
	void   *run_arg;
	struct qsusage usage;		/* .used NULL: the spool is read */
	struct chan_msg m;
};

static int
cmp_cust(const void *a, const void *b)
{
	return strcmp(((const struct qscust *)a)->name,
	    ((const struct qscust *)b)->name);
}

static void
cust_free(struct qscust *v, int n)
{
	int i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++)
		free(v[i].name);
	free(v);
}

int
qserv_set(struct qserv *qs, char *const *customers, const uint64_t *quotas,
    int n, uint64_t max_size)
{
	struct qscust *v;
	int i;

	if ((v = calloc((size_t)n + 1, sizeof(*v))) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		if ((v[i].name = strdup(customers[i])) == NULL) {
			cust_free(v, i);
			return -1;
		}
		v[i].quota = quotas != NULL ? quotas[i] : 0;
		v[i].slot = i;
	}
	qsort(v, (size_t)n, sizeof(*v), cmp_cust);
	cust_free(qs->cust, qs->ncust);
	qs->cust = v;
	qs->ncust = n;
	qs->max_size = max_size;
	return 0;
}

struct qserv *
qserv_new(const char *spool, char *const *customers, const uint64_t *quotas,
    int n, uint64_t max_size)
{
	struct qserv *qs;

	if ((qs = calloc(1, sizeof(*qs))) == NULL)
		return NULL;
	if ((qs->spool = strdup(spool)) == NULL ||
	    qserv_set(qs, customers, quotas, n, max_size) == -1) {
		qserv_free(qs);
		return NULL;
	}
	return qs;
}

void
qserv_min_free(struct qserv *qs, uint64_t min_free)
{
	__atomic_store_n(&qs->min_free, min_free, __ATOMIC_RELAXED);
}

void
qserv_key(struct qserv *qs, const unsigned char *key)
{
	memcpy(qs->key, key, VERDICT_KEY);
	qs->have_key = 1;
}

void
qserv_free(struct qserv *qs)
{
	if (qs == NULL)
		return;
	cust_free(qs->cust, qs->ncust);
	free(qs->spool);
	free(qs);
}

void
qserv_set_usage(struct qserv *qs, const struct qsusage *u)
{
	if (u != NULL)
		qs->usage = *u;
	else
		memset(&qs->usage, 0, sizeof(qs->usage));
}

static const struct qscust *
known(const struct qserv *qs, const char *name)
{
	struct qscust key;

	key.name = (char *)name;
	return bsearch(&key, qs->cust, (size_t)qs->ncust, sizeof(*qs->cust),
	    cmp_cust);
}

/*
 * over_quota - 1 when size more octets would take customer's queue
 * past its quota.  What is queued comes from the usage table, or from
 * the spool without one (or when it cannot say); a queue that cannot
 * be read at all takes the entry (the lookup has checked at RCPT).
 */
static int
over_quota(const struct qserv *qs, const char *customer, uint64_t size)
{
	const struct qscust *k;
	struct qusage q;
	uint64_t used;

	if ((k = known(qs, customer)) == NULL || k->quota == 0)
		return 0;
	if (qs->usage.used == NULL ||
	    qs->usage.used(k->slot, k->name, &used, qs->usage.arg) == -1) {
		if (spool_usage(qs->spool, k->name, &q) != RS_OK)
			return 0;
		used = q.bytes;
	}
	return used + size > k->quota;
}

/* counted - a committed copy of size octets into the usage table. */
static void
counted(const struct qserv *qs, const char *customer, uint64_t size)
{
	const struct qscust *k;

	if (qs->usage.add != NULL && (k = known(qs, customer)) != NULL)
		qs->usage.add(k->slot, k->name, size, qs->usage.arg);
}

static int ticket(struct qsclient *c);

struct qsclient *
qserv_client(struct qserv *qs, int sock, const char *peer, uint32_t serial)
{
	struct qsclient *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->qs = qs;
	chan_init(&c->out, sock, 2);
	strlcpy_(c->peer, peer, sizeof(c->peer));
	c->serial = serial;
	if (ticket(c) == -1) {
		chan_clear(&c->out);
		free(c);
		return NULL;
	}
	return c;
}

int
qserv_sock(const struct qsclient *c)
{
	return c->out.sock;
}

/* refuse - log a session that broke the protocol; -1 cuts it off. */
static int
refuse(const struct qsclient *c, const char *why)
{
	log_warnx("queue: session %u (%s): %s: cut off", c->serial,
	    c->peer[0] != '\0' ? c->peer : "local", why);
	return -1;
}

static void
pend_free(struct qsenv *p)
{
	struct qenv *e = &p->env;
	int i;

	free(e->protocol);
	free(e->client);
	free(e->helo);
	free(e->sender);
	free(e->envid);
	for (i = 0; i < p->got; i++) {
		free(e->rcpts[i]);
		free(e->rdsn[i].orcpt);
	}
	free(e->rcpts);
	free(e->rdsn);
	memset(p, 0, sizeof(*p));
}

/* sdup - a copy of an optional string; -1 when out of memory. */
static int
sdup(char **dst, const char *s)
{
	*dst = NULL;
	if (s == NULL)
		return 0;
	return (*dst = strdup(s)) == NULL ? -1 : 0;
}

/* client_ok - "name [addr]" whose addr is what the master saw. */
static int
client_ok(const struct qsclient *c, const char *client)
{
	size_t n = strlen(client), p = strlen(c->peer);

	if (c->peer[0] == '\0')
		return 1;
	return n >= p + 2 && client[n - 1] == ']' &&
	    client[n - p - 2] == '[' &&
	    memcmp(client + n - p - 1, c->peer, p) == 0;
}

/* get_env - the envelope fields of a QM_OPEN into c->pend. */
static int
get_env(struct qsclient *c, struct chan_rd *rd)
{
	char cust[64], proto[QP_PROTO], client[QP_CLIENT], helo[QP_HELO];
	char sender[ADDR_PATH_MAX + 1], envid[QENV_ENVID_MAX + 1];
	const char *h, *e;
	struct qsenv *p = &c->pend;
	struct chan_rd r = *rd;
	uint32_t b8, ret, n;

	if (p->have)
		return refuse(c, "a second envelope before the open");
	chan_get_str(&r, cust, sizeof(cust));
	b8 = chan_get_u32(&r);
	chan_get_str(&r, proto, sizeof(proto));
	chan_get_str(&r, client, sizeof(client));
	h = chan_get_str(&r, helo, sizeof(helo));
	chan_get_str(&r, sender, sizeof(sender));
	e = chan_get_str(&r, envid, sizeof(envid));
	ret = chan_get_u32(&r);
	n = chan_get_u32(&r);
	*rd = r;
	if (r.err || b8 > 1 || ret > QRET_HDRS)
		return refuse(c, "malformed envelope");
	if (n == 0 || n > QP_RCPTS_MAX)
		return refuse(c, "envelope without recipients or with too many");
	if (!name_is_safe(cust))
		return refuse(c, "bad customer name");
	if (!client_ok(c, client))
		return refuse(c, "claims another peer address");
	p->have = 1;
	strlcpy_(p->env.customer, cust, sizeof(p->env.customer));
	p->env.body_8bit = (int)b8;
	p->env.ret = (enum qret)ret;
	p->env.nrcpts = (int)n;
	if (sdup(&p->env.protocol, proto) == -1 ||
	    sdup(&p->env.client, client) == -1 ||
	    sdup(&p->env.helo, h) == -1 || sdup(&p->env.sender, sender) == -1 ||
	    sdup(&p->env.envid, e) == -1 ||
	    (p->env.rcpts = calloc(n, sizeof(char *))) == NULL ||
	    (p->env.rdsn = calloc(n, sizeof(*p->env.rdsn))) == NULL) {
		pend_free(p);
		return refuse(c, "out of memory");
	}
	return 0;
}

/* get_rcpts - u32 k and k recipients into c->pend; to the end of r. */
static int
get_rcpts(struct qsclient *c, struct chan_rd *rd)
{
	char addr[ADDR_PATH_MAX + 1], orcpt[QENV_ORCPT_MAX + 64];
	unsigned char tok[VERDICT_LEN];
	struct qsenv *p = &c->pend;
	struct qrcpt_dsn *d;
	const char *o;
	struct chan_rd r = *rd;
	uint32_t n, i, notify;

	n = chan_get_u32(&r);
	if (n > (uint32_t)(p->env.nrcpts - p->got))
		return refuse(c, "more recipients than the envelope said");
	for (i = 0; i < n && !r.err; i++) {
		chan_get_str(&r, addr, sizeof(addr));
		notify = chan_get_u32(&r);
		o = chan_get_str(&r, orcpt, sizeof(orcpt));
		if (chan_get_bytes(&r, tok, sizeof(tok)) != sizeof(tok) ||
		    r.err || notify > (QN_SUCCESS | QN_FAILURE | QN_DELAY |
		    QN_NEVER))
			break;
		if (c->qs->have_key && !verdict_check(c->qs->key, c->serial,
		    p->env.customer, addr, tok))
			return refuse(c, "a recipient without the lookup's "
			    "verdict");
		d = &p->env.rdsn[p->got];
		if ((p->env.rcpts[p->got] = strdup(addr)) == NULL ||
		    sdup(&d->orcpt, o) == -1) {
			free(p->env.rcpts[p->got]);
			p->env.rcpts[p->got] = NULL;
			return refuse(c, "out of memory");
		}
		d->addr = p->env.rcpts[p->got];
		d->notify = notify;
		p->got++;
	}
	if (i < n || chan_get_end(&r) != 0)
		return refuse(c, "malformed recipients");
	p->env.nrdsn = p->got;
	return 0;
}

static int do_open(struct qsclient *c);

/* on_rcpt - the recipients that did not fit into the QM_OPEN. */
static int
on_rcpt(struct qsclient *c, const struct chan_msg *m)
{
	struct chan_rd r;

	if (!c->pend.have)
		return refuse(c, "recipients without an envelope");
	chan_rd_init(&r, m);
	if (get_rcpts(c, &r) == -1)
		return -1;
	return c->pend.got == c->pend.env.nrcpts ? do_open(c) : 0;
}

/* on_open - an envelope and its first recipients: open when complete. */
static int
on_open(struct qsclient *c, const struct chan_msg *m)
{
	struct chan_rd r;
	char idbuf[QID_LEN];
	const char *id;
	uint32_t src, num;

	chan_rd_init(&r, m);
	num = chan_get_u32(&r);
	src = chan_get_u32(&r);
	id = chan_get_str(&r, idbuf, sizeof(idbuf));
	if (get_env(c, &r) == -1 || get_rcpts(c, &r) == -1)
		return -1;
	c->pend.entry = num;
	c->pend.src = src;
	c->pend.has_id = id != NULL;
	strlcpy_(c->pend.id, id != NULL ? id : "", sizeof(c->pend.id));
	return c->pend.got == c->pend.env.nrcpts ? do_open(c) : 0;
}

/* reply - queue an answer; -1 when the session is not taking them. */
static int
reply(struct qsclient *c, uint32_t type, const struct chan_wr *w)
{
	if (w->err)
		return refuse(c, "answer too long");
	if (chan_queue(&c->out, type, 0, w->p, w->len, -1) == -1)
		return refuse(c, "does not read its answers");
	return chan_flush(&c->out) == -1 ? -1 : 0;
}

/*
 * ticket - a fresh queue id for the session's next message, sent
 * ahead (QM_TICKET), so that opening costs no round trip and still no
 * session names an id of its own choosing.
 */
static int
ticket(struct qsclient *c)
{
	unsigned char buf[QID_LEN + 16];
	struct chan_wr w;

	qid_new(c->ticket, sizeof(c->ticket));
	chan_wr_init(&w, buf, sizeof(buf));
	chan_put_str(&w, c->ticket);
	return reply(c, QM_TICKET, &w);
}

/* entry - the entry numbered e (open, or whose open failed), or NULL. */
static struct qsent *
entry(struct qsclient *c, uint32_t e)
{
	if (e == 0 || e > QP_OPEN_MAX || !c->ent[e - 1].used)
		return NULL;
	return &c->ent[e - 1];
}

/*
 * do_open - open the entry c->pend describes under the number the
 * session gave it.  Nothing is answered: a failure is kept with the
 * entry and is the answer to its commit.
 */
static int
do_open(struct qsclient *c)
{
	struct qsenv *p = &c->pend;
	struct qsent *src = NULL, *dst;
	char err[QP_ERR] = "";
	enum result rs;

	if (p->entry == 0 || p->entry > QP_OPEN_MAX ||
	    c->ent[p->entry - 1].used)
		return refuse(c, "an entry number already in use");
	dst = &c->ent[p->entry - 1];
	if (p->src != 0 && (src = entry(c, p->src)) == NULL)
		return refuse(c, "copy of an entry it does not have");
	if (p->src == 0 && (!p->has_id || strcmp(p->id, c->ticket) != 0))
		return refuse(c, "an id it was not given");
	if (!known(c->qs, p->env.customer)) {
		err_set(err, sizeof(err), "no such customer: %s",
		    p->env.customer);
		rs = RS_TEMP;
	} else if (src != NULL && (src->failed || src->w == NULL)) {
		err_set(err, sizeof(err), "its message could not be written");
		rs = RS_TEMP;
	} else if (src != NULL) {
		strlcpy_(p->env.id, qw_id(src->w), sizeof(p->env.id));
		p->env.arrival = qw_arrival(src->w);
		rs = qw_clone(src->w, c->qs->spool, &p->env, &dst->w, err,
		    sizeof(err));
	} else {
		strlcpy_(p->env.id, c->ticket, sizeof(p->env.id));
		p->env.arrival = time(NULL);
		rs = qw_open_deferred(c->qs->spool, &p->env, &dst->w, err,
		    sizeof(err));
	}
	dst->used = 1;
	dst->failed = 0;
	dst->size = src != NULL ? src->size : 0;
	dst->open_rs = rs;
	strlcpy_(dst->err, err, sizeof(dst->err));
	if (rs != RS_OK) {
		log_warnx("queue: session %u: cannot queue for %s: %s",
		    c->serial, p->env.customer, err);
		dst->w = NULL;
	}
	pend_free(p);
	/* the ticket is spent: the next one goes out now */
	return src == NULL ? ticket(c) : 0;
}

/* add_data - message octets for e, counted against max-size. */
static void
add_data(struct qsclient *c, struct qsent *e, const void *p, size_t len)
{
	if (e->failed || e->w == NULL)
		return;
	e->size += len;
	if (c->qs->max_size != 0 && e->size > c->qs->max_size)
		e->failed = EFBIG;
	else if (qw_write(e->w, p, len) != RS_OK)
		e->failed = errno != 0 ? errno : EIO;
}

static int
on_data(struct qsclient *c, const struct chan_msg *m)
{
	struct qsent *e;

	if ((e = entry(c, m->id)) == NULL)
		return refuse(c, "data for an entry it does not have");
	add_data(c, e, m->data, m->len);
	return 0;
}

void
qserv_set_runner(struct qserv *qs, void (*run)(struct qsjob *, void *),
    void *arg)
{
	qs->run = run;
	qs->run_arg = arg;
}

/*
 * answer_commit - QM_COMMITTED straight from the thread that committed:
 * the session waits for nothing else, so nothing else is queued for
 * it, and its socket does not block (a full one is a session that
 * does not read: qserv_job_done cuts it off).
 */
static void
answer_commit(struct qsjob *j)
{
	static __thread unsigned char buf[QP_OPEN_MAX * (QP_ERR + 8) + 8];
	struct chan_wr w;
	uint32_t i;

	chan_wr_init(&w, buf, sizeof(buf));
	chan_put_u32(&w, j->n);
	for (i = 0; i < j->n; i++) {
		chan_put_u32(&w, (uint32_t)j->res[i]);
		chan_put_str(&w, j->errs[i]);
	}
	j->sent = w.err ? -1 : chan_send(j->c->out.sock, QM_COMMITTED, 0,
	    w.p, w.len, -1);
}

void
qserv_job_run(struct qsjob *j)
{
	struct qwriter *set[QP_OPEN_MAX];
	enum result sres[QP_OPEN_MAX];
	static __thread char serr[QP_OPEN_MAX][QP_ERR];
	uint32_t i, k, ns = 0;

	for (i = 0; i < j->n; i++)
		if (j->ws[i] != NULL)
			set[ns++] = j->ws[i];
	if (ns > 0)
		qw_commit_set(set, (int)ns, (int)j->all,
		    __atomic_load_n(&j->c->qs->min_free, __ATOMIC_RELAXED),
		    sres, serr[0], QP_ERR);
	for (i = 0, k = 0; i < j->n; i++)
		if (j->ws[i] != NULL) {
			j->res[i] = sres[k];
			memcpy(j->errs[i], serr[k], QP_ERR);
			j->ws[i] = NULL;	/* freed by qw_commit_set */
			k++;
		}
	answer_commit(j);
}

struct qsclient *
qserv_job_client(const struct qsjob *j)
{
	return j->c;
}

int
qserv_job_done(struct qsjob *j)
{
	struct qsclient *c = j->c;
	int sent = j->sent;
	uint32_t i;

	for (i = 0; i < j->n; i++) {
		if (j->res[i] == RS_OK && j->cust[i] != NULL)
			counted(c->qs, j->cust[i], j->size[i]);
		free(j->cust[i]);
	}
	free(j);
	c->busy = 0;
	if (c->closing) {
		qserv_close(c);
		return 1;
	}
	return sent == -1 ? refuse(c, "does not read its answers") : 0;
}

int
qserv_busy(const struct qsclient *c)
{
	return c->busy;
}

static int
on_commit(struct qsclient *c, const struct chan_msg *m)
{
	uint32_t all, n, i, k, num[QP_OPEN_MAX];
	struct qsjob *j;
	struct qsent *e;
	struct chan_rd r;
	int bad = 0;

	chan_rd_init(&r, m);
	all = chan_get_u32(&r);
	n = chan_get_u32(&r);
	if (r.err || all > 1 || n == 0 || n > QP_OPEN_MAX)
		return refuse(c, "malformed commit");
	for (i = 0; i < n; i++)
		num[i] = chan_get_u32(&r);
	if (r.err)
		return refuse(c, "malformed commit");
	for (i = 0; i < n; i++) {
		if (entry(c, num[i]) == NULL)
			return refuse(c, "commit of an entry it does not have");
		for (k = 0; k < i; k++)
			if (num[k] == num[i])
				return refuse(c, "commit of an entry twice");
	}
	/* then the last of the first entry's message octets */
	if (chan_get_u32(&r) != r.left || r.err)
		return refuse(c, "malformed commit");
	if (r.left > 0)
		add_data(c, entry(c, num[0]), r.p, r.left);
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return refuse(c, "out of memory");
	j->c = c;
	j->n = n;
	j->all = all;
	for (i = 0; i < n; i++) {
		e = entry(c, num[i]);
		if (e->w != NULL && !e->failed &&
		    over_quota(c->qs, qw_customer(e->w), e->size))
			e->failed = EDQUOT;
		if (e->failed || e->w == NULL)
			bad = 1;
	}
	for (i = 0; i < n; i++) {
		e = entry(c, num[i]);
		j->ws[i] = e->w;
		j->res[i] = RS_OK;
		if (e->w == NULL) {		/* its open failed */
			strlcpy_(j->errs[i], e->err, QP_ERR);
			j->res[i] = e->open_rs;
		} else if (e->failed || (all && bad)) {
			if (e->failed == EFBIG)
				err_set(j->errs[i], QP_ERR, "message too big");
			else if (e->failed == EDQUOT)
				err_set(j->errs[i], QP_ERR, "%s",
				    QUEUE_OVERQUOTA);
			else if (e->failed)
				err_set(j->errs[i], QP_ERR, "write: %s",
				    strerror(e->failed));
			else
				err_set(j->errs[i], QP_ERR,
				    "not committed: another copy failed");
			j->res[i] = e->failed == EFBIG ? RS_PERM : RS_TEMP;
			qw_abort(e->w);
			j->ws[i] = NULL;
		} else {
			j->cust[i] = strdup(qw_customer(e->w));
			j->size[i] = e->size;
		}
		e->w = NULL;
		e->used = 0;
	}
	c->busy = 1;
	if (c->qs->run != NULL) {
		c->qs->run(j, c->qs->run_arg);	/* answered when it is done */
		return 0;
	}
	qserv_job_run(j);
	return qserv_job_done(j) == -1 ? -1 : 0;
}

static int
on_abort(struct qsclient *c, const struct chan_msg *m)
{
	struct qsent *e;
	struct chan_rd r;
	uint32_t n;

	chan_rd_init(&r, m);
	n = chan_get_u32(&r);
	if (chan_get_end(&r) != 0 || (e = entry(c, n)) == NULL)
		return refuse(c, "abort of an entry it does not have");
	if (e->w != NULL)
		qw_abort(e->w);
	e->w = NULL;
	e->used = 0;
	return 0;
}

/* dispatch - one message; -1 cuts the session off. */
static int
dispatch(struct qsclient *c, const struct chan_msg *m)
{
	if (m->fd != -1)
		return refuse(c, "sent a descriptor");
	if (m->type != QM_DATA && m->id != 0)
		return refuse(c, "malformed message");
	switch (m->type) {
	case QM_RCPT:
		return on_rcpt(c, m);
	case QM_OPEN:
		return on_open(c, m);
	case QM_DATA:
		return on_data(c, m);
	case QM_COMMIT:
		return on_commit(c, m);
	case QM_ABORT:
		return on_abort(c, m);
	default:
		return refuse(c, "unknown message");
	}
}

/* At most this many messages per call, so one session cannot hog. */
#define QS_BURST	32

int
qserv_input(struct qserv *qs, struct qsclient *c)
{
	struct chan_msg *m = &qs->m;
	int i, n;

	for (i = 0; i < QS_BURST && !c->busy; i++) {
		n = chan_recv(c->out.sock, m);
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return refuse(c, strerror(errno));
		if (n == 0)
			return -1;
		if (dispatch(c, m) == -1) {
			if (m->fd != -1)
				close(m->fd);
			return -1;
		}
	}
	return 0;
}

int
qserv_output(struct qsclient *c)
{
	return chan_flush(&c->out);
}

void
qserv_close(struct qsclient *c)
{
	int i, n = 0;

	if (c == NULL)
		return;
	if (c->busy) {		/* its commit is running: freed after it */
		c->closing = 1;
		return;
	}
	for (i = 0; i < QP_OPEN_MAX; i++)
		if (c->ent[i].w != NULL) {
			qw_abort(c->ent[i].w);
			n++;
		}
	if (n > 0)
		log_info("queue: session %u ended with %d entries open: "
		    "removed", c->serial, n);
	pend_free(&c->pend);
	chan_clear(&c->out);
	close(c->out.sock);
	free(c);
}
