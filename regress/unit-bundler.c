/*
 * unit-bundler.c - the bundler (spoolfmt/bundler.c) on a real spool
 * under regress/work/: when a queue is due (age, size, force), how
 * entries are packed (order, bundle-max, one copy per recipient with
 * its X-Envelope-To, the big entry alone), the lock, unreadable
 * entries, and recovery from each state a crash can leave (manifest
 * with its finished bundle, manifest alone with the bundle published or
 * already taken, malformed manifests, leftovers).  The kill -9 sweep
 * over every step is regress/42-bundler-crash.t.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bundle.h"
#include "bundler.h"
#include "log.h"
#include "queue.h"
#include "tap.h"

#define CUST	"farm"
#define MAXB	2500

static char spool[PATH_MAX];
static char err[512];
static time_t t0;

/* --- helpers --------------------------------------------------------- */

static void
cat_(char *dst, const char *src, size_t size)
{
	size_t n = strlen(dst);

	if (n < size)
		strlcpy_(dst + n, src, size - n);
}

static int
rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

static void
reset(void)
{
	nftw(spool, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	dir_make(spool, 0700);
	spool_prepare(spool, CUST);
}

/*
 * enqueue - a message of exactly size octets with Subject: tag, for
 * nrcpts recipients r0@, r1@, ...; arrival (and mtime) at t.
 */
static void
enqueue(const char *tag, size_t size, int nrcpts, time_t t, char *id_out)
{
	static char rbuf[8][64];
	char *rcpts[8], path[PATH_MAX], *msg;
	struct timespec ts[2];
	struct qwriter *w;
	struct qenv env;
	size_t n;
	int i;

	for (i = 0; i < nrcpts; i++) {
		snprintf(rbuf[i], sizeof(rbuf[i]), "r%d@farm.example", i);
		rcpts[i] = rbuf[i];
	}
	msg = malloc(size);
	n = (size_t)snprintf(msg, size, "Subject: %s\r\n\r\n", tag);
	memset(msg + n, 'x', size - n);
	msg[size - 2] = '\r';
	msg[size - 1] = '\n';
	memset(&env, 0, sizeof(env));
	qid_new(env.id, sizeof(env.id));
	strlcpy_(env.customer, CUST, sizeof(env.customer));
	env.arrival = t;
	env.protocol = "ESMTP";
	env.client = "localhost [127.0.0.1]";
	env.helo = "localhost";
	env.sender = "s@example.org";
	env.rcpts = rcpts;
	env.nrcpts = nrcpts;
	if (qw_open(spool, &env, &w, err, sizeof(err)) != RS_OK ||
	    qw_write(w, msg, size) != RS_OK ||
	    qw_commit(w, err, sizeof(err)) != RS_OK) {
		printf("Bail out! enqueue: %s\n", err);
		exit(1);
	}
	q_path(path, sizeof(path), spool, CUST, "new", env.id);
	ts[0].tv_sec = ts[1].tv_sec = t;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	utimensat(AT_FDCWD, path, ts, 0);
	if (id_out != NULL)
		strlcpy_(id_out, env.id, QID_LEN);
	free(msg);
}

static int
count_dir(const char *sub)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *dp;
	int n = 0;

	path_build(path, sizeof(path), "%s/%s", spool, sub);
	if ((dp = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(dp)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(dp);
	return n;
}

static int
queued(void)
{
	return count_dir("q/" CUST "/new");
}

static int
scmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * outbox - "tag,tag|tag|..." : the Subject tags of each bundle, in
 * name order, copies as "tag/rcpt" when a message has several; also
 * checks each copy starts with its one X-Envelope-To.
 */
static void
outbox(char *out, size_t outlen, int *bad)
{
	char dir[PATH_MAX], path[PATH_MAX], body[256], tag[64];
	struct bundle_reader *r;
	struct bundle_msg m;
	struct dirent *de;
	char *names[64];
	size_t n = 0, i, len;
	ssize_t got;
	DIR *dp;
	int fd;

	*out = '\0';
	*bad = 0;
	bundler_outbox(dir, sizeof(dir), spool, CUST);
	if ((dp = opendir(dir)) == NULL)
		return;
	while ((de = readdir(dp)) != NULL && n < 64)
		if (de->d_name[0] != '.')
			names[n++] = strdup(de->d_name);
	closedir(dp);
	qsort(names, n, sizeof(names[0]), scmp);
	for (i = 0; i < n; i++) {
		if (i > 0)
			cat_(out, "|", outlen);
		path_build(path, sizeof(path), "%s/%s", dir, names[i]);
		fd = open(path, O_RDONLY);
		r = bundle_reader_open(fd, "/tmp");
		len = strlen(out);
		while (bundle_read_next(r, &m, err, sizeof(err)) == 1) {
			bundle_read_body(r, &m, 1, err, sizeof(err));
			got = bundle_msg_pread(&m, body, sizeof(body) - 1, 0);
			body[got > 0 ? got : 0] = '\0';
			snprintf(tag, sizeof(tag), "X-Envelope-To: <%s>\r\n",
			    m.nrcpts == 1 ? m.rcpts[0] : "?");
			if (m.nrcpts != 1 || strncmp(body, tag, strlen(tag)))
				(*bad)++;
			if (sscanf(body + strlen(tag), "Subject: %63s", tag) !=
			    1)
				(*bad)++;
			if (strlen(out) > len)
				cat_(out, ",", outlen);
			cat_(out, tag, outlen);
			if (m.nrcpts == 1 && strncmp(m.rcpts[0], "r0@", 3)) {
				cat_(out, "/", outlen);
				cat_(out, m.rcpts[0], outlen);
				*strchr(out + strlen(out) - strlen(m.rcpts[0]),
				    '@') = '\0';
			}
			bundle_msg_free(&m);
		}
		bundle_reader_close(r);
		close(fd);
		free(names[i]);
	}
}

static enum result
run(uint64_t max, long delay, int force, time_t now, struct bundler_stats *st)
{
	return bundler_run(spool, CUST, "hub.test", max, delay, force, now,
	    st, err, sizeof(err));
}

/* base - "<spool>/bundle-tmp/farm" + sub. */
static void
base(char *buf, size_t len, const char *sub)
{
	path_build(buf, len, "%s/bundle-tmp/%s%s", spool, CUST, sub);
}

static void
put_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	fputs(text, fp);
	fclose(fp);
}

static int
exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* manifest - write NAME.mf listing ids (NULL-terminated), or raw text. */
static void
manifest(const char *name, const char **ids, const char *raw)
{
	char path[PATH_MAX], text[4096];
	int i, n = 0;

	base(path, sizeof(path), "");
	cat_(path, "/", sizeof(path));
	cat_(path, name, sizeof(path));
	cat_(path, ".mf", sizeof(path));
	if (raw != NULL) {
		put_file(path, raw);
		return;
	}
	n = snprintf(text, sizeof(text), "MBM 1\nbundle %s\n", name);
	for (i = 0; ids[i] != NULL; i++)
		n += snprintf(text + n, sizeof(text) - (size_t)n, "id %s\n",
		    ids[i]);
	snprintf(text + n, sizeof(text) - (size_t)n, "end %d\n", i);
	put_file(path, text);
}

/* --- tests ----------------------------------------------------------- */

static void
test_due(void)
{
	struct bundler_stats st;
	time_t next;

	reset();
	ok(!bundler_due(spool, CUST, MAXB, 300, t0, &next) && next == 0,
	    "empty queue: not due");
	enqueue("a", 500, 1, t0, NULL);
	enqueue("b", 500, 1, t0 + 10, NULL);
	ok(!bundler_due(spool, CUST, 0, 300, t0 + 299, &next),
	    "young and small: not due");
	is_int(next, t0 + 300, "due when the oldest is bundle-delay old");
	ok(bundler_due(spool, CUST, 0, 300, t0 + 300, NULL), "then it is due");
	ok(bundler_due(spool, CUST, 1000, 300, t0, NULL),
	    "bundle-max octets waiting: due at once");
	is_int(run(0, 300, 0, t0 + 299, &st), RS_OK, "a run before it is due");
	ok(st.bundles == 0 && queued() == 2, "does nothing");
	is_int(run(0, 300, 0, t0 + 300, &st), RS_OK, "a run when due");
	ok(st.bundles == 1 && st.messages == 2 && st.copies == 2 &&
	    queued() == 0, "bundles everything");
	ok(st.raw > 1000 && st.packed > 0 && st.packed < st.raw,
	    "raw %llu, packed %llu", (unsigned long long)st.raw,
	    (unsigned long long)st.packed);
}

static void
test_packing(void)
{
	struct bundler_stats st;
	char got[1024];
	int bad;

	reset();
	enqueue("A", 1000, 1, t0, NULL);
	enqueue("B", 1000, 1, t0 + 1, NULL);
	enqueue("BIG", 5000, 1, t0 + 2, NULL);
	enqueue("C", 1000, 1, t0 + 3, NULL);
	enqueue("D", 1000, 1, t0 + 4, NULL);
	enqueue("E", 1000, 1, t0 + 5, NULL);
	is_int(run(MAXB, 300, 1, t0, &st), RS_OK, "forced run");
	is_int(st.bundles, 4, "four bundles");
	outbox(got, sizeof(got), &bad);
	is_str(got, "A,B|BIG|C,D|E",
	    "oldest first, within bundle-max, the big one alone");
	is_int(bad, 0, "each copy has its one X-Envelope-To");
	is_int(queued(), 0, "queue empty");
	is_int(count_dir("bundle-tmp/" CUST), 2, "bundle-tmp: tmp/ and ready/ "
	    "only");

	reset();
	enqueue("M", 400, 3, t0, NULL);
	enqueue("N", 400, 1, t0 + 1, NULL);
	enqueue("O", 700, 3, t0 + 2, NULL);
	is_int(run(MAXB, 300, 1, t0, &st), RS_OK, "recipients");
	is_int(st.copies, 7, "one copy per recipient");
	outbox(got, sizeof(got), &bad);
	is_str(got, "M,M/r1,M/r2,N|O,O/r1,O/r2",
	    "copies counted against bundle-max");
	is_int(bad, 0, "each copy has its own X-Envelope-To");

	reset();
	enqueue("P", 1000, 1, t0, NULL);
	enqueue("Q", 1000, 1, t0 + 1, NULL);
	enqueue("R", 1000, 1, t0 + 2, NULL);
	is_int(run(MAXB, 300, 0, t0 + 10, &st), RS_OK, "size trigger");
	outbox(got, sizeof(got), &bad);
	is_str(got, "P,Q", "a full bundle goes");
	is_int(queued(), 1, "the young rest waits for more or for its age");
	is_int(run(MAXB, 300, 0, t0 + 302, &st), RS_OK, "then by age");
	outbox(got, sizeof(got), &bad);
	is_str(got, "P,Q|R", "the rest follows");
}

static void
test_lock_and_skip(void)
{
	struct bundler_stats st;
	char path[PATH_MAX], got[1024];
	int fd, bad;

	reset();
	enqueue("A", 600, 1, t0, NULL);
	is_int(bundler_recover(spool, CUST, err, sizeof(err)), RS_OK,
	    "recover on a fresh customer");
	path_build(path, sizeof(path), "%s/q/%s", spool, CUST);
	fd = open(path, O_RDONLY | O_DIRECTORY);
	flock(fd, LOCK_EX);
	is_int(run(0, 0, 1, t0, &st), RS_TEMP,
	    "queue locked (as by a flush): temporary");
	ok(strstr(err, "busy") != NULL, "says busy: %s", err);
	is_int(queued(), 1, "nothing bundled");
	close(fd);

	q_path(path, sizeof(path), spool, CUST, "new",
	    "0000000000001.0001.1");
	put_file(path, "MBQ 1\ngarbage\n");
	enqueue("B", 600, 1, t0 + 1, NULL);
	is_int(run(0, 0, 1, t0, &st), RS_OK, "an unreadable entry");
	is_int(st.skipped, 1, "is skipped");
	outbox(got, sizeof(got), &bad);
	is_str(got, "A,B", "the others are bundled");
	is_int(queued(), 1, "it stays in the queue");

	is_int(bundler_run(spool, "../x", "h", 0, 0, 1, t0, &st, err,
	    sizeof(err)), RS_TEMP, "unsafe customer name refused");
}

static void
test_recovery(void)
{
	char a[QID_LEN], b[QID_LEN], c[QID_LEN], n1[BUNDLE_NAME_MAX];
	char n2[BUNDLE_NAME_MAX], n3[BUNDLE_NAME_MAX], p[PATH_MAX];
	char p2[PATH_MAX], q[PATH_MAX];
	const char *ids[4];
	struct bundler_stats st;

	reset();
	bundler_recover(spool, CUST, err, sizeof(err));
	enqueue("A", 500, 1, t0, a);
	enqueue("B", 500, 1, t0 + 1, b);
	enqueue("C", 500, 1, t0 + 2, c);
	bundle_name_new(n1, sizeof(n1), CUST, ".bsmtp.gz");
	bundle_name_new(n2, sizeof(n2), CUST, ".bsmtp.gz");
	bundle_name_new(n3, sizeof(n3), CUST, ".bsmtp.gz");

	/* Finished but not published: drop it, the entries stay. */
	ids[0] = a;
	ids[1] = NULL;
	manifest(n1, ids, NULL);
	base(p, sizeof(p), "/ready/");
	cat_(p, n1, sizeof(p));
	put_file(p, "bundle");
	is_int(bundler_recover(spool, CUST, err, sizeof(err)), RS_OK,
	    "manifest with its finished bundle");
	ok(!exists(p) && count_dir("bundle-tmp/" CUST) == 2 && queued() == 3,
	    "not published: bundle and manifest dropped, entries kept");

	/* Published (in the outbox): the entries go, the bundle stays. */
	ids[0] = a;
	ids[1] = b;
	ids[2] = "0000000000002.0001.1";	/* already gone */
	ids[3] = NULL;
	manifest(n2, ids, NULL);
	bundler_outbox(q, sizeof(q), spool, CUST);
	cat_(q, "/", sizeof(q));
	cat_(q, n2, sizeof(q));
	put_file(q, "published");
	is_int(bundler_recover(spool, CUST, err, sizeof(err)), RS_OK,
	    "manifest alone, bundle in the outbox");
	ok(exists(q) && queued() == 1 && count_dir("bundle-tmp/" CUST) == 2,
	    "published: listed entries removed, manifest removed");

	/* Published and already taken by the leaf or uux. */
	ids[0] = c;
	ids[1] = NULL;
	manifest(n3, ids, NULL);
	is_int(bundler_recover(spool, CUST, err, sizeof(err)), RS_OK,
	    "manifest alone, bundle already taken");
	ok(queued() == 0 && count_dir("bundle-tmp/" CUST) == 2,
	    "taken: entries removed too");

	/* A malformed manifest of a published bundle stops bundling. */
	enqueue("D", 500, 1, t0 + 3, NULL);
	manifest(n1, NULL, "MBM 1\nbundle x\n");
	is_int(bundler_recover(spool, CUST, err, sizeof(err)), RS_TEMP,
	    "malformed manifest, bundle not in ready/: kept");
	is_int(run(0, 0, 1, t0, &st), RS_TEMP, "and bundling waits");
	ok(queued() == 1 && st.bundles == 0, "nothing bundled meanwhile");
	base(p, sizeof(p), "/ready/");
	cat_(p, n1, sizeof(p));
	put_file(p, "bundle");
	is_int(bundler_recover(spool, CUST, err, sizeof(err)), RS_OK,
	    "malformed manifest whose bundle is still in ready/: dropped");
	ok(!exists(p) && count_dir("bundle-tmp/" CUST) == 2,
	    "both gone");

	/* Leftovers: half-written bundle, manifest tmp, orphan in ready/. */
	base(p, sizeof(p), "/tmp/");
	cat_(p, n1, sizeof(p));
	put_file(p, "half");
	base(p2, sizeof(p2), "/");
	cat_(p2, n2, sizeof(p2));
	cat_(p2, ".mf.tmp", sizeof(p2));
	put_file(p2, "MBM 1\n");
	base(q, sizeof(q), "/ready/");
	cat_(q, n3, sizeof(q));
	put_file(q, "orphan");
	is_int(bundler_recover(spool, CUST, err, sizeof(err)), RS_OK,
	    "leftovers");
	ok(!exists(p) && !exists(p2) && !exists(q) && queued() == 1,
	    "removed; the queue untouched");
}

int
main(void)
{
	char cwd[PATH_MAX];

	log_init("unit-bundler", LOG_TO_STDERR);
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return 1;
	path_build(spool, sizeof(spool), "%s/regress/work/unit-bundler", cwd);
	t0 = time(NULL) - 100000;
	test_due();
	test_packing();
	test_lock_and_skip();
	test_recovery();
	reset();
	return done_testing();
}
