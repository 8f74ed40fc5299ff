/*
 * ctlrole.h - who may do what on bridged's control socket (ctlrole.c):
 * a peer's role from the credentials the kernel reports (SO_PEERCRED,
 * getpeereid) and bridge.conf's control { peers }, and what each role
 * may ask.  Roles (DECISIONS.md): operator (everything), viewer (what
 * only reads), customer:NAME (its own customer's flush and bundle).
 */
#ifndef CTLROLE_H
#define CTLROLE_H

#include <sys/types.h>

#include <stddef.h>

#include "conf.h"

enum ctl_role {
	CTL_NONE = 0,
	CTL_CUSTOMER,
	CTL_VIEWER,
	CTL_OPERATOR
};

#define CTL_CUST_MAX	16	/* customer roles one peer may hold */

/* What one peer was granted: its best role, and its customers. */
struct ctl_grant {
	enum ctl_role role;
	int	ncust;
	char	cust[CTL_CUST_MAX][64];
};

/*
 * ctl_peer_parse - one control { peers } entry, "user:role" or
 * "%group:role", role "operator", "viewer" or "customer:NAME": who
 * (the name, with its '%'), the role and the customer into the buffers
 * (any of them NULL: not wanted).  0, or -1 when it does not parse.
 */
int	ctl_peer_parse(const char *spec, char *who, size_t wlen,
	    enum ctl_role *role, char *cust, size_t clen);
/*
 * ctl_grant - what the peer uid (primary group gid) may do: root and
 * hub_uid are operators; else every peers entry naming its user, its
 * primary group or one of its groups adds its role.
 */
void	ctl_grant(const struct bridge_conf *c, uid_t uid, gid_t gid,
	    uid_t hub_uid, struct ctl_grant *g);
/*
 * ctl_may - may g ask verb (of customer, NULL for none)?  "status" is
 * the viewer's; "flush" and "bundle" the operator's, or a customer
 * role's for its own customer.  NULL, or why not.
 */
const char *ctl_may(const struct ctl_grant *g, const char *verb,
	    const char *customer);
const char *ctl_role_name(enum ctl_role r);

#endif
