/*
 * bridge-enqueue.c - the sendmail-style pipe intake (bridge-enqueue(8)):
 * "bridge-enqueue -f sender -- rcpt...", the message on stdin, for
 * Postfix pipe(8) and Sendmail mailers.  The recipients go through the
 * same routing, recipient lists and quotas as bridged's RCPT, the
 * message through the same intake (Received: header, X-Envelope-To:
 * removed, one entry per customer), with LF line ends made CRLF.
 *
 * Invariants: exit 0 only when every entry is committed; any refusal
 * queues nothing; one line on stderr names the problem (and the
 * recipient); entries are written only by the spool's owner.
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
#include "util.h"
#include "smtpd.h"

#ifndef PREFIX
#define PREFIX "/usr/local"
#endif
#define DEFAULT_CONF	PREFIX "/etc/bridge/bridge.conf"
#define READ_MAX	SIO_IBUF	/* longer lines come in pieces */

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

/* reply_exit - the sysexits code for a refusal at RCPT (67) or later. */
static int
reply_exit(const struct intake_reply *r, int perm)
{
	return r->code < 500 ? EXIT_TEMPFAIL : perm;
}

/* spool_check - only the spool's owner may write entries (77 if not). */
static void
spool_check(const struct bridge_conf *c)
{
	struct stat st;

	if (stat(c->spool, &st) == -1)
		die(EXIT_TEMPFAIL, "spool %s: %s", c->spool, strerror(errno));
	if (st.st_uid != geteuid() || access(c->spool, W_OK | X_OK) == -1)
		die(EXIT_NOPERM, "spool %s is not writable by uid %ld: run as "
		    "its owner (uid %ld), e.g. Postfix pipe user=%s", c->spool,
		    (long)geteuid(), (long)st.st_uid,
		    c->user != NULL && *c->user != '\0' ? c->user : "bridge");
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

static void
start(struct intake *in, const char *sender)
{
	static char uid[32];
	struct intake_client cl;
	struct intake_reply r;
	struct addr a;
	const char *why = "syntax";
	char buf[ADDR_PATH_MAX];
	enum addr_status st;

	st = parse(sender, 1, &a, &why);
	if (st != ADDR_OK && st != ADDR_LITERAL && st != ADDR_ROUTING)
		die(EXIT_DATAERR, "sender <%s>: bad address (%s)", sender, why);
	snprintf(uid, sizeof(uid), "uid %ld", (long)getuid());
	cl.protocol = "pipe";
	cl.helo = NULL;
	cl.name = "localhost";
	cl.addr = uid;
	addr_format(&a, buf, sizeof(buf));
	if (intake_mail(in, &cl, a.null ? "" : buf, 0, 1, &r) != RS_OK)
		die(reply_exit(&r, EXIT_DATAERR), "sender <%s>: %d %s %s",
		    sender, r.code, r.status, r.text);
}

static void
recipients(struct intake *in, int n, char **rcpt)
{
	struct intake_reply r;
	struct addr a;
	const char *why = "syntax";
	enum addr_status st;
	int i;

	for (i = 0; i < n; i++) {
		memset(&a, 0, sizeof(a));
		st = parse(rcpt[i], 0, &a, &why);
		if (intake_rcpt(in, st, &a, rcpt[i], why, &r) != RS_OK)
			die(reply_exit(&r, EXIT_NOUSER),
			    "recipient <%s>: %d %s %s", rcpt[i], r.code,
			    r.status, r.text);
	}
}

/*
 * body - stdin into the entry, LF made CRLF.  A NUL or a bare CR
 * refuses the message (65).  Lines over 998 octets are kept as they
 * are (real mail has them); a line longer than the read buffer is fed
 * in pieces.
 */
static void
body(struct intake *in)
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
			intake_part(in, p, text);
			if (text < len && (st = sio_getline(&io, 1, &p,
			    &len)) > 0 && p[0] != '\n') {
				why = "has a bare CR";
				break;
			}
			if (text < len && st > 0) {
				intake_line(in, "\r\n", 2);
				lineno++;
			}
			continue;
		}
		memcpy(line, p, text);
		memcpy(line + text, "\r\n", 2);
		intake_line(in, line, text + 2);
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

int
main(int argc, char *argv[])
{
	struct bridge_conf *c;
	struct intake *in;
	struct intake_reply r;
	const char *path = DEFAULT_CONF, *sender = NULL;
	char why[512];
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
	if (spool_as_owner(c->spool, why, sizeof(why)) == -1)
		die(EXIT_NOPERM, "%s", why);
	spool_check(c);
	if (c->smtp.max_recipients < argc)
		c->smtp.max_recipients = argc;
	if ((in = intake_new(c, NULL)) == NULL)
		die(EXIT_TEMPFAIL, "out of memory");
	start(in, sender);
	recipients(in, argc, argv);
	if (intake_data(in, &r) != RS_OK)
		die(reply_exit(&r, EXIT_DATAERR), "%d %s %s", r.code, r.status,
		    r.text);
	body(in);
	if (intake_end(in, 1, &r) != RS_OK)
		die(reply_exit(&r, EXIT_DATAERR), "message from <%s>: %d %s %s",
		    sender, r.code, r.status, r.text);
	intake_free(in);
	conf_free(c);
	return EXIT_OK;
}
