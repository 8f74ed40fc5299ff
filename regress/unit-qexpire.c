/*
 * unit-qexpire.c - the lifetime sweeper (spoolfmt/qexpire.c,
 * bexpire.c) on a private spool: which recipients NOTIFY selects, one
 * delayed DSN and only one, expiry with a failed DSN before removal,
 * NOTIFY=NEVER, the null sender, the _dsn queue, a busy queue, expired
 * and damaged bundles in an outbox (their copies' envelopes honoured as
 * the queue's are).  Times are given, never waited for.
 */
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bundle.h"
#include "bundler.h"
#include "crashpt.h"
#include "dsnenv.h"
#include "log.h"
#include "qexpire.h"
#include "queue.h"
#include "tap.h"

#define T0	1732300000L
#define HOUR	3600L
#define DAY	86400L

static char spool[256];
static const char body[] = "Received: by hub.example (mailbridge) with "
    "ESMTP id 0065A1B2C3D4E.1A2B.3; Fri, 22 Nov 2024 18:26:40 +0000\r\n"
    "From: Bob <bob@example.net>\r\nSubject: crew list\r\n\r\nThe list.\r\n";

static int
rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

static int
count(const char *customer)
{
	char dir[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(dir, sizeof(dir), "%s/q/%s/new", spool, customer);
	if ((d = opendir(dir)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

/* dsn_text - the concatenated text of every entry in _dsn, then empty it. */
static char *
dsn_text(void)
{
	char dir[PATH_MAX], path[PATH_MAX + 300], *all = NULL;
	struct dirent *de;
	size_t len = 0;
	FILE *out, *f;
	DIR *d;
	int c;

	out = open_memstream(&all, &len);
	snprintf(dir, sizeof(dir), "%s/q/_dsn/new", spool);
	if ((d = opendir(dir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			if ((f = fopen(path, "r")) != NULL) {
				while ((c = getc(f)) != EOF)
					putc(c, out);
				fclose(f);
			}
			unlink(path);
		}
		closedir(d);
	}
	fclose(out);
	return all;
}

static void
entry(const char *customer, const char *id, time_t arrival,
    const char *sender, char **rcpts, int n, struct qrcpt_dsn *rd, int nrd,
    const char *envid)
{
	struct qwriter *w;
	struct qenv e;
	char err[256];

	memset(&e, 0, sizeof(e));
	strlcpy_(e.id, id, sizeof(e.id));
	strlcpy_(e.customer, customer, sizeof(e.customer));
	e.arrival = arrival;
	e.sender = (char *)sender;
	e.rcpts = rcpts;
	e.nrcpts = n;
	e.rdsn = rd;
	e.nrdsn = nrd;
	e.envid = (char *)envid;
	e.ret = envid != NULL ? QRET_HDRS : QRET_NONE;
	spool_prepare(spool, customer);
	if (qw_open(spool, &e, &w, err, sizeof(err)) != RS_OK ||
	    qw_write(w, body, sizeof(body) - 1) != RS_OK ||
	    qw_commit(w, err, sizeof(err)) != RS_OK)
		printf("# cannot write entry %s: %s\n", id, err);
}

static void
opts(struct qexpire_opts *o, const char *customer, time_t now)
{
	memset(o, 0, sizeof(*o));
	o->spool = spool;
	o->customer = customer;
	o->hostname = "hub.example";
	o->postmaster = "postmaster@hub.example";
	o->warn_after = 4 * HOUR;
	o->expire_after = 5 * DAY;
	o->now = now;
}

static void
test_select(void)
{
	char *r3[] = { "a@ship.example", "b@ship.example", "c@ship.example" };
	struct qrcpt_dsn rd[2] = {
		{ .addr = "a@ship.example", .notify = QN_NEVER },
		{ .addr = "c@ship.example", .notify = QN_DELAY,
		  .orcpt = "rfc822;C@ship.example" } };
	struct qexpire_opts o;
	struct dsn_rcpt rc[3];
	struct qenv e;

	opts(&o, "ship", T0);
	memset(&e, 0, sizeof(e));
	e.arrival = T0 - 5 * HOUR;
	e.rcpts = r3;
	e.nrcpts = 3;
	e.rdsn = rd;
	e.nrdsn = 2;
	is_int(qexpire_select(&o, &e, DSN_FAILED, "x", rc), 1,
	    "failed: NEVER and DELAY-only are left out");
	is_str(rc[0].addr, "b@ship.example", "  the one without NOTIFY");
	is_str(rc[0].status, "4.4.7", "  status 4.4.7");
	is_int(qexpire_select(&o, &e, DSN_DELAYED, "x", rc), 2,
	    "delayed: b (no NOTIFY) and c (DELAY)");
	is_str(rc[1].orcpt, "rfc822;C@ship.example", "  c's ORCPT");
	is_int(rc[1].retry_until, T0 - 5 * HOUR + 5 * DAY,
	    "  Will-Retry-Until = arrival + expire-after");
}

static void
test_queue(void)
{
	char *one[] = { "crew@ship.example" }, *two[] = { "a@ship.example",
	    "b@ship.example" }, *t;
	struct qrcpt_dsn orc = { .addr = "crew@ship.example",
	    .orcpt = "rfc822;Crew@Ship" };
	struct qrcpt_dsn never = { .addr = "a@ship.example",
	    .notify = QN_NEVER };
	struct qexpire_opts o;
	struct qexpire_stats st;
	struct qenv e;
	char path[PATH_MAX];

	entry("ship", "0065A1B2C3D4E.1A2B.1", T0 - 5 * HOUR, "bob@example.net",
	    one, 1, &orc, 1, "ENV-1");
	entry("ship", "0065A1B2C3D4E.1A2B.2", T0 - HOUR, "bob@example.net",
	    one, 1, NULL, 0, NULL);
	entry("ship", "0065A1B2C3D4E.1A2B.3", T0 - 5 * HOUR, "", one, 1, NULL,
	    0, NULL);
	entry("ship", "0065A1B2C3D4E.1A2B.4", T0 - 5 * HOUR, "carol@example.com",
	    two, 1, &never, 1, NULL);
	opts(&o, "ship", T0);
	ok(qexpire_run(&o, &st) == RS_OK, "first sweep");
	is_int(st.entries, 4, "four entries looked at");
	is_int(st.warned, 3, "three decided once: one warned about, the null "
	    "sender and NOTIFY=NEVER marked without a DSN");
	is_int(st.dsns, 1, "one DSN: null sender and NOTIFY=NEVER get none");
	is_int(count("_dsn"), 1, "one entry in _dsn");
	t = dsn_text();
	ok(t != NULL && strstr(t, "rcpt <bob@example.net>") != NULL,
	    "to the sender, from <>: %s", t && strstr(t, "sender <>") ?
	    "yes" : "no");
	ok(t != NULL && strstr(t, "Action: delayed\r\n") != NULL,
	    "Action: delayed");
	ok(t != NULL && strstr(t, "Original-Recipient: rfc822;Crew@Ship\r\n"),
	    "Original-Recipient from ORCPT");
	ok(t != NULL && strstr(t, "Original-Envelope-Id: ENV-1\r\n"),
	    "Original-Envelope-Id from ENVID");
	ok(t != NULL && strstr(t, "Will-Retry-Until: Wed, 27 Nov 2024 "
	    "13:26:40 +0000\r\n"), "Will-Retry-Until");
	free(t);
	q_path(path, sizeof(path), spool, "ship", "new",
	    "0065A1B2C3D4E.1A2B.1");
	ok(qenv_read(path, &e, NULL, NULL, 0) == RS_OK && e.warned == T0 &&
	    qenv_rcpt_dsn(&e, "crew@ship.example") != NULL,
	    "warned recorded, ORCPT kept");
	qenv_free(&e);

	opts(&o, "ship", T0 + HOUR);
	ok(qexpire_run(&o, &st) == RS_OK && st.dsns == 0 && st.warned == 0,
	    "second sweep: no second delayed DSN");
	is_int(count("_dsn"), 0, "_dsn still empty");

	opts(&o, "ship", T0 - 5 * HOUR + 5 * DAY);
	ok(qexpire_run(&o, &st) == RS_OK, "sweep at expire-after");
	is_int(st.expired, 3, "three entries expired");
	is_int(st.warned, 1, "the younger one is now warned about");
	is_int(st.dsns, 2, "one failed DSN (null sender, NEVER: none), one "
	    "delayed");
	is_int(count("ship"), 1, "the younger entry stays");
	t = dsn_text();
	ok(t != NULL && strstr(t, "Action: delayed\r\n") != NULL,
	    "the delayed one");
	ok(t != NULL && strstr(t, "Action: failed\r\nStatus: 4.4.7\r\n"),
	    "Action: failed, Status: 4.4.7");
	ok(t != NULL && strstr(t, "delivery time expired") != NULL,
	    "delivery time expired");
	ok(t != NULL && strstr(t, "text/rfc822-headers") != NULL &&
	    strstr(t, "The list.") == NULL, "RET=HDRS: headers only");
	free(t);

	o.customer = DSN_QUEUE;
	entry(DSN_QUEUE, "0065A1B2C3D4E.1A2B.5", T0 - 6 * DAY, "",
	    one, 1, NULL, 0, NULL);
	ok(qexpire_run(&o, &st) == RS_OK && st.expired == 1 && st.dsns == 1,
	    "_dsn: an expired DSN goes to the postmaster");
	is_int(count(DSN_QUEUE), 1, "_dsn holds the postmaster's copy");
	t = dsn_text();
	ok(t != NULL && strstr(t, "rcpt <postmaster@hub.example>") &&
	    strstr(t, "Final-Recipient: rfc822; crew@ship.example\r\n") &&
	    strstr(t, "Status: 4.4.7\r\n") &&
	    strstr(t, "Subject: Undeliverable delivery report (postmaster "
	    "copy)") && strstr(t, "delivery time expired: the relay") &&
	    strstr(t, "Content-Type: message/rfc822\r\n") &&
	    strstr(t, "The list."), "... about the DSN, which is attached");
	free(t);
	entry(DSN_QUEUE, "0065A1B2C3D4E.1A2B.7", T0 - 6 * DAY, "",
	    (char *[]){ "postmaster@hub.example" }, 1, NULL, 0, NULL);
	ok(qexpire_run(&o, &st) == RS_OK && st.expired == 1 && st.dsns == 0,
	    "_dsn: the postmaster's own copy expired: dropped, no DSN about "
	    "it");
	is_int(count(DSN_QUEUE), 0, "_dsn empty");
}

/* test_reply - the last 4xx reply in delayed and failed DSNs. */
static void
test_reply(void)
{
	char *one[] = { "crew@ship.example" }, path[PATH_MAX], *t;
	struct qexpire_opts o;
	struct qexpire_stats st;
	struct qenv e;

	entry("ship", "0065A1B2C3D4E.1A2B.6", T0 - 5 * HOUR, "bob@example.net",
	    one, 1, NULL, 0, NULL);
	q_path(path, sizeof(path), spool, "ship", "new",
	    "0065A1B2C3D4E.1A2B.6");
	ok(qenv_read(path, &e, NULL, NULL, 0) == RS_OK &&
	    qenv_set_reply(&e, e.rcpts[0], "mx.ship.example",
	    "452 4.2.2 <crew@ship.example>: mailbox full") == 0 &&
	    qenv_rewrite(spool, &e, NULL, 0) == RS_OK, "a 452 recorded");
	qenv_free(&e);
	opts(&o, "ship", T0);
	ok(qexpire_run(&o, &st) == RS_OK && st.dsns == 1, "delayed DSN");
	t = dsn_text();
	ok(t != NULL && strstr(t, "Status: 4.2.2\r\nRemote-MTA: dns; "
	    "mx.ship.example\r\nDiagnostic-Code: smtp; 452 4.2.2 "
	    "<crew@ship.example>: mailbox full\r\n"), "... with the remote's "
	    "status, Remote-MTA and its reply");
	free(t);
	opts(&o, "ship", T0 - 5 * HOUR + 5 * DAY);
	ok(qexpire_run(&o, &st) == RS_OK && st.dsns == 1 && st.expired == 1,
	    "failed DSN at expiry");
	t = dsn_text();
	ok(t != NULL && strstr(t, "Status: 4.4.7\r\nRemote-MTA: dns; "
	    "mx.ship.example\r\nDiagnostic-Code: smtp; 452 4.2.2 "
	    "<crew@ship.example>: mailbox full\r\n"), "... 4.4.7 with the "
	    "last remote reply");
	free(t);
}

static int
test_lifetimes(void *arg, const char *customer, long *warn, long *expire)
{
	(void)arg;
	if (strcmp(customer, "nosuch") == 0)
		return -1;
	*warn = 4 * HOUR;
	*expire = 5 * DAY;
	return 0;
}

/* warned_in - the warned time of customer's copy of id (-1: none). */
static long
warned_in(const char *customer, const char *id)
{
	char path[PATH_MAX];
	struct qenv e;
	long w;

	q_path(path, sizeof(path), spool, customer, "new", id);
	if (qenv_read(path, &e, NULL, NULL, 0) != RS_OK)
		return -1;
	w = (long)e.warned;
	qenv_free(&e);
	return w;
}

/*
 * test_siblings - a message with copies for two customers gets one
 * delayed DSN naming the recipients of both; the queue that sorts
 * first sends it, the other leaves it.
 */
static void
test_siblings(void)
{
	char *ra[] = { "a@boat.example" }, *rb[] = { "b@ship.example",
	    "c@ship.example" }, *t;
	const char *id = "0065A1B2C3D4E.1A2B.20";
	struct qexpire_opts o;
	struct qexpire_stats st;

	entry("boat", id, T0 - 5 * HOUR, "bob@example.net", ra, 1, NULL, 0,
	    NULL);
	entry("ship", id, T0 - 5 * HOUR, "bob@example.net", rb, 2, NULL, 0,
	    NULL);
	opts(&o, "ship", T0);
	o.lifetimes = test_lifetimes;
	ok(qexpire_run(&o, &st) == RS_OK && st.dsns == 0 && st.warned == 0,
	    "ship's sweep leaves the message to boat's (sorts first)");
	is_int(warned_in("ship", id), 0, "  ship's copy not marked");
	o.customer = "boat";
	ok(qexpire_run(&o, &st) == RS_OK && st.dsns == 1 && st.warned == 2,
	    "boat's sweep: one delayed DSN, both copies marked");
	t = dsn_text();
	ok(t != NULL && strstr(t, "Final-Recipient: rfc822; a@boat.example") &&
	    strstr(t, "Final-Recipient: rfc822; b@ship.example") &&
	    strstr(t, "Final-Recipient: rfc822; c@ship.example"),
	    "  naming the recipients of both copies");
	free(t);
	ok(warned_in("boat", id) == T0 && warned_in("ship", id) == T0,
	    "  both record it");
	o.customer = "ship";
	ok(qexpire_run(&o, &st) == RS_OK && st.dsns == 0,
	    "ship's next sweep: nothing more");
	q_remove(spool, "boat", id);
	q_remove(spool, "ship", id);
}

static void
test_busy(void)
{
	char dir[PATH_MAX];
	struct qexpire_opts o;
	struct qexpire_stats st;
	int fd;

	snprintf(dir, sizeof(dir), "%s/q/ship", spool);
	fd = open(dir, O_RDONLY | O_DIRECTORY);
	flock(fd, LOCK_EX);
	if (fork() == 0) {
		opts(&o, "ship", T0 + 10 * DAY);
		_exit(qexpire_run(&o, &st) == RS_TEMP && st.busy ? 0 : 1);
	}
	{
		int status = 1;

		wait(&status);
		ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		    "a locked queue is skipped (busy)");
	}
	close(fd);
	is_int(count("ship"), 1, "its entry untouched");
	opts(&o, "nosuch", T0);
	ok(qexpire_run(&o, &st) == RS_OK, "a queue that does not exist: ok");
}

/* When the messages that envhdr describes arrived. */
static time_t arrival_at = T0 - 7 * DAY;

/* envhdr - the X-Mailbridge-Envelope: field of one copy into buf. */
static const char *
envhdr(char *buf, size_t len, const char *qid, enum qret ret,
    const char *envid, unsigned notify, const char *orcpt)
{
	struct dsnenv e;

	memset(&e, 0, sizeof(e));
	strlcpy_(e.qid, qid, sizeof(e.qid));
	e.arrival = arrival_at;
	e.ret = ret;
	strlcpy_(e.envid, envid, sizeof(e.envid));
	e.notify = notify;
	strlcpy_(e.orcpt, orcpt, sizeof(e.orcpt));
	return dsnenv_header(&e, buf, len) > 0 ? buf : NULL;
}

static void
test_outbox(void)
{
	char outdir[512], tmpdir[PATH_MAX], name[BUNDLE_NAME_MAX];
	char bad[BUNDLE_NAME_MAX], err[256], h[DSNENV_HEADER_MAX], *t;
	static const char old[] = "From: Carol <carol@example.com>\r\n"
	    "Subject: old\r\n\r\nAn old bundle.\r\n";
	const char *q1 = "0065A1B2C3D4E.1A2B.3", *q2 = "0065A1B2C3D4E.1A2B.7";
	const char *q3 = "0065A1B2C3D4E.1A2B.8";
	struct qexpire_opts o;
	struct qexpire_stats st;
	struct bundle *b;
	FILE *f;
	int n = 0;

	bundler_outbox(outdir, sizeof(outdir), spool, "ship");
	snprintf(tmpdir, sizeof(tmpdir), "%s/bundle-tmp/ship/tmp", spool);
	dir_make(outdir, 0700);
	dir_make(tmpdir, 0700);
	ok(bundle_open(&b, tmpdir, "ship", "hub.example", 6, err,
	    sizeof(err)) == RS_OK, "bundle");
	n += bundle_add_buf(b, "bob@example.net", "a@ship.example",
	    envhdr(h, sizeof(h), q1, QRET_FULL, "E+1 x", 0, "rfc822;A@Ship"),
	    body, sizeof(body) - 1, err, sizeof(err)) == RS_OK;
	n += bundle_add_buf(b, "bob@example.net", "b@ship.example",
	    envhdr(h, sizeof(h), q1, QRET_FULL, "E+1 x", QN_NEVER, ""),
	    body, sizeof(body) - 1, err, sizeof(err)) == RS_OK;
	n += bundle_add_buf(b, "bob@example.net", "d@ship.example",
	    envhdr(h, sizeof(h), q1, QRET_FULL, "E+1 x", QN_FAILURE, ""),
	    body, sizeof(body) - 1, err, sizeof(err)) == RS_OK;
	n += bundle_add_buf(b, "", "c@ship.example",
	    envhdr(h, sizeof(h), q2, QRET_NONE, "", 0, ""),
	    body, sizeof(body) - 1, err, sizeof(err)) == RS_OK;
	n += bundle_add_buf(b, "dave@example.org", "g@ship.example",
	    envhdr(h, sizeof(h), q3, QRET_NONE, "", QN_SUCCESS, ""),
	    body, sizeof(body) - 1, err, sizeof(err)) == RS_OK;
	n += bundle_add_buf(b, "carol@example.com", "e@ship.example", NULL,
	    old, sizeof(old) - 1, err, sizeof(err)) == RS_OK;
	n += bundle_add_buf(b, "carol@example.com", "f@ship.example", NULL,
	    old, sizeof(old) - 1, err, sizeof(err)) == RS_OK;
	is_int(n, 7, "seven copies written, five with envelopes");
	ok(bundle_publish(b, outdir, name, sizeof(name), err, sizeof(err)) ==
	    RS_OK, "published %s", name);
	bundle_name_new(bad, sizeof(bad), "ship", ".bsmtp.gz");
	snprintf(tmpdir, sizeof(tmpdir), "%s/%s", outdir, bad);
	if ((f = fopen(tmpdir, "w")) != NULL) {
		fputs("\x1f\x8b garbage", f);
		fclose(f);
	}
	opts(&o, "ship", time(NULL) + DAY);
	o.warn_after = 0;
	ok(qexpire_run(&o, &st) == RS_OK && st.bundles == 0,
	    "young bundles stay");
	opts(&o, "ship", time(NULL) + 6 * DAY);
	o.warn_after = 0;
	qexpire_run(&o, &st);
	is_int(st.bundles, 1, "the old bundle expired");
	is_int(st.corrupt, 1, "the damaged one moved aside");
	is_int(st.dsns, 2, "two DSNs: <> and NOTIFY=SUCCESS get none");
	t = dsn_text();
	ok(t != NULL && strstr(t, "Final-Recipient: rfc822; a@ship.example") &&
	    strstr(t, "Final-Recipient: rfc822; d@ship.example"),
	    "no NOTIFY and NOTIFY=FAILURE are reported");
	ok(t != NULL && !strstr(t, "Final-Recipient: rfc822; b@ship.example"),
	    "NOTIFY=NEVER is not");
	ok(t != NULL && !strstr(t, "Final-Recipient: rfc822; g@ship.example"),
	    "NOTIFY=SUCCESS is not");
	ok(t != NULL && strstr(t, "Original-Recipient: rfc822;A@Ship\r\n"),
	    "Original-Recipient from the copy's ORCPT");
	ok(t != NULL && strstr(t, "Original-Envelope-Id: E+1 x\r\n"),
	    "Original-Envelope-Id from ENVID");
	ok(t != NULL && strstr(t, "Arrival-Date: Fri, 15 Nov 2024 18:26:40 "
	    "+0000\r\n"), "Arrival-Date from the envelope's ARRIVAL");
	ok(t != NULL && strstr(t, "Content-Type: message/rfc822\r\n") &&
	    strstr(t, "The list."), "RET=FULL: the whole message returned");
	ok(t != NULL && strstr(t, "X-Envelope-To") == NULL &&
	    strstr(t, DSNENV_HEADER) == NULL,
	    "no X-Envelope-To or envelope field in what is returned");
	ok(t != NULL && strstr(t, "X-Mailbridge-Queue-ID: "
	    "0065A1B2C3D4E.1A2B.3\r\n"), "queue id from the envelope");
	ok(t != NULL && strstr(t, "Final-Recipient: rfc822; e@ship.example") &&
	    strstr(t, "Final-Recipient: rfc822; f@ship.example") &&
	    strstr(t, "Subject: old"), "copies without envelopes: one DSN, "
	    "grouped by sender and header");
	free(t);
	snprintf(tmpdir, sizeof(tmpdir), "%s/%s", outdir, name);
	ok(access(tmpdir, F_OK) == -1, "bundle removed");
	snprintf(tmpdir, sizeof(tmpdir), "%s/bundle-tmp/ship/corrupt/%s",
	    spool, bad);
	ok(access(tmpdir, F_OK) == 0, "damaged bundle in bundle-tmp/ship/"
	    "corrupt");
}

/*
 * test_outbox_warn - a bundle whose messages arrived warn-after ago
 * (here just before it was made) gets delayed DSNs once.
 */
static void
test_outbox_warn(void)
{
	char outdir[512], tmpdir[PATH_MAX], name[BUNDLE_NAME_MAX], err[256];
	char h[DSNENV_HEADER_MAX], gone[PATH_MAX], *t;
	struct qexpire_opts o;
	struct qexpire_stats st;
	struct dsnenv e;
	struct bundle *b;
	time_t made;
	int n = 0;

	spool_prepare(spool, "raft");
	bundler_outbox(outdir, sizeof(outdir), spool, "raft");
	snprintf(tmpdir, sizeof(tmpdir), "%s/bundle-tmp/raft/tmp", spool);
	dir_make(outdir, 0700);
	dir_make(tmpdir, 0700);
	arrival_at = time(NULL);
	if (bundle_open(&b, tmpdir, "raft", "hub.example", 6, err,
	    sizeof(err)) != RS_OK) {
		ok(0, "bundle: %s", err);
		return;
	}
	n += bundle_add_buf(b, "bob@example.net", "a@raft.example",
	    envhdr(h, sizeof(h), "0065A1B2C3D4E.1A2B.31", QRET_FULL, "W1", 0,
	    "rfc822;A@Raft"), body, sizeof(body) - 1, err, sizeof(err)) ==
	    RS_OK;
	memset(&e, 0, sizeof(e));
	strlcpy_(e.qid, "0065A1B2C3D4E.1A2B.32", sizeof(e.qid));
	e.arrival = arrival_at;
	e.warned = T0;
	dsnenv_header(&e, h, sizeof(h));
	n += bundle_add_buf(b, "bob@example.net", "b@raft.example", h, body,
	    sizeof(body) - 1, err, sizeof(err)) == RS_OK;
	n += bundle_add_buf(b, "bob@example.net", "c@raft.example",
	    envhdr(h, sizeof(h), "0065A1B2C3D4E.1A2B.33", QRET_NONE, "",
	    QN_NEVER, ""), body, sizeof(body) - 1, err, sizeof(err)) == RS_OK;
	ok(n == 3 && bundle_publish(b, outdir, name, sizeof(name), err,
	    sizeof(err)) == RS_OK, "a bundle of three messages");
	made = qid_time(name);
	opts(&o, "raft", made + HOUR);
	ok(qexpire_run(&o, &st) == RS_OK && st.dsns == 0,
	    "young: no delayed DSN");
	opts(&o, "raft", made + 5 * HOUR);
	ok(qexpire_run(&o, &st) == RS_OK && st.dsns == 1 && st.warned == 1,
	    "past warn-after: one delayed DSN (one message warned while "
	    "queued, one NOTIFY=NEVER)");
	t = dsn_text();
	ok(t != NULL && strstr(t, "Action: delayed\r\n") &&
	    strstr(t, "Final-Recipient: rfc822; a@raft.example") &&
	    !strstr(t, "b@raft.example") && !strstr(t, "c@raft.example") &&
	    strstr(t, "Original-Recipient: rfc822;A@Raft") &&
	    strstr(t, "Original-Envelope-Id: W1") &&
	    strstr(t, "Will-Retry-Until: ") &&
	    strstr(t, "text/rfc822-headers"), "... about a, with ORCPT, ENVID, "
	    "Will-Retry-Until, headers only");
	free(t);
	snprintf(tmpdir, sizeof(tmpdir), "%s/bundle-tmp/raft/%s.warned", spool,
	    name);
	ok(access(tmpdir, F_OK) == 0, "the bundle's marker");
	opts(&o, "raft", made + 6 * HOUR);
	ok(qexpire_run(&o, &st) == RS_OK && st.dsns == 0,
	    "the next sweep: no second one");
	snprintf(gone, sizeof(gone), "%s/%s", outdir, name);
	unlink(gone);
	ok(qexpire_run(&o, &st) == RS_OK && access(tmpdir, F_OK) == -1,
	    "the bundle fetched: its marker goes too");
	arrival_at = T0 - 7 * DAY;
}

static const char *crash_at;

static void
crash(const char *step)
{
	if (strcmp(step, crash_at) == 0)
		raise(SIGKILL);
}

/* crashed_run - qexpire_run in a child killed (-9) at step. */
static int
crashed_run(const char *step, const char *customer, time_t now)
{
	struct qexpire_opts o;
	struct qexpire_stats st;
	int status = 0;
	pid_t pid;

	fflush(NULL);
	if ((pid = fork()) == 0) {
		crash_at = step;
		spool_set_crash_hook(crash);
		opts(&o, customer, now);
		qexpire_run(&o, &st);
		_exit(0);
	}
	waitpid(pid, &status, 0);
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

/* test_crash_bundle - the same between a bundle's DSNs and its unlink. */
static void
test_crash_bundle(void)
{
	char outdir[512], tmpdir[700], name[BUNDLE_NAME_MAX], err[256];
	struct qexpire_opts o;
	struct qexpire_stats st;
	struct bundle *b;

	bundler_outbox(outdir, sizeof(outdir), spool, "boat");
	snprintf(tmpdir, sizeof(tmpdir), "%s/bundle-tmp/boat/tmp", spool);
	dir_make(outdir, 0700);
	dir_make(tmpdir, 0700);
	if (bundle_open(&b, tmpdir, "boat", "hub.example", 6, err,
	    sizeof(err)) != RS_OK ||
	    bundle_add_buf(b, "bob@example.net", "a@boat.example", NULL,
	    body,
	    sizeof(body) - 1, err, sizeof(err)) != RS_OK ||
	    bundle_publish(b, outdir, name, sizeof(name), err, sizeof(err)) !=
	    RS_OK) {
		ok(0, "bundle for the crash test: %s", err);
		return;
	}
	ok(crashed_run("bundle-dsns-committed", "boat", time(NULL) + 6 * DAY),
	    "killed after a bundle's DSNs were committed");
	is_int(count("_dsn"), 1, "  the DSN is committed");
	snprintf(tmpdir, sizeof(tmpdir), "%s/%s", outdir, name);
	ok(access(tmpdir, F_OK) == 0, "  the bundle is still there");
	opts(&o, "boat", time(NULL) + 6 * DAY);
	ok(qexpire_run(&o, &st) == RS_OK && st.bundles == 1 && st.dsns == 1,
	    "  next sweep: expired with a second DSN");
	ok(access(tmpdir, F_OK) == -1, "  and removed");
	free(dsn_text());
}

/*
 * test_crash - kill -9 between the DSN's commit and the entry's
 * removal or rewrite: the entry is still there, and the next sweep
 * finishes the job, sending the DSN at most twice.
 */
static void
test_crash(void)
{
	char *one[] = { "crew@ship.example" };
	struct qexpire_opts o;
	struct qexpire_stats st;

	entry("boat", "0065A1B2C3D4E.1A2B.9", T0 - 5 * HOUR, "bob@example.net",
	    one, 1, NULL, 0, NULL);
	ok(crashed_run("warn-dsn-committed", "boat", T0), "killed after the "
	    "delayed DSN's commit");
	is_int(count("_dsn"), 1, "  the DSN is committed");
	is_int(count("boat"), 1, "  the entry is still there");
	opts(&o, "boat", T0);
	ok(qexpire_run(&o, &st) == RS_OK && st.warned == 1, "  next sweep: "
	    "warned again (a duplicate, nothing lost)");
	free(dsn_text());
	ok(crashed_run("expire-dsn-committed", "boat", T0 + 6 * DAY),
	    "killed after the failed DSN's commit");
	is_int(count("_dsn"), 1, "  the DSN is committed");
	is_int(count("boat"), 1, "  the entry is still there");
	opts(&o, "boat", T0 + 6 * DAY);
	ok(qexpire_run(&o, &st) == RS_OK && st.expired == 1 && st.dsns == 1,
	    "  next sweep: expired with a second DSN");
	is_int(count("boat"), 0, "  and removed");
	free(dsn_text());
	test_crash_bundle();
}

int
main(void)
{
	log_init("unit-qexpire", LOG_TO_STDERR);
	snprintf(spool, sizeof(spool), "regress/work/unit-qexpire/spool");
	nftw("regress/work/unit-qexpire", rm_one, 16, FTW_DEPTH | FTW_PHYS);
	if (dir_make(spool, 0700) == -1) {
		printf("Bail out! cannot make %s\n", spool);
		return 1;
	}
	test_select();
	test_queue();
	test_reply();
	test_siblings();
	test_busy();
	test_outbox();
	test_outbox_warn();
	test_crash();
	return done_testing();
}
