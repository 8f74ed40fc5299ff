/*
 * intake.c - one message from MAIL to commit, for bridged's SMTP and
 * LMTP sessions and for bridge-enqueue: free space and size at MAIL,
 * routing and the recipient list and quota at RCPT (decided by the
 * lookup, lclient.h, whose token each recipient keeps), then the message
 * with a Received: header prepended and inbound X-Envelope-To: fields
 * dropped, one queue entry per customer (the same queue id in each),
 * and the commit of every entry before any 250.  The queue writer
 * buffers, so lines go to it one by one.
 *
 * Invariants: a recipient is accepted only into the queue of the
 * customer its domain routes to; nothing of a refused message stays in
 * a queue; in "all" mode a failed commit removes the entries already
 * committed, so a client never sees 250 for part of a message.  The
 * recipient arrays live as long as the intake, so a session allocates
 * only the queue writers per message once warm.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "dsnparam.h"
#include "lclient.h"
#include "qclient.h"
#include "log.h"
#include "util.h"
#include "smtpd.h"

struct intake_rcpt {
	char	addr[ADDR_PATH_MAX];	/* local@domain */
	int	cust;			/* index into in->cust */
	int	dup;			/* seen before for this customer */
	unsigned char verdict[VERDICT_LEN];	/* the lookup's token */
	struct dsn_rcptp dsn;		/* NOTIFY, ORCPT (RFC 3461) */
};

struct intake_cust {
	struct customer *cu;
	struct qcw *w;
	int	committed;
	struct intake_reply reply;	/* code 0 while nothing went wrong */
	char  **rcpts;			/* its recipients, in envr */
	int	nrcpts;
};

struct intake {
	const struct bridge_conf *conf;
	struct usage *usage;
	struct qlink *q;		/* where the entries go */
	int	queue_proc;		/* q is the queue process (quotas its) */
	struct lclient *lc;		/* who decides (lclient.h) */
	struct lclient *own_lc;		/* in-process, made here */
	struct qcw **cws;		/* commit_all's: a slot per group */
	enum result *cres;
	char   *cerrs;			/* CERR octets per group */
	int    *cgi;
	int	active;			/* MAIL accepted */
	char	protocol[8];
	char	helo[256];
	char	name[256];
	char	addr[64];
	char	client[330];		/* "name [addr]" */
	char	sender[ADDR_PATH_MAX];
	uint64_t declared;
	int	body_8bit;
	struct intake_rcpt *rcpt;
	int	nrcpt, arcpt;
	struct intake_cust *cust;	/* conf->ncustomers slots */
	int	ncust;
	char  **envr;			/* recipients by customer */
	struct qrcpt_dsn *rdsn;		/* their DSN parameters, alongside */
	unsigned char *verdicts;	/* their tokens, alongside */
	struct dsn_mail dsn;		/* RET, ENVID */
	/* the message */
	char	qid[QID_LEN];
	time_t	arrival;
	int	in_header, dropping;
	int	midline, midkeep;	/* inside a line fed in pieces */
	uint64_t size;			/* client octets, unstuffed */
	enum intake_problem problem;
};

static void
reply_set(struct intake_reply *r, int code, const char *status,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
reply_set(struct intake_reply *r, int code, const char *status,
    const char *fmt, ...)
{
	va_list ap;

	r->code = code;
	strlcpy_(r->status, status, sizeof(r->status));
	va_start(ap, fmt);
	vsnprintf(r->text, sizeof(r->text), fmt, ap);
	va_end(ap);
}

static enum result
reply_class(const struct intake_reply *r)
{
	return r->code < 400 ? RS_OK : r->code < 500 ? RS_TEMP : RS_PERM;
}

#define CERR	256	/* a commit error per group */

struct intake *
intake_new(const struct bridge_conf *c, struct usage *u)
{
	struct intake *in;
	size_t n;

	if ((in = calloc(1, sizeof(*in))) == NULL)
		return NULL;
	in->conf = c;
	in->usage = u;
	n = (size_t)c->ncustomers + 1;
	if ((in->cust = calloc(n, sizeof(*in->cust))) == NULL ||
	    (in->cws = calloc(n, sizeof(*in->cws))) == NULL ||
	    (in->cres = calloc(n, sizeof(*in->cres))) == NULL ||
	    (in->cerrs = calloc(n, CERR)) == NULL ||
	    (in->cgi = calloc(n, sizeof(*in->cgi))) == NULL ||
	    (in->q = qlink_direct(c->spool)) == NULL) {
		intake_free(in);
		return NULL;
	}
	qlink_min_free(in->q, c->queue.min_free);
	return in;
}

void
intake_use_lookup(struct intake *in, struct lclient *lc)
{
	in->lc = lc;
}

int
intake_use_queue(struct intake *in, int sock, int timeout_ms)
{
	struct qlink *l;

	if ((l = qlink_chan(sock, timeout_ms)) == NULL)
		return -1;
	intake_reset(in);
	qlink_free(in->q);
	in->q = l;
	in->queue_proc = 1;
	return 0;
}

void
intake_free(struct intake *in)
{
	if (in == NULL)
		return;
	if (in->cust != NULL)
		intake_reset(in);
	free(in->rcpt);
	free(in->envr);
	free(in->rdsn);
	free(in->verdicts);
	free(in->cust);
	free(in->cws);
	free(in->cres);
	free(in->cerrs);
	free(in->cgi);
	qlink_free(in->q);
	lclient_free(in->own_lc);
	free(in);
}

void
intake_reset(struct intake *in)
{
	int i;

	for (i = 0; i < in->ncust; i++) {
		if (in->cust[i].w != NULL)
			qc_abort(in->cust[i].w);
		in->cust[i].w = NULL;
	}
	in->ncust = 0;
	in->nrcpt = 0;
	in->active = 0;
	in->problem = IP_NONE;
	in->qid[0] = '\0';
	memset(&in->dsn, 0, sizeof(in->dsn));
}

int
intake_nrcpts(const struct intake *in)
{
	return in->nrcpt;
}

const char *
intake_qid(const struct intake *in)
{
	return in->qid;
}

enum result
intake_mail(struct intake *in, const struct intake_client *cl,
    const char *sender, uint64_t declared, int body_8bit,
    struct intake_reply *r)
{
	struct lookup_reply lr;
	uint64_t max = in->conf->smtp.max_size;

	intake_reset(in);
	strlcpy_(in->protocol, cl->protocol, sizeof(in->protocol));
	strlcpy_(in->helo, cl->helo != NULL ? cl->helo : "", sizeof(in->helo));
	strlcpy_(in->name, cl->name, sizeof(in->name));
	strlcpy_(in->addr, cl->addr != NULL ? cl->addr : "", sizeof(in->addr));
	snprintf(in->client, sizeof(in->client), "%s [%s]", in->name,
	    in->addr);
	if (in->lc == NULL && (in->lc = in->own_lc = lclient_local(in->conf,
	    in->usage, LOOKUP_PIPE, in->addr, -1)) == NULL) {
		reply_set(r, 451, "4.3.0", "Out of memory");
		return RS_TEMP;
	}
	/* SIZE= over the limit is refused here; the lookup checks space */
	if (max != 0 && declared > max) {
		reply_set(r, 552, "5.3.4", "Message size exceeds fixed limit "
		    "of %llu octets", (unsigned long long)max);
		return RS_PERM;
	}
	(void)lc_mail(in->lc, declared, &lr);
	reply_set(r, lr.code, lr.status, "%s", lr.text);
	if (lr.code >= 400)
		return reply_class(r);
	strlcpy_(in->sender, sender, sizeof(in->sender));
	in->declared = declared;
	in->body_8bit = body_8bit;
	in->active = 1;
	return RS_OK;
}

/* cust_group - the index of cu's group, adding one if needed. */
static int
cust_group(struct intake *in, struct customer *cu)
{
	int i;

	for (i = 0; i < in->ncust; i++)
		if (in->cust[i].cu == cu)
			return i;
	memset(&in->cust[i], 0, sizeof(in->cust[i]));
	in->cust[i].cu = cu;
	in->ncust++;
	return i;
}

/*
 * rcpt_route - the customer for a formatted address, by the lookup's
 * verdict (its token into tok), or a refusal in r.
 */
static struct customer *
rcpt_route(struct intake *in, const char *addr, const char *shown,
    unsigned char tok[VERDICT_LEN], struct intake_reply *r)
{
	struct lookup_reply lr;
	struct customer *cu;

	(void)lc_rcpt(in->lc, addr, shown, &lr);
	reply_set(r, lr.code, lr.status, "%s", lr.text);
	if (lr.code >= 400)
		return NULL;
	if ((cu = conf_customer(in->conf, lr.customer)) == NULL) {
		/* the lookup has read a newer config than this session's */
		reply_set(r, 451, "4.3.0", "<%s>: Temporary routing problem",
		    shown);
		return NULL;
	}
	if (lr.have_token)
		memcpy(tok, lr.token, VERDICT_LEN);
	else
		memset(tok, 0, VERDICT_LEN);
	return cu;
}

enum result
intake_rcpt(struct intake *in, enum addr_status st, const struct addr *a,
    const char *shown, const char *why, struct intake_reply *r)
{
	struct intake_rcpt *ir;
	struct customer *cu;
	char buf[ADDR_PATH_MAX];
	unsigned char tok[VERDICT_LEN];
	unsigned char *v;
	int i, n;

	switch (st) {
	case ADDR_OK:
		break;
	case ADDR_ROUTING:
	case ADDR_LITERAL:
		reply_set(r, 550, "5.7.1", "<%s>: Relay access denied (%s)",
		    shown, why != NULL ? why : "routing");
		return RS_PERM;
	default:
		reply_set(r, 501, "5.1.3",
		    "<%s>: Bad recipient address syntax (%s)", shown,
		    why != NULL ? why : "syntax");
		return RS_PERM;
	}
	if (a->null) {
		reply_set(r, 501, "5.1.3", "<>: Bad recipient address syntax");
		return RS_PERM;
	}
	/* a pipe (bridge-enqueue) gives what its MTA accepted: no limit */
	if (in->nrcpt >= in->conf->smtp.max_recipients &&
	    in->conf->smtp.max_recipients > 0 &&
	    strcmp(in->protocol, "pipe") != 0) {
		reply_set(r, 452, "4.5.3", "Error: too many recipients");
		return RS_TEMP;
	}
	addr_format(a, buf, sizeof(buf));
	if ((cu = rcpt_route(in, buf, buf, tok, r)) == NULL)
		return reply_class(r);
	if (in->nrcpt == in->arcpt) {
		n = in->arcpt ? in->arcpt * 2 : 16;
		if ((ir = realloc(in->rcpt, (size_t)n * sizeof(*ir))) == NULL) {
			reply_set(r, 451, "4.3.0", "Out of memory");
			return RS_TEMP;
		}
		in->rcpt = ir;
		in->arcpt = n;
		free(in->envr);
		free(in->rdsn);
		free(in->verdicts);
		in->rdsn = calloc((size_t)n, sizeof(*in->rdsn));
		v = calloc((size_t)n, VERDICT_LEN);
		if ((in->envr = calloc((size_t)n, sizeof(char *))) == NULL ||
		    in->rdsn == NULL || v == NULL) {
			free(in->envr);
			free(in->rdsn);
			free(v);
			in->envr = NULL;
			in->rdsn = NULL;
			in->verdicts = NULL;
			in->arcpt = 0;
			free(in->rcpt);
			in->rcpt = NULL;
			reply_set(r, 451, "4.3.0", "Out of memory");
			return RS_TEMP;
		}
		in->verdicts = v;
	}
	ir = &in->rcpt[in->nrcpt];
	memcpy(ir->verdict, tok, VERDICT_LEN);
	strlcpy_(ir->addr, buf, sizeof(ir->addr));
	ir->cust = cust_group(in, cu);
	ir->dup = 0;
	memset(&ir->dsn, 0, sizeof(ir->dsn));
	for (i = 0; i < in->nrcpt; i++)
		if (in->rcpt[i].cust == ir->cust &&
		    strcasecmp(in->rcpt[i].addr, ir->addr) == 0)
			ir->dup = 1;
	in->nrcpt++;
	reply_set(r, 250, "2.1.5", "Ok");
	return RS_OK;
}

/* env_build - the envelope of group g (envr must be grouped first). */
static void
env_build(struct intake *in, int g, struct qenv *env)
{
	struct intake_cust *ic = &in->cust[g];

	memset(env, 0, sizeof(*env));
	strlcpy_(env->id, in->qid, sizeof(env->id));
	strlcpy_(env->customer, ic->cu->name, sizeof(env->customer));
	env->arrival = in->arrival;
	env->body_8bit = in->body_8bit;
	env->protocol = in->protocol;
	env->client = in->client;
	env->helo = in->helo[0] != '\0' ? in->helo : NULL;
	env->sender = in->sender;
	env->rcpts = ic->rcpts;
	env->nrcpts = ic->nrcpts;
	env->rdsn = &in->rdsn[ic->rcpts - in->envr];
	env->nrdsn = ic->nrcpts;
	env->envid = in->dsn.envid[0] != '\0' ? in->dsn.envid : NULL;
	env->ret = in->dsn.ret;
}

/* group_rcpts - point each group at its unique recipients in envr. */
static void
group_rcpts(struct intake *in)
{
	int g, i, k = 0;

	for (g = 0; g < in->ncust; g++) {
		in->cust[g].rcpts = &in->envr[k];
		in->cust[g].nrcpts = 0;
		in->cust[g].committed = 0;
		in->cust[g].reply.code = 0;
		for (i = 0; i < in->nrcpt; i++) {
			if (in->rcpt[i].cust != g || in->rcpt[i].dup)
				continue;
			in->rdsn[k].addr = in->rcpt[i].addr;
			in->rdsn[k].notify = in->rcpt[i].dsn.notify;
			in->rdsn[k].orcpt = in->rcpt[i].dsn.orcpt[0] != '\0' ?
			    in->rcpt[i].dsn.orcpt : NULL;
			memcpy(in->verdicts + (size_t)k * VERDICT_LEN,
			    in->rcpt[i].verdict, VERDICT_LEN);
			in->envr[k++] = in->rcpt[i].addr;
			in->cust[g].nrcpts++;
		}
	}
}

/* group_verdicts - the tokens of group g's recipients, in their order. */
static const unsigned char *
group_verdicts(struct intake *in, int g)
{
	return in->verdicts + (size_t)(in->cust[g].rcpts - in->envr) *
	    VERDICT_LEN;
}

/* received - the Received: header for this message into buf. */
static size_t
received(struct intake *in, char *buf, size_t len)
{
	char date[64], forc[ADDR_PATH_MAX + 16] = "";
	struct tm tm;
	int n;

	localtime_r(&in->arrival, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	if (in->nrcpt == 1)
		snprintf(forc, sizeof(forc), "\r\n\tfor <%s>",
		    in->rcpt[0].addr);
	if (in->helo[0] != '\0' && strcmp(in->protocol, "pipe") != 0)
		n = snprintf(buf, len, "Received: from %s (%s [%s])\r\n"
		    "\tby %s (mailbridge) with %s id %s%s; %s\r\n", in->helo,
		    in->name, in->addr, in->conf->hostname, in->protocol,
		    in->qid, forc, date);
	else
		n = snprintf(buf, len, "Received: by %s (mailbridge) with %s "
		    "id %s%s; %s\r\n", in->conf->hostname, in->protocol,
		    in->qid, forc, date);
	return n < 0 ? 0 : (size_t)n >= len ? len - 1 : (size_t)n;
}

enum result
intake_data(struct intake *in, struct intake_reply *r)
{
	struct qenv env;
	char err[256], hdr[1200];
	size_t n;

	if (!in->active || in->nrcpt == 0 || in->ncust == 0) {
		reply_set(r, 503, "5.5.1", "Error: no valid recipients");
		return RS_PERM;
	}
	group_rcpts(in);
	env_build(in, 0, &env);
	if (qc_open(in->q, &env, group_verdicts(in, 0), &in->cust[0].w, err,
	    sizeof(err)) != RS_OK) {
		log_warnx("NOQUEUE: cannot queue for %s: %s",
		    in->cust[0].cu->name, err);
		in->cust[0].w = NULL;
		reply_set(r, 451, "4.3.0", "Error: queue file write error");
		return RS_TEMP;
	}
	strlcpy_(in->qid, env.id, sizeof(in->qid));
	in->arrival = env.arrival;
	in->in_header = 1;
	in->dropping = 0;
	in->midline = 0;
	in->size = 0;
	in->problem = IP_NONE;
	n = received(in, hdr, sizeof(hdr));
	if (qc_write(in->cust[0].w, hdr, n) != RS_OK)
		intake_problem(in, IP_IO);
	reply_set(r, 354, "", "End data with <CR><LF>.<CR><LF>");
	return RS_OK;
}

void
intake_problem(struct intake *in, enum intake_problem why)
{
	if (in->problem == IP_NONE)
		in->problem = why;
}

int
intake_refused(const struct intake *in)
{
	return in->problem != IP_NONE;
}

/* is_field - length of the field name if p starts a header field. */
static size_t
is_field(const char *p, size_t len)
{
	size_t i = 0, n;

	while (i < len && p[i] > ' ' && p[i] < 127 && p[i] != ':')
		i++;
	n = i;
	while (i < len && (p[i] == ' ' || p[i] == '\t'))
		i++;
	return n > 0 && i < len && p[i] == ':' ? n : 0;
}

/*
 * keep_line - the header filter: drops X-Envelope-To fields with their
 * continuation lines.  The header section is everything before the
 * first empty line, so a stray non-field line cannot smuggle one past.
 */
static int
keep_line(struct intake *in, const char *p, size_t len)
{
	static const char xet[] = "X-Envelope-To";
	size_t n;

	if (!in->in_header)
		return 1;
	if (len == 2) {		/* the empty line: body follows */
		in->in_header = 0;
		in->dropping = 0;
		return 1;
	}
	if (p[0] == ' ' || p[0] == '\t')
		return !in->dropping;
	n = is_field(p, len);
	in->dropping = n == sizeof(xet) - 1 && strncasecmp(p, xet, n) == 0;
	return !in->dropping;
}

/*
 * feed - a line, or a piece of one (complete = 0: more of it follows).
 * The header filter judges a line by its first piece; the rest follow.
 */
static void
feed(struct intake *in, const char *p, size_t len, int complete)
{
	uint64_t max = in->conf->smtp.max_size;
	int keep;

	if (in->problem != IP_NONE)
		return;
	in->size += len;
	if (max != 0 && in->size > max) {
		intake_problem(in, IP_SIZE);
		return;
	}
	keep = in->midline ? in->midkeep : keep_line(in, p, len);
	in->midline = !complete;
	in->midkeep = keep;
	if (keep && qc_write(in->cust[0].w, p, len) != RS_OK)
		intake_problem(in, IP_IO);
}

void
intake_line(struct intake *in, const char *p, size_t len)
{
	feed(in, p, len, 1);
}

void
intake_part(struct intake *in, const char *p, size_t len)
{
	feed(in, p, len, 0);
}

/* problem_reply - the reply that refuses the message for in->problem. */
static void
problem_reply(const struct intake *in, struct intake_reply *r)
{
	switch (in->problem) {
	case IP_BARE:
		reply_set(r, 550, "5.6.11",
		    "Error: bare CR or LF in message (SMTP smuggling)");
		break;
	case IP_NUL:
		reply_set(r, 554, "5.6.0", "Error: NUL octet in message");
		break;
	case IP_SIZE:
		reply_set(r, 552, "5.3.4",
		    "Message size exceeds fixed limit of %llu octets",
		    (unsigned long long)in->conf->smtp.max_size);
		break;
	default:
		reply_set(r, 451, "4.3.0", "Error: queue file write error");
		break;
	}
}

/* cust_checks - per customer size and quota; failures into its reply. */
static void
cust_checks(struct intake *in, uint64_t total)
{
	struct intake_cust *ic;
	uint64_t used;
	int g;

	for (g = 0; g < in->ncust; g++) {
		ic = &in->cust[g];
		if (ic->cu->max_size != 0 && in->size > ic->cu->max_size)
			reply_set(&ic->reply, 552, "5.3.4",
			    "Message size exceeds fixed limit of %llu octets",
			    (unsigned long long)ic->cu->max_size);
		else if (ic->cu->quota == 0 || in->queue_proc)
			continue;	/* the queue process checks at commit */
		else if (usage_get(in->usage, in->conf, ic->cu, &used) != RS_OK)
			reply_set(&ic->reply, 451, "4.3.0",
			    "Temporary queue problem");
		else if (used + total > ic->cu->quota)
			reply_set(&ic->reply, 452, "4.2.2",
			    "Mailbox full: customer over quota");
	}
}

/* fail_all - give every group r unless it already has a failure. */
static void
fail_all(struct intake *in, const struct intake_reply *r)
{
	int g;

	for (g = 0; g < in->ncust; g++)
		if (in->cust[g].reply.code == 0)
			in->cust[g].reply = *r;
}

/* clone_all - a writer for every group still fine, from group 0's. */
static void
clone_all(struct intake *in)
{
	struct intake_cust *ic;
	struct qenv env;
	char err[256];
	int g;

	for (g = 1; g < in->ncust; g++) {
		ic = &in->cust[g];
		if (ic->reply.code != 0)
			continue;
		env_build(in, g, &env);
		if (qc_clone(in->cust[0].w, &env, group_verdicts(in, g), &ic->w,
		    err, sizeof(err)) != RS_OK) {
			log_warnx("%s: cannot queue for %s: %s", in->qid,
			    ic->cu->name, err);
			ic->w = NULL;
			reply_set(&ic->reply, 451, "4.3.0",
			    "Error: queue file write error");
		}
	}
}

/*
 * commit_all - commit the writers of the groups still fine, together
 * (qc_commit: in all mode none stays unless every one committed).
 */
static void
commit_all(struct intake *in, int all)
{
	struct intake_cust *ic;
	int g, i, n = 0;
	uint64_t total = qc_size(in->cust[0].w);

	for (g = 0; g < in->ncust; g++) {
		ic = &in->cust[g];
		if (ic->w == NULL || ic->reply.code != 0)
			continue;
		in->cgi[n] = g;
		in->cws[n++] = ic->w;
		ic->w = NULL;
	}
	qc_commit(in->cws, n, all, in->cres, in->cerrs, CERR);
	for (i = 0; i < n; i++) {
		ic = &in->cust[in->cgi[i]];
		if (in->cres[i] == RS_OK) {
			ic->committed = 1;
			if (!in->queue_proc)	/* else the queue counts it */
				usage_add(in->usage, in->conf, ic->cu, total);
		} else if (strcmp(in->cerrs + (size_t)i * CERR,
		    QUEUE_OVERQUOTA) == 0) {
			log_warnx("%s: commit for %s refused: %s", in->qid,
			    ic->cu->name, QUEUE_OVERQUOTA);
			reply_set(&ic->reply, 452, "4.2.2",
			    "Mailbox full: customer over quota");
		} else if (strcmp(in->cerrs + (size_t)i * CERR,
		    QUEUE_NOSPACE) == 0) {
			log_warnx("%s: commit for %s refused: %s", in->qid,
			    ic->cu->name, QUEUE_NOSPACE);
			reply_set(&ic->reply, 452, "4.3.1",
			    "Insufficient system storage");
		} else {
			log_warnx("%s: commit for %s failed: %s", in->qid,
			    ic->cu->name, in->cerrs + (size_t)i * CERR);
			reply_set(&ic->reply, 451, "4.3.0",
			    "Error: queue file write error");
		}
	}
}

/* log_accepted - the Postfix-style line for a queued message. */
static void
log_accepted(const struct intake *in)
{
	char names[512];
	size_t off = 0;
	int g, n = 0;

	names[0] = '\0';
	for (g = 0; g < in->ncust; g++) {
		if (!in->cust[g].committed)
			continue;
		snprintf(names + off, sizeof(names) - off, "%s%s",
		    off ? "," : "", in->cust[g].cu->name);
		off += strlen(names + off);
		n += in->cust[g].nrcpts;
	}
	log_info("%s: from=<%s>, size=%llu, nrcpt=%d, client=%s[%s], "
	    "customers=%s", in->qid, in->sender, (unsigned long long)in->size,
	    n, in->name, in->addr, names);
}

/*
 * finish - abort what is left and pick the reply: 250 when every group
 * committed (or, without all, when any did), else the first failure.
 */
static enum result
finish(struct intake *in, int all, struct intake_reply *r)
{
	const struct intake_reply *bad = NULL;
	int g, nok = 0;

	for (g = 0; g < in->ncust; g++) {
		if (in->cust[g].w != NULL)
			qc_abort(in->cust[g].w);
		in->cust[g].w = NULL;
		if (in->cust[g].committed)
			nok++;
		else if (bad == NULL)
			bad = &in->cust[g].reply;
	}
	if (nok > 0)
		log_accepted(in);
	if (bad != NULL && (all || nok == 0))
		*r = *bad;
	else
		reply_set(r, 250, "2.0.0", "Ok: queued as %s", in->qid);
	in->active = 0;
	return reply_class(r);
}

/* first_failure - a group's failure reply, or NULL when none failed. */
static const struct intake_reply *
first_failure(const struct intake *in)
{
	int g;

	for (g = 0; g < in->ncust; g++)
		if (in->cust[g].reply.code >= 400)
			return &in->cust[g].reply;
	return NULL;
}

enum result
intake_end(struct intake *in, int all, struct intake_reply *r)
{
	const struct intake_reply *bad;
	struct intake_reply fail;
	int g;

	if (in->problem != IP_NONE) {
		problem_reply(in, &fail);
		fail_all(in, &fail);
		return finish(in, all, r);
	}

	cust_checks(in, qc_size(in->cust[0].w));
	if (!all || (bad = first_failure(in)) == NULL)
		clone_all(in);
	if (all && (bad = first_failure(in)) != NULL) {
		fail = *bad;
		fail_all(in, &fail);
		return finish(in, all, r);
	}
	commit_all(in, all);
	for (g = 0; g < in->ncust; g++)
		if (in->cust[g].committed)
			reply_set(&in->cust[g].reply, 250, "2.0.0",
			    "Ok: queued as %s", in->qid);
	if (all && (bad = first_failure(in)) != NULL) {
		fail = *bad;
		fail_all(in, &fail);
	}
	return finish(in, all, r);
}

void
intake_dsn_mail(struct intake *in, const struct dsn_mail *dm)
{
	in->dsn = *dm;
}

void
intake_dsn_rcpt(struct intake *in, const struct dsn_rcptp *dr)
{
	if (in->nrcpt > 0)
		in->rcpt[in->nrcpt - 1].dsn = *dr;
}

const struct intake_reply *
intake_rcpt_reply(const struct intake *in, int i)
{
	if (i < 0 || i >= in->nrcpt)
		return NULL;
	return &in->cust[in->rcpt[i].cust].reply;
}
