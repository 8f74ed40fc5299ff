/*
 * qserv.c - fuzz harness for the queue process's side of qproto.h
 * (spoolfmt/qserv.c), played as a compromised session would: the input
 * is a run of records, each one message to the queue: a type octet, a
 * 16-bit length and that many payload octets.  Type 0xff stands for a
 * QM_OPEN of a new message under the ticket the queue gave: the
 * harness puts the entry number (the first payload octet), src 0 and
 * the ticket in front of the rest.  After each message the queue
 * serves what it was sent and its answers are read (a QM_TICKET
 * replaces the ticket).  The queue must never crash, must cut the
 * session off rather than misbehave, and must leave no tmp file once
 * the session is closed.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chan.h"
#include "log.h"
#include "qproto.h"
#include "qserv.h"
#include "queue.h"
#include "fuzztmp.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static char spool[PATH_MAX];
static struct qserv *qs;
static struct chan_msg m;
static char tick[QID_LEN];

/* answers - read what the queue sent; the last ticket into tick. */
static void
answers(int sock)
{
	struct chan_rd r;

	while (recv(sock, NULL, 0, MSG_PEEK | MSG_DONTWAIT) >= 0 &&
	    chan_recv(sock, &m) == 1) {
		if (m.fd != -1)
			close(m.fd);
		if (m.type != QM_TICKET)
			continue;
		chan_rd_init(&r, &m);
		chan_get_str(&r, tick, sizeof(tick));
		if (chan_get_end(&r) != 0 || !qid_is_valid(tick))
			abort();	/* the queue's own message is malformed */
	}
}

/* files - entries in q/<c>/<sub>; removed as well with clear. */
static int
files(const char *c, const char *sub, int clear)
{
	char path[PATH_MAX + 64];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "%s/q/%s/%s", spool, c, sub);
	if ((d = opendir(path)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.') {
			n++;
			if (clear)
				unlinkat(dirfd(d), de->d_name, 0);
		}
	closedir(d);
	return n;
}

static void
setup(void)
{
	static char *custs[] = { "acme", "ship" };

	fuzz_tmpdir(spool, "fuzz-qserv");
	log_init("fuzz-qserv", LOG_TO_STDERR);
	if (spool_prepare(spool, "acme") != RS_OK ||
	    spool_prepare(spool, "ship") != RS_OK ||
	    (qs = qserv_new(spool, custs, NULL, 2, 1 << 20)) == NULL)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned char buf[CHAN_MAX];
	struct qsclient *c;
	struct chan_wr w;
	size_t at = 0, n, k, len;
	int sv[2], gone = 0;
	uint32_t id;
	uint8_t type;

	if (qs == NULL)
		setup();
	if (chan_pair(sv) == -1 || fcntl(sv[0], F_SETFL, O_NONBLOCK) == -1 ||
	    fcntl(sv[1], F_SETFL, O_NONBLOCK) == -1)
		abort();
	if ((c = qserv_client(qs, sv[1], "127.0.0.1", 1)) == NULL)
		abort();
	tick[0] = '\0';
	answers(sv[0]);
	while (!gone && at + 3 <= size) {
		type = data[at];
		n = (size_t)data[at + 1] << 8 | data[at + 2];
		at += 3;
		if (n > size - at)
			n = size - at;
		if (type == 0xff) {
			chan_wr_init(&w, buf, sizeof(buf));
			chan_put_u32(&w, n > 0 ? data[at] : 1);
			chan_put_u32(&w, 0);
			chan_put_str(&w, tick[0] != '\0' ? tick : NULL);
			k = n > 0 ? n - 1 : 0;
			if (k > sizeof(buf) - w.len)
				k = sizeof(buf) - w.len;
			memcpy(buf + w.len, data + at + 1, k);
			len = w.len + k;
			type = QM_OPEN;
		} else {
			len = n < sizeof(buf) ? n : sizeof(buf);
			memcpy(buf, data + at, len);
		}
		id = type == QM_DATA && n > 0 ? data[at] : 0;
		at += n;
		if (chan_send(sv[0], type, id, buf, len, -1) == -1)
			break;
		if (qserv_input(qs, c) == -1)
			gone = 1;
		answers(sv[0]);
	}
	qserv_close(c);
	close(sv[0]);
	if (files("acme", "tmp", 0) + files("ship", "tmp", 0) != 0)
		abort();	/* a closed session left a tmp file */
	files("acme", "new", 1);	/* what it queued, gone for the next */
	files("ship", "new", 1);
	return 0;
}
