/*
 * sessiond.c - a session process of bridged (bridged -x session,
 * exec'd by the master, pool.c): it reads the configuration once,
 * then serves the connections the master hands it, one at a time: the
 * queue and lookup sockets of the session, then the client with its
 * kind and the peer address the kernel gave, and runs the SMTP, LMTP
 * or ODMR dialogue (smtpd.h, odmr.h) on it, as the per-connection
 * fork did.  After each it says SM_DONE; it exits at the master's end
 * of file (a reload, too many idle), on SIGTERM, or after SESSION_USES
 * connections, so that nothing one client left behind lives long.
 *
 * With a tls section the TLS context (tls.h: chain and key) is made
 * before the chroot and the drop, so the key file need not be readable
 * by the session user; STARTTLS is on the SMTP and ODMR listeners.
 *
 * Invariants: the master's socket is fd 3; each connection's
 * descriptors are closed before the next is taken; SIGTERM is let in
 * only while waiting (the session then answers 421 and ends).
 */
#include <sys/types.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <grp.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chan.h"
#include "conf.h"
#include "lclient.h"
#include "log.h"
#include "proc.h"
#include "master.h"
#include "odmr.h"
#include "pool.h"
#include "smtpd.h"
#include "tls.h"
#include "util.h"
#include "sessiond.h"

#define SESSION_USES	500	/* connections before a fresh process */
#define SESSION_FILES	64	/* descriptors */
#define SESSION_MEMORY	(1024L * 1024 * 1024)	/* bytes of address space */

static volatile sig_atomic_t stop;
static void *tls;			/* the TLS server, or NULL */

static void
on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

/* serve - one connection: the client fd with its SM_CONN payload. */
static void
serve(const struct bridge_conf *c, const sigset_t *waitmask,
    const struct chan_msg *m, int qfd, int lfd)
{
	struct sockaddr_storage ss;
	struct smtpd_client cl;
	struct smtpd_ctx ctx;
	struct chan_rd r;
	char peer[64];
	size_t salen;
	uint32_t kind;

	chan_rd_init(&r, m);
	kind = chan_get_u32(&r);
	chan_get_str(&r, peer, sizeof(peer));
	memset(&ss, 0, sizeof(ss));
	salen = chan_get_bytes(&r, &ss, sizeof(ss));
	if (chan_get_end(&r) != 0 || kind >= LK_NKINDS || lfd == -1) {
		log_warnx("session: a malformed connection from the master");
		close(m->fd);
		if (qfd != -1)
			close(qfd);
		if (lfd != -1)
			close(lfd);
		return;
	}
	memset(&cl, 0, sizeof(cl));
	/* the name from the lookup: there is no resolver in here */
	smtpd_client_set(&cl, salen > 0 ? (struct sockaddr *)&ss : NULL,
	    (socklen_t)salen, 0);
	(void)lc_client_name(lfd, cl.name, sizeof(cl.name));
	cl.lmtp = kind == LK_LMTP || kind == LK_ENQUEUE;
	cl.enqueue = kind == LK_ENQUEUE;
	/* the address the queue and lookup were told, to the letter */
	strlcpy_(cl.addr, peer, sizeof(cl.addr));
	memset(&ctx, 0, sizeof(ctx));
	ctx.conf = c;
	ctx.usage = NULL;		/* quotas are the queue's and the lookup's */
	ctx.stop = &stop;
	ctx.waitmask = waitmask;
	/* STARTTLS on the SMTP and ODMR listeners, not on local sockets */
	ctx.tls = kind == LK_SMTP || kind == LK_ODMR ? tls : NULL;
	ctx.reqfd = -1;
	ctx.lookupfd = lfd;		/* the session's from now on */
	ctx.queuefd = qfd;
	if (kind == LK_ODMR) {
		if (qfd != -1)
			close(qfd);
		(void)odmr_session(&ctx, m->fd, &cl);
	} else
		(void)smtpd_session(&ctx, m->fd, m->fd, &cl);
	close(m->fd);
}

/*
 * limits - what a session process may use: no core file (it would
 * hold mail), few descriptors, no new process (RLIMIT_NPROC 0 once it
 * is not root), and, but under AddressSanitizer (whose shadow memory
 * is that large), 1 GiB of address space.  No file size limit: it
 * writes no file (the message goes to the queue process as messages),
 * and one would kill it with SIGXFSZ for writing its log to a large
 * stderr file under -d.
 */
static void
limits(void)
{
	struct rlimit rl;

	rl.rlim_cur = rl.rlim_max = 0;
	if (setrlimit(RLIMIT_CORE, &rl) == -1 ||
	    setrlimit(RLIMIT_NPROC, &rl) == -1)
		log_fatal(EXIT_OSERR, "session: setrlimit");
	rl.rlim_cur = rl.rlim_max = SESSION_FILES;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
		log_fatal(EXIT_OSERR, "session: setrlimit");
#if !defined(__SANITIZE_ADDRESS__) && !defined(SESSION_NO_AS_LIMIT)
	rl.rlim_cur = rl.rlim_max = (rlim_t)SESSION_MEMORY;
	if (setrlimit(RLIMIT_AS, &rl) == -1)
		log_fatal(EXIT_OSERR, "session: setrlimit");
#endif
}

/*
 * drop - started as root (by the spawner): the limits, then chroot to
 * session-chroot and become session-user for good, with no group but
 * its own; fatal when any of it fails.  Everything that needs a file
 * (the configuration, the time zone, the syslog socket) is open by
 * now; the client's name comes from the lookup process.
 */
static void
drop(const struct bridge_conf *c)
{
	char err[1024];
	const char *dir;
	uid_t uid;
	gid_t gid;

	if (conf_session_check(c, 0, &uid, &gid, err, sizeof(err)) == -1)
		log_fatalx(EXIT_CONFIG, "session: %s", err);
	dir = c->session_chroot != NULL ? c->session_chroot :
	    BRIDGE_SESSION_CHROOT;
	tzset();
	limits();
	if (chroot(dir) == -1 || chdir("/") == -1)
		log_fatal(EXIT_OSERR, "session: chroot %s", dir);
	if (setgroups(1, &gid) == -1 || setgid(gid) == -1 ||
	    setuid(uid) == -1)
		log_fatal(EXIT_OSERR, "session: cannot become uid %ld",
		    (long)uid);
	if (setuid(0) != -1 || geteuid() == 0 || getegid() == 0)
		log_fatalx(EXIT_OSERR, "session: still root after the drop");
}

void
session_main(const char *conf_path)
{
	static struct chan_msg m;
	struct bridge_conf *c;
	struct pollfd pfd;
	sigset_t waitmask;
	char err[700];
	int qfd = -1, lfd = -1, uses = 0, n;

	proc_child_signals(on_stop, &waitmask);
	if ((c = conf_load_logged(conf_path)) == NULL)
		log_fatalx(EXIT_CONFIG, "session: %s: no configuration",
		    conf_path);
	/* the key is read now, as root, before the chroot and the drop */
	if (c->tls.cert != NULL && (tls = tls_server_new(c, err,
	    sizeof(err))) == NULL)
		log_warnx("session: no STARTTLS: %s", err);
	if (geteuid() == 0)
		drop(c);
	while (!stop && uses < SESSION_USES) {
		pfd.fd = 3;
		pfd.events = POLLIN;
		if ((n = ppoll(&pfd, 1, NULL, &waitmask)) == -1) {
			if (errno == EINTR)
				continue;
			log_fatal(EXIT_OSERR, "session: poll");
		}
		if ((n = chan_recv(3, &m)) == -1 && (errno == EINTR ||
		    errno == EAGAIN))
			continue;
		if (n <= 0)
			break;		/* the master is done with us */
		switch (m.type) {
		case SM_QUEUE:
			if (qfd != -1)
				close(qfd);
			qfd = m.fd;
			continue;
		case SM_LOOKUP:
			if (lfd != -1)
				close(lfd);
			lfd = m.fd;
			continue;
		case SM_CONN:
			if (m.fd == -1)
				break;
			serve(c, &waitmask, &m, qfd, lfd);
			qfd = lfd = -1;
			uses++;
			if (chan_send(3, SM_DONE, 0, NULL, 0, -1) == -1)
				_exit(EXIT_OK);
			continue;
		}
		log_warnx("session: unexpected message %u from the master",
		    m.type);
		if (m.fd != -1)
			close(m.fd);
	}
	_exit(EXIT_OK);
}
