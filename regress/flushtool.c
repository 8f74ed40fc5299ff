/*
 * flushtool.c - test driver for flush_customer() (etrn/flush.c); built
 * as regress/flushtool, never installed.
 *
 *   flushtool enqueue [-f sender] spool customer rcpt[,rcpt...] [file...]
 *	one queue entry per file (stdin when none), LF made CRLF as
 *	intake does; prints each new queue id.
 *   flushtool flush [-Lv] [-n conns] [-m max] [-w window] [-T ms]
 *	[-H hostname] [-P postmaster] spool customer host[:port]...
 *	flush the customer's queue to the hosts; prints the counts (and
 *	the connections made, on stderr);
 *	exits 0 (all done), 75 (some left) or 69.
 *   flushtool flush -c bridge.conf [-p peer] [-Lv] [-n conns] [-m max]
 *	[-w window] [-T ms] customer [host[:port]...]
 *	the same with the spool, hostname, postmaster and customer from
 *	the config; the customer's deliver-to unless hosts are given.
 */
#include <sys/types.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "flush.h"
#include "log.h"
#include "queue.h"

static void
usage(void)
{
	fprintf(stderr, "usage: flushtool enqueue [-f sender] spool "
	    "customer rcpt[,rcpt...] [file...]\n"
	    "       flushtool flush [-Lv] [-n conns] [-m max] [-w window] [-T ms] "
	    "[-H hostname] [-P postmaster] spool customer host...\n"
	    "       flushtool flush -c bridge.conf [-p peer] [-Lv] "
	    "[-n conns] [-m max] [-w window] [-T ms] customer [host...]\n");
	exit(EXIT_USAGE);
}

/* read_crlf - the whole of f with every bare LF made CRLF. */
static char *
read_crlf(FILE *f, size_t *lenp, int *eight)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	int ch, prev = 0;

	*eight = 0;
	while ((ch = getc(f)) != EOF) {
		if (ch == '\n' && prev != '\r')
			putc('\r', m);
		if (ch >= 0x80)
			*eight = 1;
		putc(ch, m);
		prev = ch;
	}
	fclose(m);
	*lenp = len;
	return buf;
}

static int
enqueue_one(const char *spool, struct qenv *env, FILE *in)
{
	struct qwriter *w;
	char err[256], *msg;
	size_t len;
	int eight;

	msg = read_crlf(in, &len, &eight);
	qid_new(env->id, sizeof(env->id));
	env->arrival = time(NULL);
	env->body_8bit = eight;
	if (qw_open(spool, env, &w, err, sizeof(err)) != RS_OK) {
		fprintf(stderr, "flushtool: %s\n", err);
		return -1;
	}
	if (qw_write(w, msg, len) != RS_OK) {
		qw_abort(w);
		fprintf(stderr, "flushtool: write failed\n");
		return -1;
	}
	if (qw_commit(w, err, sizeof(err)) != RS_OK) {
		fprintf(stderr, "flushtool: %s\n", err);
		return -1;
	}
	free(msg);
	printf("%s\n", env->id);
	return 0;
}

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
	struct qenv env;
	char *rcpts[100], *list, *p;
	int ch, i, n = 0, rv = 0;
	FILE *f;

	memset(&env, 0, sizeof(env));
	env.sender = "sender@example.org";
	env.protocol = "ESMTP";
	env.client = "localhost [127.0.0.1]";
	env.helo = "localhost";
	while ((ch = getopt(argc, argv, "f:")) != -1)
		switch (ch) {
		case 'f':
			env.sender = optarg;
			break;
		default:
			usage();
		}
	argc -= optind;
	argv += optind;
	if (argc < 3)
		usage();
	strlcpy_(env.customer, argv[1], sizeof(env.customer));
	list = argv[2];
	while ((p = strsep(&list, ",")) != NULL && n < 100)
		if (*p != '\0')
			rcpts[n++] = p;
	env.rcpts = rcpts;
	env.nrcpts = n;
	as_owner(argv[0]);
	if (spool_prepare(argv[0], env.customer) != RS_OK)
		return EXIT_CANTCREAT;
	if (argc == 3)
		return enqueue_one(argv[0], &env, stdin) ? EXIT_IOERR : 0;
	for (i = 3; i < argc; i++) {
		if ((f = fopen(argv[i], "rb")) == NULL) {
			fprintf(stderr, "flushtool: %s: %s\n", argv[i],
			    strerror(errno));
			return EXIT_NOINPUT;
		}
		if (enqueue_one(argv[0], &env, f) == -1)
			rv = EXIT_IOERR;
		fclose(f);
	}
	return rv;
}

/* from_config - conf, customer and target from a bridge.conf. */
static void
from_config(const char *file, const char *peer, int argc, char **argv,
    struct bridge_conf **conf, struct customer **cu, struct flush_target *t)
{
	char err[256];
	enum result rv;
	int nerr = 0;

	if (argc < 1)
		usage();
	if ((*conf = conf_load(file, stderr, &nerr)) == NULL)
		exit(EXIT_CONFIG);
	if ((*cu = conf_customer(*conf, argv[0])) == NULL) {
		fprintf(stderr, "flushtool: no customer %s\n", argv[0]);
		exit(EXIT_CONFIG);
	}
	if (argc > 1) {
		t->hosts = (const char *const *)argv + 1;
		t->nhosts = argc - 1;
	} else if ((rv = flush_target_conf(*conf, *cu, peer, NULL, t, err,
	    sizeof(err))) != RS_OK) {
		fprintf(stderr, "flushtool: %s\n", err);
		exit(rv == RS_TEMP ? EXIT_TEMPFAIL : EXIT_CONFIG);
	}
}

static int
cmd_flush(int argc, char **argv)
{
	struct bridge_conf conf, *cp = &conf;
	struct customer cu, *cup = &cu;
	struct flush_target t;
	struct flush_opts o;
	struct flush_stats st;
	enum result rv;
	const char *cfile = NULL, *peer = NULL;
	char *end;
	long n;
	int ch;

	memset(&conf, 0, sizeof(conf));
	memset(&cu, 0, sizeof(cu));
	memset(&t, 0, sizeof(t));
	flush_opts_default(&o);
	conf.hostname = "hub.test";
	conf.postmaster = "postmaster@hub.test";
	cu.flush_connections = 2;
	while ((ch = getopt(argc, argv, "c:H:Lm:n:p:P:T:vw:")) != -1) {
		switch (ch) {
		case 'c':
			cfile = optarg;
			continue;
		case 'p':
			peer = optarg;
			continue;
		case 'v':
			log_set_debug(1);
			continue;
		case 'H':
			conf.hostname = optarg;
			continue;
		case 'L':
			o.smtp.lmtp = 1;
			continue;
		case 'P':
			conf.postmaster = optarg;
			continue;
		}
		errno = 0;
		n = strtol(optarg, &end, 10);
		if (errno != 0 || *end != '\0' || n < 1)
			usage();
		if (ch == 'n')
			o.connections = (int)n;
		else if (ch == 'm')
			o.connections_max = (int)n;
		else if (ch == 'w')
			o.smtp.window_msgs = (int)n;
		else if (ch == 'T')
			o.smtp.to.greeting = o.smtp.to.helo = o.smtp.to.mail =
			    o.smtp.to.rcpt = o.smtp.to.data = o.smtp.to.block =
			    o.smtp.to.dot = o.smtp.to.connect = n;
		else
			usage();
	}
	argc -= optind;
	argv += optind;
	if (cfile != NULL)
		from_config(cfile, peer, argc, argv, &cp, &cup, &t);
	else {
		if (argc < 3)
			usage();
		conf.spool = argv[0];
		cu.name = argv[1];
		t.hosts = (const char *const *)argv + 2;
		t.nhosts = argc - 2;
	}
	as_owner(cp->spool);
	rv = flush_customer(cp, cup, &t, &o, &st);
	printf("entries=%ld done=%ld sent=%ld deferred=%ld bounced=%ld "
	    "dsns=%ld busy=%d\n", st.entries, st.done, st.sent, st.deferred,
	    st.bounced, st.dsns, st.busy);
	fprintf(stderr, "flushtool: connections=%ld\n", st.connections);
	return rv == RS_OK ? 0 : rv == RS_TEMP ? EXIT_TEMPFAIL : EXIT_UNAVAIL;
}

int
main(int argc, char **argv)
{
	log_init("flushtool", LOG_TO_STDERR);
	if (argc < 2)
		usage();
	if (strcmp(argv[1], "enqueue") == 0)
		return cmd_enqueue(argc - 1, argv + 1);
	if (strcmp(argv[1], "flush") == 0)
		return cmd_flush(argc - 1, argv + 1);
	usage();
	return EXIT_USAGE;
}
