/*
 * bridge-enqueue.c - the sendmail-style pipe intake (bridge-enqueue(8)):
 * "bridge-enqueue -f sender -- rcpt...", the message on stdin, for
 * Postfix pipe(8) and Sendmail mailers.  The recipients go through the
 * same routing, recipient lists and quotas as bridged's RCPT, the
 * message through the same intake (Received: header, X-Envelope-To:
 * removed, one entry per customer), with LF line ends made CRLF.
 *
 * The message goes to the running hub over its enqueue socket (LMTP,
 * all recipients or none; the hub's queue process writes it): the
 * enqueue { listen } of bridge.conf, else <spool>/enqueue, which only
 * the spool's owner and root may use.  A hub that is not running is
 * exit 75, so the MTA keeps the mail; nothing here writes the spool.
 *
 * Invariants: exit 0 only when the hub said 250 for every recipient
 * (its entries committed); any refusal queues nothing; one line on
 * stderr names the problem (and the recipient).
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "conf.h"
#include "log.h"
#include "smtpc.h"
#include "util.h"
#include "smtpd.h"

#ifndef PREFIX
#define PREFIX "/usr/local"
#endif
#define DEFAULT_CONF	PREFIX "/etc/bridge/bridge.conf"
#define READ_MAX	SIO_IBUF	/* longer lines come in pieces */
#define SPEC_MAX	(5 + 108)	/* "unix:" and a sun_path */

static const char *progname = "bridge-enqueue";

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: %s [-c config] -f sender [-i] [-o option] "
	    "[--] recipient ...\n", progname);
	exit(EXIT_USAGE);
}

static void __attribute__((noreturn, format(printf, 2, 3)))
die(int ex, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: %s\n", progname, msg);
	log_warnx("%s", msg);
	exit(ex);
}

/* parse - a sender or recipient as given: "<a@b>", "a@b", "" or "<>". */
static enum addr_status
parse(const char *s, int allow_null, struct addr *a, const char **why)
{
	size_t end = 0;
	enum addr_status st;

	if (s[0] != '<')
		return addr_parse_plain(s, allow_null, a, why);
	st = addr_parse_path(s, strlen(s), allow_null, a, &end, why);
	if (st == ADDR_OK && s[end] != '\0') {
		*why = "text after the address";
		return ADDR_SYNTAX;
	}
	return st;
}

/* The message for the hub, CRLF line ends. */
struct sink {
	char   *buf;
	size_t	len, cap;
	uint64_t max;			/* 0: no limit */
};

/* put - a line or a piece of one into the sink. */
static void
put(struct sink *k, const char *p, size_t n)
{
	size_t cap;

	if (k->max != 0 && k->len + n > k->max)
		die(EXIT_DATAERR, "message too big: more than max-size, %llu "
		    "octets", (unsigned long long)k->max);
	if (k->len + n > k->cap) {
		cap = k->cap ? k->cap : 65536;
		while (cap < k->len + n)
			cap *= 2;
		if ((k->buf = realloc(k->buf, cap)) == NULL)
			die(EXIT_TEMPFAIL, "out of memory");
		k->cap = cap;
	}
	memcpy(k->buf + k->len, p, n);
	k->len += n;
}

/*
 * body - stdin into the sink, LF made CRLF.  A NUL or a bare CR
 * refuses the message (65).  Lines over 998 octets are kept as they
 * are (real mail has them); a line longer than the read buffer is fed
 * in pieces.
 */
static void
body(struct sink *k)
{
	static struct sio io;
	const char *p, *why = NULL;
	static char line[READ_MAX + 2];
	size_t len, text;
	long lineno = 1;
	int st;

	sio_init(&io, STDIN_FILENO, -1, 0);
	while ((st = sio_getline(&io, READ_MAX, &p, &len)) > 0) {
		text = len;
		if (st == SIO_LINE)
			text -= len >= 2 && p[len - 2] == '\r' ? 2 : 1;
		else if (st == SIO_PART && text > 0 && p[text - 1] == '\r')
			text--;		/* may be the CR of a CRLF */
		if (memchr(p, '\0', text) != NULL)
			why = "has a NUL octet";
		else if (memchr(p, '\r', text) != NULL)
			why = "has a bare CR";
		if (why != NULL)
			break;
		if (st == SIO_PART) {
			put(k, p, text);
			if (text < len && (st = sio_getline(&io, 1, &p,
			    &len)) > 0 && p[0] != '\n') {
				why = "has a bare CR";
				break;
			}
			if (text < len && st > 0) {
				put(k, "\r\n", 2);
				lineno++;
			}
			continue;
		}
		memcpy(line, p, text);
		memcpy(line + text, "\r\n", 2);
		put(k, line, text + 2);
		lineno++;
	}
	if (st < 0)
		die(EXIT_TEMPFAIL, "reading the message: %s", strerror(errno));
	if (why != NULL) {
		while (sio_getline(&io, READ_MAX, &p, &len) > 0)
			;
		die(EXIT_DATAERR, "message line %ld %s", lineno, why);
	}
}

/* One message to the hub and what became of each recipient. */
struct hubmsg {
	struct smtpc_msg m;
	int	sent;
};

static struct smtpc_msg *
hub_next(void *arg)
{
	struct hubmsg *h = arg;

	if (h->sent)
		return NULL;
	h->sent = 1;
	return &h->m;
}

static void
hub_done(void *arg, struct smtpc_msg *m)
{
	(void)arg;
	(void)m;
}

/*
 * hub_socket - the enqueue socket's "unix:/path" into spec (the
 * config's, else <spool>/enqueue); exits 75 when the hub is not
 * there, 77 when this user may not use it.
 */
static void
hub_socket(const struct bridge_conf *c, char *spec, size_t len)
{
	struct stat st;
	const char *path;

	if (c->enqueue.l.nlisten > 0) {
		if (strlcpy_(spec, c->enqueue.l.listen[0], len) >= len)
			die(EXIT_CONFIG, "enqueue listen: too long");
	} else if (path_build(spec, len, "unix:%s/enqueue", c->spool) == -1)
		die(EXIT_CONFIG, "spool %s: path too long", c->spool);
	path = spec + 5;
	if (access(path, W_OK) == 0)
		return;
	if (errno == EACCES) {
		char owner[64] = "";

		if (c->enqueue.l.nlisten > 0)
			die(EXIT_NOPERM, "%s: permission denied: run as a "
			    "member of the enqueue group%s%s", path,
			    c->enqueue.group != NULL ? " " : "",
			    c->enqueue.group != NULL ? c->enqueue.group : "");
		if (stat(c->spool, &st) == 0)
			snprintf(owner, sizeof(owner), " (uid %ld)",
			    (long)st.st_uid);
		die(EXIT_NOPERM, "%s: permission denied for uid %ld: run as "
		    "the spool's owner%s or root (Postfix: pipe user=), or "
		    "give the hub an enqueue { listen group } socket", path,
		    (long)getuid(), owner);
	}
	die(EXIT_TEMPFAIL, "the hub is not running (%s: %s): try later",
	    path, strerror(errno));
}

/*
 * to_hub - the message to the running hub over its enqueue socket
 * (LMTP, every recipient or none).  Exits with the outcome.
 */
static void __attribute__((noreturn))
to_hub(const struct bridge_conf *c, const char *sender, int n, char **rcpt)
{
	static struct sink k;
	struct smtpc_opts o;
	struct smtpc_reply r;
	struct smtpc_feed feed;
	struct hubmsg h;
	struct smtpc *sc;
	struct addr a;
	const char *why = "syntax";
	char buf[ADDR_PATH_MAX], spec[SPEC_MAX], **addrs;
	enum addr_status st;
	int i, bad = -1;

	st = parse(sender, 1, &a, &why);
	if (st != ADDR_OK && st != ADDR_LITERAL && st != ADDR_ROUTING)
		die(EXIT_DATAERR, "sender <%s>: bad address (%s)", sender, why);
	addr_format(&a, buf, sizeof(buf));
	if ((addrs = calloc((size_t)n, sizeof(*addrs))) == NULL)
		die(EXIT_TEMPFAIL, "out of memory");
	for (i = 0; i < n; i++) {
		char rb[ADDR_PATH_MAX];

		memset(&a, 0, sizeof(a));
		if (parse(rcpt[i], 0, &a, &why) != ADDR_OK)
			die(EXIT_NOUSER, "recipient <%s>: bad address (%s)",
			    rcpt[i], why);
		addr_format(&a, rb, sizeof(rb));
		if ((addrs[i] = strdup(rb)) == NULL)
			die(EXIT_TEMPFAIL, "out of memory");
	}
	k.max = c->smtp.max_size;
	body(&k);
	hub_socket(c, spec, sizeof(spec));
	smtpc_opts_default(&o);
	o.lmtp = 1;
	o.all_rcpts = 1;
	o.disable = SMTPC_EXT_PIPELINING | SMTPC_EXT_CHUNKING;
	if (smtpc_connect(spec, 0, &o, &sc, &r) != RS_OK)
		die(EXIT_TEMPFAIL, "the hub is not running (%s: %s): try "
		    "later", spec, r.text);
	if (smtpc_greeting(sc, &r) != RS_OK || smtpc_hello(sc, "localhost",
	    &r) != RS_OK)
		die(EXIT_TEMPFAIL,
		    "the hub at %s: %s", spec, r.text);
	memset(&h, 0, sizeof(h));
	h.m.sender = a.null ? "" : buf;
	h.m.rcpts = (const char *const *)addrs;
	h.m.nrcpts = n;
	h.m.data = k.buf != NULL ? k.buf : "";
	h.m.len = k.len;
	if ((h.m.result = calloc((size_t)n, sizeof(*h.m.result))) == NULL)
		die(EXIT_TEMPFAIL, "out of memory");
	feed.next = hub_next;
	feed.done = hub_done;
	feed.arg = &h;
	smtpc_send(sc, &feed);
	smtpc_quit(sc);
	/* the first permanent refusal wins, then the first temporary one */
	for (i = 0; i < n; i++)
		if (h.m.result[i].code >= 500 && bad == -1)
			bad = i;
	for (i = 0; i < n && bad == -1; i++)
		if (h.m.result[i].code < 200 || h.m.result[i].code >= 300)
			bad = i;
	if (bad == -1)
		exit(EXIT_OK);
	r = h.m.result[bad];
	if (r.code >= 500)
		die(h.m.data_sent ? EXIT_DATAERR : EXIT_NOUSER,
		    "recipient <%s>: %s", rcpt[bad], r.text);
	die(EXIT_TEMPFAIL, "recipient <%s>: %s", rcpt[bad], r.text);
}

int
main(int argc, char *argv[])
{
	struct bridge_conf *c;
	const char *path = DEFAULT_CONF, *sender = NULL;
	int ch, nerr = 0;

	while ((ch = getopt(argc, argv, "c:f:io:")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'f':
			sender = optarg;
			break;
		case 'i':
		case 'o':
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (sender == NULL || argc < 1)
		usage();
	log_init(progname, LOG_TO_SYSLOG);
	if ((c = conf_load(path, stderr, &nerr)) == NULL)
		die(EXIT_CONFIG, "%s: %d configuration problem%s", path, nerr,
		    nerr == 1 ? "" : "s");
	to_hub(c, sender, argc, argv);
}
