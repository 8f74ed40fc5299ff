/*
 * ctlrole.c - the control socket's roles (ctlrole.h): the peers list
 * of bridge.conf matched against the credentials the kernel gave for a
 * connection, never against anything the peer says.
 *
 * Invariants: no entry and no credentials give nothing (CTL_NONE); a
 * role only ever adds; an unknown verb is nobody's.
 */
#include <sys/types.h>

#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"
#include "ctlrole.h"

#define CTL_GROUPS	256	/* groups of one user looked at */

int
ctl_peer_parse(const char *spec, char *who, size_t wlen, enum ctl_role *role,
    char *cust, size_t clen)
{
	const char *colon, *r, *name;
	enum ctl_role rl;
	size_t n;

	if ((colon = strchr(spec, ':')) == NULL || colon == spec)
		return -1;
	n = (size_t)(colon - spec);
	name = spec[0] == '%' ? spec + 1 : spec;
	if (name == colon || n >= 64)
		return -1;
	r = colon + 1;
	if (strcmp(r, "operator") == 0)
		rl = CTL_OPERATOR;
	else if (strcmp(r, "viewer") == 0)
		rl = CTL_VIEWER;
	else if (strncmp(r, "customer:", 9) == 0 && name_is_safe(r + 9) &&
	    strlen(r + 9) < 64)
		rl = CTL_CUSTOMER;
	else
		return -1;
	if (who != NULL) {
		if (n >= wlen)
			return -1;
		memcpy(who, spec, n);
		who[n] = '\0';
	}
	if (role != NULL)
		*role = rl;
	if (cust != NULL)
		strlcpy_(cust, rl == CTL_CUSTOMER ? r + 9 : "", clen);
	return 0;
}

/* in_group - is name (a group) among the gid's of groups[0..n-1]? */
static int
in_group(const char *name, const gid_t *groups, int n)
{
	struct group *gr;
	int i;

	if ((gr = getgrnam(name)) == NULL)
		return 0;
	for (i = 0; i < n; i++)
		if (groups[i] == gr->gr_gid)
			return 1;
	return 0;
}

static void
add(struct ctl_grant *g, enum ctl_role r, const char *cust)
{
	int i;

	if (r == CTL_CUSTOMER) {
		for (i = 0; i < g->ncust; i++)
			if (strcmp(g->cust[i], cust) == 0)
				return;
		if (g->ncust < CTL_CUST_MAX)
			strlcpy_(g->cust[g->ncust++], cust,
			    sizeof(g->cust[0]));
	}
	if (r > g->role)
		g->role = r;
}

void
ctl_grant(const struct bridge_conf *c, uid_t uid, gid_t gid, uid_t hub_uid,
    struct ctl_grant *g)
{
	gid_t groups[CTL_GROUPS];
	char user[256], who[64], cust[64];
	struct passwd *pw;
	enum ctl_role r;
	int i, ng = 1;

	memset(g, 0, sizeof(*g));
	if (uid == 0 || uid == hub_uid) {
		g->role = CTL_OPERATOR;
		return;
	}
	groups[0] = gid;
	user[0] = '\0';
	if ((pw = getpwuid(uid)) != NULL) {
		/* a copy: getgrouplist and getgrnam may reuse its buffer */
		strlcpy_(user, pw->pw_name, sizeof(user));
		ng = CTL_GROUPS;
		if (getgrouplist(user, gid, groups, &ng) == -1)
			ng = CTL_GROUPS;	/* the first ones */
	}
	for (i = 0; i < c->control.npeers; i++) {
		if (ctl_peer_parse(c->control.peers[i], who, sizeof(who), &r,
		    cust, sizeof(cust)) == -1)
			continue;
		if (who[0] == '%' ? in_group(who + 1, groups, ng) :
		    user[0] != '\0' && strcmp(who, user) == 0)
			add(g, r, cust);
	}
}

const char *
ctl_may(const struct ctl_grant *g, const char *verb, const char *customer)
{
	int i;

	if (g->role == CTL_NONE)
		return "no role on the control socket";
	if (strcmp(verb, "status") == 0)
		return g->role >= CTL_VIEWER ? NULL :
		    "status needs the viewer or operator role";
	if (strcmp(verb, "flush") != 0 && strcmp(verb, "bundle") != 0)
		return "unknown request";
	if (g->role == CTL_OPERATOR)
		return NULL;
	for (i = 0; customer != NULL && i < g->ncust; i++)
		if (strcmp(g->cust[i], customer) == 0)
			return NULL;
	return verb[0] == 'f' ? "flush needs the operator role or that "
	    "customer's" : "bundle needs the operator role or that customer's";
}

const char *
ctl_role_name(enum ctl_role r)
{
	switch (r) {
	case CTL_OPERATOR:
		return "operator";
	case CTL_VIEWER:
		return "viewer";
	case CTL_CUSTOMER:
		return "customer";
	default:
		return "none";
	}
}
