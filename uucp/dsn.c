/*
 * dsn.c - build RFC 3464 delivery status notifications (dsn.h).  The
 * original message is represented by its header section only (at most
 * HDR_MAX octets, cut at a line end), so a DSN stays small whatever
 * was refused.  Every line written ends in CRLF and is 7-bit: texts
 * from the MTA were made printable by the injector, header octets
 * over 127 are replaced.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dsn.h"

#define HDR_MAX		(64 * 1024)

struct sbuf {
	char   *p;
	size_t	len, cap;
	int	oom;
};

static void
sb_add(struct sbuf *b, const char *s, size_t n)
{
	char *np;
	size_t cap;

	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		if ((np = realloc(b->p, cap)) == NULL) {
			b->oom = 1;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
sb_printf(struct sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
sb_printf(struct sbuf *b, const char *fmt, ...)
{
	char line[1200];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	sb_add(b, line, (size_t)n < sizeof(line) ? (size_t)n :
	    sizeof(line) - 1);
}

/* headers - the header section of m (up to HDR_MAX), *len octets. */
static char *
headers(const struct bundle_msg *m, size_t *len)
{
	char *h = malloc(HDR_MAX + 1), *end, *lastnl;
	ssize_t n;

	if (h == NULL)
		return NULL;
	n = bundle_msg_pread(m, h, HDR_MAX, 0);
	if (n < 0)
		n = 0;
	h[n] = '\0';
	if ((end = memmem(h, (size_t)n, "\r\n\r\n", 4)) != NULL)
		*len = (size_t)(end - h) + 2;
	else if ((lastnl = memrchr(h, '\n', (size_t)n)) != NULL)
		*len = (size_t)(lastnl - h) + 1;
	else
		*len = 0;
	return h;
}

/* header_value - the value of the first field name: in h, or NULL. */
static const char *
header_value(const char *h, size_t len, const char *name, char *buf,
    size_t buflen)
{
	size_t nl = strlen(name);
	const char *p = h, *end = h + len, *e;

	while (p < end) {
		if ((size_t)(end - p) > nl && strncasecmp(p, name, nl) == 0 &&
		    p[nl] == ':') {
			p += nl + 1;
			while (p < end && (*p == ' ' || *p == '\t'))
				p++;
			e = memchr(p, '\r', (size_t)(end - p));
			snprintf(buf, buflen, "%.*s",
			    (int)((e ? e : end) - p), p);
			return buf;
		}
		if ((p = memchr(p, '\n', (size_t)(end - p))) == NULL)
			break;
		p++;
	}
	return NULL;
}

int
dsn_wanted(const struct bundle_msg *m, const char **why)
{
	char *h, v[200];
	size_t len;
	const char *as;
	int want = 1;

	if (m->sender[0] == '\0') {
		*why = "the sender is <>";
		return 0;
	}
	if ((h = headers(m, &len)) == NULL) {
		*why = "out of memory";
		return 0;
	}
	as = header_value(h, len, "Auto-Submitted", v, sizeof(v));
	if (as != NULL && strncasecmp(as, "no", 2) != 0) {
		*why = "the message is Auto-Submitted";
		want = 0;
	}
	free(h);
	return want;
}

static void
date822(time_t t, char *buf, size_t len)
{
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(buf, len, "%a, %d %b %Y %H:%M:%S %z", &tm);
}

static void
seven_bit(struct sbuf *b, const char *h, size_t len)
{
	size_t i, run = 0;

	for (i = 0; i < len; i++) {
		if ((unsigned char)h[i] < 0x80)
			continue;
		sb_add(b, h + run, i - run);
		sb_add(b, "?", 1);
		run = i + 1;
	}
	sb_add(b, h + run, len - run);
}

static void
human_part(struct sbuf *b, const char *host, const struct inject_rcpt *r,
    int n)
{
	int i;

	sb_printf(b, "Content-Description: Notification\r\n"
	    "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
	    "This is bridge-unbatch at %s.\r\n\r\n"
	    "Your message came here from our mail hub in a batch, and the\r\n"
	    "mail server of this site refused it for the recipients below.\r\n"
	    "It will not be delivered to them.  The headers of your message\r\n"
	    "are attached.\r\n\r\n", host);
	for (i = 0; i < n; i++)
		if (r[i].rs == RS_PERM)
			sb_printf(b, "<%s>: %s\r\n", r[i].addr, r[i].diag);
}

static void
status_part(struct sbuf *b, const char *host, const struct inject_rcpt *r,
    int n, time_t arrival)
{
	char date[64];
	int i;

	date822(arrival, date, sizeof(date));
	sb_printf(b, "Content-Description: Delivery report\r\n"
	    "Content-Type: message/delivery-status\r\n\r\n"
	    "Reporting-MTA: dns; %s\r\nArrival-Date: %s\r\n", host, date);
	date822(time(NULL), date, sizeof(date));
	for (i = 0; i < n; i++) {
		if (r[i].rs != RS_PERM)
			continue;
		sb_printf(b, "\r\nFinal-Recipient: rfc822; %s\r\n"
		    "Action: failed\r\nStatus: %s\r\n", r[i].addr,
		    r[i].status[0] == '5' ? r[i].status : "5.0.0");
		if (r[i].diag[0] != '\0')
			sb_printf(b, "Diagnostic-Code: %s\r\n", r[i].diag);
		sb_printf(b, "Last-Attempt-Date: %s\r\n", date);
	}
}

int
dsn_build(struct bundle_msg *out, const char *hostname,
    const struct bundle_msg *m, const struct inject_rcpt *r, int n,
    time_t arrival)
{
	struct sbuf b = { NULL, 0, 0, 0 };
	char date[64], bound[64], *h;
	size_t hlen;
	static unsigned seq;
	time_t now = time(NULL);

	memset(out, 0, sizeof(*out));
	out->fd = -1;
	if ((h = headers(m, &hlen)) == NULL)
		return -1;
	date822(now, date, sizeof(date));
	snprintf(bound, sizeof(bound), "%llx.%x.%u/%s",
	    (unsigned long long)now, (unsigned)getpid(), seq, hostname);
	sb_printf(&b, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n"
	    "To: <%s>\r\nSubject: Undelivered Mail Returned to Sender\r\n"
	    "Date: %s\r\nMessage-ID: <%llx.%x.%u.dsn@%s>\r\n"
	    "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: multipart/report; report-type=delivery-status;\r\n"
	    "\tboundary=\"%s\"\r\n\r\n"
	    "This is a MIME-encapsulated message.\r\n\r\n--%s\r\n",
	    hostname, m->sender, date, (unsigned long long)now,
	    (unsigned)getpid(), seq++, hostname, bound, bound);
	human_part(&b, hostname, r, n);
	sb_printf(&b, "\r\n--%s\r\n", bound);
	status_part(&b, hostname, r, n, arrival);
	sb_printf(&b, "\r\n--%s\r\nContent-Description: Undelivered Message "
	    "Headers\r\nContent-Type: text/rfc822-headers\r\n\r\n", bound);
	seven_bit(&b, h, hlen);
	sb_printf(&b, "\r\n--%s--\r\n", bound);
	free(h);
	if (b.oom) {
		free(b.p);
		return -1;
	}
	out->mem = b.p;
	out->size = b.len;
	return 0;
}
