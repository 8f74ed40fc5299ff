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
 * ETRN (RFC 1985) is answered at once: the session only checks the
 * node and the client's right to it, counts what is waiting, and asks
 * bridged's master (a datagram on ctx->reqfd) for the flush, which a
 * separate process delivers over new connections.  The right comes
 * from the client's address (etrn-from) or from AUTH CRAM-MD5 (cram.h,
 * SMTP only, offered when an ETRN customer has a secret): a session
 * authenticated as a customer may release that customer's mail from
 * anywhere.  AUTH grants nothing else: MAIL and RCPT do not look at it.
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

#include "cram.h"
#include "dsnparam.h"
#include "log.h"
#include "util.h"
#include "smtpd.h"

#define CMD_MAX		2048	/* command line, CRLF too: 512 + slack */
#define DATA_MAX	SIO_IBUF	/* longer data lines come in pieces */
#define BAD_MAX		10	/* bad commands in a row before 421 */
#define ETRN_CUST_MAX	16	/* customers one ETRN @domain may name */

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
	struct cram_server cram;	/* AUTH CRAM-MD5: failures, customer */
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

/* shown - a printable copy of what the client wrote, for replies. */
static const char *
shown(const char *p, size_t len, char *buf, size_t size)
{
	size_t i, o = 0;

	if (len > 0 && p[0] == '<')
		p++, len--;
	if (len > 0 && p[len - 1] == '>')
		len--;
	for (i = 0; i < len && o + 1 < size && o < 100; i++)
		buf[o++] = p[i] > ' ' && p[i] < 127 ? p[i] : '?';
	buf[o] = '\0';
	return buf;
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
		    shown(p, strcspn(p, " "), buf, sizeof(buf)),
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
	shown(p, st == ADDR_OK ? end : strcspn(p, " "), buf, sizeof(buf));
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
	struct cram_reply r;
	enum cram_outcome rv;

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
	rv = cram_serve(&s->cram, arg, &r);
	if (rv != CRAM_LOST)
		reply(s, r.code, r.status, "%s", r.text);
	s->done = rv == CRAM_LOST || rv == CRAM_CLOSE;
}

/* ---- ETRN (RFC 1985) ---- */

struct etrn_req {
	const struct customer *cu[ETRN_CUST_MAX];
	int	n;
};

int
etrn_domain(char *d)
{
	size_t len = strlen(d), label = 0, i;

	if (len > 0 && d[len - 1] == '.')
		d[--len] = '\0';
	if (len == 0 || len > 253)
		return -1;
	for (i = 0; i <= len; i++) {
		if (d[i] == '.' || d[i] == '\0') {
			if (label == 0 || label > 63 || d[i - 1] == '-')
				return -1;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)d[i]) && d[i] != '-')
			return -1;
		if (label == 0 && d[i] == '-')
			return -1;
		d[i] = (char)tolower((unsigned char)d[i]);
		label++;
	}
	return 0;
}

static void
etrn_add(const struct bridge_conf *c, struct etrn_req *rq, const char *name)
{
	const struct customer *cu = conf_customer(c, name);
	int i;

	if (cu == NULL || rq->n >= ETRN_CUST_MAX)
		return;
	for (i = 0; i < rq->n; i++)
		if (rq->cu[i] == cu)
			return;
	rq->cu[rq->n++] = cu;
}

struct etrn_scan {
	const struct bridge_conf *c;
	struct etrn_req *rq;
	const char *domain;
};

/* etrn_key - a routes key inside the @domain of the scan? */
static void
etrn_key(void *arg, const char *key, const char *value, const char *file,
    int line)
{
	struct etrn_scan *sc = arg;
	size_t kl = strlen(key), dl = strlen(sc->domain);

	(void)file;
	(void)line;

	if (strcmp(key, sc->domain) == 0 || (kl > dl &&
	    key[kl - dl - 1] == '.' && strcmp(key + kl - dl, sc->domain) == 0))
		etrn_add(sc->c, sc->rq, value);
}

/*
 * etrn_customers - the customers holding mail for domain (sub: its
 * subdomains too): where routes(5) sends it, and with sub every key
 * at or under it.
 */
static void
etrn_customers(const struct bridge_conf *c, const char *domain, int sub,
    struct etrn_req *rq)
{
	struct route_result res;
	struct etrn_scan sc;

	routes_lookup(c->routes, domain, &res);
	if (res.kind == ROUTE_CUSTOMER)
		etrn_add(c, rq, res.customer);
	if (sub) {
		sc.c = c;
		sc.rq = rq;
		sc.domain = domain;
		routes_foreach(c->routes, etrn_key, &sc);
	}
}

/* client_sa - the client's numeric address as a sockaddr; -1 if none. */
static int
client_sa(const char *addr, struct sockaddr_storage *ss)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		return 0;
	}
	return -1;
}

/* etrn_denied - why the client may not release cu, or NULL. */
static const char *
etrn_denied(struct smtpd *s, const struct customer *cu)
{
	struct sockaddr_storage ss;

	if (!(cu->release & REL_ETRN))
		return "ETRN is not how this node's mail is released";
	if (s->cram.auth == cu)
		return NULL;
	if (client_sa(s->cl->addr, &ss) == -1 ||
	    !conf_client_allowed(cu, (struct sockaddr *)&ss))
		return "client address not authorised";
	return NULL;
}

int
etrn_domain_owned(const struct bridge_conf *c, const struct customer *cu,
    const char *domain)
{
	struct route_result res;

	routes_lookup(c->routes, domain, &res);
	return res.kind == ROUTE_CUSTOMER && strcmp(res.customer, cu->name) ==
	    0 && strcmp(res.key, ".") != 0;
}

/*
 * etrn_send - ask the master to flush cu for this client, naming the
 * domain deliver-to = "mx" is to use when it is cu's; 0 or -1.
 */
static int
etrn_send(struct smtpd *s, const struct customer *cu, const char *domain)
{
	char buf[SMTPD_REQ_MAX];
	int n;

	if (s->ctx->reqfd <= 0)
		return -1;
	if (domain != NULL && !etrn_domain_owned(s->conf, cu, domain))
		domain = NULL;		/* the flush uses the first route key */
	n = snprintf(buf, sizeof(buf), "flush %s %s%s%s", cu->name,
	    s->cl->addr, domain != NULL ? " " : "", domain != NULL ? domain :
	    "");
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -1;
	return send(s->ctx->reqfd, buf, (size_t)n, MSG_DONTWAIT |
	    MSG_NOSIGNAL) == n ? 0 : -1;
}

/*
 * etrn_release - authorise, count, ask for the flushes, reply.  domain
 * is the domain the node names (NULL for #customer).
 */
static void
etrn_release(struct smtpd *s, const char *node, const char *domain,
    struct etrn_req *rq)
{
	struct qusage u;
	uint64_t total = 0, each[ETRN_CUST_MAX];
	const char *why;
	int i;

	if (rq->n == 0) {
		reply(s, 459, "4.7.1", "<%s>: node not allowed: no such node",
		    node);
		return;
	}
	for (i = 0; i < rq->n; i++)
		if ((why = etrn_denied(s, rq->cu[i])) != NULL) {
			reply(s, 459, "4.7.1", "<%s>: node not allowed: %s",
			    node, why);
			return;
		}
	for (i = 0; i < rq->n; i++) {
		each[i] = 0;
		if (spool_usage(s->conf->spool, rq->cu[i]->name, &u) == RS_OK)
			each[i] = u.count;
		total += each[i];
	}
	if (total == 0) {
		reply(s, 251, "2.0.0", "OK, no messages waiting for node %s",
		    node);
		return;
	}
	for (i = 0; i < rq->n; i++)
		if (each[i] > 0 && etrn_send(s, rq->cu[i], domain) == -1) {
			log_warn("etrn: %s from %s[%s]: cannot reach the "
			    "master", rq->cu[i]->name, s->cl->name,
			    s->cl->addr);
			reply(s, 458, "4.3.0", "Unable to queue messages for "
			    "node %s", node);
			return;
		}
	for (i = 0; i < rq->n; i++)
		if (each[i] > 0)
			log_info("etrn: %s from %s[%s]: node %s, %llu "
			    "pending%s", rq->cu[i]->name, s->cl->name,
			    s->cl->addr, node, (unsigned long long)each[i],
			    s->cram.auth == rq->cu[i] ? ", authenticated" : "");
	reply(s, 253, "2.0.0", "OK, %llu pending messages for node %s started",
	    (unsigned long long)total, node);
}

/*
 * cmd_etrn - "ETRN domain", "ETRN @domain" (and its subdomains),
 * "ETRN #customer".  Never a single label (a bare TLD such as @com).
 */
static void
cmd_etrn(struct smtpd *s, char *arg)
{
	struct etrn_req rq;
	char node[300], dom[300], *p;

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
	shown(arg, strlen(arg), node, sizeof(node));
	if (strlen(arg) >= sizeof(dom) - 1 || strchr(arg, ' ') != NULL) {
		reply(s, 501, "5.5.4", "<%s>: bad node name", node);
		return;
	}
	memset(&rq, 0, sizeof(rq));
	if (arg[0] == '#') {
		if (!name_is_safe(arg + 1)) {
			reply(s, 501, "5.5.4", "<%s>: bad queue name", node);
			return;
		}
		etrn_add(s->conf, &rq, arg + 1);
		etrn_release(s, node, NULL, &rq);
		return;
	}
	p = arg[0] == '@' ? arg + 1 : arg;
	strlcpy_(dom, p, sizeof(dom));
	if (etrn_domain(dom) == -1) {
		reply(s, 501, "5.5.4", "<%s>: bad domain name", node);
		return;
	}
	if (strchr(dom, '.') == NULL) {
		reply(s, 459, "4.7.1", "<%s>: node not allowed: a top-level "
		    "domain or a single label", node);
		return;
	}
	etrn_customers(s->conf, dom, arg[0] == '@', &rq);
	etrn_release(s, node, dom, &rq);
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
		return -1;
	}
	if (ctx->queuefd > 0 &&
	    intake_use_queue(s->in, ctx->queuefd, SMTPD_QUEUE_WAIT) == -1) {
		log_warn("session for %s[%s]", cl->name, cl->addr);
		intake_free(s->in);
		free(s->io);
		free(s);
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
	s->cram.conf = c;
	s->cram.io = s->io;
	s->cram.linemax = CMD_MAX;
	s->cram.release = REL_ETRN;
	s->cram.tag = "smtp";
	s->cram.cl = cl;
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
	free(s->io);
	free(s);
	return st < 0 && st != SIO_STOP && st != SIO_TIMEOUT ? -1 : 0;
}
