/*
 * odmr.c - the provider side of ODMR (RFC 2645) for one connection:
 * see odmr.h.  What ODMR adds to the session skeleton (session.h) is
 * its command table (EHLO, HELO, AUTH CRAM-MD5, ATRN and the shared
 * RSET, NOOP, HELP, QUIT; any other SMTP verb 502) and ATRN.  AUTH
 * CRAM-MD5 and the right to ATRN are the lookup process's (lclient.h):
 * the session relays the exchange, and the lookup says which customer an ATRN releases (no argument:
 * all of the authenticated customer's domains; with one, every domain
 * must route to it).  Its domains share one queue, so any ATRN
 * releases the whole queue.
 *
 * The session never delivers: an allowed ATRN goes to the lookup with
 * the client's descriptor, the lookup hands it to the master, and a
 * delivery worker (odmr_turn) answers the ATRN and delivers.  Under
 * STARTTLS the TLS state cannot travel with the descriptor: the
 * session hands on one end of a socket pair instead and carries the
 * bytes between it and the TLS stream (sio_relay) until either side
 * closes, so the worker speaks plain SMTP and the client gets TLS.
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
#include "session.h"
#include "odmr.h"

static void	cmd_atrn(struct sess *, char *);
static int	odmr_ehlo(struct sess *, char (*)[SESS_EHLO_LEN], int);

static const struct sess_cmd odmr_cmds[] = {
	{ "EHLO", sess_cmd_ehlo, 0 }, { "HELO", sess_cmd_helo, 0 },
	{ "AUTH", sess_cmd_auth, 0 },
	{ "ATRN", cmd_atrn, SC_LOG | SC_REFUSALS },
	{ "RSET", sess_cmd_rset, 0 }, { "NOOP", sess_cmd_noop, 0 },
	{ "HELP", sess_cmd_help, 0 }, { "QUIT", sess_cmd_quit, 0 },
	{ "STARTTLS", sess_cmd_starttls, SC_LOG }, { NULL, NULL, 0 }
};

static const struct sess_proto proto_odmr = {
	"ODMR", "ESMTP on-demand mail relay (mailbridge)", odmr_cmds,
	LOOKUP_ODMR, odmr_ehlo, NULL, NULL
};

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
 * atrn_relayed - ATRN under TLS: the worker gets one end of a socket
 * pair and this session relays it to the TLS stream until the
 * delivery ends.  0 when the worker has it (the session is over), -1
 * with r the reply when not.
 */
static int
atrn_relayed(struct sess *s, char *arg, struct lookup_reply *r)
{
	char why[300];
	int sp[2], rv;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == -1) {
		log_warn("odmr: %s[%s]: socketpair", s->cl->name, s->cl->addr);
		memset(r, 0, sizeof(*r));
		r->code = 451;
		strlcpy_(r->status, "4.3.0", sizeof(r->status));
		strlcpy_(r->text, "Unable to process ATRN now",
		    sizeof(r->text));
		return -1;
	}
	rv = lc_atrn(s->lc, arg, sp[1], r);
	close(sp[1]);
	if (rv != 0 || r->code != 250 || !r->close) {
		close(sp[0]);
		return -1;
	}
	if (sio_relay(s->io, sp[0], s->io->timeout > 0 ?
	    2 * s->io->timeout : 0, why, sizeof(why)) == -1)
		log_warnx("odmr: %s[%s]: the turned connection under TLS "
		    "ended early: %s", s->cl->name, s->cl->addr, why);
	close(sp[0]);
	return 0;
}

/*
 * cmd_atrn - the lookup process decides (lookup.h); when it allows the
 * ATRN it hands the connection to a delivery worker of the master,
 * which answers and delivers: the session says nothing more (under
 * TLS it relays what the worker says).
 */
static void
cmd_atrn(struct sess *s, char *arg)
{
	struct lookup_reply r;

	if (sio_buffered(s->io)) {
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
	if (s->io->tls != NULL) {
		if (atrn_relayed(s, arg, &r) == 0)
			s->done = 1;
		else
			sess_reply(s, r.code, r.status, "%s", r.text);
		return;
	}
	if (lc_atrn(s->lc, arg, s->fd, &r) == 0 && r.code == 250 && r.close) {
		s->done = 1;		/* the worker has the connection */
		return;
	}
	sess_reply(s, r.code, r.status, "%s", r.text);
}

static int
odmr_ehlo(struct sess *s, char (*kw)[SESS_EHLO_LEN], int max)
{
	int n = 0;

	(void)max;
	if (sess_starttls_offered(s))
		snprintf(kw[n++], SESS_EHLO_LEN, "STARTTLS");
	if (s->auth)
		snprintf(kw[n++], SESS_EHLO_LEN, "%s", sess_auth_mechs(s));
	snprintf(kw[n++], SESS_EHLO_LEN, "ATRN");
	snprintf(kw[n++], SESS_EHLO_LEN, "ENHANCEDSTATUSCODES");
	return n;
}

int
odmr_session(const struct smtpd_ctx *ctx, int fd,
    const struct smtpd_client *cl)
{
	struct sess s;
	const struct bridge_conf *c = ctx->conf;

	s.data = NULL;
	if (sess_open(&s, ctx, cl, &proto_odmr, fd, fd,
	    c->odmr.timeout > 0 ? c->odmr.timeout : 600) == -1)
		return -1;
	/* with a tls section AUTH waits for STARTTLS, unless told not to */
	s.auth_tls = 1;
	s.auth = ctx->tls == NULL || c->odmr.auth_without_tls;
	return sess_run(&s);
}
