/*
 * bridgectl.c - the operator's tool (bridgectl(8)): check the
 * configuration, show how an address is routed, list the queues, and
 * ask the running bridged for a flush or a bundle run through its
 * control socket <spool>/control (one line out, one line back), and
 * run a one-off lifetime sweep (expire) itself, under the same queue
 * locks as bridged's workers.
 * Wiring only: the work is done by conf/, spoolfmt/ and bridged.
 * Subcommands live in one table; each gets the config path and its own
 * arguments and returns a sysexits code.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "conf.h"
#include "dsn.h"
#include "expire.h"
#include "log.h"
#include "qlist.h"
#include "rcptlist.h"
#include "routes.h"
#include "tls.h"
#include "util.h"

#ifndef PREFIX
#define PREFIX "/usr/local"
#endif
#define DEFAULT_CONF	PREFIX "/etc/bridge/bridge.conf"

static int cmd_check(const char *, int, char **);
static int cmd_route(const char *, int, char **);
static int cmd_queue(const char *, int, char **);
static int cmd_flush(const char *, int, char **);
static int cmd_bundle(const char *, int, char **);
static int cmd_status(const char *, int, char **);
static int cmd_expire(const char *, int, char **);

static const struct cmd {
	const char *name;
	int	(*fn)(const char *conf, int argc, char **argv);
	const char *args;
} cmds[] = {
	{ "check", cmd_check, "[-s]" },
	{ "route", cmd_route, " address ..." },
	{ "queue", cmd_queue, " [-s | --summary] [customer]" },
	{ "flush", cmd_flush, " customer" },
	{ "bundle", cmd_bundle, " customer" },
	{ "status", cmd_status, "" },
	{ "expire", cmd_expire, " [customer ...]" },
};

#define NCMDS	(sizeof(cmds) / sizeof(cmds[0]))

static int
usage(void)
{
	size_t i;

	for (i = 0; i < NCMDS; i++)
		fprintf(stderr, "%s %s [-c file] %s%s\n", i ? "      " :
		    "usage:", "bridgectl", cmds[i].name, cmds[i].args);
	return EXIT_USAGE;
}

static const char *
plural(long n, const char *word, char *buf, size_t len)
{
	snprintf(buf, len, "%ld %s%s", n, word, n == 1 ? "" : "s");
	return buf;
}

/*
 * cmd_check - every problem as file:line: message, or one OK line.
 * As root also this host (its user, spool, socket directories); -s
 * leaves the host out, for a config written for another machine.
 */
static int
cmd_check(const char *conf, int argc, char **argv)
{
	struct bridge_conf *c;
	char b1[32], b2[32];
	int n, i, host = 1;

	if (argc == 2 && strcmp(argv[1], "-s") == 0)
		host = 0;
	else if (argc != 1)
		return usage();
	n = conf_check_load(conf, stderr, host, &c);
	if (n > 0 || c == NULL) {
		fprintf(stderr, "bridgectl: %s: %s\n", conf,
		    plural(n, "problem", b1, sizeof(b1)));
		return EXIT_CONFIG;
	}
	if (host && c->tls.cert != NULL) {
		char err[700];
		void *ctx;

		/* as the hub will: chain, key, their match, the ciphers */
		if ((ctx = tls_server_new(c, err, sizeof(err))) == NULL) {
			fprintf(stderr, "%s: tls: %s\nbridgectl: %s: 1 "
			    "problem\n", conf, err, conf);
			conf_free(c);
			return EXIT_CONFIG;
		}
		tls_server_free(ctx);
	}
	for (i = 0; i < c->ncustomers; i++) {
		char err[700];
		void *ctx;

		/* a customer's CA file, loaded as its flush will */
		if (!host || c->customers[i].tls_ca == NULL)
			continue;
		if ((ctx = tls_client_new(c->customers[i].tls_ca, err,
		    sizeof(err))) == NULL) {
			fprintf(stderr, "%s:%d: customer \"%s\": tls-ca: %s\n"
			    "bridgectl: %s: 1 problem\n", conf,
			    c->customers[i].line, c->customers[i].name, err,
			    conf);
			conf_free(c);
			return EXIT_CONFIG;
		}
		tls_client_free(ctx);
	}
	printf("bridgectl: %s: OK (%s, %s)\n", conf,
	    plural(c->ncustomers, "customer", b1, sizeof(b1)),
	    plural((long)routes_count(c->routes), "route", b2, sizeof(b2)));
	fflush(stdout);
	if (c->relayhost == NULL)
		fprintf(stderr, "bridgectl: %s: warning: relayhost is not set: "
		    "delivery reports stay queued in %s/q/_dsn\n", conf,
		    c->spool);
	conf_free(c);
	return EXIT_OK;
}

static const char *
base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s != NULL ? s + 1 : path;
}

/* route_one - print what the hub would do with RCPT TO:<arg>; 1 if ok. */
static int
route_one(const struct bridge_conf *c, const char *arg)
{
	struct route_result res;
	struct customer *cu;
	struct addr a;
	const char *why, *dsn;
	char buf[ADDR_PATH_MAX + 1];
	enum addr_status st;
	int code;

	st = addr_parse_plain(arg, 0, &a, &why);
	if (st != ADDR_OK) {
		code = addr_reply(st, 0, &dsn);
		printf("%s: refused (%d %s %s)\n", arg, code, dsn, why);
		return 0;
	}
	addr_format(&a, buf, sizeof(buf));
	routes_lookup(c->routes, a.domain, &res);
	if (res.kind == ROUTE_NONE) {
		printf("%s: no route -> not ours (550 5.7.1 relaying denied)\n",
		    buf);
		return 0;
	}
	printf("%s: key %s (%s:%d) -> ", buf, res.key, res.file, res.line);
	if (res.kind == ROUTE_ERROR) {
		printf("error %d %s %s\n", res.code, res.status, res.text);
		return 0;
	}
	printf("customer %s", res.customer);
	cu = conf_customer(c, res.customer);
	if (cu != NULL && cu->rcpts != NULL &&
	    !rcptlist_has(cu->rcpts, a.local, a.domain)) {
		printf("; recipient not in %s (550 5.1.1)\n",
		    base_name(cu->recipients));
		return 0;
	}
	printf("\n");
	return 1;
}

/* cmd_route - exit 0 when every address would be accepted, else 1. */
static int
cmd_route(const char *conf, int argc, char **argv)
{
	struct bridge_conf *c;
	int i, good = 1;

	if (argc < 2)
		return usage();
	if ((c = conf_load(conf, stderr, NULL)) == NULL)
		return EXIT_CONFIG;
	for (i = 1; i < argc; i++)
		if (!route_one(c, argv[i]))
			good = 0;
	conf_free(c);
	return good ? EXIT_OK : 1;
}

/*
 * as_owner - the commands that read or change the queue run as the
 * spool's owner when started as root (spool_as_owner, queue.h).
 */
static int
as_owner(const struct bridge_conf *c)
{
	char why[512];

	if (spool_as_owner(c->spool, why, sizeof(why)) == -1) {
		fprintf(stderr, "bridgectl: %s\n", why);
		return -1;
	}
	return 0;
}

static int
cmd_queue(const char *conf, int argc, char **argv)
{
	struct bridge_conf *c;
	const char **names;
	const char *only = NULL;
	int i, n = 0, summary = 0, rc = EXIT_OK;
	long r;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-s") == 0 ||
		    strcmp(argv[i], "--summary") == 0)
			summary = 1;
		else if (argv[i][0] == '-' || only != NULL)
			return usage();
		else
			only = argv[i];
	}
	if ((c = conf_load(conf, stderr, NULL)) == NULL)
		return EXIT_CONFIG;
	if (as_owner(c) == -1) {
		conf_free(c);
		return EXIT_NOPERM;
	}
	if (only != NULL && conf_customer(c, only) == NULL) {
		fprintf(stderr, "bridgectl: no customer \"%s\" in %s\n", only,
		    conf);
		conf_free(c);
		return EXIT_NOUSER;
	}
	if ((names = calloc((size_t)c->ncustomers + 1, sizeof(*names))) ==
	    NULL)
		log_fatal(EXIT_OSERR, "calloc");
	if (only != NULL)
		names[n++] = only;
	else
		for (i = 0; i < c->ncustomers; i++)
			names[n++] = c->customers[i].name;
	if (summary)
		r = qlist_summary(stdout, c->spool, names, n, time(NULL));
	else
		r = qlist_print(stdout, c->spool, names, n, time(NULL));
	if (r < 0 || fflush(stdout) == EOF)
		rc = EXIT_IOERR;
	free(names);
	conf_free(c);
	return rc;
}

#define CTL_TIMEOUT	30	/* seconds for bridged's answer */

/*
 * ctl_request - send line to the control socket of the bridged that
 * serves conf and put its one-line answer in reply.  Returns 0, or
 * EXIT_TEMPFAIL (message printed) when bridged cannot be reached.
 */
static int
ctl_request(const struct bridge_conf *c, const char *line, char *reply,
    size_t len)
{
	struct sockaddr_un sun;
	struct pollfd pfd;
	size_t have = 0;
	ssize_t n;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if ((c->control.l.nlisten == 1 ? path_build(sun.sun_path,
	    sizeof(sun.sun_path), "%s", c->control.l.listen[0] + 5) :
	    path_build(sun.sun_path, sizeof(sun.sun_path), "%s/control",
	    c->spool)) == -1) {
		fprintf(stderr, "bridgectl: the control socket's path is too "
		    "long\n");
		return EXIT_TEMPFAIL;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		fprintf(stderr, "bridgectl: bridged is not running or not "
		    "reachable (%s: %s)\n", sun.sun_path, strerror(errno));
		if (fd != -1)
			close(fd);
		return EXIT_TEMPFAIL;
	}
	/* a refused peer is answered and closed before it has written */
	signal(SIGPIPE, SIG_IGN);
	(void)io_write_all(fd, line, strlen(line));
	for (;;) {
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, CTL_TIMEOUT * 1000) <= 0)
			goto fail;
		n = read(fd, reply + have, len - 1 - have);
		if (n <= 0)
			goto fail;
		have += (size_t)n;
		reply[have] = '\0';
		if (strchr(reply, '\n') != NULL || have + 1 >= len)
			break;
	}
	close(fd);
	reply[strcspn(reply, "\r\n")] = '\0';
	return 0;
fail:
	fprintf(stderr, "bridgectl: no answer from bridged on %s\n",
	    sun.sun_path);
	close(fd);
	return EXIT_TEMPFAIL;
}

/*
 * ctl_exit - the exit status for bridged's answer: ok 0; "error busy"
 * 75; "error no such customer" 67; "error denied" (the peer's role may
 * not) 77; any other error 69.
 */
static int
ctl_exit(const char *reply)
{
	if (strncmp(reply, "ok", 2) == 0 && (reply[2] == ' ' ||
	    reply[2] == '\0'))
		return EXIT_OK;
	if (strncmp(reply, "error busy", 10) == 0)
		return EXIT_TEMPFAIL;
	if (strncmp(reply, "error no such customer", 22) == 0)
		return EXIT_NOUSER;
	if (strncmp(reply, "error denied", 12) == 0)
		return EXIT_NOPERM;
	return EXIT_UNAVAIL;
}

/* ctl_ask - send line to bridged, print its answer; the exit code. */
static int
ctl_ask(const struct bridge_conf *c, const char *line)
{
	char reply[4096];
	int rc;

	if ((rc = ctl_request(c, line, reply, sizeof(reply))) == 0) {
		rc = ctl_exit(reply);
		fprintf(rc == EXIT_OK ? stdout : stderr, "bridgectl: %s\n",
		    reply);
	}
	return rc;
}

/* ctl_customer - "flush" or "bundle" for one customer of the config. */
static int
ctl_customer(const char *conf, const char *verb, int argc, char **argv)
{
	struct bridge_conf *c;
	char line[128];
	int rc;

	if (argc != 2)
		return usage();
	if ((c = conf_load(conf, stderr, NULL)) == NULL)
		return EXIT_CONFIG;
	if (!name_is_safe(argv[1]) || conf_customer(c, argv[1]) == NULL) {
		fprintf(stderr, "bridgectl: no customer \"%s\" in %s\n",
		    argv[1], conf);
		conf_free(c);
		return EXIT_NOUSER;
	}
	snprintf(line, sizeof(line), "%s %s\n", verb, argv[1]);
	rc = ctl_ask(c, line);
	conf_free(c);
	return rc;
}

/* cmd_flush - ask bridged to deliver the customer's queue now. */
static int
cmd_flush(const char *conf, int argc, char **argv)
{
	return ctl_customer(conf, "flush", argc, argv);
}

/* cmd_bundle - ask bridged to bundle (and hand off) the queue now. */
static int
cmd_bundle(const char *conf, int argc, char **argv)
{
	return ctl_customer(conf, "bundle", argc, argv);
}

/* cmd_status - bridged's jobs, one line. */
static int
cmd_status(const char *conf, int argc, char **argv)
{
	struct bridge_conf *c;
	int rc;

	(void)argv;

	if (argc != 1)
		return usage();
	if ((c = conf_load(conf, stderr, NULL)) == NULL)
		return EXIT_CONFIG;
	rc = ctl_ask(c, "status\n");
	conf_free(c);
	return rc;
}

/* expire_one - sweep one queue now and print what happened. */
static int
expire_one(const struct bridge_conf *c, const char *name)
{
	struct qexpire_stats st;
	enum result rs;

	rs = expire_queue(c, name, time(NULL), &st);
	if (st.busy) {
		printf("%s: busy (a flush or bundle run holds the queue), "
		    "skipped\n", name);
		return EXIT_TEMPFAIL;
	}
	printf("%s: %u entries, %u warned, %u expired, %u bundles expired, "
	    "%u damaged bundles moved aside, %u DSNs queued%s\n", name,
	    st.entries, st.warned, st.expired, st.bundles, st.corrupt,
	    st.dsns, rs == RS_OK ? "" : ", some left for the next sweep");
	return rs == RS_OK ? EXIT_OK : EXIT_TEMPFAIL;
}

/*
 * cmd_expire - a one-off lifetime sweep of the named customers' queues
 * and outboxes, or of every customer and _dsn, in this process.
 */
static int
cmd_expire(const char *conf, int argc, char **argv)
{
	struct bridge_conf *c;
	int i, rc = EXIT_OK, r;

	if ((c = conf_load(conf, stderr, NULL)) == NULL)
		return EXIT_CONFIG;
	if (as_owner(c) == -1) {
		conf_free(c);
		return EXIT_NOPERM;
	}
	for (i = 1; i < argc; i++)
		if (!name_is_safe(argv[i]) || conf_customer(c, argv[i]) ==
		    NULL) {
			fprintf(stderr, "bridgectl: no customer \"%s\" in "
			    "%s\n", argv[i], conf);
			conf_free(c);
			return EXIT_NOUSER;
		}
	for (i = 1; i < argc; i++)
		if ((r = expire_one(c, argv[i])) != EXIT_OK)
			rc = r;
	for (i = 0; argc == 1 && i < c->ncustomers; i++)
		if ((r = expire_one(c, c->customers[i].name)) != EXIT_OK)
			rc = r;
	if (argc == 1 && (r = expire_one(c, DSN_QUEUE)) != EXIT_OK)
		rc = r;
	conf_free(c);
	return rc;
}

int
main(int argc, char **argv)
{
	const char *conf = DEFAULT_CONF;
	size_t i;
	int k = 1;

	log_init("bridgectl", LOG_TO_STDERR);
	while (k < argc && argv[k][0] == '-') {
		if (strcmp(argv[k], "-c") == 0 && k + 1 < argc) {
			conf = argv[k + 1];
			k += 2;
		} else if (strncmp(argv[k], "-c", 2) == 0 && argv[k][2]) {
			conf = argv[k] + 2;
			k++;
		} else {
			return usage();
		}
	}
	if (k >= argc)
		return usage();
	for (i = 0; i < NCMDS; i++)
		if (strcmp(argv[k], cmds[i].name) == 0)
			return cmds[i].fn(conf, argc - k, argv + k);
	fprintf(stderr, "bridgectl: unknown command \"%s\"\n", argv[k]);
	return usage();
}
