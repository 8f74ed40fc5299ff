/*
 * bridge-linkup.c - bridge-linkup(8), the command line: up, down, run,
 * status, check.  `up` runs every named hub (all by default) in its
 * own process, in parallel, and exits with the worst result; when the
 * daemon is running, up and down are passed to it instead (daemon.c),
 * so a hub is never run twice at once.  The work is in hubrun.c.
 */
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "leafconf.h"
#include "linkup.h"
#include "log.h"
#include "util.h"

static volatile sig_atomic_t stop;

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr,
	    "usage: bridge-linkup [-dv] [-c leaf.conf] up [hub ...]\n"
	    "       bridge-linkup [-dv] [-c leaf.conf] down\n"
	    "       bridge-linkup [-dv] [-c leaf.conf] run\n"
	    "       bridge-linkup [-c leaf.conf] status [-j] [hub ...]\n"
	    "       bridge-linkup [-c leaf.conf] check\n");
	exit(EXIT_USAGE);
}

static void
on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static void
catch_term(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

/* hubs_named - check the names; 0, or EXIT_CONFIG with one line each. */
static int
hubs_named(const struct leaf_conf *lc, char **names, int n)
{
	int i, rc = 0;

	for (i = 0; i < n; i++)
		if (conf_leaf_hub(lc, names[i]) == NULL) {
			fprintf(stderr, "bridge-linkup: %s: no hub \"%s\"\n",
			    lc->file, names[i]);
			rc = EXIT_CONFIG;
		}
	if (lc->nhubs == 0) {
		fprintf(stderr, "bridge-linkup: %s: no hub section\n",
		    lc->file);
		rc = EXIT_CONFIG;
	}
	return rc;
}

/*
 * linkup_up - run the hubs in parallel, one process each; the worst
 * exit code.  A stop is passed on to every run.
 */
static int
linkup_up(const struct leaf_conf *lc, char **names, int n, int up_event,
    int verbose)
{
	const struct leaf_hub *h;
	pid_t *pids;
	int i, k, st, rc = 0, nh = n > 0 ? n : lc->nhubs, left, forwarded = 0;

	if ((pids = calloc((size_t)nh, sizeof(*pids))) == NULL)
		return EXIT_OSERR;
	fflush(stderr);
	for (i = 0; i < nh; i++) {
		h = n > 0 ? conf_leaf_hub(lc, names[i]) : &lc->hubs[i];
		for (k = 0; k < i; k++)	/* a hub named twice runs once */
			if (pids[k] > 0 && h == (n > 0 ?
			    conf_leaf_hub(lc, names[k]) : &lc->hubs[k]))
				break;
		if (k < i)
			continue;
		if ((pids[i] = fork()) == 0) {
			catch_term();
			_exit(hubrun(lc, h, up_event, verbose, &stop));
		}
		if (pids[i] == -1) {
			log_warn("%s: cannot start its run", h->name);
			rc = linkup_worse(rc, EXIT_OSERR);
		}
	}
	for (;;) {
		left = 0;
		for (i = 0; i < nh; i++) {
			if (pids[i] <= 0)
				continue;
			if (stop && !forwarded)
				kill(pids[i], SIGTERM);
			if (waitpid(pids[i], &st, WNOHANG) == pids[i]) {
				rc = linkup_worse(rc, WIFEXITED(st) ?
				    WEXITSTATUS(st) : EXIT_SOFTWARE);
				pids[i] = 0;
			} else
				left++;
		}
		forwarded |= stop;
		if (left == 0)
			break;
		usleep(50 * 1000);
	}
	free(pids);
	return rc;
}

static int
cmd_status(const struct leaf_conf *lc, int argc, char **argv, int json)
{
	struct lstatus st;
	int ch, rc;

	optind = 1;
	while ((ch = getopt(argc, argv, "j")) != -1) {
		if (ch != 'j')
			usage();
		json = 1;
	}
	argc -= optind;
	argv += optind;
	if ((rc = hubs_named(lc, argv, argc)) != 0)
		return rc;
	if (lstatus_read(lc, &st) == -1) {
		fprintf(stderr, "bridge-linkup: %s/linkup/status: %s\n",
		    lc->spool, strerror(errno));
		return EXIT_IOERR;
	}
	lstatus_print(lc, &st, argv, argc, json, stdout);
	lstatus_free(&st);
	return fflush(stdout) == EOF ? EXIT_IOERR : EXIT_OK;
}

struct opts {
	const char	*conf;
	int		 debug, verbose, json;
};

/* getopts - the options, before the command or after it (check -c F). */
static void
getopts(int argc, char **argv, struct opts *o)
{
	int ch;

	while ((ch = getopt(argc, argv, "+:c:djv")) != -1) {
		switch (ch) {
		case 'c':
			o->conf = optarg;
			break;
		case 'd':
			o->debug = 1;
			break;
		case 'j':
			o->json = 1;
			break;
		case 'v':
			o->verbose = 1;
			break;
		case ':':
			fprintf(stderr, "bridge-linkup: -%c needs an argument\n",
			    optopt);
			usage();
		default:
			fprintf(stderr, "bridge-linkup: unknown option -%c\n",
			    optopt);
			usage();
		}
	}
}

int
main(int argc, char **argv)
{
	struct opts o = { LEAF_CONF_DEFAULT, 0, 0, 0 };
	const char *conf, *cmd;
	struct leaf_conf *lc;
	int debug, verbose, json, nerr, rc, tty;

	getopts(argc, argv, &o);
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage();
	cmd = argv[0];
	optind = 1;
	getopts(argc, argv, &o);
	if (optind > 1) {	/* keep the command in argv[0] */
		memmove(argv + 1, argv + optind,
		    (size_t)(argc - optind + 1) * sizeof(*argv));
		argc -= optind - 1;
	}
	conf = o.conf;
	debug = o.debug;
	verbose = o.verbose;
	json = o.json;
	if (strcmp(cmd, "up") != 0 && strcmp(cmd, "down") != 0 &&
	    strcmp(cmd, "run") != 0 && strcmp(cmd, "status") != 0 &&
	    strcmp(cmd, "check") != 0) {
		fprintf(stderr, "bridge-linkup: unknown command \"%s\" (up, "
		    "down, run, status or check)\n", cmd);
		return EXIT_USAGE;
	}
	tty = debug || ((verbose || isatty(2)) && strcmp(cmd, "run") != 0);
	log_init("bridge-linkup", tty ? LOG_TO_STDERR : LOG_TO_SYSLOG);
	log_set_debug(debug);
	log_set_echo(!tty && strcmp(cmd, "run") != 0);
	signal(SIGPIPE, SIG_IGN);
	if ((lc = conf_leaf_load(conf, stderr, &nerr)) == NULL)
		return EXIT_CONFIG;
	if (strcmp(cmd, "check") == 0) {
		rc = argc == 1 ? hubs_named(lc, NULL, 0) : EXIT_USAGE;
		if (rc == EXIT_USAGE)
			usage();
	} else if (strcmp(cmd, "status") == 0)
		rc = cmd_status(lc, argc, argv, json);
	else if (strcmp(cmd, "down") == 0) {
		if (argc != 1)
			usage();
		rc = linkup_down(lc);
	} else if (strcmp(cmd, "run") == 0) {
		if (argc != 1)
			usage();
		catch_term();
		/* the daemon owns lc from here (it may reload it) */
		rc = linkup_daemon(lc, conf, debug, verbose, &stop);
		lc = NULL;
	} else {
		if ((rc = hubs_named(lc, argv + 1, argc - 1)) == 0) {
			catch_term();
			rc = linkup_request_up(lc, argv + 1, argc - 1,
			    &stop);
			if (rc == LINKUP_NO_DAEMON)
				rc = linkup_up(lc, argv + 1, argc - 1, 1,
				    verbose);
		}
	}
	conf_leaf_free(lc);
	return rc;
}
