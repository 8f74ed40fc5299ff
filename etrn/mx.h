/*
 * mx.h - deliver-to = "mx": where a customer's mail goes by DNS
 * (RFC 5321 5.1).  The MX hosts of the customer's domain, most
 * preferred first; when this hub is one of them, only the hosts
 * preferred over it (so mail never loops back here); no MX records
 * means the domain itself.  NXDOMAIN and "this hub is the best MX"
 * are permanent; a resolver failure or timeout is temporary.
 */
#ifndef MX_H
#define MX_H

#include <stddef.h>

#include "conf.h"
#include "util.h"

#define MX_HOST_MAX	256

struct mx_rr {
	int	pref;
	char	host[MX_HOST_MAX];	/* no trailing dot */
};

/*
 * mx_select - sort rr by preference (equal preferences keep their DNS
 * order), then drop myhostname and every host not preferred over it.
 * Names compare without case and without a trailing dot.  Returns how
 * many are left at the front of rr: 0 when this hub is the best MX.
 */
int	mx_select(struct mx_rr *rr, int n, const char *myhostname);
/*
 * mx_targets - the MX hosts of domain as "host:25" strings (*out and
 * each string malloc'd; free with strv_free).  RS_TEMP (try later) or
 * RS_PERM with err saying why.
 */
enum result mx_targets(const char *domain, const char *myhostname,
	    char ***out, int *nout, char *err, size_t errlen);
/*
 * mx_domain - the customer's domain: its first plain route key (not
 * ".parent", not "."), in the routes table's order; NULL if none.
 */
const char *mx_domain(const struct bridge_conf *conf,
	    const struct customer *cu);

#endif
