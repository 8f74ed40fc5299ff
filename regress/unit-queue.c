/*
 * unit-queue.c - queue ids, entries and directories (spoolfmt/qid.c,
 * qenv.c, queue.c, qdir.c) on a real spool under regress/work/.
 * Covers the round trip of envelope and message, clones, the commit
 * protocol, truncation at many offsets and its quarantine, recovery of
 * tmp/ leftovers, forward compatibility, refused CR/LF, envelope
 * rewrites, write errors, id uniqueness across forked children and
 * usage counts.
 */
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qint.h"		/* q_copy */
#include "queue.h"
#include "tap.h"

static char spool[PATH_MAX];
static char errbuf[512];
static unsigned char *msg;		/* test message, MSG_LEN octets */
#define MSG_LEN		(200 * 1024 + 17)

/* --- helpers --------------------------------------------------------- */

static int
rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

static void
rm_rf(const char *p)
{
	nftw(p, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static char *rcpts2[] = { "bob@acme.example", "carol@acme.example" };

static void
env_init(struct qenv *e, const char *id, const char *customer,
    time_t arrival)
{
	memset(e, 0, sizeof(*e));
	strlcpy_(e->id, id, sizeof(e->id));
	strlcpy_(e->customer, customer, sizeof(e->customer));
	e->arrival = arrival;
	e->body_8bit = 1;
	e->protocol = "ESMTP";
	e->client = "mail.example.org [192.0.2.1]";
	e->helo = "mail.example.org";
	e->sender = "alice@example.org";
	e->rcpts = rcpts2;
	e->nrcpts = 2;
}

static char *
path_of(const char *customer, const char *sub, const char *id)
{
	static char p[4][PATH_MAX];
	static int i;

	i = (i + 1) % 4;
	if (q_path(p[i], sizeof(p[i]), spool, customer, sub, id) == -1)
		return "(bad path)";
	return p[i];
}

static int
exists(const char *p)
{
	struct stat st;

	return lstat(p, &st) == 0;
}

/* count_dir - entries in a directory, not "." and "..". */
static int
count_dir(const char *dir)
{
	struct dirent *de;
	DIR *d;
	int n = 0;

	if ((d = opendir(dir)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* slurp - the whole file into a fresh buffer. */
static unsigned char *
slurp(const char *p, size_t *len)
{
	struct stat st;
	unsigned char *b;
	int fd;

	if ((fd = open(p, O_RDONLY)) == -1 || fstat(fd, &st) == -1)
		return NULL;
	b = malloc((size_t)st.st_size + 1);
	if (b != NULL && read(fd, b, (size_t)st.st_size) != st.st_size) {
		free(b);
		b = NULL;
	}
	close(fd);
	*len = (size_t)st.st_size;
	return b;
}

static int
spit(const char *p, const void *b, size_t len)
{
	int fd, rc;

	if ((fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1)
		return -1;
	rc = write(fd, b, len) == (ssize_t)len ? 0 : -1;
	close(fd);
	return rc;
}

/* write_entry - a committed entry with the first len octets of msg. */
static enum result
write_entry(const struct qenv *e, size_t len)
{
	struct qwriter *w;
	enum result rs;

	if ((rs = qw_open(spool, e, &w, errbuf, sizeof(errbuf))) != RS_OK)
		return rs;
	if ((rs = qw_write(w, msg, len)) != RS_OK) {
		qw_abort(w);
		return rs;
	}
	return qw_commit(w, errbuf, sizeof(errbuf));
}

/* body_is - the message of the entry at path equals msg[0..len). */
static int
body_is(const char *path, size_t len)
{
	struct qenv e;
	off_t off;
	size_t flen;
	unsigned char *b;
	int same;

	if (qenv_read(path, &e, &off, errbuf, sizeof(errbuf)) != RS_OK)
		return 0;
	qenv_free(&e);
	if ((b = slurp(path, &flen)) == NULL)
		return 0;
	same = flen == (size_t)off + len && memcmp(b + off, msg, len) == 0;
	free(b);
	return same;
}

/* capture - run fn with stderr going to a file; return what it wrote. */
static char *
capture(int (*fn)(const char *), const char *arg, int *ret, char *file)
{
	size_t len;
	char *s;
	int fd, save;

	fflush(stderr);
	save = dup(2);
	fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	dup2(fd, 2);
	close(fd);
	*ret = fn(arg);
	fflush(stderr);
	dup2(save, 2);
	close(save);
	if ((s = (char *)slurp(file, &len)) != NULL)
		s[len] = '\0';
	return s;
}

static int
recover_q(const char *customer)
{
	return spool_recover(spool, customer);
}

/* --- tests ----------------------------------------------------------- */

static void
test_ids(void)
{
	char id[QID_LEN], prev[QID_LEN];
	int i, up = 1;

	qid_new(id, sizeof(id));
	ok(qid_is_valid(id), "fresh id %s is valid", id);
	ok(strlen(id) < QID_LEN, "id fits QID_LEN");
	for (i = 0; i < 1000; i++) {
		strlcpy_(prev, id, sizeof(prev));
		qid_new(id, sizeof(id));
		if (strcmp(prev, id) >= 0)
			up = 0;
	}
	ok(up, "ids of one process increase strictly");
	ok(qid_is_valid("0065A1B2C3D4E.1A2B.3"), "example id valid");
	ok(!qid_is_valid("0065A1B2C3D4E.1A2B."), "empty counter refused");
	ok(!qid_is_valid("0065a1b2c3d4e.1A2B.3"), "lower case refused");
	ok(!qid_is_valid("065A1B2C3D4E.1A2B.3"), "short time refused");
	ok(!qid_is_valid("0065A1B2C3D4E.1A2B.3/x"), "slash refused");
	ok(!qid_is_valid("../../etc/passwd"), "path refused");
	ok(!qid_is_valid("0065A1B2C3D4E.123456789.3"), "long pid refused");
	ok(!qid_is_valid(""), "empty refused");
	ok(!qid_is_valid(NULL), "NULL refused");
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* test_ids_forked - 4 children x 500 ids + 0 in the parent: no dups. */
static void
test_ids_forked(void)
{
	enum { KIDS = 4, PER = 500 };
	char *ids[KIDS * PER], line[QID_LEN + 2];
	int fds[2], i, k, n = 0, dups = 0, status, bad = 0;
	pid_t pid;
	FILE *f;

	if (pipe(fds) == -1)
		return;
	fflush(stdout);
	for (k = 0; k < KIDS; k++) {
		if ((pid = fork()) == 0) {
			char id[QID_LEN], buf[PER * (QID_LEN + 1)];
			size_t off = 0;

			close(fds[0]);
			for (i = 0; i < PER; i++) {
				qid_new(id, sizeof(id));
				off += (size_t)snprintf(buf + off,
				    sizeof(buf) - off, "%s\n", id);
			}
			_exit(write(fds[1], buf, off) == (ssize_t)off ? 0 : 1);
		}
	}
	close(fds[1]);
	f = fdopen(fds[0], "r");
	while (n < KIDS * PER && fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (!qid_is_valid(line))
			bad++;
		ids[n++] = strdup(line);
	}
	fclose(f);
	for (k = 0; k < KIDS; k++)
		if (wait(&status) == -1 || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0)
			bad++;
	is_int(n, KIDS * PER, "2,000 ids from 4 forked children");
	qsort(ids, (size_t)n, sizeof(char *), cmp_str);
	for (i = 1; i < n; i++)
		if (strcmp(ids[i - 1], ids[i]) == 0)
			dups++;
	is_int(dups, 0, "no duplicate ids across processes");
	is_int(bad, 0, "all valid, all children fine");
	for (i = 0; i < n; i++)
		free(ids[i]);
}

static void
test_round_trip(void)
{
	char id[QID_LEN];
	struct qwriter *w;
	struct qenv e, r;
	struct stat st;
	off_t off;
	size_t i;
	int good = 1;

	qid_new(id, sizeof(id));
	env_init(&e, id, "acme", 1732300000);
	e.attempts = 2;
	e.last_attempt = 1732300100;
	e.next_attempt = 1732300700;
	ok(qw_open(spool, &e, &w, errbuf, sizeof(errbuf)) == RS_OK,
	    "qw_open (directories made on demand) %s", errbuf);
	ok(exists(path_of("acme", "tmp", id)), "being written: in tmp/");
	ok(!exists(path_of("acme", "new", id)), "being written: not in new/");
	for (i = 0; i < MSG_LEN; ) {
		size_t c = (i % 7 + 1) * 997;	/* odd chunks */

		if (i == 3 * 997)
			c = 70000;		/* one larger than the buffer */
		if (c > MSG_LEN - i)
			c = MSG_LEN - i;
		if (qw_write(w, msg + i, c) != RS_OK)
			good = 0;
		i += c;
	}
	ok(good, "qw_write in odd chunks");
	is_int(qw_size(w), MSG_LEN, "qw_size counts message octets");
	ok(qw_commit(w, errbuf, sizeof(errbuf)) == RS_OK, "commit: %s",
	    errbuf);
	ok(!exists(path_of("acme", "tmp", id)), "committed: gone from tmp/");
	ok(exists(path_of("acme", "new", id)), "committed: in new/");
	ok(stat(path_of("acme", "new", id), &st) == 0 &&
	    (st.st_mode & 0777) == 0600, "mode 0600");
	is_int(st.st_mtime, 1732300000, "mtime is the arrival time");
	ok(qenv_read(path_of("acme", "new", id), &r, &off, errbuf,
	    sizeof(errbuf)) == RS_OK, "qenv_read: %s", errbuf);
	is_str(r.id, id, "id");
	is_str(r.customer, "acme", "customer");
	is_int(r.arrival, 1732300000, "arrival");
	is_int(r.size, MSG_LEN, "size");
	is_int(r.body_8bit, 1, "body 8bit");
	is_str(r.protocol, "ESMTP", "protocol");
	is_str(r.client, "mail.example.org [192.0.2.1]", "client");
	is_str(r.helo, "mail.example.org", "helo");
	is_str(r.sender, "alice@example.org", "sender");
	is_int(r.nrcpts, 2, "two recipients");
	if (r.nrcpts == 2) {
		is_str(r.rcpts[0], "bob@acme.example", "rcpt 1");
		is_str(r.rcpts[1], "carol@acme.example", "rcpt 2");
	}
	is_int(r.attempts, 2, "attempts");
	is_int(r.last_attempt, 1732300100, "last-attempt");
	is_int(r.next_attempt, 1732300700, "next-attempt");
	is_int(off + (off_t)MSG_LEN, st.st_size, "file = envelope + size");
	qenv_free(&r);
	ok(body_is(path_of("acme", "new", id), MSG_LEN),
	    "message octets byte for byte");
}

static void
test_null_sender_empty_message(void)
{
	char id[QID_LEN];
	struct qenv e, r;
	char *one[] = { "postmaster@acme.example" };

	qid_new(id, sizeof(id));
	env_init(&e, id, "acme", 1732300001);
	e.sender = "";
	e.rcpts = one;
	e.nrcpts = 1;
	e.body_8bit = 0;
	e.protocol = e.client = e.helo = NULL;
	ok(write_entry(&e, 0) == RS_OK, "empty message, null sender: %s",
	    errbuf);
	ok(qenv_read(path_of("acme", "new", id), &r, NULL, errbuf,
	    sizeof(errbuf)) == RS_OK, "read back: %s", errbuf);
	is_str(r.sender, "", "null sender read back as \"\"");
	is_int(r.size, 0, "size 0");
	is_int(r.body_8bit, 0, "body 7bit");
	ok(r.protocol == NULL && r.client == NULL && r.helo == NULL,
	    "optional fields absent");
	qenv_free(&r);
}

static void
test_clone(void)
{
	char id[QID_LEN];
	struct qwriter *w, *c;
	struct qenv e, e2, r;

	qid_new(id, sizeof(id));
	env_init(&e, id, "acme", 1732300002);
	env_init(&e2, id, "ship", 1732300002);
	ok(qw_open(spool, &e, &w, errbuf, sizeof(errbuf)) == RS_OK &&
	    qw_write(w, msg, 100000) == RS_OK, "source written");
	ok(qw_clone(w, spool, &e2, &c, errbuf, sizeof(errbuf)) == RS_OK,
	    "qw_clone: %s", errbuf);
	is_int(qw_size(c), 100000, "clone has the source's size");
	ok(!exists(path_of("ship", "new", id)), "clone not in new/ yet");
	ok(qw_commit(c, errbuf, sizeof(errbuf)) == RS_OK, "clone committed");
	ok(qw_commit(w, errbuf, sizeof(errbuf)) == RS_OK, "source committed");
	ok(body_is(path_of("ship", "new", id), 100000),
	    "clone carries the same message octets");
	ok(body_is(path_of("acme", "new", id), 100000),
	    "source unharmed by the clone");
	ok(qenv_read(path_of("ship", "new", id), &r, NULL, errbuf,
	    sizeof(errbuf)) == RS_OK && strcmp(r.customer, "ship") == 0,
	    "clone has its own envelope");
	qenv_free(&r);
}

static void
test_abort(void)
{
	char id[QID_LEN];
	struct qwriter *w;
	struct qenv e;

	qid_new(id, sizeof(id));
	env_init(&e, id, "acme", 1732300003);
	ok(qw_open(spool, &e, &w, errbuf, sizeof(errbuf)) == RS_OK &&
	    qw_write(w, msg, 5000) == RS_OK, "written, then aborted");
	qw_abort(w);
	ok(!exists(path_of("acme", "tmp", id)) &&
	    !exists(path_of("acme", "new", id)), "abort leaves nothing");
	ok(qw_open(spool, &e, &w, errbuf, sizeof(errbuf)) == RS_OK,
	    "same id can be written again after abort");
	qw_abort(w);
}

static void
test_refused(void)
{
	char id[QID_LEN], big[QENV_LINE_MAX + 10];
	struct qwriter *w = NULL;
	struct qenv e;
	char *crlf[] = { "bob@acme.example", "evil@x\r\nrcpt <y@z>" };

	qid_new(id, sizeof(id));
	env_init(&e, id, "acme", 1732300004);
	e.sender = "a@b\r\nrcpt <injected@x>";
	ok(qw_open(spool, &e, &w, errbuf, sizeof(errbuf)) == RS_PERM &&
	    w == NULL, "CR/LF in sender refused (%s)", errbuf);
	env_init(&e, id, "acme", 1732300004);
	e.rcpts = crlf;
	ok(qw_open(spool, &e, &w, errbuf, sizeof(errbuf)) == RS_PERM,
	    "CR/LF in rcpt refused (%s)", errbuf);
	env_init(&e, id, "acme", 1732300004);
	e.helo = "x\ny";
	ok(qw_open(spool, &e, &w, errbuf, sizeof(errbuf)) == RS_PERM,
	    "LF in helo refused");
	env_init(&e, id, "acme", 1732300004);
	e.client = "x\r [1.2.3.4]";
	ok(qw_open(spool, &e, &w, errbuf, sizeof(errbuf)) == RS_PERM,
	    "CR in client refused");
	env_init(&e, id, "acme", 1732300004);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	e.sender = big;
	ok(qw_open(spool, &e, &w, errbuf, sizeof(errbuf)) == RS_PERM,
	    "over-long line refused (%s)", errbuf);
	env_init(&e, id, "acme", 1732300004);
	e.nrcpts = 0;
	ok(qw_open(spool, &e, &w, errbuf, sizeof(errbuf)) == RS_PERM,
	    "no recipient refused");
	env_init(&e, "../x", "acme", 1732300004);
	ok(qw_open(spool, &e, &w, errbuf, sizeof(errbuf)) == RS_PERM,
	    "bad id refused");
	env_init(&e, id, "../acme", 1732300004);
	ok(qw_open(spool, &e, &w, errbuf, sizeof(errbuf)) == RS_PERM,
	    "bad customer refused");
	is_int(count_dir(path_of("acme", "tmp", NULL)), 0,
	    "refusals leave nothing in tmp/");
}

/* test_write_error - a file size limit makes writes fail like ENOSPC. */
static void
test_write_error(void)
{
	char id[QID_LEN];
	struct rlimit old, lim;
	struct qwriter *w;
	struct qenv e;
	enum result rs;

	qid_new(id, sizeof(id));
	env_init(&e, id, "acme", 1732300005);
	signal(SIGXFSZ, SIG_IGN);
	getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	lim.rlim_cur = 150000;
	setrlimit(RLIMIT_FSIZE, &lim);
	rs = qw_open(spool, &e, &w, errbuf, sizeof(errbuf));
	if (rs == RS_OK) {
		qw_write(w, msg, MSG_LEN);	/* may fail now or later */
		rs = qw_commit(w, errbuf, sizeof(errbuf));
	}
	setrlimit(RLIMIT_FSIZE, &old);
	is_int(rs, RS_TEMP, "write error -> RS_TEMP (%s)", errbuf);
	ok(strstr(errbuf, id) != NULL, "error names the entry");
	ok(!exists(path_of("acme", "tmp", id)), "tmp removed after error");
	ok(!exists(path_of("acme", "new", id)), "nothing in new/");
}

/* make_cut - a copy of a good entry cut to len octets, as new/<id>. */
static int
make_cut(const unsigned char *good, size_t len, const char *id,
    const char *goodid)
{
	unsigned char *b = malloc(len + 1);
	char *p;
	int rc;

	memcpy(b, good, len);
	/* give the copy its own id (same length) so the names agree */
	if ((p = memmem(b, len, goodid, strlen(goodid))) != NULL)
		memcpy(p, id, strlen(id));
	rc = spit(path_of("cut", "new", id), b, len);
	free(b);
	return rc;
}

static void
test_truncated(void)
{
	char goodid[QID_LEN], ids[16][QID_LEN], *logs, *p;
	unsigned char *good;
	size_t glen, cuts[16];
	struct qenv e, r;
	off_t off;
	int i, n = 0, perm = 0, moved, same = 0;

	qid_new(goodid, sizeof(goodid));
	env_init(&e, goodid, "cut", 1732300006);
	ok(write_entry(&e, 4096) == RS_OK, "entry to cut: %s", errbuf);
	qenv_read(path_of("cut", "new", goodid), &r, &off, errbuf,
	    sizeof(errbuf));
	qenv_free(&r);
	good = slurp(path_of("cut", "new", goodid), &glen);
	/* inside the magic, inside the envelope, at its end, in the body */
	cuts[n++] = 0;
	cuts[n++] = 3;
	cuts[n++] = 10;
	cuts[n++] = (size_t)off / 2;
	cuts[n++] = (size_t)off - 1;
	cuts[n++] = (size_t)off;
	cuts[n++] = (size_t)off + 1;
	cuts[n++] = (size_t)off + 1234;
	cuts[n++] = glen - 1;
	for (i = 0; i < n; i++) {
		qid_new(ids[i], sizeof(ids[i]));
		while (strlen(ids[i]) != strlen(goodid))
			qid_new(ids[i], sizeof(ids[i]));
		make_cut(good, cuts[i], ids[i], goodid);
		if (qenv_read(path_of("cut", "new", ids[i]), &r, NULL, errbuf,
		    sizeof(errbuf)) == RS_PERM)
			perm++;
		else
			printf("# cut at %zu not refused\n", cuts[i]);
		if (cuts[i] == (size_t)off + 1234)
			is_str(errbuf, "truncated: 1234 of 4096 message octets",
			    "reason names the octets");
	}
	is_int(perm, n, "every cut refused with RS_PERM");
	moved = 0;
	logs = capture(recover_q, "cut", &moved,
	    "regress/work/unit-queue/recover.log");
	is_int(moved, n, "spool_recover moved every cut file");
	ok(exists(path_of("cut", "new", goodid)), "good entry stays in new/");
	is_int(count_dir(path_of("cut", "new", NULL)), 1, "only it stays");
	for (i = 0; i < n; i++) {
		size_t l;
		unsigned char *b = slurp(path_of("cut", "corrupt", ids[i]), &l);

		if (b != NULL && l == cuts[i])
			same++;
		free(b);
	}
	is_int(same, n, "every cut file kept whole in corrupt/");
	p = logs ? strstr(logs, "moved to corrupt/: truncated: 1234 of 4096 "
	    "message octets") : NULL;
	ok(p != NULL, "log line gives the reason");
	snprintf(errbuf, sizeof(errbuf), "cut/%s: moved to corrupt/", ids[0]);
	ok(logs && strstr(logs, errbuf), "log line names customer/id");
	free(logs);
	free(good);
}

static void
test_recover_misc(void)
{
	char id[QID_LEN], id2[QID_LEN], *logs;
	struct qenv e;
	int moved;

	/* tmp leftovers */
	spool_prepare(spool, "misc");
	qid_new(id, sizeof(id));
	spit(path_of("misc", "tmp", id), "MBQ 1\nid ", 9);
	{
		char p[PATH_MAX];

		snprintf(p, sizeof(p), "%s/junk", path_of("misc", "tmp", NULL));
		spit(p, "x", 1);
	}
	/* an entry whose envelope names another id */
	qid_new(id2, sizeof(id2));
	env_init(&e, id2, "misc", 1732300007);
	write_entry(&e, 10);
	rename(path_of("misc", "new", id2), path_of("misc", "new", id));
	/* a corrupt/ name already taken: moved under a fresh name */
	spit(path_of("misc", "corrupt", id), "older", 5);
	/* a file that is not an id */
	{
		char p[PATH_MAX];

		snprintf(p, sizeof(p), "%s/README", path_of("misc", "new",
		    NULL));
		spit(p, "hello\n", 6);
	}
	/* a good one */
	env_init(&e, id2, "misc", 1732300007);
	write_entry(&e, 10);
	logs = capture(recover_q, "misc", &moved,
	    "regress/work/unit-queue/recover2.log");
	is_int(count_dir(path_of("misc", "tmp", NULL)), 0, "tmp/ swept");
	snprintf(errbuf, sizeof(errbuf), "misc/%s: removed incomplete tmp "
	    "file", id);
	ok(logs && strstr(logs, errbuf), "sweep logged per file");
	is_int(moved, 2, "mismatched id and stray file moved");
	ok(logs && strstr(logs, "envelope names id"), "mismatch reason");
	ok(logs && strstr(logs, "misc/README: moved to corrupt/: name is not "
	    "a queue id"), "stray file reason");
	{
		char p[PATH_MAX];
		size_t l;
		unsigned char *b;

		snprintf(p, sizeof(p), "%s.1", path_of("misc", "corrupt", id));
		ok(exists(p), "taken corrupt/ name: moved as <id>.1");
		b = slurp(path_of("misc", "corrupt", id), &l);
		ok(b && l == 5 && memcmp(b, "older", 5) == 0,
		    "earlier quarantined file untouched");
		free(b);
	}
	ok(exists(path_of("misc", "new", id2)), "good entry stays");
	free(logs);
}

/* read_raw - new/<id> of customer "raw" with this text, no checks. */
static enum result
read_raw(const char *text, size_t len)
{
	char id[QID_LEN], buf[4096];
	struct qenv r;
	enum result rs;

	qid_new(id, sizeof(id));
	spool_prepare(spool, "raw");
	snprintf(buf, sizeof(buf), text, id);
	len = strlen(buf) + len;
	memset(buf + strlen(buf), 'm', len - strlen(buf));
	spit(path_of("raw", "new", id), buf, len);
	rs = qenv_read(path_of("raw", "new", id), &r, NULL, errbuf,
	    sizeof(errbuf));
	qenv_free(&r);
	return rs;
}

static void
test_parse(void)
{
	char big[3000];

	is_int(read_raw("MBQ 1\nid %s\ncustomer raw\narrival 1\nsize 5\n"
	    "x-future something new\nodd-line-without-value\n"
	    "sender <a@b>\nrcpt <c@d>\n\n", 5), RS_OK,
	    "unknown fields ignored");
	is_int(read_raw("MBQ 1\nid %s\ncustomer raw\narrival 1\nsize 5\n"
	    "sender <a@b>\n\n", 5), RS_PERM, "no rcpt refused");
	ok(strstr(errbuf, "missing field rcpt") != NULL, "reason: %s",
	    errbuf);
	is_int(read_raw("MBQ 1\nid %s\ncustomer raw\nsize 5\n"
	    "sender <a@b>\nrcpt <c@d>\n\n", 5), RS_PERM, "no arrival refused");
	is_int(read_raw("MBQ 1\nid %s\ncustomer raw\narrival 1\n"
	    "sender <a@b>\nrcpt <c@d>\n\n", 0), RS_PERM, "no size refused");
	is_int(read_raw("MBQ 1\nid %s\narrival 1\nsize 0\n"
	    "sender <a@b>\nrcpt <c@d>\n\n", 0), RS_PERM,
	    "no customer refused");
	is_int(read_raw("MBQ 1\ncustomer raw\narrival 1\nsize 0\n"
	    "sender <a@b>\nrcpt <c@d>\n\n%s", 0), RS_PERM, "no id refused");
	is_int(read_raw("MBQ 1\nid %s\ncustomer raw\narrival 1\nsize 0\n"
	    "rcpt <c@d>\n\n", 0), RS_PERM, "no sender refused");
	is_int(read_raw("MBQ 2\nid %s\ncustomer raw\narrival 1\nsize 0\n"
	    "sender <a@b>\nrcpt <c@d>\n\n", 0), RS_PERM, "MBQ 2 refused");
	ok(strstr(errbuf, "version") != NULL, "reason: %s", errbuf);
	is_int(read_raw("From a@b\nid %s\n\n", 0), RS_PERM, "no magic refused");
	is_int(read_raw("MBQ 1\nid %s\ncustomer raw\narrival 1x\nsize 0\n"
	    "sender <a@b>\nrcpt <c@d>\n\n", 0), RS_PERM, "bad number refused");
	is_int(read_raw("MBQ 1\nid %s\ncustomer raw\narrival 1\nsize 0\n"
	    "size 0\nsender <a@b>\nrcpt <c@d>\n\n", 0), RS_PERM,
	    "duplicate field refused");
	is_int(read_raw("MBQ 1\nid %s\ncustomer raw\narrival 1\nsize 0\n"
	    "sender a@b\nrcpt <c@d>\n\n", 0), RS_PERM,
	    "sender without <> refused");
	is_int(read_raw("MBQ 1\nid %s\ncustomer raw\narrival 1\n"
	    "size 99999999999999999999\nsender <a@b>\nrcpt <c@d>\n\n", 0),
	    RS_PERM, "size overflow refused");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "x-long ", 7);
	{
		char t[4000];

		snprintf(t, sizeof(t), "MBQ 1\nid %%s\ncustomer raw\narrival 1"
		    "\nsize 0\n%s\nsender <a@b>\nrcpt <c@d>\n\n", big);
		is_int(read_raw(t, 0), RS_PERM, "over-long line refused");
		ok(strstr(errbuf, "longer than") != NULL, "reason: %s",
		    errbuf);
	}
	is_int(read_raw("MBQ 1\nid %s\ncustomer raw\narrival 1\nsize 3\n"
	    "sender <a@b>\nrcpt <c@d>\n\n", 5), RS_PERM, "trailing octets");
	ok(strstr(errbuf, "2 octets beyond") != NULL, "reason: %s", errbuf);
}

static void
test_rewrite(void)
{
	char id[QID_LEN];
	struct qenv e, r;
	struct stat st;
	char *one[] = { "carol@acme.example" };

	qid_new(id, sizeof(id));
	env_init(&e, id, "acme", 1732300008);
	ok(write_entry(&e, 70000) == RS_OK, "entry to rewrite");
	e.rcpts = one;
	e.nrcpts = 1;
	e.attempts = 3;
	e.last_attempt = 1732309999;
	e.size = 1;		/* ignored: the message is kept */
	ok(qenv_rewrite(spool, &e, errbuf, sizeof(errbuf)) == RS_OK,
	    "qenv_rewrite: %s", errbuf);
	ok(qenv_read(path_of("acme", "new", id), &r, NULL, errbuf,
	    sizeof(errbuf)) == RS_OK, "read after rewrite");
	ok(r.nrcpts == 1 && strcmp(r.rcpts[0], "carol@acme.example") == 0,
	    "new recipient list");
	is_int(r.attempts, 3, "new attempts");
	is_int(r.size, 70000, "size kept");
	qenv_free(&r);
	ok(body_is(path_of("acme", "new", id), 70000),
	    "message octets kept byte for byte");
	ok(stat(path_of("acme", "new", id), &st) == 0 &&
	    st.st_mtime == 1732300008 && (st.st_mode & 0777) == 0600,
	    "mtime still the arrival, mode 0600");
	ok(!exists(path_of("acme", "tmp", id)), "no tmp left");
	spit(path_of("acme", "tmp", id), "busy", 4);
	ok(qenv_rewrite(spool, &e, errbuf, sizeof(errbuf)) == RS_TEMP,
	    "rewrite while tmp/<id> exists: RS_TEMP (%s)", errbuf);
	ok(exists(path_of("acme", "tmp", id)), "the other writer's file kept");
	unlink(path_of("acme", "tmp", id));
	e.sender = "x\ny";
	ok(qenv_rewrite(spool, &e, errbuf, sizeof(errbuf)) == RS_PERM,
	    "rewrite refuses LF");
	ok(body_is(path_of("acme", "new", id), 70000), "entry unharmed");
	ok(q_remove(spool, "acme", id) == RS_OK, "q_remove");
	ok(!exists(path_of("acme", "new", id)), "removed");
	ok(q_remove(spool, "acme", id) == RS_PERM, "second q_remove: RS_PERM");
	env_init(&e, id, "acme", 1732300008);
	ok(qenv_rewrite(spool, &e, errbuf, sizeof(errbuf)) == RS_PERM,
	    "rewrite of a removed entry refused, not resurrected");
	ok(!exists(path_of("acme", "new", id)), "still gone");
}

/* test_dsn_fields - envid, ret, notify, orcpt, warned round trip and
 * survive a rewrite that keeps only some recipients. */
static void
test_dsn_fields(void)
{
	char id[QID_LEN], *three[] = { "a@acme.example", "b@acme.example",
	    "c@acme.example" }, *left[] = { "c@acme.example" }, nb[40];
	struct qrcpt_dsn rd[2];
	const struct qrcpt_dsn *d;
	struct qenv e, r;
	unsigned bits;
	char **all;
	int nall;

	qid_new(id, sizeof(id));
	env_init(&e, id, "acme", 1732300009);
	e.rcpts = three;
	e.nrcpts = 3;
	e.envid = "QQ314159";
	e.ret = QRET_HDRS;
	memset(rd, 0, sizeof(rd));
	rd[0].addr = "a@acme.example";
	rd[0].notify = QN_NEVER;
	rd[1].addr = "c@acme.example";
	rd[1].notify = QN_FAILURE | QN_SUCCESS;
	rd[1].orcpt = "rfc822;C@Acme.Example";
	e.rdsn = rd;
	e.nrdsn = 2;
	ok(write_entry(&e, 100) == RS_OK, "entry with DSN fields: %s", errbuf);
	ok(qenv_read(path_of("acme", "new", id), &r, NULL, errbuf,
	    sizeof(errbuf)) == RS_OK, "read back");
	is_str(r.envid, "QQ314159", "envid");
	is_int(r.ret, QRET_HDRS, "ret hdrs");
	is_int(r.nrdsn, 2, "two recipients with parameters");
	d = qenv_rcpt_dsn(&r, "c@acme.example");
	ok(d != NULL && d->notify == (QN_FAILURE | QN_SUCCESS) &&
	    d->orcpt != NULL && strcmp(d->orcpt, "rfc822;C@Acme.Example") == 0,
	    "c: notify and orcpt");
	ok(qenv_rcpt_dsn(&r, "b@acme.example") == NULL, "b: none");
	ok(!qenv_notify(&r, "a@acme.example", QN_FAILURE), "NEVER: no failure");
	ok(qenv_notify(&r, "b@acme.example", QN_FAILURE) &&
	    qenv_notify(&r, "b@acme.example", QN_DELAY) &&
	    !qenv_notify(&r, "b@acme.example", QN_SUCCESS),
	    "no NOTIFY: failure and delay");
	ok(qenv_notify(&r, "c@acme.example", QN_FAILURE) &&
	    !qenv_notify(&r, "c@acme.example", QN_DELAY), "c: no delay");
	is_int(r.warned, 0, "not warned");
	r.warned = 1732400000;
	ok(qenv_set_reply(&r, r.rcpts[2], "mx.acme.example",
	    "451 4.2.0 <c@acme.example>: try again later") == 0 &&
	    qenv_set_reply(&r, r.rcpts[1], "mx.acme.example", "452 full") == 0,
	    "replies recorded for b and c");
	ok(qenv_set_reply(&r, r.rcpts[2], "two words", "451 x") == -1 &&
	    qenv_set_reply(&r, r.rcpts[2], "mx", "451 a\nb") == -1,
	    "a host with a space or a reply with LF refused");
	all = r.rcpts;
	nall = r.nrcpts;
	r.rcpts = left;
	r.nrcpts = 1;
	ok(qenv_rewrite(spool, &r, errbuf, sizeof(errbuf)) == RS_OK,
	    "rewrite with one recipient left: %s", errbuf);
	r.rcpts = all;
	r.nrcpts = nall;
	qenv_free(&r);
	ok(qenv_read(path_of("acme", "new", id), &r, NULL, errbuf,
	    sizeof(errbuf)) == RS_OK, "read the rewrite");
	is_int(r.nrdsn, 1, "only c's parameters left");
	d = qenv_rcpt_dsn(&r, "c@acme.example");
	ok(d != NULL && d->orcpt != NULL && d->notify == (QN_FAILURE |
	    QN_SUCCESS), "c's parameters kept");
	ok(d != NULL && d->remote != NULL && d->reply != NULL &&
	    strcmp(d->remote, "mx.acme.example") == 0 && strcmp(d->reply,
	    "451 4.2.0 <c@acme.example>: try again later") == 0,
	    "c's last reply and its host kept");
	is_int(r.warned, 1732400000, "warned recorded");
	is_str(r.envid, "QQ314159", "envid kept");
	qenv_free(&r);
	q_remove(spool, "acme", id);

	ok(qnotify_parse("never", &bits) == 0 && bits == QN_NEVER, "NEVER");
	ok(qnotify_parse("DELAY,failure", &bits) == 0 &&
	    bits == (QN_DELAY | QN_FAILURE), "list, any case");
	is_str(qnotify_format(bits, nb, sizeof(nb)), "FAILURE,DELAY",
	    "formatted in order");
	ok(qnotify_parse("FAILURE,FAILURE", &bits) == -1, "repeat refused");
	ok(qnotify_parse("NEVER,DELAY", &bits) == -1, "NEVER with others");
	ok(qnotify_parse("", &bits) == -1 && qnotify_parse("DELAY,", &bits) ==
	    -1, "empty word refused");
	is_int(read_raw("MBQ 1\nid %s\ncustomer raw\narrival 1\nsize 0\n"
	    "sender <a@b>\nnotify NEVER\nrcpt <c@d>\n\n", 0), RS_PERM,
	    "notify before any rcpt refused");
	is_int(read_raw("MBQ 1\nid %s\ncustomer raw\narrival 1\nsize 0\n"
	    "sender <a@b>\nrcpt <c@d>\nnotify DELAY\nnotify DELAY\n\n", 0),
	    RS_PERM, "two notify lines for one rcpt refused");
	is_int(read_raw("MBQ 1\nid %s\ncustomer raw\narrival 1\nsize 0\n"
	    "sender <a@b>\nrcpt <c@d>\norcpt nosemicolon\n\n", 0), RS_PERM,
	    "orcpt without a type refused");
	is_int(read_raw("MBQ 1\nid %s\ncustomer raw\narrival 1\nsize 0\n"
	    "sender <a@b>\nret some\nrcpt <c@d>\n\n", 0), RS_PERM,
	    "bad ret refused");
	is_int(read_raw("MBQ 1\nid %s\ncustomer raw\narrival 1\nsize 0\n"
	    "sender <a@b>\nrcpt <c@d>\nnotify DELAY\nrcpt <e@f>\n"
	    "notify SUCCESS\norcpt rfc822;e@f\n\n", 0), RS_OK,
	    "notify and orcpt for two recipients");
	is_int(read_raw("MBQ 1\nid %s\ncustomer raw\narrival 1\nsize 0\n"
	    "sender <a@b>\nrcpt <c@d>\nreply mx 451 later\n\n", 0), RS_OK,
	    "a reply line");
	is_int(read_raw("MBQ 1\nid %s\ncustomer raw\narrival 1\nsize 0\n"
	    "sender <a@b>\nrcpt <c@d>\nreply mx\n\n", 0), RS_PERM,
	    "a reply line without text refused");
	is_int(read_raw("MBQ 1\nid %s\ncustomer raw\narrival 1\nsize 0\n"
	    "sender <a@b>\nrcpt <c@d>\nreply mx 451 a\nreply mx 451 b\n\n",
	    0), RS_PERM, "two reply lines for one rcpt refused");
}

struct seen {
	int	n;
	char	last[QID_LEN];
	int	ordered;
	int	stop_at;
};

static int
list_cb(void *arg, const char *id, const char *path)
{
	struct seen *s = arg;

	(void)path;

	if (s->n > 0 && strcmp(s->last, id) >= 0)
		s->ordered = 0;
	strlcpy_(s->last, id, sizeof(s->last));
	s->n++;
	return s->stop_at && s->n == s->stop_at ? 42 : 0;
}

static void
test_usage_list(void)
{
	char id[QID_LEN];
	struct qusage u;
	struct qenv e;
	struct seen s;
	struct stat st;
	uint64_t bytes = 0;
	int i;

	spool_prepare(spool, "count");
	for (i = 0; i < 25; i++) {
		qid_new(id, sizeof(id));
		env_init(&e, id, "count", 1732300100 - i);
		write_entry(&e, (size_t)i * 100);
		stat(path_of("count", "new", id), &st);
		bytes += (uint64_t)st.st_size;
	}
	spit(path_of("count", "tmp", id), "x", 1);	/* not counted */
	ok(spool_usage(spool, "count", &u) == RS_OK, "spool_usage");
	is_int(u.count, 25, "count");
	is_int(u.bytes, bytes, "bytes are file sizes");
	is_int(u.oldest, 1732300100 - 24, "oldest");
	ok(spool_usage(spool, "nosuch", &u) == RS_OK && u.count == 0 &&
	    u.oldest == 0, "missing queue counts as empty");
	memset(&s, 0, sizeof(s));
	s.ordered = 1;
	is_int(spool_list(spool, "count", list_cb, &s), 0, "spool_list");
	is_int(s.n, 25, "lists every entry");
	ok(s.ordered, "in id order");
	memset(&s, 0, sizeof(s));
	s.stop_at = 5;
	is_int(spool_list(spool, "count", list_cb, &s), 42,
	    "stops early with fn's value");
	is_int(s.n, 5, "after 5");
}

static void
test_symlink(void)
{
	char id[QID_LEN], *logs;
	struct qenv r;
	int moved;

	spool_prepare(spool, "sym");
	qid_new(id, sizeof(id));
	symlink("/etc/passwd", path_of("sym", "new", id));
	is_int(qenv_read(path_of("sym", "new", id), &r, NULL, errbuf,
	    sizeof(errbuf)), RS_PERM, "symlink refused (%s)", errbuf);
	logs = capture(recover_q, "sym", &moved,
	    "regress/work/unit-queue/recover3.log");
	is_int(moved, 1, "and quarantined");
	ok(logs && strstr(logs, "moved to corrupt/: not a regular file"),
	    "unread, with its reason");
	free(logs);
}

/*
 * test_planted - what the queue's owner can plant in its own queue
 * never makes recovery touch anything outside it: a symlink tmp/ or
 * corrupt/ is refused, a symlink in tmp/ is left alone, and a
 * directory given as tmp/ keeps its files.
 */
static void
test_planted(void)
{
	char victim[PATH_MAX], vfile[PATH_MAX + 16], id[QID_LEN];
	char why[PATH_MAX + 64], tx[PATH_MAX + 64], td[PATH_MAX + 4];
	char *logs;
	struct stat st;
	int moved, fd;

	snprintf(victim, sizeof(victim), "regress/work/unit-queue/victim");
	snprintf(vfile, sizeof(vfile), "%s/precious", victim);
	dir_make(victim, 0755);
	spit(vfile, msg, 100);
	spool_prepare(spool, "plant");
	rmdir(path_of("plant", "tmp", NULL));
	symlink("../../../victim", path_of("plant", "tmp", NULL));
	logs = capture(recover_q, "plant", &moved,
	    "regress/work/unit-queue/plant1.log");
	ok(stat(vfile, &st) == 0, "a tmp/ symlink to another directory: "
	    "its files survive recovery");
	ok(logs && strstr(logs, "tmp/ not swept") &&
	    strstr(logs, "not a directory"), "and the log says why");
	free(logs);
	is_int(spool_prepare(spool, "plant"), RS_TEMP,
	    "spool_prepare refuses the queue");
	fd = q_dir_open(spool, "plant", "tmp", 0, why, sizeof(why));
	ok(fd == -1 && strstr(why, "plant/tmp"), "q_dir_open names it (%s)",
	    why);
	unlink(path_of("plant", "tmp", NULL));

	spool_prepare(spool, "plant");
	snprintf(tx, sizeof(tx), "%s/x", path_of("plant", "tmp", NULL));
	snprintf(td, sizeof(td), "%s/d", path_of("plant", "tmp", NULL));
	symlink("../../../../../victim/precious", tx);
	symlink("../../../../../victim", td);
	logs = capture(recover_q, "plant", &moved,
	    "regress/work/unit-queue/plant2.log");
	ok(lstat(tx, &st) == 0 && S_ISLNK(st.st_mode) && lstat(td, &st) == 0 &&
	    stat(vfile, &st) == 0, "symlinks in tmp/ are left alone");
	ok(logs && strstr(logs, "tmp/x: left alone"), "and logged");
	free(logs);

	rmdir(path_of("plant", "corrupt", NULL));
	symlink("../../../victim", path_of("plant", "corrupt", NULL));
	qid_new(id, sizeof(id));
	spit(path_of("plant", "new", id), msg, 50);
	logs = capture(recover_q, "plant", &moved,
	    "regress/work/unit-queue/plant3.log");
	ok(moved == 0 && lstat(path_of("plant", "new", id), &st) == 0,
	    "with corrupt/ a symlink a bad entry stays in new/");
	snprintf(tx, sizeof(tx), "%s/%s", victim, id);
	ok(lstat(tx, &st) == -1, "and nothing is linked into the target");
	ok(logs && strstr(logs, "no corrupt/"), "logged");
	free(logs);
	unlink(path_of("plant", "corrupt", NULL));
}

/* test_copy_fallback - a pipe refuses copy_file_range: read/write. */
static void
test_copy_fallback(void)
{
	char src[PATH_MAX], buf[512];
	unsigned char *back;
	int in, fds[2], good;
	ssize_t n;
	size_t got = 0;

	snprintf(src, sizeof(src), "regress/work/unit-queue/copysrc");
	spit(src, msg, 20000);
	in = open(src, O_RDONLY);
	if (in == -1 || pipe(fds) == -1)
		return;
	back = malloc(20000);
	good = q_copy(in, 1000, 12345, fds[1], buf, sizeof(buf)) == 0;
	close(fds[1]);
	while ((n = read(fds[0], back + got, 20000 - got)) > 0)
		got += (size_t)n;
	close(fds[0]);
	ok(good && got == 12345 && memcmp(back, msg + 1000, 12345) == 0,
	    "q_copy falls back to read/write where copy_file_range fails");
	if (pipe(fds) == 0) {
		ok(q_copy(in, 19000, 5000, fds[1], buf, sizeof(buf)) == -1 &&
		    errno == EIO, "q_copy: a short source is EIO");
		close(fds[0]);
		close(fds[1]);
	}
	close(in);
	free(back);
}

int
main(int argc, char **argv)
{
	char top[PATH_MAX];
	size_t i;

	(void)argc;

	/* run from the top of the tree, wherever prove starts us */
	strlcpy_(top, argv[0], sizeof(top));
	if (chdir(dirname(top)) == -1 || chdir("..") == -1)
		return 1;
	snprintf(spool, sizeof(spool), "regress/work/unit-queue/spool");
	rm_rf("regress/work/unit-queue");
	if (dir_make(spool, 0700) == -1) {
		printf("Bail out! cannot make %s\n", spool);
		return 1;
	}
	msg = malloc(MSG_LEN);
	for (i = 0; i < MSG_LEN; i++)
		msg[i] = (unsigned char)(i * 7 + i / 251);
	memcpy(msg, "Subject: x\r\n\r\n.\r\n", 17);

	test_ids();
	test_ids_forked();
	test_round_trip();
	test_null_sender_empty_message();
	test_clone();
	test_copy_fallback();
	test_abort();
	test_refused();
	test_write_error();
	test_truncated();
	test_recover_misc();
	test_parse();
	test_rewrite();
	test_dsn_fields();
	test_usage_list();
	test_symlink();
	test_planted();
	free(msg);
	return done_testing();
}
