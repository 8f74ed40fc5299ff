/*
 * inject.c - the injection engine: one message to the local MTA by the
 * sendmail interface (execve command -f SENDER -- RCPT..., the message
 * on stdin with LF line ends) or by a minimal SMTP/LMTP client (EHLO
 * or LHLO, MAIL, RCPT each, DATA with dot-stuffing, per-recipient
 * replies after the dot for LMTP).
 *
 * Outcomes: sendmail exit 0 is ok; 64..69 (usage, data, no input, no
 * user, no host, unavailable) are permanent; 70..78 (software, OS, I/O,
 * tempfail, protocol, no permission, config), other codes and signals
 * are temporary, so an odd failure keeps mail rather than bouncing it.
 * SMTP/LMTP: 2xx ok, 4xx temporary, 5xx permanent, per recipient;
 * no connection, a timeout or a lost session is temporary.  Every wait
 * is bounded by the configured timeout (the final dot by at least
 * 10 minutes, RFC 5321 4.5.3.2).
 */
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "inject.h"
#include "log.h"

#define CHUNK		(64 * 1024)
#define REPLY_MAX	1024

extern char **environ;

struct injector {
	const struct leaf_inject *cf;
	char	helo[256];
	int	fd;			/* SMTP/LMTP session or -1 */
	int	cap_8bit;
	int	data_sent;		/* the message went out this time */
	char	in[4096];
	size_t	inlen;
	char	out[CHUNK];
	size_t	outlen;
	int	ioerr;
	char	ioerr_text[128];
};

struct reply {
	int	code;
	char	text[REPLY_MAX];	/* the last line, without CRLF */
};

/* --- results ------------------------------------------------------- */

enum result
inject_exit_result(int status, char *code, size_t len)
{
	static const char *const perm[] = {
		"5.3.0", "5.6.0", "5.3.0", "5.1.1", "5.1.2", "5.3.0"
	};

	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		snprintf(code, len, "2.0.0");
		return RS_OK;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) >= 64 &&
	    WEXITSTATUS(status) <= 69) {
		snprintf(code, len, "%s", perm[WEXITSTATUS(status) - 64]);
		return RS_PERM;
	}
	snprintf(code, len, "4.3.0");
	return RS_TEMP;
}

static void
set_rcpt(struct inject_rcpt *r, enum result rs, const char *status,
    const char *diag)
{
	r->rs = rs;
	snprintf(r->status, sizeof(r->status), "%s", status);
	snprintf(r->diag, sizeof(r->diag), "%s", diag);
}

static enum result
overall(struct inject_rcpt *r, int n)
{
	int i, temp = 0, perm = 0;

	for (i = 0; i < n; i++) {
		temp += r[i].rs == RS_TEMP;
		perm += r[i].rs == RS_PERM;
	}
	return temp ? RS_TEMP : perm ? RS_PERM : RS_OK;
}

struct injector *
inject_new(const struct leaf_inject *cf, const char *helo)
{
	struct injector *ij;

	if ((ij = calloc(1, sizeof(*ij))) == NULL)
		return NULL;
	ij->cf = cf;
	ij->fd = -1;
	snprintf(ij->helo, sizeof(ij->helo), "%s", helo);
	signal(SIGPIPE, SIG_IGN);
	return ij;
}

/* --- sendmail ------------------------------------------------------ */

/* lf_only - copy src to dst dropping each CR that precedes LF. */
static size_t
lf_only(char *dst, const char *src, size_t n, int *held_cr, int last)
{
	size_t i, o = 0;

	if (*held_cr && n > 0 && src[0] != '\n')
		dst[o++] = '\r';
	if (*held_cr && n == 0 && last)
		dst[o++] = '\r';
	*held_cr = 0;
	for (i = 0; i < n; i++) {
		if (src[i] == '\r') {
			if (i + 1 < n) {
				if (src[i + 1] != '\n')
					dst[o++] = '\r';
			} else if (last)
				dst[o++] = '\r';
			else
				*held_cr = 1;
			continue;
		}
		dst[o++] = src[i];
	}
	return o;
}

static char **
sendmail_argv(const struct leaf_inject *cf, const char *sender,
    struct inject_rcpt *r, int n)
{
	char **argv;
	int i, a = 0;

	if ((argv = calloc((size_t)(cf->ncommand + n + 4), sizeof(*argv))) ==
	    NULL)
		return NULL;
	for (i = 0; i < cf->ncommand; i++)
		argv[a++] = cf->command[i];
	argv[a++] = "-f";
	argv[a++] = sender[0] != '\0' ? (char *)sender : "<>";
	argv[a++] = "--";
	for (i = 0; i < n; i++)
		argv[a++] = (char *)r[i].addr;
	argv[a] = NULL;
	return argv;
}

static pid_t
sendmail_spawn(char **argv, int *to_child, int *from_child)
{
	int in[2], err[2];
	pid_t pid;

	if (pipe2(in, O_CLOEXEC) == -1)
		return -1;
	if (pipe2(err, O_CLOEXEC) == -1) {
		close(in[0]);
		close(in[1]);
		return -1;
	}
	if ((pid = fork()) == 0) {
		if (dup2(in[0], 0) == -1 || dup2(err[1], 1) == -1 ||
		    dup2(err[1], 2) == -1)
			_exit(71);
		execve(argv[0], argv, environ);
		dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(71);
	}
	close(in[0]);
	close(err[1]);
	if (pid == -1) {
		close(in[1]);
		close(err[0]);
		return -1;
	}
	*to_child = in[1];
	*from_child = err[0];
	fcntl(in[1], F_SETFL, O_NONBLOCK);
	return pid;
}

/* capture - keep the start of what the child says, drop the rest. */
static int
capture(int fd, char *keep, size_t *kept, size_t cap)
{
	char buf[1024];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n <= 0)
		return n == -1 && errno == EINTR ? 1 : 0;
	if (*kept + 1 < cap) {
		size_t c = (size_t)n < cap - 1 - *kept ? (size_t)n :
		    cap - 1 - *kept;
		memcpy(keep + *kept, buf, c);
		*kept += c;
		keep[*kept] = '\0';
	}
	return 1;
}

/*
 * sendmail_feed - write the message (LF line ends) to the child while
 * reading its output; -1 on a timeout or write error.
 */
static int
sendmail_feed(struct injector *ij, int to, int from, const struct bundle_msg *m,
    char *said, size_t saidlen)
{
	static char raw[CHUNK], lf[CHUNK + 1];
	struct pollfd pf[2];
	uint64_t off = 0;
	size_t have = 0, done = 0, kept = 0;
	ssize_t n;
	int held = 0, open_out = 1, open_in = 1;

	said[0] = '\0';
	while (open_out || open_in) {
		if (open_in && done == have && off >= m->size) {
			close(to);
			open_in = 0;
			continue;
		}
		if (open_in && done == have) {
			if ((n = bundle_msg_pread(m, raw, CHUNK, off)) <= 0)
				return -1;
			off += (uint64_t)n;
			have = lf_only(lf, raw, (size_t)n, &held, off >= m->size);
			done = 0;
			continue;
		}
		pf[0].fd = open_in ? to : -1;
		pf[0].events = POLLOUT;
		pf[1].fd = open_out ? from : -1;
		pf[1].events = POLLIN;
		if ((n = poll(pf, 2, (int)ij->cf->timeout * 1000)) == 0)
			return -1;
		if (n == -1 && errno != EINTR)
			return -1;
		if (open_out && (pf[1].revents & (POLLIN | POLLHUP)))
			open_out = capture(from, said, &kept, saidlen);
		if (open_in && (pf[0].revents & (POLLOUT | POLLERR | POLLHUP))) {
			n = write(to, lf + done, have - done);
			if (n == -1 && errno != EAGAIN && errno != EINTR) {
				close(to);	/* it stopped reading: see status */
				open_in = 0;
			} else if (n > 0)
				done += (size_t)n;
		}
	}
	return 0;
}

static void
first_line(char *s)
{
	size_t i;

	s[strcspn(s, "\r\n")] = '\0';
	for (i = 0; s[i] != '\0'; i++)
		if (!isprint((unsigned char)s[i]))
			s[i] = '?';
}

static enum result
inject_sendmail(struct injector *ij, const char *sender,
    struct inject_rcpt *r, int n, const struct bundle_msg *m, int *down)
{
	char **argv, said[300], code[16], diag[INJECT_DIAG_MAX];
	int to, from, status, i, fed;
	pid_t pid;
	enum result rs;

	if ((argv = sendmail_argv(ij->cf, sender, r, n)) == NULL ||
	    (pid = sendmail_spawn(argv, &to, &from)) == -1) {
		free(argv);
		for (i = 0; i < n; i++)
			set_rcpt(&r[i], RS_TEMP, "4.3.0",
			    "x-unix; cannot start the sendmail command");
		*down = 1;
		return RS_TEMP;
	}
	free(argv);
	fed = sendmail_feed(ij, to, from, m, said, sizeof(said));
	if (fed == -1) {
		kill(pid, SIGKILL);
		close(to);
	}
	close(from);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	first_line(said);
	rs = fed == -1 ? RS_TEMP : inject_exit_result(status, code,
	    sizeof(code));
	if (fed == -1)
		snprintf(diag, sizeof(diag), "x-unix; timeout feeding %s",
		    ij->cf->command[0]);
	else if (WIFEXITED(status))
		snprintf(diag, sizeof(diag), "x-unix; %s exit %d%s%s",
		    ij->cf->command[0], WEXITSTATUS(status),
		    said[0] ? ": " : "", said);
	else
		snprintf(diag, sizeof(diag), "x-unix; %s killed by signal %d",
		    ij->cf->command[0], WTERMSIG(status));
	for (i = 0; i < n; i++)
		set_rcpt(&r[i], rs, rs == RS_TEMP ? "4.3.0" : code, diag);
	if (rs == RS_TEMP)
		*down = 1;
	return rs;
}

/* --- SMTP and LMTP ------------------------------------------------- */

static void
session_drop(struct injector *ij, const char *why)
{
	if (ij->fd != -1)
		close(ij->fd);
	ij->fd = -1;
	ij->inlen = 0;
	ij->outlen = 0;
	ij->ioerr = 1;
	snprintf(ij->ioerr_text, sizeof(ij->ioerr_text), "%s", why);
}

static int
wait_fd(int fd, short ev, long secs)
{
	struct pollfd pf = { fd, ev, 0 };
	int n;

	do
		n = poll(&pf, 1, (int)(secs * 1000));
	while (n == -1 && errno == EINTR);
	return n > 0 ? 0 : -1;
}

static int
out_flush(struct injector *ij)
{
	size_t done = 0;
	ssize_t n;

	while (done < ij->outlen) {
		if (wait_fd(ij->fd, POLLOUT, ij->cf->timeout) == -1) {
			session_drop(ij, "timeout writing to the server");
			return -1;
		}
		n = send(ij->fd, ij->out + done, ij->outlen - done,
		    MSG_NOSIGNAL);
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0) {
			session_drop(ij, "lost connection writing");
			return -1;
		}
		done += (size_t)n;
	}
	ij->outlen = 0;
	return 0;
}

static int
out_put(struct injector *ij, const void *p, size_t n)
{
	if (ij->fd == -1)
		return -1;
	if (ij->outlen + n > sizeof(ij->out) && out_flush(ij) == -1)
		return -1;
	if (n > sizeof(ij->out)) {
		memcpy(ij->out, p, sizeof(ij->out));
		ij->outlen = sizeof(ij->out);
		return out_flush(ij) == -1 ? -1 :
		    out_put(ij, (const char *)p + sizeof(ij->out),
		    n - sizeof(ij->out));
	}
	memcpy(ij->out + ij->outlen, p, n);
	ij->outlen += n;
	return 0;
}

static int
cmd(struct injector *ij, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int
cmd(struct injector *ij, const char *fmt, ...)
{
	char line[1100];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 2)
		return -1;
	memcpy(line + n, "\r\n", 2);
	if (out_put(ij, line, (size_t)n + 2) == -1)
		return -1;
	return out_flush(ij);
}

/* in_line - one reply line into buf (CRLF dropped, long lines cut). */
static int
in_line(struct injector *ij, char *buf, size_t len, long secs)
{
	char *nl;
	size_t n;
	ssize_t got;

	for (;;) {
		if ((nl = memchr(ij->in, '\n', ij->inlen)) != NULL ||
		    ij->inlen == sizeof(ij->in)) {
			n = nl ? (size_t)(nl - ij->in) + 1 : ij->inlen;
			snprintf(buf, len, "%.*s", (int)(n < len ? n : len - 1),
			    ij->in);
			buf[strcspn(buf, "\r\n")] = '\0';
			memmove(ij->in, ij->in + n, ij->inlen - n);
			ij->inlen -= n;
			return 0;
		}
		if (wait_fd(ij->fd, POLLIN, secs) == -1) {
			session_drop(ij, "timeout waiting for the server");
			return -1;
		}
		got = recv(ij->fd, ij->in + ij->inlen,
		    sizeof(ij->in) - ij->inlen, 0);
		if (got == -1 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (got <= 0) {
			session_drop(ij, "connection closed by the server");
			return -1;
		}
		ij->inlen += (size_t)got;
	}
}

/* reply - a whole (multi-line) reply; -1 when the session is lost. */
static int
reply(struct injector *ij, struct reply *rp, long secs)
{
	char line[REPLY_MAX];

	for (;;) {
		if (ij->fd == -1 || in_line(ij, line, sizeof(line), secs) == -1)
			return -1;
		if (strlen(line) < 3 || !isdigit((unsigned char)line[0]) ||
		    !isdigit((unsigned char)line[1]) ||
		    !isdigit((unsigned char)line[2]) ||
		    (line[3] != '\0' && line[3] != ' ' && line[3] != '-')) {
			session_drop(ij, "malformed reply from the server");
			return -1;
		}
		if (rp == NULL)
			continue;
		rp->code = (line[0] - '0') * 100 + (line[1] - '0') * 10 +
		    line[2] - '0';
		if (strncasecmp(line + 4, "8BITMIME", 8) == 0)
			ij->cap_8bit = 1;
		first_line(line);
		snprintf(rp->text, sizeof(rp->text), "%s", line);
		if (line[3] != '-')
			return 0;
	}
}

/* status_of - the RFC 3463 code in a reply, or one made from its class. */
static void
status_of(const struct reply *rp, char *st, size_t len)
{
	const char *t = rp->text + 4;
	int a, b, c, n = 0;

	if (sscanf(t, "%1d.%3d.%3d%n", &a, &b, &c, &n) == 3 && n > 0 &&
	    (a == 2 || a == 4 || a == 5) && a == rp->code / 100) {
		snprintf(st, len, "%d.%d.%d", a, b, c);
		return;
	}
	snprintf(st, len, "%d.0.0", rp->code / 100);
}

static void
rcpt_from_reply(struct inject_rcpt *r, const struct reply *rp)
{
	char st[16], diag[INJECT_DIAG_MAX];

	status_of(rp, st, sizeof(st));
	snprintf(diag, sizeof(diag), "smtp; %.380s", rp->text);
	set_rcpt(r, rp->code < 400 ? RS_OK : rp->code < 500 ? RS_TEMP :
	    RS_PERM, st, diag);
}

static int
connect_unix(const char *path)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		return -1;
	strlcpy_(sun.sun_path, path, sizeof(sun.sun_path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

static int
connect_tcp(const char *server, long secs)
{
	struct addrinfo hints, *res, *ai;
	char host[300], *port;
	int fd = -1, err;
	socklen_t el = sizeof(err);

	snprintf(host, sizeof(host), "%s", server);
	if ((port = strrchr(host, ':')) == NULL)
		return -1;
	*port++ = '\0';
	if (host[0] == '[' && port[-2] == ']') {
		port[-2] = '\0';
		memmove(host, host + 1, strlen(host));
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, port, &hints, &res) != 0)
		return -1;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC |
		    SOCK_NONBLOCK, ai->ai_protocol);
		if (fd == -1)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ||
		    (errno == EINPROGRESS && wait_fd(fd, POLLOUT, secs) == 0 &&
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0 &&
		    err == 0))
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

/* session_open - connect, greeting, EHLO (HELO fallback) or LHLO. */
static int
session_open(struct injector *ij, struct reply *rp)
{
	const char *srv = ij->cf->server;
	int lmtp = ij->cf->method == INJECT_LMTP;

	ij->ioerr = 0;
	ij->cap_8bit = 0;
	ij->fd = strncmp(srv, "unix:", 5) == 0 ? connect_unix(srv + 5) :
	    connect_tcp(srv, ij->cf->timeout);
	if (ij->fd == -1) {
		snprintf(rp->text, sizeof(rp->text), "cannot connect to %s: %s",
		    srv, strerror(errno));
		rp->code = 0;
		return -1;
	}
	fcntl(ij->fd, F_SETFL, fcntl(ij->fd, F_GETFL) | O_NONBLOCK);
	if (reply(ij, rp, ij->cf->timeout) == -1 || rp->code != 220)
		goto refused;
	if (cmd(ij, "%s %s", lmtp ? "LHLO" : "EHLO", ij->helo) == -1 ||
	    reply(ij, rp, ij->cf->timeout) == -1)
		goto refused;
	if (rp->code / 100 == 2)
		return 0;
	if (lmtp || rp->code / 100 != 5 ||
	    cmd(ij, "HELO %s", ij->helo) == -1 ||
	    reply(ij, rp, ij->cf->timeout) == -1 || rp->code / 100 != 2)
		goto refused;
	return 0;
refused:
	if (ij->fd != -1) {
		snprintf(rp->text + strlen(rp->text),
		    sizeof(rp->text) - strlen(rp->text), " (from %s)", srv);
		session_drop(ij, rp->text);
	} else
		snprintf(rp->text, sizeof(rp->text), "%s: %s", srv,
		    ij->ioerr_text);
	rp->code = 0;
	return -1;
}

/* send_body - the message, dot-stuffed, then ".". */
static int
send_body(struct injector *ij, const struct bundle_msg *m)
{
	static char buf[CHUNK];
	uint64_t off = 0;
	ssize_t n;
	const char *p, *end, *run, *nl;
	int bol = 1, last_lf = 1;

	while (off < m->size) {
		if ((n = bundle_msg_pread(m, buf, CHUNK, off)) <= 0) {
			session_drop(ij, "cannot read the message");
			return -1;
		}
		off += (uint64_t)n;
		p = run = buf;
		end = buf + n;
		if (bol && *p == '.' && out_put(ij, ".", 1) == -1)
			return -1;
		while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
			p = nl + 1;
			if (p < end && *p == '.') {
				if (out_put(ij, run, (size_t)(p - run)) == -1 ||
				    out_put(ij, ".", 1) == -1)
					return -1;
				run = p;
			}
		}
		if (out_put(ij, run, (size_t)(end - run)) == -1)
			return -1;
		bol = last_lf = end[-1] == '\n';
	}
	if (!last_lf && out_put(ij, "\r\n", 2) == -1)
		return -1;
	if (out_put(ij, ".\r\n", 3) == -1)
		return -1;
	return out_flush(ij);
}

static int
has_8bit(const struct bundle_msg *m)
{
	static unsigned char buf[CHUNK];
	uint64_t off = 0;
	ssize_t n, i;

	while (off < m->size) {
		if ((n = bundle_msg_pread(m, buf, CHUNK, off)) <= 0)
			return 1;
		for (i = 0; i < n; i++)
			if (buf[i] & 0x80)
				return 1;
		off += (uint64_t)n;
	}
	return 0;
}

/* fail_all - every recipient still open gets rs with the text. */
static void
fail_all(struct inject_rcpt *r, int n, int *open, enum result rs,
    const char *st, const char *text)
{
	char diag[INJECT_DIAG_MAX];
	int i;

	snprintf(diag, sizeof(diag), "smtp; %.380s", text);
	for (i = 0; i < n; i++)
		if (open == NULL || open[i])
			set_rcpt(&r[i], rs, st, diag);
}

/* transaction - MAIL, RCPTs, DATA, body, replies; 0 or -1 (lost). */
static int
transaction(struct injector *ij, const char *sender, struct inject_rcpt *r,
    int n, const struct bundle_msg *m, int *accepted)
{
	struct reply rp;
	long t = ij->cf->timeout, tdot = t > 600 ? t : 600;
	int i, nacc = 0;

	if (cmd(ij, "MAIL FROM:<%s>%s", sender, ij->cap_8bit && has_8bit(m) ?
	    " BODY=8BITMIME" : "") == -1 || reply(ij, &rp, t) == -1)
		return -1;
	if (rp.code / 100 != 2) {
		for (i = 0; i < n; i++)
			rcpt_from_reply(&r[i], &rp);
		return 0;
	}
	for (i = 0; i < n; i++) {
		if (cmd(ij, "RCPT TO:<%s>", r[i].addr) == -1 ||
		    reply(ij, &rp, t) == -1)
			return -1;
		rcpt_from_reply(&r[i], &rp);
		accepted[i] = rp.code / 100 == 2;
		nacc += accepted[i];
		if (accepted[i])
			r[i].rs = RS_TEMP;	/* until the dot is answered */
	}
	if (nacc == 0)
		return cmd(ij, "RSET") == -1 || reply(ij, NULL, t) == -1 ? -1 : 0;
	if (cmd(ij, "DATA") == -1 || reply(ij, &rp, t) == -1)
		return -1;
	if (rp.code != 354) {
		for (i = 0; i < n; i++)
			if (accepted[i])
				rcpt_from_reply(&r[i], &rp);
		return 0;
	}
	ij->data_sent = 1;
	if (send_body(ij, m) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		if (!accepted[i])
			continue;
		if (reply(ij, &rp, tdot) == -1)
			return -1;
		if (ij->cf->method == INJECT_LMTP) {
			rcpt_from_reply(&r[i], &rp);
			continue;
		}
		for (; i < n; i++)
			if (accepted[i])
				rcpt_from_reply(&r[i], &rp);
	}
	return 0;
}

static enum result
inject_smtp(struct injector *ij, const char *sender, struct inject_rcpt *r,
    int n, const struct bundle_msg *m, int *down)
{
	struct reply rp;
	int *acc, i, reused = ij->fd != -1, rc;

	if ((acc = calloc((size_t)n, sizeof(*acc))) == NULL) {
		fail_all(r, n, NULL, RS_TEMP, "4.3.0", "out of memory");
		return RS_TEMP;
	}
	for (;;) {
		if (ij->fd == -1 && session_open(ij, &rp) == -1) {
			fail_all(r, n, NULL, RS_TEMP, "4.4.1", rp.text);
			*down = 1;
			free(acc);
			return RS_TEMP;
		}
		for (i = 0; i < n; i++)
			set_rcpt(&r[i], RS_TEMP, "4.4.2", "");
		ij->data_sent = 0;
		rc = transaction(ij, sender, r, n, m, acc);
		if (rc == 0 || !reused || ij->data_sent)
			break;
		/* a kept session may have timed out: once more, afresh */
		if (ij->fd != -1)
			session_drop(ij, "retry");
		reused = 0;
		memset(acc, 0, (size_t)n * sizeof(*acc));
	}
	if (rc == -1) {
		for (i = 0; i < n; i++)
			if (r[i].rs == RS_TEMP)
				snprintf(r[i].diag, sizeof(r[i].diag),
				    "smtp; %s", ij->ioerr_text);
		*down = 1;
	}
	free(acc);
	return overall(r, n);
}

enum result
inject_message(struct injector *ij, const char *sender, struct inject_rcpt *r,
    int n, const struct bundle_msg *m, int *down)
{
	*down = 0;
	if (ij->cf->method == INJECT_SENDMAIL)
		return inject_sendmail(ij, sender, r, n, m, down);
	return inject_smtp(ij, sender, r, n, m, down);
}

void
inject_free(struct injector *ij)
{
	if (ij == NULL)
		return;
	if (ij->fd != -1 && cmd(ij, "QUIT") == 0)
		reply(ij, NULL, 10);
	if (ij->fd != -1)
		close(ij->fd);
	free(ij);
}
