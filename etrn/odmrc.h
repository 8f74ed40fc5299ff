/*
 * odmrc.h - the customer side of On-Demand Mail Relay (RFC 2645) up to
 * the turn: connect to the provider (port 366 unless given), EHLO,
 * STARTTLS as the tls-policy says (tlsc.h), AUTH CRAM-MD5
 * (etrnc_auth), ATRN with the domains.  On ATRN's 250
 * the connection is handed back as a bare socket: the provider now
 * waits for our 220 and the session continues with the roles reversed
 * (srecv.h).
 *
 * Outcomes are sysexits codes with a one-line reason: 0 with the
 * socket, or 0 and no socket when the provider has no mail (453);
 * 75 when there is no connection, the provider is busy (451), refuses
 * a domain for now (450) or times out; 77 when it refuses the
 * credentials (535); 69 when it offers no ATRN or no AUTH CRAM-MD5, no
 * STARTTLS where the policy wants it, or answers 5xx; a failed or
 * unverified handshake is 75, before anything secret is sent.  ATRN waits at least 10 minutes (RFC 2645).
 */
#ifndef ODMRC_H
#define ODMRC_H

#include <signal.h>
#include <stddef.h>

#include "smtpc.h"

#define ODMR_PORT	366

struct odmrc_opts {
	const char *server;		/* host, host:port, [v6]:port */
	const char *helo;
	const char *user;		/* the customer name */
	const char *secret;		/* the line itself */
	const char *const *domains;	/* ATRN's list; none = all */
	int	ndomains;
	int	tls_policy;		/* TLSP_* (tlsc.h); default may */
	const char *tls_ca;		/* verify against; NULL: the system's */
	const char *tls_name;		/* the name to verify; NULL: server's */
	struct smtpc_opts smtp;
};

/* odmrc_opts_default - RFC timeouts, ATRN's reply 10 minutes, tls may. */
void	odmrc_opts_default(struct odmrc_opts *o);
/*
 * odmrc_open - see above; *fd is the turned socket or -1, *tls its
 * TLS state (an SSL *, for srecv_opts.tls) when STARTTLS was used.
 */
int	odmrc_open(const struct odmrc_opts *o, int *fd, void **tls,
	    char *msg, size_t len);

#endif
