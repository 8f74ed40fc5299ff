/*
 * leafdsn.h - the DSNs bridge-unbatch sends: when the leaf's local MTA
 * refuses a copy for good, and, for a recipient that asked for
 * NOTIFY=SUCCESS, when the MTA took the copy without taking its DSN
 * parameters (RFC 3461 6.2.2.2: "relayed", or "delivered" for an LMTP
 * server).  Composed by spoolfmt/dsn.c (the hub's DSNs come from the
 * same code) with the copy's envelope (bundle(5): ENVID, ORCPT, RET,
 * arrival, queue id), addressed to the message's sender, never to <>
 * and never about Auto-Submitted mail or a delivery report.
 */
#ifndef LEAFDSN_H
#define LEAFDSN_H

#include <time.h>

#include "bundle.h"
#include "dsn.h"
#include "dsnenv.h"
#include "inject.h"

/* leafdsn_wanted - may a DSN about m be sent?  0 with a reason if not. */
int	leafdsn_wanted(const struct bundle_msg *m, const char **why);
/*
 * leafdsn_rcpt_wants - is recipient r owed a DSN of kind action
 * (DSN_FAILED: refused for good and its NOTIFY asks for failures;
 * DSN_RELAYED, DSN_DELIVERED: taken without its DSN parameters and its
 * NOTIFY asks for success)?
 */
int	leafdsn_rcpt_wants(const struct inject_rcpt *r, enum dsn_action action);
/*
 * leafdsn_build - the DSN of kind action about the recipients
 * r[0..n-1] that leafdsn_rcpt_wants picks, of m (envelope e, or NULL;
 * arrival when e has none) into out (mem, size; fd -1) for
 * inject_message; free it with bundle_msg_free.  Returns how many
 * recipients it names (0: none, out is empty), -1 when out of memory.
 */
int	leafdsn_build(struct bundle_msg *out, const char *hostname,
	    const struct bundle_msg *m, const struct dsnenv *e,
	    const struct inject_rcpt *r, int n, time_t arrival,
	    enum dsn_action action);

#endif
