/*
 * chan.h - messages between the hub's processes.  One message is one
 * datagram on an AF_UNIX SOCK_SEQPACKET socket: a fixed header (type,
 * id, payload length), a payload of at most CHAN_MAX bytes and at most
 * one descriptor (SCM_RIGHTS).  A datagram whose length disagrees with
 * its header, that was truncated, or that carries anything but one
 * descriptor is refused whole (EPROTO, EMSGSIZE): the receiver never
 * sees part of a message and never keeps a descriptor it did not ask
 * for.  Payloads are built and read with the chan_put_* / chan_get_*
 * helpers, whose errors are sticky, so a reader checks once at the end
 * (chan_get_end) that the message had exactly the fields it expected.
 *
 * The sending side may queue: chan_queue keeps at most max messages
 * (the bound is the back-pressure; a full queue is EAGAIN to the
 * caller, which stops reading from its own peer) and chan_flush writes
 * what the socket takes without blocking.
 */
#ifndef CHAN_H
#define CHAN_H

#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>

#define CHAN_MAX	(64 * 1024)	/* payload bytes per message */
#define CHAN_HDR	12		/* type, id, len: uint32, host order */

struct chan_msg {
	uint32_t type;
	uint32_t id;
	uint32_t len;
	int fd;			/* received descriptor, or -1 */
	unsigned char data[CHAN_MAX];
};

/* A payload being built: errors are sticky (too long, bad string). */
struct chan_wr {
	unsigned char *p;
	size_t len, cap;
	int err;
};

/* A payload being read: errors are sticky (short, bad string). */
struct chan_rd {
	const unsigned char *p;
	size_t left;
	int err;
};

struct chan_out;

/* A socket and the bounded queue of what it has not taken yet. */
struct chan {
	int sock;
	struct chan_out *head, *tail;
	size_t queued, max;
};

/* chan.c */
int	 chan_pair(int sv[2]);
int	 chan_setup(int sock);
int	 chan_send(int sock, uint32_t type, uint32_t id, const void *data,
	    size_t len, int fd);
int	 chan_recv(int sock, struct chan_msg *m);
int	 chan_peer(int sock, uid_t *uid, gid_t *gid, pid_t *pid);

void	 chan_init(struct chan *c, int sock, size_t max);
int	 chan_queue(struct chan *c, uint32_t type, uint32_t id,
	    const void *data, size_t len, int fd);
int	 chan_flush(struct chan *c);
void	 chan_clear(struct chan *c);

void	 chan_wr_init(struct chan_wr *w, unsigned char *buf, size_t cap);
void	 chan_put_u32(struct chan_wr *w, uint32_t v);
void	 chan_put_u64(struct chan_wr *w, uint64_t v);
void	 chan_put_str(struct chan_wr *w, const char *s);
void	 chan_put_bytes(struct chan_wr *w, const void *p, size_t n);

void	 chan_rd_init(struct chan_rd *r, const struct chan_msg *m);
uint32_t chan_get_u32(struct chan_rd *r);
uint64_t chan_get_u64(struct chan_rd *r);
const char *chan_get_str(struct chan_rd *r, char *dst, size_t dstlen);
size_t	 chan_get_bytes(struct chan_rd *r, void *dst, size_t dstlen);
int	 chan_get_end(const struct chan_rd *r);

#endif
