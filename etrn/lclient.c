/*
 * lclient.c - a session's side of the lookup process (lclient.h): a
 * request as one chan message, the LM_REPLY awaited with a timeout;
 * or, in-process, the same message handed to lookup_serve.
 *
 * Invariants: a reply is taken only when it parses; anything else
 * breaks the link for good (the rest of the session's requests fail
 * temporarily).
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chan.h"
#include "cram.h"
#include "log.h"
#include "lproto.h"
#include "util.h"
#include "lclient.h"

#define LOOKUP_WAIT	(60 * 1000)	/* ms for one answer */

struct lclient {
	int	sock;			/* -1: in-process */
	int	timeout_ms;
	int	broken;
	int	reqfd;			/* in-process: the master's datagrams */
	struct lookup_srv srv;		/* in-process */
	struct lookup_sess sess;
	struct chan_msg *m;
	unsigned char out[8192];
};

struct lclient *
lclient_chan(int sock, int timeout_ms)
{
	struct lclient *lc;

	if ((lc = calloc(1, sizeof(*lc))) == NULL)
		return NULL;
	if ((lc->m = malloc(sizeof(*lc->m))) == NULL) {
		free(lc);
		return NULL;
	}
	lc->sock = sock;
	lc->timeout_ms = timeout_ms;
	lc->reqfd = -1;
	return lc;
}

/* local_flush - the in-process ETRN's request to the master. */
static int
local_flush(void *arg, const char *req)
{
	struct lclient *lc = arg;
	size_t n = strlen(req);

	if (lc->reqfd <= 0)
		return -1;
	return send(lc->reqfd, req, n, MSG_DONTWAIT | MSG_NOSIGNAL) ==
	    (ssize_t)n ? 0 : -1;
}

struct lclient *
lclient_local(const struct bridge_conf *c, struct usage *u, int kind,
    const char *peer, int reqfd)
{
	struct lclient *lc;

	if ((lc = lclient_chan(-1, 0)) == NULL)
		return NULL;
	lc->reqfd = reqfd;
	lc->srv.conf = c;
	lc->srv.usage = u;
	lc->srv.flush = local_flush;
	lc->srv.flush_arg = lc;
	lookup_sess_init(&lc->sess, 0, kind, peer);
	return lc;
}

struct lclient *
lclient_session(const struct smtpd_ctx *ctx, const struct smtpd_client *cl,
    int kind)
{
	struct lclient *lc;

	if (ctx->lookupfd > 0)
		lc = lclient_chan(ctx->lookupfd, LOOKUP_WAIT);
	else
		lc = lclient_local(ctx->conf, ctx->usage, kind, cl->addr,
		    ctx->reqfd);
	if (lc != NULL)
		lc_ident(lc, cl->name);
	return lc;
}

void
lclient_free(struct lclient *lc)
{
	if (lc == NULL)
		return;
	if (lc->sock != -1)
		close(lc->sock);
	free(lc->m);
	free(lc);
}

/* failed - the temporary failure for a request that got no answer. */
static int
failed(struct lclient *lc, uint32_t type, struct lookup_reply *r)
{
	if (!lc->broken)
		log_warnx("session: the lookup process did not answer");
	lc->broken = 1;
	memset(r, 0, sizeof(*r));
	r->code = type == LM_AUTH || type == LM_ANSWER ? 454 : 451;
	strlcpy_(r->status, type == LM_AUTH || type == LM_ANSWER ? "4.7.0" :
	    "4.3.0", sizeof(r->status));
	strlcpy_(r->text, type == LM_AUTH || type == LM_ANSWER ?
	    "Temporary authentication failure" : "Temporary lookup failure",
	    sizeof(r->text));
	return -1;
}

/*
 * local - in-process: message type with payload w to lookup_serve;
 * what it returns (1 answered into r, 0 a notice, -1 cut off).
 */
static int
local(struct lclient *lc, uint32_t type, const struct chan_wr *w,
    struct lookup_reply *r)
{
	lc->m->type = type;
	lc->m->id = 0;
	lc->m->len = (uint32_t)w->len;
	lc->m->fd = -1;
	memcpy(lc->m->data, w->p, w->len);
	return lookup_serve(&lc->srv, &lc->sess, lc->m, r);
}

/* ask - one request of type with payload w; r is its reply. */
static int
ask(struct lclient *lc, uint32_t type, const struct chan_wr *w, int fd,
    struct lookup_reply *r)
{
	struct pollfd pfd;
	int n;

	if (w->err)
		return failed(lc, type, r);
	if (lc->sock == -1)
		return local(lc, type, w, r) == 1 ? 0 : failed(lc, type, r);
	if (lc->broken || chan_send(lc->sock, type, 0, w->p, w->len, fd) == -1)
		return failed(lc, type, r);
	pfd.fd = lc->sock;
	pfd.events = POLLIN;
	do
		n = poll(&pfd, 1, lc->timeout_ms > 0 ? lc->timeout_ms : -1);
	while (n == -1 && errno == EINTR);
	if (n <= 0)
		return failed(lc, type, r);
	do
		n = chan_recv(lc->sock, lc->m);
	while (n == -1 && errno == EINTR);
	if (n <= 0)
		return failed(lc, type, r);
	if (lc->m->fd != -1) {
		close(lc->m->fd);
		return failed(lc, type, r);
	}
	if (lookup_reply_get(lc->m, r) == -1)
		return failed(lc, type, r);
	return 0;
}

void
lc_ident(struct lclient *lc, const char *name)
{
	if (lc->sock == -1) {
		strlcpy_(lc->sess.name, name, sizeof(lc->sess.name));
		lc->sess.named = 1;
	}
}

int
lc_client_name(int sock, char *name, size_t len)
{
	struct pollfd pfd;
	struct chan_msg *m;
	struct chan_rd rd;
	int n, rv = -1;

	strlcpy_(name, "unknown", len);
	if ((m = malloc(sizeof(*m))) == NULL)
		return -1;
	pfd.fd = sock;
	pfd.events = POLLIN;
	do
		n = poll(&pfd, 1, LOOKUP_WAIT);
	while (n == -1 && errno == EINTR);
	if (n == 1) {
		do
			n = chan_recv(sock, m);
		while (n == -1 && errno == EINTR);
		if (n > 0 && m->fd != -1)
			close(m->fd);
		else if (n > 0 && m->type == LM_NAME) {
			chan_rd_init(&rd, m);
			if (chan_get_str(&rd, name, len) != NULL &&
			    chan_get_end(&rd) == 0)
				rv = 0;
		}
	}
	if (rv == -1) {
		strlcpy_(name, "unknown", len);
		log_warnx("session: the lookup process gave no client name");
	}
	free(m);
	return rv;
}

/* notice - a message of type with payload w that is not answered. */
static int
notice(struct lclient *lc, uint32_t type, const struct chan_wr *w)
{
	struct lookup_reply scratch;

	if (w->err)
		return -1;
	if (lc->sock == -1)
		return local(lc, type, w, &scratch) == 0 ? 0 : -1;
	if (lc->broken || chan_send(lc->sock, type, 0, w->p, w->len, -1) == -1)
		return -1;
	return 0;
}

/*
 * lc_mail - the MAIL notice: sent, not answered (the lookup keeps a
 * refusal for each RCPT of the transaction), so MAIL costs the
 * session no round trip.
 */
int
lc_mail(struct lclient *lc, uint64_t declared, struct lookup_reply *r)
{
	struct chan_wr w;

	chan_wr_init(&w, lc->out, sizeof(lc->out));
	chan_put_u64(&w, declared);
	if (notice(lc, LM_MAIL, &w) == -1)
		return failed(lc, LM_MAIL, r);
	memset(r, 0, sizeof(*r));
	r->code = 250;
	strlcpy_(r->status, "2.1.0", sizeof(r->status));
	strlcpy_(r->text, "Ok", sizeof(r->text));
	return 0;
}

int
lc_tls(struct lclient *lc)
{
	struct chan_wr w;

	chan_wr_init(&w, lc->out, sizeof(lc->out));
	return notice(lc, LM_TLS, &w);
}

int
lc_rcpt(struct lclient *lc, const char *addr, const char *shown,
    struct lookup_reply *r)
{
	struct chan_wr w;

	chan_wr_init(&w, lc->out, sizeof(lc->out));
	chan_put_str(&w, addr);
	chan_put_str(&w, shown);
	return ask(lc, LM_RCPT, &w, -1, r);
}

/* one - a request whose payload is one string. */
static int
one(struct lclient *lc, uint32_t type, const char *s, struct lookup_reply *r)
{
	struct chan_wr w;

	chan_wr_init(&w, lc->out, sizeof(lc->out));
	chan_put_str(&w, s);
	return ask(lc, type, &w, -1, r);
}

int
lc_auth(struct lclient *lc, const char *arg, struct lookup_reply *r)
{
	return one(lc, LM_AUTH, arg, r);
}

int
lc_answer(struct lclient *lc, const char *line, struct lookup_reply *r)
{
	return one(lc, LM_ANSWER, line, r);
}

int
lc_auth_exchange(struct lclient *lc, struct sio *io, size_t linemax,
    const char *arg, struct lookup_reply *r)
{
	char line[CRAM_ANSWER_MAX + 1];
	int rounds = 0;

	if (lc_auth(lc, arg, r) == -1)
		return 0;
	while (r->code == 334) {
		if (++rounds > CRAM_ROUNDS) {	/* the lookup misbehaves */
			failed(lc, LM_ANSWER, r);
			break;
		}
		sio_reply(io, "334 %s", r->text);
		if (cram_read_answer(io, linemax, line, sizeof(line)) == -1)
			return -1;
		if (lc_answer(lc, line, r) == -1)
			break;
	}
	explicit_bzero(line, sizeof(line));
	return 0;
}

int
lc_etrn(struct lclient *lc, const char *arg, struct lookup_reply *r)
{
	return one(lc, LM_ETRN, arg, r);
}

int
lc_atrn(struct lclient *lc, const char *arg, int fd, struct lookup_reply *r)
{
	struct chan_wr w;

	chan_wr_init(&w, lc->out, sizeof(lc->out));
	chan_put_str(&w, arg);
	return ask(lc, LM_ATRN, &w, lc->sock == -1 ? -1 : fd, r);
}
