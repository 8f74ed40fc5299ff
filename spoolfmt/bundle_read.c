/*
 * bundle_read.c - the bundle reader (bundle(5)): gzip or plain BSMTP,
 * LF or CRLF, with or without HELO/EHLO and QUIT, RSET, NOOP and
 * several RCPTs per transaction.  Everything it returns is checked:
 * gzip damage (CRC, length, truncation, trailing garbage) and BSMTP
 * structure errors end the read with a one-line reason that names the
 * line (of the uncompressed stream) or the compressed offset.
 *
 * Memory is bounded: command lines are at most BUNDLE_LINE_MAX octets,
 * message lines are never assembled whole, and a message over
 * BUNDLE_MEM_MAX octets goes to an unlinked file in the caller's tmp
 * directory.  Messages come back with CRLF line ends, un-dot-stuffed,
 * and without the hub's X-Mailbridge-Envelope: field, which the reader
 * takes off while the start of the message is still in memory.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <zlib.h>

#include "bundle.h"
#include "dsnenv.h"

#define IN_SIZE		(64 * 1024)	/* compressed octets per read(2) */
#define BUF_SIZE	(256 * 1024)	/* uncompressed octets at hand */
#define WBUF_SIZE	(64 * 1024)	/* body octets per write(2) */

enum rstate {
	R_IDLE,		/* between transactions */
	R_ENVELOPE,	/* after MAIL, collecting RCPTs */
	R_BODY,		/* DATA seen, message not yet read */
	R_QUIT,		/* QUIT seen: only blank lines may follow */
	R_DONE,		/* end reported */
	R_FAILED	/* an error was reported; it is reported again */
};

struct bundle_reader {
	int	fd;
	int	gz;
	int	zinit;
	int	zmember_done;	/* the last gzip member ended */
	z_stream zs;
	unsigned char *in;
	uint64_t in_off;	/* compressed octets read from fd */
	int	in_eof;
	unsigned char *buf;
	size_t	start, end;
	int	eof;		/* no more uncompressed octets */
	uint64_t raw;		/* uncompressed octets produced */
	unsigned long line;	/* lines finished so far */
	enum rstate st;
	char	failure[256];
	int	failure_errno;
	const char *tmpdir;
	unsigned nmsg;
	unsigned copies;
	unsigned long mail_line;
	char   *sender;
	char  **rcpts;
	unsigned nrcpts;
	/* body sink */
	struct bundle_msg *sink;
	size_t	memcap;
	unsigned char *wbuf;
	size_t	nwbuf;
};

/* fail - record the reason; damage (eno 0) or an I/O error. */
static int
fail(struct bundle_reader *r, int eno, const char *fmt, ...)
{
	va_list ap;

	if (r->st != R_FAILED) {
		va_start(ap, fmt);
		vsnprintf(r->failure, sizeof(r->failure), fmt, ap);
		va_end(ap);
		r->failure_errno = eno;
		r->st = R_FAILED;
	}
	return -1;
}

static int
failed(struct bundle_reader *r, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s", r->failure);
	errno = r->failure_errno;
	return -1;
}

static int
raw_read(struct bundle_reader *r, unsigned char *p, size_t n)
{
	ssize_t got;

	for (;;) {
		got = read(r->fd, p, n);
		if (got == -1 && errno == EINTR)
			continue;
		if (got == -1)
			return fail(r, errno, "read error: %s", strerror(errno));
		r->in_off += (uint64_t)got;
		if (got == 0)
			r->in_eof = 1;
		return (int)got;
	}
}

static int
zerr(struct bundle_reader *r, int rc)
{
	const char *m = r->zs.msg ? r->zs.msg : "";
	uint64_t at = r->in_off - r->zs.avail_in;

	if (rc == Z_MEM_ERROR)
		return fail(r, ENOMEM, "out of memory");
	if (strstr(m, "data check") != NULL)
		return fail(r, 0, "CRC mismatch (gzip trailer)");
	if (strstr(m, "length check") != NULL)
		return fail(r, 0, "length mismatch (gzip trailer)");
	if (strstr(m, "header") != NULL || strstr(m, "method") != NULL)
		return fail(r, 0, "bad gzip header: %s", m);
	return fail(r, 0, "corrupt gzip data at offset %llu: %s",
	    (unsigned long long)at, m[0] ? m : "inflate error");
}

/* next_member - after a gzip member: another member, the end, or junk. */
static int
next_member(struct bundle_reader *r)
{
	int n;

	if (r->zs.avail_in == 0 && !r->in_eof) {
		if ((n = raw_read(r, r->in, IN_SIZE)) < 0)
			return -1;
		r->zs.next_in = r->in;
		r->zs.avail_in = (uInt)n;
	}
	if (r->zs.avail_in == 0) {
		r->eof = 1;
		return 0;
	}
	if (r->zs.avail_in >= 2 && r->zs.next_in[0] == 0x1f &&
	    r->zs.next_in[1] == 0x8b) {
		inflateReset(&r->zs);
		r->zmember_done = 0;
		return 0;
	}
	return fail(r, 0, "trailing garbage after gzip stream at offset %llu",
	    (unsigned long long)(r->in_off - r->zs.avail_in));
}

/* produce - append uncompressed octets at buf+end; 0 or -1. */
static int
produce(struct bundle_reader *r)
{
	size_t room = BUF_SIZE - r->end;
	int n, rc;

	if (!r->gz) {
		if ((n = raw_read(r, r->buf + r->end, room)) < 0)
			return -1;
		r->end += (size_t)n;
		r->raw += (uint64_t)n;
		if (n == 0)
			r->eof = 1;
		return 0;
	}
	while (!r->eof) {
		if (r->zmember_done) {
			if (next_member(r) == -1)
				return -1;
			continue;
		}
		if (r->zs.avail_in == 0) {
			if ((n = raw_read(r, r->in, IN_SIZE)) < 0)
				return -1;
			if (n == 0)
				return fail(r, 0, "truncated gzip stream "
				    "(%llu octets)", (unsigned long long)r->in_off);
			r->zs.next_in = r->in;
			r->zs.avail_in = (uInt)n;
		}
		r->zs.next_out = r->buf + r->end;
		r->zs.avail_out = (uInt)room;
		rc = inflate(&r->zs, Z_NO_FLUSH);
		n = (int)(room - r->zs.avail_out);
		r->end += (size_t)n;
		r->raw += (uint64_t)n;
		if (rc == Z_STREAM_END)
			r->zmember_done = 1;
		else if (rc != Z_OK && rc != Z_BUF_ERROR)
			return zerr(r, rc);
		if (n > 0)
			return 0;
	}
	return 0;
}

/* fill - have at least need octets at hand unless the stream ends. */
static int
fill(struct bundle_reader *r, size_t need)
{
	while (r->end - r->start < need && !r->eof) {
		if (r->start > 0 && (r->end == BUF_SIZE ||
		    BUF_SIZE - r->start < need)) {
			memmove(r->buf, r->buf + r->start, r->end - r->start);
			r->end -= r->start;
			r->start = 0;
		}
		if (produce(r) == -1)
			return -1;
	}
	return 0;
}

static int
detect(struct bundle_reader *r)
{
	static const char *const starts[] = {
		"HELO", "EHLO", "MAIL", "RSET", "NOOP", NULL
	};
	unsigned char m[4];
	int n, i;

	if ((n = raw_read(r, m, 4)) < 0)
		return -1;
	if (n >= 2 && m[0] == 0x1f && m[1] == 0x8b) {
		r->gz = 1;
		memcpy(r->in, m, (size_t)n);
		r->zs.next_in = r->in;
		r->zs.avail_in = (uInt)n;
		if (inflateInit2(&r->zs, 15 + 16) != Z_OK)
			return fail(r, ENOMEM, "inflateInit2 failed");
		r->zinit = 1;
		return 0;
	}
	if (n == 0)
		return fail(r, 0, "empty bundle (no messages)");
	if (n >= 2 && m[0] == 0x1f && m[1] == 0x9d)
		return fail(r, 0, "compress(1) bundles not supported");
	if (n >= 3 && memcmp(m, "BZh", 3) == 0)
		return fail(r, 0, "bzip2 bundles not supported");
	if (n >= 4 && m[0] == 0xfd && memcmp(m + 1, "7zX", 3) == 0)
		return fail(r, 0, "xz bundles not supported");
	for (i = 0; starts[i] != NULL; i++)
		if (n == 4 && strncasecmp((char *)m, starts[i], 4) == 0)
			break;
	if (starts[i] == NULL)
		return fail(r, 0, "not a bundle: wrong magic (%02x %02x)",
		    m[0], n > 1 ? m[1] : 0);
	memcpy(r->buf, m, 4);
	r->end = 4;
	r->raw = 4;
	return 0;
}

struct bundle_reader *
bundle_reader_open(int fd, const char *tmpdir)
{
	struct bundle_reader *r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->fd = fd;
	r->tmpdir = tmpdir;
	if ((r->in = malloc(IN_SIZE)) == NULL ||
	    (r->buf = malloc(BUF_SIZE)) == NULL) {
		bundle_reader_close(r);
		errno = ENOMEM;
		return NULL;
	}
	r->st = R_IDLE;
	detect(r);
	return r;
}

static void
envelope_clear(struct bundle_reader *r)
{
	unsigned i;

	free(r->sender);
	r->sender = NULL;
	for (i = 0; i < r->nrcpts; i++)
		free(r->rcpts[i]);
	free(r->rcpts);
	r->rcpts = NULL;
	r->nrcpts = 0;
}

void
bundle_reader_close(struct bundle_reader *r)
{
	if (r == NULL)
		return;
	envelope_clear(r);
	if (r->zinit)
		inflateEnd(&r->zs);
	free(r->wbuf);
	free(r->in);
	free(r->buf);
	free(r);
}

/*
 * get_line - the next command line without its LF or CRLF, NUL
 * terminated, into line.  0: got one; 1: end of stream; -1: error.
 */
static int
get_line(struct bundle_reader *r, char *line, size_t *lenp)
{
	unsigned char *p, *nl;
	size_t avail, len;

	for (;;) {
		p = r->buf + r->start;
		avail = r->end - r->start;
		nl = memchr(p, '\n', avail);
		if (nl != NULL || avail > BUNDLE_LINE_MAX || r->eof)
			break;
		if (fill(r, avail + 1) == -1)
			return -1;
	}
	if (nl == NULL && avail == 0)
		return 1;
	len = nl != NULL ? (size_t)(nl - p) + 1 : avail;
	if (len > BUNDLE_LINE_MAX)
		return fail(r, 0, "line %lu: line over %d octets", r->line + 1,
		    BUNDLE_LINE_MAX);
	r->start += len;
	r->line++;
	if (len > 0 && p[len - 1] == '\n')
		len--;
	if (len > 0 && p[len - 1] == '\r')
		len--;
	memcpy(line, p, len);
	line[len] = '\0';
	*lenp = len;
	return 0;
}

/* keyword - does line start with kw (case-insensitive) then end/space? */
static int
keyword(const char *line, const char *kw)
{
	size_t n = strlen(kw);

	return strncasecmp(line, kw, n) == 0 &&
	    (line[n] == '\0' || line[n] == ' ' || line[n] == '\t');
}

/*
 * parse_path - "FROM:<addr> params" or "TO:<addr>" after the verb;
 * liberal about a space after the colon and missing brackets.
 */
static int
parse_path(struct bundle_reader *r, const char *s, const char *prefix,
    int allow_null, char **out)
{
	size_t n = strlen(prefix), len;
	const char *p, *q;
	int quoted = 0;

	if (strncasecmp(s, prefix, n) != 0)
		return fail(r, 0, "line %lu: expected \"%s\"", r->line, prefix);
	p = s + n;
	while (*p == ' ')
		p++;
	if (*p == '<') {
		for (q = ++p; *q != '\0'; q++) {
			if (*q == '\\' && quoted && q[1] != '\0')
				q++;
			else if (*q == '"')
				quoted = !quoted;
			else if (*q == '>' && !quoted)
				break;
		}
		if (*q != '>')
			return fail(r, 0, "line %lu: address without '>'",
			    r->line);
	} else
		q = p + strcspn(p, " \t");
	len = (size_t)(q - p);
	if (len == 0 && !allow_null)
		return fail(r, 0, "line %lu: empty address", r->line);
	if (len > BUNDLE_PATH_MAX - 2)
		return fail(r, 0, "line %lu: address over %d octets", r->line,
		    BUNDLE_PATH_MAX - 2);
	for (const char *c = p; c < q; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return fail(r, 0, "line %lu: control character in "
			    "address", r->line);
	if ((*out = strndup(p, len)) == NULL)
		return fail(r, ENOMEM, "out of memory");
	return 0;
}

static int
cmd_mail(struct bundle_reader *r, const char *line)
{
	if (r->st == R_ENVELOPE)
		return fail(r, 0, "line %lu: MAIL inside the transaction "
		    "begun at line %lu", r->line, r->mail_line);
	if (parse_path(r, line + 5, "FROM:", 1, &r->sender) == -1)
		return -1;
	r->mail_line = r->line;
	r->st = R_ENVELOPE;
	return 0;
}

static int
cmd_rcpt(struct bundle_reader *r, const char *line)
{
	char *a, **nr;

	if (r->st != R_ENVELOPE)
		return fail(r, 0, "line %lu: RCPT without MAIL", r->line);
	if (r->nrcpts >= BUNDLE_RCPTS_MAX)
		return fail(r, 0, "line %lu: over %d RCPTs", r->line,
		    BUNDLE_RCPTS_MAX);
	if (parse_path(r, line + 5, "TO:", 0, &a) == -1)
		return -1;
	if ((nr = realloc(r->rcpts, (r->nrcpts + 1) * sizeof(*nr))) == NULL) {
		free(a);
		return fail(r, ENOMEM, "out of memory");
	}
	r->rcpts = nr;
	r->rcpts[r->nrcpts++] = a;
	return 0;
}

static int
cmd_data(struct bundle_reader *r)
{
	if (r->st != R_ENVELOPE)
		return fail(r, 0, "line %lu: DATA without MAIL", r->line);
	if (r->nrcpts == 0)
		return fail(r, 0, "line %lu: DATA without RCPT", r->line);
	r->st = R_BODY;
	r->nmsg++;
	r->copies += r->nrcpts;
	return 1;
}

static void
printable(char *dst, size_t len, const char *s)
{
	size_t i;

	for (i = 0; i + 1 < len && s[i] != '\0'; i++)
		dst[i] = isprint((unsigned char)s[i]) ? s[i] : '?';
	dst[i] = '\0';
}

/* command - one command line; 1 when DATA begins a message. */
static int
command(struct bundle_reader *r, const char *line)
{
	char show[24];

	if (line[0] == '\0')
		return 0;
	if (r->st == R_QUIT)
		return fail(r, 0, "line %lu: text after QUIT", r->line);
	if (keyword(line, "HELO") || keyword(line, "EHLO") ||
	    keyword(line, "RSET")) {
		envelope_clear(r);
		r->st = R_IDLE;
		return 0;
	}
	if (keyword(line, "NOOP"))
		return 0;
	if (keyword(line, "QUIT")) {
		if (r->st == R_ENVELOPE)
			return fail(r, 0, "line %lu: QUIT inside the "
			    "transaction begun at line %lu", r->line,
			    r->mail_line);
		r->st = R_QUIT;
		return 0;
	}
	if (strncasecmp(line, "MAIL ", 5) == 0)
		return cmd_mail(r, line);
	if (strncasecmp(line, "RCPT ", 5) == 0)
		return cmd_rcpt(r, line);
	if (keyword(line, "DATA"))
		return cmd_data(r);
	printable(show, sizeof(show), line);
	return fail(r, 0, "line %lu: unknown command \"%s\"", r->line, show);
}

static int
at_end(struct bundle_reader *r)
{
	if (r->st == R_ENVELOPE)
		return fail(r, 0, "line %lu: end of bundle inside the "
		    "transaction begun at line %lu", r->line, r->mail_line);
	if (r->nmsg == 0)
		return fail(r, 0, "empty bundle (no messages)");
	r->st = R_DONE;
	return 0;
}

int
bundle_read_next(struct bundle_reader *r, struct bundle_msg *m, char *err,
    size_t errlen)
{
	char line[BUNDLE_LINE_MAX + 1];
	size_t len = 0;
	int rc;

	memset(m, 0, sizeof(*m));
	m->fd = -1;
	if (r->st == R_BODY && bundle_read_body(r, m, 0, err, errlen) == -1)
		return -1;
	for (;;) {
		if (r->st == R_FAILED)
			return failed(r, err, errlen);
		if (r->st == R_DONE)
			return 0;
		if ((rc = get_line(r, line, &len)) == -1)
			continue;
		if (rc == 1) {
			at_end(r);
			continue;
		}
		if (memchr(line, '\0', len) != NULL) {
			fail(r, 0, "line %lu: NUL in a command", r->line);
			continue;
		}
		if ((rc = command(r, line)) == 1)
			break;
	}
	m->index = r->nmsg;
	m->line = r->mail_line;
	m->sender = r->sender;
	m->rcpts = r->rcpts;
	m->nrcpts = r->nrcpts;
	r->sender = NULL;
	r->rcpts = NULL;
	r->nrcpts = 0;
	return 1;
}

/* --- message bodies ------------------------------------------------ */

/*
 * env_len - when p (n octets) begins with an X-Mailbridge-Envelope:
 * field, its octets with continuation lines and final LF (at most
 * DSNENV_HEADER_MAX); else 0.  *blen gets the length of its body.
 */
static size_t
env_len(const char *p, size_t n, size_t *blen)
{
	size_t k = sizeof(DSNENV_HEADER) - 1, i;
	const char *nl;

	if (n <= k || strncasecmp(p, DSNENV_HEADER, k) != 0 || p[k] != ':')
		return 0;
	for (i = k + 1;;) {
		if ((nl = memchr(p + i, '\n', n - i)) == NULL)
			return 0;
		i = (size_t)(nl - p) + 1;
		if (i > DSNENV_HEADER_MAX)
			return 0;
		if (i == n || (p[i] != ' ' && p[i] != '\t'))
			break;
	}
	*blen = i - k - 1;
	return i;
}

/*
 * env_take - take the envelope field off the start of m's message,
 * which is still in memory, into m->env.
 */
static int
env_take(struct bundle_reader *r, struct bundle_msg *m)
{
	size_t n, blen;

	if (m->mem == NULL || (n = env_len(m->mem, (size_t)m->size,
	    &blen)) == 0)
		return 0;
	if ((m->env = malloc(blen + 1)) == NULL)
		return fail(r, ENOMEM, "out of memory");
	memcpy(m->env, m->mem + sizeof(DSNENV_HEADER), blen);
	m->env[blen] = '\0';
	m->envlen = blen;
	memmove(m->mem, m->mem + n, (size_t)m->size - n);
	m->size -= n;
	return 0;
}

static int
sink_file(struct bundle_reader *r, struct bundle_msg *m)
{
	char path[PATH_MAX];
	int fd;

	if (path_build(path, sizeof(path), "%s/.bundle-body.XXXXXX",
	    r->tmpdir) == -1)
		return fail(r, errno, "temp file: %s", strerror(errno));
	if (env_take(r, m) == -1)
		return -1;
	if ((fd = mkostemp(path, O_CLOEXEC)) == -1)
		return fail(r, errno, "temp file in %s: %s", r->tmpdir,
		    strerror(errno));
	unlink(path);
	if (r->wbuf == NULL && (r->wbuf = malloc(WBUF_SIZE)) == NULL) {
		close(fd);
		return fail(r, ENOMEM, "out of memory");
	}
	if (io_write_all(fd, m->mem, (size_t)m->size) == -1) {
		close(fd);
		return fail(r, errno, "temp file: %s", strerror(errno));
	}
	free(m->mem);
	m->mem = NULL;
	m->fd = fd;
	r->nwbuf = 0;
	return 0;
}

static int
sink_flush(struct bundle_reader *r, struct bundle_msg *m)
{
	if (m->fd != -1 && r->nwbuf > 0 &&
	    io_write_all(m->fd, r->wbuf, r->nwbuf) == -1)
		return fail(r, errno, "temp file: %s", strerror(errno));
	r->nwbuf = 0;
	return 0;
}

/* emit - message octets to the sink: memory, then a file; or nowhere. */
static int
emit(struct bundle_reader *r, const void *p, size_t n)
{
	struct bundle_msg *m = r->sink;
	size_t cap;
	char *nm;

	if (m == NULL || n == 0)
		return 0;
	if (m->fd == -1 && m->size + n > BUNDLE_MEM_MAX && sink_file(r, m) == -1)
		return -1;
	if (m->fd != -1) {
		if (r->nwbuf + n > WBUF_SIZE && sink_flush(r, m) == -1)
			return -1;
		if (n > WBUF_SIZE) {
			if (io_write_all(m->fd, p, n) == -1)
				return fail(r, errno, "temp file: %s",
				    strerror(errno));
		} else {
			memcpy(r->wbuf + r->nwbuf, p, n);
			r->nwbuf += n;
		}
		m->size += n;
		return 0;
	}
	if (m->size + n > r->memcap) {
		cap = r->memcap ? r->memcap : 16384;
		while (cap < m->size + n)
			cap *= 2;
		if ((nm = realloc(m->mem, cap)) == NULL)
			return fail(r, ENOMEM, "out of memory");
		m->mem = nm;
		r->memcap = cap;
	}
	memcpy(m->mem + m->size, p, n);
	m->size += n;
	return 0;
}

/* body_bol - a line start: the final dot (1), a stuffed dot, or text. */
static int
body_bol(struct bundle_reader *r)
{
	unsigned char *p;
	size_t avail;

	if (fill(r, 3) == -1)
		return -1;
	p = r->buf + r->start;
	avail = r->end - r->start;
	if (avail == 0 || p[0] != '.')
		return 0;
	if (avail == 1 || (avail >= 2 && p[1] == '\n') ||
	    (avail == 2 && p[1] == '\r') ||
	    (avail >= 3 && p[1] == '\r' && p[2] == '\n')) {
		r->start += avail == 1 ? 1 : p[1] == '\n' ? 2 :
		    avail == 2 ? 2 : 3;
		r->line++;
		return 1;
	}
	r->start++;
	return 0;
}

static int
body_loop(struct bundle_reader *r, unsigned idx)
{
	unsigned char *p, *nl;
	size_t avail, seg;
	int bol = 1, prev_cr = 0, rc;

	for (;;) {
		if (bol) {
			if ((rc = body_bol(r)) != 0)
				return rc == 1 ? 0 : -1;
			bol = 0;
			prev_cr = 0;
		}
		if (r->end == r->start && fill(r, 1) == -1)
			return -1;
		p = r->buf + r->start;
		avail = r->end - r->start;
		if (avail == 0)
			return fail(r, 0, "line %lu: missing final '.' of "
			    "message %u", r->line, idx);
		if ((nl = memchr(p, '\n', avail)) == NULL) {
			if (emit(r, p, avail) == -1)
				return -1;
			prev_cr = p[avail - 1] == '\r';
			r->start += avail;
			continue;
		}
		seg = (size_t)(nl - p);
		if (seg > 0 ? p[seg - 1] == '\r' : prev_cr) {
			if (emit(r, p, seg + 1) == -1)
				return -1;
		} else if (emit(r, p, seg) == -1 || emit(r, "\r\n", 2) == -1)
			return -1;
		r->start += seg + 1;
		r->line++;
		bol = 1;
	}
}

int
bundle_read_body(struct bundle_reader *r, struct bundle_msg *m, int keep,
    char *err, size_t errlen)
{
	int rc;

	if (r->st == R_FAILED)
		return failed(r, err, errlen);
	if (r->st != R_BODY) {
		snprintf(err, errlen, "no message to read");
		errno = EINVAL;
		return -1;
	}
	if (keep && r->tmpdir == NULL)
		keep = 0;
	r->sink = keep ? m : NULL;
	r->memcap = 0;
	m->size = 0;
	rc = body_loop(r, r->nmsg);
	if (rc == 0 && keep)
		rc = m->fd == -1 ? env_take(r, m) : sink_flush(r, m);
	r->sink = NULL;
	if (rc == -1) {
		if (keep)
			bundle_msg_free(m);
		return failed(r, err, errlen);
	}
	r->st = R_IDLE;
	return 0;
}

void
bundle_msg_free(struct bundle_msg *m)
{
	unsigned i;

	free(m->sender);
	for (i = 0; i < m->nrcpts; i++)
		free(m->rcpts[i]);
	free(m->rcpts);
	free(m->mem);
	free(m->env);
	if (m->fd != -1)
		close(m->fd);
	memset(m, 0, sizeof(*m));
	m->fd = -1;
}

ssize_t
bundle_msg_pread(const struct bundle_msg *m, void *buf, size_t n,
    uint64_t off)
{
	ssize_t got;

	if (off >= m->size)
		return 0;
	if (n > m->size - off)
		n = (size_t)(m->size - off);
	if (m->fd == -1) {
		memcpy(buf, m->mem + off, n);
		return (ssize_t)n;
	}
	do
		got = pread(m->fd, buf, n, (off_t)off);
	while (got == -1 && errno == EINTR);
	return got;
}

int
bundle_verify_fd(int fd, struct bundle_info *info, char *err, size_t errlen)
{
	struct bundle_reader *r;
	struct bundle_msg m;
	int rc;

	if (lseek(fd, 0, SEEK_SET) == -1) {
		snprintf(err, errlen, "seek: %s", strerror(errno));
		return -1;
	}
	if ((r = bundle_reader_open(fd, NULL)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	while ((rc = bundle_read_next(r, &m, err, errlen)) == 1) {
		rc = bundle_read_body(r, &m, 0, err, errlen);
		bundle_msg_free(&m);
		if (rc == -1)
			break;
	}
	if (rc == 0 && info != NULL) {
		info->gzip = r->gz;
		info->messages = r->nmsg;
		info->copies = r->copies;
		info->raw = r->raw;
	}
	bundle_reader_close(r);
	if (lseek(fd, 0, SEEK_SET) == -1 && rc == 0) {
		snprintf(err, errlen, "seek: %s", strerror(errno));
		return -1;
	}
	return rc == 0 ? 0 : -1;
}

int
bundle_verify(const char *path, struct bundle_info *info, char *err,
    size_t errlen)
{
	int fd, rc;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	rc = bundle_verify_fd(fd, info, err, errlen);
	close(fd);
	return rc;
}
