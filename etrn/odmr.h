/*
 * odmr.h - the provider side of On-Demand Mail Relay (RFC 2645) for
 * bridged's per-connection child: EHLO, AUTH CRAM-MD5 and ATRN (decided
 * by the lookup process, lookup.h), QUIT; on ATRN's 250 the connection
 * turns round and the flush engine (flush.h) delivers the customer's
 * queue over it.
 *
 * Invariants: no ATRN before a successful AUTH; an ATRN naming any
 * domain that is not the authenticated customer's sends nothing; the
 * secret is compared in constant time and never logged.
 */
#ifndef ODMR_H
#define ODMR_H

#include "smtpd.h"

/*
 * odmr_session - serve one ODMR client on fd until QUIT, a timeout
 * (the odmr timeout of the config), a stop or the end of the turned
 * round delivery.  0, or -1 when the session broke.
 */
int	odmr_session(const struct smtpd_ctx *ctx, int fd,
	    const struct smtpd_client *cl);

#endif
