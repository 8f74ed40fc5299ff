/*
 * bridge-unbatch.c - bridge-unbatch(8): read bundles from standard
 * input (the UUCP command rgsmtp) or files, store each in the leaf
 * spool, verify it whole and inject its messages into the local MTA.
 * Exit codes: 0 injected or kept for later, 65 damaged (quarantined),
 * 75 the bundle could not be stored, 78 configuration, 64 usage.
 * The work is in unbatch.c; this file is the command line.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bundle.h"
#include "leafconf.h"
#include "log.h"
#include "unbatch.h"

static void
usage(void)
{
	fprintf(stderr, "usage: bridge-unbatch [-dnv] [-c leaf.conf] "
	    "[file ...]\n       bridge-unbatch [-dv] [-c leaf.conf] -q\n");
	exit(EXIT_USAGE);
}

/* one - store and process one bundle; the exit code it calls for. */
static int
one(struct unbatch *ub, const char *path)
{
	char name[BUNDLE_NAME_MAX];
	enum result rs;
	int lockfd, down;

	rs = path == NULL ? ub_store_fd(ub, 0, name, sizeof(name), &lockfd) :
	    ub_store_file(ub, path, name, sizeof(name), &lockfd);
	if (rs == RS_TEMP)
		return EXIT_TEMPFAIL;
	if (rs == RS_PERM)
		return EXIT_NOINPUT;
	switch (ub_process(ub, name, lockfd, &down)) {
	case UB_CORRUPT:
		return EXIT_DATAERR;
	default:
		return EXIT_OK;
	}
}

/* worse - the exit code that matters more for UUCP and the operator. */
static int
worse(int a, int b)
{
	static const int order[] = {
		EXIT_OK, EXIT_NOINPUT, EXIT_DATAERR, EXIT_TEMPFAIL
	};
	int i, ra = 0, rb = 0;

	for (i = 0; i < 4; i++) {
		if (order[i] == a)
			ra = i;
		if (order[i] == b)
			rb = i;
	}
	return ra >= rb ? a : b;
}

int
main(int argc, char **argv)
{
	const char *conf = LEAF_CONF_DEFAULT;
	struct leaf_conf *lc;
	struct unbatch *ub;
	unsigned n[5] = { 0, 0, 0, 0, 0 };
	int ch, check = 0, retry = 0, debug = 0, verbose = 0, nerr, ex = 0, i;

	while ((ch = getopt(argc, argv, "c:dnqv")) != -1) {
		switch (ch) {
		case 'c':
			conf = optarg;
			break;
		case 'd':
			debug = 1;
			break;
		case 'n':
			check = 1;
			break;
		case 'q':
			retry = 1;
			break;
		case 'v':
			verbose = 1;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if ((retry && (argc > 0 || check)))
		usage();
	log_init("bridge-unbatch", debug || verbose ? LOG_TO_STDERR :
	    LOG_TO_SYSLOG);
	log_set_debug(debug);
	if ((lc = conf_leaf_load(conf, stderr, &nerr)) == NULL)
		return EXIT_CONFIG;
	if (check) {
		conf_leaf_free(lc);
		return EXIT_OK;
	}
	if ((ub = ub_new(lc, !(debug || verbose))) == NULL) {
		conf_leaf_free(lc);
		return EXIT_TEMPFAIL;
	}
	if (retry) {
		ub_retry(ub, n);
		ex = n[UB_CORRUPT] > 0 ? EXIT_DATAERR : EXIT_OK;
	} else if (argc == 0)
		ex = one(ub, NULL);
	else
		for (i = 0; i < argc; i++)
			ex = worse(ex, one(ub, argv[i]));
	ub_free(ub);
	conf_leaf_free(lc);
	return ex;
}
