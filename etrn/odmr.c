/*
 * odmr.c - the provider side of ODMR (RFC 2645) for one connection:
 * see odmr.h.  Commands: EHLO (HELO), AUTH CRAM-MD5, ATRN, NOOP, RSET,
 * QUIT; anything else 502.  AUTH CRAM-MD5 and the right to ATRN are
 * the lookup process's (lclient.h): the session relays the exchange,
 * and the lookup says which customer an ATRN releases (no argument:
 * all of the authenticated customer's domains; with one, every domain
 * must route to it).  Its domains share one queue, so any ATRN
 * releases the whole queue.
 *
 * The session never delivers: an allowed ATRN goes to the lookup with
 * the client's descriptor, the lookup hands it to the master, and a
 * delivery worker (odmr_turn) answers the ATRN and delivers.
 *
 * Invariants: the queue lock is taken before the 250 that turns the
 * connection round, so the reply never promises a delivery another
 * flush is already making (451 instead); nothing the client sent
 * after ATRN may sit unread in the session's buffer when the socket is
 * handed on (the session closes instead); after the hand-over the
 * session writes nothing.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "flush.h"
#include "lclient.h"
#include "log.h"
#include "queue.h"
#include "util.h"
#include "odmr.h"

#define CMD_MAX		2048	/* command line, CRLF included */
#define BAD_MAX		10	/* bad commands in a row before 421 */

struct odmr {
	const struct smtpd_ctx *ctx;
	const struct bridge_conf *conf;
	const struct smtpd_client *cl;
	struct sio *io;
	int	fd;
	int	helo_done;
	struct lclient *lc;		/* the lookup process: AUTH, ATRN */
	int	bad;
	int	done;
	char	cmd[CMD_MAX + 1];
};

static void
reply(struct odmr *s, int code, const char *status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
reply(struct odmr *s, int code, const char *status, const char *fmt, ...)
{
	char text[600];
	va_list ap;

	va_start(ap, fmt);
	sio_vcode(s->io, code, status, text, sizeof(text), fmt, ap);
	va_end(ap);
	if (code >= 500 && code != 535)
		s->bad++;
	else if (code < 400)
		s->bad = 0;
}

static void
cmd_auth(struct odmr *s, char *arg)
{
	struct lookup_reply r;

	if (!s->helo_done) {
		reply(s, 503, "5.5.1", "Error: send EHLO first");
		return;
	}
	if (lc_auth_exchange(s->lc, s->io, CMD_MAX, arg, &r) == -1) {
		s->done = 1;		/* lost: no reply */
		return;
	}
	reply(s, r.code, r.status, "%s", r.text);
	s->done = r.close;
}

/* turn_round - after ATRN's 250: deliver the queue over fd. */
static void
turn_round(const struct bridge_conf *conf, const struct customer *cu,
    int fd, const char *client, const char *addr, int lockfd)
{
	struct flush_opts o;
	struct flush_stats st;
	struct smtpc_reply r;
	struct smtpc *c;
	enum result rv;

	flush_opts_default(&o);
	o.connections = 1;
	if ((c = smtpc_fdopen(fd, addr, &o.smtp)) == NULL) {
		log_warn("odmr: %s", client);
		close(lockfd);
		return;
	}
	if (smtpc_greeting(c, &r) != RS_OK ||
	    smtpc_hello(c, conf->hostname, &r) != RS_OK) {
		log_warnx("odmr: %s: %s did not take the turn: %s", cu->name,
		    client, r.text);
		smtpc_quit(c);
		close(lockfd);
		return;
	}
	rv = flush_customer_conn(conf, cu, c, lockfd, &o, &st);
	log_info("odmr: %s: %s: %ld sent, %ld deferred, %ld bounced%s",
	    cu->name, client, st.sent, st.deferred, st.bounced,
	    rv == RS_OK ? "" : "; some stay queued");
}

void
odmr_turn(const struct bridge_conf *conf, const struct customer *cu, int fd,
    const char *name, const char *addr)
{
	struct sio *io;
	struct qusage u;
	char client[340];
	int lockfd, busy;

	snprintf(client, sizeof(client), "%s[%s]", name, addr);
	if ((io = malloc(sizeof(*io))) == NULL) {
		log_warn("odmr: %s", client);
		return;
	}
	sio_init(io, fd, fd, conf->odmr.timeout > 0 ? conf->odmr.timeout : 600);
	if ((lockfd = flush_lock(conf, cu, &busy)) == -1) {
		sio_reply(io, "451 4.3.0 Unable to process ATRN now: %s",
		    busy ? "a delivery of your mail is running" :
		    "queue unavailable");
		sio_flush(io);
		free(io);
		return;
	}
	if (spool_usage(conf->spool, cu->name, &u) != RS_OK || u.count == 0) {
		close(lockfd);
		sio_reply(io, "453 4.3.0 You have no mail");
		sio_flush(io);
		free(io);
		return;
	}
	log_info("odmr: %s: %s: ATRN, %llu pending", cu->name, client,
	    (unsigned long long)u.count);
	sio_reply(io, "250 2.0.0 OK, now reversing the connection");
	if (sio_flush(io) == -1) {
		log_warnx("odmr: %s: lost the connection", client);
		close(lockfd);
		free(io);
		return;
	}
	free(io);
	turn_round(conf, cu, fd, client, addr, lockfd);
}

/*
 * cmd_atrn - the lookup process decides (lookup.h); when it allows the
 * ATRN it hands the connection to a delivery worker of the master,
 * which answers and delivers: the session says nothing more.
 */
static void
cmd_atrn(struct odmr *s, char *arg)
{
	struct lookup_reply r;

	if (s->io->ilen > 0) {
		/* the client must wait for the reply before it turns */
		log_warnx("odmr: %s[%s]: sent data after ATRN before our "
		    "reply", s->cl->name, s->cl->addr);
		s->done = 1;
		return;
	}
	if (sio_flush(s->io) == -1) {
		s->done = 1;
		return;
	}
	if (lc_atrn(s->lc, arg, s->fd, &r) == 0 && r.code == 250 && r.close) {
		s->done = 1;		/* the worker has the connection */
		return;
	}
	reply(s, r.code, r.status, "%s", r.text);
}

static void
cmd_ehlo(struct odmr *s, char *arg, int esmtp)
{
	while (*arg == ' ')
		arg++;
	if (*arg == '\0') {
		reply(s, 501, "5.5.4", "Syntax: %s hostname", esmtp ? "EHLO" :
		    "HELO");
		return;
	}
	s->helo_done = 1;
	if (!esmtp) {
		sio_reply(s->io, "250 %s", s->conf->hostname);
		return;
	}
	sio_reply(s->io, "250-%s", s->conf->hostname);
	sio_reply(s->io, "250-AUTH CRAM-MD5");
	sio_reply(s->io, "250-ATRN");
	sio_reply(s->io, "250 ENHANCEDSTATUSCODES");
	s->bad = 0;
}

/* dispatch - one command line, CRLF removed. */
static void
dispatch(struct odmr *s, char *line)
{
	size_t n = strcspn(line, " ");

	if (n != 4) {
		reply(s, 502, "5.5.1", "Error: command not implemented");
		return;
	}
	if (strncasecmp(line, "EHLO", 4) == 0)
		cmd_ehlo(s, line + 4, 1);
	else if (strncasecmp(line, "HELO", 4) == 0)
		cmd_ehlo(s, line + 4, 0);
	else if (strncasecmp(line, "AUTH", 4) == 0)
		cmd_auth(s, line + 4);
	else if (strncasecmp(line, "ATRN", 4) == 0)
		cmd_atrn(s, line + 4);
	else if (strncasecmp(line, "NOOP", 4) == 0 ||
	    strncasecmp(line, "RSET", 4) == 0)
		reply(s, 250, "2.0.0", "Ok");
	else if (strncasecmp(line, "QUIT", 4) == 0) {
		reply(s, 221, "2.0.0", "Bye");
		s->done = 1;
	} else
		reply(s, 502, "5.5.1", "Error: command not implemented");
}

/* command - read and run one command; SIO_LINE to go on. */
static int
command(struct odmr *s)
{
	const char *p;
	size_t len;
	int st, too_long = 0;

	while ((st = sio_getline(s->io, CMD_MAX, &p, &len)) == SIO_PART)
		too_long = 1;
	if (st == SIO_LAST)
		return SIO_EOF;
	if (st != SIO_LINE)
		return st;
	if (too_long) {
		reply(s, 500, "5.5.2", "Error: line too long");
		return SIO_LINE;
	}
	if (len < 2 || p[len - 2] != '\r' || memchr(p, '\r', len - 2) != NULL ||
	    memchr(p, '\0', len - 2) != NULL) {
		reply(s, 501, "5.5.2", "Error: bare LF/CR or NUL not allowed");
		return SIO_LINE;
	}
	memcpy(s->cmd, p, len - 2);
	s->cmd[len - 2] = '\0';
	dispatch(s, s->cmd);
	return SIO_LINE;
}

int
odmr_session(const struct smtpd_ctx *ctx, int fd,
    const struct smtpd_client *cl)
{
	struct odmr s;
	const struct bridge_conf *c = ctx->conf;
	int st = 0;

	memset(&s, 0, sizeof(s));
	if ((s.io = malloc(sizeof(*s.io))) == NULL) {
		log_warn("odmr session for %s[%s]", cl->name, cl->addr);
		if (ctx->lookupfd > 0)
			close(ctx->lookupfd);
		return -1;
	}
	s.ctx = ctx;
	s.conf = c;
	s.cl = cl;
	s.fd = fd;
	sio_init(s.io, fd, fd, c->odmr.timeout > 0 ? c->odmr.timeout : 600);
	if ((s.lc = lclient_session(ctx, cl, LOOKUP_ODMR)) == NULL) {
		log_warn("odmr session for %s[%s]", cl->name, cl->addr);
		free(s.io);
		if (ctx->lookupfd > 0)
			close(ctx->lookupfd);
		return -1;
	}
	s.io->stop = ctx->stop;
	s.io->waitmask = ctx->waitmask;
	log_debug("odmr: connect from %s[%s]", cl->name, cl->addr);
	sio_reply(s.io, "220 %s ESMTP on-demand mail relay (mailbridge)",
	    c->hostname);
	while (!s.done) {
		if ((st = command(&s)) != SIO_LINE)
			break;
		if (s.bad >= BAD_MAX) {
			reply(&s, 421, "4.7.0", "%s Error: too many errors",
			    c->hostname);
			break;
		}
	}
	if (st == SIO_STOP)
		reply(&s, 421, "4.3.2", "%s Service shutting down",
		    c->hostname);
	else if (st == SIO_TIMEOUT)
		reply(&s, 421, "4.4.2", "%s Error: timeout exceeded",
		    c->hostname);
	if (s.io->olen > 0)
		sio_flush(s.io);
	log_debug("odmr: disconnect from %s[%s]", cl->name, cl->addr);
	lclient_free(s.lc);
	free(s.io);
	return st < 0 && st != SIO_STOP && st != SIO_TIMEOUT ? -1 : 0;
}
