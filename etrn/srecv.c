/*
 * srecv.c - the receiving end of an SMTP session (srecv.h): a small
 * buffered reader on a non-blocking socket, one command at a time,
 * replies gathered and written when the input runs dry, and the
 * message collected in memory or, past SRECV_MEM_MAX, in an unlinked
 * temp file.
 */
#include <sys/socket.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "srecv.h"
#include "tls.h"
#include "util.h"

#define IN_SIZE		(256 * 1024)
#define OUT_SIZE	(16 * 1024)
#define BAD_MAX		10	/* bad commands in a row before 421 */
#define ADDR_MAX	256	/* RFC 5321 path, without < > */

/* The message being collected. */
struct mbuf {
	char   *mem;
	size_t	len, cap;
	int	fd;			/* -1 while in memory */
	uint64_t size;
	int	failed;			/* a write failed: 451 at the end */
};

struct rs {
	int	fd;
	SSL    *tls;			/* o->tls: the turn under TLS */
	const struct srecv_opts *o;
	struct srecv_stats *st;
	char	in[IN_SIZE];
	size_t	ilen, ioff;
	char	out[OUT_SIZE];
	size_t	olen;
	int	dead;			/* write side broken */
	int	helo;
	int	bad;
	/* the transaction */
	int	mail;			/* MAIL accepted */
	char	sender[ADDR_MAX + 1];
	char  **rcpts;
	int	nrcpts;
	int	body8;
	struct mbuf mb;
	int	toobig;			/* 552 (limit) or 452 (cap) at the end */
	char	*err;
	size_t	errlen;
};

static int stopping(const struct rs *s);

/* --- output -------------------------------------------------------- */

static int
out_flush(struct rs *s)
{
	struct pollfd pf;
	size_t o = 0;
	ssize_t n;
	int e = 0;

	while (!s->dead && o < s->olen) {
		if (s->tls != NULL) {
			/* the same buffer again after a WANT: it has not moved */
			ERR_clear_error();
			n = SSL_write(s->tls, s->out + o, (int)(s->olen - o));
			if (n <= 0) {
				e = SSL_get_error(s->tls, (int)n);
				n = -1;
				errno = e == SSL_ERROR_WANT_READ ||
				    e == SSL_ERROR_WANT_WRITE ? EAGAIN : EPIPE;
				ERR_clear_error();
			}
		} else
			n = write(s->fd, s->out + o, s->olen - o);
		if (n > 0) {
			o += (size_t)n;
			continue;
		}
		if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
			pf.fd = s->fd;
			pf.events = s->tls != NULL && e == SSL_ERROR_WANT_READ ?
			    POLLIN : POLLOUT;
			/* stopping: the link is gone, do not wait for it */
			if (poll(&pf, 1, stopping(s) ? 2000 :
			    (int)s->o->timeout * 1000) > 0)
				continue;
		}
		s->dead = 1;
	}
	s->olen = 0;
	return s->dead ? -1 : 0;
}

static void __attribute__((format(printf, 2, 3)))
reply(struct rs *s, const char *fmt, ...)
{
	char line[SRECV_REPLY_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 3)
		n = (int)sizeof(line) - 3;
	memcpy(line + n, "\r\n", 2);
	if (s->olen + (size_t)n + 2 > sizeof(s->out))
		out_flush(s);
	memcpy(s->out + s->olen, line, (size_t)n + 2);
	s->olen += (size_t)n + 2;
	if (line[0] == '5')
		s->bad++;
	else if (line[0] == '2')
		s->bad = 0;
}

/* --- input --------------------------------------------------------- */

static void __attribute__((format(printf, 2, 3)))
fail(struct rs *s, const char *fmt, ...)
{
	va_list ap;

	if (s->err[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(s->err, s->errlen, fmt, ap);
	va_end(ap);
}

static int
stopping(const struct rs *s)
{
	return (s->o->stop != NULL && *s->o->stop) ||
	    (s->o->deadline > 0 && time_mono() >= s->o->deadline);
}

/*
 * tls_read - SSL_read into the input buffer: the octets, 0 at the
 * provider's close, -1 on an error (errno set), -2 when nothing is
 * there yet.
 */
static ssize_t
tls_read(struct rs *s)
{
	char why[200];
	int n;

	if ((n = tls_read_some(s->tls, s->in + s->ilen,
	    sizeof(s->in) - s->ilen, why, sizeof(why))) == -1)
		errno = EPROTO;
	return n == TLS_AGAIN ? -2 : n;
}

/*
 * fill - more input, flushing replies first; -1 at EOF, on an error,
 * a timeout, the deadline or a stop (err says which).
 */
static int
fill(struct rs *s)
{
	struct pollfd pf;
	double idle = time_mono();
	ssize_t n;
	int r;

	if (s->ioff > 0) {
		memmove(s->in, s->in + s->ioff, s->ilen - s->ioff);
		s->ilen -= s->ioff;
		s->ioff = 0;
	}
	if (s->ilen == sizeof(s->in)) {
		fail(s, "input buffer full");
		return -1;
	}
	if (s->olen > 0 && out_flush(s) == -1) {
		fail(s, "lost the connection while replying");
		return -1;
	}
	for (;;) {
		if (stopping(s)) {
			fail(s, "%s", s->o->stop != NULL && *s->o->stop ?
			    "stopped" : "deadline reached");
			return -1;
		}
		if (time_mono() - idle > (double)s->o->timeout) {
			fail(s, "timeout: nothing from the provider for %lds",
			    s->o->timeout);
			return -1;
		}
		pf.fd = s->fd;
		pf.events = POLLIN;
		if (s->tls != NULL && SSL_pending(s->tls) > 0)
			r = 1;		/* decrypted already: poll cannot see it */
		else if ((r = poll(&pf, 1, 500)) == -1 && errno != EINTR) {
			fail(s, "poll: %s", strerror(errno));
			return -1;
		}
		if (r <= 0)
			continue;
		if (s->tls != NULL) {
			if ((n = tls_read(s)) == -2)
				continue;
		} else
			n = read(s->fd, s->in + s->ilen, sizeof(s->in) - s->ilen);
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0) {
			fail(s, "%s", n == 0 ? "the provider closed the "
			    "connection" : strerror(errno));
			return -1;
		}
		s->ilen += (size_t)n;
		s->st->bytes += (uint64_t)n;
		return 0;
	}
}

/*
 * getline_ - the next command line without CRLF into buf; 1, 0 when it
 * was too long (skipped), -1 when the connection ended.
 */
static int
getline_(struct rs *s, char *buf, size_t len)
{
	char *nl;
	size_t n;
	int toolong = 0;

	for (;;) {
		nl = memchr(s->in + s->ioff, '\n', s->ilen - s->ioff);
		if (nl != NULL)
			break;
		if (s->ilen - s->ioff >= SRECV_LINE_MAX) {
			toolong = 1;
			s->ioff = s->ilen;
		}
		if (fill(s) == -1)
			return -1;
	}
	n = (size_t)(nl - (s->in + s->ioff));
	if (toolong || n + 1 > SRECV_LINE_MAX || n + 1 > len) {
		s->ioff += n + 1;
		return 0;
	}
	if (n > 0 && nl[-1] == '\r')
		n--;
	memcpy(buf, s->in + s->ioff, n);
	buf[n] = '\0';
	s->ioff = (size_t)(nl - s->in) + 1;
	return 1;
}

/* --- the message buffer -------------------------------------------- */

static void
mb_reset(struct mbuf *m)
{
	free(m->mem);
	if (m->fd != -1)
		close(m->fd);
	memset(m, 0, sizeof(*m));
	m->fd = -1;
}

/* mb_spill - move what is in memory into an unlinked temp file. */
static int
mb_spill(struct rs *s, struct mbuf *m)
{
	char path[PATH_MAX];
	int fd;

	if (path_build(path, sizeof(path), "%s/srecv.XXXXXX",
	    s->o->tmpdir) == -1 || (fd = mkostemp(path, O_CLOEXEC)) == -1)
		return -1;
	unlink(path);
	if (io_write_all(fd, m->mem, m->len) == -1) {
		close(fd);
		return -1;
	}
	free(m->mem);
	m->mem = NULL;
	m->len = m->cap = 0;
	m->fd = fd;
	return 0;
}

static void
mb_add(struct rs *s, const char *p, size_t n)
{
	struct mbuf *m = &s->mb;
	size_t cap;
	char *v;

	if (n == 0 || m->failed)
		return;
	m->size += n;
	if (s->toobig || (s->o->max_size > 0 && m->size > s->o->max_size)) {
		s->toobig = s->toobig ? s->toobig : 552;
		return;
	}
	if (m->fd == -1 && m->len + n > SRECV_MEM_MAX && mb_spill(s, m) == -1)
		m->failed = 1;
	if (m->fd != -1) {
		if (!m->failed && io_write_all(m->fd, p, n) == -1)
			m->failed = 1;
		return;
	}
	if (m->len + n > m->cap) {
		cap = m->cap ? m->cap : 16384;
		while (cap < m->len + n)
			cap *= 2;
		if ((v = realloc(m->mem, cap)) == NULL) {
			m->failed = 1;
			return;
		}
		m->mem = v;
		m->cap = cap;
	}
	memcpy(m->mem + m->len, p, n);
	m->len += n;
}

/* --- the transaction ----------------------------------------------- */

static void
txn_reset(struct rs *s)
{
	int i;

	for (i = 0; i < s->nrcpts; i++)
		free(s->rcpts[i]);
	free(s->rcpts);
	s->rcpts = NULL;
	s->nrcpts = 0;
	s->mail = 0;
	s->body8 = 0;
	s->toobig = 0;
	s->sender[0] = '\0';
	mb_reset(&s->mb);
}

/*
 * path_arg - "<addr>" at p (after "FROM:" or "TO:", spaces allowed)
 * into out; the rest (parameters) in *rest.  -1 on bad syntax.
 */
static int
path_arg(char *p, char *out, size_t len, char **rest)
{
	char *end;
	size_t n, i;

	while (*p == ' ')
		p++;
	if (*p != '<' || (end = strchr(p, '>')) == NULL)
		return -1;
	n = (size_t)(end - p - 1);
	if (n >= len)
		return -1;
	for (i = 0; i < n; i++)
		if ((unsigned char)p[1 + i] < 0x20 || p[1 + i] == 0x7f ||
		    p[1 + i] == '<')
			return -1;
	memcpy(out, p + 1, n);
	out[n] = '\0';
	*rest = end + 1;
	return 0;
}

static void
deliver(struct rs *s, int *close_after)
{
	struct srecv_msg m;
	char r[SRECV_REPLY_MAX];

	*close_after = 0;
	if (s->toobig == 552) {
		reply(s, "552 5.3.4 Message too big");
		txn_reset(s);
		return;
	}
	if (s->toobig == 452) {
		s->st->capped++;
		reply(s, "452 4.3.1 Message over the size cap of this hour; "
		    "try again in a later window");
		txn_reset(s);
		return;
	}
	if (s->mb.failed) {
		reply(s, "451 4.3.0 Cannot hold the message here now");
		txn_reset(s);
		return;
	}
	memset(&m, 0, sizeof(m));
	m.sender = s->sender;
	m.rcpts = s->rcpts;
	m.nrcpts = s->nrcpts;
	m.mem = s->mb.fd == -1 ? (s->mb.mem ? s->mb.mem : "") : NULL;
	m.fd = s->mb.fd;
	m.size = s->mb.size;
	m.body_8bit = s->body8;
	strlcpy_(r, "451 4.3.0 Not delivered", sizeof(r));
	*close_after = s->o->deliver(s->o->arg, &m, r, sizeof(r));
	s->st->messages++;
	if (r[0] == '2')
		s->st->ok++;
	else if (r[0] == '4')
		s->st->deferred++;
	else
		s->st->refused++;
	reply(s, "%s", r);
	txn_reset(s);
}

/* --- DATA and BDAT --------------------------------------------------- */

/*
 * data_body - after the 354: the dot-stuffed body up to CRLF.CRLF into
 * the message buffer.  0, or -1 when the connection ended first.
 */
static int
data_body(struct rs *s)
{
	const char *p;
	size_t i, start;
	int bol = 1;

	for (;;) {
		p = s->in;
		i = s->ioff;
		while (i < s->ilen) {
			if (bol && p[i] == '.') {
				if (s->ilen - i < 3)
					break;		/* need more to decide */
				if (p[i + 1] == '\r' && p[i + 2] == '\n') {
					s->ioff = i + 3;
					return 0;
				}
				i++;			/* unstuff */
				bol = 0;
				continue;
			}
			start = i;
			while (i < s->ilen && p[i] != '\r' && p[i] != '\n')
				i++;
			mb_add(s, p + start, i - start);
			if (i == s->ilen)
				break;
			if (p[i] == '\r') {
				if (i + 1 == s->ilen)
					break;		/* CR at the end: wait */
				if (p[i + 1] == '\n') {
					mb_add(s, "\r\n", 2);
					i += 2;
					bol = 1;
					continue;
				}
			}
			/* a bare CR or LF: a line end, never a line start */
			mb_add(s, "\r\n", 2);
			i++;
			bol = 0;
		}
		s->ioff = i;
		if (fill(s) == -1)
			return -1;
	}
}

/* bdat_chunk - n octets into the buffer (keep) or dropped; 0 or -1. */
static int
bdat_chunk(struct rs *s, uint64_t n, int keep)
{
	size_t take;

	while (n > 0) {
		if (s->ioff == s->ilen && fill(s) == -1)
			return -1;
		take = s->ilen - s->ioff;
		if ((uint64_t)take > n)
			take = (size_t)n;
		if (keep)
			mb_add(s, s->in + s->ioff, take);
		s->ioff += take;
		n -= take;
	}
	return 0;
}

/* --- commands -------------------------------------------------------- */

static void
cmd_ehlo(struct rs *s, const char *arg, int esmtp)
{
	if (*arg == '\0') {
		reply(s, "501 5.5.4 Syntax: %s hostname", esmtp ? "EHLO" :
		    "HELO");
		return;
	}
	txn_reset(s);
	s->helo = 1;
	if (!esmtp) {
		reply(s, "250 %s", s->o->hostname);
		return;
	}
	reply(s, "250-%s", s->o->hostname);
	reply(s, "250-PIPELINING");
	if (s->o->max_size > 0)
		reply(s, "250-SIZE %llu", (unsigned long long)s->o->max_size);
	else
		reply(s, "250-SIZE");
	reply(s, "250-8BITMIME");
	reply(s, "250-CHUNKING");
	reply(s, "250 ENHANCEDSTATUSCODES");
}

static void
cmd_mail(struct rs *s, char *arg)
{
	char *rest, *par, *end;
	unsigned long long size = 0;
	int body8 = 0;

	if (!s->helo) {
		reply(s, "503 5.5.1 Error: send EHLO first");
		return;
	}
	if (s->mail) {
		reply(s, "503 5.5.1 Error: nested MAIL command");
		return;
	}
	if (strncasecmp(arg, "FROM:", 5) != 0 ||
	    path_arg(arg + 5, s->sender, sizeof(s->sender), &rest) == -1) {
		reply(s, "501 5.5.4 Syntax: MAIL FROM:<address>");
		return;
	}
	while ((par = strsep(&rest, " ")) != NULL) {
		if (*par == '\0')
			continue;
		if (strncasecmp(par, "SIZE=", 5) == 0) {
			errno = 0;
			size = strtoull(par + 5, &end, 10);
			if (!isdigit((unsigned char)par[5]) || errno != 0 ||
			    *end != '\0') {
				reply(s, "501 5.5.4 Bad SIZE parameter");
				return;
			}
		} else if (strcasecmp(par, "BODY=8BITMIME") == 0)
			body8 = 1;
		else if (strcasecmp(par, "BODY=7BIT") != 0) {
			reply(s, "555 5.5.4 Unsupported parameter %.40s", par);
			return;
		}
	}
	if (s->o->max_size > 0 && size > s->o->max_size) {
		reply(s, "552 5.3.4 Message too big");
		return;
	}
	if (s->o->cap > 0 && size > s->o->cap) {
		s->st->capped++;
		reply(s, "452 4.3.1 Message of %llu octets over the size cap "
		    "of %llu for this hour; try again in a later window", size,
		    (unsigned long long)s->o->cap);
		return;
	}
	s->mail = 1;
	s->body8 = body8;
	reply(s, "250 2.1.0 Ok");
}

static void
cmd_rcpt(struct rs *s, char *arg)
{
	char addr[ADDR_MAX + 1], *rest, **v;

	if (!s->mail) {
		reply(s, "503 5.5.1 Error: need MAIL command");
		return;
	}
	if (strncasecmp(arg, "TO:", 3) != 0 ||
	    path_arg(arg + 3, addr, sizeof(addr), &rest) == -1 ||
	    addr[0] == '\0') {
		reply(s, "501 5.5.4 Syntax: RCPT TO:<address>");
		return;
	}
	while (*rest == ' ')
		rest++;
	if (*rest != '\0') {
		reply(s, "555 5.5.4 Unsupported parameter %.40s", rest);
		return;
	}
	if (s->nrcpts >= SRECV_RCPTS_MAX) {
		reply(s, "452 4.5.3 Too many recipients");
		return;
	}
	if ((v = realloc(s->rcpts, (size_t)(s->nrcpts + 1) * sizeof(*v))) ==
	    NULL || (v[s->nrcpts] = strdup(addr)) == NULL) {
		if (v != NULL)
			s->rcpts = v;
		reply(s, "452 4.3.0 Out of memory");
		return;
	}
	s->rcpts = v;
	s->nrcpts++;
	reply(s, "250 2.1.5 Ok");
}

/* cmd_data - DATA; -1 when the connection ended inside it. */
static int
cmd_data(struct rs *s, int *close_after)
{
	*close_after = 0;
	if (!s->mail) {
		reply(s, "503 5.5.1 Error: need MAIL command");
		return 0;
	}
	if (s->nrcpts == 0) {
		reply(s, "554 5.5.1 Error: no valid recipients");
		return 0;
	}
	reply(s, "354 End data with <CR><LF>.<CR><LF>");
	if (data_body(s) == -1)
		return -1;
	deliver(s, close_after);
	return 0;
}

/* cmd_bdat - BDAT n [LAST]; -1 when the connection ended inside it. */
static int
cmd_bdat(struct rs *s, char *arg, int *close_after)
{
	unsigned long long n;
	char *end;
	int last = 0, usable = s->mail && s->nrcpts > 0;

	*close_after = 0;
	errno = 0;
	n = strtoull(arg, &end, 10);
	if (!isdigit((unsigned char)*arg) || errno != 0 ||
	    (*end != '\0' && *end != ' ')) {
		/* no size: the octets cannot be found; end the session */
		reply(s, "501 5.5.4 Syntax: BDAT size [LAST]");
		fail(s, "BDAT without a size");
		return -1;
	}
	while (*end == ' ')
		end++;
	if (strcasecmp(end, "LAST") == 0)
		last = 1;
	else if (*end != '\0') {
		reply(s, "501 5.5.4 Syntax: BDAT size [LAST]");
		fail(s, "BDAT with a bad argument");
		return -1;
	}
	if (bdat_chunk(s, n, usable) == -1)
		return -1;
	if (!usable) {
		reply(s, s->mail ? "554 5.5.1 Error: no valid recipients" :
		    "503 5.5.1 Error: need MAIL command");
		return 0;
	}
	if (!last) {
		reply(s, "250 2.0.0 %llu octets received", n);
		return 0;
	}
	deliver(s, close_after);
	return 0;
}

/* command - one command; 1 to go on, 0 after QUIT, -1 when it ended. */
static int
command(struct rs *s)
{
	char line[SRECV_LINE_MAX + 1], verb[5], *arg;
	int rc, close_after = 0;

	if ((rc = getline_(s, line, sizeof(line))) == -1)
		return -1;
	if (rc == 0) {
		reply(s, "500 5.5.2 Error: line too long");
		return 1;
	}
	if (strlen(line) < 4 || (line[4] != ' ' && line[4] != '\0')) {
		reply(s, "502 5.5.1 Error: command not implemented");
		return 1;
	}
	memcpy(verb, line, 4);
	verb[4] = '\0';
	for (arg = line + 4; *arg == ' '; arg++)
		;
	if (strcasecmp(verb, "EHLO") == 0 || strcasecmp(verb, "HELO") == 0)
		cmd_ehlo(s, arg, toupper((unsigned char)verb[0]) == 'E');
	else if (strcasecmp(verb, "MAIL") == 0)
		cmd_mail(s, arg);
	else if (strcasecmp(verb, "RCPT") == 0)
		cmd_rcpt(s, arg);
	else if (strcasecmp(verb, "DATA") == 0) {
		if (cmd_data(s, &close_after) == -1)
			return -1;
	} else if (strcasecmp(verb, "BDAT") == 0) {
		if (cmd_bdat(s, arg, &close_after) == -1)
			return -1;
	} else if (strcasecmp(verb, "RSET") == 0) {
		txn_reset(s);
		reply(s, "250 2.0.0 Ok");
	} else if (strcasecmp(verb, "NOOP") == 0)
		reply(s, "250 2.0.0 Ok");
	else if (strcasecmp(verb, "VRFY") == 0)
		reply(s, "252 2.0.0 Send some mail, I'll try my best");
	else if (strcasecmp(verb, "QUIT") == 0) {
		reply(s, "221 2.0.0 Bye");
		s->st->quit = 1;
		return 0;
	} else
		reply(s, "502 5.5.1 Error: command not implemented");
	if (close_after) {
		reply(s, "421 4.3.0 %s Local mail system unavailable; closing",
		    s->o->hostname);
		fail(s, "the local MTA is unavailable");
		return -1;
	}
	if (s->bad >= BAD_MAX) {
		reply(s, "421 4.7.0 %s Error: too many errors", s->o->hostname);
		fail(s, "too many bad commands from the provider");
		return -1;
	}
	return 1;
}

int
srecv_session(int fd, const struct srecv_opts *o, struct srecv_stats *st,
    char *err, size_t errlen)
{
	static struct rs s;
	int rc, fl;

	memset(&s, 0, sizeof(s));
	s.fd = fd;
	s.tls = o->tls;
	s.o = o;
	s.st = st;
	s.mb.fd = -1;
	s.err = err;
	s.errlen = errlen;
	err[0] = '\0';
	if ((fl = fcntl(fd, F_GETFL)) != -1)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	reply(&s, "220 %s ESMTP mailbridge ODMR customer", o->hostname);
	while ((rc = command(&s)) == 1)
		;
	if (rc == -1 && stopping(&s) && !s.dead)
		reply(&s, "421 4.3.2 %s Shutting down", o->hostname);
	out_flush(&s);
	txn_reset(&s);
	if (s.tls != NULL) {
		if (!s.dead)
			(void)SSL_shutdown(s.tls);	/* one try */
		SSL_free(s.tls);
		ERR_clear_error();
	}
	close(fd);
	if (rc == 0)
		return 0;
	if (err[0] == '\0')
		snprintf(err, errlen, "the session broke");
	return -1;
}

void
srecv_tls_free(void *tls)
{
	SSL_free(tls);
}
