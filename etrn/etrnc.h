/*
 * etrnc.h - the client side of ETRN (RFC 1985) for etrn(1) and
 * bridge-linkup(8): connect, EHLO (HELO when refused), STARTTLS as the
 * tls-policy says (tlsc.h), optionally AUTH
 * CRAM-MD5, one ETRN per target, and with a wait, ask again, backing
 * off, until every target says 251 (nothing waiting) or the time is
 * up.  Also the AUTH CRAM-MD5 exchange on an smtpc connection, shared
 * with the ODMR client (odmrc.h).
 *
 * Outcomes are sysexits codes: 0 when every reply was 250-253 (with a
 * wait: every target reached 251), 75 on any 4xx, no connection or
 * mail still pending at the end, 69 on any 5xx; the worst wins.  An
 * authentication that cannot be made stops everything at once and is
 * returned as fatal: 69 when the server offers no AUTH CRAM-MD5, 77
 * when it refuses (535); so does a tls-policy the server cannot meet:
 * 69 when it offers no STARTTLS, 75 when the handshake or the
 * certificate fails (nothing secret has been sent then).
 *
 * Invariant: no ETRN is sent on a connection where a user was given
 * and AUTH did not succeed.
 */
#ifndef ETRNC_H
#define ETRNC_H

#include <signal.h>

#include "smtpc.h"

/* What etrnc_release has to say: a reply line, an error or chatter. */
#define ETRNC_SAY_REPLY	0	/* "server: ETRN target: 253 ..." */
#define ETRNC_SAY_ERROR	1	/* "server does not offer AUTH CRAM-MD5" */
#define ETRNC_SAY_DEBUG	2	/* ">>> ETRN x", "waiting 4s" */

struct etrnc_opts {
	const char *server;	/* host, host:port, [v6]:port */
	int	port;		/* when server names none */
	const char *helo;
	const char *user;	/* AUTH CRAM-MD5 as user, or NULL */
	const char *secret;	/* its secret (the line itself) */
	int	tls_policy;	/* TLSP_* (tlsc.h); default may */
	const char *tls_ca;	/* verify against; NULL: the system's CAs */
	const char *tls_name;	/* the name to verify; NULL: server's */
	long	wait;		/* seconds to keep asking; 0 = once */
	long	backoff_max;	/* seconds between rounds at most */
	int	done_on_250;	/* a plain 250 (no count to follow) ends
				   the wait for that target, as 251 does */
	struct smtpc_opts smtp;
	/* each line worth telling; NULL: silence */
	void	(*say)(void *arg, int kind, const char *line);
	void   *arg;
	/* nonzero: stop asking at the next chance (a signal handler's) */
	volatile sig_atomic_t *stop;
};

/* One target and what the server said about it last. */
struct etrnc_target {
	const char *target;	/* "domain", "@domain", "#queue" */
	int	code;		/* last reply code, 0 = none */
	char	text[SMTPC_TEXT_MAX];
	long long first_pending;	/* n of the first "253 OK, n pending" */
	long long pending;	/* n of the last 253, 0 after 251, -1 */
};

/*
 * etrnc_opts_default - port 25, backoff up to 60 s, no AUTH, no wait,
 * tls-policy may.
 */
void	etrnc_opts_default(struct etrnc_opts *o);
/*
 * etrnc_release - every target of one server; the exit code.  *fatal
 * is set (to 69 or 77) when authentication cannot be made.
 */
int	etrnc_release(const struct etrnc_opts *o, struct etrnc_target *t,
	    int n, int *fatal);
/*
 * etrnc_auth - AUTH CRAM-MD5 as user on the open connection c.  0 on
 * 235; else an exit code: 69 when c offers no CRAM-MD5 or gives 5xx,
 * 77 on 535, 75 on anything else (r says what the server said, or
 * why there was no exchange).
 */
int	etrnc_auth(struct smtpc *c, long timeout_ms, const char *user,
	    const char *secret, struct smtpc_reply *r);
/* etrnc_worse - combine exit codes: 69 beats 75 beats 0. */
int	etrnc_worse(int a, int b);

#endif
