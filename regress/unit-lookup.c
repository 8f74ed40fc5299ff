/*
 * unit-lookup.c - the lookup process's decisions (etrn/lookup.c) and
 * the verdict tokens (conf/verdict.c), driven message by message as
 * lookupd.c drives them: RCPT verdicts and their tokens, MAIL, ETRN
 * authorised by the master's peer address or by AUTH, the flush
 * request it makes, AUTH CRAM-MD5 with a real secret file, ATRN, and
 * every request that must cut a session off.  No network.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "chan.h"
#include "conf.h"
#include "cram.h"
#include "lookup.h"
#include "lproto.h"
#include "penalty.h"
#include "qclient.h"
#include "queue.h"
#include "rcptlist.h"
#include "routes.h"
#include "util.h"
#include "verdict.h"
#include "tap.h"

static char spool[256];
static struct customer custs[3];
static struct cidr nets[1];
static struct bridge_conf conf;
static struct lookup_srv srv;
static char flushed[SMTPD_REQ_MAX];
static int nflush;

static const char routes_text[] =
    "acme.test      acme\n"
    ".acme.test     acme\n"
    "ship.test      ship\n"
    "gone.test      error:5.1.2 this domain has moved\n";

static int	turn_cb(void *, const char *, const char *, const char *, int);

static int
flush_cb(void *arg, const char *req)
{
	(void)arg;
	strlcpy_(flushed, req, sizeof(flushed));
	nflush++;
	return 0;
}

static void
setup(void)
{
	char path[512];
	FILE *f;
	int nerr = 0, i, fd;

	snprintf(spool, sizeof(spool), "/tmp/unit-lookup.XXXXXX");
	if (mkdtemp(spool) == NULL)
		exit(1);
	snprintf(path, sizeof(path), "%s/acme.users", spool);
	f = fopen(path, "w");
	fputs("alice\nbob@acme.test\n", f);
	fclose(f);
	custs[0].name = "acme";
	custs[0].rcpts = rcptlist_load(path, stderr, &nerr);
	custs[0].release = REL_ETRN | REL_ODMR;
	snprintf(path, sizeof(path), "%s/acme.secret", spool);
	/* 0600 from the start: no chmod by path */
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) == -1 || write(fd, "s3cret\n", 7) != 7)
		exit(1);
	close(fd);
	custs[0].secret = strdup(path);
	cidr_parse("192.0.2.0/24", &nets[0]);
	custs[0].etrn_from = nets;
	custs[0].netrn_from = 1;
	custs[1].name = "ship";
	custs[1].release = REL_ETRN;
	custs[1].max_size = 100;
	custs[2].name = "full";
	custs[2].release = REL_ETRN;
	custs[2].quota = 1;
	conf.hostname = "hub.test";
	conf.spool = spool;
	conf.smtp.max_size = 20000;
	conf.customers = custs;
	conf.ncustomers = 3;
	conf.routes = routes_load_buf("routes", routes_text, stderr, &nerr);
	if (conf.routes == NULL || nerr != 0 || custs[0].rcpts == NULL)
		exit(1);
	for (i = 0; i < 3; i++)
		spool_prepare(spool, custs[i].name);
	srv.conf = &conf;
	srv.flush = flush_cb;
	srv.turn = turn_cb;
	if (verdict_key_new(srv.key) == -1)
		exit(1);
	srv.have_key = 1;
}

static char turned[64];
static int nturn, turn_fd = -1;

static int
turn_cb(void *arg, const char *customer, const char *addr, const char *name,
    int fd)
{
	(void)arg;
	(void)addr;
	(void)name;
	strlcpy_(turned, customer, sizeof(turned));
	nturn++;
	turn_fd = fd;
	return 0;
}

static int ask_fd = -1;		/* the next ask's descriptor */

/* ask - one request of type with string arguments a, b (NULL: none). */
static int
ask(struct lookup_sess *ls, uint32_t type, const char *a, const char *b,
    struct lookup_reply *r)
{
	static struct chan_msg m;
	struct chan_wr w;
	int rv;

	chan_wr_init(&w, m.data, sizeof(m.data));
	if (a != NULL)
		chan_put_str(&w, a);
	if (b != NULL)
		chan_put_str(&w, b);
	m.type = type;
	m.len = (uint32_t)w.len;
	m.fd = ask_fd;
	ask_fd = -1;
	rv = lookup_serve(&srv, ls, &m, r);
	if (m.fd != -1)
		close(m.fd);		/* not taken: the caller's */
	return rv;
}

static int
mail(struct lookup_sess *ls, uint64_t size, struct lookup_reply *r)
{
	static struct chan_msg m;
	struct chan_wr w;

	chan_wr_init(&w, m.data, sizeof(m.data));
	chan_put_u64(&w, size);
	m.type = LM_MAIL;
	m.len = (uint32_t)w.len;
	m.fd = -1;
	return lookup_serve(&srv, ls, &m, r);
}

static void
test_verdict(void)
{
	unsigned char k1[VERDICT_KEY], k2[VERDICT_KEY], t[VERDICT_LEN];
	char big[2000];

	verdict_key_new(k1);
	verdict_key_new(k2);
	ok(memcmp(k1, k2, VERDICT_KEY) != 0, "two keys differ");
	is_int(verdict_make(k1, 7, "acme", "alice@acme.test", t), 0,
	    "verdict_make");
	ok(verdict_check(k1, 7, "acme", "alice@acme.test", t),
	    "the token checks");
	ok(!verdict_check(k1, 8, "acme", "alice@acme.test", t),
	    "not for another session");
	ok(!verdict_check(k1, 7, "ship", "alice@acme.test", t),
	    "not for another customer");
	ok(!verdict_check(k1, 7, "acme", "bob@acme.test", t),
	    "not for another recipient");
	ok(!verdict_check(k1, 7, "acm", "ealice@acme.test", t),
	    "not for the same octets split elsewhere");
	ok(!verdict_check(k2, 7, "acme", "alice@acme.test", t),
	    "not under another key");
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	is_int(verdict_make(k1, 7, "acme", big, t), -1,
	    "an input too long is refused");
	ok(!verdict_check(k1, 7, "acme", big, t), "and never matches");
}

static void
test_rcpt(void)
{
	struct lookup_sess ls;
	struct lookup_reply r;

	lookup_sess_init(&ls, 42, LOOKUP_SMTP, "198.51.100.7");
	is_int(mail(&ls, 0, &r), 0, "MAIL is a notice: not answered");
	is_int(ask(&ls, LM_RCPT, "alice@acme.test", "alice@acme.test", &r), 1,
	    "RCPT answered");
	is_int(r.code, 250, "a listed recipient: 250");
	is_str(r.customer, "acme", "named its customer");
	ok(r.have_token && verdict_check(srv.key, 42, "acme",
	    "alice@acme.test", r.token), "with the token for session 42");
	ask(&ls, LM_RCPT, "carol@acme.test", "Carol@acme.test", &r);
	is_int(r.code, 550, "an unlisted recipient: 550");
	is_str(r.status, "5.1.1", "5.1.1");
	ok(!r.have_token && r.customer[0] == '\0', "no token, no customer");
	ask(&ls, LM_RCPT, "x@example.org", "x@example.org", &r);
	is_int(r.code, 550, "another domain: 550");
	ok(strstr(r.text, "Relay access denied") != NULL, "relay denied (%s)",
	    r.text);
	ask(&ls, LM_RCPT, "x@gone.test", "x@gone.test", &r);
	ok(r.code == 550 && strcmp(r.status, "5.1.2") == 0 &&
	    strstr(r.text, "this domain has moved") != NULL,
	    "an error route: its status and text (%d %s %s)", r.code,
	    r.status, r.text);
	ask(&ls, LM_RCPT, "nodomain", "nodomain", &r);
	is_int(r.code, 501, "no @: 501");
	ask(&ls, LM_RCPT, "alice@ACME.test", "alice@ACME.test", &r);
	ok(r.code == 501 && !r.have_token,
	    "an address not in its canonical form (a session's own): 501");
	ask(&ls, LM_RCPT, "a\r\nb@acme.test", "x", &r);
	is_int(r.code, 501, "a CR LF inside: 501");
	mail(&ls, 200, &r);
	ask(&ls, LM_RCPT, "x@ship.test", "x@ship.test", &r);
	is_int(r.code, 552, "over the customer's max-size: 552");
	mail(&ls, 30000, &r);
	ask(&ls, LM_RCPT, "alice@acme.test", "alice@acme.test", &r);
	ok(r.code == 552 && strcmp(r.status, "5.3.4") == 0 &&
	    strstr(r.text, "<alice@acme.test>") != NULL && !r.have_token,
	    "MAIL over max-size: each RCPT gets 552 5.3.4 (%s), no token",
	    r.text);
	conf.queue.min_free = UINT64_MAX / 2;
	mail(&ls, 0, &r);
	ask(&ls, LM_RCPT, "alice@acme.test", "alice@acme.test", &r);
	ok(r.code == 452 && strcmp(r.status, "4.3.1") == 0 && !r.have_token,
	    "MAIL without the free space: each RCPT gets 452 4.3.1 (%s)",
	    r.text);
	ask(&ls, LM_RCPT, "bob@acme.test", "bob@acme.test", &r);
	is_int(r.code, 452, "... the next RCPT too");
	conf.queue.min_free = 0;
	mail(&ls, 0, &r);
	ask(&ls, LM_RCPT, "alice@acme.test", "alice@acme.test", &r);
	is_int(r.code, 250, "the next MAIL with space again: RCPT 250");
	srv.have_key = 0;
	mail(&ls, 0, &r);
	ask(&ls, LM_RCPT, "y@ship.test", "y@ship.test", &r);
	ok(r.code == 250 && !r.have_token, "without a key: no token");
	srv.have_key = 1;
}

/* queue_one - one message in customer's queue, written directly. */
static void
queue_one(const char *customer)
{
	struct qlink *l = qlink_direct(spool);
	struct qcw *w;
	struct qenv e;
	enum result res;
	char *rcpts[1] = { "x@acme.test" }, err[256];

	memset(&e, 0, sizeof(e));
	strlcpy_(e.customer, customer, sizeof(e.customer));
	e.protocol = "ESMTP";
	e.client = "c [192.0.2.9]";
	e.sender = "s@example.org";
	e.rcpts = rcpts;
	e.nrcpts = 1;
	if (qc_open(l, &e, NULL, &w, err, sizeof(err)) != RS_OK ||
	    qc_write(w, "Subject: x\r\n\r\nx\r\n", 17) != RS_OK ||
	    qc_commit(&w, 1, 1, &res, err, sizeof(err)) != 1)
		fprintf(stderr, "queue_one: %s\n", err);
	qlink_free(l);
}

static void
test_etrn(void)
{
	struct lookup_sess ls;
	struct lookup_reply r;

	lookup_sess_init(&ls, 1, LOOKUP_SMTP, "192.0.2.1");
	ask(&ls, LM_ETRN, "#acme", NULL, &r);
	is_int(r.code, 251, "ETRN #acme from etrn-from, nothing waiting: 251");
	queue_one("acme");
	nflush = 0;
	ask(&ls, LM_ETRN, "@ACME.test", NULL, &r);
	is_int(r.code, 253, "with mail waiting: 253 (%s)", r.text);
	is_int(nflush, 1, "one flush asked of the master");
	is_str(flushed, "flush acme 192.0.2.1 acme.test",
	    "for the master's address, the normalised domain");
	ask(&ls, LM_ETRN, "#acme", NULL, &r);
	is_str(flushed, "flush acme 192.0.2.1", "#acme names no domain");
	lookup_sess_init(&ls, 2, LOOKUP_SMTP, "198.51.100.7");
	nflush = 0;
	ask(&ls, LM_ETRN, "acme.test", NULL, &r);
	is_int(r.code, 459, "from an address outside etrn-from: 459");
	ok(strstr(r.text, "client address not authorised") != NULL,
	    "says why (%s)", r.text);
	is_int(nflush, 0, "and asks for no flush");
	ask(&ls, LM_ETRN, "com", NULL, &r);
	is_int(r.code, 459, "a single label: 459");
	ask(&ls, LM_ETRN, "bad!x.test", NULL, &r);
	is_int(r.code, 501, "a bad domain: 501");
	ask(&ls, LM_ETRN, "#../x", NULL, &r);
	is_int(r.code, 501, "a path as queue name: 501");
	ask(&ls, LM_ETRN, "#nosuch", NULL, &r);
	is_int(r.code, 459, "an unknown queue: 459");
	srv.flush = NULL;
	lookup_sess_init(&ls, 3, LOOKUP_SMTP, "192.0.2.1");
	ask(&ls, LM_ETRN, "#acme", NULL, &r);
	is_int(r.code, 458, "no master to ask: 458");
	srv.flush = flush_cb;
}

/* The master's side of LM_COUNT, as the lookup process uses it. */
static char counted_cust[2][64], counted_dom[2][300];
static int ncount, count_fail;

static int
count_cb(void *arg, const struct lookup_sess *ls, char *const *customers,
    char *const *domains, int n)
{
	int i;

	(void)arg;
	(void)ls;
	ncount = n;
	for (i = 0; i < n && i < 2; i++) {
		strlcpy_(counted_cust[i], customers[i], sizeof(counted_cust[i]));
		strlcpy_(counted_dom[i], domains[i] != NULL ? domains[i] : "-",
		    sizeof(counted_dom[i]));
	}
	return count_fail ? -1 : 0;
}

/* the lookup process: the master counts and flushes, then it answers */
static void
test_etrn_counted(void)
{
	struct lookup_sess ls;
	struct lookup_reply r;
	uint64_t c;

	srv.count = count_cb;
	nflush = 0;
	lookup_sess_init(&ls, 4, LOOKUP_SMTP, "192.0.2.1");
	is_int(ask(&ls, LM_ETRN, "@acme.test", NULL, &r), 0,
	    "an authorised ETRN is not answered at once");
	ok(ncount == 1 && strcmp(counted_cust[0], "acme") == 0 &&
	    strcmp(counted_dom[0], "acme.test") == 0,
	    "the master is asked to count acme for acme.test");
	is_int(nflush, 0, "and the lookup asks for no flush itself");
	is_int(ask(&ls, LM_MAIL, NULL, NULL, &r), -1,
	    "a request before the ETRN's answer: cut off");
	lookup_sess_init(&ls, 4, LOOKUP_SMTP, "192.0.2.1");
	ask(&ls, LM_ETRN, "#acme", NULL, &r);
	is_str(counted_dom[0], "-", "#acme: no domain");
	c = 7;
	is_int(lookup_etrn_counted(&ls, &c, 2, &r), 0,
	    "counts of another number of customers: no answer");
	is_int(lookup_etrn_counted(&ls, &c, 1, &r), 1, "its counts: answered");
	ok(r.code == 253 && strstr(r.text, "7 pending") != NULL,
	    "253 with the master's count (%s)", r.text);
	is_int(lookup_etrn_counted(&ls, &c, 1, &r), 0,
	    "a second answer is dropped");
	ask(&ls, LM_ETRN, "#acme", NULL, &r);
	c = 0;
	lookup_etrn_counted(&ls, &c, 1, &r);
	is_int(r.code, 251, "none waiting: 251");
	ask(&ls, LM_ETRN, "#acme", NULL, &r);
	c = ETRN_UNCOUNTED;
	lookup_etrn_counted(&ls, &c, 1, &r);
	is_int(r.code, 458, "not counted by the master: 458");
	count_fail = 1;
	is_int(ask(&ls, LM_ETRN, "#acme", NULL, &r), 1,
	    "the master cannot be asked: answered at once");
	is_int(r.code, 458, "458");
	count_fail = 0;
	lookup_sess_init(&ls, 5, LOOKUP_SMTP, "198.51.100.7");
	ncount = 0;
	ask(&ls, LM_ETRN, "acme.test", NULL, &r);
	ok(r.code == 459 && ncount == 0,
	    "refused: 459 at once, nothing asked of the master");
	srv.count = NULL;
}

/* answer - the CRAM-MD5 answer to r's challenge with secret. */
static void
answer(const struct lookup_reply *r, const char *user, const char *secret,
    char *out, size_t len)
{
	if (cram_answer(user, secret, r->text, out, len) == -1)
		out[0] = '\0';
}

static void
test_auth(void)
{
	struct lookup_sess ls;
	struct lookup_reply r;
	char line[CRAM_ANSWER_MAX];
	int i;

	lookup_sess_init(&ls, 5, LOOKUP_SMTP, "198.51.100.7");
	is_int(ask(&ls, LM_ANSWER, "abc", NULL, &r), -1,
	    "an answer to no challenge: cut off");
	ask(&ls, LM_AUTH, "DIGEST-MD5", NULL, &r);
	is_int(r.code, 504, "another mechanism: 504");
	ask(&ls, LM_AUTH, "PLAIN", NULL, &r);
	ok(r.code == 538 && strcmp(r.status, "5.7.11") == 0,
	    "PLAIN in clear: 538 5.7.11");
	ask(&ls, LM_AUTH, "CRAM-MD5 xyz", NULL, &r);
	is_int(r.code, 501, "an initial response: 501");
	ask(&ls, LM_AUTH, "CRAM-MD5", NULL, &r);
	is_int(r.code, 334, "CRAM-MD5: 334 with the challenge");
	answer(&r, "acme", "s3cret", line, sizeof(line));
	ask(&ls, LM_ANSWER, line, NULL, &r);
	is_int(r.code, 235, "the right digest: 235");
	is_str(ls.cram.auth, "acme", "the session is acme's now");
	ask(&ls, LM_AUTH, "CRAM-MD5", NULL, &r);
	is_int(r.code, 503, "AUTH again: 503");
	nflush = 0;
	ask(&ls, LM_ETRN, "#acme", NULL, &r);
	is_int(r.code, 253, "authenticated, ETRN from outside etrn-from: 253");
	is_int(nflush, 1, "and the flush is asked");

	lookup_sess_init(&ls, 6, LOOKUP_SMTP, "198.51.100.7");
	for (i = 0; i < CRAM_FAILS; i++) {
		ask(&ls, LM_AUTH, "CRAM-MD5", NULL, &r);
		answer(&r, "acme", "wrong", line, sizeof(line));
		ask(&ls, LM_ANSWER, line, NULL, &r);
	}
	ok(r.code == 421 && r.close, "the %d-th failure: 421 and close",
	    CRAM_FAILS);
	ok(ls.cram.auth[0] == '\0', "not authenticated");
	lookup_sess_init(&ls, 7, LOOKUP_SMTP, "198.51.100.7");
	ask(&ls, LM_AUTH, "CRAM-MD5", NULL, &r);
	ask(&ls, LM_ANSWER, "*", NULL, &r);
	is_int(r.code, 501, "\"*\" cancels: 501");
	ask(&ls, LM_AUTH, "CRAM-MD5", NULL, &r);
	ask(&ls, LM_ANSWER, "", NULL, &r);
	is_int(r.code, 501, "a malformed answer line: 501");
	lookup_sess_init(&ls, 8, LOOKUP_LMTP, "unix");
	is_int(ask(&ls, LM_AUTH, "CRAM-MD5", NULL, &r), -1,
	    "AUTH on the LMTP socket: cut off");
}

static struct penalty pen;

/* penalty.h: counting, locking, expiry, the IPv6 /64 and a full table. */
static void
test_penalty(void)
{
	static struct penalty p;
	char key[PENALTY_KEY];
	int i, n = 0;

	is_int(penalty_addr_key('a', "192.0.2.9", key, sizeof(key)), 0,
	    "an IPv4 address is a key");
	is_str(key, "a 192.0.2.9", "... of itself");
	penalty_addr_key('a', "2001:db8:1:2:aa::5", key, sizeof(key));
	is_str(key, "a 2001:db8:1:2::/64", "an IPv6 address: its /64");
	penalty_addr_key('e', "::ffff:192.0.2.9", key, sizeof(key));
	is_str(key, "e 192.0.2.9", "an IPv4-mapped one: its IPv4 address");
	is_int(penalty_addr_key('a', "unix", key, sizeof(key)), -1,
	    "a unix socket is none");
	is_int(penalty_add(&p, "k", 100, 60, 3, 600), 1, "one event: 1");
	is_int(penalty_add(&p, "k", 110, 60, 3, 600), 2, "two: 2");
	is_int(penalty_locked(&p, "k", 110), 0, "not locked below the limit");
	is_int(penalty_add(&p, "k", 120, 60, 3, 600), 3, "the third: 3");
	ok(penalty_locked(&p, "k", 120) == 600, "locked for 600 s");
	ok(penalty_locked(&p, "k", 719) > 0, "still at 719");
	is_int(penalty_locked(&p, "k", 721), 0, "free at 721");
	is_int(penalty_add(&p, "w", 0, 60, 3, 600), 1, "a window opens");
	is_int(penalty_add(&p, "w", 61, 60, 3, 600), 1,
	    "an event after it: a new window");
	/* a locked key survives a flood of new ones */
	penalty_add(&p, "held", 1000, 60, 1, 600);
	for (i = 0; i < 2 * PENALTY_MAX; i++) {
		snprintf(key, sizeof(key), "flood %d", i);
		penalty_add(&p, key, 1001 + i * 0.001, 60, 0, 0);
	}
	ok(penalty_locked(&p, "held", 1100) > 0,
	    "a lockout outlives %d other keys", 2 * PENALTY_MAX);
	for (i = 0; i < PENALTY_MAX; i++)
		n += p.v[i].key[0] != '\0';
	is_int(n, PENALTY_MAX, "the table stays at its size");
}

/*
 * auth_once - a new session from peer, AUTH CRAM-MD5 as acme with
 * secret: the last reply into r (the 421 itself when AUTH is refused
 * before a challenge); ls is the session.
 */
static void
auth_once(struct lookup_sess *ls, uint32_t serial, const char *peer,
    const char *secret, struct lookup_reply *r)
{
	char line[CRAM_ANSWER_MAX];

	lookup_sess_init(ls, serial, LOOKUP_SMTP, peer);
	ask(ls, LM_AUTH, "CRAM-MD5", NULL, r);
	if (r->code != 334)
		return;
	answer(r, "acme", secret, line, sizeof(line));
	ask(ls, LM_ANSWER, line, NULL, r);
}

/* penalties_off - forget every count, stop counting. */
static void
penalties_off(void)
{
	memset(&pen, 0, sizeof(pen));
	srv.pen = NULL;
}

/* b64 - base64 of n octets of s (NULs and all) into out. */
static const char *
b64(const char *s, size_t n, char *out)
{
	EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s,
	    (int)n);
	return out;
}

/* PLAIN and LOGIN: only after LM_TLS; the steps; the lockout counts */
static void
test_auth_password(void)
{
	struct lookup_sess ls;
	struct lookup_reply r;
	char line[CRAM_ANSWER_MAX], arg[CRAM_ANSWER_MAX + 8], buf[64];

	lookup_sess_init(&ls, 9, LOOKUP_SMTP, "198.51.100.8");
	snprintf(arg, sizeof(arg), "PLAIN %s", b64("\0acme\0s3cret", 12,
	    line));
	ask(&ls, LM_AUTH, arg, NULL, &r);
	is_int(r.code, 538, "PLAIN with the right password in clear: 538");
	is_int(ask(&ls, LM_TLS, NULL, NULL, &r), 0, "LM_TLS: not answered");
	ask(&ls, LM_AUTH, arg, NULL, &r);
	ok(r.code == 235 && strcmp(ls.cram.auth, "acme") == 0,
	    "under TLS, PLAIN's initial response: 235, acme");
	lookup_sess_init(&ls, 10, LOOKUP_SMTP, "198.51.100.8");
	ask(&ls, LM_TLS, NULL, NULL, &r);
	ask(&ls, LM_AUTH, "PLAIN", NULL, &r);
	ok(r.code == 334 && r.text[0] == '\0', "PLAIN alone: an empty 334");
	ask(&ls, LM_ANSWER, b64("\0acme\0s3cre", 11, line), NULL, &r);
	is_int(r.code, 535, "a wrong password: 535");
	ask(&ls, LM_AUTH, "PLAIN", NULL, &r);
	ask(&ls, LM_ANSWER, b64("\0acme\0s3cret\0x", 14, line), NULL, &r);
	is_int(r.code, 501, "a third NUL: malformed, 501");
	lookup_sess_init(&ls, 11, LOOKUP_ODMR, "198.51.100.8");
	ask(&ls, LM_TLS, NULL, NULL, &r);
	ask(&ls, LM_AUTH, "login", NULL, &r);
	ok(r.code == 334 && strcmp(r.text, "VXNlcm5hbWU6") == 0,
	    "LOGIN (any case): 334 Username:");
	ask(&ls, LM_ANSWER, b64("acme", 4, line), NULL, &r);
	ok(r.code == 334 && strcmp(r.text, "UGFzc3dvcmQ6") == 0,
	    "the name: 334 Password:");
	is_int(cram_answer_user(&ls.cram, "", buf, sizeof(buf)), 0,
	    "at the password the user is the name given");
	is_str(buf, "acme", "... acme");
	ask(&ls, LM_ANSWER, b64("s3cret", 6, line), NULL, &r);
	ok(r.code == 235 && strcmp(ls.cram.auth, "acme") == 0,
	    "its secret: 235, acme on the ODMR channel");
	lookup_sess_init(&ls, 12, LOOKUP_LMTP, "unix");
	is_int(ask(&ls, LM_TLS, NULL, NULL, &r), -1,
	    "LM_TLS on a local socket: cut off");

	/* the lockout counts PLAIN's failures for the customer it names */
	srv.pen = &pen;
	conf.smtp.auth_failures = 2;
	conf.smtp.auth_lockout = 900;
	lookup_sess_init(&ls, 13, LOOKUP_SMTP, "203.0.113.50");
	ask(&ls, LM_TLS, NULL, NULL, &r);
	snprintf(arg, sizeof(arg), "PLAIN %s", b64("\0acme\0guess", 11,
	    line));
	ask(&ls, LM_AUTH, arg, NULL, &r);
	ask(&ls, LM_AUTH, arg, NULL, &r);
	ok(r.code == 421 && r.close, "two wrong PLAINs: 421, locked out");
	lookup_sess_init(&ls, 14, LOOKUP_SMTP, "203.0.113.50");
	ask(&ls, LM_TLS, NULL, NULL, &r);
	snprintf(arg, sizeof(arg), "PLAIN %s", b64("\0acme\0s3cret", 12,
	    line));
	ask(&ls, LM_AUTH, arg, NULL, &r);
	ok(r.code == 421 && ls.cram.auth[0] == '\0',
	    "locked out: the right password is refused too");
	penalties_off();
	conf.smtp.auth_failures = 0;
}

/* failed AUTHs across sessions: delay, lockout, the right secret refused */
static void
test_auth_lockout(void)
{
	struct lookup_sess ls;
	struct lookup_reply r;
	char peer[32];
	int i, delays = 0, grows = 1, last = 0;

	srv.pen = &pen;
	conf.smtp.auth_failures = 5;
	conf.smtp.auth_lockout = 900;
	for (i = 0; i < 4; i++) {
		auth_once(&ls, 20 + i, "203.0.113.5", "guess", &r);
		if (r.code == 535)
			delays++;
		if (r.delay <= last)
			grows = 0;
		last = r.delay;
	}
	is_int(delays, 4, "four failures from new sessions: 535 each");
	ok(grows && last == 4, "each waits longer (the fourth %d s)", last);
	auth_once(&ls, 30, "203.0.113.5", "guess", &r);
	ok(r.code == 421 && r.close && strcmp(r.status, "4.7.0") == 0,
	    "the fifth: 421 4.7.0 and close (%d %s)", r.code, r.text);
	lookup_sess_init(&ls, 31, LOOKUP_SMTP, "203.0.113.5");
	ask(&ls, LM_AUTH, "CRAM-MD5", NULL, &r);
	ok(r.code == 421 && r.close, "locked out: AUTH itself is 421");
	auth_once(&ls, 32, "203.0.113.6", "s3cret", &r);
	is_int(r.code, 235, "another address with the right secret: 235");
	/* a guesser over many addresses locks the customer */
	for (i = 0; i < 40; i++) {
		snprintf(peer, sizeof(peer), "198.18.%d.%d", i / 4, i);
		auth_once(&ls, 40 + i, peer, "guess", &r);
		if (r.code == 421)
			break;
	}
	ok(r.code == 421 && i < 40, "failures for acme from %d addresses: "
	    "421 (%s)", i + 1, r.text);
	auth_once(&ls, 90, "203.0.113.7", "s3cret", &r);
	ok(r.code == 421 && ls.cram.auth[0] == '\0',
	    "acme locked: the right secret is refused too (%d)", r.code);
	penalties_off();
}

/* etrn-per-minute from one address; limits-exempt is not counted */
static void
test_etrn_rate(void)
{
	struct lookup_sess ls;
	struct lookup_reply r;
	struct cidr ex;
	int i, ok250 = 0;

	srv.pen = &pen;
	conf.smtp.etrn_per_minute = 3;
	lookup_sess_init(&ls, 100, LOOKUP_SMTP, "192.0.2.20");
	for (i = 0; i < 3; i++) {
		ask(&ls, LM_ETRN, "#acme", NULL, &r);
		ok250 += r.code / 100 == 2;
	}
	is_int(ok250, 3, "three ETRNs in a minute: answered");
	ask(&ls, LM_ETRN, "#acme", NULL, &r);
	ok(r.code == 458 && strcmp(r.status, "4.7.0") == 0,
	    "the fourth: 458 4.7.0 (%d)", r.code);
	cidr_parse("192.0.2.0/24", &ex);
	conf.smtp.exempt = &ex;
	conf.smtp.nexempt = 1;
	ask(&ls, LM_ETRN, "#acme", NULL, &r);
	ok(r.code / 100 == 2, "limits-exempt: not counted (%d)", r.code);
	conf.smtp.exempt = NULL;
	conf.smtp.nexempt = 0;
	conf.smtp.etrn_per_minute = 0;
	penalties_off();
}

static void
test_atrn(void)
{
	struct lookup_sess ls;
	struct lookup_reply r;
	char line[CRAM_ANSWER_MAX];

	lookup_sess_init(&ls, 9, LOOKUP_ODMR, "198.51.100.7");
	ask(&ls, LM_ATRN, "", NULL, &r);
	is_int(r.code, 530, "ATRN before AUTH: 530");
	ask(&ls, LM_AUTH, "CRAM-MD5", NULL, &r);
	answer(&r, "acme", "s3cret", line, sizeof(line));
	ask(&ls, LM_ANSWER, line, NULL, &r);
	is_int(r.code, 235, "ODMR AUTH: 235");
	nturn = 0;
	ask_fd = dup(0);
	ask(&ls, LM_ATRN, "", NULL, &r);
	ok(r.code == 250 && r.close && nturn == 1 &&
	    strcmp(turned, "acme") == 0, "ATRN, no domain: the customer's "
	    "whole queue, the connection handed on, the session to be quiet");
	ok(turn_fd != -1 && fcntl(turn_fd, F_GETFD) != -1,
	    "the descriptor went with it");
	close(turn_fd);
	ask_fd = dup(0);
	ask(&ls, LM_ATRN, "acme.test,Sub.Acme.Test", NULL, &r);
	ok(r.code == 250 && nturn == 2, "ATRN of its domains: 250 (%d %s)",
	    r.code, r.text);
	close(turn_fd);
	ask_fd = dup(0);
	ask(&ls, LM_ATRN, "acme.test,ship.test", NULL, &r);
	is_int(r.code, 450, "a domain of another customer's: 450");
	ok(nturn == 2 && r.customer[0] == '\0', "nothing handed on");
	ask(&ls, LM_ATRN, "", NULL, &r);
	ok(r.code == 451 && nturn == 2, "without the connection: 451 (%s)",
	    r.text);
	srv.turn = NULL;
	ask_fd = dup(0);
	ask(&ls, LM_ATRN, "", NULL, &r);
	ok(r.code == 451 && !r.close, "no master to hand it to: 451");
	srv.turn = turn_cb;
	ask(&ls, LM_ATRN, "bad!", NULL, &r);
	is_int(r.code, 501, "a bad domain: 501");
	is_int(ask(&ls, LM_ETRN, "#acme", NULL, &r), -1,
	    "ETRN on the ODMR listener: cut off");
	lookup_sess_init(&ls, 10, LOOKUP_SMTP, "192.0.2.1");
	is_int(ask(&ls, LM_ATRN, "", NULL, &r), -1,
	    "ATRN on the SMTP listener: cut off");
	is_int(ask(&ls, LM_FLUSH, "flush acme 192.0.2.66", NULL, &r), -1,
	    "a flush request from a session: cut off");
	is_int(ask(&ls, 999, NULL, NULL, &r), -1, "an unknown message: cut off");
	is_int(ask(&ls, LM_MAIL, "x", NULL, &r), -1, "a malformed MAIL: cut off");
	is_int(ask(&ls, LM_TURN, "acme", "192.0.2.66", &r), -1,
	    "a turn request from a session: cut off");
	ask_fd = dup(0);
	is_int(ask(&ls, LM_RCPT, "alice@acme.test", "alice@acme.test", &r), -1,
	    "a descriptor with anything but ATRN: cut off");
}

static void
test_wire(void)
{
	static struct chan_msg m;
	struct lookup_reply r, g;
	struct chan_wr w;

	memset(&r, 0, sizeof(r));
	r.code = 250;
	strlcpy_(r.status, "2.1.5", sizeof(r.status));
	strlcpy_(r.text, "Ok", sizeof(r.text));
	strlcpy_(r.customer, "acme", sizeof(r.customer));
	r.delay = 3;
	r.have_token = 1;
	memset(r.token, 0xab, VERDICT_LEN);
	chan_wr_init(&w, m.data, sizeof(m.data));
	lookup_reply_put(&w, &r);
	m.type = LM_REPLY;
	m.len = (uint32_t)w.len;
	m.fd = -1;
	is_int(lookup_reply_get(&m, &g), 0, "a reply round trip");
	ok(g.code == 250 && strcmp(g.status, "2.1.5") == 0 &&
	    strcmp(g.customer, "acme") == 0 && g.have_token && g.delay == 3 &&
	    memcmp(g.token, r.token, VERDICT_LEN) == 0, "intact");
	m.len -= 3;
	is_int(lookup_reply_get(&m, &g), -1, "a short reply is refused");
	m.len += 3;
	m.type = LM_RCPT;
	is_int(lookup_reply_get(&m, &g), -1, "another type is refused");
	r.code = 999;
	chan_wr_init(&w, m.data, sizeof(m.data));
	lookup_reply_put(&w, &r);
	m.type = LM_REPLY;
	m.len = (uint32_t)w.len;
	is_int(lookup_reply_get(&m, &g), -1, "a code out of range is refused");
	r.code = 535;
	r.delay = AUTH_DELAY_MAX + 1;
	chan_wr_init(&w, m.data, sizeof(m.data));
	lookup_reply_put(&w, &r);
	m.len = (uint32_t)w.len;
	is_int(lookup_reply_get(&m, &g), -1, "a delay over the most is refused");
}

static int
rm(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

int
main(void)
{
	int rv;

	if (getenv("TEST_VERBOSE") == NULL)
		freopen("/dev/null", "w", stderr);
	setup();
	test_verdict();
	test_rcpt();
	test_etrn();
	test_etrn_counted();
	test_auth();
	test_auth_password();
	test_penalty();
	test_auth_lockout();
	test_etrn_rate();
	test_atrn();
	test_wire();
	rv = done_testing();
	nftw(spool, rm, 16, FTW_DEPTH | FTW_PHYS);
	return rv;
}
