/*
 * session.c - the session skeleton that bridged's SMTP, LMTP and ODMR
 * listeners share (session.h): one reader with one set of limits, one
 * dispatch through the protocol's table, one reply path, and the
 * commands common to all three.
 */
#include <sys/types.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "lclient.h"
#include "log.h"
#include "util.h"
#include "session.h"

/*
 * Verbs some protocol of the hub has, or that a client may try from
 * another one: 502 (not here), where any other verb is 500 (unknown).
 */
static const char *const known_verbs[] = {
	"EHLO", "HELO", "LHLO", "MAIL", "RCPT", "DATA", "BDAT", "RSET",
	"NOOP", "QUIT", "VRFY", "EXPN", "HELP", "ETRN", "ATRN", "AUTH",
	"TURN", "SEND", "SOML", "SAML", "STARTTLS", NULL
};

/* counts - whether a reply code is a syntax or sequence error. */
static int
counts(int code)
{
	return (code >= 500 && code <= 504) || code == 530 || code == 555;
}

void
sess_reply(struct sess *s, int code, const char *status, const char *fmt,
    ...)
{
	char text[600], env[2 * ADDR_PATH_MAX + 32];
	va_list ap;

	va_start(ap, fmt);
	sio_vcode(s->io, code, status, text, sizeof(text), fmt, ap);
	va_end(ap);
	if (code >= 400 && s->cur != NULL && (s->cur->flags & SC_LOG)) {
		env[0] = '\0';
		if ((s->cur->flags & SC_ENVELOPE) && s->proto->envelope)
			s->proto->envelope(s, env, sizeof(env));
		log_info("reject: %s from %s[%s]: %d %s %s%s", s->cur->name,
		    s->cl->name, s->cl->addr, code, status != NULL ? status :
		    "", text, env);
	}
	if (counts(code) || (s->cur != NULL && (s->cur->flags &
	    SC_REFUSALS) && (code == 450 || code == 459 || code >= 500)))
		s->bad++;
	else if (code < 400)
		s->bad = 0;
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

/* greet - the checks HELO, EHLO and LHLO share; stores the name. */
static int
greet(struct sess *s, char *arg, const char *verb)
{
	char *h;

	if ((h = arg_word(arg)) == NULL) {
		sess_reply(s, 501, "5.5.4", "Syntax: %s hostname", verb);
		return 0;
	}
	strlcpy_(s->helo, h, sizeof(s->helo));
	if (s->proto->reset != NULL)
		s->proto->reset(s);
	s->busy = 0;
	s->helo_done = 1;
	return 1;
}

/* ehlo_reply - the hostname line, then the protocol's keywords. */
static void
ehlo_reply(struct sess *s)
{
	char kw[SESS_EHLO_MAX][SESS_EHLO_LEN];
	int i, n = 0;

	if (s->proto->ehlo != NULL)
		n = s->proto->ehlo(s, kw, SESS_EHLO_MAX);
	sio_reply(s->io, "250%c%s", n > 0 ? '-' : ' ', s->conf->hostname);
	for (i = 0; i < n; i++)
		sio_reply(s->io, "250%c%s", i + 1 < n ? '-' : ' ', kw[i]);
	s->bad = 0;
}

void
sess_cmd_ehlo(struct sess *s, char *arg)
{
	if (!greet(s, arg, "EHLO"))
		return;
	s->esmtp = 1;
	ehlo_reply(s);
}

void
sess_cmd_lhlo(struct sess *s, char *arg)
{
	if (!greet(s, arg, "LHLO"))
		return;
	s->esmtp = 1;
	ehlo_reply(s);
}

void
sess_cmd_helo(struct sess *s, char *arg)
{
	if (!greet(s, arg, "HELO"))
		return;
	s->esmtp = 0;
	sio_reply(s->io, "250 %s", s->conf->hostname);
	s->bad = 0;
}

void
sess_cmd_wrong_hello(struct sess *s, char *arg)
{
	(void)arg;
	if (strcmp(s->proto->name, "LMTP") == 0)
		sess_reply(s, 500, "5.5.1", "Error: this is LMTP: use LHLO");
	else
		sess_reply(s, 500, "5.5.1", "Error: this is %s: use EHLO",
		    s->proto->name);
}

void
sess_cmd_rset(struct sess *s, char *arg)
{
	if (*arg != '\0') {
		sess_reply(s, 501, "5.5.4", "Syntax: RSET");
		return;
	}
	if (s->proto->reset != NULL)
		s->proto->reset(s);
	s->busy = 0;
	sess_reply(s, 250, "2.0.0", "Ok");
}

void
sess_cmd_noop(struct sess *s, char *arg)
{
	(void)arg;
	sess_reply(s, 250, "2.0.0", "Ok");
}

void
sess_cmd_quit(struct sess *s, char *arg)
{
	if (*arg != '\0') {
		sess_reply(s, 501, "5.5.4", "Syntax: QUIT");
		return;
	}
	sess_reply(s, 221, "2.0.0", "Bye");
	s->done = 1;
}

void
sess_cmd_vrfy(struct sess *s, char *arg)
{
	if (*arg == '\0') {
		sess_reply(s, 501, "5.5.4", "Syntax: VRFY address");
		return;
	}
	sess_reply(s, 252, "2.5.0",
	    "Cannot VRFY user, but will accept message and attempt delivery");
}

/* sess_cmd_help - the protocol's commands, from its table. */
void
sess_cmd_help(struct sess *s, char *arg)
{
	const struct sess_cmd *c;
	char list[200];
	size_t n = 0;

	(void)arg;
	list[0] = '\0';
	for (c = s->proto->cmds; c->name != NULL; c++) {
		if (c->fn == sess_cmd_wrong_hello ||
		    (c->fn == sess_cmd_auth && !s->auth) ||
		    (c->fn == sess_cmd_starttls &&
		    !sess_starttls_offered(s)) ||
		    n + strlen(c->name) + 2 > sizeof(list))
			continue;
		n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s",
		    n > 0 ? " " : "", c->name);
	}
	sess_reply(s, 214, "2.0.0", "Commands: %s", list);
}

/* ---- AUTH (RFC 4954): the exchange is the lookup process's ---- */

/* pause_for - wait secs seconds, or until a stop. */
static void
pause_for(struct sess *s, int secs)
{
	struct timespec ts = { 0, 100 * 1000 * 1000 };
	double end = time_mono() + secs;

	while (secs > 0 && time_mono() < end &&
	    (s->ctx->stop == NULL || !*s->ctx->stop))
		(void)nanosleep(&ts, NULL);
}

void
sess_cmd_auth(struct sess *s, char *arg)
{
	struct lookup_reply r;

	if (!s->auth) {
		sess_reply(s, 503, "5.5.1", "Error: authentication not enabled");
		return;
	}
	if (!s->helo_done || !s->esmtp) {
		sess_reply(s, 503, "5.5.1", "Error: send %s first",
		    strcmp(s->proto->name, "LMTP") == 0 ? "LHLO" : "EHLO");
		return;
	}
	if (s->busy) {
		sess_reply(s, 503, "5.5.1",
		    "Error: AUTH inside a mail transaction");
		return;
	}
	sess_deadline(s, s->io->timeout > 0 ? time_mono() +
	    (double)s->io->timeout : 0);	/* for the answer to 334 */
	if (lc_auth_exchange(s->lc, s->io, SESS_CMD_MAX, arg, &r) == -1) {
		s->done = 1;		/* lost: no reply */
		return;
	}
	pause_for(s, r.delay);		/* a failure waits, longer each time */
	sess_reply(s, r.code, r.status, "%s", r.text);
	if (r.code == 235)
		s->authed = 1;
	s->done = r.close;
}

const char *
sess_auth_mechs(const struct sess *s)
{
	return s->io->tls != NULL ? "AUTH CRAM-MD5 PLAIN LOGIN" :
	    "AUTH CRAM-MD5";
}

/* ---- STARTTLS (RFC 3207) ---- */

int
sess_starttls_offered(const struct sess *s)
{
	return s->ctx->tls != NULL && s->io->tls == NULL;
}

void
sess_cmd_starttls(struct sess *s, char *arg)
{
	char err[300];

	if (s->ctx->tls == NULL) {
		sess_reply(s, 502, "5.5.1", "Error: command not implemented");
		return;
	}
	if (*arg != '\0') {
		sess_reply(s, 501, "5.5.4", "Syntax: STARTTLS");
		return;
	}
	if (s->io->tls != NULL) {
		sess_reply(s, 503, "5.5.1", "Error: TLS already active");
		return;
	}
	if (!s->helo_done || !s->esmtp) {
		sess_reply(s, 503, "5.5.1", "Error: send EHLO first");
		return;
	}
	if (s->busy) {
		sess_reply(s, 503, "5.5.1",
		    "Error: STARTTLS inside a mail transaction");
		return;
	}
	if (s->authed) {
		sess_reply(s, 503, "5.5.1", "Error: STARTTLS after AUTH");
		return;
	}
	if (sio_pending(s->io)) {
		/* CVE-2011-0411: what came with it must not run under TLS */
		log_warnx("%s: improper command pipelining after STARTTLS "
		    "from %s[%s]", s->proto->name, s->cl->name, s->cl->addr);
		sess_reply(s, 554, "5.5.0", "Error: SMTP protocol "
		    "synchronization: nothing may follow STARTTLS");
		s->done = 1;
		return;
	}
	sess_reply(s, 220, "2.0.0", "Ready to start TLS");
	if (sio_starttls(s->io, s->ctx->tls, err, sizeof(err)) == -1) {
		log_warnx("%s: TLS from %s[%s] failed: %s", s->proto->name,
		    s->cl->name, s->cl->addr, err);
		s->done = 1;
		return;
	}
	sio_tls_info(s->io, s->tls_info, sizeof(s->tls_info));
	log_info("%s: TLS from %s[%s]: %s", s->proto->name, s->cl->name,
	    s->cl->addr, s->tls_info);
	(void)lc_tls(s->lc);	/* PLAIN and LOGIN from now on */
	/* RFC 3207 4.2: the session starts again */
	if (s->proto->reset != NULL)
		s->proto->reset(s);
	s->busy = 0;
	s->helo_done = 0;
	s->esmtp = 0;
	s->helo[0] = '\0';
	if (s->auth_tls)
		s->auth = 1;
}

/* ---- the reader and the loop ---- */

/* dispatch - run one complete command line (CRLF already removed). */
static void
dispatch(struct sess *s, char *line)
{
	const struct sess_cmd *c;
	const char *const *v;
	size_t n = strcspn(line, " ");

	s->cur = NULL;
	for (c = s->proto->cmds; c->name != NULL; c++)
		if (n == strlen(c->name) && strncasecmp(line, c->name, n) == 0)
			break;
	if (c->name == NULL) {
		for (v = known_verbs; *v != NULL; v++)
			if (n == strlen(*v) && strncasecmp(line, *v, n) == 0)
				break;
		if (*v != NULL)
			sess_reply(s, 502, "5.5.1",
			    "Error: command not implemented");
		else
			sess_reply(s, 500, "5.5.1",
			    "Error: command not recognized");
		return;
	}
	s->cur = c;
	c->fn(s, line + n);
	s->cur = NULL;
}

void
sess_deadline(struct sess *s, double at)
{
	if (s->end > 0 && (at <= 0 || s->end < at))
		at = s->end;
	sio_deadline(s->io, at);
}

/*
 * command - read one command line and run it, or refuse it for its
 * form.  Returns SIO_LINE to go on, else the sio status that ends the
 * session.
 */
static int
command(struct sess *s)
{
	const char *p;
	size_t len, text;
	int st, too_long = 0;

	/* the whole line within the timeout, not a byte per timeout */
	sess_deadline(s, s->io->timeout > 0 ? time_mono() +
	    (double)s->io->timeout : 0);
	while ((st = sio_getline(s->io, SESS_CMD_MAX, &p, &len)) == SIO_PART)
		too_long = 1;
	if (st == SIO_LAST)
		return SIO_EOF;
	if (st != SIO_LINE)
		return st;
	if (too_long) {
		sess_reply(s, 500, "5.5.2", "Error: line too long");
		return SIO_LINE;
	}
	if (len < 2 || p[len - 2] != '\r' ||
	    memchr(p, '\r', len - 2) != NULL) {
		sess_reply(s, 501, "5.5.2", "Error: bare LF/CR not allowed");
		return SIO_LINE;
	}
	text = len - 2;
	if (memchr(p, '\0', text) != NULL) {
		sess_reply(s, 501, "5.5.2", "Error: NUL not allowed");
		return SIO_LINE;
	}
	memcpy(s->cmd, p, text);
	s->cmd[text] = '\0';
	dispatch(s, s->cmd);
	return SIO_LINE;
}

int
sess_open(struct sess *s, const struct smtpd_ctx *ctx,
    const struct smtpd_client *cl, const struct sess_proto *proto,
    int rfd, int wfd, long timeout)
{
	void *data = s->data;

	memset(s, 0, sizeof(*s));
	s->data = data;
	s->ctx = ctx;
	s->conf = ctx->conf;
	s->cl = cl;
	s->proto = proto;
	s->fd = rfd;
	if ((s->io = malloc(sizeof(*s->io))) == NULL) {
		log_warn("%s session for %s[%s]", proto->name, cl->name,
		    cl->addr);
		if (ctx->lookupfd > 0)
			close(ctx->lookupfd);
		return -1;
	}
	if ((s->lc = lclient_session(ctx, cl, proto->lookup_kind)) == NULL) {
		log_warn("%s session for %s[%s]", proto->name, cl->name,
		    cl->addr);
		free(s->io);
		s->io = NULL;
		if (ctx->lookupfd > 0)
			close(ctx->lookupfd);
		return -1;
	}
	sio_init(s->io, rfd, wfd, timeout);
	s->io->stop = ctx->stop;
	s->io->waitmask = ctx->waitmask;
	if ((proto->lookup_kind == LOOKUP_SMTP ||
	    proto->lookup_kind == LOOKUP_ODMR) &&
	    ctx->conf->smtp.max_session_time > 0)
		s->end = time_mono() + (double)ctx->conf->smtp.max_session_time;
	return 0;
}

int
sess_run(struct sess *s)
{
	const struct bridge_conf *c = s->conf;
	int st = 0;

	log_debug("%s: connect from %s[%s]", s->proto->name, s->cl->name,
	    s->cl->addr);
	sio_reply(s->io, "220 %s %s", c->hostname, s->proto->banner);
	while (!s->done) {
		if (s->ctx->stop != NULL && *s->ctx->stop) {
			st = SIO_STOP;
			break;
		}
		if ((st = command(s)) != SIO_LINE)
			break;
		if (s->bad >= SESS_BAD_MAX) {
			sess_reply(s, 421, "4.7.0", "%s Error: too many errors",
			    c->hostname);
			break;
		}
	}
	if (st == SIO_STOP)
		sess_reply(s, 421, "4.3.2", "%s Service shutting down",
		    c->hostname);
	else if (st == SIO_TIMEOUT)
		sess_reply(s, 421, "4.4.2", "%s Error: timeout exceeded",
		    c->hostname);
	if (s->io->olen > 0)
		sio_flush(s->io);
	log_debug("%s: disconnect from %s[%s]", s->proto->name, s->cl->name,
	    s->cl->addr);
	sio_tls_end(s->io);
	lclient_free(s->lc);
	free(s->io);
	s->lc = NULL;
	s->io = NULL;
	return st < 0 && st != SIO_STOP && st != SIO_TIMEOUT ? -1 : 0;
}
