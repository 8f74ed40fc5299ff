/*
 * chan.c - messages between the hub's processes (see chan.h): one
 * SOCK_SEQPACKET datagram per message, checked whole on receipt, at
 * most one descriptor, a bounded send queue and sticky-error payload
 * builders and readers.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#if defined(__FreeBSD__)
#include <sys/ucred.h>
#endif

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chan.h"

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL	0
#endif

#define CHAN_NOSTR	0xffffffffU	/* a string that is absent */
#define CHAN_RCVFDS	4		/* room to see (and close) extras */

struct chan_out {
	struct chan_out *next;
	uint32_t type, id;
	size_t len;
	int fd;
	unsigned char data[];
};

/* chan_setup - make room for the largest message in both directions. */
int
chan_setup(int sock)
{
	int sz = 4 * (CHAN_MAX + CHAN_HDR);

	if (setsockopt(sock, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz)) == -1 ||
	    setsockopt(sock, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz)) == -1)
		return -1;
	return 0;
}

/* chan_pair - a connected pair, close-on-exec, ready for CHAN_MAX. */
int
chan_pair(int sv[2])
{
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1)
		return -1;
	if (chan_setup(sv[0]) == -1 || chan_setup(sv[1]) == -1) {
		int e = errno;

		close(sv[0]);
		close(sv[1]);
		errno = e;
		return -1;
	}
	return 0;
}

static int
send_flags(int sock, uint32_t type, uint32_t id, const void *data,
    size_t len, int fd, int flags)
{
	uint32_t hdr[3];
	struct iovec iov[2];
	struct msghdr mh;
	union {
		struct cmsghdr h;
		unsigned char buf[CMSG_SPACE(sizeof(int))];
	} cm;
	ssize_t n;

	if (len > CHAN_MAX || (len > 0 && data == NULL)) {
		errno = EMSGSIZE;
		return -1;
	}
	hdr[0] = type;
	hdr[1] = id;
	hdr[2] = (uint32_t)len;
	iov[0].iov_base = hdr;
	iov[0].iov_len = sizeof(hdr);
	iov[1].iov_base = (void *)(uintptr_t)data;
	iov[1].iov_len = len;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = iov;
	mh.msg_iovlen = len > 0 ? 2 : 1;
	if (fd >= 0) {
		memset(&cm, 0, sizeof(cm));
		mh.msg_control = cm.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int));
		cm.h.cmsg_level = SOL_SOCKET;
		cm.h.cmsg_type = SCM_RIGHTS;
		cm.h.cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(&cm.h), &fd, sizeof(int));
	}
	do
		n = sendmsg(sock, &mh, flags | MSG_NOSIGNAL);
	while (n == -1 && errno == EINTR);
	if (n == -1)
		return -1;
	if ((size_t)n != sizeof(hdr) + len) {	/* a datagram is all or none */
		errno = EPROTO;
		return -1;
	}
	return 0;
}

/*
 * chan_send - one message, waiting for room if the socket blocks.  The
 * descriptor stays the caller's (the receiver gets its own copy).
 */
int
chan_send(int sock, uint32_t type, uint32_t id, const void *data,
    size_t len, int fd)
{
	return send_flags(sock, type, id, data, len, fd, 0);
}

static void
close_fds(struct msghdr *mh)
{
	struct cmsghdr *h;
	size_t i, n;
	int fd;

	for (h = CMSG_FIRSTHDR(mh); h != NULL; h = CMSG_NXTHDR(mh, h)) {
		if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
			continue;
		n = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < n; i++) {
			memcpy(&fd, CMSG_DATA(h) + i * sizeof(int), sizeof(int));
			close(fd);
		}
	}
}

/* take_fd - the one descriptor a message may carry, or -1 and EPROTO. */
static int
take_fd(struct msghdr *mh, int *fdp)
{
	struct cmsghdr *h;
	size_t n, total = 0;

	*fdp = -1;
	for (h = CMSG_FIRSTHDR(mh); h != NULL; h = CMSG_NXTHDR(mh, h)) {
		if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS ||
		    h->cmsg_len < CMSG_LEN(0))
			goto bad;
		n = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		if (n == 1 && total == 0)
			memcpy(fdp, CMSG_DATA(h), sizeof(int));
		total += n;
	}
	if (total <= 1)
		return 0;
bad:
	close_fds(mh);
	*fdp = -1;
	errno = EPROTO;
	return -1;
}

/*
 * chan_recv - the next message: 1 with *m filled, 0 at end of file
 * (an empty datagram, which no sender here makes, reads as one too, and
 * so does a peer that closed with messages of ours unread),
 * -1 with errno (EMSGSIZE: longer than CHAN_MAX; EPROTO: header and
 * datagram disagree, or not exactly zero or one descriptor).  A
 * refused message's descriptors are closed.  m->fd is close-on-exec.
 */
int
chan_recv(int sock, struct chan_msg *m)
{
	uint32_t hdr[3];
	struct iovec iov[2];
	struct msghdr mh;
	union {
		struct cmsghdr h;
		unsigned char buf[CMSG_SPACE(CHAN_RCVFDS * sizeof(int))];
	} cm;
	ssize_t n;
	int fd;

	iov[0].iov_base = hdr;
	iov[0].iov_len = sizeof(hdr);
	iov[1].iov_base = m->data;
	iov[1].iov_len = sizeof(m->data);
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = iov;
	mh.msg_iovlen = 2;
	mh.msg_control = cm.buf;
	mh.msg_controllen = sizeof(cm.buf);
	m->fd = -1;
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (n == -1 && errno == EINTR);
	if (n == -1 && errno == ECONNRESET)
		return 0;	/* the peer closed with our messages unread */
	if (n == -1)
		return -1;
	if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
		close_fds(&mh);
		errno = (mh.msg_flags & MSG_TRUNC) ? EMSGSIZE : EPROTO;
		return -1;
	}
	if (take_fd(&mh, &fd) == -1)
		return -1;
	if (n == 0 && fd == -1)
		return 0;
	if ((size_t)n < sizeof(hdr) || hdr[2] != (size_t)n - sizeof(hdr)) {
		if (fd != -1)
			close(fd);
		errno = EPROTO;
		return -1;
	}
	m->type = hdr[0];
	m->id = hdr[1];
	m->len = hdr[2];
	m->fd = fd;
	return 1;
}

/*
 * chan_peer - who is at the other end, as the kernel says (never what
 * the peer says of itself).  pid is -1 where the system does not tell.
 */
int
chan_peer(int sock, uid_t *uid, gid_t *gid, pid_t *pid)
{
#if defined(SO_PEERCRED) && defined(__linux__)
	struct ucred uc;
	socklen_t len = sizeof(uc);

	if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &uc, &len) == -1)
		return -1;
	*uid = uc.uid;
	*gid = uc.gid;
	*pid = uc.pid;
	return 0;
#else
	if (getpeereid(sock, uid, gid) == -1)
		return -1;
	*pid = -1;
#if defined(LOCAL_PEERCRED) && defined(__FreeBSD__)
	{
		struct xucred xu;
		socklen_t len = sizeof(xu);

		if (getsockopt(sock, SOL_LOCAL, LOCAL_PEERCRED, &xu,
		    &len) == 0 && xu.cr_version == XUCRED_VERSION)
			*pid = xu.cr_pid;
	}
#endif
	return 0;
#endif
}

/* chan_init - a queue of at most max messages in front of sock. */
void
chan_init(struct chan *c, int sock, size_t max)
{
	c->sock = sock;
	c->head = c->tail = NULL;
	c->queued = 0;
	c->max = max;
}

/*
 * chan_queue - append a message.  -1 with EAGAIN when the queue is
 * full, EMSGSIZE when too long; then fd is still the caller's.  On
 * success the descriptor belongs to the queue (closed once sent).
 */
int
chan_queue(struct chan *c, uint32_t type, uint32_t id, const void *data,
    size_t len, int fd)
{
	struct chan_out *o;

	if (len > CHAN_MAX || (len > 0 && data == NULL)) {
		errno = EMSGSIZE;
		return -1;
	}
	if (c->queued >= c->max) {
		errno = EAGAIN;
		return -1;
	}
	if ((o = malloc(sizeof(*o) + len)) == NULL)
		return -1;
	o->next = NULL;
	o->type = type;
	o->id = id;
	o->len = len;
	o->fd = fd;
	if (len > 0)
		memcpy(o->data, data, len);
	if (c->tail != NULL)
		c->tail->next = o;
	else
		c->head = o;
	c->tail = o;
	c->queued++;
	return 0;
}

static void
drop_head(struct chan *c)
{
	struct chan_out *o = c->head;

	c->head = o->next;
	if (c->head == NULL)
		c->tail = NULL;
	if (o->fd >= 0)
		close(o->fd);
	free(o);
	c->queued--;
}

/*
 * chan_flush - send what the socket takes now: the number of messages
 * still queued, or -1 when the socket is broken (the queue is kept for
 * chan_clear).
 */
int
chan_flush(struct chan *c)
{
	struct chan_out *o;

	while ((o = c->head) != NULL) {
		if (send_flags(c->sock, o->type, o->id, o->data, o->len, o->fd,
		    MSG_DONTWAIT) == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == ENOBUFS)
				break;
			return -1;
		}
		drop_head(c);
	}
	return (int)c->queued;
}

/* chan_clear - forget what was not sent, closing its descriptors. */
void
chan_clear(struct chan *c)
{
	while (c->head != NULL)
		drop_head(c);
}

void
chan_wr_init(struct chan_wr *w, unsigned char *buf, size_t cap)
{
	w->p = buf;
	w->len = 0;
	w->cap = cap > CHAN_MAX ? CHAN_MAX : cap;
	w->err = 0;
}

static void
put(struct chan_wr *w, const void *p, size_t n)
{
	if (w->err)
		return;
	if (n > w->cap - w->len) {
		w->err = EMSGSIZE;
		return;
	}
	if (n > 0)
		memcpy(w->p + w->len, p, n);
	w->len += n;
}

void
chan_put_u32(struct chan_wr *w, uint32_t v)
{
	put(w, &v, sizeof(v));
}

void
chan_put_u64(struct chan_wr *w, uint64_t v)
{
	put(w, &v, sizeof(v));
}

/* chan_put_str - a length and the bytes; NULL is "absent". */
void
chan_put_str(struct chan_wr *w, const char *s)
{
	size_t n;

	if (s == NULL) {
		chan_put_u32(w, CHAN_NOSTR);
		return;
	}
	n = strlen(s);
	if (n > CHAN_MAX) {
		w->err = EMSGSIZE;
		return;
	}
	chan_put_u32(w, (uint32_t)n);
	put(w, s, n);
}

void
chan_put_bytes(struct chan_wr *w, const void *p, size_t n)
{
	if (n > CHAN_MAX) {
		w->err = EMSGSIZE;
		return;
	}
	chan_put_u32(w, (uint32_t)n);
	put(w, p, n);
}

void
chan_rd_init(struct chan_rd *r, const struct chan_msg *m)
{
	r->p = m->data;
	r->left = m->len <= CHAN_MAX ? m->len : 0;
	r->err = m->len <= CHAN_MAX ? 0 : EPROTO;
}

static int
get(struct chan_rd *r, void *dst, size_t n)
{
	if (r->err)
		return -1;
	if (n > r->left) {
		r->err = EPROTO;
		return -1;
	}
	memcpy(dst, r->p, n);
	r->p += n;
	r->left -= n;
	return 0;
}

uint32_t
chan_get_u32(struct chan_rd *r)
{
	uint32_t v = 0;

	if (get(r, &v, sizeof(v)) == -1)
		return 0;
	return v;
}

uint64_t
chan_get_u64(struct chan_rd *r)
{
	uint64_t v = 0;

	if (get(r, &v, sizeof(v)) == -1)
		return 0;
	return v;
}

/*
 * chan_get_str - a string into dst: NULL when it was sent as absent,
 * "" with the error set when it does not fit, holds a NUL or runs past
 * the message.  Callers check chan_get_end once at the end.
 */
const char *
chan_get_str(struct chan_rd *r, char *dst, size_t dstlen)
{
	uint32_t n;

	if (dstlen == 0)
		return "";
	dst[0] = '\0';
	n = chan_get_u32(r);
	if (r->err)
		return dst;
	if (n == CHAN_NOSTR)
		return NULL;
	if (n >= dstlen || n > r->left || memchr(r->p, '\0', n) != NULL) {
		r->err = EPROTO;
		return dst;
	}
	memcpy(dst, r->p, n);
	dst[n] = '\0';
	r->p += n;
	r->left -= n;
	return dst;
}

/* chan_get_bytes - a counted byte string into dst: its length, or 0. */
size_t
chan_get_bytes(struct chan_rd *r, void *dst, size_t dstlen)
{
	uint32_t n;

	n = chan_get_u32(r);
	if (r->err)
		return 0;
	if (n > dstlen || n > r->left) {
		r->err = EPROTO;
		return 0;
	}
	if (n > 0 && get(r, dst, n) == -1)
		return 0;
	return n;
}

/* chan_get_end - 0 when every field was read and nothing is left over. */
int
chan_get_end(const struct chan_rd *r)
{
	if (r->err || r->left != 0) {
		errno = EPROTO;
		return -1;
	}
	return 0;
}
