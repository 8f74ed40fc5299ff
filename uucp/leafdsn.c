/*
 * leafdsn.c - DSNs about copies the leaf's local MTA refused, or took
 * without their DSN parameters (leafdsn.h): the start of the message
 * (its header section, at most DSN_HEADERS_MAX octets, or all of it for
 * a failed DSN with RET=FULL, up to DSN_FULL_MAX) goes to dsn_compose,
 * which writes the report.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "leafdsn.h"

/* orig - the start of m: n octets, or all of it when full fits. */
static char *
orig(const struct bundle_msg *m, int *full, size_t *len)
{
	size_t want;
	char *h;
	ssize_t n;

	*full = *full && m->size <= DSN_FULL_MAX;
	want = *full ? (size_t)m->size : DSN_HEADERS_MAX;
	if ((h = malloc(want + 1)) == NULL)
		return NULL;
	n = bundle_msg_pread(m, h, want, 0);
	*len = n < 0 ? 0 : (size_t)n;
	h[*len] = '\0';
	return h;
}

int
leafdsn_wanted(const struct bundle_msg *m, const char **why)
{
	size_t len;
	char *h;
	int automatic, full = 0;

	if (m->sender[0] == '\0') {
		*why = "the sender is <>";
		return 0;
	}
	if ((h = orig(m, &full, &len)) == NULL) {
		*why = "out of memory";
		return 0;
	}
	automatic = dsn_is_automatic(h, len);
	free(h);
	if (automatic) {
		*why = "the message was sent automatically";
		return 0;
	}
	return 1;
}

int
leafdsn_rcpt_wants(const struct inject_rcpt *r, enum dsn_action action)
{
	unsigned notify = r->env != NULL ? r->env->notify : 0;

	if (action == DSN_FAILED)
		return r->rs == RS_PERM && dsnenv_notify(notify, QN_FAILURE);
	return r->rs == RS_OK && !r->dsn_passed &&
	    dsnenv_notify(notify, QN_SUCCESS);
}

/* pick - the dsn_rcpt records of the recipients action is about. */
static int
pick(const struct inject_rcpt *r, int n, enum dsn_action action,
    struct dsn_rcpt *dr)
{
	int i, k = 0;

	for (i = 0; i < n; i++) {
		if (!leafdsn_rcpt_wants(&r[i], action))
			continue;
		dr[k].addr = r[i].addr;
		dr[k].action = action;
		dr[k].status = r[i].status[0] == (action == DSN_FAILED ? '5' :
		    '2') ? r[i].status : action == DSN_FAILED ? "5.0.0" :
		    "2.0.0";
		dr[k].diag = r[i].diag[0] != '\0' ? r[i].diag : NULL;
		dr[k].last_attempt = time(NULL);
		if (r[i].env != NULL && r[i].env->orcpt[0] != '\0')
			dr[k].orcpt = r[i].env->orcpt;
		k++;
	}
	return k;
}

int
leafdsn_build(struct bundle_msg *out, const char *hostname,
    const struct bundle_msg *m, const struct dsnenv *e,
    const struct inject_rcpt *r, int n, time_t arrival,
    enum dsn_action action)
{
	struct dsn_report rep;
	struct dsn_rcpt *dr;
	size_t hlen, len;
	char *h, *msg;
	int k, full = action == DSN_FAILED && e != NULL &&
	    e->ret == QRET_FULL;

	memset(out, 0, sizeof(*out));
	out->fd = -1;
	if ((dr = calloc((size_t)(n > 0 ? n : 1), sizeof(*dr))) == NULL)
		return -1;
	if ((k = pick(r, n, action, dr)) == 0) {
		free(dr);
		return 0;
	}
	if ((h = orig(m, &full, &hlen)) == NULL) {
		free(dr);
		return -1;
	}
	memset(&rep, 0, sizeof(rep));
	rep.reporting_mta = hostname;
	rep.to = m->sender;
	rep.orig_sender = m->sender;
	rep.arrival = e != NULL && e->arrival != 0 ? e->arrival : arrival;
	rep.queue_id = e != NULL && e->qid[0] != '\0' ? e->qid : NULL;
	rep.envid = e != NULL && e->envid[0] != '\0' ? e->envid : NULL;
	rep.ret_full = full;
	rep.now = time(NULL);
	rep.rcpts = dr;
	rep.nrcpts = k;
	rep.orig = h;
	rep.origlen = hlen;
	msg = dsn_compose(&rep, &len);
	free(h);
	free(dr);
	if (msg == NULL)
		return -1;
	out->mem = msg;
	out->size = len;
	return k;
}
