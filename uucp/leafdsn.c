/*
 * leafdsn.c - DSNs for copies the leaf's local MTA refused (leafdsn.h):
 * the header section of the refused message (at most DSN_HEADERS_MAX
 * octets) goes to dsn_compose, which writes the report.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dsn.h"
#include "leafdsn.h"

/* headers - the start of m, enough for its header section. */
static char *
headers(const struct bundle_msg *m, size_t *len)
{
	char *h;
	ssize_t n;

	if ((h = malloc(DSN_HEADERS_MAX + 1)) == NULL)
		return NULL;
	n = bundle_msg_pread(m, h, DSN_HEADERS_MAX, 0);
	*len = n < 0 ? 0 : (size_t)n;
	h[*len] = '\0';
	return h;
}

int
leafdsn_wanted(const struct bundle_msg *m, const char **why)
{
	size_t len;
	char *h;
	int automatic;

	if (m->sender[0] == '\0') {
		*why = "the sender is <>";
		return 0;
	}
	if ((h = headers(m, &len)) == NULL) {
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
leafdsn_build(struct bundle_msg *out, const char *hostname,
    const struct bundle_msg *m, const struct inject_rcpt *r, int n,
    time_t arrival)
{
	struct dsn_report rep;
	struct dsn_rcpt *dr;
	size_t hlen, len;
	char *h, *msg;
	int i, k = 0;

	memset(out, 0, sizeof(*out));
	out->fd = -1;
	if ((dr = calloc((size_t)(n > 0 ? n : 1), sizeof(*dr))) == NULL)
		return -1;
	if ((h = headers(m, &hlen)) == NULL) {
		free(dr);
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (r[i].rs != RS_PERM)
			continue;
		dr[k].addr = r[i].addr;
		dr[k].action = DSN_FAILED;
		dr[k].status = r[i].status[0] == '5' ? r[i].status : "5.0.0";
		dr[k].diag = r[i].diag[0] != '\0' ? r[i].diag : NULL;
		dr[k].last_attempt = time(NULL);
		k++;
	}
	memset(&rep, 0, sizeof(rep));
	rep.reporting_mta = hostname;
	rep.to = m->sender;
	rep.orig_sender = m->sender;
	rep.arrival = arrival;
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
	return 0;
}
