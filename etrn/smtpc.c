/*
 * smtpc.c - the SMTP/LMTP client engine (see smtpc.h).
 *
 * One non-blocking socket driven by poll(2).  Commands and message
 * octets go into an output queue of segments (our own small buffers,
 * message data referenced in place, or message data dot-stuffed on the
 * fly through a 64 KiB staging buffer) written with sendmsg(2) many
 * segments at a time.  Every command pushes one expectation (where its
 * reply goes) onto a FIFO; replies are matched to it in order.  When
 * the connection fails, every expectation still open gets the reason
 * (or the server's 421) as its reply, so each message always ends with
 * an outcome for each recipient.  In DATA mode with PIPELINING the
 * next message's MAIL/RCPT/DATA follow the dot of the current one, so
 * at most two messages are in flight; done() still comes in order.
 *
 * Time limits are inactivity limits: the deadline is the last moment
 * anything moved plus the limit of the reply we wait for first.
 */
#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "tls.h"
#include "smtpc.h"

#define OUT_SEG_MIN	4096
#define STAGE_SIZE	65536
#define IOV_MAX_USE	64
#define IN_SIZE		(SMTPC_LINE_MAX * 8)

enum ekind { E_GREETING, E_HELO, E_CMD, E_RSET, E_MAIL, E_RCPT, E_DATA,
	E_FINAL, E_LMTP };

struct exp {
	enum ekind kind;
	struct smtpc_reply *dst;	/* NULL: reply is discarded */
	struct smtpc_msg *m;		/* the message it belongs to */
	long	timeout;
	const char *what;		/* for "... in reply to %s" */
};

enum segkind { SEG_OWN, SEG_REF, SEG_STUFF };

struct seg {
	struct seg *next;
	enum segkind kind;
	const char *p;			/* SEG_REF, SEG_STUFF: message data */
	char   *own;			/* SEG_OWN */
	size_t	len, off, cap;
	int	bol;			/* SEG_STUFF: at the start of a line */
	struct smtpc_msg *m;
};

struct smtpc {
	int	fd;
	struct smtpc_opts o;
	char	relay[320];
	char	host[256];
	unsigned ext, ext_seen;
	uint64_t size_max;
	int	dead;
	char	deadwhy[200];		/* "lost connection", "timeout", ... */
	struct smtpc_reply dead421;	/* the server's 421, if that was it */
	double	last_io;
	/* output */
	struct seg *out, *out_tail;
	char   *stage;
	size_t	stage_len, stage_off;
	/* input: a reply being assembled */
	char	in[IN_SIZE];
	size_t	inlen;
	int	rcode, rlines;
	char	rtext[SMTPC_TEXT_MAX];
	size_t	rtextlen;
	/* expectations */
	struct exp *fifo;
	size_t	fhead, ftail, fcap;
	/* smtpc_send state */
	const struct smtpc_feed *feed;
	int	inflight;
	size_t	inflight_bytes;
	int	need_rset;
	struct smtpc_msg *last_enq;
	/* pace: what a round trip costs against each message's time */
	double	rtt;			/* EHLO/LHLO round trip, seconds */
	double	pace_last;		/* when the last message completed */
	double	pace_cycle;		/* moving mean time per message */
	long	pace_n;			/* messages in that mean */
	int	pace_first;		/* pace_last is the start of sending */
	/* STARTTLS */
	SSL    *tls;			/* NULL: in clear */
	char	tls_info[600];
	size_t	tlen;			/* tbuf holds an SSL_write to retry */
	char	tbuf[16384];		/* one record's worth */
};

static const struct smtpc_timeouts rfc_timeouts = {
	.connect = 30 * 1000, .greeting = 300 * 1000, .helo = 300 * 1000,
	.mail = 300 * 1000, .rcpt = 300 * 1000, .data = 120 * 1000,
	.block = 180 * 1000, .dot = 600 * 1000, .quit = 30 * 1000,
};

void
smtpc_opts_default(struct smtpc_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->to = rfc_timeouts;
	o->window_msgs = 32;
	o->window_bytes = 1024 * 1024;
}

enum result
smtpc_class(const struct smtpc_reply *r)
{
	if (r->code >= 200 && r->code < 400)
		return RS_OK;
	if (r->code >= 500 && r->code < 600)
		return RS_PERM;
	return RS_TEMP;
}

unsigned
smtpc_ext(const struct smtpc *c)
{
	return c->ext;
}

uint64_t
smtpc_size_max(const struct smtpc *c)
{
	return c->size_max;
}

const char *
smtpc_relay(const struct smtpc *c)
{
	return c->relay;
}

const char *
smtpc_host(const struct smtpc *c)
{
	return c->host;
}

int
smtpc_usable(const struct smtpc *c)
{
	return !c->dead;
}

static void in_read(struct smtpc *c);

int
smtpc_check(struct smtpc *c)
{
	struct pollfd pfd;
	int n;

	if (c->dead || c->out != NULL || c->fhead < c->ftail)
		return !c->dead;
	if (c->tls != NULL && SSL_pending(c->tls) > 0) {
		in_read(c);
		return !c->dead;
	}
	pfd.fd = c->fd;
	pfd.events = POLLIN;
	pfd.revents = 0;
	do
		n = poll(&pfd, 1, 0);
	while (n == -1 && errno == EINTR);
	if (n > 0 && (pfd.revents & (POLLIN | POLLHUP | POLLERR)))
		in_read(c);
	return !c->dead;
}

/* reply_set - a local reply (code 0 unless given) with formatted text. */
static void __attribute__((format(printf, 3, 4)))
reply_set(struct smtpc_reply *r, int code, const char *fmt, ...)
{
	va_list ap;

	r->code = code;
	snprintf(r->status, sizeof(r->status), "%d.4.2",
	    code ? code / 100 : 4);
	va_start(ap, fmt);
	vsnprintf(r->text, sizeof(r->text), fmt, ap);
	va_end(ap);
}

/* ---- output queue ---- */

static struct seg *
seg_new(struct smtpc *c, enum segkind kind)
{
	struct seg *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->kind = kind;
	if (c->out_tail != NULL)
		c->out_tail->next = s;
	else
		c->out = s;
	c->out_tail = s;
	return s;
}

static void
seg_free(struct seg *s)
{
	free(s->own);
	free(s);
}

static void
out_clear(struct smtpc *c)
{
	struct seg *s;

	while ((s = c->out) != NULL) {
		c->out = s->next;
		seg_free(s);
	}
	c->out_tail = NULL;
	c->stage_len = c->stage_off = 0;
}

static void
die(struct smtpc *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* out_bytes - append our own bytes, to the last own segment if any. */
static void
out_bytes(struct smtpc *c, const char *p, size_t n)
{
	struct seg *s = c->out_tail;
	size_t cap;

	if (c->dead)
		return;
	if (s == NULL || s->kind != SEG_OWN || s->cap - s->len < n) {
		if ((s = seg_new(c, SEG_OWN)) == NULL)
			goto nomem;
		cap = n > OUT_SEG_MIN ? n : OUT_SEG_MIN;
		if ((s->own = malloc(cap)) == NULL)
			goto nomem;
		s->cap = cap;
	}
	memcpy(s->own + s->len, p, n);
	s->len += n;
	return;
nomem:
	die(c, "out of memory");
}

static void __attribute__((format(printf, 2, 3)))
out_printf(struct smtpc *c, const char *fmt, ...)
{
	char buf[2600];		/* RCPT with the longest ORCPT (RFC 3461) */
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf) - 2) {
		die(c, "command too long");
		return;
	}
	buf[n++] = '\r';
	buf[n++] = '\n';
	out_bytes(c, buf, (size_t)n);
}

static void
out_ref(struct smtpc *c, struct smtpc_msg *m, const char *p, size_t n,
    int stuff)
{
	struct seg *s;

	if (c->dead)
		return;
	if (n == 0) {		/* only the end of data follows */
		m->data_sent = 1;
		return;
	}
	if ((s = seg_new(c, stuff ? SEG_STUFF : SEG_REF)) == NULL) {
		die(c, "out of memory");
		return;
	}
	s->p = p;
	s->len = n;
	s->bol = 1;
	s->m = m;
}

/* stage_fill - dot-stuff the next part of a SEG_STUFF into the stage. */
static void
stage_fill(struct smtpc *c, struct seg *s)
{
	size_t o = 0;
	char ch;

	while (s->off < s->len && o < STAGE_SIZE - 1) {
		ch = s->p[s->off];
		if (s->bol && ch == '.')
			c->stage[o++] = '.';
		c->stage[o++] = ch;
		s->bol = ch == '\n';
		s->off++;
	}
	c->stage_len = o;
	c->stage_off = 0;
}

/* out_consume - drop n written octets from the head of the queue. */
static void
out_consume(struct smtpc *c, size_t n)
{
	struct seg *s;
	size_t k;

	while (n > 0 && (s = c->out) != NULL) {
		if (s->m != NULL)
			s->m->data_sent = 1;
		if (s->kind == SEG_STUFF) {
			k = c->stage_len - c->stage_off;
			k = n < k ? n : k;
			c->stage_off += k;
			n -= k;
			if (c->stage_off < c->stage_len || s->off < s->len)
				break;
		} else {
			k = s->len - s->off;
			k = n < k ? n : k;
			s->off += k;
			n -= k;
			if (s->off < s->len)
				break;
		}
		c->out = s->next;
		if (c->out == NULL)
			c->out_tail = NULL;
		c->stage_len = c->stage_off = 0;
		seg_free(s);
	}
}

/* tls_errtext - why the last SSL call failed, for a log line. */
static const char *
tls_errtext(char *buf, size_t len)
{
	return tls_error("TLS", buf, len);
}

/*
 * tls_out - under TLS: the head of the queue (iov, n) copied into
 * one record's buffer and SSL_written; when that would block the same
 * buffer is written again next time, as OpenSSL wants.
 */
static int
tls_out(struct smtpc *c, const struct iovec *iov, int n)
{
	char why[300];
	size_t k, done;
	int i, w, e;

	if (c->tlen == 0) {
		for (i = 0; i < n && c->tlen < sizeof(c->tbuf); i++) {
			k = iov[i].iov_len;
			if (k > sizeof(c->tbuf) - c->tlen)
				k = sizeof(c->tbuf) - c->tlen;
			memcpy(c->tbuf + c->tlen, iov[i].iov_base, k);
			c->tlen += k;
		}
		if (c->tlen == 0)
			return 0;
	}
	ERR_clear_error();
	if ((w = SSL_write(c->tls, c->tbuf, (int)c->tlen)) <= 0) {
		e = SSL_get_error(c->tls, w);
		if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ ||
		    (e == SSL_ERROR_SYSCALL && errno == EINTR))
			return 0;
		die(c, "lost connection (%s)", tls_errtext(why, sizeof(why)));
		return -1;
	}
	c->last_io = time_mono();
	done = c->tlen;
	c->tlen = 0;
	out_consume(c, done);
	return 0;
}

/* out_write - one sendmsg of as much of the queue as fits. */
static int
out_write(struct smtpc *c)
{
	struct iovec iov[IOV_MAX_USE];
	struct msghdr mh;
	struct seg *s;
	int n = 0;
	ssize_t w;

	if (c->tls != NULL && c->tlen > 0)
		return tls_out(c, NULL, 0);	/* the same again */
	for (s = c->out; s != NULL && n < IOV_MAX_USE; s = s->next) {
		if (s->kind == SEG_STUFF) {
			if (n > 0)
				break;
			if (c->stage_off == c->stage_len)
				stage_fill(c, s);
			iov[n].iov_base = c->stage + c->stage_off;
			iov[n++].iov_len = c->stage_len - c->stage_off;
			if (s->off < s->len)
				break;
			continue;	/* staged whole: the dot may follow */
		}
		iov[n].iov_base = (char *)(s->kind == SEG_OWN ? s->own : s->p) +
		    s->off;
		iov[n++].iov_len = s->len - s->off;
	}
	if (n == 0)
		return 0;
	if (c->tls != NULL)
		return tls_out(c, iov, n);
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = iov;
	mh.msg_iovlen = n;
	w = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
	if (w == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return 0;
		die(c, "lost connection (%s)", strerror(errno));
		return -1;
	}
	if (w > 0)
		c->last_io = time_mono();
	out_consume(c, (size_t)w);
	return 0;
}

/* ---- expectations ---- */

static void
expect(struct smtpc *c, enum ekind kind, struct smtpc_reply *dst,
    struct smtpc_msg *m, long timeout, const char *what)
{
	struct exp *nf;
	size_t ncap;

	if (c->dead) {
		if (dst == NULL)
			return;
		if (c->dead421.code != 0)
			*dst = c->dead421;
		else
			reply_set(dst, 0, "%s with %s before %s", c->deadwhy,
			    c->relay, what);
		return;
	}
	if (c->fhead > 0 && c->fhead == c->ftail)
		c->fhead = c->ftail = 0;
	if (c->ftail == c->fcap) {
		if (c->fhead > 0) {
			memmove(c->fifo, c->fifo + c->fhead,
			    (c->ftail - c->fhead) * sizeof(*c->fifo));
			c->ftail -= c->fhead;
			c->fhead = 0;
		} else {
			ncap = c->fcap ? c->fcap * 2 : 64;
			if ((nf = reallocarray(c->fifo, ncap,
			    sizeof(*nf))) == NULL) {
				die(c, "out of memory");
				return;
			}
			c->fifo = nf;
			c->fcap = ncap;
		}
	}
	c->fifo[c->ftail].kind = kind;
	c->fifo[c->ftail].dst = dst;
	c->fifo[c->ftail].m = m;
	c->fifo[c->ftail].timeout = timeout;
	c->fifo[c->ftail].what = what;
	c->ftail++;
	if (m != NULL)
		m->p.pending++;
	if (dst != NULL)
		reply_set(dst, 0, "no reply to %s", what);
}

static void complete(struct smtpc *c, struct smtpc_msg *m);

/* settle - a reply (real or synthesised) for the head expectation. */
static void
settle(struct smtpc *c, const struct smtpc_reply *r)
{
	struct exp e = c->fifo[c->fhead++];

	if (e.dst != NULL)
		*e.dst = *r;
	if (e.m == NULL)
		return;
	if (e.kind == E_RCPT && r->code >= 200 && r->code < 300)
		e.m->p.naccepted++;
	if (--e.m->p.pending == 0 && e.m->p.in_window)
		complete(c, e.m);
}

/* die - the connection is over: settle everything still expected. */
static void
die(struct smtpc *c, const char *fmt, ...)
{
	struct smtpc_reply r;
	va_list ap;
	const char *what;

	if (c->dead)
		return;
	c->dead = 1;
	va_start(ap, fmt);
	vsnprintf(c->deadwhy, sizeof(c->deadwhy), fmt, ap);
	va_end(ap);
	out_clear(c);
	while (c->fhead < c->ftail) {
		what = c->fifo[c->fhead].what;
		if (c->dead421.code != 0)
			r = c->dead421;
		else
			reply_set(&r, 0, "%s with %s while waiting for the "
			    "reply to %s", c->deadwhy, c->relay, what);
		settle(c, &r);
	}
}

/* ---- replies ---- */

static void
status_from(struct smtpc_reply *r, const char *t)
{
	size_t i = 0, parts = 0, digits = 1;

	if (t[0] != '2' && t[0] != '4' && t[0] != '5')
		goto derive;
	if (t[0] - '0' != r->code / 100)
		goto derive;
	for (i = 1; t[i] != '\0' && i < sizeof(r->status) - 1; i++) {
		if (t[i] == '.') {
			if (digits == 0 || ++parts > 2)
				goto derive;
			digits = 0;
		} else if (isdigit((unsigned char)t[i])) {
			if (++digits > 3)
				goto derive;
		} else
			break;
	}
	if (parts != 2 || digits == 0 || (t[i] != ' ' && t[i] != '\0'))
		goto derive;
	memcpy(r->status, t, i);
	r->status[i] = '\0';
	return;
derive:
	snprintf(r->status, sizeof(r->status), "%d.0.0", r->code / 100);
}

/* auth_cram - does the AUTH keyword's mechanism list name CRAM-MD5? */
static int
auth_cram(const char *mechs)
{
	size_t n;

	while (*mechs != '\0') {
		n = strcspn(mechs, " ");
		if (n == 8 && strncasecmp(mechs, "CRAM-MD5", 8) == 0)
			return 1;
		mechs += n;
		mechs += strspn(mechs, " ");
	}
	return 0;
}

static void
ehlo_keyword(struct smtpc *c, const char *t)
{
	char kw[32];
	size_t i;
	unsigned long long n;
	char *end;

	for (i = 0; i < sizeof(kw) - 1 && t[i] != '\0' && t[i] != ' ' &&
	    t[i] != '='; i++)
		kw[i] = (char)toupper((unsigned char)t[i]);
	kw[i] = '\0';
	if (strcmp(kw, "PIPELINING") == 0)
		c->ext_seen |= SMTPC_EXT_PIPELINING;
	else if (strcmp(kw, "8BITMIME") == 0)
		c->ext_seen |= SMTPC_EXT_8BITMIME;
	else if (strcmp(kw, "CHUNKING") == 0)
		c->ext_seen |= SMTPC_EXT_CHUNKING;
	else if (strcmp(kw, "ENHANCEDSTATUSCODES") == 0)
		c->ext_seen |= SMTPC_EXT_ENHANCED;
	else if (strcmp(kw, "ETRN") == 0)
		c->ext_seen |= SMTPC_EXT_ETRN;
	else if (strcmp(kw, "ATRN") == 0)
		c->ext_seen |= SMTPC_EXT_ATRN;
	else if (strcmp(kw, "DSN") == 0)
		c->ext_seen |= SMTPC_EXT_DSN;
	else if (strcmp(kw, "STARTTLS") == 0)
		c->ext_seen |= SMTPC_EXT_STARTTLS;
	else if (strcmp(kw, "AUTH") == 0 && auth_cram(t + i + (t[i] != '\0')))
		c->ext_seen |= SMTPC_EXT_AUTH_CRAM;
	else if (strcmp(kw, "SIZE") == 0) {
		c->ext_seen |= SMTPC_EXT_SIZE;
		if (t[i] == ' ' && isdigit((unsigned char)t[i + 1])) {
			errno = 0;
			n = strtoull(t + i + 1, &end, 10);
			if (errno == 0 && (*end == '\0' || *end == ' '))
				c->size_max = n;
		}
	}
}

/* reply_text_add - append printable text to the reply being built. */
static void
reply_text_add(struct smtpc *c, const char *p, size_t n)
{
	size_t i;
	unsigned char ch;

	for (i = 0; i < n && c->rtextlen < sizeof(c->rtext) - 1; i++) {
		ch = (unsigned char)p[i];
		if (ch == '\t')
			ch = ' ';
		else if (ch < 0x20 || ch >= 0x7f)
			ch = '?';
		c->rtext[c->rtextlen++] = (char)ch;
	}
	c->rtext[c->rtextlen] = '\0';
}

/* reply_line - one line without its line end; 0 ok, -1 protocol error. */
static int
reply_line(struct smtpc *c, const char *line, size_t n)
{
	struct smtpc_reply r;
	int code, more;

	if (n < 3 || line[0] < '2' || line[0] > '5' ||
	    !isdigit((unsigned char)line[1]) ||
	    !isdigit((unsigned char)line[2]) ||
	    (n > 3 && line[3] != ' ' && line[3] != '-'))
		return -1;
	code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	more = n > 3 && line[3] == '-';
	if (c->rlines == 0) {
		c->rcode = code;
		c->rtextlen = 0;
		reply_text_add(c, line, 3);
	} else if (code != c->rcode)
		return -1;
	if (++c->rlines > SMTPC_LINES_MAX)
		return -1;
	if (n > 4) {
		reply_text_add(c, " ", 1);
		reply_text_add(c, line + 4, n - 4);
	}
	if (c->rlines > 1 && n > 4 && c->fhead < c->ftail &&
	    c->fifo[c->fhead].kind == E_HELO) {
		char kw[SMTPC_LINE_MAX];

		memcpy(kw, line + 4, n - 4);
		kw[n - 4] = '\0';
		ehlo_keyword(c, kw);
	}
	if (more)
		return 0;
	c->rlines = 0;
	r.code = code;
	strlcpy_(r.text, c->rtext, sizeof(r.text));
	status_from(&r, n > 4 ? line + 4 : "");
	if (c->fhead == c->ftail) {
		if (code == 421) {
			c->dead421 = r;
			die(c, "server closing");
			return 0;
		}
		return -1;
	}
	if (code == 421) {
		c->dead421 = r;
		settle(c, &r);
		die(c, "server closing");
		return 0;
	}
	settle(c, &r);
	return 0;
}

/* in_parse - take every complete line out of the input buffer. */
static void
in_parse(struct smtpc *c)
{
	char *nl;
	size_t n, used = 0;

	while (!c->dead && (nl = memchr(c->in + used, '\n',
	    c->inlen - used)) != NULL) {
		n = (size_t)(nl - (c->in + used));
		if (n + 1 > SMTPC_LINE_MAX) {
			die(c, "reply line too long");
			return;
		}
		if (n > 0 && c->in[used + n - 1] == '\r')
			n--;
		if (reply_line(c, c->in + used, n) == -1) {
			die(c, "protocol error");
			return;
		}
		used = (size_t)(nl - c->in) + 1;
	}
	if (c->dead)
		return;
	memmove(c->in, c->in + used, c->inlen - used);
	c->inlen -= used;
	if (c->inlen >= SMTPC_LINE_MAX)
		die(c, "reply line too long");
}

/*
 * quickack - ACK what came at once.  A server's replies to one message
 * can come in two pieces (Postfix's MAIL and RCPT replies while it
 * waits for the BDAT data, the last after it): with Nagle on at the
 * server the last waits for the ACK of the first, which Linux delays
 * by up to 40 ms when we have nothing to send.  Not sticky: set again
 * after every read.  Unix sockets and other systems go without.
 */
static void
quickack(const struct smtpc *c)
{
#ifdef TCP_QUICKACK
	int on = 1;

	(void)setsockopt(c->fd, IPPROTO_TCP, TCP_QUICKACK, &on, sizeof(on));
#else
	(void)c;
#endif
}

/* tls_in - in_read under TLS; the octets read, 0 for none yet, -1 dead. */
static ssize_t
tls_in(struct smtpc *c)
{
	char why[300];
	int n;

	if ((n = tls_read_some(c->tls, c->in + c->inlen,
	    sizeof(c->in) - c->inlen, why, sizeof(why))) > 0)
		return n;
	if (n == TLS_AGAIN)
		return 0;
	if (n == 0)
		die(c, "lost connection");
	else
		die(c, "lost connection (%s)", why);
	return -1;
}

static void
in_read(struct smtpc *c)
{
	ssize_t n;

	if (c->inlen == sizeof(c->in))
		return;			/* in_parse ends an overlong line */
	if (c->tls != NULL) {
		if ((n = tls_in(c)) <= 0)
			return;
		c->last_io = time_mono();
		c->inlen += (size_t)n;
		in_parse(c);
		return;
	}
	n = read(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen);
	if (n > 0)
		quickack(c);
	if (n == -1) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			die(c, "lost connection (%s)", strerror(errno));
		return;
	}
	if (n == 0) {
		die(c, "lost connection");
		return;
	}
	c->last_io = time_mono();
	c->inlen += (size_t)n;
	in_parse(c);
}

/* ---- the loop ---- */

static int
busy(const struct smtpc *c)
{
	return !c->dead && (c->out != NULL || c->fhead < c->ftail);
}

/* io_step - one poll round: write what we can, read what came. */
static void
io_step(struct smtpc *c)
{
	struct pollfd pfd;
	long limit;
	double left;
	int n;

	if (c->tls != NULL && SSL_pending(c->tls) > 0) {
		in_read(c);		/* decrypted already: poll would not see it */
		return;
	}
	limit = c->fhead < c->ftail ? c->fifo[c->fhead].timeout : c->o.to.block;
	left = c->last_io + limit / 1000.0 - time_mono();
	if (left <= 0) {
		die(c, "timeout");
		return;
	}
	pfd.fd = c->fd;
	pfd.events = POLLIN | (c->out != NULL ? POLLOUT : 0);
	pfd.revents = 0;
	n = poll(&pfd, 1, (int)(left * 1000) + 1);
	if (n == -1) {
		if (errno != EINTR)
			die(c, "poll: %s", strerror(errno));
		return;
	}
	if (n == 0)
		return;
	if (pfd.revents & POLLOUT)
		out_write(c);
	if (!c->dead && (pfd.revents & (POLLIN | POLLHUP | POLLERR)))
		in_read(c);
}

static void
drain(struct smtpc *c)
{
	while (busy(c))
		io_step(c);
}

/* ---- connecting ---- */

static struct smtpc *
smtpc_new(int fd, const struct smtpc_opts *o)
{
	struct smtpc *c;
	int on = 1;

	/* Replies and commands are gathered into single writes here, so
	 * Nagle only delays the last piece of a message (its final dot)
	 * until the server's delayed ACK: 40 ms a message.  Unix sockets
	 * refuse the option; that is fine. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	if ((c->stage = malloc(STAGE_SIZE)) == NULL) {
		free(c);
		return NULL;
	}
	c->fd = fd;
	if (o != NULL)
		c->o = *o;
	else
		smtpc_opts_default(&c->o);
	c->last_io = time_mono();
	return c;
}

struct smtpc *
smtpc_fdopen(int fd, const char *relay, const struct smtpc_opts *o)
{
	struct smtpc *c;
	int fl;

	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) == -1)
		return NULL;
	if ((c = smtpc_new(fd, o)) == NULL)
		return NULL;
	strlcpy_(c->relay, relay, sizeof(c->relay));
	strlcpy_(c->host, relay, sizeof(c->host));
	return c;
}

/* split_where - "host", "host:port", "[v6]:port", "[v6]", "v6". */
static int
split_where(const char *where, int default_port, char *host, size_t hlen,
    char *port, size_t plen)
{
	const char *p, *colon;
	char *end;
	long n;

	if (where[0] == '[') {
		if ((p = strchr(where, ']')) == NULL ||
		    (size_t)(p - where - 1) >= hlen)
			return -1;
		memcpy(host, where + 1, (size_t)(p - where - 1));
		host[p - where - 1] = '\0';
		colon = p[1] == ':' ? p + 1 : NULL;
		if (p[1] != '\0' && colon == NULL)
			return -1;
	} else {
		colon = strchr(where, ':');
		if (colon != NULL && strchr(colon + 1, ':') != NULL)
			colon = NULL;		/* a bare IPv6 address */
		n = colon ? colon - where : (long)strlen(where);
		if (n == 0 || (size_t)n >= hlen)
			return -1;
		memcpy(host, where, (size_t)n);
		host[n] = '\0';
	}
	if (colon == NULL) {
		snprintf(port, plen, "%d", default_port);
		return 0;
	}
	errno = 0;
	n = strtol(colon + 1, &end, 10);
	if (errno != 0 || end == colon + 1 || *end != '\0' || n < 1 ||
	    n > 65535)
		return -1;
	snprintf(port, plen, "%ld", n);
	return 0;
}

/* connect_one - non-blocking connect with a time limit. */
static int
connect_one(const struct addrinfo *ai, long timeout_ms, int *err)
{
	struct pollfd pfd;
	socklen_t sl = sizeof(*err);
	int fd, n;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, ai->ai_protocol);
	if (fd == -1) {
		*err = errno;
		return -1;
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return fd;
	if (errno != EINPROGRESS) {
		*err = errno;
		close(fd);
		return -1;
	}
	pfd.fd = fd;
	pfd.events = POLLOUT;
	do
		n = poll(&pfd, 1, (int)timeout_ms);
	while (n == -1 && errno == EINTR);
	if (n == 0) {
		*err = ETIMEDOUT;
		close(fd);
		return -1;
	}
	if (n == -1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, err, &sl) == -1 ||
	    *err != 0) {
		if (n == -1)
			*err = errno;
		close(fd);
		return -1;
	}
	return fd;
}

static enum result
connect_unix(const char *path, const struct smtpc_opts *o, struct smtpc **cp,
    struct smtpc_reply *why)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy_(sun.sun_path, path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path)) {
		reply_set(why, 0, "socket path too long: %s", path);
		return RS_PERM;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		reply_set(why, 0, "connect to %s: %s", path, strerror(errno));
		if (fd != -1)
			close(fd);
		return RS_TEMP;
	}
	if ((*cp = smtpc_fdopen(fd, path, o)) == NULL) {
		reply_set(why, 0, "out of memory");
		close(fd);
		return RS_TEMP;
	}
	return RS_OK;
}

enum result
smtpc_connect(const char *where, int default_port, const struct smtpc_opts *o,
    struct smtpc **cp, struct smtpc_reply *why)
{
	struct addrinfo hints, *res, *ai;
	char host[256], port[8], addr[INET6_ADDRSTRLEN];
	struct smtpc_opts def;
	int fd = -1, err = 0, gai;

	*cp = NULL;
	if (o == NULL) {
		smtpc_opts_default(&def);
		o = &def;
	}
	if (strncmp(where, "unix:", 5) == 0)
		return connect_unix(where + 5, o, cp, why);
	if (split_where(where, default_port, host, sizeof(host), port,
	    sizeof(port)) == -1) {
		reply_set(why, 0, "bad address: %s", where);
		return RS_PERM;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((gai = getaddrinfo(host, port, &hints, &res)) != 0) {
		reply_set(why, 0, "%s: %s", host, gai_strerror(gai));
		return gai == EAI_NONAME ? RS_PERM : RS_TEMP;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (getnameinfo(ai->ai_addr, ai->ai_addrlen, addr,
		    sizeof(addr), NULL, 0, NI_NUMERICHOST) != 0)
			strlcpy_(addr, "?", sizeof(addr));
		if ((fd = connect_one(ai, o->to.connect, &err)) != -1)
			break;
		reply_set(why, 0, "connect to %s[%s]:%s: %s", host, addr, port,
		    strerror(err));
	}
	freeaddrinfo(res);
	if (fd == -1)
		return RS_TEMP;
	if ((*cp = smtpc_new(fd, o)) == NULL) {
		close(fd);
		reply_set(why, 0, "out of memory");
		return RS_TEMP;
	}
	snprintf((*cp)->relay, sizeof((*cp)->relay), "%s[%s]:%s", host, addr,
	    port);
	strlcpy_((*cp)->host, host, sizeof((*cp)->host));
	return RS_OK;
}

/* ---- conversation ---- */

enum result
smtpc_greeting(struct smtpc *c, struct smtpc_reply *r)
{
	expect(c, E_GREETING, r, NULL, c->o.to.greeting, "the greeting");
	drain(c);
	if (r->code == 220)
		return RS_OK;
	return r->code >= 500 ? RS_PERM : RS_TEMP;
}

enum result
smtpc_hello(struct smtpc *c, const char *name, struct smtpc_reply *r)
{
	double t0;

	c->ext_seen = 0;
	c->size_max = 0;
	t0 = time_mono();
	out_printf(c, "%s %s", c->o.lmtp ? "LHLO" : "EHLO", name);
	expect(c, E_HELO, r, NULL, c->o.to.helo, c->o.lmtp ? "LHLO" : "EHLO");
	drain(c);
	if (r->code >= 200 && r->code < 300) {
		c->rtt = time_mono() - t0;
		c->ext = (c->ext_seen | SMTPC_EXT_ESMTP) & ~c->o.disable;
		if (c->o.lmtp)	/* RFC 2033: both are mandatory */
			c->ext |= (SMTPC_EXT_PIPELINING | SMTPC_EXT_ENHANCED) &
			    ~c->o.disable;
		return RS_OK;
	}
	if (c->o.lmtp || r->code < 500)
		return smtpc_class(r);
	c->ext = 0;
	out_printf(c, "HELO %s", name);
	expect(c, E_CMD, r, NULL, c->o.to.helo, "HELO");
	drain(c);
	return r->code >= 200 && r->code < 300 ? RS_OK : smtpc_class(r);
}

/* tls_describe - c->tls_info for the log, once the handshake is done. */
static void
tls_describe(struct smtpc *c, int verify)
{
	const SSL_CIPHER *ci = SSL_get_current_cipher(c->tls);
	X509 *peer = SSL_get1_peer_certificate(c->tls);
	char subj[200] = "none", iss[200] = "none";
	int alg = 0, bits;

	if (peer != NULL) {
		X509_NAME_oneline(X509_get_subject_name(peer), subj,
		    sizeof(subj));
		X509_NAME_oneline(X509_get_issuer_name(peer), iss,
		    sizeof(iss));
		X509_free(peer);
	}
	bits = ci != NULL ? SSL_CIPHER_get_bits(ci, &alg) : 0;
	snprintf(c->tls_info, sizeof(c->tls_info), "%s with cipher %s "
	    "(%d/%d bits), %s, subject %s, issuer %s",
	    SSL_get_version(c->tls), ci != NULL ? SSL_CIPHER_get_name(ci) :
	    "?", bits, alg, verify ? "verified" :
	    SSL_get_verify_result(c->tls) == X509_V_OK ? "trusted, not "
	    "verified" : "unverified", subj, iss);
}

enum result
smtpc_starttls(struct smtpc *c, void *ctx, const char *name, int verify,
    struct smtpc_reply *r)
{
	struct pollfd pfd;
	char why[300];
	double end;
	long v;
	int n, e;

	out_printf(c, "STARTTLS");
	expect(c, E_CMD, r, NULL, c->o.to.helo, "STARTTLS");
	drain(c);
	if (r->code != 220)
		return r->code == 0 ? RS_TEMP : smtpc_class(r) == RS_OK ?
		    RS_TEMP : smtpc_class(r);
	if (c->inlen > 0 || (ioctl(c->fd, FIONREAD, &n) == 0 && n > 0)) {
		/* what came after the 220 would be taken as under TLS; a
		 * server sends nothing before our ClientHello */
		die(c, "%s sent data after its 220 to STARTTLS", c->relay);
		reply_set(r, 0, "%s sent data after its 220 to STARTTLS",
		    c->relay);
		return RS_TEMP;
	}
	ERR_clear_error();
	if ((c->tls = SSL_new(ctx)) == NULL || SSL_set_fd(c->tls, c->fd) != 1)
		goto failed;
	if (name != NULL && !addr_is_numeric(name))
		(void)SSL_set_tlsext_host_name(c->tls, name);
	if (verify) {
		SSL_set_verify(c->tls, SSL_VERIFY_PEER, NULL);
		X509_VERIFY_PARAM_set_hostflags(SSL_get0_param(c->tls),
		    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		if (name == NULL || (addr_is_numeric(name) ?
		    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->tls),
		    name) : X509_VERIFY_PARAM_set1_host(SSL_get0_param(c->tls),
		    name, 0)) != 1)
			goto failed;
	}
	end = time_mono() + c->o.to.helo / 1000.0;
	for (;;) {
		ERR_clear_error();
		if ((n = SSL_connect(c->tls)) == 1)
			break;
		e = SSL_get_error(c->tls, n);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
			goto failed;
		pfd.fd = c->fd;
		pfd.events = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
		pfd.revents = 0;
		if (time_mono() >= end ||
		    (n = poll(&pfd, 1, (int)((end - time_mono()) * 1000) + 1))
		    == 0) {
			reply_set(r, 0, "TLS handshake with %s: timeout",
			    c->relay);
			die(c, "timeout");
			return RS_TEMP;
		}
		if (n == -1 && errno != EINTR)
			goto failed;
	}
	c->last_io = time_mono();
	c->ext = c->ext_seen = 0;	/* RFC 3207 4.2: EHLO again */
	c->size_max = 0;
	tls_describe(c, verify);
	return RS_OK;
failed:
	if (c->tls != NULL && (v = SSL_get_verify_result(c->tls)) !=
	    X509_V_OK && verify)
		snprintf(why, sizeof(why), "certificate not verified: %s",
		    X509_verify_cert_error_string(v));
	else
		tls_errtext(why, sizeof(why));
	ERR_clear_error();
	reply_set(r, 0, "TLS handshake with %s failed: %s", c->relay, why);
	die(c, "TLS handshake failed");
	return RS_TEMP;
}

const char *
smtpc_tls_info(const struct smtpc *c)
{
	return c->tls != NULL ? c->tls_info : "";
}

enum result
smtpc_cmd(struct smtpc *c, long timeout_ms, struct smtpc_reply *r,
    const char *fmt, ...)
{
	char line[1100];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) || strpbrk(line, "\r\n")) {
		reply_set(r, 0, "bad command line");
		return RS_PERM;
	}
	if (c->dead) {
		reply_set(r, 0, "%s with %s", c->deadwhy, c->relay);
		return RS_TEMP;
	}
	out_printf(c, "%s", line);
	expect(c, E_CMD, r, NULL, timeout_ms, "command");
	drain(c);
	return smtpc_class(r);
}

/* ---- messages ---- */

/* path_ok - no control characters that could end or split a command. */
static int
path_ok(const char *a)
{
	const unsigned char *p;

	if (strlen(a) > 256)
		return 0;
	for (p = (const unsigned char *)a; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			return 0;
	return 1;
}

static void
msg_begin(struct smtpc_msg *m, int in_window)
{
	int i;

	memset(&m->p, 0, sizeof(m->p));
	m->data_sent = 0;
	m->p.in_window = in_window;
	reply_set(&m->p.mail, 0, "not sent");
	reply_set(&m->p.data, 0, "not sent");
	reply_set(&m->p.final, 0, "not sent");
	for (i = 0; i < m->nrcpts; i++)
		reply_set(&m->result[i], 0, "not sent");
}

/*
 * dsn_param - a message's DSN parameters when the server offers DSN
 * and they are one line's worth of printable text; else "".
 */
static const char *
dsn_param(const struct smtpc *c, const char *p)
{
	const unsigned char *q;

	if (p == NULL || !(c->ext & SMTPC_EXT_DSN) || strlen(p) > 2048)
		return "";
	for (q = (const unsigned char *)p; *q != '\0'; q++)
		if (*q < 0x20 || *q > 0x7e)
			return "";
	return p;
}

static void
send_mail(struct smtpc *c, struct smtpc_msg *m)
{
	char size[40] = "";

	if (c->ext & SMTPC_EXT_SIZE)
		snprintf(size, sizeof(size), " SIZE=%zu", m->len);
	out_printf(c, "MAIL FROM:<%s>%s%s%s", m->sender, size,
	    m->body_8bit && (c->ext & SMTPC_EXT_8BITMIME) ?
	    " BODY=8BITMIME" : "", dsn_param(c, m->dsn_mail));
	expect(c, E_MAIL, &m->p.mail, m, c->o.to.mail, "MAIL FROM");
}

static void
send_rcpt(struct smtpc *c, struct smtpc_msg *m, int i)
{
	if (!path_ok(m->rcpts[i])) {
		reply_set(&m->result[i], 501, "501 5.1.3 bad recipient "
		    "address syntax (not sent)");
		strlcpy_(m->result[i].status, "5.1.3",
		    sizeof(m->result[i].status));
		return;
	}
	out_printf(c, "RCPT TO:<%s>%s", m->rcpts[i],
	    dsn_param(c, m->dsn_rcpt != NULL ? m->dsn_rcpt[i] : NULL));
	expect(c, E_RCPT, &m->result[i], m, c->o.to.rcpt, "RCPT TO");
}

static void
send_rset(struct smtpc *c)
{
	if (c->need_rset) {
		out_printf(c, "RSET");
		expect(c, E_RSET, NULL, NULL, c->o.to.mail, "RSET");
		c->need_rset = 0;
	}
}

/* results - each recipient's outcome from the replies gathered. */
static void
results(struct smtpc *c, struct smtpc_msg *m)
{
	int i, ok_data = m->p.data.code == 354;
	struct smtpc_reply *r;

	for (i = 0; i < m->nrcpts; i++) {
		r = &m->result[i];
		if (m->p.mail.code < 200 || m->p.mail.code >= 300) {
			*r = m->p.mail;
			continue;
		}
		if (r->code < 200 || r->code >= 300)
			continue;
		if (m->p.in_window)
			*r = m->p.final;
		else if (!ok_data)
			*r = m->p.data;
		else if (!c->o.lmtp)
			*r = m->p.final;
	}
}

/* complete - a windowed (BDAT) message has all its replies. */
static void
complete(struct smtpc *c, struct smtpc_msg *m)
{
	struct seg *s;
	int mail_ok = m->p.mail.code >= 200 && m->p.mail.code < 300;
	int early = 0;

	for (s = c->out; s != NULL; s = s->next)
		if (s->m == m) {
			/* a final reply before all the data: give up */
			out_clear(c);
			early = 1;
			break;
		}
	c->inflight--;
	c->inflight_bytes -= m->len;
	if (m == c->last_enq && (!mail_ok || (m->p.final.code >= 200 &&
	    m->p.final.code < 300)))
		c->need_rset = 0;
	if (m == c->last_enq)
		c->last_enq = NULL;
	results(c, m);
	c->feed->done(c->feed->arg, m);
	if (early)
		die(c, "premature reply");
}

static void
send_bdat(struct smtpc *c, struct smtpc_msg *m)
{
	int i;

	msg_begin(m, 1);
	c->inflight++;
	c->inflight_bytes += m->len;
	if (c->last_enq != NULL)
		c->need_rset = 1;	/* its outcome is not known yet */
	send_rset(c);
	m->p.pending++;			/* hold completion until queued */
	send_mail(c, m);
	for (i = 0; i < m->nrcpts; i++)
		send_rcpt(c, m, i);
	out_printf(c, "BDAT %zu LAST", m->len);
	expect(c, E_FINAL, &m->p.final, m, c->o.to.dot, "end of data");
	out_ref(c, m, m->data, m->len, 0);
	c->last_enq = m;
	c->need_rset = 1;
	if (--m->p.pending == 0)
		complete(c, m);
}

static enum result
send_window(struct smtpc *c)
{
	struct smtpc_msg *m;

	for (;;) {
		while (!c->dead && c->inflight < c->o.window_msgs &&
		    (c->inflight == 0 ||
		    c->inflight_bytes < c->o.window_bytes) &&
		    (m = c->feed->next(c->feed->arg)) != NULL)
			send_bdat(c, m);
		if (c->inflight == 0 || c->dead)
			break;
		io_step(c);
	}
	return c->dead ? RS_TEMP : RS_OK;
}

/*
 * pace_mark - a message is complete in a mode that costs at least one
 * round trip a message: fold the time since the last one into the
 * moving mean (weight 1/4, so it follows a link that fills up).  The
 * first message also paid the round trip of its 354 and has no
 * predecessor: its time counts from the start of smtpc_send, less one
 * round trip.
 */
static void
pace_mark(struct smtpc *c)
{
	double now = time_mono(), dt;

	if (c->dead)
		return;
	if (c->pace_last > 0) {
		dt = now - c->pace_last;
		if (c->pace_n == 0 && c->pace_first) {
			dt -= c->rtt;
			c->pace_first = 0;
		}
		c->pace_cycle = c->pace_n == 0 ? dt :
		    0.75 * c->pace_cycle + 0.25 * dt;
		c->pace_n++;
	}
	c->pace_last = now;
}

long
smtpc_pace(const struct smtpc *c, double *rtt, double *cycle)
{
	*rtt = c->rtt;
	*cycle = c->pace_cycle;
	return c->pace_n;
}

/* send_one - MAIL/RCPT/DATA as one group (or step by step), then data. */
static void
send_one(struct smtpc *c, struct smtpc_msg *m)
{
	int i, pipe = (c->ext & SMTPC_EXT_PIPELINING) != 0;
	struct smtpc_reply discard;

	msg_begin(m, 0);
	send_rset(c);
	send_mail(c, m);
	if (!pipe) {
		drain(c);
		if (m->p.mail.code < 200 || m->p.mail.code >= 300)
			goto out;
	}
	for (i = 0; i < m->nrcpts; i++) {
		send_rcpt(c, m, i);
		if (!pipe)
			drain(c);
	}
	if (!pipe && (m->p.naccepted == 0 ||
	    (c->o.all_rcpts && m->p.naccepted < m->nrcpts))) {
		c->need_rset = 1;
		goto out;
	}
	out_printf(c, "DATA");
	expect(c, E_DATA, &m->p.data, m, c->o.to.data, "DATA");
	drain(c);
	if (m->p.data.code == 354 && m->p.naccepted == 0) {
		out_printf(c, ".");
		expect(c, E_RSET, &discard, NULL, c->o.to.dot, "end of data");
		drain(c);
	} else if (m->p.data.code == 354) {
		out_ref(c, m, m->data, m->len, 1);
		if (m->len > 0 && (m->len < 2 ||
		    memcmp(m->data + m->len - 2, "\r\n", 2) != 0))
			out_bytes(c, "\r\n", 2);
		out_bytes(c, ".\r\n", 3);
		if (c->o.lmtp) {
			for (i = 0; i < m->nrcpts; i++)
				if (m->result[i].code >= 200 &&
				    m->result[i].code < 300)
					expect(c, E_LMTP, &m->result[i], m,
					    c->o.to.dot, "end of data");
		} else
			expect(c, E_FINAL, &m->p.final, m, c->o.to.dot,
			    "end of data");
		drain(c);
	} else if (m->p.mail.code >= 200 && m->p.mail.code < 300)
		c->need_rset = 1;
out:
	results(c, m);
	pace_mark(c);
	c->feed->done(c->feed->arg, m);
}

/* ---- DATA with PIPELINING: the next group rides behind the dot ---- */

/* send_group - RSET if due, MAIL, RCPT..., DATA, all without waiting. */
static void
send_group(struct smtpc *c, struct smtpc_msg *m)
{
	int i;

	msg_begin(m, 0);
	send_rset(c);
	send_mail(c, m);
	for (i = 0; i < m->nrcpts; i++)
		send_rcpt(c, m, i);
	out_printf(c, "DATA");
	expect(c, E_DATA, &m->p.data, m, c->o.to.data, "DATA");
}

/* send_content - after the 354: the stuffed data and the dot. */
static void
send_content(struct smtpc *c, struct smtpc_msg *m)
{
	if (m->p.naccepted == 0) {	/* 354 with no recipient: end it */
		out_printf(c, ".");
		expect(c, E_RSET, NULL, NULL, c->o.to.dot, "end of data");
		return;
	}
	out_ref(c, m, m->data, m->len, 1);
	if (m->len > 0 && (m->len < 2 ||
	    memcmp(m->data + m->len - 2, "\r\n", 2) != 0))
		out_bytes(c, "\r\n", 2);
	out_bytes(c, ".\r\n", 3);
	expect(c, E_FINAL, &m->p.final, m, c->o.to.dot, "end of data");
}

/* out_refers - the output queue still points into m's data. */
static int
out_refers(const struct smtpc *c, const struct smtpc_msg *m)
{
	const struct seg *s;

	for (s = c->out; s != NULL; s = s->next)
		if (s->m == m)
			return 1;
	return 0;
}

/* wait_msg - until m has its replies so far and its data is written. */
static void
wait_msg(struct smtpc *c, struct smtpc_msg *m)
{
	while (!c->dead && (m->p.pending > 0 || out_refers(c, m)))
		io_step(c);
}

/*
 * send_pipelined - one round trip per message: message k's data and
 * dot go out with k+1's MAIL/RCPT/DATA behind them (RFC 2920), and the
 * replies come back in that order: k's final reply, then k+1's group
 * replies, the 354 last.  A DATA refused after an accepted MAIL leaves
 * a transaction open: RSET goes before the next MAIL.  When the
 * connection fails, k (dot sent, reply unread) and k+1 get a temporary
 * result; k may then have been delivered and will be sent again.
 */
static enum result
send_pipelined(struct smtpc *c)
{
	struct smtpc_msg *m, *next;

	if ((m = c->feed->next(c->feed->arg)) != NULL)
		send_group(c, m);
	while (m != NULL) {
		wait_msg(c, m);
		next = NULL;
		if (m->p.data.code == 354 && !c->dead) {
			send_content(c, m);
			if ((next = c->feed->next(c->feed->arg)) != NULL)
				send_group(c, next);
			wait_msg(c, m);
		} else if (m->p.mail.code >= 200 && m->p.mail.code < 300)
			c->need_rset = 1;
		results(c, m);
		pace_mark(c);
		c->feed->done(c->feed->arg, m);
		if (next == NULL && !c->dead &&
		    (next = c->feed->next(c->feed->arg)) != NULL)
			send_group(c, next);
		m = next;
	}
	drain(c);
	return c->dead ? RS_TEMP : RS_OK;
}

enum result
smtpc_send(struct smtpc *c, const struct smtpc_feed *feed)
{
	struct smtpc_msg *m;
	enum result rv = RS_OK;

	c->feed = feed;
	if (c->pace_last == 0) {
		c->pace_last = time_mono();
		c->pace_first = 1;
	}
	if (!c->o.lmtp && (c->ext & SMTPC_EXT_CHUNKING) &&
	    (c->ext & SMTPC_EXT_PIPELINING))
		rv = send_window(c);
	else if (!c->o.lmtp && (c->ext & SMTPC_EXT_PIPELINING))
		rv = send_pipelined(c);
	else
		while (!c->dead && (m = feed->next(feed->arg)) != NULL)
			send_one(c, m);
	c->feed = NULL;
	return c->dead ? RS_TEMP : rv;
}

void
smtpc_quit(struct smtpc *c)
{
	if (c == NULL)
		return;
	if (!c->dead) {
		out_printf(c, "QUIT");
		expect(c, E_CMD, NULL, NULL, c->o.to.quit, "QUIT");
		drain(c);
	}
	smtpc_close(c);
}

int
smtpc_release(struct smtpc *c)
{
	return smtpc_release_tls(c, NULL);
}

int
smtpc_release_tls(struct smtpc *c, void **tls)
{
	int fd = -1;

	if (tls != NULL)
		*tls = NULL;
	if (c == NULL)
		return -1;
	if (!c->dead && c->out == NULL && c->fhead == c->ftail &&
	    c->inlen == 0 && (c->tls == NULL || (tls != NULL &&
	    SSL_pending(c->tls) == 0))) {
		fd = c->fd;
		c->fd = -1;
		if (tls != NULL) {
			*tls = c->tls;	/* the caller's now */
			c->tls = NULL;
		}
	}
	smtpc_close(c);
	return fd;
}

void
smtpc_close(struct smtpc *c)
{
	if (c == NULL)
		return;
	out_clear(c);
	if (c->tls != NULL) {
		if (!c->dead)
			(void)SSL_shutdown(c->tls);	/* one try: no wait */
		SSL_free(c->tls);
		ERR_clear_error();
	}
	if (c->fd != -1)
		close(c->fd);
	free(c->fifo);
	free(c->stage);
	free(c);
}
