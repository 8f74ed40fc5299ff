/*
 * smtp_io.c - the session's I/O: a bounded line reader over its own
 * buffer and a reply buffer written out only when the reader would
 * block (RFC 2920: replies to a pipelined group leave together).
 *
 * Invariants: no line is ever longer than the max its caller gives;
 * every wait is bounded by the timeout and ends early when *stop is
 * set; descriptors may be non-blocking (sockets) or blocking (pipes).
 */
#include <sys/ioctl.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "tls.h"
#include "util.h"
#include "smtpd.h"

void
sio_init(struct sio *io, int rfd, int wfd, long timeout)
{
	io->rfd = rfd;
	io->wfd = wfd;
	io->timeout = timeout;
	io->stop = NULL;
	io->waitmask = NULL;
	io->ioff = io->ilen = io->olen = 0;
	io->werr = 0;
	io->tls = NULL;
	io->deadline = 0;
}

void
sio_deadline(struct sio *io, double at)
{
	io->deadline = at;
}

/*
 * sio_wait - poll fd for events until the timeout; SIO_LINE when ready.
 * Only a wait for input ends early on *stop: a reply is never cut short.
 */
static int
sio_wait(struct sio *io, int fd, short events)
{
	struct pollfd pfd;
	struct timespec ts, *tsp;
	double deadline = time_mono() + (double)io->timeout, left;
	int n;

	/* input: the per-wait timeout, or the caller's deadline if sooner */
	if (events == POLLIN && io->deadline > 0 &&
	    (io->timeout <= 0 || io->deadline < deadline))
		deadline = io->deadline;
	for (;;) {
		if (events == POLLIN && io->stop != NULL && *io->stop)
			return SIO_STOP;
		tsp = NULL;
		if (io->timeout > 0 || (events == POLLIN && io->deadline > 0)) {
			left = deadline - time_mono();
			if (left <= 0)
				return SIO_TIMEOUT;
			ts.tv_sec = (time_t)left;
			ts.tv_nsec = (long)((left - (double)ts.tv_sec) * 1e9);
			tsp = &ts;
		}
		pfd.fd = fd;
		pfd.events = events;
		pfd.revents = 0;
		n = ppoll(&pfd, 1, tsp, io->waitmask);
		if (n > 0)
			return SIO_LINE;
		if (n == 0)
			return SIO_TIMEOUT;
		if (errno != EINTR)
			return SIO_ERROR;
	}
}

/*
 * tls_want - what an SSL call that did not finish (rv, and err, its
 * SSL_get_error taken at once: another SSL call changes it) waits for:
 * SIO_LINE once it may go on, or the status that ends it (SIO_EOF at
 * the peer's close_notify).
 */
static int
tls_want(struct sio *io, int rv, int err)
{
	switch (err) {
	case SSL_ERROR_WANT_READ:
		return sio_wait(io, io->rfd, POLLIN);
	case SSL_ERROR_WANT_WRITE:
		return sio_wait(io, io->wfd, POLLOUT);
	case SSL_ERROR_ZERO_RETURN:
		return SIO_EOF;
	case SSL_ERROR_SYSCALL:
		if (errno == EINTR)
			return io->stop != NULL && *io->stop ? SIO_STOP :
			    SIO_LINE;
		ERR_clear_error();
		return rv == 0 ? SIO_EOF : SIO_ERROR;
	}
	ERR_clear_error();
	return SIO_ERROR;
}

/* tls_fill - sio_fill under TLS. */
static int
tls_fill(struct sio *io)
{
	int n, e, st;

	for (;;) {
		ERR_clear_error();
		n = SSL_read(io->tls, io->ibuf + io->ioff + io->ilen,
		    (int)(SIO_IBUF - io->ioff - io->ilen));
		if (n > 0) {
			io->ilen += (size_t)n;
			return SIO_LINE;
		}
		e = SSL_get_error(io->tls, n);
		/* the replies leave before a wait for the next command */
		if (e == SSL_ERROR_WANT_READ && sio_flush(io) == -1)
			return SIO_ERROR;
		if ((st = tls_want(io, n, e)) != SIO_LINE)
			return st;
	}
}

/* sio_fill - read more input into the buffer; SIO_LINE when some came. */
static int
sio_fill(struct sio *io)
{
	ssize_t n;
	int st;

	if (io->ilen == 0)
		io->ioff = 0;
	if (io->tls != NULL)
		return tls_fill(io);
	for (;;) {
		n = read(io->rfd, io->ibuf + io->ioff + io->ilen,
		    SIO_IBUF - io->ioff - io->ilen);
		if (n > 0) {
			io->ilen += (size_t)n;
			return SIO_LINE;
		}
		if (n == 0)
			return SIO_EOF;
		if (errno == EINTR) {
			if (io->stop != NULL && *io->stop)
				return SIO_STOP;
			continue;
		}
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return SIO_ERROR;
		if (sio_flush(io) == -1)
			return SIO_ERROR;
		if ((st = sio_wait(io, io->rfd, POLLIN)) != SIO_LINE)
			return st;
	}
}

int
sio_getline(struct sio *io, size_t max, const char **p, size_t *len)
{
	char *start, *nl;
	size_t n;
	int st;

	if (max > SIO_IBUF)
		max = SIO_IBUF;
	for (;;) {
		start = io->ibuf + io->ioff;
		n = io->ilen < max ? io->ilen : max;
		if (n > 0 && (nl = memchr(start, '\n', n)) != NULL) {
			*p = start;
			*len = (size_t)(nl - start) + 1;
			io->ioff += *len;
			io->ilen -= *len;
			return SIO_LINE;
		}
		if (io->ilen >= max) {
			*p = start;
			*len = max;
			io->ioff += max;
			io->ilen -= max;
			return SIO_PART;
		}
		if (io->ilen > 0 && SIO_IBUF - io->ioff < max) {
			memmove(io->ibuf, start, io->ilen);
			io->ioff = 0;
		}
		if ((st = sio_fill(io)) == SIO_EOF && io->ilen > 0) {
			*p = io->ibuf + io->ioff;
			*len = io->ilen;
			io->ioff += io->ilen;
			io->ilen = 0;
			return SIO_LAST;
		}
		if (st != SIO_LINE)
			return st;
	}
}

int
sio_pending(struct sio *io)
{
	int n = 0;

	if (io->ilen > 0 || (io->tls != NULL && SSL_pending(io->tls) > 0))
		return 1;
	return ioctl(io->rfd, FIONREAD, &n) == 0 && n > 0;
}

int
sio_buffered(struct sio *io)
{
	return io->ilen > 0 || (io->tls != NULL && SSL_pending(io->tls) > 0);
}

/* tls_flush - sio_flush under TLS. */
static int
tls_flush(struct sio *io)
{
	size_t off = 0;
	int n;

	while (off < io->olen && !io->werr) {
		ERR_clear_error();
		n = SSL_write(io->tls, io->obuf + off, (int)(io->olen - off));
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (tls_want(io, n, SSL_get_error(io->tls, n)) != SIO_LINE)
			io->werr = 1;
	}
	io->olen = 0;
	return io->werr ? -1 : 0;
}

int
sio_flush(struct sio *io)
{
	size_t off = 0;
	ssize_t n;

	if (io->tls != NULL)
		return tls_flush(io);
	while (off < io->olen && !io->werr) {
		n = write(io->wfd, io->obuf + off, io->olen - off);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
		    sio_wait(io, io->wfd, POLLOUT) == SIO_LINE)
			continue;
		io->werr = 1;
	}
	io->olen = 0;
	return io->werr ? -1 : 0;
}

int
sio_write(struct sio *io, const void *buf, size_t len)
{
	const char *p = buf;
	size_t n;

	while (len > 0) {
		if (io->olen == SIO_OBUF && sio_flush(io) == -1)
			return -1;
		n = SIO_OBUF - io->olen;
		if (n > len)
			n = len;
		memcpy(io->obuf + io->olen, p, n);
		io->olen += n;
		p += n;
		len -= n;
	}
	return io->werr ? -1 : 0;
}

int
sio_reply(struct sio *io, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if ((size_t)n > sizeof(line) - 3)
		n = (int)sizeof(line) - 3;
	line[n++] = '\r';
	line[n++] = '\n';
	return sio_write(io, line, (size_t)n);
}

void
sio_vcode(struct sio *io, int code, const char *status, char *text,
    size_t len, const char *fmt, va_list ap)
{
	vsnprintf(text, len, fmt, ap);
	if (status != NULL && status[0] != '\0')
		sio_reply(io, "%d %s %s", code, status, text);
	else
		sio_reply(io, "%d %s", code, text);
}

int
sio_starttls(struct sio *io, void *ctx, char *err, size_t len)
{
	SSL *ssl;
	int fl, n, e, st;

	if (io->tls != NULL || io->ilen > 0 || io->rfd != io->wfd) {
		strlcpy_(err, "not in a state to start TLS", len);
		return -1;
	}
	if (sio_flush(io) == -1) {
		strlcpy_(err, "lost the client", len);
		return -1;
	}
	/* the handshake's waits are sio_wait's, bounded by the timeout */
	if ((fl = fcntl(io->rfd, F_GETFL)) == -1 ||
	    fcntl(io->rfd, F_SETFL, fl | O_NONBLOCK) == -1) {
		snprintf(err, len, "fcntl: %s", strerror(errno));
		return -1;
	}
	ERR_clear_error();
	if ((ssl = SSL_new(ctx)) == NULL || SSL_set_fd(ssl, io->rfd) != 1) {
		tls_error("TLS session", err, len);
		SSL_free(ssl);
		return -1;
	}
	io->tls = ssl;
	for (;;) {
		ERR_clear_error();
		if ((n = SSL_accept(ssl)) == 1)
			return 0;
		if ((e = SSL_get_error(ssl, n)) == SSL_ERROR_SSL) {
			tls_error("handshake", err, len);
			break;
		}
		if ((st = tls_want(io, n, e)) != SIO_LINE) {
			strlcpy_(err, st == SIO_TIMEOUT ? "handshake: timeout" :
			    st == SIO_STOP ? "handshake: shutting down" :
			    "handshake: the client went away", len);
			break;
		}
	}
	SSL_free(ssl);
	io->tls = NULL;
	io->werr = 1;		/* nothing more goes out in clear */
	return -1;
}

void
sio_tls_info(const struct sio *io, char *buf, size_t len)
{
	const SSL_CIPHER *c;
	int alg = 0, bits;

	buf[0] = '\0';
	if (io->tls == NULL || (c = SSL_get_current_cipher(io->tls)) == NULL)
		return;
	bits = SSL_CIPHER_get_bits(c, &alg);
	snprintf(buf, len, "%s with cipher %s (%d/%d bits)",
	    SSL_get_version(io->tls), SSL_CIPHER_get_name(c), bits, alg);
}

/*
 * relay_wants - what an SSL call that did not finish (rv, err) waits
 * for, added to *ev; -1 when it failed for good, 1 at the peer's
 * close.
 */
static int
relay_wants(int rv, int err, short *ev)
{
	switch (err) {
	case SSL_ERROR_WANT_READ:
		*ev |= POLLIN;
		return 0;
	case SSL_ERROR_WANT_WRITE:
		*ev |= POLLOUT;
		return 0;
	case SSL_ERROR_ZERO_RETURN:
		return 1;
	case SSL_ERROR_SYSCALL:
		if (rv == -1 && errno == EINTR)
			return 0;
		/* an end of file or a reset: the client has gone */
		ERR_clear_error();
		return 1;
#ifdef SSL_R_UNEXPECTED_EOF_WHILE_READING
	case SSL_ERROR_SSL:
		/* OpenSSL 3: a close without close_notify, the client gone */
		if (ERR_GET_REASON(ERR_peek_error()) ==
		    SSL_R_UNEXPECTED_EOF_WHILE_READING) {
			ERR_clear_error();
			return 1;
		}
		break;
#endif
	}
	return -1;		/* the caller takes OpenSSL's reason */
}

int
sio_relay(struct sio *io, int fd, long idle, char *why, size_t len)
{
	char a[16384], b[16384];	/* client to fd, fd to client */
	size_t aoff = 0, alen = 0, blen = 0;
	struct pollfd p[2];
	struct timespec ts;
	short tev, fev;
	ssize_t w;
	int fl, n, moved, st;

	strlcpy_(why, "", len);
	if (io->tls == NULL || io->ilen > 0 || sio_flush(io) == -1 ||
	    (fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1) {
		strlcpy_(why, "not in a state to relay", len);
		return -1;
	}
	for (;;) {
		tev = fev = 0;
		moved = 0;
		/* the client to fd */
		if (alen == 0) {
			ERR_clear_error();
			if ((n = SSL_read(io->tls, a, (int)sizeof(a))) > 0) {
				aoff = 0;
				alen = (size_t)n;
				moved = 1;
			} else if ((st = relay_wants(n, SSL_get_error(io->tls,
			    n), &tev)) != 0) {
				if (st == -1)
					tls_error("reading", why, len);
				return st == 1 ? 0 : -1;
			}
		}
		if (alen > 0) {
			if ((w = write(fd, a + aoff, alen)) > 0) {
				aoff += (size_t)w;
				alen -= (size_t)w;
				moved = 1;
			} else if (errno == EAGAIN || errno == EWOULDBLOCK)
				fev |= POLLOUT;
			else if (errno != EINTR)
				return 0;	/* the worker is gone */
		}
		/* fd to the client; SSL_write takes all of it, or retries */
		if (blen == 0) {
			if ((w = read(fd, b, sizeof(b))) > 0) {
				blen = (size_t)w;
				moved = 1;
			} else if (w == 0)
				return 0;	/* the worker is done */
			else if (errno == EAGAIN || errno == EWOULDBLOCK)
				fev |= POLLIN;
			else if (errno != EINTR)
				return 0;	/* ... or gone */
		}
		if (blen > 0) {
			ERR_clear_error();
			if ((n = SSL_write(io->tls, b, (int)blen)) > 0) {
				blen = 0;
				moved = 1;
			} else if ((st = relay_wants(n, SSL_get_error(io->tls,
			    n), &tev)) != 0) {
				io->werr = 1;
				if (st == -1)
					tls_error("writing", why, len);
				return st == 1 ? 0 : -1;
			}
		}
		if (moved)
			continue;
		if (io->stop != NULL && *io->stop) {
			strlcpy_(why, "shutting down", len);
			return -1;
		}
		p[0].fd = io->rfd;
		p[0].events = tev != 0 ? tev : POLLIN;
		p[1].fd = fd;
		p[1].events = fev != 0 ? fev : POLLIN;
		p[0].revents = p[1].revents = 0;
		ts.tv_sec = idle;
		ts.tv_nsec = 0;
		if ((n = ppoll(p, 2, idle > 0 ? &ts : NULL, io->waitmask)) ==
		    0) {
			snprintf(why, len, "nothing moved for %lds", idle);
			return -1;
		}
		if (n == -1 && errno != EINTR) {
			snprintf(why, len, "poll: %s", strerror(errno));
			return -1;
		}
	}
}

void
sio_tls_end(struct sio *io)
{
	if (io->tls == NULL)
		return;
	if (!io->werr)
		(void)SSL_shutdown(io->tls);	/* one try: no wait */
	SSL_free(io->tls);
	io->tls = NULL;
}
