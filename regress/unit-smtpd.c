/*
 * unit-smtpd.c - the SMTP/LMTP session engine (etrn/smtpd.c,
 * smtp_io.c, intake.c, usage.c) driven over a socketpair by a scripted
 * client: command parsing, pipelining order, line limits, bare CR/LF,
 * NUL, dot-stuffing, X-Envelope-To removal, the Received: header,
 * routing, one entry per customer, LMTP replies, ETRN (node forms,
 * refusals, the request datagram to the master, its domain), AUTH
 * CRAM-MD5 refusals.  No network.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "rcptlist.h"
#include "routes.h"
#include "queue.h"
#include "util.h"
#include "smtpd.h"
#include "odmr.h"
#include "tap.h"

static char spool[256];
static struct customer custs[3];
static struct bridge_conf conf;

static const char routes_text[] =
    "acme.test      acme\n"
    ".acme.test     acme\n"
    "ship.test      ship\n"
    "full.test      full\n"
    "gone.test      error:5.1.2 this domain has moved\n"
    "later.test     error:4.4.0 try again later\n";

static void
setup(void)
{
	char path[512];
	FILE *f;
	int nerr = 0, i;

	snprintf(spool, sizeof(spool), "/tmp/unit-smtpd.XXXXXX");
	if (mkdtemp(spool) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/acme.users", spool);
	f = fopen(path, "w");
	fputs("alice\nbob@acme.test\n", f);
	fclose(f);
	custs[0].name = "acme";
	custs[0].rcpts = rcptlist_load(path, stderr, &nerr);
	custs[0].recipients = path;
	custs[1].name = "ship";
	custs[2].name = "full";
	custs[2].quota = 1;
	for (i = 0; i < 3; i++)
		custs[i].release = REL_ETRN;
	conf.hostname = "hub.test";
	conf.spool = spool;
	conf.smtp.max_size = 20000;
	conf.smtp.max_recipients = 5;
	conf.smtp.timeout = 5;
	conf.smtp.max_clients = 10;
	conf.queue.min_free = 0;
	conf.customers = custs;
	conf.ncustomers = 3;
	conf.routes = routes_load_buf("routes", routes_text, stderr, &nerr);
	if (conf.routes == NULL || nerr != 0 || custs[0].rcpts == NULL) {
		fprintf(stderr, "setup failed\n");
		exit(1);
	}
	for (i = 0; i < 3; i++)
		spool_prepare(spool, custs[i].name);
}

/*
 * session - run one session in a child over a socketpair, send script,
 * collect every reply octet into out.
 */
static int keep_open;		/* do not shut the client's side down */
#define ODMR	2		/* session()'s lmtp: an ODMR session */

static int req_fd;		/* ctx.reqfd: the master's datagrams */
static volatile sig_atomic_t stop_flag;

static size_t
session(const char *script, size_t slen, int lmtp, char *out, size_t olen)
{
	struct smtpd_client cl;
	struct smtpd_ctx ctx;
	struct pollfd pfd;
	size_t off = 0, got = 0;
	ssize_t n;
	pid_t pid;
	int sv[2], st;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		exit(1);
	if ((pid = fork()) == 0) {
		close(sv[0]);
		if (getenv("TEST_VERBOSE") == NULL)
			freopen("/dev/null", "w", stderr);
		fcntl(sv[1], F_SETFL, O_NONBLOCK);
		memset(&cl, 0, sizeof(cl));
		cl.lmtp = lmtp == 1;
		strlcpy_(cl.addr, "192.0.2.1", sizeof(cl.addr));
		strlcpy_(cl.name, "unknown", sizeof(cl.name));
		memset(&ctx, 0, sizeof(ctx));
		ctx.conf = &conf;
		ctx.stop = &stop_flag;
		ctx.reqfd = req_fd;
		if (lmtp == ODMR)
			_exit(odmr_session(&ctx, sv[1], &cl) == 0 ? 0 : 1);
		_exit(smtpd_session(&ctx, sv[1], sv[1], &cl) == 0 ? 0 : 1);
	}
	close(sv[1]);
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	for (;;) {
		pfd.fd = sv[0];
		pfd.events = POLLIN | (off < slen ? POLLOUT : 0);
		if (poll(&pfd, 1, 10000) <= 0)
			break;
		if ((pfd.revents & POLLOUT) && off < slen) {
			n = write(sv[0], script + off, slen - off);
			if (n > 0)
				off += (size_t)n;
			if (off == slen && !keep_open)
				shutdown(sv[0], SHUT_WR);
		}
		if (pfd.revents & (POLLIN | POLLHUP)) {
			n = read(sv[0], out + got, olen - 1 - got);
			if (n <= 0 && !(n == -1 && errno == EAGAIN))
				break;
			if (n > 0)
				got += (size_t)n;
		}
	}
	out[got] = '\0';
	close(sv[0]);
	waitpid(pid, &st, 0);
	return got;
}

/* codes - the code of each final reply line, space separated. */
static char *
codes(const char *out, char *buf, size_t len)
{
	const char *p = out, *nl;
	size_t o = 0;

	buf[0] = '\0';
	while ((nl = strstr(p, "\r\n")) != NULL) {
		if (nl - p >= 4 && p[3] == ' ' && o + 5 < len) {
			memcpy(buf + o, p, 3);
			o += 3;
			buf[o++] = ' ';
			buf[o] = '\0';
		}
		p = nl + 2;
	}
	if (o > 0)
		buf[o - 1] = '\0';
	return buf;
}

static char out[1 << 20];

/* run - a session with a NUL-terminated script; its codes. */
static char *
run(const char *script, int lmtp)
{
	static char c[4096];

	session(script, strlen(script), lmtp, out, sizeof(out));
	return codes(out, c, sizeof(c));
}

/* count - entries in <spool>/q/<customer>/<sub>; the last name into id. */
static int
count(const char *customer, const char *sub, char *id, size_t idlen)
{
	char path[512];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "%s/q/%s/%s", spool, customer, sub);
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		n++;
		if (id != NULL)
			strlcpy_(id, e->d_name, idlen);
	}
	closedir(d);
	return n;
}

static void
clear(void)
{
	char path[512], id[128];
	int i;

	for (i = 0; i < 3; i++)
		while (count(custs[i].name, "new", id, sizeof(id)) > 0) {
			q_path(path, sizeof(path), spool, custs[i].name, "new",
			    id);
			unlink(path);
		}
}

/* entry - the message part of the only entry of customer, or NULL. */
static char *
entry(const char *customer, char *id, size_t idlen, char **envp)
{
	static char buf[1 << 18];
	char path[512], *sep;
	ssize_t n;
	int fd;

	if (count(customer, "new", id, idlen) != 1)
		return NULL;
	q_path(path, sizeof(path), spool, customer, "new", id);
	if ((fd = open(path, O_RDONLY)) == -1)
		return NULL;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	if ((sep = strstr(buf, "\n\n")) == NULL)
		return NULL;
	sep[1] = '\0';
	if (envp != NULL)
		*envp = buf;
	return sep + 2;
}

#define HELLO "EHLO client.test\r\nMAIL FROM:<s@example.org>\r\n"

static void
test_basic(void)
{
	char id[128], *msg, *env, want[1024], *rcv;

	clear();
	is_str(run(HELLO "RCPT TO:<alice@acme.test>\r\nDATA\r\n"
	    "Subject: hi\r\n"
	    "X-Envelope-To: evil@acme.test\r\n"
	    "x-envelope-to : folded@acme.test,\r\n"
	    "\tmore@acme.test\r\n"
	    "To: alice@acme.test\r\n"
	    "\r\n"
	    "..leading dot\r\n"
	    "X-Envelope-To: stays in the body\r\n"
	    ".\r\nQUIT\r\n", 0),
	    "220 250 250 250 354 250 221", "basic transaction");
	ok(strstr(out, "250-PIPELINING\r\n") &&
	    strstr(out, "250-SIZE 20000\r\n") &&
	    strstr(out, "250-8BITMIME\r\n") &&
	    strstr(out, "250 ENHANCEDSTATUSCODES\r\n"), "EHLO keywords");
	ok(strncmp(out, "220 hub.test ESMTP", 18) == 0, "greeting");
	ok(strstr(out, "250 2.1.0 Ok\r\n") && strstr(out, "250 2.1.5 Ok\r\n"),
	    "enhanced codes on MAIL and RCPT");
	msg = entry("acme", id, sizeof(id), &env);
	ok(msg != NULL, "one entry in acme/new");
	if (msg == NULL)
		return;
	ok(strstr(out, id) != NULL, "250 names the queue id");
	ok(strstr(env, "\nrcpt <alice@acme.test>\n") &&
	    strstr(env, "\nsender <s@example.org>\n") &&
	    strstr(env, "\nprotocol ESMTP\n") &&
	    strstr(env, "\nhelo client.test\n"), "envelope lines");
	snprintf(want, sizeof(want), "Received: from client.test (unknown "
	    "[192.0.2.1])\r\n\tby hub.test (mailbridge) with ESMTP id %s\r\n"
	    "\tfor <alice@acme.test>; ", id);
	ok(strncmp(msg, want, strlen(want)) == 0, "Received: header");
	rcv = strstr(msg, "\r\nSubject:");
	is_str(rcv, "\r\nSubject: hi\r\nTo: alice@acme.test\r\n\r\n"
	    ".leading dot\r\nX-Envelope-To: stays in the body\r\n",
	    "X-Envelope-To gone from the header, kept in the body, "
	    "dot-stuffing removed");
	is_int(count("acme", "tmp", NULL, 0), 0, "tmp/ empty");
}

static void
test_pipelining(void)
{
	char id[128];

	clear();
	is_str(run("EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<x@ship.test>\r\n"
	    "RCPT TO:<nobody@nowhere.test>\r\nRCPT TO:<y@ship.test>\r\n"
	    "DATA\r\nhello\r\n.\r\nMAIL FROM:<a@b.c>\r\nRSET\r\nNOOP\r\n"
	    "VRFY x\r\nHELP\r\nQUIT\r\n", 0),
	    "220 250 250 250 550 250 354 250 250 250 250 252 214 221",
	    "pipelined replies in order");
	ok(entry("ship", id, sizeof(id), NULL) != NULL,
	    "null sender accepted, one entry");
	ok(strstr(out, "550 5.7.1 <nobody@nowhere.test>: Relay access denied")
	    != NULL, "relay denied text");
}

static void
test_commands(void)
{
	char big[4000];

	is_str(run("FOO\r\nQUIT\r\n", 0), "220 500 221", "unknown: 500");
	ok(strstr(out, "500 5.5.1 ") != NULL, "500 5.5.1");
	is_str(run("MAIL FROM:<a@b.c>\r\nQUIT\r\n", 0), "220 503 221",
	    "MAIL before EHLO");
	is_str(run("EHLO c\r\nRCPT TO:<a@acme.test>\r\nDATA\r\n", 0),
	    "220 250 503 503", "RCPT and DATA before MAIL");
	is_str(run("EHLO c\r\nMAIL FROM:<a@b.c>\r\nMAIL FROM:<a@b.c>\r\n"
	    "DATA\r\n", 0), "220 250 250 503 554",
	    "nested MAIL, DATA without recipients");
	/*
	 * A client that sends the message without waiting for DATA's
	 * reply: after a refusal its lines are never commands.
	 */
	is_str(run("EHLO c\r\nMAIL FROM:<a@b.c>\r\n"
	    "RCPT TO:<nobody@nowhere.test>\r\nDATA\r\n"
	    "MAIL FROM:<e@vil.test>\r\nRCPT TO:<a@acme.test>\r\nDATA\r\n"
	    "smuggled\r\n.\r\nQUIT\r\n", 0), "220 250 250 550 554 554",
	    "pipelined body after DATA 554: one 554 5.5.0 and close");
	ok(strstr(out, "554 5.5.1 Error: no valid recipients\r\n"
	    "554 5.5.0 Error: SMTP protocol synchronization\r\n") != NULL,
	    "  DATA's answer, then the synchronization error");
	is_int(count("acme", "new", NULL, 0), 0, "  nothing queued");
	is_str(run("EHLO c\r\nDATA\r\nRCPT TO:<a@acme.test>\r\n", 0),
	    "220 250 503 554", "pipelined after DATA 503: closed too");
	is_str(run("EHLO c\nNOOP\r\nQUIT\r\n", 0), "220 501 250 221",
	    "bare LF ends a command that is refused");
	ok(strstr(out, "501 5.5.2 ") != NULL, "bare LF: 501 5.5.2");
	is_str(run("NOOP\rEHLO c\r\nQUIT\r\n", 0), "220 501 221",
	    "bare CR: refused, not executed");
	session("NO\0OP\r\nQUIT\r\n", 13, 0, out, sizeof(out));
	is_str(codes(out, big, sizeof(big)), "220 501 221", "NUL in command");
	memset(big, 'A', sizeof(big));
	memcpy(big, "NOOP ", 5);
	memcpy(big + 3000, "\r\nQUIT\r\n", 9);
	is_str(run(big, 0), "220 500 221", "command over 2048 octets: 500");
	ok(strstr(out, "500 5.5.2 ") != NULL, "500 5.5.2 line too long");
	is_str(run("EHLO c\r\nMAIL FROM:<a@b.c> FOO=BAR\r\n"
	    "MAIL FROM:<a@b.c> SIZE=abc\r\nMAIL FROM:<a@b.c> BODY=9BIT\r\n"
	    "MAIL FROM:<a@b.c> SIZE=999999\r\n"
	    "MAIL FROM:<a@b.c> SIZE=10 BODY=8BITMIME\r\n"
	    "RCPT TO:<x@ship.test> FOO=BAR\r\nQUIT\r\n", 0),
	    "220 250 555 501 501 552 250 555 221", "MAIL and RCPT parameters");
	ok(strstr(out, "552 5.3.4 ") != NULL, "SIZE over max: 552 5.3.4");
	ok(strstr(out, "250-DSN\r\n") != NULL, "EHLO offers DSN");
	is_str(run("EHLO c\r\nMAIL FROM:<a@b.c> ENVID=a=b\r\n"
	    "MAIL FROM:<a@b.c> RET=ALL\r\nMAIL FROM:<a@b.c> ENVID=x+0A\r\n"
	    "MAIL FROM:<a@b.c> RET=HDRS RET=HDRS\r\n"
	    "MAIL FROM:<a@b.c> RET=FULL ENVID=QQ+2B1\r\n"
	    "RCPT TO:<x@ship.test> NOTIFY=SUCCESS,FAILURE "
	    "ORCPT=rfc822;X+40ship.test\r\n"
	    "RCPT TO:<y@ship.test> notify=never\r\n"
	    "RCPT TO:<z@ship.test> NOTIFY=NEVER,DELAY\r\n"
	    "RCPT TO:<z@ship.test> ORCPT=rfc822;a+zz\r\n"
	    "RCPT TO:<z@ship.test> ORCPT=;a\r\n"
	    "RCPT TO:<z@ship.test> NOTIFY=DELAY NOTIFY=DELAY\r\n"
	    "QUIT\r\n", 0), "220 250 501 501 501 501 250 250 250 501 501 501 "
	    "501 221", "DSN parameters (RFC 3461) checked");
	is_str(run("HELO c\r\nMAIL FROM:<a@b.c> SIZE=10\r\nQUIT\r\n", 0),
	    "220 250 555 221", "parameters after HELO");
	is_str(run("EHLO\r\nHELO\r\nMAIL FROM:a@b.c\r\nQUIT\r\n", 0),
	    "220 501 501 503 221", "missing arguments");
	is_str(run("EHLO c\r\nMAIL FROM:a@b.c\r\nMAIL FROM:<a@b@c>\r\n"
	    "RSET x\r\nQUIT x\r\nQUIT\r\n", 0), "220 250 501 501 501 501 221",
	    "syntax errors");
	is_str(run("x\r\nx\r\nx\r\nx\r\nx\r\nx\r\nx\r\nx\r\nx\r\nx\r\nNOOP\r\n",
	    0), "220 500 500 500 500 500 500 500 500 500 500 421",
	    "ten bad commands: 421");
	is_str(run("x\r\nx\r\nx\r\nx\r\nx\r\nNOOP\r\nx\r\nx\r\nx\r\nx\r\nx\r\n"
	    "QUIT\r\n", 0),
	    "220 500 500 500 500 500 250 500 500 500 500 500 221",
	    "a good command resets the count");
}

#define DC(lit)	data_case(lit, sizeof(lit) - 1)

/* data_case - one message body after DATA; the final code. */
static char *
data_case(const char *body, size_t blen)
{
	static char script[1 << 17], c[256];
	static const char head[] = HELLO "RCPT TO:<x@ship.test>\r\nDATA\r\n";
	static const char tail[] = "NOOP\r\nQUIT\r\n";

	memcpy(script, head, sizeof(head) - 1);
	memcpy(script + sizeof(head) - 1, body, blen);
	memcpy(script + sizeof(head) - 1 + blen, tail, sizeof(tail));
	session(script, sizeof(head) - 1 + blen + sizeof(tail) - 1, 0, out,
	    sizeof(out));
	return codes(out, c, sizeof(c));
}

static void
test_data(void)
{
	static char big[SIO_IBUF + 64];
	char id[128], *msg;

	clear();
	is_str(DC("a\nb\r\n.\r\n"), "220 250 250 250 354 550 250 221",
	    "bare LF in data: refused at the dot");
	ok(strstr(out, "550 5.6.11 ") != NULL, "550 5.6.11");
	is_str(DC("a\r\n\n.\r\nMAIL FROM:<x@y.z>\r\n.\r\n"),
	    "220 250 250 250 354 550 250 221",
	    "LF.CRLF does not end the data (smuggling)");
	is_str(DC("a\r\n.\nNOOP\r\n.\r\n"),
	    "220 250 250 250 354 550 250 221", "CRLF.LF does not end the data");
	is_str(DC("a\rb\r\n.\r\n"), "220 250 250 250 354 550 250 221",
	    "bare CR in data");
	is_str(DC("a\0b\r\n.\r\n"), "220 250 250 250 354 554 250 221",
	    "NUL in data");
	ok(strstr(out, "554 5.6.0 ") != NULL, "554 5.6.0");
	/* Real mail has lines over 998 octets: kept as they are. */
	memset(big, 'x', 999);
	memcpy(big + 999, "\r\n.\r\n", 5);
	is_str(data_case(big, 1004), "220 250 250 250 354 250 250 221",
	    "999-octet line accepted");
	msg = entry("ship", id, sizeof(id), NULL);
	ok(msg != NULL && strstr(msg, "\r\nxxx") != NULL &&
	    strspn(strstr(msg, "\r\nxxx") + 2, "x") == 999,
	    "999-octet line kept intact");
	clear();
	/* Longer than the reader's buffer: fed in pieces.  The first
	 * piece ends in the CR of its CRLF; the line starts with a
	 * transparency dot. */
	conf.smtp.max_size = 200000;
	big[0] = '.';
	memset(big + 1, 'x', SIO_IBUF - 1);
	memcpy(big + SIO_IBUF, "\r\n.\r\n", 5);
	is_str(data_case(big, SIO_IBUF + 5), "220 250 250 250 354 250 250 221",
	    "line longer than the read buffer accepted, session in step");
	msg = entry("ship", id, sizeof(id), NULL);
	ok(msg != NULL && strstr(msg, "\r\nxxx") != NULL &&
	    strspn(strstr(msg, "\r\nxxx") + 2, "x") == SIO_IBUF - 1 &&
	    strcmp(strstr(msg, "\r\nxxx") + 2 + SIO_IBUF - 1, "\r\n") == 0,
	    "long line kept intact, its dot removed, CRLF across pieces");
	clear();
	memset(big, 'x', SIO_IBUF - 1);
	memcpy(big + SIO_IBUF - 1, "\ry\r\n.\r\n", 8);
	is_str(data_case(big, SIO_IBUF + 6), "220 250 250 250 354 550 250 221",
	    "bare CR at a piece boundary refused");
	conf.smtp.max_size = 20000;
	is_int(count("ship", "new", NULL, 0), 0, "nothing queued for refusals");
	is_int(count("ship", "tmp", NULL, 0), 0, "no tmp leftovers");
	memset(big, 'x', 998);
	memcpy(big + 998, "\r\n.", 3);
	memset(big + 1001, 'y', 997);
	memcpy(big + 1998, "\r\n.\r\n", 5);
	is_str(data_case(big, 2003), "220 250 250 250 354 250 250 221",
	    "998 octets, and a stuffed 999 with its dot, accepted");
	msg = entry("ship", id, sizeof(id), NULL);
	ok(msg != NULL && strstr(msg, "\r\n.y") == NULL &&
	    strstr(msg, "\r\nyyy") != NULL,
	    "transparency dot removed");
	clear();
	memset(big, 'z', sizeof(big));
	for (size_t i = 500; i < 25000; i += 500)
		memcpy(big + i - 2, "\r\n", 2);
	memcpy(big + 25000, "\r\n.\r\n", 5);
	is_str(data_case(big, 25005), "220 250 250 250 354 552 250 221",
	    "over max-size without SIZE: refused at the dot");
	ok(strstr(out, "552 5.3.4 ") != NULL, "552 5.3.4 at the dot");
	is_int(count("ship", "new", NULL, 0), 0, "nothing queued");
}

static void
test_routing(void)
{
	char path[512], id[QID_LEN];
	int fd;

	clear();
	qid_new(id, sizeof(id));
	q_path(path, sizeof(path), spool, "full", "new", id);
	if ((fd = open(path, O_WRONLY | O_CREAT, 0600)) != -1) {
		write(fd, "0123456789", 10);
		close(fd);
	}
	is_str(run(HELLO "RCPT TO:<a@gone.test>\r\nRCPT TO:<a@later.test>\r\n"
	    "RCPT TO:<carol@acme.test>\r\nRCPT TO:<alice@Sub.ACME.test.>\r\n"
	    "RCPT TO:<a%b@acme.test>\r\nRCPT TO:<a@[127.0.0.1]>\r\n"
	    "RCPT TO:<@acme.test:a@x.test>\r\nRCPT TO:<>\r\n"
	    "RCPT TO:<x@full.test>\r\nQUIT\r\n", 0),
	    "220 250 250 550 450 550 250 550 550 550 501 452 221",
	    "routing outcomes");
	ok(strstr(out, "550 5.1.2 <a@gone.test>: this domain has moved") &&
	    strstr(out, "450 4.4.0 ") && strstr(out, "550 5.1.1 ") &&
	    strstr(out, "452 4.2.2 "), "error routes, unknown user, quota");
	is_str(run(HELLO "RCPT TO:<a@ship.test>\r\nRCPT TO:<b@ship.test>\r\n"
	    "RCPT TO:<c@ship.test>\r\nRCPT TO:<d@ship.test>\r\n"
	    "RCPT TO:<e@ship.test>\r\nRCPT TO:<f@ship.test>\r\nQUIT\r\n", 0),
	    "220 250 250 250 250 250 250 250 452 221", "max recipients");
	ok(strstr(out, "452 4.5.3 ") != NULL, "452 4.5.3");
	clear();
	custs[2].quota = 100;
	is_str(run(HELLO "RCPT TO:<x@full.test>\r\nDATA\r\nSubject: q\r\n\r\n"
	    "just a little more than the quota allows\r\n.\r\nQUIT\r\n", 0),
	    "220 250 250 250 354 452 221", "over quota at the dot");
	ok(strstr(out, "452 4.2.2 ") != NULL, "452 4.2.2 at the dot");
	is_int(count("full", "new", NULL, 0), 0, "nothing queued over quota");
	custs[2].quota = 1;
}

static void
test_multi(void)
{
	char id1[128], id2[128], *m1, *e1;
	static char m1c[1 << 16];

	clear();
	is_str(run(HELLO "RCPT TO:<alice@acme.test>\r\n"
	    "RCPT TO:<x@ship.test>\r\n"
	    "RCPT TO:<bob@acme.test>\r\nRCPT TO:<alice@acme.test>\r\n"
	    "DATA\r\nSubject: both\r\n\r\nbody\r\n.\r\nQUIT\r\n", 0),
	    "220 250 250 250 250 250 250 354 250 221", "two customers");
	m1 = entry("acme", id1, sizeof(id1), &e1);
	ok(m1 != NULL && strstr(e1, "rcpt <alice@acme.test>\nrcpt "
	    "<bob@acme.test>\nattempts") != NULL, "acme entry, duplicate "
	    "recipient listed once");
	if (m1 != NULL)
		strlcpy_(m1c, m1, sizeof(m1c));
	ok(entry("ship", id2, sizeof(id2), NULL) != NULL, "ship entry");
	is_str(id2, id1, "the same queue id in both queues");
	is_str(entry("ship", id2, sizeof(id2), NULL), m1c, "the same message");
	ok(strstr(m1c, "\tfor <") == NULL,
	    "no \"for\" with several recipients");
}

static void
test_lmtp(void)
{
	clear();
	is_str(run("EHLO c\r\nHELO c\r\nLHLO c\r\nMAIL FROM:<s@e.org>\r\n"
	    "RCPT TO:<alice@acme.test>\r\nRCPT TO:<nobody@else.test>\r\n"
	    "RCPT TO:<x@ship.test>\r\nRCPT TO:<alice@acme.test>\r\n"
	    "DATA\r\nhi\r\n.\r\nQUIT\r\n", 1),
	    "220 500 500 250 250 250 550 250 250 354 250 250 250 221",
	    "LMTP: one reply per accepted recipient");
	ok(strncmp(out, "220 hub.test LMTP", 17) == 0, "LMTP greeting");
	is_int(count("acme", "new", NULL, 0) + count("ship", "new", NULL, 0), 2,
	    "two entries");
	is_str(run("LHLO c\r\nMAIL FROM:<s@e.org>\r\nDATA\r\n", 1),
	    "220 250 250 503", "LMTP DATA without recipients: 503");
	is_str(run("LHLO c\r\nMAIL FROM:<s@e.org>\r\nDATA\r\nRSET\r\n", 1),
	    "220 250 250 503 554", "  with lines after it: 554 5.5.0, closed");
	is_str(run("LHLO c\r\nMAIL FROM:<s@e.org>\r\nRCPT TO:<x@ship.test>\r\n"
	    "RCPT TO:<y@ship.test>\r\nDATA\r\na\nb\r\n.\r\nQUIT\r\n", 1),
	    "220 250 250 250 250 354 550 550 221",
	    "LMTP refusal repeated per recipient");
}

static void
test_timeout(void)
{
	conf.smtp.timeout = 1;
	keep_open = 1;
	is_str(run("EHLO c\r\nMAIL FROM:<a@b.c>\r\n", 0), "220 250 250 421",
	    "idle client: 421");
	keep_open = 0;
	ok(strstr(out, "421 4.4.2 hub.test") != NULL, "421 4.4.2");
	conf.smtp.timeout = 5;
}

static void
test_stop(void)
{
	struct smtpd_client cl;
	struct sockaddr_in sin;

	stop_flag = 1;
	is_str(run("EHLO c\r\nQUIT\r\n", 0), "220 421", "stop: 421 at once");
	ok(strstr(out, "421 4.3.2 hub.test") != NULL, "421 4.3.2");
	stop_flag = 0;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(0xc0000201);
	smtpd_client_set(&cl, (struct sockaddr *)&sin, sizeof(sin), 0);
	is_str(cl.addr, "192.0.2.1", "client address");
	is_str(cl.name, "unknown", "no lookup: unknown");
	smtpd_client_set(&cl, NULL, 0, 1);
	is_str(cl.addr, "unix", "unix socket client");
}

static void
test_usage(void)
{
	struct usage *u;
	uint64_t b = 99;

	clear();
	u = usage_create(&conf);
	ok(u != NULL, "usage table");
	if (u == NULL)
		return;
	ok(usage_get(u, &conf, &custs[1], &b) == RS_OK && b == 0, "empty");
	usage_add(u, &conf, &custs[1], 1234);
	ok(usage_get(u, &conf, &custs[1], &b) == RS_OK && b == 1234, "added");
	usage_refresh(u, &conf);
	ok(usage_get(u, &conf, &custs[1], &b) == RS_OK && b == 0, "refreshed");
	usage_destroy(u);
}

static void
test_etrn(void)
{
	struct cidr net;
	char buf[300];
	ssize_t n;
	int sv[2];

	clear();
	cidr_parse("192.0.2.0/24", &net);
	custs[0].etrn_from = &net;
	custs[0].netrn_from = 1;
	ok(strstr(run("EHLO c\r\nQUIT\r\n", 0), "250") &&
	    strstr(out, "250-ETRN\r\n") != NULL, "EHLO offers ETRN");
	is_str(run("ETRN acme.test\r\nEHLO c\r\nETRN\r\nETRN @test\r\n"
	    "ETRN test\r\nETRN #../x\r\nETRN #\r\nETRN @\r\n"
	    "ETRN bad!x.test\r\nETRN -a.test\r\nETRN a b\r\nQUIT\r\n", 0),
	    "220 503 250 500 459 459 501 501 501 501 501 501 221",
	    "ETRN: before EHLO, bare, single labels, bad nodes");
	is_str(run("EHLO c\r\nETRN ship.test\r\nETRN #nosuch\r\n"
	    "ETRN nowhere.example\r\nETRN gone.test\r\nETRN #full\r\n"
	    "QUIT\r\n", 0), "220 250 459 459 459 459 459 221",
	    "ETRN: client not allowed, unknown nodes, error route");
	ok(strstr(out, "459 4.7.1 <ship.test>: node not allowed: client "
	    "address not authorised\r\n") != NULL, "459 text");
	is_str(run("EHLO c\r\nETRN acme.test\r\nETRN @acme.test\r\n"
	    "ETRN #acme\r\nETRN Sub.ACME.test.\r\nQUIT\r\n", 0),
	    "220 250 251 251 251 251 221", "ETRN: nothing waiting: 251");
	ok(strstr(out, "251 2.0.0 OK, no messages waiting for node "
	    "Sub.ACME.test.\r\n") != NULL, "251 text");
	is_str(run(HELLO "RCPT TO:<alice@acme.test>\r\nDATA\r\nhi\r\n.\r\n"
	    "ETRN acme.test\r\nMAIL FROM:<s@example.org>\r\n"
	    "ETRN acme.test\r\nQUIT\r\n", 0),
	    "220 250 250 250 354 250 458 250 503 221",
	    "ETRN: no master 458; inside a transaction 503");
	if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) == -1)
		exit(1);
	req_fd = sv[1];
	is_str(run("EHLO c\r\nETRN @acme.test\r\nQUIT\r\n", 0),
	    "220 250 253 221", "ETRN with a master: 253");
	ok(strstr(out, "253 2.0.0 OK, 1 pending messages for node @acme.test "
	    "started\r\n") != NULL, "253 text");
	n = recv(sv[0], buf, sizeof(buf) - 1, MSG_DONTWAIT);
	buf[n > 0 ? n : 0] = '\0';
	is_str(buf, "flush acme 192.0.2.1 acme.test",
	    "the request to the master names the domain");
	run("EHLO c\r\nETRN #acme\r\nETRN Sub.Acme.Test.\r\nQUIT\r\n", 0);
	n = recv(sv[0], buf, sizeof(buf) - 1, MSG_DONTWAIT);
	buf[n > 0 ? n : 0] = '\0';
	is_str(buf, "flush acme 192.0.2.1", "ETRN #acme: no domain");
	n = recv(sv[0], buf, sizeof(buf) - 1, MSG_DONTWAIT);
	buf[n > 0 ? n : 0] = '\0';
	is_str(buf, "flush acme 192.0.2.1 sub.acme.test",
	    "a subdomain routed by .acme.test: named, normalised");
	is_str(run("LHLO c\r\nETRN acme.test\r\nQUIT\r\n", 1),
	    "220 250 502 221", "no ETRN over LMTP");
	ok(strstr(out, "ETRN") == NULL, "LHLO does not offer ETRN");
	close(sv[0]);
	close(sv[1]);
	req_fd = 0;
	custs[0].etrn_from = NULL;
	custs[0].netrn_from = 0;
	clear();
}

/*
 * test_auth - AUTH CRAM-MD5's refusals and its limit (a successful
 * exchange needs the random challenge: regress/36-etrn-auth.t).
 */
static void
test_auth(void)
{
	char path[512];
	FILE *f;

	is_str(run("EHLO c\r\nAUTH CRAM-MD5\r\nQUIT\r\n", 0),
	    "220 250 503 221", "no secret: AUTH not enabled");
	ok(strstr(out, "250-AUTH") == NULL && strstr(out, "503 5.5.1 Error: "
	    "authentication not enabled\r\n") != NULL,
	    "no secret: EHLO does not offer AUTH");
	snprintf(path, sizeof(path), "%s/acme.secret", spool);
	if ((f = fopen(path, "w")) == NULL)
		exit(1);
	fputs("tanstaaftanstaaf\n", f);
	fclose(f);
	chmod(path, 0600);
	custs[0].secret = path;
	is_str(run("EHLO c\r\nQUIT\r\n", 0), "220 250 221", "EHLO");
	ok(strstr(out, "250-AUTH CRAM-MD5\r\n") != NULL,
	    "a secret: EHLO offers AUTH CRAM-MD5");
	is_str(run("LHLO c\r\nAUTH CRAM-MD5\r\nQUIT\r\n", 1),
	    "220 250 502 221", "no AUTH over LMTP");
	ok(strstr(out, "AUTH") == NULL, "LHLO does not offer AUTH");
	is_str(run("AUTH CRAM-MD5\r\nHELO c\r\nAUTH CRAM-MD5\r\n"
	    "QUIT\r\n", 0), "220 503 250 503 221", "AUTH needs EHLO");
	is_str(run("EHLO c\r\nAUTH DIGEST-MD5\r\nAUTH PLAIN\r\n"
	    "AUTH CRAM-MD5 abc\r\n"
	    "AUTH CRAM-MD5\r\n*\r\nMAIL FROM:<s@example.org>\r\n"
	    "AUTH CRAM-MD5\r\nRSET\r\nQUIT\r\n", 0),
	    "220 250 504 538 501 334 501 250 503 250 221",
	    "other mechanism 504, PLAIN in clear 538, initial response 501, "
	    "cancel 501, "
	    "inside a transaction 503");
	ok(strstr(out, "501 5.7.0 Authentication aborted\r\n") != NULL,
	    "cancel text");
	is_str(run("EHLO c\r\nAUTH CRAM-MD5\r\n!!!!\r\nAUTH CRAM-MD5\r\n"
	    "bm9ib2R5IDAw\r\nAUTH CRAM-MD5\r\nYQ==\r\nNOOP\r\n", 0),
	    "220 250 334 501 334 535 334 421",
	    "not base64 501, unknown user 535, the third failure 421");
	ok(strstr(out, "535 5.7.8 Authentication credentials invalid\r\n") !=
	    NULL && strstr(out, "421 4.7.0 hub.test Error: too many failed "
	    "authentications\r\n") != NULL, "535 and 421 texts");
	custs[0].release = REL_ODMR;
	is_str(run("EHLO c\r\nAUTH CRAM-MD5\r\nQUIT\r\n", 0),
	    "220 250 503 221", "only a secret of an ODMR customer: no AUTH");
	custs[0].release = REL_ETRN;
	custs[0].secret = NULL;
	unlink(path);
}

/*
 * test_skeleton - SMTP, LMTP and ODMR are one skeleton: the same
 * refusals for the same bad input, the same count of bad commands,
 * HELP from each table, a verb of another protocol 502.
 */
static void
test_skeleton(void)
{
	static const char *const name[] = { "SMTP", "LMTP", "ODMR" };
	static const char *const hello[] = { "EHLO c\r\n", "LHLO c\r\n",
	    "EHLO c\r\n" };
	char script[4000], want[200], c[256], *e;
	int p, i;

	for (p = 0; p < 3; p++) {
		snprintf(script, sizeof(script), "%sFOO\r\nNOOP\nRSET\r\n"
		    "QUIT x\r\nBDAT 1\r\nQUIT\r\n", hello[p]);
		is_str(run(script, p), "220 250 500 501 250 501 502 221",
		    "%s: unknown 500, bare LF 501, RSET, QUIT x 501, BDAT 502",
		    name[p]);
		ok(strstr(out, "500 5.5.1 Error: command not recognized\r\n"
		    "501 5.5.2 Error: bare LF/CR not allowed\r\n") != NULL,
		    "  %s: the same texts", name[p]);
		session("NOOP\r\nNO\0OP\r\nQUIT\r\n", 19, p, out,
		    sizeof(out));
		is_str(codes(out, c, sizeof(c)), "220 250 501 221",
		    "  %s: NUL 501", name[p]);
		memset(script, 'A', sizeof(script));
		memcpy(script, "NOOP ", 5);
		memcpy(script + 3000, "\r\nQUIT\r\n", 9);
		is_str(run(script, p), "220 500 221", "  %s: line too long",
		    name[p]);
		e = script;
		for (i = 0; i < 10; i++)
			e += sprintf(e, "%s", i % 2 ? "x\r\n" : "MAIL\r\n");
		strcpy(e, "NOOP\r\n");
		snprintf(want, sizeof(want), "220 %s 421", p == ODMR ?
		    "502 500 502 500 502 500 502 500 502 500" :
		    "503 500 503 500 503 500 503 500 503 500");
		is_str(run(script, p), want, "  %s: ten bad commands: 421",
		    name[p]);
		ok(strstr(out, "421 4.7.0 hub.test Error: too many errors") !=
		    NULL, "  %s: 421 4.7.0", name[p]);
		snprintf(script, sizeof(script), "%sHELP\r\nQUIT\r\n",
		    hello[p]);
		run(script, p);
		ok(strstr(out, p == 0 ? "214 2.0.0 Commands: EHLO HELO MAIL "
		    "RCPT DATA RSET NOOP QUIT VRFY HELP ETRN\r\n" : p == 1 ?
		    "214 2.0.0 Commands: LHLO MAIL RCPT DATA RSET NOOP QUIT "
		    "VRFY HELP\r\n" : "214 2.0.0 Commands: EHLO HELO AUTH "
		    "ATRN RSET NOOP HELP QUIT\r\n") != NULL,
		    "  %s: HELP lists its own commands", name[p]);
	}
	is_str(run("EHLO c\r\nATRN\r\nLHLO c\r\nQUIT\r\n", 0),
	    "220 250 502 500 221", "SMTP: ATRN 502, LHLO 500");
	is_str(run("LHLO c\r\nETRN x\r\nEHLO c\r\nQUIT\r\n", 1),
	    "220 250 502 500 221", "LMTP: ETRN 502, EHLO 500 (use LHLO)");
	is_str(run("EHLO c\r\nMAIL FROM:<a@b.c>\r\nETRN x\r\n"
	    "VRFY a\r\nQUIT\r\n", ODMR), "220 250 502 502 502 221",
	    "ODMR: MAIL, ETRN, VRFY 502");
	ok(strstr(out, "250-AUTH CRAM-MD5\r\n250-ATRN\r\n"
	    "250 ENHANCEDSTATUSCODES\r\n") != NULL, "ODMR: EHLO keywords");
	is_str(run("HELO c\r\nAUTH CRAM-MD5\r\nEHLO\r\nQUIT\r\n", ODMR),
	    "220 250 503 501 221", "ODMR: AUTH needs EHLO, EHLO a hostname");
	is_str(run("EHLO c\r\nATRN\r\n", ODMR), "220 250 530",
	    "ODMR: ATRN before AUTH 530");
	is_str(run("EHLO c\r\nATRN\r\nQUIT\r\n", ODMR), "220 250",
	    "ODMR: a command pipelined after ATRN: closed, no reply");
}

int
main(void)
{
	char cmd[600];

	/* as bridged's master: a client that hangs up is EPIPE, not death */
	signal(SIGPIPE, SIG_IGN);
	log_init("unit-smtpd", LOG_TO_STDERR);
	setup();
	test_basic();
	test_pipelining();
	test_commands();
	test_data();
	test_routing();
	test_multi();
	test_lmtp();
	test_timeout();
	test_stop();
	test_usage();
	test_etrn();
	test_auth();
	test_skeleton();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", spool);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", spool);
	return done_testing();
}
