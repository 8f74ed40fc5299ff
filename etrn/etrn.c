/*
 * etrn.c - etrn(1): ask an SMTP server to start delivering the mail it
 * holds for us (RFC 1985).  Connects, EHLO (HELO when refused), with
 * -u and -s AUTH CRAM-MD5 (cram.h) as user with the first line of the
 * secret file, one ETRN per target, prints each reply, QUIT.  With -w
 * it keeps asking, backing off, until every target says 251 (nothing
 * waiting) or the time is up.  Exit: 0 when every reply was 250-253,
 * 75 on any 4xx or no connection, 69 on any 5xx (the worst wins); an
 * authentication that cannot be made stops everything at once: 69
 * when the server offers no AUTH CRAM-MD5, 77 when it refuses (535),
 * 78 for a secret file that is open to group or others.
 *
 * With -c leaf.conf the servers, targets, user and secret come from
 * the etrn sections of the named hubs (all hubs with one when none is
 * named), each hub in turn; the exit code is the worst of them, an
 * authentication failure's first.
 *
 * Invariant: no ETRN is sent on a connection where -u was given and
 * AUTH did not succeed (etrnc.h); the secret is wiped before exit.
 * This file is the command line; the engine is etrnc.c.
 */
#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "conf.h"
#include "cram.h"
#include "etrnc.h"
#include "leafconf.h"
#include "log.h"
#include "smtpc.h"

struct etrn {
	struct etrnc_opts o;
	char	helo[256];
	int	verbose;
	char	secret[CRAM_SECRET_MAX];	/* -s: its first line */
};

static void
usage(void)
{
	fprintf(stderr, "usage: etrn [-v] [-H helo] [-p port] [-w seconds] "
	    "[-u user -s secretfile]\n"
	    "            [-T none|may|encrypt|verify] [-C cafile] [-N name] "
	    "server target ...\n"
	    "       etrn [-v] [-H helo] [-w seconds] -c leaf.conf "
	    "[hub ...]\n");
	exit(EXIT_USAGE);
}

/* say - replies on stdout, problems and (-v) the conversation on stderr. */
static void
say(void *arg, int kind, const char *line)
{
	const struct etrn *e = arg;

	switch (kind) {
	case ETRNC_SAY_REPLY:
		printf("%s\n", line);
		fflush(stdout);
		break;
	case ETRNC_SAY_ERROR:
		fprintf(stderr, "etrn: %s\n", line);
		break;
	default:
		if (e->verbose)
			fprintf(stderr, "%s\n", line);
	}
}

/* target_ok - a domain, @domain or #queue: printable, no spaces. */
static int
target_ok(const char *t)
{
	size_t n = strlen(t), i;

	if (n == 0 || n > 255)
		return 0;
	for (i = 0; i < n; i++)
		if (!isgraph((unsigned char)t[i]))
			return 0;
	return (t[0] != '@' && t[0] != '#') || n > 1;
}

/* release - the targets of e->o.server; the exit code, *fatal as etrnc. */
static int
release(struct etrn *e, char *const *targets, int n, int *fatal)
{
	struct etrnc_target *t;
	int i, rv;

	if ((t = calloc((size_t)n, sizeof(*t))) == NULL)
		return EXIT_OSERR;
	for (i = 0; i < n; i++)
		t[i].target = targets[i];
	e->o.secret = e->secret;
	rv = etrnc_release(&e->o, t, n, fatal);
	free(t);
	return rv;
}

/* secret_load - the first line of path into e->secret; 0 or EXIT_CONFIG. */
static int
secret_load(struct etrn *e, const char *path)
{
	char err[300];

	if (cram_secret_read(path, e->secret, sizeof(e->secret), err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "etrn: %s\n", err);
		return EXIT_CONFIG;
	}
	return 0;
}

/*
 * from_leafconf - release the hubs named (all with an etrn section when
 * none is); the worst exit code, an authentication failure first.
 */
static int
from_leafconf(struct etrn *e, const char *file, char **hubs, int nhubs)
{
	struct leaf_conf *lc;
	const struct leaf_hub *h;
	int i, n = 0, nerr = 0, rv = 0, one, fatal = 0, f;

	if ((lc = conf_leaf_load(file, stderr, &nerr)) == NULL)
		return EXIT_CONFIG;
	for (i = 0; i < (nhubs > 0 ? nhubs : lc->nhubs); i++) {
		h = nhubs > 0 ? conf_leaf_hub(lc, hubs[i]) : &lc->hubs[i];
		if (h == NULL || (nhubs > 0 && !h->has_etrn)) {
			fprintf(stderr, "etrn: %s: %s \"%s\"\n", file,
			    h == NULL ? "no hub" : "no etrn section in hub",
			    hubs[i]);
			rv = etrnc_worse(rv, EXIT_CONFIG);
			continue;
		}
		if (!h->has_etrn)
			continue;
		n++;
		e->o.server = h->etrn_server;
		e->o.user = h->etrn_user;
		e->o.tls_policy = h->etrn_tls.policy;
		e->o.tls_ca = h->etrn_tls.ca;
		e->o.tls_name = h->etrn_tls.name;
		OPENSSL_cleanse(e->secret, sizeof(e->secret));
		if (h->etrn_user != NULL &&
		    (one = secret_load(e, h->etrn_secret)) != 0) {
			fatal = fatal ? fatal : one;
			continue;
		}
		one = release(e, (char *const *)h->etrn_targets,
		    h->netrn_targets, &f);
		if (f && !fatal)
			fatal = f;
		rv = etrnc_worse(rv, one);
	}
	if (n == 0 && nhubs == 0) {
		fprintf(stderr, "etrn: %s: no hub has an etrn section\n", file);
		rv = EXIT_CONFIG;
	}
	conf_leaf_free(lc);
	return fatal ? fatal : rv;
}

int
main(int argc, char **argv)
{
	struct etrn e;
	char *end;
	const char *secretfile = NULL, *leafconf = NULL;
	long n;
	int ch, i, rv, fatal, tlsopt = 0;

	log_init("etrn", LOG_TO_STDERR);
	memset(&e, 0, sizeof(e));
	etrnc_opts_default(&e.o);
	e.o.say = say;
	e.o.arg = &e;
	e.o.helo = e.helo;
	if (gethostname(e.helo, sizeof(e.helo)) == -1 || e.helo[0] == '\0')
		strlcpy_(e.helo, "localhost", sizeof(e.helo));
	while ((ch = getopt(argc, argv, "C:c:H:N:p:s:T:u:vw:")) != -1) {
		switch (ch) {
		case 'T':
			if ((e.o.tls_policy = tls_policy_parse(optarg)) == -1) {
				fprintf(stderr, "etrn: -T %s: not none, may, "
				    "encrypt or verify\n", optarg);
				return EXIT_USAGE;
			}
			tlsopt = 1;
			continue;
		case 'C':
			e.o.tls_ca = optarg;
			tlsopt = 1;
			continue;
		case 'N':
			if (!target_ok(optarg))
				usage();
			e.o.tls_name = optarg;
			tlsopt = 1;
			continue;
		case 'c':
			leafconf = optarg;
			continue;
		case 's':
			secretfile = optarg;
			continue;
		case 'u':
			if (!name_is_safe(optarg))
				usage();
			e.o.user = optarg;
			continue;
		case 'H':
			if (!target_ok(optarg))
				usage();
			strlcpy_(e.helo, optarg, sizeof(e.helo));
			continue;
		case 'v':
			e.verbose = 1;
			continue;
		case 'p':
		case 'w':
			break;
		default:
			usage();
		}
		errno = 0;
		n = strtol(optarg, &end, 10);
		if (errno != 0 || end == optarg || *end != '\0' || n < 0 ||
		    (ch == 'p' && (n < 1 || n > 65535)) || n > 86400 * 7)
			usage();
		if (ch == 'p')
			e.o.port = (int)n;
		else
			e.o.wait = n;
	}
	argc -= optind;
	argv += optind;
	if (leafconf != NULL) {
		if (e.o.user != NULL || secretfile != NULL || tlsopt)
			usage();
		rv = from_leafconf(&e, leafconf, argv, argc);
		OPENSSL_cleanse(e.secret, sizeof(e.secret));
		return rv;
	}
	if (argc < 2 || (e.o.user == NULL) != (secretfile == NULL))
		usage();
	e.o.server = argv[0];
	for (i = 1; i < argc; i++)
		if (!target_ok(argv[i])) {
			fprintf(stderr, "etrn: bad target: %s\n", argv[i]);
			return EXIT_USAGE;
		}
	if (secretfile != NULL && (rv = secret_load(&e, secretfile)) != 0)
		return rv;
	rv = release(&e, argv + 1, argc - 1, &fatal);
	OPENSSL_cleanse(e.secret, sizeof(e.secret));
	return rv;
}
