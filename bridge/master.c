/*
 * master.c - bridged's master process: it owns the listening sockets,
 * forks one child per connection (the child runs smtpd_session with
 * blocking reads under poll timeouts), counts children against
 * max-clients, reaps them, reloads the config on SIGHUP and shuts down
 * on SIGTERM/SIGINT.  Signals reach the loop through a self-pipe.
 *
 * Invariants: the master never reads from a client, so no client can
 * delay another; a child keeps the config and usage table it was
 * forked with; a failed reload changes nothing; at shutdown children
 * get SIGTERM and up to SHUTDOWN_WAIT seconds to finish or abort.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "queue.h"
#include "util.h"
#include "master.h"

#define SHUTDOWN_WAIT	10	/* seconds for children after SIGTERM */
#define USAGE_REFRESH	60	/* seconds between usage re-reads */
#define ACCEPT_BURST	32	/* accepts per listener per wakeup */
#define LISTEN_BACKLOG	128

static int sigfd = -1;			/* write end of the self-pipe */
static volatile sig_atomic_t child_stop;

static void
master_sig(int sig)
{
	unsigned char c = (unsigned char)sig;
	int saved = errno;

	if (sigfd != -1)
		(void)write(sigfd, &c, 1);
	errno = saved;
}

static void
child_sig(int sig)
{
	child_stop = 1;
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

/* bind_unix - a fresh unix socket at path; a stale one is replaced. */
static int
bind_unix(int fd, const struct sockaddr_un *sun, socklen_t len)
{
	char dir[sizeof(sun->sun_path)], *slash;
	struct stat st;

	strlcpy_(dir, sun->sun_path, sizeof(dir));
	if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		if (dir_make(dir, 0755) == -1)
			return -1;
	}
	if (lstat(sun->sun_path, &st) == 0 && S_ISSOCK(st.st_mode)) {
		if (unix_live(sun, len)) {
			errno = EADDRINUSE;
			return -1;
		}
		unlink(sun->sun_path);
	}
	if (bind(fd, (const struct sockaddr *)sun, len) == -1)
		return -1;
	return chmod(sun->sun_path, 0666);
}

/* listener_open - bind and listen for spec; the fd or -1 (logged). */
static int
listener_open(const char *spec, char **unix_path)
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
	if ((ss.ss_family == AF_UNIX ?
	    bind_unix(fd, (struct sockaddr_un *)&ss, len) :
	    bind(fd, (struct sockaddr *)&ss, len)) == -1 ||
	    listen(fd, LISTEN_BACKLOG) == -1) {
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
listener_find(const struct master *m, const char *spec, int lmtp)
{
	int i;

	for (i = 0; i < m->nl; i++)
		if (m->l[i].lmtp == lmtp && strcmp(m->l[i].spec, spec) == 0)
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
	const struct listeners *ls[2] = { &c->smtp.l, &c->lmtp.l };
	struct listener *nl;
	int i, k, j, n = 0, failed = 0;

	nl = calloc((size_t)(c->smtp.l.nlisten + c->lmtp.l.nlisten) + 1,
	    sizeof(*nl));
	if (nl == NULL)
		return 1;
	for (k = 0; k < 2; k++)
		for (i = 0; i < ls[k]->nlisten; i++) {
			const char *spec = ls[k]->listen[i];

			if ((j = listener_find(m, spec, k)) != -1) {
				nl[n++] = m->l[j];
				m->l[j].fd = -1;
				continue;
			}
			nl[n].fd = listener_open(spec, &nl[n].path);
			if (nl[n].fd == -1) {
				failed++;
				continue;
			}
			nl[n].spec = strdup(spec);
			nl[n].lmtp = k;
			log_info("listening on %s (%s)", spec, k ? "LMTP" :
			    "SMTP");
			n++;
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
	return listeners_update(m, m->conf) == 0 ? 0 : -1;
}

static int
kids_count(const struct master *m, int lmtp)
{
	int i, n = 0;

	for (i = 0; i < m->nkids; i++)
		if (m->kids[i].lmtp == lmtp)
			n++;
	return n;
}

static void
kids_add(struct master *m, pid_t pid, int lmtp)
{
	struct child *k;
	int n;

	if (m->nkids == m->akids) {
		n = m->akids ? m->akids * 2 : 64;
		if ((k = realloc(m->kids, (size_t)n * sizeof(*k))) == NULL) {
			log_warn("child table");
			return;
		}
		m->kids = k;
		m->akids = n;
	}
	m->kids[m->nkids].pid = pid;
	m->kids[m->nkids].lmtp = lmtp;
	m->nkids++;
}

/* reap - collect every exited child. */
static void
reap(struct master *m)
{
	pid_t pid;
	int st, i;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		for (i = 0; i < m->nkids; i++)
			if (m->kids[i].pid == pid) {
				m->kids[i] = m->kids[--m->nkids];
				break;
			}
		if (WIFSIGNALED(st) && WTERMSIG(st) != SIGTERM)
			log_warnx("session %ld died of signal %d", (long)pid,
			    WTERMSIG(st));
	}
}

/*
 * child_main - the session process: master's signals undone, SIGTERM
 * and SIGINT set the stop flag and are let in only while waiting.
 */
static void __attribute__((noreturn))
child_main(struct master *m, int fd, int lmtp, const struct sockaddr *sa,
    socklen_t salen, const sigset_t *oldmask)
{
	struct smtpd_client cl;
	struct smtpd_ctx ctx;
	struct sigaction act;
	sigset_t waitmask;
	int i;

	sigfd = -1;
	for (i = 0; i < m->nl; i++)
		close(m->l[i].fd);
	close(m->sigpipe[0]);
	close(m->sigpipe[1]);
	if (m->pidfd != -1)
		close(m->pidfd);
	memset(&act, 0, sizeof(act));
	sigemptyset(&act.sa_mask);
	act.sa_handler = SIG_DFL;
	sigaction(SIGCHLD, &act, NULL);
	act.sa_handler = SIG_IGN;
	sigaction(SIGHUP, &act, NULL);
	act.sa_handler = child_sig;
	sigaction(SIGTERM, &act, NULL);
	sigaction(SIGINT, &act, NULL);
	waitmask = *oldmask;
	sigdelset(&waitmask, SIGTERM);
	sigdelset(&waitmask, SIGINT);
	memset(&cl, 0, sizeof(cl));
	smtpd_client_set(&cl, sa, salen, 1);
	cl.lmtp = lmtp;
	memset(&ctx, 0, sizeof(ctx));
	ctx.conf = m->conf;
	ctx.usage = m->usage;
	ctx.stop = &child_stop;
	ctx.waitmask = &waitmask;
	_exit(smtpd_session(&ctx, fd, fd, &cl) == 0 ? 0 : 1);
}

/* too_many - the refusal for a client over max-clients. */
static void
too_many(struct master *m, int fd)
{
	char buf[512];
	int n;

	n = snprintf(buf, sizeof(buf), "421 4.3.2 %s too many connections, "
	    "try later\r\n", m->conf->hostname);
	if (n > 0 && (size_t)n < sizeof(buf))
		(void)write(fd, buf, (size_t)n);
	close(fd);
}

/* spawn - fork the session for fd with every master signal held. */
static void
spawn(struct master *m, int fd, int lmtp, const struct sockaddr *sa,
    socklen_t salen)
{
	sigset_t all, old;
	pid_t pid;

	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	pid = fork();
	if (pid == 0)
		child_main(m, fd, lmtp, sa, salen, &old);
	if (pid == -1)
		log_warn("fork");
	else
		kids_add(m, pid, lmtp);
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(fd);
}

static void
accept_some(struct master *m, struct listener *l)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, n, max;

	max = l->lmtp && m->conf->lmtp.max_clients > 0 ?
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
		if (max > 0 && kids_count(m, l->lmtp) >= max) {
			log_warnx("too many connections on %s (%d)", l->spec,
			    max);
			too_many(m, fd);
			continue;
		}
		spawn(m, fd, l->lmtp, (struct sockaddr *)&ss, len);
	}
}

/* conf_errors - conf_load with its messages sent to the log. */
static struct bridge_conf *
conf_errors(const char *path)
{
	struct bridge_conf *c;
	char *text = NULL, *line, *save;
	size_t len = 0;
	FILE *f;
	int nerr = 0;

	if ((f = open_memstream(&text, &len)) == NULL)
		return NULL;
	c = conf_load(path, f, &nerr);
	fclose(f);
	for (line = strtok_r(text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save))
		log_warnx("%s", line);
	free(text);
	return c;
}

/* reload - SIGHUP: a new config, or the old one kept when it is bad. */
static void
reload(struct master *m)
{
	struct bridge_conf *nc;
	struct usage *nu;
	int i;

	log_info("reloading %s", m->conf_path);
	if ((nc = conf_errors(m->conf_path)) == NULL) {
		log_warnx("reload failed: keeping the old configuration");
		return;
	}
	for (i = 0; i < nc->ncustomers; i++)
		if (spool_prepare(nc->spool, nc->customers[i].name) != RS_OK)
			log_warn("spool for %s", nc->customers[i].name);
	if (listeners_update(m, nc) != 0)
		log_warnx("reload: some listeners could not be bound");
	if ((nu = usage_create(nc)) == NULL)
		log_warn("usage table");
	usage_destroy(m->usage);
	m->usage = nu;
	conf_free(m->conf);
	m->conf = nc;
	log_info("reloaded: %d customers, %d listeners", nc->ncustomers,
	    m->nl);
}

/* shutdown_all - stop accepting, SIGTERM the children, wait, exit. */
static void __attribute__((noreturn))
shutdown_all(struct master *m)
{
	struct pollfd pfd;
	unsigned char buf[64];
	double deadline;
	int i;

	log_info("shutting down, %d sessions open", m->nkids);
	for (i = 0; i < m->nl; i++)
		listener_close(&m->l[i]);
	m->nl = 0;
	for (i = 0; i < m->nkids; i++)
		kill(m->kids[i].pid, SIGTERM);
	deadline = time_mono() + SHUTDOWN_WAIT;
	reap(m);
	while (m->nkids > 0 && time_mono() < deadline) {
		pfd.fd = m->sigpipe[0];
		pfd.events = POLLIN;
		poll(&pfd, 1, 100);
		while (read(m->sigpipe[0], buf, sizeof(buf)) > 0)
			;
		reap(m);
	}
	for (i = 0; i < m->nkids; i++) {
		log_warnx("session %ld did not stop: killed",
		    (long)m->kids[i].pid);
		kill(m->kids[i].pid, SIGKILL);
	}
	while (m->nkids > 0 && waitpid(-1, NULL, 0) > 0)
		m->nkids--;
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
	reap(m);
	if (stop)
		return 1;
	if (hup)
		reload(m);
	return 0;
}

void
master_loop(struct master *m)
{
	struct pollfd *pfd = NULL;
	double next = time_mono() + USAGE_REFRESH, left;
	int i, n, np = 0;

	for (;;) {
		if (np < m->nl + 1) {
			np = m->nl + 1;
			if ((pfd = realloc(pfd, (size_t)np * sizeof(*pfd))) ==
			    NULL)
				log_fatal(EXIT_OSERR, "poll table");
		}
		pfd[0].fd = m->sigpipe[0];
		pfd[0].events = POLLIN;
		for (i = 0; i < m->nl; i++) {
			pfd[i + 1].fd = m->l[i].fd;
			pfd[i + 1].events = POLLIN;
		}
		left = next - time_mono();
		n = poll(pfd, (nfds_t)m->nl + 1, left > 0 ? (int)(left * 1000) :
		    0);
		if (n == -1 && errno != EINTR)
			log_fatal(EXIT_OSERR, "poll");
		if (time_mono() >= next) {
			if (m->usage != NULL)
				usage_refresh(m->usage, m->conf);
			next = time_mono() + USAGE_REFRESH;
		}
		if (n <= 0)
			continue;
		if ((pfd[0].revents & POLLIN) && signals(m))
			shutdown_all(m);
		for (i = 0; i < m->nl && i < np - 1; i++)
			if (pfd[i + 1].fd == m->l[i].fd &&
			    (pfd[i + 1].revents & POLLIN))
				accept_some(m, &m->l[i]);
	}
}
