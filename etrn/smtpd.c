/*
 * smtpd.c - what SMTP (RFC 5321) and LMTP (RFC 2033) add to the session
 * skeleton (session.h) for bridged's session processes: their command
 * tables, MAIL, RCPT with DSN parameters, PIPELINING, SIZE, 8BITMIME,
 * ENHANCEDSTATUSCODES, ETRN, and the DATA reader that takes only
 * CRLF.CRLF as the end of a message.
 *
 * Invariants: a command line with a bare CR or LF or a NUL is never
 * executed; a message with one is read to its end and refused there,
 * so the session stays in step with the client; what a client sent
 * ahead of a refused DATA's reply (its message) is never executed
 * either: the session closes after a 554 5.5.0; every 2xx/4xx/5xx
 * reply except the greeting and EHLO/LHLO carries an enhanced status
 * code; the session closes only after QUIT, a 421, or a dead peer.
 *
 * What a client may do is the lookup process's to decide (lclient.h,
 * lookup.h; in-process without one): MAIL's size and free space,
 * each RCPT, AUTH CRAM-MD5 (SMTP only, offered when an ETRN customer
 * has a secret) and ETRN (RFC 1985), which is answered at once: the
 * lookup checks the node and the client's right to it (the address
 * the master saw, against etrn-from, or the session's AUTH), counts
 * what is waiting and asks bridged's master for the flush, which a
 * separate process delivers over new connections.  AUTH grants
 * nothing else: MAIL and RCPT do not look at it.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "dsnparam.h"
#include "lclient.h"
#include "log.h"
#include "util.h"
#include "session.h"
#include "smtpd.h"

#define DATA_MAX	SIO_IBUF	/* longer data lines come in pieces */

/* An SMTP or LMTP session: the skeleton's, and the transaction. */
struct smtpd {
	struct sess s;			/* first: a struct sess * is one */
	struct intake *in;
	int	mail;			/* MAIL accepted */
	struct dsn_mail dsnm;		/* RET=, ENVID= of this MAIL */
	char	sender[ADDR_PATH_MAX];
	char	lastrcpt[ADDR_PATH_MAX];
};

static void	cmd_mail(struct sess *, char *);
static void	cmd_rcpt(struct sess *, char *);
static void	cmd_data(struct sess *, char *);
static void	cmd_etrn(struct sess *, char *);

static const struct sess_cmd smtp_cmds[] = {
	{ "EHLO", sess_cmd_ehlo, 0 }, { "HELO", sess_cmd_helo, 0 },
	{ "MAIL", cmd_mail, SC_LOG | SC_ENVELOPE },
	{ "RCPT", cmd_rcpt, SC_LOG | SC_ENVELOPE },
	{ "DATA", cmd_data, SC_LOG | SC_ENVELOPE },
	{ "RSET", sess_cmd_rset, 0 }, { "NOOP", sess_cmd_noop, 0 },
	{ "QUIT", sess_cmd_quit, 0 }, { "VRFY", sess_cmd_vrfy, 0 },
	{ "HELP", sess_cmd_help, 0 },
	{ "ETRN", cmd_etrn, SC_LOG | SC_REFUSALS },
	{ "AUTH", sess_cmd_auth, 0 }, { "LHLO", sess_cmd_wrong_hello, 0 },
	{ "STARTTLS", sess_cmd_starttls, SC_LOG }, { NULL, NULL, 0 }
};

static const struct sess_cmd lmtp_cmds[] = {
	{ "LHLO", sess_cmd_lhlo, 0 },
	{ "MAIL", cmd_mail, SC_LOG | SC_ENVELOPE },
	{ "RCPT", cmd_rcpt, SC_LOG | SC_ENVELOPE },
	{ "DATA", cmd_data, SC_LOG | SC_ENVELOPE },
	{ "RSET", sess_cmd_rset, 0 }, { "NOOP", sess_cmd_noop, 0 },
	{ "QUIT", sess_cmd_quit, 0 }, { "VRFY", sess_cmd_vrfy, 0 },
	{ "HELP", sess_cmd_help, 0 }, { "EHLO", sess_cmd_wrong_hello, 0 },
	{ "HELO", sess_cmd_wrong_hello, 0 }, { NULL, NULL, 0 }
};

#define reply(s, ...)	sess_reply(&(s)->s, __VA_ARGS__)

static void
reply_intake(struct smtpd *s, const struct intake_reply *r)
{
	reply(s, r->code, r->status, "%s", r->text);
}

/* auth_offered - SMTP, and some ETRN customer has a secret file. */
static int
auth_offered(const struct bridge_conf *c)
{
	int i;

	for (i = 0; i < c->ncustomers; i++)
		if (c->customers[i].secret != NULL &&
		    (c->customers[i].release & REL_ETRN))
			return 1;
	return 0;
}

/* smtp_ehlo - the EHLO or LHLO keywords. */
static int
smtp_ehlo(struct sess *ss, char (*kw)[SESS_EHLO_LEN], int max)
{
	int n = 0;

	(void)max;
	snprintf(kw[n++], SESS_EHLO_LEN, "PIPELINING");
	if (ss->conf->smtp.max_size != 0)
		snprintf(kw[n++], SESS_EHLO_LEN, "SIZE %llu",
		    (unsigned long long)ss->conf->smtp.max_size);
	else
		snprintf(kw[n++], SESS_EHLO_LEN, "SIZE");
	snprintf(kw[n++], SESS_EHLO_LEN, "8BITMIME");
	snprintf(kw[n++], SESS_EHLO_LEN, "DSN");
	if (!ss->cl->lmtp)
		snprintf(kw[n++], SESS_EHLO_LEN, "ETRN");
	if (!ss->cl->lmtp && sess_starttls_offered(ss))
		snprintf(kw[n++], SESS_EHLO_LEN, "STARTTLS");
	if (ss->auth)
		snprintf(kw[n++], SESS_EHLO_LEN, "%s", sess_auth_mechs(ss));
	snprintf(kw[n++], SESS_EHLO_LEN, "ENHANCEDSTATUSCODES");
	return n;
}

/* smtp_reset - forget the transaction (RSET, HELO, EHLO, LHLO). */
static void
smtp_reset(struct sess *ss)
{
	struct smtpd *s = (struct smtpd *)ss;

	intake_reset(s->in);
	s->mail = s->s.busy = 0;
	s->sender[0] = s->lastrcpt[0] = '\0';
}

static void
smtp_envelope(struct sess *ss, char *buf, size_t len)
{
	struct smtpd *s = (struct smtpd *)ss;

	snprintf(buf, len, "; from=<%s> to=<%s>", s->sender, s->lastrcpt);
}

static const struct sess_proto proto_smtp = {
	"SMTP", "ESMTP mailbridge", smtp_cmds, LOOKUP_SMTP, smtp_ehlo,
	smtp_reset, smtp_envelope
};
static const struct sess_proto proto_lmtp = {
	"LMTP", "LMTP mailbridge", lmtp_cmds, LOOKUP_LMTP, smtp_ehlo,
	smtp_reset, smtp_envelope
};
static const struct sess_proto proto_pipe = {
	"LMTP", "LMTP mailbridge", lmtp_cmds, LOOKUP_PIPE, smtp_ehlo,
	smtp_reset, smtp_envelope
};

/* prefix - skip "FROM:" or "TO:" (any case) and spaces; NULL if absent. */
static char *
prefix(char *arg, const char *want)
{
	size_t n = strlen(want);

	if (*arg != ' ')
		return NULL;
	arg++;
	if (strncasecmp(arg, want, n) != 0)
		return NULL;
	arg += n;
	while (*arg == ' ')
		arg++;
	return arg;
}


/* size_value - a SIZE= value: digits only, no overflow. */
static int
size_value(const char *v, uint64_t *out)
{
	uint64_t n = 0;

	if (*v == '\0' || strlen(v) > 20)
		return -1;
	for (; *v != '\0'; v++) {
		if (!isdigit((unsigned char)*v) || n > (UINT64_MAX - 9) / 10)
			return -1;
		n = n * 10 + (uint64_t)(*v - '0');
	}
	*out = n;
	return 0;
}

/*
 * mail_params - SIZE= and BODY= after the path; replies and returns -1
 * on anything else.
 */
static int
mail_params(struct smtpd *s, char *p, uint64_t *size, int *body8)
{
	int seen_size = 0, seen_body = 0, rc;
	char *kw, *v;

	while (esmtp_param_next(&p, &kw, &v)) {
		if (!s->s.esmtp) {
			reply(s, 555, "5.5.4", "Error: parameters need EHLO");
			return -1;
		}
		if (strcasecmp(kw, "SIZE") == 0) {
			if (seen_size++ || v == NULL || size_value(v, size)) {
				reply(s, 501, "5.5.4",
				    "Error: bad SIZE parameter");
				return -1;
			}
		} else if (strcasecmp(kw, "BODY") == 0) {
			if (seen_body++ || v == NULL ||
			    (strcasecmp(v, "7BIT") &&
			    strcasecmp(v, "8BITMIME"))) {
				reply(s, 501, "5.5.4",
				    "Error: bad BODY parameter");
				return -1;
			}
			*body8 = strcasecmp(v, "8BITMIME") == 0;
		} else if ((rc = dsn_mail_param(&s->dsnm, kw, v)) == -1) {
			reply(s, 501, "5.5.4", "Error: bad %.10s parameter", kw);
			return -1;
		} else if (rc == 0) {
			reply(s, 555, "5.5.4",
			    "Error: unsupported parameter %.40s", kw);
			return -1;
		}
	}
	return 0;
}

/*
 * rcpt_params - NOTIFY= and ORCPT= after the path (RFC 3461); replies
 * and returns -1 on anything else.
 */
static int
rcpt_params(struct smtpd *s, char *p, struct dsn_rcptp *dr)
{
	const char *bad = "";
	int rc;

	while (*p == ' ')
		p++;
	if (*p == '\0')
		return 0;
	if (!s->s.esmtp) {
		reply(s, 555, "5.5.4", "Error: parameters need EHLO");
		return -1;
	}
	if ((rc = dsn_rcpt_params(p, dr, &bad)) == 0)
		return 0;
	if (rc == -1)
		reply(s, 501, "5.5.4", "Error: bad %.10s parameter", bad);
	else
		reply(s, 555, "5.5.4", "Error: unsupported parameter %.40s",
		    bad);
	return -1;
}

static void
cmd_mail(struct sess *ss, char *arg)
{
	struct smtpd *s = (struct smtpd *)ss;
	struct intake_client ic;
	struct intake_reply r;
	struct addr a;
	const char *why = NULL;
	char *p, buf[ADDR_PATH_MAX];
	size_t end = 0;
	uint64_t size = 0;
	int body8 = 0;
	enum addr_status st;

	if (!s->s.helo_done) {
		reply(s, 503, "5.5.1", "Error: send %s first",
		    s->s.cl->lmtp ? "LHLO" : "HELO/EHLO");
		return;
	}
	if (s->mail) {
		reply(s, 503, "5.5.1", "Error: nested MAIL command");
		return;
	}
	if ((p = prefix(arg, "FROM:")) == NULL || *p != '<') {
		reply(s, 501, "5.5.4", "Syntax: MAIL FROM:<address>");
		return;
	}
	/* Routing and literals matter for recipients only; a source
	 * route in a sender is ignored (RFC 5321 4.1.1.2). */
	st = addr_parse_path(p, strlen(p), 1, &a, &end, &why);
	if (st != ADDR_OK && st != ADDR_LITERAL && st != ADDR_ROUTING) {
		reply(s, 501, "5.1.7", "<%s>: Bad sender address syntax%s%s%s",
		    text_shown(p, strcspn(p, " "), buf, sizeof(buf)),
		    why ? " (" : "", why ? why : "", why ? ")" : "");
		return;
	}
	if (p[end] != '\0' && p[end] != ' ') {
		reply(s, 501, "5.5.4", "Syntax: MAIL FROM:<address>");
		return;
	}
	memset(&s->dsnm, 0, sizeof(s->dsnm));
	if (mail_params(s, p + end, &size, &body8) == -1)
		return;
	addr_format(&a, buf, sizeof(buf));
	/* RFC 3848: ESMTPS under TLS, ESMTPA after AUTH, ESMTPSA both */
	ic.protocol = s->s.cl->enqueue ? "pipe" : s->s.cl->lmtp ? "LMTP" :
	    !s->s.esmtp ? "SMTP" : s->s.io->tls != NULL ? (s->s.authed ?
	    "ESMTPSA" : "ESMTPS") : s->s.authed ? "ESMTPA" : "ESMTP";
	ic.helo = s->s.cl->enqueue ? NULL : s->s.helo;
	ic.name = s->s.cl->name;
	ic.addr = s->s.cl->addr;
	strlcpy_(s->sender, buf, sizeof(s->sender));
	s->lastrcpt[0] = '\0';
	if (intake_mail(s->in, &ic, a.null ? "" : buf, size, body8, &r) ==
	    RS_OK) {
		s->mail = s->s.busy = 1;
		intake_dsn_mail(s->in, &s->dsnm);
	}
	reply_intake(s, &r);
	if (!s->mail)
		s->sender[0] = '\0';
}

static void
cmd_rcpt(struct sess *ss, char *arg)
{
	struct smtpd *s = (struct smtpd *)ss;
	struct intake_reply r;
	struct dsn_rcptp dr;
	struct addr a;
	const char *why = NULL;
	char *p, buf[ADDR_PATH_MAX];
	size_t end = 0;
	enum addr_status st;

	memset(&dr, 0, sizeof(dr));
	if (!s->mail) {
		reply(s, 503, "5.5.1", "Error: need MAIL command");
		return;
	}
	if ((p = prefix(arg, "TO:")) == NULL || *p != '<') {
		reply(s, 501, "5.5.4", "Syntax: RCPT TO:<address>");
		return;
	}
	memset(&a, 0, sizeof(a));
	st = addr_parse_path(p, strlen(p), 0, &a, &end, &why);
	text_shown(p, st == ADDR_OK ? end : strcspn(p, " "), buf, sizeof(buf));
	strlcpy_(s->lastrcpt, buf, sizeof(s->lastrcpt));
	if (st == ADDR_OK && rcpt_params(s, p + end, &dr) == -1)
		return;
	if (intake_rcpt(s->in, st, &a, buf, why, &r) == RS_OK)
		intake_dsn_rcpt(s->in, &dr);
	reply_intake(s, &r);
}

/*
 * data_line - check one data line (or the first or a middle piece of a
 * long one) for what refuses a message, remove the transparency dot and
 * hand it on.  Returns 1 at the final dot.  bol: this starts a line;
 * crlf_before: the line before it ended with CRLF (only then can "."
 * end the data); *cr_pending: the last piece ended in CR, so the next
 * piece must start with LF.  Lines over 998 octets are real mail's
 * habit and are kept as they are.
 */
static int
data_line(struct smtpd *s, const char *p, size_t len, int bol,
    int crlf_before, int complete, int *cr_pending)
{
	int crlf;
	size_t text;

	if (bol && crlf_before && complete && len == 3 && p[0] == '.' &&
	    p[1] == '\r')
		return 1;
	if (*cr_pending && p[0] != '\n')
		intake_problem(s->in, IP_BARE);
	if (bol && p[0] == '.')
		p++, len--;
	if (complete) {
		crlf = (len >= 2 && p[len - 2] == '\r') ||
		    (len == 1 && *cr_pending);
		text = len >= 2 && p[len - 2] == '\r' ? len - 2 : len - 1;
		if (!crlf)
			intake_problem(s->in, IP_BARE);
	} else
		text = len > 0 && p[len - 1] == '\r' ? len - 1 : len;
	if (memchr(p, '\r', text) != NULL)
		intake_problem(s->in, IP_BARE);
	else if (memchr(p, '\0', text) != NULL)
		intake_problem(s->in, IP_NUL);
	*cr_pending = !complete && len > 0 && p[len - 1] == '\r';
	if (complete)
		intake_line(s->in, p, len);
	else
		intake_part(s->in, p, len);
	return 0;
}

/*
 * data_read - the message after 354 up to CRLF.CRLF.  Returns 1 at the
 * end of the data, else the sio status that ended the session.
 */
static int
data_read(struct smtpd *s)
{
	const char *p;
	size_t len;
	uint64_t got = 0, rate = s->s.conf->smtp.min_data_rate;
	double start = time_mono(), t = (double)s->s.io->timeout;
	int st, bol = 1, crlf_before = 1, cr_pending = 0, was_cr;

	for (;;) {
		if (s->s.ctx->stop != NULL && *s->s.ctx->stop)
			return SIO_STOP;
		/*
		 * a trickle ends: the data must keep min-data-rate, with
		 * one timeout's grace (Postfix's smtpd_min_data_rate)
		 */
		if (rate > 0 && t > 0 && !s->s.cl->lmtp)
			sess_deadline(&s->s, start + t + (double)got /
			    (double)rate);
		else
			sess_deadline(&s->s, 0);
		st = sio_getline(s->s.io, DATA_MAX, &p, &len);
		got += len;
		if (st == SIO_LAST)
			return SIO_EOF;
		if (st != SIO_LINE && st != SIO_PART)
			return st;
		was_cr = cr_pending;
		if (data_line(s, p, len, bol, crlf_before, st == SIO_LINE,
		    &cr_pending))
			return 1;
		if (st == SIO_PART) {
			bol = 0;
			continue;
		}
		crlf_before = (len >= 2 && p[len - 2] == '\r') ||
		    (len == 1 && was_cr);
		bol = 1;
	}
}

/* data_replies - after the dot: one reply, or one per recipient (LMTP). */
static void
data_replies(struct smtpd *s)
{
	const struct intake_reply *rr;
	struct intake_reply r;
	int i, n = intake_nrcpts(s->in);

	intake_end(s->in, !s->s.cl->lmtp || s->s.cl->enqueue, &r);
	if (!s->s.cl->lmtp) {
		reply_intake(s, &r);
		return;
	}
	for (i = 0; i < n; i++) {
		if ((rr = intake_rcpt_reply(s->in, i)) == NULL)
			rr = &r;
		reply_intake(s, rr);
	}
}

/*
 * data_refuse - a DATA that gets no 354 is answered here, -1.  A client
 * that did not wait for that answer (RFC 2920 3.1: DATA ends a
 * pipelined group) has sent the message, whose lines must never run as
 * commands: say so and close, as Postfix's smtpd_forbid_unauth_pipelining
 * does.  0: go on with the data.
 */
static int
data_refuse(struct smtpd *s, const char *arg, struct intake_reply *r)
{
	if (!s->mail)
		reply(s, 503, "5.5.1", "Error: need MAIL command");
	else if (*arg != '\0')
		reply(s, 501, "5.5.4", "Syntax: DATA");
	else if (intake_nrcpts(s->in) == 0)
		reply(s, s->s.cl->lmtp ? 503 : 554, "5.5.1",
		    "Error: no valid recipients");
	else if (intake_data(s->in, r) != RS_OK)
		reply_intake(s, r);
	else
		return 0;
	if (sio_pending(s->s.io)) {
		log_info("improper command pipelining after DATA from %s[%s]",
		    s->s.cl->name, s->s.cl->addr);
		reply(s, 554, "5.5.0", "Error: SMTP protocol synchronization");
		s->s.done = 1;
	}
	return -1;
}

static void
cmd_data(struct sess *ss, char *arg)
{
	struct smtpd *s = (struct smtpd *)ss;
	struct intake_reply r;
	int st;

	if (data_refuse(s, arg, &r) == -1)
		return;
	sio_reply(s->s.io, "354 %s", r.text);
	st = data_read(s);
	if (st == 1) {
		data_replies(s);
	} else {
		intake_reset(s->in);
		if (st == SIO_STOP)
			reply(s, 421, "4.3.2", "%s Service shutting down, "
			    "transaction aborted", s->s.conf->hostname);
		else if (st == SIO_TIMEOUT)
			reply(s, 421, "4.4.2", "%s Error: timeout exceeded",
			    s->s.conf->hostname);
		s->s.done = 1;
	}
	s->mail = s->s.busy = 0;
	s->sender[0] = s->lastrcpt[0] = '\0';
}

/* ---- ETRN (RFC 1985): decided by the lookup process ---- */

/*
 * cmd_etrn - "ETRN domain", "ETRN @domain", "ETRN #customer": the
 * session's state is checked here, the node and the right to it in
 * the lookup process (lookup.h), which also asks for the flush.
 */
static void
cmd_etrn(struct sess *ss, char *arg)
{
	struct smtpd *s = (struct smtpd *)ss;
	struct lookup_reply r;

	while (*arg == ' ')
		arg++;
	if (*arg == '\0') {
		reply(s, 500, "5.5.2", "Syntax: ETRN [@|#]node");
		return;
	}
	if (!s->s.helo_done) {
		reply(s, 503, "5.5.1", "Error: send HELO/EHLO first");
		return;
	}
	if (s->mail) {
		reply(s, 503, "5.5.1", "Error: ETRN inside a mail transaction");
		return;
	}
	(void)lc_etrn(s->s.lc, arg, &r);
	reply(s, r.code, r.status, "%s", r.text);
}

void
smtpd_client_set(struct smtpd_client *cl, const struct sockaddr *sa,
    socklen_t salen, int lookup)
{
	strlcpy_(cl->addr, "unix", sizeof(cl->addr));
	strlcpy_(cl->name, "unknown", sizeof(cl->name));
	if (sa == NULL || sa->sa_family == AF_UNIX) {
		strlcpy_(cl->name, "localhost", sizeof(cl->name));
		return;
	}
	if (getnameinfo(sa, salen, cl->addr, sizeof(cl->addr), NULL, 0,
	    NI_NUMERICHOST) != 0)
		strlcpy_(cl->addr, "unknown", sizeof(cl->addr));
	if (lookup && getnameinfo(sa, salen, cl->name, sizeof(cl->name),
	    NULL, 0, NI_NAMEREQD) != 0)
		strlcpy_(cl->name, "unknown", sizeof(cl->name));
}

int
smtpd_session(const struct smtpd_ctx *ctx, int rfd, int wfd,
    const struct smtpd_client *cl)
{
	const struct bridge_conf *c = ctx->conf;
	const struct sess_proto *proto;
	struct smtpd *s;
	long timeout;
	int rv;

	proto = cl->enqueue ? &proto_pipe : cl->lmtp ? &proto_lmtp :
	    &proto_smtp;
	timeout = cl->lmtp && c->lmtp.timeout > 0 ? c->lmtp.timeout :
	    c->smtp.timeout;
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->in = intake_new(c, ctx->usage)) == NULL ||
	    (ctx->queuefd > 0 &&
	    intake_use_queue(s->in, ctx->queuefd, SMTPD_QUEUE_WAIT) == -1)) {
		log_warn("session for %s[%s]", cl->name, cl->addr);
		if (s != NULL && s->in != NULL)
			intake_free(s->in);	/* closes the queue's socket */
		else if (ctx->queuefd > 0)
			close(ctx->queuefd);
		free(s);
		if (ctx->lookupfd > 0)
			close(ctx->lookupfd);
		return -1;
	}
	s->s.data = s;
	if (sess_open(&s->s, ctx, cl, proto, rfd, wfd, timeout) == -1) {
		intake_free(s->in);
		free(s);
		return -1;
	}
	/* with a tls section AUTH waits for STARTTLS, unless told not to */
	s->s.auth_tls = !cl->lmtp && auth_offered(c);
	s->s.auth = s->s.auth_tls && (ctx->tls == NULL ||
	    c->smtp.auth_without_tls);
	intake_use_lookup(s->in, s->s.lc);
	rv = sess_run(&s->s);
	intake_free(s->in);
	free(s);
	return rv;
}
