/*
 * dsn.h - delivery status notifications (RFC 3464) for recipients the
 * leaf's local MTA refused permanently while bridge-unbatch injected a
 * bundle.  Sent with MAIL FROM:<> to the message's sender, never to
 * <> and never about Auto-Submitted mail.
 */
#ifndef DSN_H
#define DSN_H

#include <time.h>

#include "bundle.h"
#include "inject.h"

/* dsn_wanted - may a DSN about m be sent?  0 with a reason if not. */
int	dsn_wanted(const struct bundle_msg *m, const char **why);
/*
 * dsn_build - the DSN about the failed recipients r[0..n-1] (those with
 * rs == RS_PERM) of m: multipart/report with a text part, the
 * message/delivery-status and the original headers as
 * text/rfc822-headers.  CRLF line ends.  Fills out (mem, size, fd -1)
 * for inject_message; free it with bundle_msg_free.  -1: no memory.
 */
int	dsn_build(struct bundle_msg *out, const char *hostname,
	    const struct bundle_msg *m, const struct inject_rcpt *r, int n,
	    time_t arrival);

#endif
