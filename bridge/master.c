/*
 * master.c - bridged's master process: it owns the listening sockets,
 * forks one child per connection (the child runs smtpd_session or
 * odmr_session with blocking reads under poll timeouts; every session
 * gets a socket to the lookup process and an SMTP, LMTP or enqueue one
 * a socket to the queue process, with the serial and the peer address
 * accept() gave handed over to them), counts
 * children against max-clients, reaps them, reloads the config on
 * SIGHUP and shuts down on SIGTERM/SIGINT.  Signals reach the loop
 * through a self-pipe.  It starts the lookup and queue processes
 * (proc.c) and hands each session's sockets to them.  It also takes
 * requests: the counts and flushes of the ETRNs the lookup process
 * authorised (LM_COUNT) and lines from
 * bridgectl on the control socket, and runs the background jobs
 * (jobs.c) they and the clock ask for.
 *
 * Invariants: the master never reads from a client, so no client can
 * delay another (control connections are read without blocking and
 * dropped after CTL_WAIT seconds); it takes no request from a session,
 * and checks the lookup's count requests again: the customer must
 * exist, the address must be numeric and a domain normalised and the
 * customer's; a child keeps the config it was forked with (its
 * decisions are the lookup's, which reloads with the master); a failed
 * reload changes nothing; at shutdown children and workers get SIGTERM
 * and up to SHUTDOWN_WAIT seconds to finish or abort.  Only the
 * master's own children are reaped, each by the table it is in.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chan.h"
#include "jobs.h"
#include "log.h"
#include "lookup.h"
#include "lproto.h"
#include "odmr.h"
#include "qproto.h"
#include "queue.h"
#include "spawner.h"
#include "tls.h"
#include "util.h"
#include "master.h"

#define SHUTDOWN_WAIT	10	/* seconds for children after SIGTERM */
#define USAGE_REFRESH	60	/* seconds between usage re-reads */
#define ACCEPT_BURST	32	/* accepts per listener per wakeup */
#define LISTEN_BACKLOG	128
#define CTL_WAIT	5	/* seconds for a control request line */
#define REQ_BURST	64	/* session requests per wakeup */

static const char *const kind_names[] = { "SMTP", "LMTP", "ODMR",
	"enqueue" };

static int sigfd = -1;			/* write end of the self-pipe */

static void
master_sig(int sig)
{
	unsigned char c = (unsigned char)sig;
	int saved = errno;

	if (sigfd != -1)
		(void)write(sigfd, &c, 1);
	errno = saved;
}

int
master_signals(struct master *m)
{
	struct sigaction sa;

	if (pipe2(m->sigpipe, O_CLOEXEC | O_NONBLOCK) == -1)
		return -1;
	sigfd = m->sigpipe[1];
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = master_sig;
	sigaction(SIGCHLD, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	return 0;
}

/* unix_live - is somebody accepting on the unix socket sun? */
static int
unix_live(const struct sockaddr_un *sun, socklen_t len)
{
	int fd, live;

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return 0;
	live = connect(fd, (const struct sockaddr *)sun, len) == 0;
	close(fd);
	return live;
}

/*
 * bind_unix - a fresh unix socket at path, mode 0666 from the umask at
 * bind (no chmod by path), or 0660 and given to group when one is set
 * (lchown, in a directory nobody else can change); its directory is
 * made 0755 if missing and
 * must be safe (sock_dir_safe); a stale socket is replaced, a live one
 * or anything that is not a socket is left and refused.
 */
static int
bind_unix(int fd, const struct sockaddr_un *sun, socklen_t len,
    const char *spec, const char *group)
{
	struct group *gr = NULL;
	char dir[sizeof(sun->sun_path)], why[PATH_MAX + 128], *slash;
	struct stat st;
	mode_t old;
	int rc, saved;

	if (group != NULL && (gr = getgrnam(group)) == NULL) {
		log_warnx("listen %s: group %s does not exist", spec, group);
		return -1;
	}
	strlcpy_(dir, sun->sun_path, sizeof(dir));
	if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		old = umask(022);
		rc = dir_make(dir, 0755);
		umask(old);
		if (rc == -1) {
			log_warn("listen %s: mkdir %s", spec, dir);
			return -1;
		}
		if (sock_dir_safe(dir, 0, why, sizeof(why)) == -1) {
			log_warnx("listen %s: refused: %s", spec, why);
			return -1;
		}
	}
	if (lstat(sun->sun_path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_warnx("listen %s: refused: %s exists and is not "
			    "a socket", spec, sun->sun_path);
			return -1;
		}
		if (unix_live(sun, len)) {
			log_warnx("listen %s: another process accepts on it",
			    spec);
			return -1;
		}
		unlink(sun->sun_path);
	}
	old = umask(gr != NULL ? 0117 : 0111);
	rc = bind(fd, (const struct sockaddr *)sun, len);
	saved = errno;
	umask(old);
	if (rc == -1) {
		errno = saved;
		log_warn("listen %s", spec);
		return -1;
	}
	if (gr != NULL && lchown(sun->sun_path, (uid_t)-1, gr->gr_gid) == -1) {
		log_warn("listen %s: giving it to group %s", spec, group);
		unlink(sun->sun_path);
		return -1;
	}
	return 0;
}

/* listener_open - bind and listen for spec; the fd or -1 (logged). */
static int
listener_open(const char *spec, const char *group, char **unix_path)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, on = 1;

	*unix_path = NULL;
	if (conf_listen_parse(spec, &ss, &len) == -1) {
		log_warnx("listen %s: bad address", spec);
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0);
	if (fd == -1) {
		log_warn("listen %s: socket", spec);
		return -1;
	}
	if (ss.ss_family != AF_UNIX)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
	if (ss.ss_family == AF_UNIX) {
		if (bind_unix(fd, (struct sockaddr_un *)&ss, len, spec,
		    group) == -1) {
			close(fd);
			return -1;
		}
	} else if (bind(fd, (struct sockaddr *)&ss, len) == -1) {
		log_warn("listen %s", spec);
		close(fd);
		return -1;
	}
	if (listen(fd, LISTEN_BACKLOG) == -1) {
		log_warn("listen %s", spec);
		close(fd);
		return -1;
	}
	if (ss.ss_family == AF_UNIX)
		*unix_path = strdup(((struct sockaddr_un *)&ss)->sun_path);
	return fd;
}

static void
listener_close(struct listener *l)
{
	close(l->fd);
	if (l->path != NULL)
		unlink(l->path);
	free(l->path);
	free(l->spec);
}

/* listener_find - index of spec (same kind) in m->l, or -1. */
static int
listener_find(const struct master *m, const char *spec, int kind)
{
	int i;

	for (i = 0; i < m->nl; i++)
		if (m->l[i].kind == kind && strcmp(m->l[i].spec, spec) == 0)
			return i;
	return -1;
}

/*
 * listeners_update - make m->l match c: keep the sockets that stay,
 * bind the new ones, close the ones that went.  Returns the number of
 * listeners that could not be bound.
 */
static int
listeners_update(struct master *m, const struct bridge_conf *c)
{
	const struct listeners *ls[LK_NKINDS] = { &c->smtp.l, &c->lmtp.l,
	    &c->odmr.l, &c->enqueue.l };
	const char *group[LK_NKINDS] = { NULL, c->lmtp.group, NULL,
	    c->enqueue.group };
	struct listener *nl;
	int i, k, j, n = 0, failed = 0;

	nl = calloc((size_t)(c->smtp.l.nlisten + c->lmtp.l.nlisten +
	    c->odmr.l.nlisten + c->enqueue.l.nlisten) + 2, sizeof(*nl));
	if (nl == NULL)
		return 1;
	for (k = 0; k < LK_NKINDS; k++)
		for (i = 0; i < ls[k]->nlisten; i++) {
			const char *spec = ls[k]->listen[i];

			if ((j = listener_find(m, spec, k)) != -1) {
				nl[n++] = m->l[j];
				m->l[j].fd = -1;
				continue;
			}
			nl[n].fd = listener_open(spec, group[k], &nl[n].path);
			if (nl[n].fd == -1) {
				failed++;
				continue;
			}
			nl[n].spec = strdup(spec);
			nl[n].kind = k;
			log_info("listening on %s (%s)", spec, kind_names[k]);
			n++;
		}
	/* the default enqueue socket stays while no enqueue listen is set */
	for (j = 0; j < m->nl; j++)
		if (m->l[j].fd != -1 && m->l[j].dflt &&
		    c->enqueue.l.nlisten == 0) {
			nl[n++] = m->l[j];
			m->l[j].fd = -1;
		}
	for (j = 0; j < m->nl; j++)
		if (m->l[j].fd != -1) {
			log_info("no longer listening on %s", m->l[j].spec);
			listener_close(&m->l[j]);
		}
	free(m->l);
	m->l = nl;
	m->nl = n;
	return failed;
}

int
master_listen(struct master *m)
{
	const struct bridge_conf *c = m->conf;

	if (listeners_update(m, c) != 0)
		return -1;
	/* a control socket of its own (else <spool>/control, later) */
	if (c->control.l.nlisten == 1) {
		m->ctlfd = listener_open(c->control.l.listen[0],
		    c->control.group, &m->ctlpath);
		if (m->ctlfd == -1)
			return -1;
		log_info("listening on %s (control)", c->control.l.listen[0]);
	}
	return 0;
}

/*
 * reap - collect every exited child of the master: the lookup, queue
 * or a session process, or a job worker (jobs_reaped).  Returns 1 when
 * a worker ended.
 */
static int
reap(struct master *m)
{
	pid_t pid;
	int st, worker = 0;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		if (m->sppid != 0 && pid == m->sppid) {
			m->sppid = 0;	/* its socket's end of file stops us */
			continue;
		}
		if (proc_reaped(&m->qp, pid, st) ||
		    proc_reaped(&m->lp, pid, st) ||
		    pool_reaped(&m->pool, pid, st))
			continue;
		if (m->jobs != NULL && jobs_reaped(m->jobs, m->conf, pid, st))
			worker = 1;
	}
	return worker;
}

/* close_master_fds - in any child: every descriptor of the master. */
static void
close_master_fds(struct master *m)
{
	int i;

	sigfd = -1;
	for (i = 0; i < m->nl; i++)
		close(m->l[i].fd);
	close(m->sigpipe[0]);
	close(m->sigpipe[1]);
	if (m->pidfd != -1)
		close(m->pidfd);
	if (m->selffd != -1)
		close(m->selffd);
	if (m->ctlfd != -1)
		close(m->ctlfd);
	for (i = 0; i < CTL_CONNS; i++)
		if (m->ctl[i].fd != -1)
			close(m->ctl[i].fd);
	proc_close_child(&m->qp);
	proc_close_child(&m->lp);
	pool_close_child(&m->pool);
	if (m->sp.sock != -1)
		close(m->sp.sock);
}

/*
 * worker_setup - first thing in a job worker: none of the master's
 * descriptors, default signal dispositions (jobs.c clears the mask).
 */
static void
worker_setup(void *arg)
{
	static const int sigs[] = { SIGCHLD, SIGHUP, SIGTERM, SIGINT,
	    SIGPIPE };
	struct master *m = arg;
	struct sigaction act;
	size_t i;

	close_master_fds(m);
	memset(&act, 0, sizeof(act));
	sigemptyset(&act.sa_mask);
	act.sa_handler = SIG_DFL;
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &act, NULL);
}

/* refuse - the one-line 421 for a client not served, then close. */
static void
refuse(struct master *m, int fd, const char *status, const char *what)
{
	char buf[512];
	int n;

	n = snprintf(buf, sizeof(buf), "421 %s %s %s, try later\r\n",
	    status, m->conf->hostname, what);
	if (n > 0 && (size_t)n < sizeof(buf))
		(void)write(fd, buf, (size_t)n);
	close(fd);
}

/* too_many - the refusal for a client over max-clients. */
static void
too_many(struct master *m, int fd, const char *what)
{
	refuse(m, fd, "4.3.2", what);
}

/*
 * one_source_over - whether the client at sa has max-per-client
 * sessions open already, or its /24 (/64) max-per-network: then one
 * source cannot take every slot.  limits-exempt networks (loopback by
 * default) are not counted.
 */
static const char *
one_source_over(const struct master *m, const struct sockaddr *sa)
{
	const struct bridge_conf *c = m->conf;

	if ((sa->sa_family != AF_INET && sa->sa_family != AF_INET6) ||
	    conf_limits_exempt(c, sa))
		return NULL;
	if (c->smtp.max_per_client > 0 && pool_busy_from(&m->pool, sa, 32,
	    128) >= c->smtp.max_per_client)
		return "client";
	if (c->smtp.max_per_network > 0 && pool_busy_from(&m->pool, sa, 24,
	    64) >= c->smtp.max_per_network)
		return "network";
	return NULL;
}

/*
 * peer_name - the client as the kernel says: its numeric address or
 * "unix" (smtpd_client_set, without the reverse lookup), "uid N"
 * (SO_PEERCRED) on the enqueue socket.  The session gets this very
 * string, so what the queue process checks is what the session writes.
 */
static void
peer_name(int fd, int kind, const struct sockaddr *sa, socklen_t salen,
    char *buf, size_t len)
{
	struct smtpd_client cl;
	uid_t uid;
	gid_t gid;
	pid_t pid;

	if (kind == LK_ENQUEUE) {
		if (chan_peer(fd, &uid, &gid, &pid) == 0)
			snprintf(buf, len, "uid %ld", (long)uid);
		else
			strlcpy_(buf, "uid unknown", len);
		return;
	}
	smtpd_client_set(&cl, sa, salen, 0);
	strlcpy_(buf, cl.addr, len);
}

/* lookup_kinds - the lookup process's name for each listener kind. */
static const int lookup_kinds[LK_NKINDS] = {
	[LK_SMTP] = LOOKUP_SMTP, [LK_LMTP] = LOOKUP_LMTP,
	[LK_ODMR] = LOOKUP_ODMR, [LK_ENQUEUE] = LOOKUP_PIPE
};

/*
 * hand_over - the session's sockets to the lookup process and (but
 * for ODMR, which queues nothing) the queue process, both told its
 * serial and the peer address the kernel gave; -1 when either cannot
 * take it now.
 */
static int
hand_over(struct master *m, int kind, const char *peer, int *qfd, int *lfd)
{
	unsigned char buf[128];
	struct chan_wr w;
	uint32_t serial = ++m->serial;

	*qfd = *lfd = -1;
	chan_wr_init(&w, buf, sizeof(buf));
	chan_put_u32(&w, serial);
	chan_put_str(&w, peer);
	if (kind != LK_ODMR && (*qfd = proc_session(&m->qp, QM_CLIENT, w.p,
	    w.len)) == -1)
		return -1;
	chan_wr_init(&w, buf, sizeof(buf));
	chan_put_u32(&w, serial);
	chan_put_u32(&w, (uint32_t)lookup_kinds[kind]);
	chan_put_str(&w, peer);
	if ((*lfd = proc_session(&m->lp, LM_CLIENT, w.p, w.len)) == -1) {
		if (*qfd != -1)
			close(*qfd);
		*qfd = -1;
		return -1;
	}
	return 0;
}

/*
 * spawn - the session for fd: its queue and lookup sockets, then a
 * session process of the pool (pool.h) to run it.
 */
static void
spawn(struct master *m, int fd, int kind, const struct sockaddr *sa,
    socklen_t salen)
{
	char peer[64];
	int qfd, lfd;

	peer_name(fd, kind, sa, salen, peer, sizeof(peer));
	if (hand_over(m, kind, peer, &qfd, &lfd) == -1) {
		too_many(m, fd, "queue busy");
		return;
	}
	if (pool_conn(&m->pool, fd, kind, peer, sa, salen, qfd, lfd) == -1)
		too_many(m, fd, "no session process");
}

static void
accept_some(struct master *m, struct listener *l)
{
	struct sockaddr_storage ss;
	const char *what;
	socklen_t len;
	int fd, n, max;

	max = l->kind == LK_LMTP && m->conf->lmtp.max_clients > 0 ?
	    m->conf->lmtp.max_clients : m->conf->smtp.max_clients;
	for (n = 0; n < ACCEPT_BURST; n++) {
		len = sizeof(ss);
		fd = accept4(l->fd, (struct sockaddr *)&ss, &len,
		    SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == EINTR || errno == ECONNABORTED)
				return;
			log_warn("accept on %s", l->spec);
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM)
				poll(NULL, 0, 100);	/* do not spin */
			return;
		}
		if (max > 0 && pool_busy(&m->pool, l->kind) >= max) {
			log_warnx("too many connections on %s (%d)", l->spec,
			    max);
			too_many(m, fd, "too many connections");
			continue;
		}
		if ((l->kind == LK_SMTP || l->kind == LK_ODMR) &&
		    (what = one_source_over(m, (struct sockaddr *)&ss)) !=
		    NULL) {
			char addr[64];

			peer_name(fd, l->kind, (struct sockaddr *)&ss, len,
			    addr, sizeof(addr));
			log_warnx("too many connections from %s%s: refused "
			    "(max-per-%s %d)", addr, what[0] == 'c' ? "" :
			    "'s network", what, what[0] == 'c' ?
			    m->conf->smtp.max_per_client :
			    m->conf->smtp.max_per_network);
			refuse(m, fd, "4.7.0", what[0] == 'c' ?
			    "too many connections from your address" :
			    "too many connections from your network");
			continue;
		}
		spawn(m, fd, l->kind, (struct sockaddr *)&ss, len);
	}
}

/* ---- requests from the sessions ---- */

/* domain_ok - no domain, or a normalised one of cu's (smtpd.h). */
static int
domain_ok(const struct bridge_conf *c, const struct customer *cu,
    const char *d)
{
	char copy[256];

	if (d == NULL)
		return 1;
	if (strlcpy_(copy, d, sizeof(copy)) >= sizeof(copy))
		return 0;
	return etrn_domain(copy) == 0 && strcmp(copy, d) == 0 &&
	    etrn_domain_owned(c, cu, d);
}

/*
 * count - LM_COUNT: the lookup authorised an ETRN of these customers;
 * each is checked again, counted (the lookup user cannot read the
 * spool) and, when it has mail, flushed; the counts go back
 * (LM_COUNTED), ETRN_UNCOUNTED for one refused or unreadable.
 */
static void
count(struct master *m, const struct chan_msg *msg)
{
	unsigned char out[16 + 8 * ETRN_CUST_MAX];
	char addr[64], name[256], domain[300];
	const struct customer *cu;
	struct chan_rd r;
	struct chan_wr w;
	struct qusage q;
	uint32_t serial, n, i;
	uint64_t c;
	int have_dom;

	chan_rd_init(&r, msg);
	serial = chan_get_u32(&r);
	chan_get_str(&r, addr, sizeof(addr));
	n = chan_get_u32(&r);
	if (r.err || n == 0 || n > ETRN_CUST_MAX || !addr_is_numeric(addr)) {
		log_warnx("bad count request from the lookup process ignored");
		return;
	}
	chan_wr_init(&w, out, sizeof(out));
	chan_put_u32(&w, serial);
	chan_put_u32(&w, n);
	for (i = 0; i < n; i++) {
		chan_get_str(&r, name, sizeof(name));
		have_dom = chan_get_str(&r, domain, sizeof(domain)) != NULL;
		c = ETRN_UNCOUNTED;
		if (!r.err && name_is_safe(name) &&
		    (cu = conf_customer(m->conf, name)) != NULL &&
		    (cu->release & REL_ETRN) && domain_ok(m->conf, cu,
		    have_dom ? domain : NULL) &&
		    spool_usage(m->conf->spool, name, &q) == RS_OK) {
			c = q.count;
			/* a flush that cannot start is logged; the mail waits */
			if (c > 0 && m->jobs != NULL)
				(void)jobs_etrn(m->jobs, m->conf, name, addr,
				    have_dom ? domain : NULL, time(NULL));
		}
		chan_put_u64(&w, c);
	}
	if (chan_get_end(&r) != 0) {
		log_warnx("bad count request from the lookup process ignored");
		return;
	}
	if (proc_send(&m->lp, LM_COUNTED, w.p, w.len, -1) == -1)
		log_warn("lookup process: a count");
}

/* ---- the control socket (bridgectl) ---- */

/*
 * spool_socket - a unix socket <spool>/name, 0600, bound as the
 * spool's owner (after the privilege drop: only that user and root can
 * connect); the fd or -1 (logged).
 */
static int
spool_socket(const struct master *m, const char *name, char **path)
{
	struct sockaddr_un sun;
	mode_t old;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (path_build(sun.sun_path, sizeof(sun.sun_path), "%s/%s",
	    m->conf->spool, name) == -1) {
		log_warnx("%s/%s: path too long: no %s socket",
		    m->conf->spool, name, name);
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0)) == -1) {
		log_warn("%s socket", name);
		return -1;
	}
	unlink(sun.sun_path);		/* the pidfile lock says it is ours */
	old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    listen(fd, LISTEN_BACKLOG) == -1) {
		log_warn("%s socket %s", name, sun.sun_path);
		umask(old);
		close(fd);
		return -1;
	}
	umask(old);
	*path = strdup(sun.sun_path);
	return fd;
}

/*
 * master_enqueue - without enqueue { listen } in the config,
 * bridge-enqueue's way in is <spool>/enqueue, for the spool's owner
 * and root (a Postfix pipe with user= the hub's user).
 */
int
master_enqueue(struct master *m)
{
	struct listener *nl;
	char *path = NULL;
	int fd;

	if (m->conf->enqueue.l.nlisten > 0)
		return 0;
	for (fd = 0; fd < m->nl; fd++)
		if (m->l[fd].dflt)
			return 0;
	if ((fd = spool_socket(m, "enqueue", &path)) == -1)
		return -1;
	if ((nl = reallocarray(m->l, (size_t)m->nl + 1, sizeof(*nl))) ==
	    NULL) {
		close(fd);
		unlink(path);
		free(path);
		return -1;
	}
	m->l = nl;
	memset(&nl[m->nl], 0, sizeof(nl[m->nl]));
	nl[m->nl].fd = fd;
	nl[m->nl].kind = LK_ENQUEUE;
	nl[m->nl].path = path;
	nl[m->nl].spec = strdup("unix:<spool>/enqueue");
	nl[m->nl].dflt = 1;
	m->nl++;
	log_info("listening on %s (enqueue)", path);
	return 0;
}

int
master_control(struct master *m)
{
	int i;

	for (i = 0; i < CTL_CONNS; i++)
		m->ctl[i].fd = -1;
	if ((m->jobs = jobs_new(worker_setup, m)) == NULL) {
		log_warn("job table");
		return -1;
	}
	jobs_plan(m->jobs, m->conf, time(NULL));
	if (m->ctlfd != -1)
		return 0;		/* control { listen }, bound as root */
	m->ctlfd = spool_socket(m, "control", &m->ctlpath);
	return 0;
}

static void
ctl_close(struct ctlconn *cc)
{
	close(cc->fd);
	cc->fd = -1;
	cc->len = 0;
}

/* ctl_answer - run one control line, write the one-line answer. */
static void
ctl_answer(struct master *m, struct ctlconn *cc)
{
	char out[1024], msg[900], *verb, *name, *rest, *save;
	enum jobs_res r = JOBS_ERROR;
	const char *why;
	int n;

	cc->buf[strcspn(cc->buf, "\r\n")] = '\0';
	verb = strtok_r(cc->buf, " ", &save);
	name = strtok_r(NULL, " ", &save);
	rest = strtok_r(NULL, " ", &save);
	if (verb != NULL && (strcmp(verb, "status") == 0 ||
	    strcmp(verb, "flush") == 0 || strcmp(verb, "bundle") == 0) &&
	    (why = ctl_may(&cc->grant, verb, name)) != NULL) {
		log_warnx("control: %s %s refused: %s (%s role)", verb,
		    name != NULL ? name : "", why,
		    ctl_role_name(cc->grant.role));
		n = snprintf(out, sizeof(out), "error denied: %s\n", why);
		if (n > 0 && (size_t)n < sizeof(out))
			(void)write(cc->fd, out, (size_t)n);
		ctl_close(cc);
		return;
	}
	if (verb != NULL && strcmp(verb, "status") == 0 && name == NULL) {
		jobs_status(m->jobs, msg, sizeof(msg));
		r = JOBS_STARTED;
	} else if (verb == NULL || name == NULL || rest != NULL ||
	    (strcmp(verb, "flush") != 0 && strcmp(verb, "bundle") != 0))
		snprintf(msg, sizeof(msg), "unknown request (flush CUSTOMER, "
		    "bundle CUSTOMER, status)");
	else if (!name_is_safe(name) || conf_customer(m->conf, name) == NULL)
		snprintf(msg, sizeof(msg), "no such customer: %.64s", name);
	else if (verb[0] == 'f')
		r = jobs_flush(m->jobs, m->conf, name, NULL, msg, sizeof(msg));
	else
		r = jobs_bundle(m->jobs, m->conf, name, msg, sizeof(msg));
	if (verb != NULL && strcmp(verb, "status") != 0)
		log_info("control: %s %s: %s", verb, name != NULL ? name : "",
		    msg);
	n = snprintf(out, sizeof(out), "%s %s\n", r == JOBS_ERROR ? "error" :
	    "ok", msg);
	if (n > 0)
		(void)write(cc->fd, out, (size_t)n < sizeof(out) ? (size_t)n :
		    sizeof(out) - 1);
	ctl_close(cc);
}

/*
 * ctl_role - what the peer on fd may do, by its credentials; 0, or -1
 * (answered, logged) when it may do nothing.
 */
static int
ctl_role(struct master *m, int fd, struct ctl_grant *g)
{
	char out[160];
	uid_t uid;
	gid_t gid;
	pid_t pid;
	int n;

	if (chan_peer(fd, &uid, &gid, &pid) == -1) {
		log_warn("control: the peer's credentials");
		return -1;
	}
	ctl_grant(m->conf, uid, gid, geteuid(), g);
	if (g->role != CTL_NONE)
		return 0;
	log_warnx("control: uid %ld refused: no role (control peers)",
	    (long)uid);
	n = snprintf(out, sizeof(out), "error denied: uid %ld has no role on "
	    "the control socket\n", (long)uid);
	if (n > 0 && (size_t)n < sizeof(out))
		(void)write(fd, out, (size_t)n);
	return -1;
}

static void
ctl_accept(struct master *m)
{
	struct ctl_grant g;
	int i, fd;

	while ((fd = accept4(m->ctlfd, NULL, NULL, SOCK_CLOEXEC |
	    SOCK_NONBLOCK)) != -1) {
		if (ctl_role(m, fd, &g) == -1) {
			close(fd);
			continue;
		}
		for (i = 0; i < CTL_CONNS && m->ctl[i].fd != -1; i++)
			;
		if (i == CTL_CONNS) {
			(void)write(fd, "error busy: too many control "
			    "connections\n", 42);
			close(fd);
			continue;
		}
		m->ctl[i].fd = fd;
		m->ctl[i].grant = g;
		m->ctl[i].len = 0;
		m->ctl[i].deadline = time_mono() + CTL_WAIT;
	}
}

static void
ctl_read(struct master *m, struct ctlconn *cc)
{
	ssize_t n;

	n = read(cc->fd, cc->buf + cc->len, sizeof(cc->buf) - 1 - cc->len);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		ctl_close(cc);
		return;
	}
	cc->len += (size_t)n;
	cc->buf[cc->len] = '\0';
	if (memchr(cc->buf, '\n', cc->len) != NULL ||
	    cc->len == sizeof(cc->buf) - 1)
		ctl_answer(m, cc);
}

/* ctl_expire - drop control connections that did not send a line. */
static void
ctl_expire(struct master *m)
{
	double now = time_mono();
	int i;

	for (i = 0; i < CTL_CONNS; i++)
		if (m->ctl[i].fd != -1 && now > m->ctl[i].deadline)
			ctl_close(&m->ctl[i]);
}

/* reload - SIGHUP: a new config, or the old one kept when it is bad. */
static void
reload(struct master *m)
{
	struct bridge_conf *nc;
	struct usage *nu;
	int i;

	log_info("reloading %s", m->conf_path);
	if ((nc = conf_load_logged(m->conf_path)) == NULL) {
		log_warnx("reload failed: keeping the old configuration");
		return;
	}
	/* a tls section that will not load (when the master may read it) */
	if (nc->tls.cert != NULL && access(nc->tls.key, R_OK) == 0) {
		char err[700];
		void *ctx;

		if ((ctx = tls_server_new(nc, err, sizeof(err))) == NULL) {
			log_warnx("reload failed: tls: %s; keeping the old "
			    "configuration", err);
			conf_free(nc);
			return;
		}
		tls_server_free(ctx);
	}
	for (i = 0; i < nc->ncustomers; i++)
		if (spool_prepare(nc->spool, nc->customers[i].name) != RS_OK)
			log_warn("spool for %s", nc->customers[i].name);
	if (listeners_update(m, nc) != 0)
		log_warnx("reload: some listeners could not be bound");
	if (nc->control.l.nlisten != m->conf->control.l.nlisten ||
	    (nc->control.l.nlisten == 1 && strcmp(nc->control.l.listen[0],
	    m->conf->control.l.listen[0]) != 0))
		log_warnx("reload: control listen changes at the next start; "
		    "the control socket stays where it is");
	if ((nu = usage_create(nc)) == NULL)
		log_warn("usage table");
	usage_destroy(m->usage);
	m->usage = nu;
	conf_free(m->conf);
	m->conf = nc;
	if (m->jobs != NULL)
		jobs_plan(m->jobs, nc, time(NULL));
	if (master_enqueue(m) == -1)
		log_warnx("reload: no enqueue socket");
	if (proc_config(&m->qp, nc) == -1)
		log_warn("reload: the queue process's customer list");
	if (proc_config(&m->lp, nc) == -1)
		log_warn("reload: the lookup process");
	pool_retire(&m->pool);		/* new ones read the new config */
	log_info("reloaded: %d customers, %d listeners", nc->ncustomers,
	    m->nl);
}

/* running - sessions and workers still to be reaped. */
static int
running(const struct master *m)
{
	return pool_count(&m->pool) + (m->jobs != NULL ?
	    jobs_running(m->jobs) : 0);
}

/*
 * spawner_io - what the root spawner says (spawner.h): the pid of a
 * session or lookup process, one it reaped; what is queued for it.  0, or -1 when
 * it has gone (then the hub cannot start a session any more).
 */
static int
spawner_io(struct master *m)
{
	static struct chan_msg msg;
	struct chan_rd r;
	uint32_t a, b;
	int n, k;

	if (m->sp.sock == -1)
		return 0;
	if (m->sp.queued > 0 && chan_flush(&m->sp) == -1 && errno != EAGAIN)
		return -1;
	for (k = 0; k < 64; k++) {
		n = chan_recv(m->sp.sock, &msg);
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK ||
		    errno == EINTR))
			return 0;
		if (n <= 0)
			return -1;
		if (msg.fd != -1)
			close(msg.fd);
		chan_rd_init(&r, &msg);
		a = chan_get_u32(&r);
		b = chan_get_u32(&r);
		if (chan_get_end(&r) != 0)
			log_warnx("spawner: a malformed message %u", msg.type);
		else if (msg.type == SP_STARTED) {
			if (!proc_spawned(&m->lp, a, (pid_t)b))
				pool_spawned(&m->pool, a, (pid_t)b);
		} else if (msg.type == SP_EXITED) {
			if (!proc_reaped(&m->lp, (pid_t)a, (int)b))
				(void)pool_reaped(&m->pool, (pid_t)a, (int)b);
		}
		else
			log_warnx("spawner: unexpected message %u", msg.type);
	}
	return 0;
}

/* spawner_gone - it exited: nothing can start a session now. */
static void __attribute__((noreturn)) shutdown_all(struct master *m);

static void
spawner_gone(struct master *m)
{
	static int once;

	if (once++)
		return;
	log_warnx("the root spawner of the session processes has exited: "
	    "stopping");
	chan_clear(&m->sp);
	close(m->sp.sock);
	m->sp.sock = -1;
	pool_forget(&m->pool);		/* it stopped them as it went */
	shutdown_all(m);
}

/*
 * shutdown_all - stop accepting, SIGTERM the sessions and the workers
 * (their whole process groups), wait, exit.
 */
static void __attribute__((noreturn))
shutdown_all(struct master *m)
{
	struct pollfd pfd2[2];
	unsigned char buf[64];
	double deadline;
	int i;

	log_info("shutting down, %d sessions open, %d jobs running",
	    pool_busy(&m->pool, -1), m->jobs != NULL ?
	    jobs_running(m->jobs) : 0);
	for (i = 0; i < m->nl; i++)
		listener_close(&m->l[i]);
	m->nl = 0;
	if (m->ctlfd != -1) {
		close(m->ctlfd);
		m->ctlfd = -1;
		if (m->ctlpath != NULL)
			unlink(m->ctlpath);
	}
	pool_signal(&m->pool, SIGTERM);
	if (m->jobs != NULL)
		jobs_signal(m->jobs, SIGTERM);
	deadline = time_mono() + SHUTDOWN_WAIT;
	reap(m);
	while (running(m) > 0 && time_mono() < deadline) {
		pfd2[0].fd = m->sigpipe[0];
		pfd2[0].events = POLLIN;
		pfd2[1].fd = m->sp.sock;
		pfd2[1].events = POLLIN;
		poll(pfd2, 2, 100);
		while (read(m->sigpipe[0], buf, sizeof(buf)) > 0)
			;
		reap(m);
		if (spawner_io(m) == -1 && m->sp.sock != -1) {
			close(m->sp.sock);	/* it killed what was left */
			m->sp.sock = -1;
			pool_forget(&m->pool);
		}
	}
	if (pool_count(&m->pool) > 0) {
		log_warnx("%d session processes did not stop: killed",
		    pool_count(&m->pool));
		pool_signal(&m->pool, SIGKILL);
	}
	if (m->jobs != NULL && jobs_running(m->jobs) > 0) {
		log_warnx("%d jobs did not stop: killed",
		    jobs_running(m->jobs));
		jobs_signal(m->jobs, SIGKILL);
	}
	/* our own children; the spawner's sessions are its to reap */
	for (i = m->sp.sock != -1 || m->sppid != 0 ? (m->jobs != NULL ?
	    jobs_running(m->jobs) : 0) : running(m);
	    i > 0 && waitpid(-1, NULL, 0) > 0; i--)
		;
	/* the sessions are gone: the queue removes what they left open */
	proc_stop(&m->qp);
	proc_stop(&m->lp);
	deadline = time_mono() + SHUTDOWN_WAIT;
	while ((m->qp.pid != 0 || m->lp.pid > 0) && time_mono() < deadline) {
		pfd2[0].fd = m->sigpipe[0];
		pfd2[0].events = POLLIN;
		pfd2[1].fd = m->sp.sock;	/* the lookup's end, if its */
		pfd2[1].events = POLLIN;
		poll(pfd2, 2, 100);
		while (read(m->sigpipe[0], buf, sizeof(buf)) > 0)
			;
		reap(m);
		if (spawner_io(m) == -1 && m->sp.sock != -1) {
			close(m->sp.sock);	/* and it killed the lookup */
			m->sp.sock = -1;
			m->lp.pid = 0;
		}
	}
	if (m->qp.pid != 0) {
		log_warnx("queue process did not stop: killed");
		kill(m->qp.pid, SIGKILL);
		waitpid(m->qp.pid, NULL, 0);
	}
	if (m->lp.pid > 0) {
		log_warnx("lookup process did not stop: killed");
		proc_kill(&m->lp, SIGKILL);
		if (m->lp.spawner == NULL)
			waitpid(m->lp.pid, NULL, 0);
	}
	/* at our end of file the spawner stops what is left, and exits */
	if (m->sp.sock != -1)
		close(m->sp.sock);
	if (m->sppid != 0)
		waitpid(m->sppid, NULL, 0);
	if (m->pidfile != NULL)
		unlink(m->pidfile);
	log_info("stopped");
	exit(EXIT_OK);
}

/* signals - handle what came through the self-pipe; 1 to shut down. */
static int
signals(struct master *m)
{
	unsigned char buf[64];
	ssize_t n, i;
	int hup = 0, stop = 0;

	while ((n = read(m->sigpipe[0], buf, sizeof(buf))) > 0)
		for (i = 0; i < n; i++) {
			if (buf[i] == SIGHUP)
				hup = 1;
			else if (buf[i] == SIGTERM || buf[i] == SIGINT)
				stop = 1;
		}
	/* a worker that ended may have taken mail out of a queue */
	if (reap(m) && m->usage != NULL)
		usage_refresh(m->usage, m->conf);
	if (stop)
		return 1;
	if (hup)
		reload(m);
	return 0;
}

/* Slots of the poll table in front of the listeners. */
enum { P_SIG, P_LOOKUP, P_CTL, P_QUEUE, P_SPAWN, P_CONN,
	P_LISTEN = P_CONN + CTL_CONNS };

/*
 * poll_table - fill pfd (room for P_LISTEN + m->nl + the pool's); -1
 * fds are skipped.
 */
static void
poll_table(struct master *m, struct pollfd *pfd)
{
	int i;

	for (i = 0; i < P_LISTEN + m->nl; i++) {
		pfd[i].events = POLLIN;
		pfd[i].revents = 0;
	}
	pfd[P_SIG].fd = m->sigpipe[0];
	pfd[P_LOOKUP].fd = proc_poll(&m->lp, &pfd[P_LOOKUP].events);
	pfd[P_CTL].fd = m->ctlfd;
	pfd[P_QUEUE].fd = proc_poll(&m->qp, &pfd[P_QUEUE].events);
	pfd[P_SPAWN].fd = m->sp.sock;
	if (m->sp.queued > 0)
		pfd[P_SPAWN].events |= POLLOUT;
	for (i = 0; i < CTL_CONNS; i++)
		pfd[P_CONN + i].fd = m->ctl[i].fd;
	for (i = 0; i < m->nl; i++)
		pfd[P_LISTEN + i].fd = m->l[i].fd;
	pool_fill(&m->pool, pfd + P_LISTEN + m->nl);
}

/* wait_ms - how long poll may sleep: usage refresh, jobs, control. */
static int
wait_ms(struct master *m, double next_usage)
{
	double left = next_usage - time_mono(), qn;
	long jn;
	int i;

	if ((qn = proc_tick(&m->qp, m->conf)) >= 0 && qn < left)
		left = qn;
	if ((qn = proc_tick(&m->lp, m->conf)) >= 0 && qn < left)
		left = qn;
	if (m->jobs != NULL && (jn = jobs_next(m->jobs, time(NULL))) < left)
		left = (double)jn + 0.05;
	for (i = 0; i < CTL_CONNS; i++)
		if (m->ctl[i].fd != -1 && left > CTL_WAIT)
			left = CTL_WAIT;
	return left > 0 ? (int)(left * 1000) : 0;
}

void
master_loop(struct master *m)
{
	struct pollfd *pfd = NULL;
	double next = time_mono() + USAGE_REFRESH;
	int i, n, np = 0, nl, npool;

	for (;;) {
		if (m->jobs != NULL)
			jobs_run(m->jobs, m->conf, time(NULL));
		if (np < P_LISTEN + m->nl + pool_npoll(&m->pool)) {
			np = P_LISTEN + m->nl + pool_npoll(&m->pool);
			if ((pfd = realloc(pfd, (size_t)np * sizeof(*pfd))) ==
			    NULL)
				log_fatal(EXIT_OSERR, "poll table");
		}
		poll_table(m, pfd);
		nl = m->nl;
		npool = pool_npoll(&m->pool);
		n = poll(pfd, (nfds_t)(P_LISTEN + nl + npool),
		    wait_ms(m, next));
		if (n == -1 && errno != EINTR)
			log_fatal(EXIT_OSERR, "poll");
		if (time_mono() >= next) {
			if (m->usage != NULL)
				usage_refresh(m->usage, m->conf);
			next = time_mono() + USAGE_REFRESH;
		}
		ctl_expire(m);
		if (n <= 0)
			continue;
		if ((pfd[P_SIG].revents & POLLIN) && signals(m))
			shutdown_all(m);
		if (pfd[P_LOOKUP].fd != -1 && pfd[P_LOOKUP].revents != 0)
			proc_io(&m->lp);
		if (pfd[P_QUEUE].fd != -1 && pfd[P_QUEUE].revents != 0)
			proc_io(&m->qp);
		if (pfd[P_SPAWN].fd != -1 && pfd[P_SPAWN].revents != 0 &&
		    spawner_io(m) == -1)
			spawner_gone(m);
		pool_io(&m->pool, pfd + P_LISTEN + nl, npool);
		for (i = 0; i < CTL_CONNS; i++)
			if (m->ctl[i].fd != -1 &&
			    pfd[P_CONN + i].fd == m->ctl[i].fd &&
			    (pfd[P_CONN + i].revents & (POLLIN | POLLHUP)))
				ctl_read(m, &m->ctl[i]);
		if (m->ctlfd != -1 && (pfd[P_CTL].revents & POLLIN))
			ctl_accept(m);
		for (i = 0; i < m->nl && i < nl; i++)
			if (pfd[P_LISTEN + i].fd == m->l[i].fd &&
			    (pfd[P_LISTEN + i].revents & POLLIN))
				accept_some(m, &m->l[i]);
	}
}

/* ---- the queue and lookup processes (proc.h) ---- */

/* send_usage - a descriptor of the usage table as message type, if any. */
static int
send_usage(struct proc *p, int type)
{
	struct master *m = p->arg;
	int fd;

	if (usage_fd(m->usage) == -1)
		return 0;
	if ((fd = fcntl(usage_fd(m->usage), F_DUPFD_CLOEXEC, 0)) == -1)
		return -1;
	if (chan_queue(&p->ch, type, 0, NULL, 0, fd) == -1) {
		close(fd);
		return -1;
	}
	return 0;
}

/*
 * queue_configure - QM_CONFIG messages for the whole customer list,
 * then the usage table made for it.
 */
static int
queue_configure(struct proc *p, const struct bridge_conf *c, int start)
{
	static unsigned char buf[CHAN_MAX];
	struct master *m = p->arg;
	struct chan_wr w;
	size_t room;
	int i = 0, j, first = 1;

	(void)start;
	do {
		/* the names and quotas that fit after the fixed fields */
		room = CHAN_MAX - 4 * 4 - 8 - 8 - 4 - VERDICT_KEY - 4 -
		    strlen(c->spool);
		for (j = i; j < c->ncustomers &&
		    4 + strlen(c->customers[j].name) + 8 <= room; j++)
			room -= 4 + strlen(c->customers[j].name) + 8;
		chan_wr_init(&w, buf, sizeof(buf));
		chan_put_u32(&w, (uint32_t)first);
		chan_put_u32(&w, (uint32_t)(j >= c->ncustomers));
		chan_put_str(&w, c->spool);
		chan_put_u64(&w, c->smtp.max_size);
		chan_put_u64(&w, c->queue.min_free);
		chan_put_bytes(&w, m->key, VERDICT_KEY);
		chan_put_u32(&w, (uint32_t)(j - i));
		for (; i < j; i++) {
			chan_put_str(&w, c->customers[i].name);
			chan_put_u64(&w, c->customers[i].quota);
		}
		if (w.err) {
			errno = EMSGSIZE;
			return -1;
		}
		if (chan_queue(&p->ch, QM_CONFIG, 0, w.p, w.len, -1) == -1)
			return -1;
		first = 0;
	} while (i < c->ncustomers);
	return send_usage(p, QM_USAGE);
}

/*
 * lookup_configure - the key at a start (it reads the config itself),
 * LM_RELOAD after one; then the usage table.
 */
static int
lookup_configure(struct proc *p, const struct bridge_conf *c, int start)
{
	unsigned char buf[64];
	struct master *m = p->arg;
	struct chan_wr w;

	(void)c;
	if (start) {
		chan_wr_init(&w, buf, sizeof(buf));
		chan_put_bytes(&w, m->key, VERDICT_KEY);
		if (chan_queue(&p->ch, LM_KEY, 0, w.p, w.len, -1) == -1)
			return -1;
	} else if (chan_queue(&p->ch, LM_RELOAD, 0, NULL, 0, -1) == -1)
		return -1;
	return send_usage(p, LM_USAGE);
}

/*
 * turn - LM_TURN: an ODMR client whose ATRN the lookup allowed, to a
 * delivery worker (jobs_turn), once the customer is checked again.
 */
static void
turn(struct master *m, struct chan_msg *msg)
{
	const struct customer *cu;
	char name[64], addr[64], client[256];
	struct chan_rd r;

	chan_rd_init(&r, msg);
	chan_get_str(&r, name, sizeof(name));
	chan_get_str(&r, addr, sizeof(addr));
	chan_get_str(&r, client, sizeof(client));
	if (chan_get_end(&r) != 0 || msg->fd == -1 || m->jobs == NULL ||
	    !name_is_safe(name) || (cu = conf_customer(m->conf, name)) ==
	    NULL || !(cu->release & REL_ODMR)) {
		log_warnx("bad turn request from the lookup process ignored");
		return;
	}
	jobs_turn(m->jobs, m->conf, name, msg->fd, client, addr);
	msg->fd = -1;
}

/* lookup_message - the lookup process's flush and turn requests. */
static void
lookup_message(struct proc *p, struct chan_msg *msg)
{
	struct master *m = p->arg;

	if (msg->type == LM_TURN) {
		turn(m, msg);
		return;
	}
	if (msg->type == LM_COUNT) {
		count(m, msg);
		return;
	}
	log_warnx("lookup process: unexpected message %u", msg->type);
}

static const struct proc_kind queue_kind = {
	"queue", QM_READY, queue_configure, NULL
};
static const struct proc_kind lookup_kind = {
	"lookup", LM_READY, lookup_configure, lookup_message
};

int
master_procs(struct master *m, int selffd, int fg)
{
	if (verdict_key_new(m->key) == -1) {
		log_warnx("no randomness for the verdict key");
		return -1;
	}
	m->selffd = selffd;
	proc_init(&m->qp, &queue_kind, selffd, fg, NULL, worker_setup, m);
	proc_init(&m->lp, &lookup_kind, selffd, fg, m->conf_path,
	    worker_setup, m);
	pool_init(&m->pool, selffd, fg, m->conf_path, worker_setup, m);
	if (m->sp.sock != -1) {
		pool_set_spawner(&m->pool, &m->sp);
		proc_set_spawner(&m->lp, &m->sp, SPAWN_LOOKUP);
	}
	if (proc_start(&m->lp, m->conf, 1) == -1)
		return -1;
	return proc_start(&m->qp, m->conf, 1);
}
