/*
 * odmrc.c - the ODMR customer's dialogue up to the turn (odmrc.h),
 * driven through the SMTP client engine smtpc.  The ATRN line is built
 * from domains leafconf.c has checked (no spaces, no commas inside one).
 *
 * Invariant: ATRN is sent only after a 235 to AUTH, and the socket is
 * handed on only when nothing the provider sent is left unread.
 */
#include <stdio.h>
#include <string.h>

#include "conf.h"
#include "etrnc.h"
#include "odmrc.h"
#include "tlsc.h"
#include "util.h"

#define ATRN_TIMEOUT	(10 * 60 * 1000)
#define ATRN_LINE_MAX	1000

void
odmrc_opts_default(struct odmrc_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->helo = "localhost";
	o->tls_policy = TLSP_MAY;
	smtpc_opts_default(&o->smtp);
}

/* atrn_line - "ATRN d1,d2"; -1 when it would not fit in a command. */
static int
atrn_line(const struct odmrc_opts *o, char *buf, size_t len)
{
	size_t n;
	int i;

	n = (size_t)snprintf(buf, len, "ATRN");
	for (i = 0; i < o->ndomains; i++) {
		n += (size_t)snprintf(buf + n, n < len ? len - n : 0, "%s%s",
		    i == 0 ? " " : ",", o->domains[i]);
		if (n >= len)
			return -1;
	}
	return 0;
}

/* atrn_exit - what ATRN's reply means (0 = turned, 1 = no mail). */
static int
atrn_exit(const struct smtpc_reply *r)
{
	switch (r->code) {
	case 250:
		return 0;
	case 453:
		return 1;
	case 530:
	case 535:
		return EXIT_NOPERM;
	default:
		return r->code >= 500 ? EXIT_UNAVAIL : EXIT_TEMPFAIL;
	}
}

/*
 * hello - connect, greeting, EHLO and STARTTLS as o's tls-policy says
 * (none when in_clear): 0 with *cp, else the exit code with msg;
 * *again when a "may" handshake failed (connect again in clear).
 */
static int
hello(const struct odmrc_opts *o, int in_clear, struct smtpc **cp,
    int *again, char *msg, size_t len)
{
	struct smtpc_reply r;
	struct smtpc *c;
	int rv;

	*again = 0;
	if ((rv = smtpc_connect(o->server, ODMR_PORT, &o->smtp, &c, &r)) !=
	    RS_OK) {
		snprintf(msg, len, "%s: %s", o->server, r.text);
		return rv == RS_PERM ? EXIT_CONFIG : EXIT_TEMPFAIL;
	}
	if (smtpc_greeting(c, &r) != RS_OK || smtpc_hello(c, o->helo, &r) !=
	    RS_OK) {
		snprintf(msg, len, "%s: %s", smtpc_relay(c), r.text);
		smtpc_close(c);
		return r.code >= 500 ? EXIT_UNAVAIL : EXIT_TEMPFAIL;
	}
	switch (tlsc_start(c, in_clear ? TLSP_NONE : o->tls_policy, o->tls_ca,
	    o->tls_name, o->helo, &r)) {
	case TLSC_TLS:
	case TLSC_CLEAR:
		*cp = c;
		return 0;
	case TLSC_ABSENT:
		snprintf(msg, len, "%s", r.text);
		return EXIT_UNAVAIL;
	case TLSC_AGAIN:
		*again = 1;
		/* FALLTHROUGH */
	default:
		snprintf(msg, len, "%s", r.text);
		return r.code >= 500 ? EXIT_UNAVAIL : EXIT_TEMPFAIL;
	}
}

int
odmrc_open(const struct odmrc_opts *o, int *fd, void **tls, char *msg,
    size_t len)
{
	struct smtpc_reply r;
	struct smtpc *c = NULL;
	char line[ATRN_LINE_MAX];
	int rv, again;

	*fd = -1;
	*tls = NULL;
	if (atrn_line(o, line, sizeof(line)) == -1) {
		snprintf(msg, len, "too many ATRN domains for one command");
		return EXIT_CONFIG;
	}
	if ((rv = hello(o, 0, &c, &again, msg, len)) != 0 && again)
		rv = hello(o, 1, &c, &again, msg, len);	/* may: in clear */
	if (rv != 0)
		return rv;
	if (!(smtpc_ext(c) & SMTPC_EXT_ATRN)) {
		snprintf(msg, len, "%s does not offer ATRN (is it an ODMR "
		    "server?)", smtpc_relay(c));
		smtpc_quit(c);
		return EXIT_UNAVAIL;
	}
	if ((rv = etrnc_auth(c, o->smtp.to.mail, o->user, o->secret,
	    &r)) != 0) {
		snprintf(msg, len, "%s: AUTH CRAM-MD5 as %s: %s",
		    smtpc_relay(c), o->user, r.text);
		smtpc_quit(c);
		return rv;
	}
	smtpc_cmd(c, o->smtp.to.dot > ATRN_TIMEOUT ? o->smtp.to.dot :
	    ATRN_TIMEOUT, &r, "%s", line);
	if ((rv = atrn_exit(&r)) != 0) {
		snprintf(msg, len, "%s: %s: %s", smtpc_relay(c), line, r.text);
		smtpc_quit(c);
		return rv == 1 ? 0 : rv;
	}
	snprintf(msg, len, "%s: %s%s%s", smtpc_relay(c), r.text,
	    smtpc_tls_info(c)[0] != '\0' ? "; under " : "",
	    smtpc_tls_info(c));
	if ((*fd = smtpc_release_tls(c, tls)) == -1) {
		snprintf(msg, len, "%s: the provider sent more than its reply "
		    "to ATRN before our greeting", o->server);
		return EXIT_TEMPFAIL;
	}
	return 0;
}
