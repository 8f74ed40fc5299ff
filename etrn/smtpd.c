/*
 * smtpd.c - one SMTP (RFC 5321) or LMTP (RFC 2033) server session on a
 * connected socket, for bridged's per-connection child: commands,
 * PIPELINING, SIZE, 8BITMIME, ENHANCEDSTATUSCODES, and the DATA reader
 * that takes only CRLF.CRLF as the end of a message.
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
#include "smtpd.h"

#define CMD_MAX		2048	/* command line, CRLF too: 512 + slack */
#define DATA_MAX	SIO_IBUF	/* longer data lines come in pieces */
#define BAD_MAX		10	/* bad commands in a row before 421 */

struct smtpd {
	const struct smtpd_ctx *ctx;
	const struct bridge_conf *conf;
	const struct smtpd_client *cl;
	struct sio *io;
	struct intake *in;
	int	helo_done;
	int	esmtp;
	int	mail;			/* MAIL accepted */
	int	bad;			/* consecutive bad commands */
	int	done;			/* close after the flush */
	struct lclient *lc;		/* the lookup process (lclient.h) */
	const char *cmdname;		/* for reject logs */
	struct dsn_mail dsnm;		/* RET=, ENVID= of this MAIL */
	char	helo[256];
	char	sender[ADDR_PATH_MAX];
	char	lastrcpt[ADDR_PATH_MAX];
	char	cmd[CMD_MAX + 1];
};

struct smtpd_cmd {
	const char *name;
	void	(*fn)(struct smtpd *, char *);
};

static void	cmd_ehlo(struct smtpd *, char *);
static void	cmd_helo(struct smtpd *, char *);
static void	cmd_lhlo(struct smtpd *, char *);
static void	cmd_mail(struct smtpd *, char *);
static void	cmd_rcpt(struct smtpd *, char *);
static void	cmd_data(struct smtpd *, char *);
static void	cmd_rset(struct smtpd *, char *);
static void	cmd_noop(struct smtpd *, char *);
static void	cmd_quit(struct smtpd *, char *);
static void	cmd_vrfy(struct smtpd *, char *);
static void	cmd_help(struct smtpd *, char *);
static void	cmd_etrn(struct smtpd *, char *);
static void	cmd_auth(struct smtpd *, char *);

static const struct smtpd_cmd smtpd_cmds[] = {
	{ "EHLO", cmd_ehlo }, { "HELO", cmd_helo }, { "LHLO", cmd_lhlo },
	{ "MAIL", cmd_mail }, { "RCPT", cmd_rcpt }, { "DATA", cmd_data },
	{ "RSET", cmd_rset }, { "NOOP", cmd_noop }, { "QUIT", cmd_quit },
	{ "VRFY", cmd_vrfy }, { "HELP", cmd_help }, { "ETRN", cmd_etrn },
	{ "AUTH", cmd_auth }, { NULL, NULL }
};

/*
 * reply - send "code status text".  Syntax and sequence errors count
 * towards the 421 for too many bad commands; a success resets it.
 */
static void
reply(struct smtpd *s, int code, const char *status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
reply(struct smtpd *s, int code, const char *status, const char *fmt, ...)
{
	char text[600];
	va_list ap;

	va_start(ap, fmt);
	sio_vcode(s->io, code, status, text, sizeof(text), fmt, ap);
	va_end(ap);
	if (code >= 400 && s->cmdname != NULL &&
	    strcmp(s->cmdname, "ETRN") == 0)
		log_info("reject: %s from %s[%s]: %d %s %s", s->cmdname,
		    s->cl->name, s->cl->addr, code, status != NULL ? status :
		    "", text);
	else if (code >= 400 && s->cmdname != NULL)
		log_info("reject: %s from %s[%s]: %d %s %s; from=<%s> to=<%s>",
		    s->cmdname, s->cl->name, s->cl->addr, code,
		    status != NULL ? status : "", text, s->sender,
		    s->lastrcpt);
	if (code == 500 || code == 501 || code == 502 || code == 503 ||
	    code == 555)
		s->bad++;
	else if (code < 400)
		s->bad = 0;
}

static void
reply_intake(struct smtpd *s, const struct intake_reply *r)
{
	reply(s, r->code, r->status, "%s", r->text);
}

/* arg_word - the hostname argument of EHLO/HELO/LHLO, or NULL. */
static char *
arg_word(char *arg)
{
	char *p, *e;

	while (*arg == ' ')
		arg++;
	if (*arg == '\0')
		return NULL;
	for (e = arg; *e != '\0' && *e != ' '; e++)
		;
	*e = '\0';
	if (e - arg > 255)
		return NULL;
	for (p = arg; p < e; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 127)
			return NULL;
	return arg;
}

/* greet_ok - common HELO/EHLO/LHLO checks; stores the name. */
static int
greet_ok(struct smtpd *s, char *arg, const char *verb)
{
	char *h;

	if ((h = arg_word(arg)) == NULL) {
		reply(s, 501, "5.5.4", "Syntax: %s hostname", verb);
		return 0;
	}
	strlcpy_(s->helo, h, sizeof(s->helo));
	intake_reset(s->in);
	s->mail = 0;
	s->helo_done = 1;
	s->sender[0] = s->lastrcpt[0] = '\0';
	return 1;
}

/* auth_offered - SMTP, and some ETRN customer has a secret file. */
static int
auth_offered(const struct smtpd *s)
{
	int i;

	if (s->cl->lmtp)
		return 0;
	for (i = 0; i < s->conf->ncustomers; i++)
		if (s->conf->customers[i].secret != NULL &&
		    (s->conf->customers[i].release & REL_ETRN))
			return 1;
	return 0;
}

static void
ehlo_reply(struct smtpd *s)
{
	char size[32] = "SIZE";

	if (s->conf->smtp.max_size != 0)
		snprintf(size, sizeof(size), "SIZE %llu",
		    (unsigned long long)s->conf->smtp.max_size);
	sio_reply(s->io, "250-%s", s->conf->hostname);
	sio_reply(s->io, "250-PIPELINING");
	sio_reply(s->io, "250-%s", size);
	sio_reply(s->io, "250-8BITMIME");
	sio_reply(s->io, "250-DSN");
	if (!s->cl->lmtp)
		sio_reply(s->io, "250-ETRN");
	if (auth_offered(s))
		sio_reply(s->io, "250-AUTH CRAM-MD5");
	sio_reply(s->io, "250 ENHANCEDSTATUSCODES");
	s->bad = 0;
}

static void
cmd_ehlo(struct smtpd *s, char *arg)
{
	if (s->cl->lmtp) {
		reply(s, 500, "5.5.1", "Error: this is LMTP: use LHLO");
		return;
	}
	if (!greet_ok(s, arg, "EHLO"))
		return;
	s->esmtp = 1;
	ehlo_reply(s);
}

static void
cmd_lhlo(struct smtpd *s, char *arg)
{
	if (!s->cl->lmtp) {
		reply(s, 500, "5.5.1", "Error: command not recognized");
		return;
	}
	if (!greet_ok(s, arg, "LHLO"))
		return;
	s->esmtp = 1;
	ehlo_reply(s);
}

static void
cmd_helo(struct smtpd *s, char *arg)
{
	if (s->cl->lmtp) {
		reply(s, 500, "5.5.1", "Error: this is LMTP: use LHLO");
		return;
	}
	if (!greet_ok(s, arg, "HELO"))
		return;
	s->esmtp = 0;
	sio_reply(s->io, "250 %s", s->conf->hostname);
	s->bad = 0;
}

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
		if (!s->esmtp) {
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
	if (!s->esmtp) {
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
cmd_mail(struct smtpd *s, char *arg)
{
	struct intake_client ic;
	struct intake_reply r;
	struct addr a;
	const char *why = NULL;
	char *p, buf[ADDR_PATH_MAX];
	size_t end = 0;
	uint64_t size = 0;
	int body8 = 0;
	enum addr_status st;

	if (!s->helo_done) {
		reply(s, 503, "5.5.1", "Error: send %s first",
		    s->cl->lmtp ? "LHLO" : "HELO/EHLO");
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
	ic.protocol = s->cl->enqueue ? "pipe" : s->cl->lmtp ? "LMTP" :
	    s->esmtp ? "ESMTP" : "SMTP";
	ic.helo = s->cl->enqueue ? NULL : s->helo;
	ic.name = s->cl->name;
	ic.addr = s->cl->addr;
	strlcpy_(s->sender, buf, sizeof(s->sender));
	s->lastrcpt[0] = '\0';
	if (intake_mail(s->in, &ic, a.null ? "" : buf, size, body8, &r) ==
	    RS_OK) {
		s->mail = 1;
		intake_dsn_mail(s->in, &s->dsnm);
	}
	reply_intake(s, &r);
	if (!s->mail)
		s->sender[0] = '\0';
}

static void
cmd_rcpt(struct smtpd *s, char *arg)
{
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

static void
cmd_rset(struct smtpd *s, char *arg)
{
	if (*arg != '\0') {
		reply(s, 501, "5.5.4", "Syntax: RSET");
		return;
	}
	intake_reset(s->in);
	s->mail = 0;
	s->sender[0] = s->lastrcpt[0] = '\0';
	reply(s, 250, "2.0.0", "Ok");
}

static void
cmd_noop(struct smtpd *s, char *arg)
{
	(void)arg;
	reply(s, 250, "2.0.0", "Ok");
}

static void
cmd_quit(struct smtpd *s, char *arg)
{
	if (*arg != '\0') {
		reply(s, 501, "5.5.4", "Syntax: QUIT");
		return;
	}
	reply(s, 221, "2.0.0", "Bye");
	s->done = 1;
}

static void
cmd_vrfy(struct smtpd *s, char *arg)
{
	if (*arg == '\0') {
		reply(s, 501, "5.5.4", "Syntax: VRFY address");
		return;
	}
	reply(s, 252, "2.5.0",
	    "Cannot VRFY user, but will accept message and attempt delivery");
}

static void
cmd_help(struct smtpd *s, char *arg)
{
	(void)arg;
	reply(s, 214, "2.0.0", "Commands: %s MAIL RCPT DATA RSET NOOP QUIT "
	    "VRFY HELP%s", s->cl->lmtp ? "LHLO" : "EHLO HELO",
	    s->cl->lmtp ? "" : " ETRN");
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
	int st, bol = 1, crlf_before = 1, cr_pending = 0, was_cr;

	for (;;) {
		if (s->ctx->stop != NULL && *s->ctx->stop)
			return SIO_STOP;
		st = sio_getline(s->io, DATA_MAX, &p, &len);
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

	intake_end(s->in, !s->cl->lmtp || s->cl->enqueue, &r);
	if (!s->cl->lmtp) {
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
		reply(s, s->cl->lmtp ? 503 : 554, "5.5.1",
		    "Error: no valid recipients");
	else if (intake_data(s->in, r) != RS_OK)
		reply_intake(s, r);
	else
		return 0;
	if (sio_pending(s->io)) {
		log_info("improper command pipelining after DATA from %s[%s]",
		    s->cl->name, s->cl->addr);
		reply(s, 554, "5.5.0", "Error: SMTP protocol synchronization");
		s->done = 1;
	}
	return -1;
}

static void
cmd_data(struct smtpd *s, char *arg)
{
	struct intake_reply r;
	int st;

	if (data_refuse(s, arg, &r) == -1)
		return;
	sio_reply(s->io, "354 %s", r.text);
	st = data_read(s);
	if (st == 1) {
		data_replies(s);
	} else {
		intake_reset(s->in);
		if (st == SIO_STOP)
			reply(s, 421, "4.3.2", "%s Service shutting down, "
			    "transaction aborted", s->conf->hostname);
		else if (st == SIO_TIMEOUT)
			reply(s, 421, "4.4.2", "%s Error: timeout exceeded",
			    s->conf->hostname);
		s->done = 1;
	}
	s->mail = 0;
	s->sender[0] = s->lastrcpt[0] = '\0';
}

/* ---- AUTH (RFC 4954): CRAM-MD5, for ETRN only ---- */

static void
cmd_auth(struct smtpd *s, char *arg)
{
	struct lookup_reply r;

	if (s->cl->lmtp) {
		reply(s, 500, "5.5.1", "Error: command not recognized");
		return;
	}
	if (!auth_offered(s)) {
		reply(s, 503, "5.5.1", "Error: authentication not enabled");
		return;
	}
	if (!s->helo_done || !s->esmtp) {
		reply(s, 503, "5.5.1", "Error: send EHLO first");
		return;
	}
	if (s->mail) {
		reply(s, 503, "5.5.1", "Error: AUTH inside a mail transaction");
		return;
	}
	if (lc_auth_exchange(s->lc, s->io, CMD_MAX, arg, &r) == -1) {
		s->done = 1;		/* lost: no reply */
		return;
	}
	reply(s, r.code, r.status, "%s", r.text);
	s->done = r.close;
}

/* ---- ETRN (RFC 1985): decided by the lookup process ---- */

/*
 * cmd_etrn - "ETRN domain", "ETRN @domain", "ETRN #customer": the
 * session's state is checked here, the node and the right to it in
 * the lookup process (lookup.h), which also asks for the flush.
 */
static void
cmd_etrn(struct smtpd *s, char *arg)
{
	struct lookup_reply r;

	if (s->cl->lmtp) {
		reply(s, 500, "5.5.1", "Error: command not recognized");
		return;
	}
	while (*arg == ' ')
		arg++;
	if (*arg == '\0') {
		reply(s, 500, "5.5.2", "Syntax: ETRN [@|#]node");
		return;
	}
	if (!s->helo_done) {
		reply(s, 503, "5.5.1", "Error: send HELO/EHLO first");
		return;
	}
	if (s->mail) {
		reply(s, 503, "5.5.1", "Error: ETRN inside a mail transaction");
		return;
	}
	(void)lc_etrn(s->lc, arg, &r);
	reply(s, r.code, r.status, "%s", r.text);
}

/* dispatch - run one complete command line (CRLF already removed). */
static void
dispatch(struct smtpd *s, char *line)
{
	const struct smtpd_cmd *c;
	size_t n = strcspn(line, " ");

	s->cmdname = NULL;
	for (c = smtpd_cmds; c->name != NULL; c++)
		if (n == 4 && strncasecmp(line, c->name, 4) == 0)
			break;
	if (c->name == NULL) {
		reply(s, 500, "5.5.1", "Error: command not recognized");
		return;
	}
	if (c->fn == cmd_mail || c->fn == cmd_rcpt || c->fn == cmd_data ||
	    c->fn == cmd_etrn)
		s->cmdname = c->name;
	c->fn(s, line + 4);
	s->cmdname = NULL;
}

/*
 * command - read one command line and run it, or refuse it for its
 * form.  Returns SIO_LINE to go on, else the sio status that ends the
 * session.
 */
static int
command(struct smtpd *s)
{
	const char *p;
	size_t len, text;
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
	if (len < 2 || p[len - 2] != '\r') {
		reply(s, 501, "5.5.2", "Error: bare LF/CR not allowed");
		return SIO_LINE;
	}
	text = len - 2;
	if (memchr(p, '\r', text) != NULL) {
		reply(s, 501, "5.5.2", "Error: bare LF/CR not allowed");
		return SIO_LINE;
	}
	if (memchr(p, '\0', text) != NULL) {
		reply(s, 501, "5.5.2", "Error: NUL not allowed");
		return SIO_LINE;
	}
	memcpy(s->cmd, p, text);
	s->cmd[text] = '\0';
	dispatch(s, s->cmd);
	return SIO_LINE;
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

/* close_fds - a session that did not start: its sockets all the same. */
static void
close_fds(const struct smtpd_ctx *ctx, int queue, int lookup)
{
	if (queue && ctx->queuefd > 0)
		close(ctx->queuefd);
	if (lookup && ctx->lookupfd > 0)
		close(ctx->lookupfd);
}

int
smtpd_session(const struct smtpd_ctx *ctx, int rfd, int wfd,
    const struct smtpd_client *cl)
{
	struct smtpd *s;
	const struct bridge_conf *c = ctx->conf;
	long timeout;
	int st = 0;

	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->io = malloc(sizeof(*s->io))) == NULL ||
	    (s->in = intake_new(c, ctx->usage)) == NULL) {
		log_warn("session for %s[%s]", cl->name, cl->addr);
		if (s != NULL)
			free(s->io);
		free(s);
		close_fds(ctx, 1, 1);
		return -1;
	}
	if (ctx->queuefd > 0 &&
	    intake_use_queue(s->in, ctx->queuefd, SMTPD_QUEUE_WAIT) == -1) {
		log_warn("session for %s[%s]", cl->name, cl->addr);
		intake_free(s->in);
		free(s->io);
		free(s);
		close_fds(ctx, 1, 1);
		return -1;
	}
	if ((s->lc = lclient_session(ctx, cl, cl->enqueue ? LOOKUP_PIPE :
	    cl->lmtp ? LOOKUP_LMTP : LOOKUP_SMTP)) == NULL) {
		log_warn("session for %s[%s]", cl->name, cl->addr);
		intake_free(s->in);	/* closes the queue's socket */
		free(s->io);
		free(s);
		close_fds(ctx, 0, 1);
		return -1;
	}
	timeout = cl->lmtp && c->lmtp.timeout > 0 ? c->lmtp.timeout :
	    c->smtp.timeout;
	s->ctx = ctx;
	s->conf = c;
	s->cl = cl;
	sio_init(s->io, rfd, wfd, timeout);
	s->io->stop = ctx->stop;
	s->io->waitmask = ctx->waitmask;
	intake_use_lookup(s->in, s->lc);
	log_debug("connect from %s[%s]", cl->name, cl->addr);
	sio_reply(s->io, "220 %s %s mailbridge", c->hostname,
	    cl->lmtp ? "LMTP" : "ESMTP");
	while (!s->done) {
		if (ctx->stop != NULL && *ctx->stop) {
			st = SIO_STOP;
			break;
		}
		if ((st = command(s)) != SIO_LINE)
			break;
		if (s->bad >= BAD_MAX) {
			reply(s, 421, "4.7.0", "%s Error: too many errors",
			    c->hostname);
			break;
		}
	}
	if (st == SIO_STOP)
		reply(s, 421, "4.3.2", "%s Service shutting down",
		    c->hostname);
	else if (st == SIO_TIMEOUT)
		reply(s, 421, "4.4.2", "%s Error: timeout exceeded",
		    c->hostname);
	sio_flush(s->io);
	log_debug("disconnect from %s[%s]", cl->name, cl->addr);
	intake_free(s->in);
	lclient_free(s->lc);
	free(s->io);
	free(s);
	return st < 0 && st != SIO_STOP && st != SIO_TIMEOUT ? -1 : 0;
}
