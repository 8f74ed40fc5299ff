/*
 * unit-qserv.c - the queue process's protocol (spoolfmt/qserv.c) and
 * intake's side of it (spoolfmt/qclient.c): a whole message through
 * the client into new/, copies for a second customer, the all-or-none
 * commit, and everything a compromised session could try on the raw
 * socket: another peer's address, an entry it never opened, data or a
 * commit out of order, a descriptor, an unknown message, a message
 * over the size limit, going away with entries open.  Each must be
 * refused (cut off and logged) and leave nothing in new/ or tmp/.
 * Quotas are checked at the commit, against the usage table's count
 * or the spool, and every committed copy is counted.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chan.h"
#include "log.h"
#include "qclient.h"
#include "qproto.h"
#include "qserv.h"
#include "queue.h"
#include "verdict.h"
#include "tap.h"

static char spool[4096];
static char *custs[] = { "acme", "ship" };
static struct chan_msg m;

/* entries - files in q/<c>/<sub>, removed too with drop; -1 if none. */
static int
entries(const char *c, const char *sub, int drop)
{
	char path[4200];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "%s/q/%s/%s", spool, c, sub);
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.') {
			n++;
			if (drop && unlinkat(dirfd(d), de->d_name, 0) == -1)
				ok(0, "remove %s/%s", path, de->d_name);
		}
	closedir(d);
	return n;
}

static int
count(const char *c, const char *sub)
{
	return entries(c, sub, 0);
}

/* clear - empty new/ and tmp/ of both queues. */
static void
clear(void)
{
	entries("acme", "new", 1);
	entries("acme", "tmp", 1);
	entries("ship", "new", 1);
	entries("ship", "tmp", 1);
}

static int
rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

/* env - a small envelope for customer c. */
static void
env_for(struct qenv *e, const char *c, const char *client)
{
	static char *rcpts[] = { "alice@acme.example", "bob@acme.example" };

	memset(e, 0, sizeof(*e));
	strlcpy_(e->customer, c, sizeof(e->customer));
	e->protocol = "ESMTP";
	e->client = (char *)client;
	e->helo = "client.example";
	e->sender = "s@example.org";
	e->rcpts = rcpts;
	e->nrcpts = 2;
}

/* --- raw messages, as a hostile session would send them --- */

static char tick[QID_LEN];	/* the session's ticket */
static const char *raw_id;	/* the id raw_env sends: NULL, the ticket */
static unsigned char raw_tok[VERDICT_LEN];	/* raw_rcpt's verdict token */

/* read_ticket - the QM_TICKET the queue sent into tick: 0, or -1. */
static int
read_ticket(int sock)
{
	struct chan_rd r;

	if (chan_recv(sock, &m) != 1 || m.type != QM_TICKET)
		return -1;
	chan_rd_init(&r, &m);
	chan_get_str(&r, tick, sizeof(tick));
	return chan_get_end(&r) == 0 && qid_is_valid(tick) ? 0 : -1;
}

/* raw_env - QM_OPEN of entry 1 with no recipient: QM_RCPT follows. */
static void
raw_env(int sock, const char *cust, const char *client, uint32_t nrcpts)
{
	unsigned char buf[1024];
	struct chan_wr w;

	chan_wr_init(&w, buf, sizeof(buf));
	chan_put_u32(&w, 1);
	chan_put_u32(&w, 0);
	chan_put_str(&w, raw_id != NULL ? raw_id : tick);
	chan_put_str(&w, cust);
	chan_put_u32(&w, 0);
	chan_put_str(&w, "ESMTP");
	chan_put_str(&w, client);
	chan_put_str(&w, "h.example");
	chan_put_str(&w, "s@example.org");
	chan_put_str(&w, NULL);
	chan_put_u32(&w, 0);
	chan_put_u32(&w, nrcpts);
	chan_put_u32(&w, 0);
	chan_send(sock, QM_OPEN, 0, w.p, w.len, -1);
}

static void
raw_rcpt(int sock, const char *addr)
{
	unsigned char buf[1024];
	struct chan_wr w;

	chan_wr_init(&w, buf, sizeof(buf));
	chan_put_u32(&w, 1);
	chan_put_str(&w, addr);
	chan_put_u32(&w, 0);
	chan_put_str(&w, NULL);
	chan_put_bytes(&w, raw_tok, VERDICT_LEN);
	chan_send(sock, QM_RCPT, 0, w.p, w.len, -1);
}

/* raw_alice - a whole envelope, for alice@acme.example. */
static void
raw_alice(int sock)
{
	raw_env(sock, "acme", "c [127.0.0.1]", 1);
	raw_rcpt(sock, "alice@acme.example");
}

/* end - the session over, on both sides. */
static void
end(struct qsclient *c, int sock)
{
	qserv_close(c);
	close(sock);
}

/* serve - let the queue read what is there: what qserv_input said. */
static int
serve(struct qserv *qs, struct qsclient *c)
{
	return qserv_input(qs, c);
}

/* session - a fresh client of qs with peer 127.0.0.1; *sock its end. */
static struct qsclient *
session(struct qserv *qs, int *sock)
{
	struct qsclient *c;
	int sv[2];

	if (chan_pair(sv) == -1)
		return NULL;
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	*sock = sv[0];
	c = qserv_client(qs, sv[1], "127.0.0.1", 7);
	if (c != NULL && read_ticket(sv[0]) == -1)
		ok(0, "a ticket comes with the session");
	return c;
}

/*
 * opened - after an open of entry 1 with the ticket: the id it got and
 * the next ticket, which the queue sends at once (RS_OK), else 99.
 */
static uint32_t
opened(int sock, uint32_t *entry, char *id, size_t idlen)
{
	*entry = 1;
	strlcpy_(id, tick, idlen);
	return read_ticket(sock) == 0 && strcmp(tick, id) != 0 ? RS_OK : 99;
}

/* committed - the result of the first entry in a QM_COMMITTED, or 99. */
static uint32_t
committed(int sock)
{
	struct chan_rd r;

	if (chan_recv(sock, &m) != 1 || m.type != QM_COMMITTED)
		return 99;
	chan_rd_init(&r, &m);
	chan_get_u32(&r);
	return chan_get_u32(&r);
}

/* commit1 - QM_COMMIT of entry e alone. */
static void
commit1(int sock, uint32_t e)
{
	uint32_t p[4] = { 0, 1, e, 0 };

	chan_send(sock, QM_COMMIT, 0, p, sizeof(p), -1);
}

static void
test_hostile(void)
{
	struct qserv *qs;
	struct qsclient *c;
	uint32_t entry;
	char id[QID_LEN];
	int s, sv[2];

	qs = qserv_new(spool, custs, NULL, 2, 1000);
	ok(qs != NULL, "queue state made");

	/* a well-behaved raw session first */
	c = session(qs, &s);
	raw_env(s, "acme", "c.example [127.0.0.1]", 1);
	raw_rcpt(s, "alice@acme.example");
	is_int(serve(qs, c), 0, "envelope, recipient, open: served");
	is_int(opened(s, &entry, id, sizeof(id)), RS_OK,
	    "opened, unanswered; the next ticket comes at once");
	ok(qid_is_valid(id), "the entry's id is the ticket the queue gave");
	is_int(count("acme", "tmp"), 0,
	    "no tmp file yet: it is made at the commit, on a commit thread");
	chan_send(s, QM_DATA, entry, "Subject: x\r\n\r\nhi\r\n", 18, -1);
	{
		uint32_t p[4] = { 0, 1, entry, 0 };

		chan_send(s, QM_COMMIT, 0, p, sizeof(p), -1);
	}
	is_int(serve(qs, c), 0, "data and commit served");
	ok(chan_recv(s, &m) == 1 && m.type == QM_COMMITTED,
	    "commit answered");
	is_int(count("acme", "new"), 1, "the entry is in new/");
	{
		char path[4300];

		snprintf(path, sizeof(path), "%s/q/acme/new/%s", spool, id);
		ok(access(path, F_OK) == 0, "under the ticket's id");
	}
	is_int(count("acme", "tmp"), 0, "tmp/ is empty");
	end(c, s);
	clear();

	/* another peer's address */
	c = session(qs, &s);
	raw_env(s, "acme", "mx.example [192.0.2.9]", 1);
	is_int(serve(qs, c), -1, "a client line with another address: cut off");
	ok(strstr(log_last_warning(), "claims another peer address") != NULL,
	    "and logged: %s", log_last_warning());
	end(c, s);

	/* a peer address as a suffix of a longer one */
	c = session(qs, &s);
	raw_env(s, "acme", "x [10.127.0.0.1]", 1);
	is_int(serve(qs, c), -1, "an address ending in the peer's: cut off");
	end(c, s);

	/* data for an entry it never opened */
	c = session(qs, &s);
	chan_send(s, QM_DATA, 3, "x", 1, -1);
	is_int(serve(qs, c), -1, "data for entry 3, never opened: cut off");
	ok(strstr(log_last_warning(), "does not have") != NULL,
	    "and logged: %s", log_last_warning());
	end(c, s);

	/* commit of an entry it never opened */
	c = session(qs, &s);
	{
		uint32_t p[4] = { 0, 1, 1, 0 };

		chan_send(s, QM_COMMIT, 0, p, sizeof(p), -1);
	}
	is_int(serve(qs, c), -1, "commit without an open entry: cut off");
	end(c, s);

	/* a second envelope before the first is complete */
	c = session(qs, &s);
	raw_env(s, "acme", "c [127.0.0.1]", 2);
	raw_rcpt(s, "alice@acme.example");
	raw_env(s, "acme", "c [127.0.0.1]", 1);
	is_int(serve(qs, c), -1, "a second envelope, one of two recipients "
	    "sent: cut off");
	is_int(count("acme", "tmp"), 0, "nothing was opened");
	end(c, s);

	/* more recipients than announced */
	c = session(qs, &s);
	raw_alice(s);
	raw_rcpt(s, "bob@acme.example");
	is_int(serve(qs, c), -1, "a recipient more than announced: cut off");
	end(c, s);

	/* a customer that does not exist: an answer, not a cut */
	c = session(qs, &s);
	raw_env(s, "other", "c [127.0.0.1]", 1);
	raw_rcpt(s, "x@other.example");
	is_int(serve(qs, c), 0, "an unknown customer is not cut off");
	opened(s, &entry, id, sizeof(id));
	commit1(s, 1);
	serve(qs, c);
	is_int(committed(s), RS_TEMP, "its commit fails, temporarily");
	ok(strstr(log_last_warning(), "no such customer") != NULL,
	    "logged: %s", log_last_warning());
	ok(access("spool/q/other", F_OK) == -1, "and no queue made for it");
	/* a path in the customer name */
	raw_env(s, "../acme", "c [127.0.0.1]", 1);
	is_int(serve(qs, c), -1, "a customer name with a path: cut off");
	end(c, s);

	/* a descriptor */
	c = session(qs, &s);
	chan_send(s, QM_ABORT, 0, &(uint32_t){ 1 }, 4, 0);
	is_int(serve(qs, c), -1, "a message with a descriptor: cut off");
	end(c, s);

	/* an unknown message type */
	c = session(qs, &s);
	chan_send(s, 77, 0, NULL, 0, -1);
	is_int(serve(qs, c), -1, "an unknown message: cut off");
	end(c, s);

	/* going away with an entry open: its tmp file goes */
	c = session(qs, &s);
	raw_alice(s);
	serve(qs, c);
	opened(s, &entry, id, sizeof(id));
	chan_send(s, QM_DATA, entry, "half a mess", 11, -1);
	close(s);
	is_int(serve(qs, c), -1, "data, then end of file");
	is_int(count("acme", "tmp"), 0, "a small message never made a tmp file");
	qserv_close(c);
	is_int(count("acme", "tmp"), 0, "closing the session removes it");
	is_int(count("acme", "new"), 0, "nothing in new/");

	/* over the size limit (1000 octets here) */
	c = session(qs, &s);
	raw_alice(s);
	serve(qs, c);
	opened(s, &entry, id, sizeof(id));
	{
		static char big[1500];
		uint32_t p[4] = { 0, 1, entry, 0 };
		struct chan_rd r;

		memset(big, 'x', sizeof(big));
		chan_send(s, QM_DATA, entry, big, sizeof(big), -1);
		chan_send(s, QM_COMMIT, 0, p, sizeof(p), -1);
		serve(qs, c);
		ok(chan_recv(s, &m) == 1 && m.type == QM_COMMITTED,
		    "commit of a message too big answered");
		chan_rd_init(&r, &m);
		chan_get_u32(&r);
		is_int(chan_get_u32(&r), RS_PERM, "with a permanent failure");
	}
	is_int(count("acme", "new") + count("acme", "tmp"), 0,
	    "and nothing kept");
	end(c, s);

	/* an id of its own choosing (one already queued, say) */
	c = session(qs, &s);
	raw_id = "661BA4F3015BB.4CE9.1";
	raw_alice(s);
	raw_id = NULL;
	is_int(serve(qs, c), -1, "an id it was not given: cut off");
	ok(strstr(log_last_warning(), "an id it was not given") != NULL,
	    "and logged: %s", log_last_warning());
	end(c, s);

	/* the ticket used twice */
	c = session(qs, &s);
	raw_alice(s);
	serve(qs, c);
	raw_env(s, "acme", "c [127.0.0.1]", 1);	/* entry 1 again, too */
	raw_rcpt(s, "alice@acme.example");
	is_int(serve(qs, c), -1, "a second open under a number in use: cut off");
	end(c, s);
	c = session(qs, &s);
	strlcpy_(id, tick, sizeof(id));
	raw_alice(s);
	serve(qs, c);
	commit1(s, 1);
	serve(qs, c);
	read_ticket(s);
	committed(s);
	raw_id = id;		/* the spent ticket */
	raw_alice(s);
	raw_id = NULL;
	is_int(serve(qs, c), -1, "a spent ticket: cut off");
	end(c, s);
	clear();
	(void)sv;

	/* with a key, every recipient needs the lookup's verdict */
	{
		unsigned char key[VERDICT_KEY];

		verdict_key_new(key);
		qserv_key(qs, key);
		c = session(qs, &s);
		memset(raw_tok, 0, sizeof(raw_tok));
		raw_alice(s);
		is_int(serve(qs, c), -1, "with a key: a recipient without "
		    "its token: cut off");
		ok(strstr(log_last_warning(), "without the lookup's verdict") !=
		    NULL, "and logged: %s", log_last_warning());
		end(c, s);
		c = session(qs, &s);
		verdict_make(key, 7, "acme", "bob@acme.example", raw_tok);
		raw_alice(s);
		is_int(serve(qs, c), -1, "another recipient's token: cut off");
		end(c, s);
		c = session(qs, &s);
		verdict_make(key, 8, "acme", "alice@acme.example", raw_tok);
		raw_alice(s);
		is_int(serve(qs, c), -1, "another session's token: cut off");
		end(c, s);
		c = session(qs, &s);
		verdict_make(key, 7, "ship", "alice@acme.example", raw_tok);
		raw_alice(s);
		is_int(serve(qs, c), -1, "another customer's token: cut off");
		end(c, s);
		c = session(qs, &s);
		verdict_make(key, 7, "acme", "alice@acme.example", raw_tok);
		raw_alice(s);
		is_int(serve(qs, c), 0, "its own token: opened");
		end(c, s);
		memset(raw_tok, 0, sizeof(raw_tok));
		is_int(count("acme", "tmp"), 0, "nothing left in tmp/");
		clear();

		/* less room than min-free: the commit is refused */
		qserv_min_free(qs, UINT64_MAX / 2);
		c = session(qs, &s);
		verdict_make(key, 7, "acme", "alice@acme.example", raw_tok);
		raw_alice(s);
		serve(qs, c);
		opened(s, &entry, id, sizeof(id));
		chan_send(s, QM_DATA, entry, "Subject: x\r\n\r\nhi\r\n", 18,
		    -1);
		{
			uint32_t p[4] = { 0, 1, entry, 0 };

			chan_send(s, QM_COMMIT, 0, p, sizeof(p), -1);
		}
		is_int(serve(qs, c), 0, "a commit under min-free: served");
		ok(chan_recv(s, &m) == 1 && m.type == QM_COMMITTED &&
		    memmem(m.data, m.len, QUEUE_NOSPACE, strlen(QUEUE_NOSPACE))
		    != NULL, "answered: %s", QUEUE_NOSPACE);
		is_int(count("acme", "new"), 0, "nothing in new/");
		is_int(count("acme", "tmp"), 0, "nor in tmp/");
		end(c, s);
		qserv_min_free(qs, 0);
		memset(raw_tok, 0, sizeof(raw_tok));
		clear();
	}
	qserv_free(qs);
}

/*
 * server - a child serving one session on sock until it closes, as
 * the queue process does.
 */
static pid_t
server(int sock)
{
	struct qserv *qs;
	struct qsclient *c;
	struct pollfd pfd;
	pid_t pid;

	if ((pid = fork()) != 0)
		return pid;
	qs = qserv_new(spool, custs, NULL, 2, 0);
	fcntl(sock, F_SETFL, O_NONBLOCK);
	c = qserv_client(qs, sock, "127.0.0.1", 1);
	for (;;) {
		pfd.fd = sock;
		pfd.events = POLLIN;
		poll(&pfd, 1, -1);
		if (qserv_input(qs, c) == -1)
			break;
	}
	qserv_close(c);
	_exit(0);
}

static void
test_client(void)
{
	struct qlink *l;
	struct qcw *w[2];
	struct qenv e, e2, got;
	enum result res[2];
	char errs[2][256], path[4300], msg[200000];
	off_t off;
	pid_t pid;
	int sv[2], i, n;

	for (i = 0; i < (int)sizeof(msg); i++)
		msg[i] = "abcdefgh\r\n"[i % 10];
	ok(chan_pair(sv) == 0, "socket pair for the client");
	pid = server(sv[1]);
	close(sv[1]);
	l = qlink_chan(sv[0], 10000);
	env_for(&e, "acme", "c.example [127.0.0.1]");
	is_int(qc_open(l, &e, NULL, &w[0], errs[0], 256), RS_OK, "qc_open");
	ok(qid_is_valid(e.id) && e.arrival > 0, "id and arrival from the queue");
	ok(qc_write(w[0], msg, sizeof(msg)) == RS_OK &&
	    qc_write(w[0], msg, 10) == RS_OK, "200 KB written in pieces");
	is_int((int)qc_size(w[0]), (int)sizeof(msg) + 10, "qc_size");
	env_for(&e2, "ship", "c.example [127.0.0.1]");
	is_int(qc_clone(w[0], &e2, NULL, &w[1], errs[1], 256), RS_OK, "qc_clone");
	is_str(e2.id, e.id, "the copy has the same id");
	n = qc_commit(w, 2, 1, res, errs[0], 256);
	is_int(n, 2, "both committed");
	ok(res[0] == RS_OK && res[1] == RS_OK, "each RS_OK");
	q_path(path, sizeof(path), spool, "ship", "new", e.id);
	ok(qenv_read(path, &got, &off, errs[0], 256) == RS_OK &&
	    got.size == sizeof(msg) + 10 && got.nrcpts == 2 &&
	    strcmp(got.customer, "ship") == 0 &&
	    strcmp(got.client, "c.example [127.0.0.1]") == 0,
	    "ship's copy: envelope and size");
	qenv_free(&got);
	clear();

	/* all or none: the second copy's new/ is gone, so the first goes */
	env_for(&e, "acme", "c.example [127.0.0.1]");
	qc_open(l, &e, NULL, &w[0], errs[0], 256);
	qc_write(w[0], "x\r\n", 3);
	env_for(&e2, "ship", "c.example [127.0.0.1]");
	qc_clone(w[0], &e2, NULL, &w[1], errs[1], 256);
	snprintf(path, sizeof(path), "%s/q/ship/new", spool);
	rename(path, "ship-new-aside");
	n = qc_commit(w, 2, 1, res, errs[0], 256);
	rename("ship-new-aside", path);
	is_int(n, 0, "all mode, one copy fails: none queued");
	ok(res[0] != RS_OK && strstr(errs[0], "taken back") != NULL,
	    "the first was taken back: %s", errs[0]);
	is_int(count("acme", "new"), 0, "acme's new/ is empty again");
	clear();

	/* the queue process dies: 451-class, never a hang */
	env_for(&e, "acme", "c.example [127.0.0.1]");
	is_int(qc_open(l, &e, NULL, &w[0], errs[0], 256), RS_OK, "open again");
	qc_write(w[0], "x\r\n", 3);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	n = qc_commit(w, 1, 1, res, errs[0], 256);
	ok(n == 0 && res[0] == RS_TEMP, "queue gone: the commit is temporary");
	ok(strstr(errs[0], "queue process") != NULL, "error: %s", errs[0]);
	env_for(&e, "acme", "c.example [127.0.0.1]");
	is_int(qc_open(l, &e, NULL, &w[0], errs[0], 256), RS_TEMP,
	    "and so is every later open");
	qlink_free(l);
}

/* The usage table's calls, as a table with one count per slot. */
static uint64_t used_v[2];
static int used_fail, adds, add_slot;
static uint64_t add_octets;

static int
t_used(int slot, const char *customer, uint64_t *octets, void *arg)
{
	(void)arg;
	if (used_fail || slot < 0 || slot > 1 ||
	    strcmp(customer, custs[slot]) != 0)
		return -1;
	*octets = used_v[slot];
	return 0;
}

static void
t_add(int slot, const char *customer, uint64_t octets, void *arg)
{
	(void)arg;
	(void)customer;
	adds++;
	add_slot = slot;
	add_octets = octets;
}

/* quota_try - one 18-octet message for customer cust: its result. */
static uint32_t
quota_try(struct qserv *qs, const char *cust, char *err, size_t errlen)
{
	struct qsclient *c;
	struct chan_rd r;
	char id[QID_LEN];
	uint32_t entry, res = 99;
	int s;

	c = session(qs, &s);
	raw_env(s, cust, "c [127.0.0.1]", 1);
	raw_rcpt(s, "alice@acme.example");
	serve(qs, c);
	opened(s, &entry, id, sizeof(id));
	chan_send(s, QM_DATA, entry, "Subject: x\r\n\r\nhi\r\n", 18, -1);
	commit1(s, entry);
	serve(qs, c);
	err[0] = '\0';
	if (chan_recv(s, &m) == 1 && m.type == QM_COMMITTED) {
		chan_rd_init(&r, &m);
		chan_get_u32(&r);
		res = chan_get_u32(&r);
		chan_get_str(&r, err, errlen);
	}
	end(c, s);
	return res;
}

static void
test_quota(void)
{
	static const uint64_t quotas[] = { 100, 0 };
	struct qsusage hooks = { t_used, t_add, NULL };
	struct qserv *qs;
	char err[QP_ERR];

	clear();
	qs = qserv_new(spool, custs, quotas, 2, 0);
	qserv_set_usage(qs, &hooks);
	used_v[0] = 82;
	is_int(quota_try(qs, "acme", err, sizeof(err)), RS_OK,
	    "82 queued + 18 = the quota of 100: taken");
	is_int(count("acme", "new"), 1, "in new/");
	ok(adds == 1 && add_slot == 0 && add_octets == 18,
	    "counted in the table: slot %d, %llu octets", add_slot,
	    (unsigned long long)add_octets);
	used_v[0] = 83;
	is_int(quota_try(qs, "acme", err, sizeof(err)), RS_TEMP,
	    "83 queued + 18: over, refused temporarily");
	is_str(err, QUEUE_OVERQUOTA, "with the error intake turns into 452");
	is_int(count("acme", "new"), 1, "nothing more in new/");
	is_int(count("acme", "tmp"), 0, "nor in tmp/");
	is_int(adds, 1, "and not counted");
	used_v[1] = UINT64_MAX / 2;
	is_int(quota_try(qs, "ship", err, sizeof(err)), RS_OK,
	    "a customer without a quota takes anything");
	is_int(adds, 2, "and is counted too");

	/* the table cannot say (another config's): the spool is read */
	used_fail = 1;
	qserv_set(qs, custs, (const uint64_t[]){ 30, 0 }, 2, 0);
	is_int(quota_try(qs, "acme", err, sizeof(err)), RS_TEMP,
	    "from the spool: an entry there already + 18 > 30: refused");
	qserv_set(qs, custs, (const uint64_t[]){ 1 << 20, 0 }, 2, 0);
	is_int(quota_try(qs, "acme", err, sizeof(err)), RS_OK,
	    "under a quota of 1M after a reload: taken");
	qserv_set_usage(qs, NULL);
	qserv_set(qs, custs, (const uint64_t[]){ 30, 0 }, 2, 0);
	is_int(quota_try(qs, "acme", err, sizeof(err)), RS_TEMP,
	    "without a table at all the spool is read too");
	is_int(adds, 3, "(and nothing counted without one)");
	used_fail = 0;
	qserv_free(qs);
	clear();
}

/* a sweep of tmp/ (a restarted queue's) leaves what a writer holds */
static void
test_sweep(void)
{
	struct qwriter *qw;
	struct qenv e;
	char err[256], path[4300];
	int fd;

	clear();
	env_for(&e, "acme", "c [127.0.0.1]");
	qid_new(e.id, sizeof(e.id));
	e.arrival = time(NULL);
	ok(qw_open(spool, &e, &qw, err, sizeof(err)) == RS_OK, "a live writer");
	snprintf(path, sizeof(path), "%s/q/acme/tmp/stale", spool);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	close(fd);
	spool_sweep_tmp(spool, "acme");
	is_int(count("acme", "tmp"), 1, "the sweep removes the stale file only");
	ok(access(path, F_OK) == -1, "(the stale one)");
	qw_abort(qw);
	is_int(count("acme", "tmp"), 0, "the writer's own goes with it");
}

int
main(void)
{
	char tmpl[] = "/tmp/unit-qserv.XXXXXX";
	signal(SIGPIPE, SIG_IGN);
	log_init("unit-qserv", LOG_TO_STDERR);
	if (mkdtemp(tmpl) == NULL)
		return 1;
	snprintf(spool, sizeof(spool), "%s/spool", tmpl);
	if (chdir(tmpl) == -1 || spool_prepare(spool, "acme") != RS_OK ||
	    spool_prepare(spool, "ship") != RS_OK)
		return 1;
	test_hostile();
	test_client();
	test_quota();
	test_sweep();
	if (chdir("/") == -1 ||
	    nftw(tmpl, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
		ok(0, "remove %s", tmpl);
	return done_testing();
}
