/*
 * bridge-fetch.c - bridge-fetch(8): pull bundles from a hub's outbox
 * over SSH/SFTP, inject them like bridge-unbatch, remove them on the
 * hub.  This file is the command line: settings from leaf.conf's hub
 * sections or from user@host[:dir] and flags; the work is in pull.c
 * and fetch.c.  Exit codes: 0 done or nothing to fetch, 75 try later,
 * 77 refused (host key, authentication), 78 configuration, 65 a
 * damaged bundle (quarantined, kept on the hub), 74 local disk, 64
 * usage.
 */
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "leafconf.h"
#include "log.h"
#include "ssh.h"
#include "util.h"

#define CONNECT_TIMEOUT	30
#define IO_TIMEOUT	120
#define KEEPALIVE	30

/* Flags that override or complete the settings of a target. */
struct flags {
	const char *identity, *known_hosts;
	int	port;
	int	accept_new;
	long	timeout;
};

static int echo;		/* the log is syslog: problems to stderr too */

/* complain - a problem for the log, and for stderr if the log is syslog. */
static void __attribute__((format(printf, 1, 2)))
complain(const char *fmt, ...)
{
	char buf[SSH_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log_warnx("%s", buf);
	if (echo)
		fprintf(stderr, "bridge-fetch: %s\n", buf);
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: bridge-fetch [-Adv] [-c leaf.conf] [-i identity] "
	    "[-k known_hosts] [-p port]\n"
	    "                    [-t timeout] [--rate bytes/s] [hub ...]\n"
	    "       bridge-fetch [-Adv] [-c leaf.conf] -i identity "
	    "-k known_hosts [-p port]\n"
	    "                    [-t timeout] [--rate bytes/s] "
	    "user@host[:dir]\n");
	exit(EXIT_USAGE);
}

/*
 * split_host - "host", "host:port", "[v6]", "[v6]:port" into host and
 * *port (left alone when absent).  rest, if not NULL, gets what follows
 * a ':' that is not a port (the dir of user@host:dir).
 */
static int
split_host(char *s, char **host, int *port, char **rest)
{
	char *c, *end;
	long v;

	if (s[0] == '[') {
		if ((c = strchr(s, ']')) == NULL || c == s + 1)
			return -1;
		*c++ = '\0';
		*host = s + 1;
	} else {
		*host = s;
		c = s + strcspn(s, ":");
	}
	if (*c == '\0')
		return **host != '\0' ? 0 : -1;
	if (*c != ':')
		return -1;
	*c++ = '\0';
	if (rest != NULL) {
		*rest = c;
		return **host != '\0' ? 0 : -1;
	}
	v = strtol(c, &end, 10);
	if (*c == '\0' || *end != '\0' || v < 1 || v > 65535)
		return -1;
	*port = (int)v;
	return **host != '\0' ? 0 : -1;
}

static int
dir_ok(const char *d)
{
	if (*d == '\0' || strlen(d) > 400)
		return 0;
	for (; *d != '\0'; d++)
		if ((unsigned char)*d < 0x20 || *d == 0x7f)
			return 0;
	return 1;
}

/* target_direct - user@host[:dir] and the flags. */
static int
target_direct(char *arg, const struct flags *f, struct ssh_target *t)
{
	char *at = strchr(arg, '@'), *dir = NULL;

	if (at == NULL || f->identity == NULL || f->known_hosts == NULL) {
		complain("user@host needs -i identity and -k known_hosts");
		return -1;
	}
	*at = '\0';
	t->user = arg;
	t->port = 22;
	if (!name_is_safe(t->user) ||
	    split_host(at + 1, (char **)&t->host, &t->port, &dir) == -1 ||
	    (dir != NULL && !dir_ok(dir))) {
		complain("bad target %s@%s", arg, at + 1);
		return -1;
	}
	t->dir = dir != NULL && *dir != '\0' ? dir : "outbox";
	t->identity = f->identity;
	t->known_hosts = f->known_hosts;
	return 0;
}

/* target_hub - a leaf.conf hub's ssh section, then the flags. */
static int
target_hub(const struct leaf_hub *h, const struct flags *f,
    struct ssh_target *t)
{
	char *server;

	if (!h->has_ssh) {
		complain("hub \"%s\" has no ssh section", h->name);
		return -1;
	}
	if ((server = strdup(h->ssh_server)) == NULL)
		return -1;
	t->port = 22;
	if (split_host(server, (char **)&t->host, &t->port, NULL) == -1) {
		complain("hub \"%s\": bad server %s", h->name, h->ssh_server);
		free(server);
		return -1;
	}
	t->user = h->ssh_user;
	t->dir = h->ssh_dir != NULL ? h->ssh_dir : "outbox";
	t->identity = f->identity != NULL ? f->identity : h->ssh_identity;
	t->known_hosts = f->known_hosts != NULL ? f->known_hosts :
	    h->ssh_known_hosts;
	return 0;			/* server stays allocated until exit */
}

static void
target_flags(struct ssh_target *t, const struct flags *f)
{
	if (f->port > 0)
		t->port = f->port;
	t->accept_new = f->accept_new;
	t->connect_timeout = CONNECT_TIMEOUT < f->timeout ? CONNECT_TIMEOUT :
	    f->timeout;
	t->io_timeout = f->timeout;
	t->keepalive = KEEPALIVE;
}

/* parse_flags - the options; returns optind. */
static int
parse_flags(int argc, char **argv, struct flags *f, struct ssh_opts *o,
    const char **conf, int *verbose, int *debug)
{
	static const struct option longopts[] = {
		{ "rate", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 }
	};
	uint64_t v;
	long port;
	char *end;
	int ch;

	while ((ch = getopt_long(argc, argv, "Ac:di:k:p:t:v", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'A':
			f->accept_new = 1;
			break;
		case 'c':
			*conf = optarg;
			break;
		case 'd':
			*debug = 1;
			break;
		case 'i':
			f->identity = optarg;
			break;
		case 'k':
			f->known_hosts = optarg;
			break;
		case 'p':
			port = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || port < 1 ||
			    port > 65535)
				usage();
			f->port = (int)port;
			break;
		case 'r':
			if (size_parse(optarg, &v) == -1 || v < 1024) {
				fprintf(stderr, "bridge-fetch: --rate: \"%s\" "
				    "is not a rate of at least 1K (bytes per "
				    "second)\n", optarg);
				exit(EXIT_USAGE);
			}
			o->rate = v;
			break;
		case 't':
			if (duration_parse(optarg, &f->timeout) == -1 ||
			    f->timeout <= 0)
				usage();
			break;
		case 'v':
			*verbose = 1;
			break;
		default:
			usage();
		}
	}
	return optind;
}

/* run - every target the arguments name; the worst outcome. */
static enum fetch_rc
run(struct pull *p, const struct leaf_conf *lc, int argc, char **argv,
    const struct flags *f)
{
	struct ssh_target t;
	const struct leaf_hub *h;
	enum fetch_rc worst = FETCH_OK;
	int i, n = 0;

	if (argc == 1 && strchr(argv[0], '@') != NULL) {
		memset(&t, 0, sizeof(t));
		if (target_direct(argv[0], f, &t) == -1)
			return FETCH_CONFIG;
		target_flags(&t, f);
		return pull_hub(p, &t);
	}
	for (i = 0; i < (argc > 0 ? argc : lc->nhubs); i++) {
		h = argc > 0 ? conf_leaf_hub(lc, argv[i]) : &lc->hubs[i];
		if (h == NULL) {
			complain("%s: no hub \"%s\"", lc->file, argv[i]);
			worst = fetch_rc_worse(worst, FETCH_CONFIG);
			continue;
		}
		if (argc == 0 && !h->has_ssh)
			continue;
		n++;
		memset(&t, 0, sizeof(t));
		if (target_hub(h, f, &t) == -1) {
			worst = fetch_rc_worse(worst, FETCH_CONFIG);
			continue;
		}
		target_flags(&t, f);
		worst = fetch_rc_worse(worst, pull_hub(p, &t));
	}
	if (argc == 0 && n == 0) {
		complain("%s: no hub has an ssh section", lc->file);
		return FETCH_CONFIG;
	}
	return worst;
}

int
main(int argc, char **argv)
{
	const char *conf = LEAF_CONF_DEFAULT;
	struct flags f = { NULL, NULL, 0, 0, IO_TIMEOUT };
	struct ssh_opts o;
	struct leaf_conf *lc;
	struct pull *p;
	enum fetch_rc rc;
	char err[SSH_ERR_MAX];
	int verbose = 0, debug = 0, to_stderr, nerr, first;

	memset(&o, 0, sizeof(o));
	first = parse_flags(argc, argv, &f, &o, &conf, &verbose, &debug);
	argc -= first;
	argv += first;
	to_stderr = verbose || debug || isatty(2);
	echo = !to_stderr;
	log_init("bridge-fetch", to_stderr ? LOG_TO_STDERR : LOG_TO_SYSLOG);
	log_set_debug(debug);
	signal(SIGPIPE, SIG_IGN);
	if ((lc = conf_leaf_load(conf, stderr, &nerr)) == NULL)
		return EXIT_CONFIG;
	if ((p = pull_new(lc, &o, verbose, !to_stderr, &rc, err,
	    sizeof(err))) == NULL) {
		complain("%s", err);
		conf_leaf_free(lc);
		return rc;
	}
	rc = run(p, lc, argc, argv, &f);
	pull_free(p);
	conf_leaf_free(lc);
	return rc;
}
