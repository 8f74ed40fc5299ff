/*
 * lookup.c - fuzz harness for the lookup process's side of lproto.h
 * (etrn/lookup.c with cram.c, addr.c, routes.c, rcptlist.c): the input
 * is a run of requests one compromised session could send, each
 * "type (1 octet), length (2 octets, little end), payload", served in
 * order on one session whose kind is the first octet's low two bits.
 * lookup_serve must not crash; every answer it gives must survive its
 * own framing (lookup_reply_put, then lookup_reply_get); nothing it
 * hands on (flush, turn) may name a customer that does not exist.
 * The configuration is built in (two customers, a recipient list, a
 * secret, routes with an error: value) with a verdict key; the spool
 * is a temp directory per run.
 */
#include <sys/types.h>

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chan.h"
#include "conf.h"
#include "fuzztmp.h"
#include "log.h"
#include "lookup.h"
#include "lproto.h"
#include "queue.h"
#include "rcptlist.h"
#include "routes.h"
#include "util.h"
#include "verdict.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static char spool[PATH_MAX];
static struct customer custs[2];
static struct cidr nets[1];
static struct bridge_conf conf;
static struct lookup_srv srv;
static struct chan_msg m, back;
static int ready;

static const char routes_text[] =
    "acme.test      acme\n"
    ".acme.test     acme\n"
    "ship.test      ship\n"
    "gone.test      error:5.1.2 this domain has moved\n";

static void
known(const char *name)
{
	if (conf_customer(&conf, name) == NULL)
		abort();
}

static int
on_flush(void *arg, const char *req)
{
	char name[64];

	(void)arg;
	if (sscanf(req, "flush %63s", name) != 1)
		abort();
	known(name);
	return 0;
}

static int
on_turn(void *arg, const char *customer, const char *addr, const char *name,
    int fd)
{
	(void)arg;
	(void)addr;
	(void)name;
	(void)fd;
	known(customer);
	return -1;		/* keep the descriptor: there is none */
}

static void
rm(const char *name)
{
	char path[PATH_MAX + 64];

	snprintf(path, sizeof(path), "%s/%s", spool, name);
	unlink(path);
}

static void
cleanup(void)
{
	char path[PATH_MAX + 64];
	static const char *sub[] = { "tmp", "new", "corrupt", "" };
	int i, j;

	rm("acme.users");
	rm("ship.secret");
	for (i = 0; i < 2; i++)
		for (j = 0; j < 4; j++) {
			snprintf(path, sizeof(path), "%s/q/%s/%s", spool,
			    custs[i].name, sub[j]);
			rmdir(path);
		}
	snprintf(path, sizeof(path), "%s/q", spool);
	rmdir(path);
	rmdir(spool);
}

static void
setup(void)
{
	char path[PATH_MAX + 64];
	int nerr = 0, i;

	fuzz_tmpdir(spool, "fuzz-lookup");
	atexit(cleanup);
	log_init("fuzz-lookup", LOG_TO_STDERR);
	fuzz_file(spool, "acme.users", "alice\nbob@acme.test\n", 20, 1);
	snprintf(path, sizeof(path), "%s/acme.users", spool);
	custs[0].name = "acme";
	custs[0].rcpts = rcptlist_load(path, stderr, &nerr);
	custs[0].release = REL_ETRN | REL_ODMR;
	cidr_parse("192.0.2.0/24", &nets[0]);
	custs[0].etrn_from = nets;
	custs[0].netrn_from = 1;
	fuzz_file(spool, "ship.secret", "tanstaafl\n", 10, 1);
	snprintf(path, sizeof(path), "%s/ship.secret", spool);
	custs[1].name = "ship";
	custs[1].secret = strdup(path);
	custs[1].quota = 100000;
	custs[1].release = REL_ETRN | REL_ODMR;
	conf.hostname = "hub.test";
	conf.spool = spool;
	conf.smtp.max_size = 20000;
	conf.customers = custs;
	conf.ncustomers = 2;
	conf.routes = routes_load_buf("routes", routes_text, stderr, &nerr);
	if (conf.routes == NULL || nerr != 0 || custs[0].rcpts == NULL)
		abort();
	for (i = 0; i < 2; i++)
		if (spool_prepare(spool, custs[i].name) != RS_OK)
			abort();
	srv.conf = &conf;
	srv.flush = on_flush;
	srv.turn = on_turn;
	if (verdict_key_new(srv.key) == -1)
		abort();
	srv.have_key = 1;
	ready = 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *peers[] = { "192.0.2.1", "198.51.100.7", "unix",
	    "uid 0" };
	struct lookup_sess ls;
	struct lookup_reply r, g;
	struct chan_wr w;
	size_t off = 1, len;

	if (!ready)
		setup();
	if (size == 0)
		return 0;
	lookup_sess_init(&ls, 7, data[0] & 3, peers[(data[0] >> 2) & 3]);
	while (off + 3 <= size) {
		m.type = data[off];
		len = (size_t)data[off + 1] | (size_t)data[off + 2] << 8;
		off += 3;
		if (len > size - off)
			len = size - off;
		memcpy(m.data, data + off, len);
		m.len = (uint32_t)len;
		m.fd = -1;
		off += len;
		switch (lookup_serve(&srv, &ls, &m, &r)) {
		case -1:
			return 0;	/* cut off: the session is over */
		case 0:
			continue;
		}
		chan_wr_init(&w, back.data, sizeof(back.data));
		lookup_reply_put(&w, &r);
		back.type = LM_REPLY;
		back.len = (uint32_t)w.len;
		back.fd = -1;
		if (w.err || lookup_reply_get(&back, &g) != 0 ||
		    g.code != r.code || g.close != r.close ||
		    g.have_token != r.have_token)
			abort();
		if (r.customer[0] != '\0')
			known(r.customer);
	}
	return 0;
}
