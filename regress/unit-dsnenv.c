/*
 * unit-dsnenv.c - the DSN envelope of a copy (spoolfmt/dsnenv.c) and
 * its trip through a bundle (bundle.c, bundle_read.c): xtext, ORCPT
 * values, the MAIL/RCPT parameter text the flush sends (read back by
 * the hub's own intake parser, etrn/dsnparam.c), the
 * X-Mailbridge-Envelope: field.  Every combination of NOTIFY (9), RET
 * (3), ENVID (3), ORCPT (3), queue id and arrival (2) goes through the
 * field, the parameters and a real bundle and must come back equal;
 * forged fields in a message are dropped by the writer.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bundle.h"
#include "dsnenv.h"
#include "dsnparam.h"
#include "log.h"
#include "tap.h"

#define WORK	"regress/work/unit-dsnenv"

static const unsigned notifies[] = { 0, QN_NEVER, QN_SUCCESS, QN_FAILURE,
	QN_DELAY, QN_SUCCESS | QN_FAILURE, QN_SUCCESS | QN_DELAY,
	QN_FAILURE | QN_DELAY, QN_SUCCESS | QN_FAILURE | QN_DELAY };
static const enum qret rets[] = { QRET_NONE, QRET_FULL, QRET_HDRS };
static const char *const envids[] = { "", "QQ314159", "a+b=c d~!" };
static const char *const orcpts[] = { "", "rfc822;bob@acme.example",
	"rfc822;\"b+o=b x\"@acme.example" };
#define NCASES	(9 * 3 * 3 * 3 * 2)

static int
rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

/* make_case - combination k of the parameters into e. */
static void
make_case(int k, struct dsnenv *e)
{
	memset(e, 0, sizeof(*e));
	e->notify = notifies[k % 9];
	e->ret = rets[(k / 9) % 3];
	strlcpy_(e->envid, envids[(k / 27) % 3], sizeof(e->envid));
	strlcpy_(e->orcpt, orcpts[(k / 81) % 3], sizeof(e->orcpt));
	if ((k / 243) % 2) {
		snprintf(e->qid, sizeof(e->qid), "0065A1B2C3D4E.1A2B.%X", k);
		e->arrival = 1732300000 + k;
	}
}

static int
same(const struct dsnenv *a, const struct dsnenv *b)
{
	return strcmp(a->qid, b->qid) == 0 && a->arrival == b->arrival &&
	    a->ret == b->ret && strcmp(a->envid, b->envid) == 0 &&
	    a->notify == b->notify && strcmp(a->orcpt, b->orcpt) == 0;
}

/* field_ok - name first, CRLF lines under 79 columns, folded lines. */
static int
field_ok(const char *h, int len)
{
	const char *p = h, *nl;

	if (strncmp(h, DSNENV_HEADER ": ", sizeof(DSNENV_HEADER) + 1) != 0 &&
	    strcmp(h, DSNENV_HEADER ":\r\n") != 0)
		return 0;
	for (; p < h + len; p = nl + 1) {
		if ((nl = strchr(p, '\n')) == NULL || nl == p || nl[-1] != '\r' ||
		    nl - p - 1 > 78)
			return 0;
		if (p != h && *p != ' ')
			return 0;
	}
	return p == h + len;
}

static void
test_xtext(void)
{
	char out[64], orc[DSN_ORCPT_TEXT];

	ok(xtext_encode("a+b=c d", out, sizeof(out)) == 0 &&
	    strcmp(out, "a+2Bb+3Dc+20d") == 0, "xtext: + = and space encoded");
	ok(xtext_decode(out, orc, 100) == 0 && strcmp(orc, "a+b=c d") == 0,
	    "xtext: and decoded");
	ok(xtext_encode("caf\xc3\xa9", out, sizeof(out)) == -1,
	    "xtext: 8-bit refused");
	ok(xtext_encode("a\tb", out, sizeof(out)) == -1,
	    "xtext: control character refused");
	ok(xtext_encode("++++", out, 12) == -1 &&
	    xtext_encode("++++", out, 13) == 0, "xtext: length checked");
	ok(xtext_decode("a+2", out, 10) == -1 && xtext_decode("a+zz", out, 10)
	    == -1 && xtext_decode("a=b", out, 10) == -1 &&
	    xtext_decode("+0A", out, 10) == -1, "xtext: bad input refused");
	ok(xtext_decode("abcdef", out, 5) == -1, "xtext: over max refused");
	ok(dsn_orcpt_encode("rfc822;Bob+1@x", out, sizeof(out)) == 0 &&
	    strcmp(out, "rfc822;Bob+2B1@x") == 0, "ORCPT encoded");
	ok(dsn_orcpt_decode(out, orc) == 0 &&
	    strcmp(orc, "rfc822;Bob+1@x") == 0, "ORCPT decoded");
	ok(dsn_orcpt_decode("rfc822", orc) == -1 &&
	    dsn_orcpt_decode(";x@y", orc) == -1 &&
	    dsn_orcpt_decode("rfc822;", orc) == -1 &&
	    dsn_orcpt_encode("x@y", out, sizeof(out)) == -1,
	    "ORCPT without a type or an address refused");
	ok(dsnenv_notify(0, QN_FAILURE) && dsnenv_notify(0, QN_DELAY) &&
	    !dsnenv_notify(0, QN_SUCCESS) && !dsnenv_notify(QN_NEVER,
	    QN_FAILURE) && dsnenv_notify(QN_SUCCESS, QN_SUCCESS) &&
	    !dsnenv_notify(QN_SUCCESS, QN_FAILURE),
	    "NOTIFY: none asks for failures and delays, NEVER for nothing");
}

static void
test_parse(void)
{
	struct dsnenv e;
	const char *s;

	s = " QID=0065A1B2C3D4E.1A2B.3 x-future=1 ARRIVAL=1732300000\r\n"
	    "\tret=hdrs NOTIFY=failure,delay ORCPT=rfc822;a+2Bb@c";
	ok(dsnenv_parse(s, strlen(s), &e) == 0 && e.arrival == 1732300000 &&
	    e.ret == QRET_HDRS && e.notify == (QN_FAILURE | QN_DELAY) &&
	    strcmp(e.orcpt, "rfc822;a+b@c") == 0 &&
	    strcmp(e.qid, "0065A1B2C3D4E.1A2B.3") == 0,
	    "folded, any case, unknown keywords ignored");
	s = " QID=0065A1B2C3D4E.1A2B.3 WARNED=1732314400";
	ok(dsnenv_parse(s, strlen(s), &e) == 0 && e.warned == 1732314400,
	    "WARNED read");
	{
		char h[DSNENV_HEADER_MAX];
		struct dsnenv b2;
		int n = dsnenv_header(&e, h, sizeof(h));

		ok(n > 0 && strstr(h, " WARNED=1732314400") != NULL &&
		    dsnenv_parse(h + sizeof(DSNENV_HEADER), (size_t)n -
		    sizeof(DSNENV_HEADER), &b2) == 0 && b2.warned == e.warned,
		    "... and written back");
	}
	{
		char h[DSNENV_HEADER_MAX], p[DSNENV_PARAMS_MAX];
		struct dsnenv b2;
		int n;

		memset(&e, 0, sizeof(e));
		strlcpy_(e.qid, "0065A1B2C3D4E.1A2B.3", sizeof(e.qid));
		e.notify = QN_DELAY;
		strlcpy_(e.remote, "mx.ship.example", sizeof(e.remote));
		strlcpy_(e.reply, "451 4.2.0 <a@b>: try again, 100% = later",
		    sizeof(e.reply));
		n = dsnenv_header(&e, h, sizeof(h));
		ok(n > 0 && strstr(h, " REMOTE=mx.ship.example") != NULL &&
		    strstr(h, " REPLY=451+204.2.0+20<a@b>:+20try+20again,"
		    "+20100%+20+3D+20later") != NULL &&
		    dsnenv_parse(h + sizeof(DSNENV_HEADER), (size_t)n -
		    sizeof(DSNENV_HEADER), &b2) == 0 &&
		    strcmp(b2.remote, e.remote) == 0 &&
		    strcmp(b2.reply, e.reply) == 0,
		    "the last 4xx: REMOTE and REPLY written and read back");
		ok(dsnenv_rcpt_params(&e, p, sizeof(p)) == 0 &&
		    strstr(p, "REMOTE") == NULL && strstr(p, "REPLY") == NULL,
		    "... never on RCPT");
		memset(e.reply, 'x', sizeof(e.reply) - 1);
		e.reply[sizeof(e.reply) - 1] = '\0';
		memset(e.orcpt, 0, sizeof(e.orcpt));
		memcpy(e.orcpt, "rfc822;", 7);
		memset(e.orcpt + 7, '+', QENV_ORCPT_MAX);
		n = dsnenv_header(&e, h, sizeof(h));
		ok(n > 0 && (size_t)n < DSNENV_HEADER_MAX &&
		    strstr(h, "REPLY=") != NULL, "a 300-octet reply with the "
		    "longest ORCPT still fits");
	}
	s = " NOTIFY=NEVER NOTIFY=NEVER";
	ok(dsnenv_parse(s, strlen(s), &e) == -1 && e.notify == 0,
	    "a repeated keyword refuses the field and clears it");
	s = " NOTIFY=NEVER,DELAY";
	ok(dsnenv_parse(s, strlen(s), &e) == -1, "NEVER with others refused");
	s = " RET=SOME";
	ok(dsnenv_parse(s, strlen(s), &e) == -1, "bad RET refused");
	s = " QID=../../etc";
	ok(dsnenv_parse(s, strlen(s), &e) == -1, "bad QID refused");
	s = " ARRIVAL=12x";
	ok(dsnenv_parse(s, strlen(s), &e) == -1, "bad ARRIVAL refused");
	s = " ENVID=a+0Ab";
	ok(dsnenv_parse(s, strlen(s), &e) == -1, "ENVID decoding to a "
	    "control character refused");
	s = " ENVID";
	ok(dsnenv_parse(s, strlen(s), &e) == -1, "a keyword without value "
	    "refused");
	ok(dsnenv_parse("", 0, &e) == 0 && e.qid[0] == '\0' && e.notify == 0,
	    "an empty field is an empty envelope");
}

/* test_combinations - field and parameters, every combination. */
static void
test_combinations(void)
{
	struct dsnenv e, back;
	struct dsn_mail dm;
	struct dsn_rcptp dr;
	char h[DSNENV_HEADER_MAX], mp[DSNENV_PARAMS_MAX];
	char rp[DSNENV_PARAMS_MAX], *p, *kw, *v;
	const char *bad;
	int k, len, nfield = 0, nparse = 0, nmail = 0, nrcpt = 0;

	for (k = 0; k < NCASES; k++) {
		make_case(k, &e);
		len = dsnenv_header(&e, h, sizeof(h));
		nfield += len > 0 && field_ok(h, len);
		nparse += len > 0 && dsnenv_parse(h + sizeof(DSNENV_HEADER),
		    (size_t)len - sizeof(DSNENV_HEADER), &back) == 0 &&
		    same(&e, &back);
		memset(&dm, 0, sizeof(dm));
		if (dsnenv_mail_params(&e, mp, sizeof(mp)) == 0) {
			int good = 1;

			for (p = mp; esmtp_param_next(&p, &kw, &v);)
				good &= dsn_mail_param(&dm, kw, v) == 1;
			nmail += good && dm.ret == e.ret &&
			    strcmp(dm.envid, e.envid) == 0;
		}
		if (dsnenv_rcpt_params(&e, rp, sizeof(rp)) == 0 &&
		    dsn_rcpt_params(rp, &dr, &bad) == 0)
			nrcpt += dr.notify == e.notify &&
			    strcmp(dr.orcpt, e.orcpt) == 0;
	}
	is_int(nfield, NCASES, "every combination: a well-formed field");
	is_int(nparse, NCASES, "... that parses back to the same envelope");
	is_int(nmail, NCASES, "... MAIL parameters the intake reads back");
	is_int(nrcpt, NCASES, "... RCPT parameters the intake reads back");
	make_case(8, &e);
	dsnenv_mail_params(&e, mp, sizeof(mp));
	dsnenv_rcpt_params(&e, rp, sizeof(rp));
	is_str(mp, "", "no RET or ENVID: no MAIL parameters");
	is_str(rp, " NOTIFY=SUCCESS,FAILURE,DELAY", "NOTIFY written in order");
	make_case(9 + 27 * 2 + 81 * 2, &e);
	dsnenv_mail_params(&e, mp, sizeof(mp));
	dsnenv_rcpt_params(&e, rp, sizeof(rp));
	is_str(mp, " RET=FULL ENVID=a+2Bb+3Dc+20d~!", "RET and ENVID in xtext");
	is_str(rp, " ORCPT=rfc822;\"b+2Bo+3Db+20x\"@acme.example",
	    "ORCPT in xtext");
	memset(&e, 0, sizeof(e));
	memset(e.orcpt, 'x', QENV_ORCPT_MAX);
	memcpy(e.orcpt, "rfc822;", 7);
	len = dsnenv_header(&e, h, sizeof(h));
	ok(len > 0 && dsnenv_parse(h + sizeof(DSNENV_HEADER),
	    (size_t)len - sizeof(DSNENV_HEADER), &back) == 0 &&
	    strcmp(back.orcpt, e.orcpt) == 0, "the longest ORCPT survives");
	e.orcpt[10] = '\n';
	ok(dsnenv_header(&e, h, sizeof(h)) == -1, "an ORCPT with LF cannot be "
	    "written");
}

/* add_copy - one copy of msg with the field of e (none when !e). */
static int
add_copy(struct bundle *b, const char *rcpt, const struct dsnenv *e,
    const char *msg, size_t len)
{
	char h[DSNENV_HEADER_MAX], err[256];

	if (e != NULL && dsnenv_header(e, h, sizeof(h)) < 0)
		return 0;
	return bundle_add_buf(b, "alice@example.org", rcpt, e ? h : NULL,
	    msg, len, err, sizeof(err)) == RS_OK;
}

/* body_is - the message of m is "X-Envelope-To: <rcpt>\r\n" + want. */
static int
body_is(const struct bundle_msg *m, const char *rcpt, const char *want,
    size_t wlen)
{
	char head[300], *buf;
	size_t hl;
	int good;

	hl = (size_t)snprintf(head, sizeof(head), "X-Envelope-To: <%s>\r\n",
	    rcpt);
	if (m->size != hl + wlen || (buf = malloc(m->size)) == NULL)
		return 0;
	good = bundle_msg_pread(m, buf, m->size, 0) == (ssize_t)m->size &&
	    memcmp(buf, head, hl) == 0 && memcmp(buf + hl, want, wlen) == 0;
	free(buf);
	return good;
}

/* test_bundle - every combination through a real bundle and back. */
static void
test_bundle(void)
{
	static const char msg[] = "From: a@example.org\r\nSubject: hi\r\n"
	    "\r\nbody\r\n";
	static const char forged[] = "X-Mailbridge-Envelope: NOTIFY=NEVER\r\n"
	    "\tQID=0065A1B2C3D4E.1A2B.1\r\nX-Envelope-To: <evil@x>\r\n"
	    "x-mailbridge-envelope:ret=full\r\nSubject: forged\r\n\r\n"
	    "X-Mailbridge-Envelope: in the body stays\r\n";
	static const char kept[] = "Subject: forged\r\n\r\n"
	    "X-Mailbridge-Envelope: in the body stays\r\n";
	struct bundle_reader *r;
	struct bundle_msg m;
	struct dsnenv e, back;
	struct bundle *b;
	char name[BUNDLE_NAME_MAX], path[PATH_MAX], err[256], *big;
	size_t biglen = BUNDLE_MEM_MAX + 4096;
	int k, fd, nadd = 0, nback = 0, nbody = 0, rc;

	dir_make(WORK "/tmp", 0700);
	dir_make(WORK "/out", 0700);
	if (bundle_open(&b, WORK "/tmp", "acme", "hub.example", 6, err,
	    sizeof(err)) != RS_OK || (big = malloc(biglen)) == NULL) {
		ok(0, "bundle_open: %s", err);
		return;
	}
	for (k = 0; k < NCASES; k++) {
		make_case(k, &e);
		nadd += add_copy(b, "r@acme.example", &e, msg, sizeof(msg) - 1);
	}
	is_int(nadd, NCASES, "every combination written into a bundle");
	make_case(NCASES - 1, &e);
	memset(big, 'x', biglen);
	memcpy(big, "Subject: big\r\n\r\n", 17);
	memcpy(big + biglen - 2, "\r\n", 2);
	ok(add_copy(b, "big@acme.example", &e, big, biglen),
	    "a copy too big for memory");
	ok(add_copy(b, "evil@acme.example", &e, forged, sizeof(forged) - 1),
	    "a copy with forged fields");
	ok(add_copy(b, "old@acme.example", NULL, msg, sizeof(msg) - 1),
	    "a copy without a field");
	ok(bundle_publish(b, WORK "/out", name, sizeof(name), err,
	    sizeof(err)) == RS_OK, "published");
	snprintf(path, sizeof(path), WORK "/out/%s", name);
	fd = open(path, O_RDONLY);
	r = bundle_reader_open(fd, WORK "/tmp");
	for (k = 0; (rc = bundle_read_next(r, &m, err, sizeof(err))) == 1;
	    k++) {
		if (bundle_read_body(r, &m, 1, err, sizeof(err)) == -1)
			break;
		if (k < NCASES) {
			make_case(k, &e);
			nback += m.env != NULL && dsnenv_parse(m.env, m.envlen,
			    &back) == 0 && same(&e, &back);
			nbody += body_is(&m, "r@acme.example", msg,
			    sizeof(msg) - 1);
		} else if (k == NCASES) {
			ok(m.fd != -1 && m.env != NULL &&
			    body_is(&m, "big@acme.example", big, biglen),
			    "the big one: field taken off before it went to "
			    "a file");
		} else if (k == NCASES + 1) {
			ok(m.env != NULL && dsnenv_parse(m.env, m.envlen,
			    &back) == 0 && same(&e, &back), "forged copy: "
			    "the writer's field is the one read");
			ok(body_is(&m, "evil@acme.example", kept,
			    sizeof(kept) - 1), "... the forged fields are gone "
			    "from its header, not from its body");
		} else
			ok(m.env == NULL && body_is(&m, "old@acme.example", msg,
			    sizeof(msg) - 1), "a copy without a field: none "
			    "read, message unchanged");
		bundle_msg_free(&m);
	}
	is_int(rc, 0, "bundle read to its end");
	is_int(k, NCASES + 3, "every copy read");
	is_int(nback, NCASES, "every combination read back the same");
	is_int(nbody, NCASES, "... and each message without its field");
	bundle_reader_close(r);
	close(fd);
	free(big);
}

int
main(void)
{
	log_init("unit-dsnenv", LOG_TO_STDERR);
	nftw(WORK, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	if (dir_make(WORK, 0700) == -1) {
		printf("Bail out! cannot make %s\n", WORK);
		return 1;
	}
	test_xtext();
	test_parse();
	test_combinations();
	test_bundle();
	nftw(WORK, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return done_testing();
}
