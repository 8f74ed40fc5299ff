/*
 * unit-chan.c - the messages between the hub's processes (conf/chan.c):
 * round trips, descriptor passing, every malformed datagram a hostile
 * peer can send, the bounded queue under back-pressure, the payload
 * readers, and a seeded run of random datagrams.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <unistd.h>

#include "chan.h"
#include "tap.h"

static struct chan_msg m;

/* lowest_fd - the number the next descriptor would get. */
static int
lowest_fd(void)
{
	int fd = dup(0);

	close(fd);
	return fd;
}

static void
test_roundtrip(void)
{
	int sv[2];
	const char *hello = "hello, queue";

	ok(chan_pair(sv) == 0, "pair made");
	ok(fcntl(sv[0], F_GETFD) & FD_CLOEXEC, "pair is close-on-exec");
	ok(chan_send(sv[0], 7, 42, hello, strlen(hello), -1) == 0, "sent");
	is_int(chan_recv(sv[1], &m), 1, "received");
	ok(m.type == 7 && m.id == 42 && m.len == strlen(hello) &&
	    memcmp(m.data, hello, m.len) == 0 && m.fd == -1,
	    "type, id, payload, no descriptor");
	ok(chan_send(sv[1], 9, 0, NULL, 0, -1) == 0, "empty payload sent");
	ok(chan_recv(sv[0], &m) == 1 && m.type == 9 && m.len == 0,
	    "empty payload received (not end of file)");
	close(sv[0]);
	is_int(chan_recv(sv[1], &m), 0, "end of file when the peer closes");
	close(sv[1]);
}

static void
test_sizes(void)
{
	int sv[2];
	static unsigned char big[CHAN_MAX + 1];
	size_t i;

	for (i = 0; i < sizeof(big); i++)
		big[i] = (unsigned char)(i * 7);
	ok(chan_pair(sv) == 0, "pair for sizes");
	ok(chan_send(sv[0], 1, 1, big, CHAN_MAX, -1) == 0,
	    "CHAN_MAX bytes sent");
	ok(chan_recv(sv[1], &m) == 1 && m.len == CHAN_MAX &&
	    memcmp(m.data, big, CHAN_MAX) == 0, "CHAN_MAX bytes received");
	errno = 0;
	ok(chan_send(sv[0], 1, 1, big, CHAN_MAX + 1, -1) == -1 &&
	    errno == EMSGSIZE, "one byte more refused by the sender");
	close(sv[0]);
	close(sv[1]);
}

static void
test_fd(void)
{
	int sv[2], p[2];
	char c = 0;

	ok(chan_pair(sv) == 0 && pipe(p) == 0, "pair and pipe");
	ok(chan_send(sv[0], 3, 5, "w", 1, p[1]) == 0, "pipe end sent");
	close(p[1]);
	ok(chan_recv(sv[1], &m) == 1 && m.fd >= 0, "descriptor received");
	ok(fcntl(m.fd, F_GETFD) & FD_CLOEXEC,
	    "received descriptor is close-on-exec");
	ok(write(m.fd, "x", 1) == 1 && read(p[0], &c, 1) == 1 && c == 'x',
	    "received descriptor is the pipe");
	close(m.fd);
	close(p[0]);
	close(sv[0]);
	close(sv[1]);
}

/* send_raw - a datagram as a hostile peer would make it. */
static int
send_raw(int sock, const void *buf, size_t n, const int *fds, int nfd)
{
	struct iovec iov;
	struct msghdr mh;
	union {
		struct cmsghdr h;
		unsigned char buf[CMSG_SPACE(8 * sizeof(int))];
	} cm;

	iov.iov_base = (void *)(uintptr_t)buf;
	iov.iov_len = n;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (nfd > 0) {
		memset(&cm, 0, sizeof(cm));
		mh.msg_control = cm.buf;
		mh.msg_controllen = CMSG_SPACE(nfd * sizeof(int));
		cm.h.cmsg_level = SOL_SOCKET;
		cm.h.cmsg_type = SCM_RIGHTS;
		cm.h.cmsg_len = CMSG_LEN(nfd * sizeof(int));
		memcpy(CMSG_DATA(&cm.h), fds, nfd * sizeof(int));
	}
	return sendmsg(sock, &mh, 0) == (ssize_t)n ? 0 : -1;
}

static void
test_hostile(void)
{
	int sv[2], p[2], fds[3], low;
	uint32_t hdr[3];
	static unsigned char huge[CHAN_MAX + CHAN_HDR + 100];

	ok(chan_pair(sv) == 0 && pipe(p) == 0, "pair for hostile datagrams");
	low = lowest_fd();

	send_raw(sv[0], "abc", 3, NULL, 0);
	errno = 0;
	ok(chan_recv(sv[1], &m) == -1 && errno == EPROTO,
	    "shorter than a header: EPROTO");

	hdr[0] = 1; hdr[1] = 2; hdr[2] = 10;
	send_raw(sv[0], hdr, sizeof(hdr), NULL, 0);
	errno = 0;
	ok(chan_recv(sv[1], &m) == -1 && errno == EPROTO,
	    "header claims more than was sent: EPROTO");

	memcpy(huge, hdr, sizeof(hdr));
	send_raw(sv[0], huge, 20, NULL, 0);
	errno = 0;
	ok(chan_recv(sv[1], &m) == -1 && errno == EPROTO,
	    "header claims less than was sent: EPROTO");

	hdr[2] = sizeof(huge) - CHAN_HDR;
	memcpy(huge, hdr, sizeof(hdr));
	ok(send_raw(sv[0], huge, sizeof(huge), NULL, 0) == 0,
	    "a datagram longer than CHAN_MAX goes through the kernel");
	errno = 0;
	ok(chan_recv(sv[1], &m) == -1 && errno == EMSGSIZE,
	    "and is refused whole: EMSGSIZE");

	fds[0] = p[0];
	fds[1] = p[1];
	hdr[2] = 0;
	send_raw(sv[0], hdr, sizeof(hdr), fds, 2);
	errno = 0;
	ok(chan_recv(sv[1], &m) == -1 && errno == EPROTO && m.fd == -1,
	    "two descriptors: EPROTO");
	is_int(lowest_fd(), low, "both received descriptors closed");

	fds[0] = fds[1] = fds[2] = p[0];
	send_raw(sv[0], "ab", 2, fds, 3);
	errno = 0;
	ok(chan_recv(sv[1], &m) == -1 && errno == EPROTO,
	    "descriptors on a short datagram: EPROTO");
	is_int(lowest_fd(), low, "its descriptors closed");

	ok(chan_send(sv[0], 4, 4, "ok", 2, -1) == 0 &&
	    chan_recv(sv[1], &m) == 1 && m.type == 4 && m.len == 2,
	    "a good message after the bad ones arrives intact");
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}

static void
test_queue(void)
{
	struct chan c;
	int sv[2], p[2], i, left, got;
	static unsigned char blob[CHAN_MAX];

	ok(chan_pair(sv) == 0, "pair for the queue");
	chan_init(&c, sv[0], 3);
	ok(chan_queue(&c, 1, 1, "a", 1, -1) == 0 &&
	    chan_queue(&c, 1, 2, "b", 1, -1) == 0 &&
	    chan_queue(&c, 1, 3, "c", 1, -1) == 0, "three queued");
	errno = 0;
	ok(chan_queue(&c, 1, 4, "d", 1, -1) == -1 && errno == EAGAIN,
	    "a fourth is EAGAIN: the bound holds");
	is_int(chan_flush(&c), 0, "flushed");
	for (i = 1, got = 0; i <= 3; i++)
		got += chan_recv(sv[1], &m) == 1 && m.id == (uint32_t)i;
	is_int(got, 3, "received in order");

	ok(pipe(p) == 0, "pipe for a queued descriptor");
	ok(chan_queue(&c, 2, 9, NULL, 0, p[1]) == 0, "descriptor queued");
	is_int(chan_flush(&c), 0, "and sent");
	ok(fcntl(p[1], F_GETFD) == -1 && errno == EBADF,
	    "the queue closed its copy once sent");
	ok(chan_recv(sv[1], &m) == 1 && m.fd >= 0, "the peer has it");
	close(m.fd);
	close(p[0]);

	chan_init(&c, sv[0], 1000);
	for (i = 0, left = 0; i < 200 && left == 0; i++) {
		chan_queue(&c, 5, (uint32_t)i, blob, sizeof(blob), -1);
		left = chan_flush(&c);
	}
	ok(left > 0 && i < 200,
	    "a peer that does not read leaves messages queued (%d after %d)",
	    left, i);
	for (got = 0; got < i && chan_flush(&c) != 0; got++)
		chan_recv(sv[1], &m);
	is_int(c.queued, 0, "reading on the peer's side drains the queue");
	while (got < i && chan_recv(sv[1], &m) == 1 && m.id != (uint32_t)i - 1)
		got++;
	is_int(m.id, i - 1, "the last message is the last one queued");

	ok(pipe(p) == 0 && chan_queue(&c, 2, 1, NULL, 0, p[0]) == 0,
	    "one more descriptor queued");
	chan_clear(&c);
	ok(fcntl(p[0], F_GETFD) == -1 && errno == EBADF && c.queued == 0,
	    "chan_clear closes what it forgets");
	close(p[1]);
	close(sv[1]);
	ok(chan_queue(&c, 1, 1, "x", 1, -1) == 0 && chan_flush(&c) == -1,
	    "a broken socket is an error, not a hang");
	chan_clear(&c);
	close(sv[0]);
}

static void
test_payload(void)
{
	struct chan_wr w;
	struct chan_rd r;
	char s[16], big[4];
	unsigned char b[8];
	uint32_t n;

	chan_wr_init(&w, m.data, sizeof(m.data));
	chan_put_u32(&w, 0xdeadbeef);
	chan_put_u64(&w, 1ULL << 40);
	chan_put_str(&w, "acme");
	chan_put_str(&w, NULL);
	chan_put_bytes(&w, "\0\1\2", 3);
	ok(w.err == 0, "payload built");
	m.len = (uint32_t)w.len;
	chan_rd_init(&r, &m);
	ok(chan_get_u32(&r) == 0xdeadbeef, "u32 read back");
	ok(chan_get_u64(&r) == 1ULL << 40, "u64 read back");
	is_str(chan_get_str(&r, s, sizeof(s)), "acme", "string read back");
	ok(chan_get_str(&r, s, sizeof(s)) == NULL && r.err == 0,
	    "absent string is NULL");
	ok(chan_get_bytes(&r, b, sizeof(b)) == 3 &&
	    memcmp(b, "\0\1\2", 3) == 0, "bytes read back");
	is_int(chan_get_end(&r), 0, "every field read, nothing left");

	chan_rd_init(&r, &m);
	chan_get_u32(&r);
	ok(chan_get_end(&r) == -1 && errno == EPROTO, "left-over bytes refused");
	chan_get_u64(&r);
	is_str(chan_get_str(&r, big, sizeof(big)), "",
	    "a string longer than the buffer reads as empty");
	ok(r.err == EPROTO, "and sets the error");
	ok(chan_get_u32(&r) == 0 && chan_get_end(&r) == -1,
	    "the error is sticky");

	chan_wr_init(&w, m.data, sizeof(m.data));
	n = 5;
	chan_put_u32(&w, n);
	chan_put_bytes(&w, "ab", 2);
	memcpy(m.data + 4, "a\0cde", 5);
	m.len = 9;
	chan_rd_init(&r, &m);
	ok(chan_get_str(&r, s, sizeof(s))[0] == '\0' && r.err == EPROTO,
	    "a string with a NUL in it refused");

	n = 1000;
	memcpy(m.data, &n, 4);
	m.len = 8;
	chan_rd_init(&r, &m);
	chan_get_str(&r, s, sizeof(s));
	ok(r.err == EPROTO, "a length past the end refused");
	chan_rd_init(&r, &m);
	ok(chan_get_bytes(&r, b, sizeof(b)) == 0 && r.err == EPROTO,
	    "a byte count past the end refused");
	m.len = 2;
	chan_rd_init(&r, &m);
	ok(chan_get_u32(&r) == 0 && r.err == EPROTO, "a short u32 refused");

	chan_wr_init(&w, (unsigned char *)s, 6);
	chan_put_str(&w, "abcdef");
	ok(w.err == EMSGSIZE && w.len == 4, "the builder stops at its buffer");
}

static void
test_peer(void)
{
	int sv[2];
	uid_t uid;
	gid_t gid;
	pid_t pid;

	ok(chan_pair(sv) == 0 && chan_peer(sv[1], &uid, &gid, &pid) == 0,
	    "peer credentials read");
	ok(uid == geteuid() && gid == getegid(), "they are ours");
	ok(pid == getpid() || pid == -1, "and so is the pid, where told");
	close(sv[0]);
	close(sv[1]);
}

/*
 * test_random - a seeded run of random datagrams, some with consistent
 * headers: each is a message whose length is the datagram's or EPROTO,
 * never anything else, and random reads of the accepted ones stay
 * within them (ASan checks the bytes in make test-sanitize).
 */
static void
test_random(void)
{
	int sv[2], i, r, bad = 0, good = 0, wrong = 0, j;
	uint32_t seed = 2026, hdr[3];
	unsigned char buf[600];
	size_t n, k;
	struct chan_rd rd;
	char s[64];
	unsigned char b[64];

	ok(chan_pair(sv) == 0, "pair for random datagrams");
	for (i = 0; i < 3000; i++) {
		seed = seed * 1103515245 + 12345;
		n = 1 + (seed >> 8) % sizeof(buf);
		for (k = 0; k < n; k++) {
			seed = seed * 1103515245 + 12345;
			buf[k] = (unsigned char)(seed >> 16);
		}
		if (i % 2 == 0 && n >= CHAN_HDR) {
			memcpy(hdr, buf, sizeof(hdr));
			hdr[2] = (uint32_t)(n - CHAN_HDR);
			memcpy(buf, hdr, sizeof(hdr));
		}
		send_raw(sv[0], buf, n, NULL, 0);
		r = chan_recv(sv[1], &m);
		if (r == 1 && m.len == n - CHAN_HDR) {
			good++;
			chan_rd_init(&rd, &m);
			for (j = 0; j < 8 && rd.err == 0; j++) {
				switch ((seed >> (j * 2)) & 3) {
				case 0: chan_get_u32(&rd); break;
				case 1: chan_get_u64(&rd); break;
				case 2: chan_get_str(&rd, s, sizeof(s)); break;
				default: chan_get_bytes(&rd, b, sizeof(b));
				}
			}
			if (rd.left > m.len)
				wrong++;
		} else if (r == -1 && errno == EPROTO)
			bad++;
		else
			wrong++;
	}
	ok(wrong == 0, "3000 random datagrams: %d accepted, %d refused, "
	    "%d otherwise", good, bad, wrong);
	ok(good > 1000 && bad > 1000, "both kinds were tried");
	close(sv[0]);
	close(sv[1]);
}

int
main(void)
{
	test_roundtrip();
	test_sizes();
	test_fd();
	test_hostile();
	test_queue();
	test_payload();
	test_peer();
	test_random();
	return done_testing();
}
