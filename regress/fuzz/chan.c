/*
 * chan.c - fuzz harness for the framing between the hub's processes
 * (conf/chan.c): the input is sent as one raw datagram, as a hostile
 * peer would; chan_recv must either refuse it (EPROTO, EMSGSIZE) or
 * give a message whose length is the datagram's less the header.  The
 * payload is then read as the fields its type names (two bits each:
 * u32, u64, string, bytes), and what was read is written again with
 * the builders: it must give back the same bytes.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chan.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int sv[2] = { -1, -1 };
static struct chan_msg m;
static unsigned char again[CHAN_MAX];

/* reread - decode the fields type names, encode them again, compare. */
static void
reread(void)
{
	struct chan_rd r;
	struct chan_wr w;
	static char s[CHAN_MAX + 1];
	static unsigned char b[CHAN_MAX];
	const char *sp;
	size_t n, used;
	int i;

	chan_rd_init(&r, &m);
	chan_wr_init(&w, again, sizeof(again));
	for (i = 0; i < 16 && r.err == 0 && r.left > 0; i++) {
		switch ((m.type >> (2 * i)) & 3) {
		case 0:
			chan_put_u32(&w, chan_get_u32(&r));
			break;
		case 1:
			chan_put_u64(&w, chan_get_u64(&r));
			break;
		case 2:
			sp = chan_get_str(&r, s, sizeof(s));
			if (r.err == 0)
				chan_put_str(&w, sp);
			break;
		default:
			n = chan_get_bytes(&r, b, sizeof(b));
			if (r.err == 0)
				chan_put_bytes(&w, b, n);
		}
	}
	if (r.left > m.len)
		abort();
	used = m.len - r.left;
	if (r.err == 0 && (w.err != 0 || w.len != used ||
	    memcmp(w.p, m.data, used) != 0))
		abort();
	(void)chan_get_end(&r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int rc;

	if (size == 0 || size > CHAN_MAX + CHAN_HDR + 64)
		return 0;
	if (sv[0] == -1 && chan_pair(sv) == -1)
		abort();
	if (send(sv[0], data, size, 0) != (ssize_t)size)
		abort();
	rc = chan_recv(sv[1], &m);
	if (rc == 1) {
		if (m.len != size - CHAN_HDR || m.fd != -1)
			abort();
		reread();
	} else if (rc != -1 || (errno != EPROTO && errno != EMSGSIZE))
		abort();
	return 0;
}
