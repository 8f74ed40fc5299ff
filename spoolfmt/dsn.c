/*
 * dsn.c - RFC 3464 delivery status notifications (see dsn.h).
 *
 * The report is three parts: a short text for people, the
 * message/delivery-status fields (one block per message, one per
 * recipient), and the original's header (text/rfc822-headers, at most
 * DSN_HEADERS_MAX octets, cut at a line end) or, when the sender asked
 * for RET=FULL and it is at most DSN_FULL_MAX octets, the whole
 * original (message/rfc822).  Everything we write is
 * 7-bit with CRLF line ends and lines folded under 78 columns where
 * there is a space to fold at; only copied original headers can be
 * 8-bit, and then the parts say so.
 */
#include <sys/types.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "dsn.h"
#include "queue.h"

#define FOLD_AT		76
#define HARD_LIMIT	990

char *
dsn_date(time_t t, char *buf, size_t len)
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed",
		"Thu", "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr",
		"May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL) {
		snprintf(buf, len, "Thu, 1 Jan 1970 00:00:00 +0000");
		return buf;
	}
	snprintf(buf, len, "%s, %d %s %d %02d:%02d:%02d +0000",
	    days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	return buf;
}

/*
 * put_folded - "prefix" + text, folded at spaces before FOLD_AT columns
 * with cont (" " for fields, "    " for prose) starting each new line.
 * Control characters become '?'.
 */
static void
put_folded(FILE *f, const char *prefix, const char *text, const char *cont)
{
	size_t col = strlen(prefix), wl;
	const char *p = text, *w;

	fputs(prefix, f);
	while (*p != '\0') {
		for (w = p; *w == ' '; w++)
			;
		for (wl = 0; w[wl] != '\0' && w[wl] != ' '; wl++)
			;
		if (col + (size_t)(w - p) + wl > FOLD_AT && col > strlen(cont) &&
		    w > p) {
			fputs("\r\n", f);
			fputs(cont, f);
			col = strlen(cont);
			p = w;
		}
		for (; p < w + wl; p++) {
			if (col >= HARD_LIMIT) {
				fputs("\r\n", f);
				fputs(cont, f);
				col = strlen(cont);
			}
			fputc((unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p,
			    f);
			col++;
		}
	}
	fputs("\r\n", f);
}

/* headers_len - octets of the header block, cut at a line end. */
static size_t
headers_len(const char *m, size_t len)
{
	size_t i, last = 0;

	if (len > 0 && (m[0] == '\n' || (m[0] == '\r' && len > 1 &&
	    m[1] == '\n')))
		return 0;
	for (i = 0; i < len; i++) {
		if (m[i] != '\n')
			continue;
		if (i + 1 > DSN_HEADERS_MAX)
			break;
		last = i + 1;
		if (i + 1 < len && m[i + 1] == '\n')
			break;
		if (i + 2 < len && m[i + 1] == '\r' && m[i + 2] == '\n')
			break;
	}
	if (i == len && len <= DSN_HEADERS_MAX)
		last = len;
	return last;
}

/* put_lines - copy octets with every line end made CRLF. */
static void
put_lines(FILE *f, const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i] == '\r')
			continue;
		if (p[i] == '\n')
			fputc('\r', f);
		fputc(p[i], f);
	}
	if (n > 0 && p[n - 1] != '\n')
		fputs("\r\n", f);
}

static int
has_8bit(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)p[i] >= 0x80)
			return 1;
	return 0;
}

const char *
dsn_action_name(enum dsn_action a)
{
	switch (a) {
	case DSN_FAILED:
		return "failed";
	case DSN_DELAYED:
		return "delayed";
	case DSN_RELAYED:
		return "relayed";
	default:
		return "delivered";
	}
}

static int
any(const struct dsn_report *r, enum dsn_action a)
{
	int i;

	for (i = 0; i < r->nrcpts; i++)
		if (r->rcpts[i].action == a)
			return 1;
	return 0;
}

static int
any_failed(const struct dsn_report *r)
{
	return any(r, DSN_FAILED);
}

/* subject - what the report is mostly about. */
static const char *
subject(const struct dsn_report *r)
{
	if (any_failed(r))
		return "Undeliverable mail returned to sender";
	if (any(r, DSN_DELAYED))
		return "Mail delivery delayed (no action needed)";
	return "Successful mail delivery report";
}

/* put_success - the prose for relayed and delivered recipients. */
static void
put_success(FILE *f, const struct dsn_report *r, int gap)
{
	if (any(r, DSN_DELIVERED)) {
		if (gap)
			fputs("\r\n", f);
		put_folded(f, "", "Your message was delivered to the recipients "
		    "listed below, as you asked to be told.", "");
		gap = 1;
	}
	if (any(r, DSN_RELAYED)) {
		if (gap)
			fputs("\r\n", f);
		put_folded(f, "", "Your message was handed on to the mail "
		    "system of the recipients listed below, as you asked to "
		    "be told. That system does not send delivery "
		    "notifications: you will hear nothing more from it about "
		    "your message, even whether it reaches them.", "");
	}
}

static void
put_human(FILE *f, const struct dsn_report *r, int full)
{
	const struct dsn_rcpt *rc;
	char line[1400], date[64];
	int i, failed = any_failed(r), delayed = 0;

	fprintf(f, "This is the mail delivery system at %s.\r\n\r\n",
	    r->reporting_mta);
	if (r->note != NULL) {
		put_folded(f, "", r->note, "");
		fputs("\r\n", f);
	}
	for (i = 0; i < r->nrcpts; i++)
		if (r->rcpts[i].action == DSN_DELAYED)
			delayed = 1;
	if (failed)
		put_folded(f, "", full ? "Your message could not be "
		    "delivered to the recipients listed below; delivery has "
		    "been given up. The report that follows says why, and "
		    "your message comes last." : "Your message could not be "
		    "delivered to the recipients listed below; delivery has "
		    "been given up. The report that follows says why, and "
		    "the headers of your message come last.", "");
	if (failed && delayed)
		fputs("\r\n", f);
	if (delayed)
		put_folded(f, "", "Your message has not yet been delivered "
		    "to some recipients listed below. Nothing needs to be "
		    "done: delivery will be tried again, and you will hear "
		    "again only if it fails for good.", "");
	put_success(f, r, failed || delayed);
	fputs("\r\n", f);
	for (i = 0; i < r->nrcpts; i++) {
		rc = &r->rcpts[i];
		if (rc->diag != NULL && rc->remote_mta != NULL)
			snprintf(line, sizeof(line), "<%s>: %s, %s said: %s",
			    rc->addr, dsn_action_name(rc->action),
			    rc->remote_mta, rc->diag);
		else if (rc->diag != NULL)
			snprintf(line, sizeof(line), "<%s>: %s: %s", rc->addr,
			    dsn_action_name(rc->action), rc->diag);
		else
			snprintf(line, sizeof(line), "<%s>: %s (status %s)",
			    rc->addr, dsn_action_name(rc->action), rc->status);
		put_folded(f, "", line, "    ");
		if (rc->action == DSN_DELAYED && rc->retry_until != 0) {
			snprintf(line, sizeof(line), "will be tried until %s",
			    dsn_date(rc->retry_until, date, sizeof(date)));
			put_folded(f, "    ", line, "    ");
		}
		fputs("\r\n", f);
	}
	if (r->queue_id != NULL)
		fprintf(f, "Queue id of your message here: %s\r\n",
		    r->queue_id);
}

/* diag_typed - does diag already name its type ("x-unix; ...")? */
static int
diag_typed(const char *diag)
{
	size_t n = strspn(diag, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-");

	return n > 0 && diag[n] == ';' && diag[n + 1] == ' ';
}

static void
put_status(FILE *f, const struct dsn_report *r)
{
	const struct dsn_rcpt *rc;
	char date[64], buf[1400];
	int i;

	if (r->envid != NULL)
		put_folded(f, "Original-Envelope-Id: ", r->envid, " ");
	fprintf(f, "Reporting-MTA: dns; %s\r\n", r->reporting_mta);
	if (r->queue_id != NULL)
		fprintf(f, "X-Mailbridge-Queue-ID: %s\r\n", r->queue_id);
	if (r->arrival != 0)
		fprintf(f, "Arrival-Date: %s\r\n",
		    dsn_date(r->arrival, date, sizeof(date)));
	for (i = 0; i < r->nrcpts; i++) {
		rc = &r->rcpts[i];
		fputs("\r\n", f);
		if (rc->orcpt != NULL)
			put_folded(f, "Original-Recipient: ", rc->orcpt, " ");
		snprintf(buf, sizeof(buf), "rfc822; %s", rc->addr);
		put_folded(f, "Final-Recipient: ", buf, " ");
		fprintf(f, "Action: %s\r\n", dsn_action_name(rc->action));
		fprintf(f, "Status: %s\r\n", rc->status);
		if (rc->remote_mta != NULL)
			fprintf(f, "Remote-MTA: dns; %s\r\n", rc->remote_mta);
		if (rc->diag != NULL) {
			snprintf(buf, sizeof(buf), "%s%s",
			    diag_typed(rc->diag) ? "" : "smtp; ", rc->diag);
			put_folded(f, "Diagnostic-Code: ", buf, " ");
		}
		if (rc->last_attempt != 0)
			fprintf(f, "Last-Attempt-Date: %s\r\n",
			    dsn_date(rc->last_attempt, date, sizeof(date)));
		if (rc->action == DSN_DELAYED && rc->retry_until != 0)
			fprintf(f, "Will-Retry-Until: %s\r\n",
			    dsn_date(rc->retry_until, date, sizeof(date)));
	}
}

char *
dsn_compose(const struct dsn_report *r, size_t *lenp)
{
	char date[64], mid[512], bnd[128];
	char *out = NULL;
	int full = r->ret_full && r->origlen <= DSN_FULL_MAX;
	size_t outlen = 0, hlen = full ? r->origlen :
	    headers_len(r->orig, r->origlen);
	int eight = has_8bit(r->orig, hlen);
	FILE *f;

	if ((f = open_memstream(&out, &outlen)) == NULL)
		return NULL;
	if (r->message_id != NULL)
		snprintf(mid, sizeof(mid), "%s", r->message_id);
	else
		snprintf(mid, sizeof(mid), "<dsn.%lld.%ld.%s@%s>",
		    (long long)r->now, (long)getpid(),
		    r->queue_id ? r->queue_id : "x", r->reporting_mta);
	if (r->boundary != NULL)
		snprintf(bnd, sizeof(bnd), "%s", r->boundary);
	else
		snprintf(bnd, sizeof(bnd), "mb-dsn.%lld.%ld/%s",
		    (long long)r->now, (long)getpid(), r->reporting_mta);
	fprintf(f, "Date: %s\r\n", dsn_date(r->now, date, sizeof(date)));
	fprintf(f, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n",
	    r->reporting_mta);
	fprintf(f, "To: <%s>\r\n", r->to);
	fprintf(f, "Subject: %s\r\n", r->subject != NULL ? r->subject :
	    subject(r));
	fprintf(f, "Message-ID: %s\r\n", mid);
	fprintf(f, "Auto-Submitted: auto-replied\r\n");
	fprintf(f, "MIME-Version: 1.0\r\n");
	fprintf(f, "Content-Type: multipart/report; "
	    "report-type=delivery-status;\r\n\tboundary=\"%s\"\r\n", bnd);
	if (eight)
		fprintf(f, "Content-Transfer-Encoding: 8bit\r\n");
	fprintf(f, "\r\nThis is a MIME-encapsulated delivery report.\r\n");

	fprintf(f, "\r\n--%s\r\n", bnd);
	fprintf(f, "Content-Description: Notification\r\n");
	fprintf(f, "Content-Type: text/plain; charset=us-ascii\r\n\r\n");
	put_human(f, r, full);

	fprintf(f, "\r\n--%s\r\n", bnd);
	fprintf(f, "Content-Description: Delivery report\r\n");
	fprintf(f, "Content-Type: message/delivery-status\r\n\r\n");
	put_status(f, r);

	fprintf(f, "\r\n--%s\r\n", bnd);
	fprintf(f, "Content-Description: %s\r\n", full ?
	    "Your message" : "Headers of the message");
	fprintf(f, "Content-Type: %s\r\n", full ? "message/rfc822" :
	    "text/rfc822-headers");
	if (eight)
		fprintf(f, "Content-Transfer-Encoding: 8bit\r\n");
	fprintf(f, "\r\n");
	put_lines(f, r->orig, hlen);
	fprintf(f, "\r\n--%s--\r\n", bnd);
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	*lenp = outlen;
	return out;
}

/*
 * header_get - the unfolded value of the first header called name in
 * the header block of msg; 0 when found.
 */
static int
header_get(const char *msg, size_t len, const char *name, char *out,
    size_t outlen)
{
	size_t hlen = headers_len(msg, len), nl = strlen(name), i = 0, o = 0;
	size_t e;

	while (i < hlen) {
		for (e = i; e < hlen && msg[e] != '\n'; e++)
			;
		if (e - i > nl && strncasecmp(msg + i, name, nl) == 0 &&
		    msg[i + nl] == ':') {
			i += nl + 1;
			for (;;) {
				for (; i < e && o < outlen - 1; i++)
					if (msg[i] != '\r')
						out[o++] = msg[i] == '\t' ?
						    ' ' : msg[i];
				i = e + 1;
				if (i >= hlen || (msg[i] != ' ' &&
				    msg[i] != '\t'))
					break;
				for (e = i; e < hlen && msg[e] != '\n'; e++)
					;
			}
			out[o] = '\0';
			return 0;
		}
		i = e + 1;
	}
	return -1;
}

int
dsn_is_automatic(const char *msg, size_t len)
{
	char v[256], *p, *e;

	if (header_get(msg, len, "Auto-Submitted", v, sizeof(v)) == 0) {
		for (p = v; *p == ' '; p++)
			;
		for (e = p; *e != '\0' && *e != ' ' && *e != ';' &&
		    *e != '('; e++)
			;
		*e = '\0';
		if (strcasecmp(p, "no") != 0)
			return 1;
	}
	if (header_get(msg, len, "Content-Type", v, sizeof(v)) == 0) {
		for (p = v; *p != '\0'; p++)
			*p = (char)tolower((unsigned char)*p);
		if (strstr(v, "multipart/report") != NULL &&
		    strstr(v, "delivery-status") != NULL)
			return 1;
	}
	return 0;
}

const char *
dsn_recipient(const char *sender, const char *postmaster, const char *msg,
    size_t len)
{
	if (sender == NULL || sender[0] == '\0')
		return NULL;
	if (dsn_is_automatic(msg, len))
		return postmaster != NULL && postmaster[0] != '\0' ?
		    postmaster : NULL;
	return sender;
}

enum result
dsn_postmaster_copy(const char *spool, const char *postmaster,
    const char *hostname, const struct qenv *env, const char *msg,
    size_t len, const struct dsn_rcpt *rc, time_t now, char *qid,
    size_t qidlen, char *err, size_t errlen)
{
	struct dsn_report r;

	if (postmaster == NULL || postmaster[0] == '\0') {
		snprintf(err, errlen, "no postmaster is configured");
		return RS_PERM;
	}
	if (env->nrcpts < 1 || strcasecmp(env->rcpts[0], postmaster) == 0) {
		snprintf(err, errlen, "it was the postmaster's own copy");
		return RS_PERM;
	}
	memset(&r, 0, sizeof(r));
	r.reporting_mta = hostname;
	r.to = postmaster;
	r.orig_sender = env->sender;
	r.queue_id = env->id;
	r.arrival = env->arrival;
	r.now = now;
	r.rcpts = rc;
	r.nrcpts = 1;
	r.orig = msg;
	r.origlen = len;
	r.ret_full = 1;
	r.subject = "Undeliverable delivery report (postmaster copy)";
	r.note = "A delivery status notification that this mail system "
	    "sent could not be delivered to its recipient, named below, so "
	    "it comes to you, the postmaster, instead; it is attached.";
	return dsn_queue(spool, &r, qid, qidlen, err, errlen);
}

enum result
dsn_queue(const char *spool, const struct dsn_report *r, char *qid,
    size_t qidlen, char *err, size_t errlen)
{
	struct qwriter *w;
	struct qenv env;
	enum result rv;
	char *text, *rcpts[1];
	size_t len;

	if ((rv = spool_prepare(spool, DSN_QUEUE)) != RS_OK) {
		snprintf(err, errlen, "cannot prepare the %s queue",
		    DSN_QUEUE);
		return rv;
	}
	if ((text = dsn_compose(r, &len)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return RS_TEMP;
	}
	memset(&env, 0, sizeof(env));
	qid_new(env.id, sizeof(env.id));
	strlcpy_(env.customer, DSN_QUEUE, sizeof(env.customer));
	env.arrival = r->now;
	env.size = len;
	env.body_8bit = has_8bit(text, len);
	env.protocol = "local";
	env.client = "localhost [127.0.0.1]";
	env.helo = (char *)r->reporting_mta;
	env.sender = "";
	rcpts[0] = (char *)r->to;
	env.rcpts = rcpts;
	env.nrcpts = 1;
	if ((rv = qw_open(spool, &env, &w, err, errlen)) == RS_OK) {
		if ((rv = qw_write(w, text, len)) != RS_OK) {
			snprintf(err, errlen, "write failed");
			qw_abort(w);
		} else
			rv = qw_commit(w, err, errlen);
	}
	free(text);
	if (rv == RS_OK && qid != NULL)
		strlcpy_(qid, env.id, qidlen);
	return rv;
}

const char *
dsn_reply_status(const char *reply, char *buf, size_t len)
{
	size_t n;

	if (reply[0] != '4' || strspn(reply, "0123456789") != 3 ||
	    reply[3] != ' ' || reply[4] != '4' || reply[5] != '.')
		return NULL;
	n = strspn(reply + 4, "0123456789.");
	if (n < 5 || n >= len || (reply[4 + n] != ' ' && reply[4 + n] != '\0'))
		return NULL;
	memcpy(buf, reply + 4, n);
	buf[n] = '\0';
	return buf;
}
