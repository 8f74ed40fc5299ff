/*
 * lookupd.c - bridged's lookup process (bridged -x lookup, exec'd by
 * the root spawner when bridged was started as root, and then the
 * lookup user of its own, or else by the master as its user): it
 * reads the configuration, routes,
 * recipient lists and secrets itself and makes every policy decision
 * of the sessions (lookup.h) over lproto.h.  The master hands it one
 * end of each session's socket pair with the serial and the peer
 * address accept() gave, the key of the recipient verdicts and the
 * usage table; it asks the master for the flushes of the ETRNs it
 * authorised, to be counted and run (LM_COUNT), and hands it the connections of the ATRNs it
 * allowed (LM_TURN).  One poll loop; each request is answered
 * before the next is read.  Each session's first message is its
 * client's name (LM_NAME), sent when the reverse DNS threads
 * (resolve.h) have it.
 *
 * Invariants: the master's socket is fd 3; what a session says of
 * itself is used for the log only; a session that sends what
 * lproto.h does not allow, or does not take its answer, is cut off;
 * a reload that fails keeps the configuration it has; SIGTERM or the
 * master's end of file stops it.  Started as root it keeps none of it:
 * it reads its configuration again as the lookup user before it says
 * it is ready, so a reload can read what the start did.
 */
#include <sys/types.h>
#include <sys/resource.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chan.h"
#include "conf.h"
#include "log.h"
#include "proc.h"
#include "lookup.h"
#include "lproto.h"
#include "penalty.h"
#include "resolve.h"
#include "util.h"
#include "lookupd.h"

#define LOOKUPD_MAX	4096	/* sessions served at once */
#define LOOKUPD_QUEUE	256	/* flush requests waiting for the master */

struct lsession {
	int	sock;
	struct lookup_sess ls;
};

static int send_name(struct lsession *);
static int answer(struct lsession *, const struct lookup_reply *);

static volatile sig_atomic_t stop;
static struct lookup_srv srv;
static struct penalty pen;	/* AUTH failures, ETRNs (penalty.h) */
static struct bridge_conf *conf;
static struct chan master;
static const char *path;

static void
on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

/* to_master_turn - an allowed ATRN's connection to the master. */
static int
to_master_turn(void *arg, const char *customer, const char *addr,
    const char *name, int fd)
{
	unsigned char buf[512];
	struct chan_wr w;

	(void)arg;
	chan_wr_init(&w, buf, sizeof(buf));
	chan_put_str(&w, customer);
	chan_put_str(&w, addr);
	chan_put_str(&w, name);
	if (w.err || chan_queue(&master, LM_TURN, 0, w.p, w.len, fd) == -1)
		return -1;
	(void)chan_flush(&master);	/* the descriptor is the queue's now */
	return 0;
}

/* to_master_count - an authorised ETRN, to be counted and flushed. */
static int
to_master_count(void *arg, const struct lookup_sess *ls,
    char *const *customers, char *const *domains, int n)
{
	unsigned char buf[8192];
	struct chan_wr w;
	int i;

	(void)arg;
	chan_wr_init(&w, buf, sizeof(buf));
	chan_put_u32(&w, ls->serial);
	chan_put_str(&w, ls->peer);
	chan_put_u32(&w, (uint32_t)n);
	for (i = 0; i < n; i++) {
		chan_put_str(&w, customers[i]);
		chan_put_str(&w, domains[i]);
	}
	if (w.err || chan_queue(&master, LM_COUNT, 0, w.p, w.len, -1) == -1)
		return -1;
	return chan_flush(&master) == -1 ? -1 : 0;
}


/*
 * counted - LM_COUNTED: the answer of the session's ETRN; one for a
 * session that has gone is dropped, one that does not parse is fatal
 * (the master is not hostile, so it is a bug).
 */
static void
counted(struct chan_rd *r, struct lsession *ss, int nss)
{
	uint64_t counts[ETRN_CUST_MAX];
	struct lookup_reply rep;
	uint32_t serial, n, i;
	int k;

	serial = chan_get_u32(r);
	n = chan_get_u32(r);
	if (n > ETRN_CUST_MAX)
		r->err = 1;
	for (i = 0; i < n && !r->err; i++)
		counts[i] = chan_get_u64(r);
	if (chan_get_end(r) != 0)
		log_fatalx(EXIT_SOFTWARE, "lookup: a malformed count from "
		    "the master");
	for (k = 0; k < nss; k++) {
		if (ss[k].sock == -1 || ss[k].ls.serial != serial)
			continue;
		if (lookup_etrn_counted(&ss[k].ls, counts, (int)n, &rep) &&
		    answer(&ss[k], &rep) == -1) {
			close(ss[k].sock);
			ss[k].sock = -1;
		}
		return;
	}
}

/* reload - LM_RELOAD: the configuration again, or the old one kept. */
static void
reload(void)
{
	struct bridge_conf *nc;

	if ((nc = conf_load_logged(path)) == NULL) {
		log_warnx("lookup: reload failed: keeping the old "
		    "configuration");
		return;
	}
	conf_free(conf);
	conf = nc;
	srv.conf = nc;
}

/* from_master - its messages; -1 when it has gone. */
static int
from_master(struct chan_msg *m, struct lsession *ss, int *nss)
{
	struct resolved res;
	struct chan_rd r;
	struct usage *u;
	char peer[64];
	uint32_t serial, kind;
	int n, i;

	for (i = 0; i < 64; i++) {
		n = chan_recv(master.sock, m);
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		chan_rd_init(&r, m);
		switch (m->type) {
		case LM_KEY:
			if (chan_get_bytes(&r, srv.key, sizeof(srv.key)) !=
			    sizeof(srv.key) || chan_get_end(&r) != 0)
				log_fatalx(EXIT_SOFTWARE, "lookup: a "
				    "malformed key");
			srv.have_key = 1;
			break;
		case LM_USAGE:
			if (m->fd == -1 || (u = usage_attach(m->fd)) == NULL) {
				log_warnx("lookup: a bad usage table: quotas "
				    "read the spool");
				if (m->fd != -1)
					close(m->fd);
				break;
			}
			m->fd = -1;
			usage_destroy(srv.usage);
			srv.usage = u;
			break;
		case LM_RELOAD:
			reload();
			break;
		case LM_COUNTED:
			counted(&r, ss, *nss);
			break;
		case LM_CLIENT:
			serial = chan_get_u32(&r);
			kind = chan_get_u32(&r);
			chan_get_str(&r, peer, sizeof(peer));
			if (m->fd == -1 || chan_get_end(&r) != 0 ||
			    kind > LOOKUP_PIPE) {
				log_warnx("lookup: a malformed client from "
				    "the master");
				break;
			}
			if (*nss >= LOOKUPD_MAX ||
			    fcntl(m->fd, F_SETFL, O_NONBLOCK) == -1) {
				log_warnx("lookup: session %u not served",
				    serial);
				break;
			}
			ss[*nss].sock = m->fd;
			m->fd = -1;
			lookup_sess_init(&ss[*nss].ls, serial, (int)kind, peer);
			if (!ss[*nss].ls.named && resolve_ask(serial, peer,
			    &res) == 1)
				lookup_named(&ss[*nss].ls, res.name);
			if (ss[*nss].ls.named && send_name(&ss[*nss]) == -1) {
				close(ss[*nss].sock);
				break;
			}
			(*nss)++;
			break;
		default:
			log_warnx("lookup: unexpected message %u from the "
			    "master", m->type);
		}
		if (m->fd != -1)
			close(m->fd);
	}
	return 0;
}

/* send_name - LM_NAME, the first message to a session; -1 as answer. */
static int
send_name(struct lsession *s)
{
	unsigned char buf[300];
	struct chan_wr w;

	chan_wr_init(&w, buf, sizeof(buf));
	chan_put_str(&w, s->ls.name);
	if (w.err || chan_send(s->sock, LM_NAME, 0, w.p, w.len, -1) == -1) {
		log_warnx("lookup: session %u (%s): does not take its name: "
		    "cut off", s->ls.serial, s->ls.peer);
		return -1;
	}
	return 0;
}

/* answer - r to session s; -1 when it does not take it (logged). */
static int
answer(struct lsession *s, const struct lookup_reply *r)
{
	static unsigned char buf[1024];
	struct chan_wr w;

	chan_wr_init(&w, buf, sizeof(buf));
	lookup_reply_put(&w, r);
	if (w.err || chan_send(s->sock, LM_REPLY, 0, w.p, w.len, -1) == -1) {
		log_warnx("lookup: session %u (%s): does not take its "
		    "answers: cut off", s->ls.serial, s->ls.peer);
		return -1;
	}
	return 0;
}

/*
 * names - the reverse DNS answers that came, each to its session
 * (LM_NAME); one for a session that has gone is dropped.  A session
 * that does not take it is closed.
 */
static void
names(struct lsession *ss, int nss)
{
	struct resolved res;
	int i, k;

	for (k = 0; k < 64 && resolve_answer(&res); k++)
		for (i = 0; i < nss; i++) {
			if (ss[i].sock == -1 || ss[i].ls.serial != res.serial ||
			    ss[i].ls.named)
				continue;
			lookup_named(&ss[i].ls, res.name);
			if (send_name(&ss[i]) == -1) {
				close(ss[i].sock);
				ss[i].sock = -1;
			}
			break;
		}
}

/*
 * serve - the requests one session has sent; -1 when it closed or is
 * cut off (then its socket is to be closed).
 */
static int
serve(struct lsession *s, struct chan_msg *m)
{
	struct lookup_reply r;
	int n, i;

	for (i = 0; i < 16; i++) {
		n = chan_recv(s->sock, m);
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK ||
		    errno == EINTR))
			return 0;
		if (n == -1 && (errno == EPROTO || errno == EMSGSIZE))
			log_warnx("lookup: session %u (%s): a malformed "
			    "message: cut off", s->ls.serial, s->ls.peer);
		if (n <= 0)
			return -1;
		switch (lookup_serve(&srv, &s->ls, m, &r)) {
		case -1:
			if (m->fd != -1)
				close(m->fd);
			return -1;
		case 0:
			continue;
		}
		if (m->fd != -1) {	/* an ATRN's that was not handed on */
			close(m->fd);
			m->fd = -1;
		}
		if (answer(s, &r) == -1)
			return -1;
	}
	return 0;
}

/*
 * drop - started as root (by the spawner): no core file (it holds the
 * secrets it read), then lookup-user for good, with no group but its
 * own; fatal when any of it fails.
 */
static void
drop(const struct bridge_conf *c)
{
	struct rlimit rl = { 0, 0 };
	char err[1024];
	uid_t uid;
	gid_t gid;

	if (conf_lookup_check(c, &uid, &gid, err, sizeof(err)) == -1)
		log_fatalx(EXIT_CONFIG, "lookup: %s", err);
	if (setrlimit(RLIMIT_CORE, &rl) == -1)
		log_fatal(EXIT_OSERR, "lookup: setrlimit");
	if (setgroups(1, &gid) == -1 || setgid(gid) == -1 ||
	    setuid(uid) == -1)
		log_fatal(EXIT_OSERR, "lookup: cannot become uid %ld",
		    (long)uid);
	if (setuid(0) != -1 || geteuid() == 0 || getegid() == 0)
		log_fatalx(EXIT_OSERR, "lookup: still root after the drop");
}

void
lookup_main(const char *conf_path)
{
	static struct chan_msg m;
	static struct lsession ss[LOOKUPD_MAX];
	struct pollfd *pfd;
	sigset_t waitmask;
	int nss = 0, nold, i, k, n, rfd;

	proc_child_signals(on_stop, &waitmask);
	path = conf_path;
	if ((conf = conf_load_logged(path)) == NULL)
		log_fatalx(EXIT_CONFIG, "lookup: %s: no configuration", path);
	if (geteuid() == 0) {
		drop(conf);
		conf_free(conf);
		/* what a reload reads, read now as that user */
		if ((conf = conf_load_logged(path)) == NULL)
			log_fatalx(EXIT_CONFIG, "lookup: %s cannot be read as "
			    "uid %ld (lookup-user): make it and the files it "
			    "names readable by that user", path,
			    (long)getuid());
	}
	srv.conf = conf;
	srv.pen = &pen;
	srv.turn = to_master_turn;
	srv.count = to_master_count;
	chan_init(&master, 3, LOOKUPD_QUEUE);
	if (fcntl(master.sock, F_SETFL, O_NONBLOCK) == -1 ||
	    chan_send(master.sock, LM_READY, 0, NULL, 0, -1) == -1)
		log_fatal(EXIT_OSERR, "lookup: telling the master");
	rfd = resolve_start();
	if ((pfd = calloc(LOOKUPD_MAX + 2, sizeof(*pfd))) == NULL)
		log_fatal(EXIT_OSERR, "lookup");
	log_debug("lookup: ready, %d customers", conf->ncustomers);
	while (!stop) {
		pfd[0].fd = master.sock;
		pfd[0].events = POLLIN | (master.queued > 0 ? POLLOUT : 0);
		for (i = 0; i < nss; i++) {
			pfd[1 + i].fd = ss[i].sock;
			pfd[1 + i].events = POLLIN;
		}
		pfd[1 + nss].fd = rfd;
		pfd[1 + nss].events = POLLIN;
		pfd[1 + nss].revents = 0;
		n = ppoll(pfd, (nfds_t)(2 + nss), NULL, &waitmask);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			log_fatal(EXIT_OSERR, "lookup: poll");
		}
		nold = nss;
		if (pfd[1 + nss].revents & POLLIN)
			names(ss, nss);
		if (pfd[0].revents & POLLOUT)
			(void)chan_flush(&master);
		if ((pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) &&
		    from_master(&m, ss, &nss) == -1)
			break;
		/* the sessions polled, in place; new ones wait a round */
		for (i = k = 0; i < nss; i++) {
			if (ss[i].sock == -1)
				continue;	/* names() cut it off */
			if (i < nold && pfd[1 + i].fd == ss[i].sock &&
			    (pfd[1 + i].revents & (POLLIN | POLLHUP |
			    POLLERR)) && serve(&ss[i], &m) == -1) {
				close(ss[i].sock);
				continue;
			}
			ss[k++] = ss[i];
		}
		nss = k;
	}
	log_debug("lookup: stopping");
	_exit(EXIT_OK);
}
