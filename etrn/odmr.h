/*
 * odmr.h - the provider side of On-Demand Mail Relay (RFC 2645) for
 * bridged's per-connection child: EHLO, AUTH CRAM-MD5 and ATRN (decided
 * by the lookup process, lookup.h), QUIT; an allowed ATRN's connection
 * goes to a delivery worker, where on the 250 it turns round and the
 * flush engine (flush.h) delivers the customer's queue over it.
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
/*
 * odmr_turn - in a delivery worker of the master, after the lookup
 * process allowed an ATRN of cu from the client on fd (name, addr for
 * the log): take cu's queue lock (451 when a delivery runs), 453 when
 * nothing waits, else 250, turn the connection round and deliver the
 * queue over it.  The caller closes fd.
 */
void	odmr_turn(const struct bridge_conf *conf, const struct customer *cu,
	    int fd, const char *name, const char *addr);

#endif
