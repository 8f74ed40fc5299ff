/*
 * leafdsn.h - the DSN bridge-unbatch sends when the leaf's local MTA
 * refuses a copy for good: composed by spoolfmt/dsn.c (the hub's DSNs
 * come from the same code), addressed to the message's sender, never
 * to <> and never about Auto-Submitted mail or a delivery report.
 */
#ifndef LEAFDSN_H
#define LEAFDSN_H

#include <time.h>

#include "bundle.h"
#include "inject.h"

/* leafdsn_wanted - may a DSN about m be sent?  0 with a reason if not. */
int	leafdsn_wanted(const struct bundle_msg *m, const char **why);
/*
 * leafdsn_build - the DSN about the refused recipients r[0..n-1] (those
 * with rs == RS_PERM) of m into out (mem, size; fd -1) for
 * inject_message; free it with bundle_msg_free.  -1: no memory.
 */
int	leafdsn_build(struct bundle_msg *out, const char *hostname,
	    const struct bundle_msg *m, const struct inject_rcpt *r, int n,
	    time_t arrival);

#endif
