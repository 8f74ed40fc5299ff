/*
 * daemon.c - `bridge-linkup run`, the leaf agent's daemon, and the
 * client side of its control socket for `up` and `down`.
 *
 * The daemon watches the link (linkwatch.h: the probe every `every`,
 * at once after a routing change; two failures in a row mean down),
 * runs every hub on an up transition (an up event), then every `poll`
 * while the link is up, inside the hub's windows and after its backoff;
 * hangs up with link { down-command } once every hub with an
 * online-deadline has had that long without an exchange; and serves
 * `up [hub...]` and `down` from the hooks over <spool>/linkup/control.
 * Each run is a child process (hubrun.c) holding the hub's lock, so a
 * hub never runs twice and an `up` while it runs joins that run.
 *
 * Control protocol: the client sends one line, "up [hub ...]" or
 * "down"; the daemon answers "done N" (N the exit code) when the runs
 * have ended, and closes.  Without a daemon (no socket, or nobody
 * listening) the client does the work itself.
 */
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "linkup.h"
#include "linkwatch.h"
#include "log.h"
#include "util.h"

#define CLIENTS_MAX	32
#define REQ_MAX		1024
#define DOWN_WAIT	60	/* seconds to wait for runs to stop */
#define PROBE_SECS	10	/* one probe's connect at most */
#define PROBE_RETRY	10	/* seconds to the probe confirming a failure */
#define ROUTE_SETTLE	1.0	/* after a routing change, probe this soon */

extern char **environ;

/* --- the control socket's path, and the client ---------------------- */

static int
ctl_path(const struct leaf_conf *lc, struct sockaddr_un *sun)
{
	char dir[PATH_MAX];

	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (lstatus_dir(lc, dir, sizeof(dir)) == -1 ||
	    path_build(sun->sun_path, sizeof(sun->sun_path), "%s/control",
	    dir) == -1)
		return -1;
	return 0;
}

/* ctl_connect - the daemon's socket, or -1 when no daemon listens. */
static int
ctl_connect(const struct leaf_conf *lc)
{
	struct sockaddr_un sun;
	int fd;

	if (ctl_path(lc, &sun) == -1 ||
	    (fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/* ctl_ask - send req, wait for "done N"; N, or -1 when none came. */
static int
ctl_ask(int fd, const char *req, volatile sig_atomic_t *stop)
{
	char buf[256];
	size_t len = 0;
	ssize_t n;
	struct pollfd pf;

	if (io_write_all(fd, req, strlen(req)) == -1)
		return -1;
	for (;;) {
		pf.fd = fd;
		pf.events = POLLIN;
		if (stop != NULL && *stop)
			return EXIT_TEMPFAIL;
		if (poll(&pf, 1, 200) <= 0)
			continue;
		n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		if (strchr(buf, '\n') != NULL)
			break;
		if (len == sizeof(buf) - 1)
			return -1;
	}
	buf[len] = '\0';
	if (strncmp(buf, "done ", 5) != 0)
		return -1;
	return (int)strtol(buf + 5, NULL, 10);
}

int
linkup_request_up(const struct leaf_conf *lc, char **names, int n,
    volatile sig_atomic_t *stop)
{
	char req[REQ_MAX];
	size_t len;
	int fd, i, rc;

	if ((fd = ctl_connect(lc)) == -1)
		return LINKUP_NO_DAEMON;
	len = (size_t)snprintf(req, sizeof(req), "up");
	for (i = 0; i < n && len < sizeof(req); i++)
		len += (size_t)snprintf(req + len, sizeof(req) - len, " %s",
		    names[i]);
	if (len + 2 > sizeof(req)) {
		close(fd);
		log_warnx("too many hubs named for one request");
		return EXIT_USAGE;
	}
	strcat(req, "\n");
	log_debug("passing the up event to the daemon");
	rc = ctl_ask(fd, req, stop);
	close(fd);
	if (rc == -1) {
		log_warnx("the daemon did not answer; the runs it started go "
		    "on without us");
		return EXIT_TEMPFAIL;
	}
	return rc;
}

int
linkup_down(const struct leaf_conf *lc)
{
	int fd, rc, left;

	if ((fd = ctl_connect(lc)) != -1) {
		rc = ctl_ask(fd, "down\n", NULL);
		close(fd);
		return rc == -1 ? EXIT_TEMPFAIL : rc;
	}
	if ((left = hubrun_stop_all(lc, DOWN_WAIT)) > 0) {
		log_warnx("%d run%s did not stop within %ds", left,
		    left == 1 ? "" : "s", DOWN_WAIT);
		return EXIT_TEMPFAIL;
	}
	return EXIT_OK;
}

/* --- the daemon's state ---------------------------------------------- */

struct dhub {
	const struct leaf_hub *h;
	pid_t	pid;			/* its run, 0 when none */
	int	up_event;		/* the next run is an up event's */
	time_t	next;			/* the plan, 0 = none */
	time_t	shown;			/* the plan last written */
	/* from the status file after each run */
	int	failures;
	time_t	retry_at, run_end, last_exchange;
};

struct client {
	int	fd;			/* -1: free */
	char	buf[REQ_MAX];
	size_t	len;
	int	kind;			/* 0 reading, 1 up, 2 down */
	unsigned char *want;		/* up: hubs still to end */
	int	rc;
	double	since;
};

struct daemon {
	struct leaf_conf *lc;
	const char *conffile;
	int	verbose;
	volatile sig_atomic_t *stop;
	int	lfd, route;
	int	link;			/* -1 unknown, 0 down, 1 up */
	time_t	link_since;
	int	fails;			/* probes failed in a row */
	pid_t	probe;
	double	next_probe;
	pid_t	hangup;			/* down-command running */
	int	hung_up;		/* it ran: not again until up; no
					   probes (they would dial), polls
					   still call */
	struct dhub *hubs;
	int	nh;
	struct client cl[CLIENTS_MAX];
	int	dirty;			/* status to write */
};

static volatile sig_atomic_t reload;

static void
on_hup(int sig)
{
	(void)sig;
	reload = 1;
}

/* --- status ---------------------------------------------------------- */

static void
upd_site(struct lstatus *st, void *arg)
{
	struct daemon *d = arg;
	struct ls_hub *sh;
	int i;

	st->link = d->link;
	st->link_since = d->link_since;
	st->daemon = d->lfd == -1 ? 0 : (long)getpid();
	for (i = 0; i < d->nh; i++)
		if ((sh = lstatus_hub(st, d->hubs[i].h->name)) != NULL)
			sh->next_run = d->hubs[i].next;
}

static void
refresh_hub(struct daemon *d, struct dhub *dh)
{
	struct lstatus st;
	int i;

	if (lstatus_read(d->lc, &st) == -1)
		return;
	for (i = 0; i < st.nhubs; i++)
		if (strcmp(st.hubs[i].name, dh->h->name) == 0) {
			dh->failures = st.hubs[i].failures;
			dh->retry_at = st.hubs[i].retry_at;
			dh->run_end = st.hubs[i].run_end;
			dh->last_exchange = st.hubs[i].last_exchange;
		}
	lstatus_free(&st);
}

/* --- the link ---------------------------------------------------------- */

static void
stop_runs(struct daemon *d, const char *why)
{
	int i;

	for (i = 0; i < d->nh; i++)
		if (d->hubs[i].pid > 0) {
			log_info("%s: stopping its run: %s", d->hubs[i].h->name,
			    why);
			kill(d->hubs[i].pid, SIGTERM);
		}
}

static void
link_set(struct daemon *d, int up, const char *why)
{
	int i;

	if (d->link == up)
		return;
	log_info("link %s (%s)", up ? "up" : "down", why);
	d->link = up;
	d->link_since = sched_now();
	d->dirty = 1;
	if (up) {
		d->hung_up = 0;
		for (i = 0; i < d->nh; i++)
			d->hubs[i].up_event = 1;
	} else
		stop_runs(d, "the link went down");
}

static void
probe_done(struct daemon *d, int st)
{
	int ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;

	d->probe = 0;
	if (ok) {
		d->fails = 0;
		d->next_probe = time_mono() + (double)d->lc->link_every;
		link_set(d, 1, "the probe connected");
		return;
	}
	d->fails++;
	log_debug("probe of %s failed (%d in a row)", d->lc->link_probe,
	    d->fails);
	d->next_probe = time_mono() + (double)(d->lc->link_every < PROBE_RETRY ?
	    d->lc->link_every : PROBE_RETRY);
	if (d->fails >= 2 || d->link == -1)
		link_set(d, 0, "the probe failed");
}

/* hangup_due - may the daemon hang up now (online-deadline)? */
static int
hangup_due(struct daemon *d, time_t now)
{
	const struct leaf_hub *h;
	time_t from;
	int i, any = 0;

	if (d->lc->link_down == NULL || d->link != 1 || d->hung_up ||
	    d->hangup > 0)
		return 0;
	for (i = 0; i < d->nh; i++) {
		h = d->hubs[i].h;
		if (d->hubs[i].pid > 0)
			return 0;
		if (h->online_deadline == 0)
			continue;
		any = 1;
		from = d->hubs[i].last_exchange > d->link_since ?
		    d->hubs[i].last_exchange : d->link_since;
		if (d->hubs[i].up_event || now < from + h->online_deadline)
			return 0;
	}
	return any;
}

static void
hangup_start(struct daemon *d)
{
	pid_t pid;

	log_info("every hub's online-deadline has passed: running %s",
	    d->lc->link_down[0]);
	if ((pid = fork()) == 0) {
		execve(d->lc->link_down[0], d->lc->link_down, environ);
		_exit(EXIT_OSERR);
	}
	if (pid == -1) {
		log_warn("cannot run %s", d->lc->link_down[0]);
		return;
	}
	d->hangup = pid;
	d->hung_up = 1;
	link_set(d, 0, "hung up after the online-deadline");
}

/*
 * call_again - a poll is due after the daemon hung up: the run calls
 * (a dial-on-demand link dials), so the link counts as up from now and
 * the online-deadline applies again after it.  Not an up event: the
 * other hubs keep their own schedule.
 */
static void
call_again(struct daemon *d, const struct dhub *dh)
{
	log_info("%s: its poll is due: calling again after the hang-up",
	    dh->h->name);
	d->hung_up = 0;
	d->link = 1;
	d->link_since = sched_now();
	d->dirty = 1;
	d->next_probe = time_mono() + (double)d->lc->link_every;
}

/* --- runs ------------------------------------------------------------- */

static volatile sig_atomic_t child_stop;

static void
child_term(int sig)
{
	(void)sig;
	child_stop = 1;
}

static void
run_start(struct daemon *d, struct dhub *dh)
{
	struct sigaction sa;
	int i, up = dh->up_event;

	fflush(stderr);
	if ((dh->pid = fork()) == -1) {
		log_warn("%s: cannot start its run", dh->h->name);
		dh->pid = 0;
		return;
	}
	if (dh->pid == 0) {
		close(d->lfd);
		if (d->route != -1)
			close(d->route);
		for (i = 0; i < CLIENTS_MAX; i++)
			if (d->cl[i].fd != -1)
				close(d->cl[i].fd);
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = child_term;
		sigaction(SIGTERM, &sa, NULL);
		signal(SIGINT, SIG_IGN);
		signal(SIGHUP, SIG_IGN);
		signal(SIGCHLD, SIG_DFL);
		_exit(hubrun(d->lc, dh->h, up, d->verbose, &child_stop));
	}
	dh->up_event = 0;
	dh->next = 0;
	d->dirty = 1;
}

static void
client_reply(struct client *c)
{
	char line[32];
	int n = snprintf(line, sizeof(line), "done %d\n", c->rc);

	if (write(c->fd, line, (size_t)n) != n)
		log_debug("control client went away");
	close(c->fd);
	free(c->want);
	c->want = NULL;
	c->fd = -1;
}

static void
run_ended(struct daemon *d, int k, int st)
{
	struct dhub *dh = &d->hubs[k];
	int rc = WIFEXITED(st) ? WEXITSTATUS(st) : EXIT_SOFTWARE, i, left, j;
	struct client *c;

	dh->pid = 0;
	refresh_hub(d, dh);
	d->dirty = 1;
	for (i = 0; i < CLIENTS_MAX; i++) {
		c = &d->cl[i];
		if (c->fd == -1 || c->kind != 1 || !c->want[k])
			continue;
		c->want[k] = 0;
		c->rc = linkup_worse(c->rc, rc);
		for (j = 0, left = 0; j < d->nh; j++)
			left += c->want[j];
		if (left == 0)
			client_reply(c);
	}
}

/*
 * plan - when hub dh runs next (0 = not while the link is down, unless
 * the daemon hung it up itself: then the next poll calls again).
 */
static time_t
plan(const struct daemon *d, const struct dhub *dh, time_t now)
{
	time_t base;

	if (d->link != 1 && !d->hung_up)
		return 0;
	if (dh->up_event)
		return now;
	if (dh->failures > 0 && dh->retry_at > 0)
		base = dh->retry_at;
	else if (dh->run_end > 0)
		base = dh->run_end + dh->h->poll;
	else
		base = now;
	return sched_window_next(dh->h, base < now ? now : base);
}

/* --- requests ---------------------------------------------------------- */

static void
request(struct daemon *d, struct client *c)
{
	char *p = c->buf, *w;
	const struct leaf_hub *h;
	int i, any = 0;

	c->buf[strcspn(c->buf, "\r\n")] = '\0';
	w = strsep(&p, " ");
	if (strcmp(w, "down") == 0 && p == NULL) {
		log_info("down requested");
		c->kind = 2;
		c->since = time_mono();
		link_set(d, 0, "a down request");
		stop_runs(d, "a down request");
		return;
	}
	if (strcmp(w, "up") != 0 || (c->want = calloc((size_t)d->nh,
	    1)) == NULL) {
		c->rc = EXIT_USAGE;
		client_reply(c);
		return;
	}
	while (p != NULL && (w = strsep(&p, " ")) != NULL) {
		if (*w == '\0')
			continue;
		if ((h = conf_leaf_hub(d->lc, w)) == NULL) {
			c->rc = EXIT_CONFIG;
			client_reply(c);
			return;
		}
		c->want[h - d->lc->hubs] = 1;
		any = 1;
	}
	if (!any)
		memset(c->want, 1, (size_t)d->nh);
	c->kind = 1;
	c->rc = 0;
	log_info("up requested");
	link_set(d, 1, "an up request");
	for (i = 0; i < d->nh; i++)
		if (c->want[i] && d->hubs[i].pid == 0) {
			d->hubs[i].up_event = 1;
			run_start(d, &d->hubs[i]);
		}
}

static void
client_read(struct daemon *d, struct client *c)
{
	ssize_t n = read(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);

	if (n <= 0) {
		close(c->fd);
		free(c->want);
		c->want = NULL;
		c->fd = -1;
		return;
	}
	c->len += (size_t)n;
	c->buf[c->len] = '\0';
	if (strchr(c->buf, '\n') != NULL)
		request(d, c);
	else if (c->len == sizeof(c->buf) - 1) {
		c->rc = EXIT_USAGE;
		client_reply(c);
	}
}

static void
client_accept(struct daemon *d)
{
	int fd, i;

	if ((fd = accept4(d->lfd, NULL, NULL, SOCK_CLOEXEC)) == -1)
		return;
	for (i = 0; i < CLIENTS_MAX; i++)
		if (d->cl[i].fd == -1) {
			memset(&d->cl[i], 0, sizeof(d->cl[i]));
			d->cl[i].fd = fd;
			return;
		}
	log_warnx("too many control clients; one refused");
	close(fd);
}

/* --- setup ------------------------------------------------------------- */

static int
listen_ctl(struct daemon *d)
{
	struct sockaddr_un sun;
	int fd;

	if (ctl_path(d->lc, &sun) == -1) {
		log_warn("%s/linkup", d->lc->spool);
		return -1;
	}
	unlink(sun.sun_path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0)) == -1 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    chmod(sun.sun_path, 0600) == -1 || listen(fd, 16) == -1) {
		log_warn("control socket %s", sun.sun_path);
		if (fd != -1)
			close(fd);
		return -1;
	}
	d->lfd = fd;
	return 0;
}

/* daemon_lock - one daemon per spool: linkup/daemon.pid, held. */
static int
daemon_lock(const struct leaf_conf *lc)
{
	char dir[PATH_MAX], path[PATH_MAX];
	int fd;

	if (lstatus_dir(lc, dir, sizeof(dir)) == -1 ||
	    path_build(path, sizeof(path), "%s/daemon.pid", dir) == -1 ||
	    (fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    0600)) == -1) {
		log_warn("%s/linkup/daemon.pid", lc->spool);
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		log_warnx("another bridge-linkup daemon is running for %s",
		    lc->spool);
		close(fd);
		return -2;
	}
	return fd;
}

static int
hubs_init(struct daemon *d)
{
	int i;

	free(d->hubs);
	if ((d->hubs = calloc((size_t)d->lc->nhubs + 1, sizeof(*d->hubs))) ==
	    NULL)
		return -1;
	d->nh = d->lc->nhubs;
	for (i = 0; i < d->nh; i++) {
		d->hubs[i].h = &d->lc->hubs[i];
		refresh_hub(d, &d->hubs[i]);
	}
	return 0;
}

/* try_reload - a new leaf.conf after SIGHUP, once nothing runs. */
static void
try_reload(struct daemon *d)
{
	struct leaf_conf *nc;
	int i, nerr;

	for (i = 0; i < d->nh; i++)
		if (d->hubs[i].pid > 0)
			return;
	for (i = 0; i < CLIENTS_MAX; i++)
		if (d->cl[i].fd != -1 && d->cl[i].kind == 1)
			return;
	reload = 0;
	if ((nc = conf_leaf_load(d->conffile, stderr, &nerr)) == NULL) {
		log_warnx("%s: %d problem%s; keeping the old configuration",
		    d->conffile, nerr, nerr == 1 ? "" : "s");
		return;
	}
	if (strcmp(nc->spool, d->lc->spool) != 0) {
		log_warnx("%s: the spool changed; restart bridge-linkup to "
		    "use it", d->conffile);
		conf_leaf_free(nc);
		return;
	}
	conf_leaf_free(d->lc);
	d->lc = nc;
	hubs_init(d);
	log_info("%s reloaded: %d hub%s", d->conffile, d->nh,
	    d->nh == 1 ? "" : "s");
	d->dirty = 1;
}

static void
background(void)
{
	int fd;

	if (fork() != 0)
		_exit(0);
	setsid();
	if (fork() != 0)
		_exit(0);
	if (chdir("/") == -1)
		log_warn("chdir /");
	if ((fd = open("/dev/null", O_RDWR)) != -1) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
}

/* --- the loop ------------------------------------------------------- */

static void
reap(struct daemon *d)
{
	pid_t pid;
	int st, i;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		if (pid == d->probe) {
			probe_done(d, st);
			continue;
		}
		if (pid == d->hangup) {
			d->hangup = 0;
			if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
				log_warnx("%s failed (status %d)",
				    d->lc->link_down[0], st);
			continue;
		}
		for (i = 0; i < d->nh; i++)
			if (d->hubs[i].pid == pid)
				run_ended(d, i, st);
	}
}

static int
running(const struct daemon *d)
{
	int i, n = 0;

	for (i = 0; i < d->nh; i++)
		n += d->hubs[i].pid > 0;
	return n;
}

/* tick - everything time decides: probes, runs, hang-up, replies. */
static void
tick(struct daemon *d)
{
	time_t now = sched_now();
	struct dhub *dh;
	int i;

	if (d->lc->link_probe != NULL && d->probe == 0 && !d->hung_up &&
	    time_mono() >= d->next_probe) {
		d->probe = linkwatch_probe_start(d->lc->link_probe,
		    PROBE_SECS);
		if (d->probe == -1)
			d->probe = 0;
		d->next_probe = time_mono() + (double)d->lc->link_every;
	}
	for (i = 0; i < d->nh; i++) {
		dh = &d->hubs[i];
		if (dh->pid > 0)
			continue;
		dh->next = plan(d, dh, now);
		if (dh->next != 0 && now >= dh->next && !reload) {
			if (d->hung_up)
				call_again(d, dh);
			run_start(d, dh);
		}
		if (dh->next != dh->shown) {
			dh->shown = dh->next;
			d->dirty = 1;
		}
	}
	if (hangup_due(d, now))
		hangup_start(d);
	/* the status first: who is told "down" may read it at once */
	if (d->dirty) {
		d->dirty = 0;
		lstatus_update(d->lc, upd_site, d);
	}
	for (i = 0; i < CLIENTS_MAX; i++)
		if (d->cl[i].fd != -1 && d->cl[i].kind == 2 &&
		    (running(d) == 0 || time_mono() - d->cl[i].since >
		    DOWN_WAIT)) {
			d->cl[i].rc = running(d) ? EXIT_TEMPFAIL : 0;
			client_reply(&d->cl[i]);
		}
}

int
linkup_daemon(struct leaf_conf *lc, const char *conffile, int debug,
    int verbose, volatile sig_atomic_t *stop)
{
	struct daemon d;
	struct pollfd pf[CLIENTS_MAX + 2];
	struct sigaction sa;
	char pidbuf[32];
	int lock, i, n, slot[CLIENTS_MAX + 2];

	memset(&d, 0, sizeof(d));
	d.lc = lc;
	d.conffile = conffile;
	d.verbose = verbose;
	d.stop = stop;
	d.lfd = d.route = -1;
	for (i = 0; i < CLIENTS_MAX; i++)
		d.cl[i].fd = -1;
	if (lc->nhubs == 0) {
		log_warnx("%s: no hub section", lc->file);
		conf_leaf_free(lc);
		return EXIT_CONFIG;
	}
	if ((lock = daemon_lock(lc)) < 0) {
		conf_leaf_free(lc);
		return lock == -2 ? EXIT_TEMPFAIL : EXIT_CANTCREAT;
	}
	if (!debug)
		background();
	n = snprintf(pidbuf, sizeof(pidbuf), "%ld\n", (long)getpid());
	if (ftruncate(lock, 0) == -1 || pwrite(lock, pidbuf, (size_t)n, 0) != n)
		log_warn("%s/linkup/daemon.pid", lc->spool);
	if (listen_ctl(&d) == -1 || hubs_init(&d) == -1) {
		conf_leaf_free(lc);
		return EXIT_CANTCREAT;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_hup;
	sigaction(SIGHUP, &sa, NULL);
	d.route = linkwatch_route_open();
	/* without a probe the link is taken to be up until a down request */
	d.link = lc->link_probe != NULL ? -1 : 1;
	d.link_since = sched_now();
	d.dirty = 1;
	log_info("started: %d hub%s, link %s%s", d.nh, d.nh == 1 ? "" : "s",
	    lc->link_probe ? "probed at " : "taken to be up (no probe)",
	    lc->link_probe ? lc->link_probe : "");
	while (!*stop) {
		tick(&d);
		n = 0;
		pf[n].fd = d.lfd;
		pf[n].events = POLLIN;
		slot[n++] = -1;
		if (d.route != -1) {
			pf[n].fd = d.route;
			pf[n].events = POLLIN;
			slot[n++] = -2;
		}
		for (i = 0; i < CLIENTS_MAX; i++)
			if (d.cl[i].fd != -1 && d.cl[i].kind == 0) {
				pf[n].fd = d.cl[i].fd;
				pf[n].events = POLLIN;
				slot[n++] = i;
			}
		if (poll(pf, (nfds_t)n, sched_fake() ? 200 : 1000) > 0)
			for (i = 0; i < n; i++) {
				if (!(pf[i].revents & (POLLIN | POLLHUP)))
					continue;
				if (slot[i] == -1)
					client_accept(&d);
				else if (slot[i] == -2 &&
				    linkwatch_route_drain(d.route) > 0 &&
				    lc->link_probe != NULL) {
					log_debug("routing changed: probing");
					d.next_probe = time_mono() +
					    ROUTE_SETTLE;
				} else if (slot[i] >= 0)
					client_read(&d, &d.cl[slot[i]]);
			}
		reap(&d);
		if (reload)
			try_reload(&d);
	}
	log_info("stopping");
	stop_runs(&d, "the daemon is stopping");
	for (i = 0; i < DOWN_WAIT * 10 && running(&d) > 0; i++) {
		usleep(100 * 1000);
		reap(&d);
	}
	close(d.lfd);
	d.lfd = -1;
	lstatus_update(d.lc, upd_site, &d);
	for (i = 0; i < CLIENTS_MAX; i++)
		if (d.cl[i].fd != -1) {
			d.cl[i].rc = EXIT_TEMPFAIL;
			client_reply(&d.cl[i]);
		}
	conf_leaf_free(d.lc);
	free(d.hubs);
	close(lock);
	return EXIT_OK;
}
