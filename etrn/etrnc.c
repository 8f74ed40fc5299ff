/*
 * etrnc.c - the ETRN client engine (etrnc.h): one connection at a
 * time to one server, reconnecting once when a connection is lost
 * under an ETRN, and the CRAM-MD5 answer on an smtpc connection.
 * Nothing here prints: every line goes to the caller's say().
 */
#include <sys/types.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "conf.h"
#include "cram.h"
#include "etrnc.h"
#include "tlsc.h"
#include "util.h"

#define BACKOFF_FIRST	2

struct etrnc {
	const struct etrnc_opts *o;
	struct smtpc *c;
	int	fatal;		/* AUTH or TLS failed: stop with this now */
	int	in_clear;	/* tls-policy may, and its handshake failed */
};

void
etrnc_opts_default(struct etrnc_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->port = 25;
	o->helo = "localhost";
	o->backoff_max = 60;
	o->tls_policy = TLSP_MAY;
	smtpc_opts_default(&o->smtp);
}

int
etrnc_worse(int a, int b)
{
	if (a == EXIT_UNAVAIL || b == EXIT_UNAVAIL)
		return EXIT_UNAVAIL;
	if (a == EXIT_TEMPFAIL || b == EXIT_TEMPFAIL)
		return EXIT_TEMPFAIL;
	return a != 0 ? a : b;
}

static void __attribute__((format(printf, 3, 4)))
say(const struct etrnc *e, int kind, const char *fmt, ...)
{
	char line[SMTPC_TEXT_MAX + 600];
	va_list ap;

	if (e->o->say == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	e->o->say(e->o->arg, kind, line);
}

static int
stopping(const struct etrnc *e)
{
	return e->o->stop != NULL && *e->o->stop;
}

static int
code_exit(const struct smtpc_reply *r)
{
	if (r->code >= 500)
		return EXIT_UNAVAIL;
	if (r->code >= 200 && r->code < 400)
		return 0;
	return EXIT_TEMPFAIL;
}

int
etrnc_auth(struct smtpc *c, long timeout_ms, const char *user,
    const char *secret, struct smtpc_reply *r)
{
	char answer[CRAM_ANSWER_MAX];

	if (!(smtpc_ext(c) & SMTPC_EXT_AUTH_CRAM)) {
		memset(r, 0, sizeof(*r));
		snprintf(r->text, sizeof(r->text), "%s does not offer AUTH "
		    "CRAM-MD5", smtpc_host(c));
		return EXIT_UNAVAIL;
	}
	if (smtpc_cmd(c, timeout_ms, r, "AUTH CRAM-MD5") == RS_OK &&
	    r->code == 334) {
		if (cram_answer(user, secret, r->text + 4, answer,
		    sizeof(answer)) == 0)
			smtpc_cmd(c, timeout_ms, r, "%s", answer);
		else {
			smtpc_cmd(c, timeout_ms, r, "*");
			snprintf(r->text, sizeof(r->text), "the challenge is "
			    "not base64");
			r->code = 501;
		}
		OPENSSL_cleanse(answer, sizeof(answer));
	}
	if (r->code == 235)
		return 0;
	if (r->code == 535)
		return EXIT_NOPERM;
	if (r->code >= 500)
		return EXIT_UNAVAIL;
	return EXIT_TEMPFAIL;
}

/* authenticate - AUTH on e->c; 0, or an exit code (e->fatal when final). */
static int
authenticate(struct etrnc *e)
{
	struct smtpc_reply r;
	int rv;

	rv = etrnc_auth(e->c, e->o->smtp.to.mail, e->o->user, e->o->secret,
	    &r);
	if (rv == 0) {
		say(e, ETRNC_SAY_DEBUG, "<<< %s", r.text);
		return 0;
	}
	if (r.code == 0 && rv == EXIT_UNAVAIL)
		say(e, ETRNC_SAY_ERROR, "%s does not offer AUTH CRAM-MD5",
		    e->o->server);
	else
		say(e, ETRNC_SAY_REPLY, "%s: AUTH CRAM-MD5: %s", e->o->server,
		    r.text);
	if (rv != EXIT_TEMPFAIL)
		e->fatal = rv;
	return rv;
}

/* session - connect, greeting, EHLO/HELO, AUTH; an exit code (0 = ready). */
static int
session(struct etrnc *e)
{
	struct smtpc_reply r;
	int rv;

	if (e->c != NULL && smtpc_usable(e->c))
		return 0;
	smtpc_close(e->c);
	e->c = NULL;
	if (smtpc_connect(e->o->server, e->o->port, &e->o->smtp, &e->c,
	    &r) != RS_OK) {
		say(e, ETRNC_SAY_REPLY, "%s: %s", e->o->server, r.text);
		return EXIT_TEMPFAIL;
	}
	say(e, ETRNC_SAY_DEBUG, "connected to %s", smtpc_relay(e->c));
	if (smtpc_greeting(e->c, &r) != RS_OK ||
	    smtpc_hello(e->c, e->o->helo, &r) != RS_OK) {
		say(e, ETRNC_SAY_REPLY, "%s: %s", e->o->server, r.text);
		smtpc_close(e->c);
		e->c = NULL;
		return r.code >= 500 ? EXIT_UNAVAIL : EXIT_TEMPFAIL;
	}
	say(e, ETRNC_SAY_DEBUG, "<<< %s", r.text);
	switch (tlsc_start(e->c, e->in_clear ? TLSP_NONE : e->o->tls_policy,
	    e->o->tls_ca, e->o->tls_name, e->o->helo, &r)) {
	case TLSC_TLS:
		say(e, ETRNC_SAY_DEBUG, "TLS: %s", smtpc_tls_info(e->c));
		break;
	case TLSC_CLEAR:
		if (r.text[0] != '\0')
			say(e, ETRNC_SAY_ERROR, "%s; on in clear", r.text);
		break;
	case TLSC_AGAIN:
		say(e, ETRNC_SAY_ERROR, "%s; tls-policy is may: again in "
		    "clear", r.text);
		e->c = NULL;
		e->in_clear = 1;
		return session(e);
	case TLSC_ABSENT:
		say(e, ETRNC_SAY_ERROR, "%s", r.text);
		e->c = NULL;
		return e->fatal = EXIT_UNAVAIL;
	default:
		/* nothing secret has been sent; nor is it, on this server */
		say(e, ETRNC_SAY_ERROR, "%s", r.text);
		e->c = NULL;
		return e->fatal = EXIT_TEMPFAIL;
	}
	if (!(smtpc_ext(e->c) & SMTPC_EXT_ETRN))
		say(e, ETRNC_SAY_DEBUG, "%s does not offer ETRN; asking anyway",
		    e->o->server);
	if (e->o->user != NULL && (rv = authenticate(e)) != 0) {
		smtpc_quit(e->c);
		e->c = NULL;
		return rv;
	}
	return 0;
}

/* pending - n of "253 OK, n pending messages ...", or -1. */
static long long
pending(const struct smtpc_reply *r)
{
	const char *p;
	char *end;
	long long n;

	if (r->code == 251)
		return 0;
	if (r->code != 253 || (p = strstr(r->text, "OK, ")) == NULL)
		return -1;
	errno = 0;
	n = strtoll(p + 4, &end, 10);
	if (errno != 0 || end == p + 4 || n < 0 || strncmp(end, " pending", 8))
		return -1;
	return n;
}

/* ask - one ETRN; reconnects once when the connection was lost. */
static int
ask(struct etrnc *e, struct etrnc_target *t, struct smtpc_reply *r)
{
	int rv, tries;

	for (tries = 0; tries < 2; tries++) {
		if ((rv = session(e)) != 0) {
			r->code = 0;
			return rv;
		}
		say(e, ETRNC_SAY_DEBUG, ">>> ETRN %s", t->target);
		smtpc_cmd(e->c, e->o->smtp.to.mail, r, "ETRN %s", t->target);
		if (r->code != 0)
			break;
	}
	say(e, ETRNC_SAY_REPLY, "%s: ETRN %s: %s", e->o->server, t->target,
	    r->text);
	t->code = r->code;
	snprintf(t->text, sizeof(t->text), "%s", r->text);
	if ((t->pending = pending(r)) > 0 && t->first_pending < 0)
		t->first_pending = t->pending;
	return code_exit(r);
}

/* nap - sleep up to secs, waking when asked to stop. */
static void
nap(const struct etrnc *e, long secs)
{
	double until = time_mono() + (double)secs;

	while (!stopping(e) && time_mono() < until)
		usleep(100 * 1000);
}

int
etrnc_release(const struct etrnc_opts *o, struct etrnc_target *t, int n,
    int *fatal)
{
	struct etrnc e = { o, NULL, 0, 0 };
	struct smtpc_reply r;
	long backoff = BACKOFF_FIRST;
	int i, rv = 0, *code, *fin, left = 0, conn, last = 0;
	double until;

	*fatal = 0;
	if ((code = calloc((size_t)n, sizeof(*code))) == NULL ||
	    (fin = calloc((size_t)n, sizeof(*fin))) == NULL) {
		free(code);
		return EXIT_OSERR;
	}
	for (i = 0; i < n; i++) {
		t[i].code = 0;
		t[i].text[0] = '\0';
		t[i].first_pending = t[i].pending = -1;
	}
	memset(&r, 0, sizeof(r));
	until = time_mono() + (double)o->wait;
	for (;;) {
		left = 0;
		for (i = 0, conn = 1; i < n; i++) {
			if (fin[i])
				continue;
			if (conn && !stopping(&e)) {
				code[i] = last = ask(&e, &t[i], &r);
				conn = e.c != NULL;
				if (e.fatal)
					break;
			} else		/* no connection this round */
				code[i] = last;
			if (o->wait == 0 || (conn && (r.code == 251 ||
			    r.code == 459 || r.code >= 500 ||
			    (o->done_on_250 && r.code == 250))) ||
			    code[i] == EXIT_UNAVAIL)
				fin[i] = 1;
			else
				left++;
		}
		if (e.fatal || left == 0 || stopping(&e) ||
		    time_mono() + (double)backoff > until)
			break;
		say(&e, ETRNC_SAY_DEBUG, "waiting %lds", backoff);
		nap(&e, backoff);
		backoff = backoff * 2 > o->backoff_max ? o->backoff_max :
		    backoff * 2;
	}
	for (i = 0; i < n; i++)
		rv = etrnc_worse(rv, code[i]);
	if (left > 0)
		rv = etrnc_worse(rv, EXIT_TEMPFAIL);
	if (e.fatal)
		rv = *fatal = e.fatal;
	free(code);
	free(fin);
	smtpc_quit(e.c);
	return rv;
}
