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
 * AUTH did not succeed; the secret is wiped before exit.
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

#include "cram.h"
#include "leafconf.h"
#include "log.h"
#include "smtpc.h"

#define BACKOFF_FIRST	2
#define BACKOFF_MAX	60

struct etrn {
	const char *server;
	int	port;
	char	helo[256];
	int	verbose;
	const char *user;		/* -u: AUTH CRAM-MD5 as user */
	char	secret[CRAM_SECRET_MAX];	/* -s: its first line */
	int	fatal;			/* AUTH failed: exit with this now */
	struct smtpc_opts o;
	struct smtpc *c;
};

static void
usage(void)
{
	fprintf(stderr, "usage: etrn [-v] [-H helo] [-p port] [-w seconds] "
	    "[-u user -s secretfile] server target ...\n"
	    "       etrn [-v] [-H helo] [-w seconds] -c leaf.conf "
	    "[hub ...]\n");
	exit(EXIT_USAGE);
}

/* worse - combine exit codes: 69 beats 75 beats 0. */
static int
worse(int a, int b)
{
	if (a == EXIT_UNAVAIL || b == EXIT_UNAVAIL)
		return EXIT_UNAVAIL;
	if (a == EXIT_TEMPFAIL || b == EXIT_TEMPFAIL)
		return EXIT_TEMPFAIL;
	return a != 0 ? a : b;
}

static int
code_exit(const struct smtpc_reply *r)
{
	if (r->code >= 500)
		return EXIT_UNAVAIL;
	if (r->code >= 200 && r->code < 400)
		return 0;
	return EXIT_TEMPFAIL;
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

/*
 * authenticate - AUTH CRAM-MD5 on the open connection; 0, or an exit
 * code (e->fatal set when trying again cannot help).
 */
static int
authenticate(struct etrn *e)
{
	struct smtpc_reply r;
	char answer[CRAM_ANSWER_MAX];

	if (!(smtpc_ext(e->c) & SMTPC_EXT_AUTH_CRAM)) {
		fprintf(stderr, "etrn: %s does not offer AUTH CRAM-MD5\n",
		    e->server);
		return e->fatal = EXIT_UNAVAIL;
	}
	if (smtpc_cmd(e->c, e->o.to.mail, &r, "AUTH CRAM-MD5") == RS_OK &&
	    r.code == 334) {
		if (cram_answer(e->user, e->secret, r.text + 4, answer,
		    sizeof(answer)) == 0)
			smtpc_cmd(e->c, e->o.to.mail, &r, "%s", answer);
		else {
			smtpc_cmd(e->c, e->o.to.mail, &r, "*");
			snprintf(r.text, sizeof(r.text), "the challenge is "
			    "not base64");
			r.code = 501;
		}
		OPENSSL_cleanse(answer, sizeof(answer));
	}
	if (r.code == 235) {
		if (e->verbose)
			fprintf(stderr, "<<< %s\n", r.text);
		return 0;
	}
	printf("%s: AUTH CRAM-MD5: %s\n", e->server, r.text);
	if (r.code == 535)
		return e->fatal = EXIT_NOPERM;
	if (r.code >= 500)
		return e->fatal = EXIT_UNAVAIL;
	return EXIT_TEMPFAIL;
}

/* session - connect, greeting, EHLO/HELO, AUTH; an exit code (0 = ready). */
static int
session(struct etrn *e)
{
	struct smtpc_reply r;
	int rv;

	if (e->c != NULL && smtpc_usable(e->c))
		return 0;
	smtpc_close(e->c);
	e->c = NULL;
	if (smtpc_connect(e->server, e->port, &e->o, &e->c, &r) != RS_OK) {
		printf("%s: %s\n", e->server, r.text);
		return EXIT_TEMPFAIL;
	}
	if (e->verbose)
		fprintf(stderr, "connected to %s\n", smtpc_relay(e->c));
	if (smtpc_greeting(e->c, &r) != RS_OK ||
	    smtpc_hello(e->c, e->helo, &r) != RS_OK) {
		printf("%s: %s\n", e->server, r.text);
		smtpc_close(e->c);
		e->c = NULL;
		return r.code >= 500 ? EXIT_UNAVAIL : EXIT_TEMPFAIL;
	}
	if (e->verbose)
		fprintf(stderr, "<<< %s\n", r.text);
	if (e->verbose && !(smtpc_ext(e->c) & SMTPC_EXT_ETRN))
		fprintf(stderr, "%s does not offer ETRN; asking anyway\n",
		    e->server);
	if (e->user != NULL && (rv = authenticate(e)) != 0) {
		smtpc_quit(e->c);
		e->c = NULL;
		return rv;
	}
	return 0;
}

/* ask - one ETRN; reconnects once when the connection was lost. */
static int
ask(struct etrn *e, const char *target, struct smtpc_reply *r)
{
	int rv, tries;

	for (tries = 0; tries < 2; tries++) {
		if ((rv = session(e)) != 0) {
			r->code = 0;
			return rv;
		}
		if (e->verbose)
			fprintf(stderr, ">>> ETRN %s\n", target);
		smtpc_cmd(e->c, e->o.to.mail, r, "ETRN %s", target);
		if (r->code != 0)
			break;
	}
	printf("%s: ETRN %s: %s\n", e->server, target, r->text);
	fflush(stdout);
	return code_exit(r);
}

/*
 * release - every target of one server (e->server, e->user and the
 * secret set), with -w asking again until each says 251 or the time
 * is up; the exit code.
 */
static int
release(struct etrn *e, char *const *targets, int n, long wait)
{
	struct smtpc_reply r;
	long backoff = BACKOFF_FIRST;
	int i, rv = 0, *code, *fin, left = 0, conn, last = 0;
	double until;

	if ((code = calloc((size_t)n, sizeof(*code))) == NULL ||
	    (fin = calloc((size_t)n, sizeof(*fin))) == NULL) {
		free(code);
		return EXIT_OSERR;
	}
	e->fatal = 0;
	memset(&r, 0, sizeof(r));
	until = time_mono() + (double)wait;
	for (;;) {
		left = 0;
		for (i = 0, conn = 1; i < n; i++) {
			if (fin[i])
				continue;
			if (conn) {
				code[i] = last = ask(e, targets[i], &r);
				conn = e->c != NULL;
				if (e->fatal)
					break;
			} else		/* no connection this round */
				code[i] = last;
			if (wait == 0 || (conn && (r.code == 251 ||
			    r.code == 459 || r.code >= 500)) ||
			    code[i] == EXIT_UNAVAIL)
				fin[i] = 1;
			else
				left++;
		}
		if (e->fatal || left == 0 || time_mono() + backoff > until)
			break;
		if (e->verbose)
			fprintf(stderr, "waiting %lds\n", backoff);
		sleep((unsigned)backoff);
		backoff = backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : backoff * 2;
	}
	for (i = 0; i < n; i++)
		rv = worse(rv, code[i]);
	if (left > 0)
		rv = worse(rv, EXIT_TEMPFAIL);
	if (e->fatal)
		rv = e->fatal;
	free(code);
	free(fin);
	smtpc_quit(e->c);
	e->c = NULL;
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
from_leafconf(struct etrn *e, const char *file, char **hubs, int nhubs,
    long wait)
{
	struct leaf_conf *lc;
	const struct leaf_hub *h;
	int i, n = 0, nerr = 0, rv = 0, one, fatal = 0;

	if ((lc = conf_leaf_load(file, stderr, &nerr)) == NULL)
		return EXIT_CONFIG;
	for (i = 0; i < (nhubs > 0 ? nhubs : lc->nhubs); i++) {
		h = nhubs > 0 ? conf_leaf_hub(lc, hubs[i]) : &lc->hubs[i];
		if (h == NULL || (nhubs > 0 && !h->has_etrn)) {
			fprintf(stderr, "etrn: %s: %s \"%s\"\n", file,
			    h == NULL ? "no hub" : "no etrn section in hub",
			    hubs[i]);
			rv = worse(rv, EXIT_CONFIG);
			continue;
		}
		if (!h->has_etrn)
			continue;
		n++;
		e->server = h->etrn_server;
		e->user = h->etrn_user;
		OPENSSL_cleanse(e->secret, sizeof(e->secret));
		if (h->etrn_user != NULL &&
		    (one = secret_load(e, h->etrn_secret)) != 0) {
			fatal = fatal ? fatal : one;
			continue;
		}
		one = release(e, (char *const *)h->etrn_targets,
		    h->netrn_targets, wait);
		if (e->fatal && !fatal)
			fatal = e->fatal;
		rv = worse(rv, one);
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
	long wait = 0, n;
	int ch, i, rv;

	log_init("etrn", LOG_TO_STDERR);
	memset(&e, 0, sizeof(e));
	smtpc_opts_default(&e.o);
	e.port = 25;
	if (gethostname(e.helo, sizeof(e.helo)) == -1 || e.helo[0] == '\0')
		strlcpy_(e.helo, "localhost", sizeof(e.helo));
	while ((ch = getopt(argc, argv, "c:H:p:s:u:vw:")) != -1) {
		switch (ch) {
		case 'c':
			leafconf = optarg;
			continue;
		case 's':
			secretfile = optarg;
			continue;
		case 'u':
			if (!name_is_safe(optarg))
				usage();
			e.user = optarg;
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
			e.port = (int)n;
		else
			wait = n;
	}
	argc -= optind;
	argv += optind;
	if (leafconf != NULL) {
		if (e.user != NULL || secretfile != NULL)
			usage();
		rv = from_leafconf(&e, leafconf, argv, argc, wait);
		OPENSSL_cleanse(e.secret, sizeof(e.secret));
		return rv;
	}
	if (argc < 2 || (e.user == NULL) != (secretfile == NULL))
		usage();
	e.server = argv[0];
	for (i = 1; i < argc; i++)
		if (!target_ok(argv[i])) {
			fprintf(stderr, "etrn: bad target: %s\n", argv[i]);
			return EXIT_USAGE;
		}
	if (secretfile != NULL && (rv = secret_load(&e, secretfile)) != 0)
		return rv;
	rv = release(&e, argv + 1, argc - 1, wait);
	OPENSSL_cleanse(e.secret, sizeof(e.secret));
	return rv;
}
