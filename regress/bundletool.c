/*
 * bundletool.c - test driver for the bundler and the UUCP hand-off, so
 * that integration tests and benchmarks can run them before bridged
 * wires them in.  Not installed.  Subcommands (see usage()):
 *
 *   enqueue   write files into a customer's queue with qw_* (LF -> CRLF)
 *   canon     print a file in the form enqueue stores it
 *   bundle    bundler_run; BUNDLER_CRASH_AT=k raises SIGKILL at the
 *             k-th step, BUNDLER_TRACE=1 prints each step to stderr
 *   recover   bundler_recover (the same two variables apply)
 *   handoff   uucp_handoff_run with a customer built from options
 *   due       uucp_handoff_due
 *   list      one line per copy in bundles: sender rcpt size message-id
 *   split     write each copy of bundles into DIR, one file each
 *   qlist     one line per entry and recipient of a queue
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "bundle.h"
#include "bundler.h"
#include "conf.h"
#include "handoff.h"
#include "log.h"
#include "queue.h"

#define HDR_SCAN	(64 * 1024)	/* octets searched for Message-ID */

static long crash_at, steps;
static int trace;

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr,
	    "usage: bundletool enqueue [-a age] [-f sender] -r rcpt ... "
	    "spool customer file ...\n"
	    "       bundletool canon file\n"
	    "       bundletool bundle [-F] [-m max] [-d delay] [-t now] "
	    "[-H host] spool customer\n"
	    "       bundletool recover spool customer\n"
	    "       bundletool handoff [-Fc] [-t now] [-n node] [-C command] "
	    "[-g grade] [-p postmaster] [-u uucico] spool customer "
	    "[uux-prefix ...]\n"
	    "       bundletool due [-t now] spool customer\n"
	    "       bundletool list bundle ...\n"
	    "       bundletool split dir bundle ...\n"
	    "       bundletool qlist spool customer\n");
	exit(EXIT_USAGE);
}

static long
num(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0')
		usage();
	return v;
}

static uint64_t
size_arg(const char *s)
{
	uint64_t v;

	if (size_parse(s, &v) == -1)
		usage();
	return v;
}

/* hook - count bundler steps; die at the chosen one. */
static void
hook(const char *what)
{
	steps++;
	if (trace)
		fprintf(stderr, "step %ld %s\n", steps, what);
	if (crash_at > 0 && steps == crash_at) {
		fprintf(stderr, "crash at step %ld %s\n", steps, what);
		raise(SIGKILL);
	}
}

static void
hook_init(void)
{
	const char *s;

	if ((s = getenv("BUNDLER_CRASH_AT")) != NULL && *s != '\0')
		crash_at = num(s);
	trace = (s = getenv("BUNDLER_TRACE")) != NULL && *s == '1';
	if (crash_at > 0 || trace)
		bundler_set_hook(hook);
}

/* --- files --------------------------------------------------------- */

/* slurp - the whole file; NULL on error. */
static char *
slurp(const char *path, size_t *len)
{
	struct stat st;
	char *buf;
	ssize_t n;
	size_t got = 0;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(fd, &st) == -1 ||
	    (buf = malloc((size_t)st.st_size + 1)) == NULL) {
		if (fd != -1)
			close(fd);
		return NULL;
	}
	while (got < (size_t)st.st_size &&
	    (n = read(fd, buf + got, (size_t)st.st_size - got)) > 0)
		got += (size_t)n;
	close(fd);
	*len = got;
	return buf;
}

/*
 * canon - LF -> CRLF (CRLF kept), a final line end added: what an SMTP
 * server stores.  Returns a malloc'ed buffer.
 */
static char *
canon(const char *in, size_t len, size_t *outlen)
{
	char *out;
	size_t i, k = 0;

	if ((out = malloc(len * 2 + 2)) == NULL)
		return NULL;
	for (i = 0; i < len; i++) {
		if (in[i] == '\n' && (i == 0 || in[i - 1] != '\r'))
			out[k++] = '\r';
		out[k++] = in[i];
	}
	if (k > 0 && out[k - 1] != '\n') {
		out[k++] = '\r';
		out[k++] = '\n';
	}
	*outlen = k;
	return out;
}

/* message_id - the Message-ID header's value in msg, or "-". */
static void
message_id(const char *msg, size_t len, char *out, size_t outlen)
{
	size_t i = 0, j, n;

	strlcpy_(out, "-", outlen);
	if (len > HDR_SCAN)
		len = HDR_SCAN;
	while (i < len) {
		if (msg[i] == '\r' || msg[i] == '\n')
			return;		/* end of the header */
		for (j = i; j < len && msg[j] != '\n'; j++)
			;
		if (j - i > 11 &&
		    strncasecmp(msg + i, "Message-ID:", 11) == 0) {
			i += 11;
			while (i < j && (msg[i] == ' ' || msg[i] == '\t'))
				i++;
			n = j - i;
			while (n > 0 && (msg[i + n - 1] == '\r' ||
			    msg[i + n - 1] == ' '))
				n--;
			if (n >= outlen)
				n = outlen - 1;
			memcpy(out, msg + i, n);
			out[n] = '\0';
			return;
		}
		i = j + 1;
	}
}

/* --- subcommands --------------------------------------------------- */

/* as_owner - become the spool's owner when run as root (queue.h). */
static void
as_owner(const char *spool)
{
	char why[512];

	if (spool_as_owner(spool, why, sizeof(why)) == -1) {
		fprintf(stderr, "%s\n", why);
		exit(EXIT_NOPERM);
	}
}

static int
cmd_enqueue(int argc, char **argv)
{
	char *rcpts[256], err[512], *data, *msg;
	const char *sender = "sender@example.org";
	struct qwriter *w;
	struct qenv env;
	struct timespec ts[2];
	char path[PATH_MAX];
	size_t len, mlen;
	long age = 0;
	int c, n = 0, i;

	while ((c = getopt(argc, argv, "a:f:r:")) != -1) {
		switch (c) {
		case 'a':
			age = num(optarg);
			break;
		case 'f':
			sender = optarg;
			break;
		case 'r':
			if (n == 256)
				usage();
			rcpts[n++] = optarg;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 3 || n == 0)
		usage();
	as_owner(argv[0]);
	if (spool_prepare(argv[0], argv[1]) != RS_OK)
		log_fatal(EXIT_CANTCREAT, "%s", argv[0]);
	for (i = 2; i < argc; i++) {
		if ((data = slurp(argv[i], &len)) == NULL)
			log_fatal(EXIT_NOINPUT, "%s", argv[i]);
		if ((msg = canon(data, len, &mlen)) == NULL)
			log_fatal(EXIT_OSERR, "canon");
		memset(&env, 0, sizeof(env));
		qid_new(env.id, sizeof(env.id));
		strlcpy_(env.customer, argv[1], sizeof(env.customer));
		env.arrival = time(NULL) - age;
		env.body_8bit = 1;
		env.protocol = "ESMTP";
		env.client = "localhost [127.0.0.1]";
		env.helo = "localhost";
		env.sender = (char *)sender;
		env.rcpts = rcpts;
		env.nrcpts = n;
		if (qw_open(argv[0], &env, &w, err, sizeof(err)) != RS_OK ||
		    qw_write(w, msg, mlen) != RS_OK ||
		    qw_commit(w, err, sizeof(err)) != RS_OK)
			log_fatalx(EXIT_IOERR, "%s: %s", argv[i], err);
		if (age > 0 && q_path(path, sizeof(path), argv[0], argv[1],
		    "new", env.id) == 0) {
			ts[0].tv_sec = ts[1].tv_sec = env.arrival;
			ts[0].tv_nsec = ts[1].tv_nsec = 0;
			utimensat(AT_FDCWD, path, ts, 0);
		}
		printf("%s %s\n", env.id, argv[i]);
		free(data);
		free(msg);
	}
	return 0;
}

static int
cmd_canon(int argc, char **argv)
{
	char *data, *msg;
	size_t len, mlen;

	if (argc != 2)
		usage();
	if ((data = slurp(argv[1], &len)) == NULL ||
	    (msg = canon(data, len, &mlen)) == NULL)
		log_fatal(EXIT_NOINPUT, "%s", argv[1]);
	fwrite(msg, 1, mlen, stdout);
	return 0;
}

static int
cmd_bundle(int argc, char **argv)
{
	struct bundler_stats st;
	const char *host = "hub.test";
	uint64_t max = 10 * 1024 * 1024;
	long delay = 300;
	time_t now = time(NULL);
	char err[512];
	enum result rs;
	int c, force = 0;

	while ((c = getopt(argc, argv, "Fm:d:t:H:")) != -1) {
		switch (c) {
		case 'F':
			force = 1;
			break;
		case 'm':
			max = size_arg(optarg);
			break;
		case 'd':
			if (duration_parse(optarg, &delay) == -1)
				usage();
			break;
		case 't':
			now = (time_t)num(optarg);
			break;
		case 'H':
			host = optarg;
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 2)
		usage();
	hook_init();
	as_owner(argv[optind]);
	rs = bundler_run(argv[optind], argv[optind + 1], host, max, delay,
	    force, now, &st, err, sizeof(err));
	printf("bundles %u messages %u copies %u raw %llu packed %llu "
	    "skipped %u\n", st.bundles, st.messages, st.copies,
	    (unsigned long long)st.raw, (unsigned long long)st.packed,
	    st.skipped);
	if (rs != RS_OK) {
		log_warnx("%s", err);
		return EXIT_TEMPFAIL;
	}
	return 0;
}

static int
cmd_recover(int argc, char **argv)
{
	char err[512];

	if (argc != 3)
		usage();
	hook_init();
	as_owner(argv[1]);
	if (bundler_recover(argv[1], argv[2], err, sizeof(err)) != RS_OK) {
		log_warnx("%s", err);
		return EXIT_TEMPFAIL;
	}
	return 0;
}

static int
cmd_handoff(int argc, char **argv)
{
	struct customer cu;
	struct uucp_stats st;
	const char *postmaster = "postmaster@hub.test", *uucico = NULL;
	time_t now = time(NULL);
	enum result rs;
	int c, force = 0;

	memset(&cu, 0, sizeof(cu));
	while ((c = getopt(argc, argv, "+Fct:n:C:g:p:u:")) != -1) {
		switch (c) {
		case 'F':
			force = 1;
			break;
		case 'c':
			cu.uucp_call = 1;
			break;
		case 't':
			now = (time_t)num(optarg);
			break;
		case 'n':
			cu.uucp_node = optarg;
			break;
		case 'C':
			cu.uucp_command = optarg;
			break;
		case 'g':
			cu.uucp_grade = optarg;
			break;
		case 'p':
			postmaster = optarg;
			break;
		case 'u':
			uucico = optarg;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 2)
		usage();
	as_owner(argv[0]);
	cu.name = argv[1];
	cu.release = REL_UUCP;
	cu.uux = argv + 2;
	cu.nuux = argc - 2;
	rs = uucp_handoff_run(argv[0], &cu, postmaster, uucico, force, now,
	    &st);
	printf("queued %u failed %u waiting %u bytes %llu called %d\n",
	    st.queued, st.failed, st.waiting, (unsigned long long)st.bytes,
	    st.called);
	return rs == RS_OK ? 0 : EXIT_TEMPFAIL;
}

static int
cmd_due(int argc, char **argv)
{
	time_t now = time(NULL), next;
	int c;

	while ((c = getopt(argc, argv, "t:")) != -1) {
		if (c != 't')
			usage();
		now = (time_t)num(optarg);
	}
	if (argc - optind != 2)
		usage();
	if (uucp_handoff_due(argv[optind], argv[optind + 1], now, &next))
		printf("due\n");
	else
		printf("backoff %lld\n", (long long)(next - now));
	return 0;
}

/* read_copies - call fn for each copy of each bundle, with its body. */
static int
read_copies(char **files, int n,
    int (*fn)(void *, const struct bundle_msg *, const char *, size_t),
    void *arg)
{
	struct bundle_reader *r;
	struct bundle_msg m;
	char err[512], *body;
	ssize_t got;
	int i, fd, rc = 0, more;

	for (i = 0; i < n && rc == 0; i++) {
		if ((fd = open(files[i], O_RDONLY | O_CLOEXEC)) == -1 ||
		    (r = bundle_reader_open(fd, "/tmp")) == NULL)
			log_fatal(EXIT_NOINPUT, "%s", files[i]);
		while (rc == 0 &&
		    (more = bundle_read_next(r, &m, err, sizeof(err))) == 1) {
			if (bundle_read_body(r, &m, 1, err, sizeof(err)) == -1)
				log_fatalx(EXIT_DATAERR, "%s: %s", files[i],
				    err);
			if ((body = malloc(m.size + 1)) == NULL)
				log_fatal(EXIT_OSERR, "malloc");
			got = m.size ?
			    bundle_msg_pread(&m, body, m.size, 0) : 0;
			if (got != (ssize_t)m.size)
				log_fatalx(EXIT_DATAERR, "%s: short body",
				    files[i]);
			rc = fn(arg, &m, body, m.size);
			free(body);
			bundle_msg_free(&m);
		}
		if (more == -1)
			log_fatalx(EXIT_DATAERR, "%s: %s", files[i], err);
		bundle_reader_close(r);
		close(fd);
	}
	return rc;
}

static int
list_one(void *arg, const struct bundle_msg *m, const char *body,
    size_t len)
{
	char mid[512];
	unsigned i;

	(void)arg;

	message_id(body, len, mid, sizeof(mid));
	for (i = 0; i < m->nrcpts; i++)
		printf("<%s> <%s> %zu %s\n", m->sender, m->rcpts[i], len, mid);
	return 0;
}

static int
cmd_list(int argc, char **argv)
{
	if (argc < 2)
		usage();
	return read_copies(argv + 1, argc - 1, list_one, NULL);
}

struct splitter {
	const char *dir;
	unsigned n;
};

static int
split_one(void *arg, const struct bundle_msg *m, const char *body,
    size_t len)
{
	struct splitter *sp = arg;
	char path[PATH_MAX];
	int fd;

	sp->n++;
	if (path_build(path, sizeof(path), "%s/%06u", sp->dir, sp->n) == -1 ||
	    (fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0644)) == -1 || io_write_all(fd, body, len) == -1)
		log_fatal(EXIT_CANTCREAT, "%s", path);
	close(fd);
	printf("%06u <%s> <%s>\n", sp->n, m->sender,
	    m->nrcpts ? m->rcpts[0] : "");
	return 0;
}

static int
cmd_split(int argc, char **argv)
{
	struct splitter sp = { NULL, 0 };

	if (argc < 3)
		usage();
	sp.dir = argv[1];
	return read_copies(argv + 2, argc - 2, split_one, &sp);
}

struct qlister {
	const char *spool, *customer;
};

static int
qlist_one(void *arg, const char *id, const char *path)
{
	char err[512], mid[512], buf[HDR_SCAN];
	struct qenv env;
	off_t off;
	ssize_t n;
	int fd, i;

	(void)arg;

	if (qenv_read(path, &env, &off, err, sizeof(err)) != RS_OK) {
		printf("%s unreadable %s\n", id, err);
		return 0;
	}
	n = -1;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) != -1) {
		n = pread(fd, buf, sizeof(buf), off);
		close(fd);
	}
	message_id(buf, n > 0 ? (size_t)n : 0, mid, sizeof(mid));
	for (i = 0; i < env.nrcpts; i++)
		printf("%s <%s> <%s> %llu %s\n", id, env.sender, env.rcpts[i],
		    (unsigned long long)env.size, mid);
	qenv_free(&env);
	return 0;
}

static int
cmd_qlist(int argc, char **argv)
{
	if (argc != 3)
		usage();
	if (spool_list(argv[1], argv[2], qlist_one, NULL) == -1)
		log_fatal(EXIT_NOINPUT, "%s", argv[1]);
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {
		{ "enqueue", cmd_enqueue }, { "canon", cmd_canon },
		{ "bundle", cmd_bundle }, { "recover", cmd_recover },
		{ "handoff", cmd_handoff }, { "due", cmd_due },
		{ "list", cmd_list }, { "split", cmd_split },
		{ "qlist", cmd_qlist },
	};
	size_t i;

	log_init("bundletool", LOG_TO_STDERR);
	if (argc < 2)
		usage();
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(argv[1], cmds[i].name) == 0)
			return cmds[i].fn(argc - 1, argv + 1);
	usage();
}
