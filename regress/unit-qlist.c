/*
 * unit-qlist.c - the queue listing and summary (spoolfmt/qlist.c)
 * against golden files.  Fixture entries with fixed ids and arrival
 * times go into a spool under regress/work/, are rendered with a fixed
 * "now", and the text is compared with regress/qlist/<name>.ok (diff -u
 * on stderr when it differs; QLIST_REGEN=1 rewrites the .ok files).
 *
 * Also the helper behind bench/qsummary.sh (not a test):
 *   unit-qlist.t -f SPOOL CUSTOMER N   add N entries quickly (no fsync)
 *   unit-qlist.t -t SPOOL              time spool_usage, qlist_summary
 *                                      and qlist_print over every queue
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qint.h"		/* spool_customers, for the timing helper */
#include "qlist.h"
#include "queue.h"
#include "tap.h"

#define NOW	1732310000	/* the fixed "now" of every rendering */
#define WORK	"regress/work/unit-qlist"

static char spool[PATH_MAX] = WORK "/spool";
static char errbuf[512];

static int
rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

/* add - a committed entry of len octets ('x' lines with CRLF). */
static enum result
add(const char *customer, const char *id, time_t arrival,
    const char *sender, char **rcpts, int nrcpts, size_t len, int attempts)
{
	static const char line[] =
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n";
	struct qwriter *w;
	struct qenv e;
	size_t c;

	memset(&e, 0, sizeof(e));
	strlcpy_(e.id, id, sizeof(e.id));
	strlcpy_(e.customer, customer, sizeof(e.customer));
	e.arrival = arrival;
	e.body_8bit = 0;
	e.protocol = "ESMTP";
	e.client = "mx.example.org [192.0.2.7]";
	e.helo = "mx.example.org";
	e.sender = (char *)sender;
	e.rcpts = rcpts;
	e.nrcpts = nrcpts;
	e.attempts = attempts;
	if (attempts) {
		e.last_attempt = NOW - 600;
		e.next_attempt = NOW + 300;
	}
	if (qw_open(spool, &e, &w, errbuf, sizeof(errbuf)) != RS_OK)
		return RS_TEMP;
	for (; len > 0; len -= c) {
		c = len < sizeof(line) - 1 ? len : sizeof(line) - 1;
		qw_write(w, line, c);
	}
	return qw_commit(w, errbuf, sizeof(errbuf));
}

static int
fixture(void)
{
	char *acme1[] = { "bob@acme.example", "carol@acme.example" };
	char *acme2[] = { "postmaster@acme.example" };
	char *acme4[] = { "dave@acme.example" };
	char *ship1[] = { "captain@ship.example", "cook@ship.example",
	    "radio@ship.example" };
	char p[PATH_MAX];
	struct timespec ts[2];
	int bad = 0;

	bad |= add("acme", "0065A1B2C3D4E.1A2B.3", NOW - 3725,
	    "alice@example.org", acme1, 2, 4096, 0);
	bad |= add("acme", "0065A1B2C3D4F.1A2B.4", NOW - 42, "", acme2, 1,
	    812, 3);
	bad |= add("acme", "0065A1B2C3D50.1A2B.5", NOW - 7200,
	    "truncated@example.org", acme2, 1, 5000, 0);
	bad |= add("acme", "0065A1B2C3D51.3F.1", NOW - 59,
	    "evil\033[31m@example.org", acme4, 1, 150000, 0);
	bad |= add("ship", "0065A1B2C3C00.2B.1", NOW - 3 * 86400 - 7260,
	    "news@lists.example.net", ship1, 3, 1536 * 1024, 1);
	if (spool_prepare(spool, "farm") != RS_OK)
		bad = 1;
	/* cut one entry short, keep its time: shown with its reason */
	q_path(p, sizeof(p), spool, "acme", "new", "0065A1B2C3D50.1A2B.5");
	if (truncate(p, 1000) == -1)
		bad = 1;
	ts[0].tv_sec = ts[1].tv_sec = NOW - 7200;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	utimensat(AT_FDCWD, p, ts, 0);
	return bad ? -1 : 0;
}

static char *
slurp(const char *p, size_t *len)
{
	struct stat st;
	char *b = NULL;
	int fd;

	*len = 0;
	if ((fd = open(p, O_RDONLY)) == -1)
		return NULL;
	if (fstat(fd, &st) == 0 && (b = malloc((size_t)st.st_size + 1)) &&
	    read(fd, b, (size_t)st.st_size) == st.st_size)
		*len = (size_t)st.st_size;
	close(fd);
	return b;
}

/* diff_u - diff -u want got, its output on stderr. */
static void
diff_u(const char *want, const char *got)
{
	pid_t pid;

	fflush(stdout);
	if ((pid = fork()) == 0) {
		dup2(2, 1);
		execlp("diff", "diff", "-u", want, got, (char *)NULL);
		_exit(127);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
}

/* golden - compare WORK/<name>.out with regress/qlist/<name>.ok. */
static void
golden(const char *name)
{
	char got[PATH_MAX], want[PATH_MAX];
	char *g, *w;
	size_t gl, wl;
	FILE *f;

	snprintf(got, sizeof(got), WORK "/%s.out", name);
	snprintf(want, sizeof(want), "regress/qlist/%s.ok", name);
	g = slurp(got, &gl);
	if (getenv("QLIST_REGEN") && g != NULL &&
	    (f = fopen(want, "w")) != NULL) {
		fwrite(g, 1, gl, f);
		fclose(f);
	}
	w = slurp(want, &wl);
	if (!ok(g != NULL && w != NULL && gl == wl && memcmp(g, w, gl) == 0,
	    "%s matches %s", got, want))
		diff_u(want, got);
	free(g);
	free(w);
}

typedef long (*render_fn)(FILE *, const char *, const char *const *, int,
    time_t);

static long
render(const char *name, render_fn fn, const char *const *c, int n)
{
	char p[PATH_MAX];
	long rc;
	FILE *f;

	snprintf(p, sizeof(p), WORK "/%s.out", name);
	if ((f = fopen(p, "w")) == NULL)
		return -2;
	rc = fn(f, spool, c, n, NOW);
	fclose(f);
	golden(name);
	return rc;
}

static int
tests(void)
{
	const char *three[] = { "ship", "farm", "acme" };
	const char *acme[] = { "acme" };
	const char *farm[] = { "farm" };
	const char *none[] = { "nosuch" };

	nftw(WORK, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	if (dir_make(spool, 0700) == -1 || fixture() == -1) {
		printf("Bail out! fixture: %s\n", errbuf);
		return 1;
	}
	is_int(render("print-acme", qlist_print, acme, 1), 4,
	    "listing of acme: 4 entries, one unreadable");
	is_int(render("print-three", qlist_print, three, 3), 5,
	    "listing in the order given, with totals");
	is_int(render("print-all", qlist_print, NULL, 0), 5,
	    "listing of every queue on disk");
	is_int(render("print-empty", qlist_print, farm, 1), 0,
	    "empty queue");
	is_int(render("print-missing", qlist_print, none, 1), 0,
	    "queue never created counts as empty");
	is_int(render("summary-all", qlist_summary, NULL, 0), 5,
	    "summary of every queue");
	is_int(render("summary-acme", qlist_summary, acme, 1), 4,
	    "summary of one queue");
	return done_testing();
}

/* fill - n entries in customer, copies of one template, no fsync. */
static int
fill(const char *sp, const char *customer, long n)
{
	char tid[QID_LEN], id[QID_LEN], path[PATH_MAX], *t, *at;
	char *rcpt[] = { "someone@customer.example" };
	struct timespec ts[2];
	size_t tl;
	long i;
	int fd;

	strlcpy_(spool, sp, sizeof(spool));
	snprintf(tid, sizeof(tid), "%013llX.1.1", 0x0060000000000ULL);
	if (add(customer, tid, NOW, "sender@example.org", rcpt, 1, 3000, 0) !=
	    RS_OK) {
		fprintf(stderr, "fill: %s\n", errbuf);
		return 1;
	}
	q_path(path, sizeof(path), spool, customer, "new", tid);
	if ((t = slurp(path, &tl)) == NULL || (at = strstr(t, tid)) == NULL)
		return 1;
	ts[1].tv_nsec = ts[0].tv_nsec = 0;
	for (i = 1; i < n; i++) {
		snprintf(id, sizeof(id), "%013llX.1.1",
		    0x0060000000000ULL + (unsigned long long)i);
		memcpy(at, id, strlen(id));
		q_path(path, sizeof(path), spool, customer, "new", id);
		if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		    0600)) == -1 || write(fd, t, tl) != (ssize_t)tl) {
			perror(path);
			return 1;
		}
		ts[0].tv_sec = ts[1].tv_sec = NOW - i % 86400;
		futimens(fd, ts);
		close(fd);
	}
	free(t);
	return 0;
}

/* timing - the figures bench/qsummary.sh reports. */
static int
timing(const char *sp)
{
	struct qusage u, tot;
	FILE *null = fopen("/dev/null", "w");
	char **list;
	double t0, t1, t2, t3;
	long ns, np;
	int i, n;

	if (null == NULL || spool_customers(sp, &list, &n) == -1)
		return 1;
	memset(&tot, 0, sizeof(tot));
	t0 = time_mono();
	for (i = 0; i < n; i++)
		if (spool_usage(sp, list[i], &u) == RS_OK)
			tot.count += u.count;
	t1 = time_mono();
	ns = qlist_summary(stdout, sp, NULL, 0, NOW);
	t2 = time_mono();
	np = qlist_print(null, sp, NULL, 0, NOW);
	t3 = time_mono();
	printf("spool_usage   %8llu entries %8.3f s\n",
	    (unsigned long long)tot.count, t1 - t0);
	printf("qlist_summary %8ld entries %8.3f s\n", ns, t2 - t1);
	printf("qlist_print   %8ld entries %8.3f s\n", np, t3 - t2);
	spool_customers_free(list, n);
	fclose(null);
	return 0;
}

int
main(int argc, char **argv)
{
	char top[PATH_MAX];

	char *end;
	long n;

	if (argc == 5 && strcmp(argv[1], "-f") == 0) {
		errno = 0;
		n = strtol(argv[4], &end, 10);
		if (errno != 0 || *end != '\0' || n < 1 || n > 10000000) {
			fprintf(stderr, "fill: bad count %s\n", argv[4]);
			return 64;
		}
		return fill(argv[2], argv[3], n);
	}
	if (argc == 3 && strcmp(argv[1], "-t") == 0)
		return timing(argv[2]);
	strlcpy_(top, argv[0], sizeof(top));
	if (chdir(dirname(top)) == -1 || chdir("..") == -1)
		return 1;
	return tests();
}
