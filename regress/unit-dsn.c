/*
 * unit-dsn.c - DSN composition (spoolfmt/dsn.c): golden files
 * regress/dsn/NAME.in (the original message) -> NAME.ok (the DSN with
 * fixed date, Message-ID and boundary; CRLF shown as LF), plus the
 * CRLF discipline, the header cut-off, and who gets a DSN.
 * DSN_GOLDEN_WRITE=1 rewrites the .ok files (review them with git diff).
 */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsn.h"
#include "tap.h"

static char dir[4096];

static char *
slurp(const char *path, size_t *lenp)
{
	FILE *f;
	char *buf;
	long n;

	if ((f = fopen(path, "rb")) == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	if (fread(buf, 1, (size_t)n, f) != (size_t)n)
		n = 0;
	buf[n] = '\0';
	fclose(f);
	*lenp = (size_t)n;
	return buf;
}

/* crlf - every LF becomes CRLF (the queue holds CRLF messages). */
static char *
crlf(const char *s, size_t len, size_t *outlen)
{
	char *o = malloc(len * 2 + 1);
	size_t i, n = 0;

	for (i = 0; i < len; i++) {
		if (s[i] == '\n')
			o[n++] = '\r';
		o[n++] = s[i];
	}
	o[n] = '\0';
	*outlen = n;
	return o;
}

/* crlf_clean - 1 if every line ends in CRLF and no CR stands alone. */
static int
crlf_clean(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r'))
			return 0;
		if (s[i] == '\r' && (i + 1 == len || s[i + 1] != '\n'))
			return 0;
	}
	return len >= 2 && s[len - 2] == '\r' && s[len - 1] == '\n';
}

static int
max_line(const char *s, size_t len)
{
	size_t i, col = 0, max = 0;

	for (i = 0; i < len; i++) {
		if (s[i] == '\n') {
			col = 0;
			continue;
		}
		if (++col > max && s[i] != '\r')
			max = col;
	}
	return (int)max;
}

static void
golden(const char *name, struct dsn_report *r, int convert, int width)
{
	char path[4200], *in, *out, *want, *lf;
	size_t inlen, outlen, wantlen, i, n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.in", dir, name);
	if ((in = slurp(path, &inlen)) == NULL) {
		ok(0, "%s: cannot read %s", name, path);
		return;
	}
	if (convert) {
		r->orig = crlf(in, inlen, &r->origlen);
		free(in);
	} else {
		r->orig = in;
		r->origlen = inlen;
	}
	out = dsn_compose(r, &outlen);
	ok(out != NULL && strlen(out) == outlen, "%s: composed", name);
	ok(crlf_clean(out, outlen), "%s: CRLF line ends only", name);
	ok(max_line(out, outlen) <= width, "%s: lines within %d columns (%d)",
	    name, width, max_line(out, outlen));
	lf = malloc(outlen + 1);
	for (i = 0; i < outlen; i++)
		if (!(out[i] == '\r' && i + 1 < outlen && out[i + 1] == '\n'))
			lf[n++] = out[i];
	lf[n] = '\0';
	snprintf(path, sizeof(path), "%s/%s.ok", dir, name);
	if (getenv("DSN_GOLDEN_WRITE") != NULL &&
	    (f = fopen(path, "wb")) != NULL) {
		fwrite(lf, 1, n, f);
		fclose(f);
	}
	if ((want = slurp(path, &wantlen)) == NULL) {
		ok(0, "%s: cannot read %s", name, path);
	} else {
		ok(wantlen == n && memcmp(want, lf, n) == 0,
		    "%s: matches %s.ok", name, name);
		if (wantlen != n || memcmp(want, lf, n) != 0) {
			snprintf(path, sizeof(path), "%s/%s.out", dir, name);
			if ((f = fopen(path, "wb")) != NULL) {
				fwrite(lf, 1, n, f);
				fclose(f);
				printf("# diff -u %s/%s.ok %s\n", dir, name,
				    path);
			}
		}
	}
	free(want);
	free(lf);
	free(out);
	free((char *)r->orig);
}

/* test_golden_params - ORCPT, ENVID, RET and the sweeper's reports. */
static void
test_golden_params(struct dsn_report *r, struct dsn_rcpt *rc)
{
	memset(rc, 0, 3 * sizeof(*rc));
	r->to = "bob@example.net";
	r->orig_sender = "bob@example.net";
	r->envid = "QQ314159";
	rc[0].addr = "ship@ship.example";
	rc[0].orcpt = "rfc822;Captain@Ship.Example";
	rc[0].action = DSN_DELAYED;
	rc[0].status = "4.4.1";
	rc[0].diag = "X-Mailbridge; not yet fetched by the customer's site "
	    "(ship) after 4h";
	rc[0].retry_until = 1734114400;
	r->nrcpts = 1;
	golden("delayed-orcpt", r, 1, 78);

	r->to = "dave@example.com";
	r->orig_sender = "dave@example.com";
	r->envid = NULL;
	rc[0].addr = "crew@ship.example";
	rc[0].orcpt = "rfc822;crew@ship.example";
	rc[0].action = DSN_FAILED;
	rc[0].status = "4.4.7";
	rc[0].diag = "X-Mailbridge; delivery time expired: not fetched by the "
	    "customer's site (ship) for 21d";
	rc[0].retry_until = 0;
	rc[1] = rc[0];
	rc[1].addr = "cook@ship.example";
	rc[1].orcpt = NULL;
	r->nrcpts = 2;
	golden("expired", r, 1, 78);

	r->ret_full = 1;
	r->envid = "menus-1";
	r->nrcpts = 1;
	golden("full", r, 1, 78);
	r->ret_full = 0;
	r->envid = NULL;

	r->to = "erin@example.org";
	r->orig_sender = "erin@example.org";
	r->envid = "ship-7";
	rc[0].addr = "bosun@ship.example";
	rc[0].orcpt = "rfc822;Bosun@Ship.Example";
	rc[0].action = DSN_RELAYED;
	rc[0].status = "2.0.0";
	rc[0].remote_mta = "mail.ship.example";
	rc[0].diag = "250 2.0.0 Ok: queued as 4XyZ";
	rc[0].last_attempt = 1732299990;
	rc[1] = rc[0];
	rc[1].addr = "mate@ship.example";
	rc[1].orcpt = NULL;
	rc[1].action = DSN_DELIVERED;
	rc[1].status = "2.1.5";
	rc[1].diag = "250 2.1.5 mate@ship.example delivered";
	r->nrcpts = 2;
	golden("relayed", r, 1, 78);
	r->envid = NULL;
}

static void
test_golden(void)
{
	struct dsn_rcpt rc[3];
	struct dsn_report r;

	memset(&r, 0, sizeof(r));
	memset(rc, 0, sizeof(rc));
	r.reporting_mta = "relay.isp.example";
	r.to = "alice@example.org";
	r.orig_sender = "alice@example.org";
	r.queue_id = "0065A1B2C3D4E.1A2B.3";
	r.arrival = 1732299200;
	r.now = 1732300000;
	r.message_id = "<dsn.1732300000.0065A1B2C3D4E.1A2B.3@relay.isp.example>";
	r.boundary = "mb-dsn.1732300000/relay.isp.example";
	rc[0].addr = "nouser@acme.example";
	rc[0].action = DSN_FAILED;
	rc[0].status = "5.1.1";
	rc[0].remote_mta = "mail.acme.example";
	rc[0].diag = "550 5.1.1 <nouser@acme.example>: Recipient address "
	    "rejected: User unknown in local recipient table";
	rc[0].last_attempt = 1732299990;
	rc[1].addr = "gone@acme.example";
	rc[1].action = DSN_FAILED;
	rc[1].status = "5.2.1";
	rc[1].remote_mta = "mail.acme.example";
	rc[1].diag = "550 5.2.1 mailbox disabled";
	rc[1].last_attempt = 1732299990;
	r.rcpts = rc;
	r.nrcpts = 2;
	golden("failed", &r, 1, 78);

	r.to = "postmaster@isp.example";
	r.orig_sender = "bob@example.net";
	rc[0].addr = "ship@ship.example";
	rc[0].action = DSN_DELAYED;
	rc[0].status = "4.4.1";
	rc[0].remote_mta = NULL;
	rc[0].diag = NULL;
	rc[0].last_attempt = 0;
	rc[0].retry_until = 1734114400;
	r.nrcpts = 1;
	golden("delayed", &r, 1, 78);

	r.to = "carol@example.com";
	r.orig_sender = "carol@example.com";
	rc[0].addr = "farm@farm.example";
	rc[0].action = DSN_DELAYED;
	rc[0].status = "4.2.2";
	rc[0].remote_mta = "mx.farm.example";
	rc[0].diag = "452 4.2.2 over quota";
	rc[0].last_attempt = 1732299000;
	rc[0].retry_until = 1732731200;
	rc[1].addr = "pig@farm.example";
	rc[1].action = DSN_FAILED;
	rc[1].status = "5.0.0";
	rc[1].remote_mta = "mx.farm.example";
	rc[1].diag = "554 transaction failed: "
	    "averyveryveryverylongwordwithoutanyspacesinsideitthatcannotbefolded"
	    "atallbutmuststillbeshownsomehow";
	rc[1].last_attempt = 1732299000;
	rc[2].addr = "hen@farm.example";
	rc[2].action = DSN_FAILED;
	rc[2].status = "5.4.2";
	r.nrcpts = 3;
	golden("mixed", &r, 0, 998);
	test_golden_params(&r, rc);
}

static void
test_misc(void)
{
	struct dsn_rcpt rc = { .addr = "a@b.example", .action = DSN_FAILED,
		.status = "5.1.1" };
	struct dsn_report r;
	char buf[64], *big, *out, *h;
	size_t n = 100000, outlen, i;
	static const char autom[] = "Subject: x\r\nAuto-Submitted: "
	    "auto-replied (vacation)\r\n\r\nbody\r\n";
	static const char autono[] = "Subject: x\r\nauto-submitted:  No\r\n\r\n";
	static const char report[] = "Subject: x\r\nContent-Type: multipart/"
	    "report;\r\n\treport-type=delivery-status; boundary=x\r\n\r\n";
	static const char bodyonly[] = "Subject: x\r\n\r\nAuto-Submitted: "
	    "yes\r\n";

	is_str(dsn_date(0, buf, sizeof(buf)), "Thu, 1 Jan 1970 00:00:00 +0000",
	    "date of the epoch");
	is_str(dsn_date(1732300000, buf, sizeof(buf)),
	    "Fri, 22 Nov 2024 18:26:40 +0000", "a date");
	ok(dsn_is_automatic(autom, sizeof(autom) - 1), "auto-replied");
	ok(!dsn_is_automatic(autono, sizeof(autono) - 1), "Auto-Submitted: no");
	ok(dsn_is_automatic(report, sizeof(report) - 1),
	    "folded multipart/report delivery-status");
	ok(!dsn_is_automatic(bodyonly, sizeof(bodyonly) - 1),
	    "header in the body does not count");
	ok(dsn_recipient("", "postmaster@isp.example", autono,
	    sizeof(autono) - 1) == NULL, "never to the null sender");
	is_str(dsn_recipient("s@example.org", "postmaster@isp.example", autom,
	    sizeof(autom) - 1), "postmaster@isp.example",
	    "automatic mail: the postmaster");
	ok(dsn_recipient("s@example.org", "", autom, sizeof(autom) - 1) ==
	    NULL, "automatic mail, no postmaster: nobody");
	is_str(dsn_recipient("s@example.org", "postmaster@isp.example", autono,
	    sizeof(autono) - 1), "s@example.org", "ordinary mail: the sender");

	big = malloc(n + 100);
	for (i = 0; i + 40 < n; i += 40)
		memcpy(big + i, "X-Filler: 0123456789012345678901234567\r\n",
		    40);
	memcpy(big + i, "\r\nbody\r\n", 8);
	memset(&r, 0, sizeof(r));
	r.reporting_mta = "relay.isp.example";
	r.to = "s@example.org";
	r.now = 1732300000;
	r.rcpts = &rc;
	r.nrcpts = 1;
	r.orig = big;
	r.origlen = i + 8;
	out = dsn_compose(&r, &outlen);
	h = strstr(out, "Content-Type: text/rfc822-headers\r\n\r\n");
	ok(h != NULL, "headers part present");
	ok(h != NULL && strlen(h) < DSN_HEADERS_MAX + 200,
	    "headers cut at %d octets", DSN_HEADERS_MAX);
	ok(h != NULL && strstr(h, "567\r\n\r\n--") != NULL,
	    "cut at a line end");
	ok(strstr(out, "Message-ID: <dsn.1732300000.") != NULL,
	    "Message-ID generated");
	ok(strstr(out, "boundary=\"mb-dsn.1732300000.") != NULL,
	    "boundary generated");
	ok(strstr(out, "body") == NULL, "no body returned");
	free(out);
	free(big);
}

int
main(int argc, char **argv)
{
	char tmp[4096];

	if (getenv("DSN_DIR") != NULL)
		snprintf(dir, sizeof(dir), "%s", getenv("DSN_DIR"));
	else {
		snprintf(tmp, sizeof(tmp), "%s", argv[0]);
		snprintf(dir, sizeof(dir), "%s/dsn", dirname(tmp));
	}
	(void)argc;
	test_golden();
	test_misc();
	return done_testing();
}
