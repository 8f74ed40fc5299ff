/*
 * mx.c - MX lookup for deliver-to = "mx" (see mx.h).
 *
 * res_query(3) asks for the MX records; the answer is parsed with
 * ns_initparse/ns_parserr and the names expanded with dn_expand.  The
 * choice among them (mx_select) is a pure function over the parsed
 * (preference, host) pairs, so it is tested without DNS.  Records that
 * are not MX (a CNAME on the way) are skipped; at most MX_RR_MAX are
 * used.
 */
#include <sys/types.h>
#include <netinet/in.h>
#include <arpa/nameser.h>

#include <netdb.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mx.h"

#define MX_RR_MAX	32

/* same_host - equal without case and without a trailing dot. */
static int
same_host(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la > 0 && a[la - 1] == '.')
		la--;
	if (lb > 0 && b[lb - 1] == '.')
		lb--;
	return la == lb && strncasecmp(a, b, la) == 0;
}

int
mx_select(struct mx_rr *rr, int n, const char *myhostname)
{
	struct mx_rr tmp;
	int i, j, self = -1;

	for (i = 1; i < n; i++) {	/* insertion sort: stable */
		tmp = rr[i];
		for (j = i; j > 0 && rr[j - 1].pref > tmp.pref; j--)
			rr[j] = rr[j - 1];
		rr[j] = tmp;
	}
	for (i = 0; i < n && self == -1; i++)
		if (myhostname != NULL && same_host(rr[i].host, myhostname))
			self = rr[i].pref;
	if (self == -1)
		return n;
	for (i = 0; i < n && rr[i].pref < self; i++)
		;
	return i;
}

/* mx_parse - the MX records of an answer; -1 if it is malformed. */
static int
mx_parse(const unsigned char *ans, int len, struct mx_rr *rr, int max)
{
	ns_msg msg;
	ns_rr r;
	int i, n = 0, count;

	if (ns_initparse(ans, len, &msg) == -1)
		return -1;
	count = ns_msg_count(msg, ns_s_an);
	for (i = 0; i < count && n < max; i++) {
		if (ns_parserr(&msg, ns_s_an, i, &r) == -1)
			return -1;
		if (ns_rr_type(r) != ns_t_mx || ns_rr_class(r) != ns_c_in)
			continue;
		if (ns_rr_rdlen(r) < 3)
			return -1;
		rr[n].pref = ns_get16(ns_rr_rdata(r));
		if (dn_expand(ns_msg_base(msg), ns_msg_end(msg),
		    ns_rr_rdata(r) + 2, rr[n].host, sizeof(rr[n].host)) == -1)
			return -1;
		if (rr[n].host[0] != '\0')	/* "." is the null MX */
			n++;
	}
	return n;
}

/* hosts_out - "host:25" for each of the n first rr. */
static int
hosts_out(const struct mx_rr *rr, int n, char ***out, int *nout)
{
	char **v;
	int i;

	if ((v = calloc((size_t)n, sizeof(*v))) == NULL)
		return -1;
	for (i = 0; i < n; i++)
		if (asprintf(&v[i], "%s:25", rr[i].host) == -1) {
			strv_free(v, (size_t)i);
			return -1;
		}
	*out = v;
	*nout = n;
	return 0;
}

enum result
mx_targets(const char *domain, const char *myhostname, char ***out,
    int *nout, char *err, size_t errlen)
{
	unsigned char ans[NS_PACKETSZ * 4];
	struct mx_rr rr[MX_RR_MAX];
	int len, n;

	*out = NULL;
	*nout = 0;
	if ((_res.options & RES_INIT) == 0 && res_init() == -1) {
		snprintf(err, errlen, "%s: MX lookup: no resolver", domain);
		return RS_TEMP;
	}
	len = res_query(domain, ns_c_in, ns_t_mx, ans, sizeof(ans));
	if (len == -1 && h_errno == HOST_NOT_FOUND) {
		snprintf(err, errlen, "%s: MX lookup: no such domain", domain);
		return RS_PERM;
	}
	if (len == -1 && h_errno == NO_DATA) {
		strlcpy_(rr[0].host, domain, sizeof(rr[0].host));
		rr[0].pref = 0;
		n = 1;
	} else if (len == -1) {
		snprintf(err, errlen, "%s: MX lookup: %s", domain,
		    hstrerror(h_errno));
		return RS_TEMP;
	} else if ((n = mx_parse(ans, len < (int)sizeof(ans) ? len :
	    (int)sizeof(ans), rr, MX_RR_MAX)) < 1) {
		snprintf(err, errlen, "%s: MX lookup: %s", domain, n == 0 ?
		    "no usable MX records" : "malformed answer");
		return n == 0 ? RS_PERM : RS_TEMP;
	}
	if ((n = mx_select(rr, n, myhostname)) == 0) {
		snprintf(err, errlen, "this hub is the best MX for %s: mail "
		    "would loop", domain);
		return RS_PERM;
	}
	if (hosts_out(rr, n, out, nout) == -1) {
		snprintf(err, errlen, "%s: MX lookup: out of memory", domain);
		return RS_TEMP;
	}
	return RS_OK;
}

struct find {
	const char *customer;
	const char *domain;
};

static void
find_key(void *arg, const char *key, const char *value, const char *file,
    int line)
{
	struct find *f = arg;

	(void)file;
	(void)line;
	if (f->domain == NULL && strcmp(value, f->customer) == 0 &&
	    key[0] != '.' && key[0] != '\0')
		f->domain = key;
}

const char *
mx_domain(const struct bridge_conf *conf, const struct customer *cu)
{
	struct find f = { cu->name, NULL };

	routes_foreach(conf->routes, find_key, &f);
	return f.domain;
}
