/*
 * lookupd.c - bridged's lookup process (bridged -x lookup, exec'd by
 * the master as the hub's user): it reads the configuration, routes,
 * recipient lists and secrets itself and makes every policy decision
 * of the sessions (lookup.h) over lproto.h.  The master hands it one
 * end of each session's socket pair with the serial and the peer
 * address accept() gave, the key of the recipient verdicts and the
 * usage table; it asks the master for the flushes of the ETRNs it
 * authorised (LM_FLUSH) and hands it the connections of the ATRNs it
 * allowed (LM_TURN).  One poll loop; each request is answered
 * before the next is read.  Each session's first message is its
 * client's name (LM_NAME), sent when the reverse DNS threads
 * (resolve.h) have it.
 *
 * Invariants: the master's socket is fd 3; what a session says of
 * itself is used for the log only; a session that sends what
 * lproto.h does not allow, or does not take its answer, is cut off;
 * a reload that fails keeps the configuration it has; SIGTERM or the
 * master's end of file stops it.
 */
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
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

static volatile sig_atomic_t stop;
static struct lookup_srv srv;
static struct bridge_conf *conf;
static struct chan master;
static const char *path;

static void
on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

/* to_master - an authorised ETRN's flush request (lookup.h). */
static int
to_master(void *arg, const char *req)
{
	(void)arg;
	if (chan_queue(&master, LM_FLUSH, 0, req, strlen(req), -1) == -1)
		return -1;
	return chan_flush(&master) == -1 ? -1 : 0;
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
	srv.conf = conf;
	srv.flush = to_master;
	srv.turn = to_master_turn;
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
