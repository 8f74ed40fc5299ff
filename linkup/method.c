/*
 * method.c - one method of one hub, as bridge-linkup runs it:
 *
 *   etrn  etrnc.h: the targets, asked again until the hub says 251 or
 *         the run's deadline; the hub delivers to the leaf's own MTA
 *   odmr  odmrc.h: AUTH, ATRN, and the turned-round session injected
 *         through inject.h, one copy per recipient (recv.c)
 *   uucp  uucico (Taylor UUCP) for the hub's system, -S on an up event,
 *         with uuxqt for it every second while the call lasts and once
 *         after, then the engine's retry of kept bundles
 *   ssh   the bridge-fetch engine (pull.h) in a child process
 *
 * Stopping (the link went down, the deadline passed): network work
 * stops at once, so what was fetched stays journaled; local work on
 * mail the leaf already holds (uuxqt, kept bundles, the bundle being
 * injected) is left to finish, so nothing is injected twice.
 * Programs are started with execve and an argument vector.
 */
#include <sys/file.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "cram.h"
#include "etrnc.h"
#include "linkup.h"
#include "log.h"
#include "odmrc.h"
#include "recv.h"
#include "ssh.h"
#include "unbatch.h"
#include "util.h"

#ifndef UUCICO_PATH
#if defined(__FreeBSD__)
#define UUCICO_PATH	"/usr/local/libexec/uucp/uucico"
#else
#define UUCICO_PATH	"/usr/sbin/uucico"
#endif
#endif
#define CONNECT_TIMEOUT	30
#define IO_TIMEOUT	120
#define KEEPALIVE	30
#define KILL_GRACE	10	/* seconds after SIGTERM before SIGKILL */
#define XQT_EVERY	1.0	/* uuxqt during a call: seconds between runs */

extern char **environ;

static void __attribute__((format(printf, 2, 3)))
set_err(struct mresult *res, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(res->err, sizeof(res->err), fmt, ap);
	va_end(ap);
}

static int
stopping(const struct mrun *r)
{
	return (r->stop != NULL && *r->stop) || time_mono() >= r->deadline;
}

static long
remaining(const struct mrun *r)
{
	double left = r->deadline - time_mono();

	return left < 1 ? 1 : (long)left;
}

/* --- etrn ----------------------------------------------------------- */

struct etrn_say {
	const struct leaf_hub *h;
	char	last[LINKUP_ERR_MAX];	/* the last reply or error line */
};

static void
etrn_say(void *arg, int kind, const char *line)
{
	struct etrn_say *es = arg;

	switch (kind) {
	case ETRNC_SAY_REPLY:
		log_info("%s: etrn: %s", es->h->name, line);
		snprintf(es->last, sizeof(es->last), "%s", line);
		break;
	case ETRNC_SAY_ERROR:
		log_warnx("%s: etrn: %s", es->h->name, line);
		snprintf(es->last, sizeof(es->last), "%s", line);
		break;
	default:
		log_debug("%s: etrn: %s", es->h->name, line);
	}
}

static void
m_etrn(const struct mrun *r, struct mresult *res)
{
	const struct leaf_hub *h = r->h;
	struct etrnc_opts o;
	struct etrnc_target *t;
	struct etrn_say es;
	char secret[CRAM_SECRET_MAX], err[300];
	long long first = -1, last = -1;
	int i, fatal;

	memset(&es, 0, sizeof(es));
	es.h = h;
	etrnc_opts_default(&o);
	o.server = h->etrn_server;
	o.helo = r->lc->hostname;
	o.user = h->etrn_user;
	o.tls_policy = h->etrn_tls.policy;
	o.tls_ca = h->etrn_tls.ca;
	o.tls_name = h->etrn_tls.name;
	o.wait = remaining(r);
	o.backoff_max = 15;
	o.done_on_250 = 1;
	o.say = etrn_say;
	o.arg = &es;
	o.stop = r->stop;
	if (h->etrn_user != NULL) {
		if (cram_secret_read(h->etrn_secret, secret, sizeof(secret),
		    err, sizeof(err)) == -1) {
			res->rc = EXIT_CONFIG;
			set_err(res, "%s", err);
			return;
		}
		o.secret = secret;
	}
	if ((t = calloc((size_t)h->netrn_targets, sizeof(*t))) == NULL) {
		res->rc = EXIT_OSERR;
		set_err(res, "out of memory");
		return;
	}
	for (i = 0; i < h->netrn_targets; i++)
		t[i].target = h->etrn_targets[i];
	res->rc = etrnc_release(&o, t, h->netrn_targets, &fatal);
	OPENSSL_cleanse(secret, sizeof(secret));
	/* several targets may name one queue: the largest count */
	for (i = 0; i < h->netrn_targets; i++) {
		if (t[i].first_pending > first)
			first = t[i].first_pending;
		if (t[i].pending > last)
			last = t[i].pending;
	}
	res->pending = last;
	res->msgs = first < 0 ? 0 : last > 0 ? first - last : first;
	if (res->msgs < 0)
		res->msgs = 0;
	if (res->rc != 0)
		set_err(res, "%s", es.last[0] ? es.last : "ETRN failed");
	free(t);
}

/* kept - the engine's retry of bundles the local MTA could not take. */
static void
kept(const struct mrun *r)
{
	struct unbatch *ub;
	unsigned n[5] = { 0, 0, 0, 0, 0 };

	if ((ub = ub_new(r->lc, 0)) == NULL)
		return;
	ub_retry(ub, n);
	ub_free(ub);
	if (n[UB_DONE] + n[UB_KEPT] + n[UB_CORRUPT] > 0)
		log_info("%s: kept bundles: %u injected, %u still kept, "
		    "%u damaged", r->h->name, n[UB_DONE], n[UB_KEPT],
		    n[UB_CORRUPT]);
}

/* --- odmr ----------------------------------------------------------- */

/*
 * The ODMR session runs in a child (in_child).  Until the turn a stop
 * ends it at once (nothing of the provider's is held yet); after it,
 * the receiver finishes the message in hand and ends with 421.
 */
static volatile sig_atomic_t odmr_stop;
static volatile sig_atomic_t odmr_turned;

static void
odmr_term(int sig)
{
	(void)sig;
	if (!odmr_turned)
		_exit(EXIT_TEMPFAIL);
	odmr_stop = 1;
}

static void
odmr_child(const struct mrun *r, struct mresult *res)
{
	const struct leaf_hub *h = r->h;
	struct odmrc_opts o;
	struct recv_stats rs;
	struct sigaction sa;
	char secret[CRAM_SECRET_MAX], err[300];
	void *tls;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = odmr_term;
	sigaction(SIGTERM, &sa, NULL);
	res->msgs = res->bytes = 0;
	if (cram_secret_read(h->odmr_secret, secret, sizeof(secret), err,
	    sizeof(err)) == -1) {
		res->rc = EXIT_CONFIG;
		set_err(res, "%s", err);
		log_warnx("%s: odmr: %s", h->name, err);
		return;
	}
	odmrc_opts_default(&o);
	o.server = h->odmr_server;
	o.helo = r->lc->hostname;
	o.user = h->odmr_user;
	o.secret = secret;
	o.domains = (const char *const *)h->odmr_targets;
	o.ndomains = h->nodmr_targets;
	o.tls_policy = h->odmr_tls.policy;
	o.tls_ca = h->odmr_tls.ca;
	o.tls_name = h->odmr_tls.name;
	res->rc = odmrc_open(&o, &fd, &tls, err, sizeof(err));
	OPENSSL_cleanse(secret, sizeof(secret));
	if (res->rc != 0) {
		log_warnx("%s: odmr: %s", h->name, err);
		set_err(res, "%s", err);
		return;
	}
	if (fd == -1) {
		log_info("%s: odmr: %s", h->name, err);
		return;
	}
	log_info("%s: odmr: %s", h->name, err);
	odmr_turned = 1;
	memset(&rs, 0, sizeof(rs));
	res->rc = recv_session(r->lc, h->name, fd, tls, r->cap, &odmr_stop,
	    r->deadline, &rs, err, sizeof(err));
	res->msgs = (long long)(rs.copies - rs.again);
	res->bytes = (long long)rs.bytes;
	if (res->rc != 0) {
		log_warnx("%s: odmr: %s", h->name, err);
		set_err(res, "%s", err);
	}
	if (rs.kept > 0)
		kept(r);
}

/* --- programs -------------------------------------------------------- */

/*
 * spawn - start argv with stdin /dev/null and stdout+stderr into a
 * pipe (*out).  The pid, or -1.
 */
static pid_t
spawn(char *const *argv, int *out)
{
	int p[2], null;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) == -1)
		return -1;
	if ((pid = fork()) == 0) {
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGPIPE, SIG_DFL);
		if ((null = open("/dev/null", O_RDONLY)) == -1 ||
		    dup2(null, 0) == -1 || dup2(p[1], 1) == -1 ||
		    dup2(p[1], 2) == -1)
			_exit(EXIT_OSERR);
		execve(argv[0], argv, environ);
		dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(EXIT_OSERR);
	}
	close(p[1]);
	if (pid == -1) {
		close(p[0]);
		return -1;
	}
	*out = p[0];
	return pid;
}

/*
 * The uuxqt run while a call lasts (await's meanwhile): started
 * XQT_EVERY seconds after the last one ended, its output read and
 * dropped.
 */
struct xqt {
	char *const *argv;
	pid_t	pid;
	int	out;
	double	last;
};

/* xqt_drain - read what the run said; 0 at its end of output. */
static int
xqt_drain(struct xqt *x, int wait)
{
	struct pollfd pf;
	char buf[512];
	ssize_t n;

	pf.fd = x->out;
	pf.events = POLLIN;
	while (poll(&pf, 1, wait ? -1 : 0) > 0)
		if ((n = read(x->out, buf, sizeof(buf))) <= 0)
			return 0;
	return 1;
}

/*
 * xqt_step - reap the run whose output has ended, start the next when
 * it is due (not once the call is being stopped).
 */
static void
xqt_step(struct xqt *x, int stopped)
{
	if (x->pid > 0) {
		if (xqt_drain(x, 0) != 0)
			return;
		close(x->out);
		waitpid(x->pid, NULL, 0);
		x->pid = 0;
		x->last = time_mono();
		return;
	}
	if (!stopped && time_mono() - x->last >= XQT_EVERY &&
	    (x->pid = spawn(x->argv, &x->out)) == -1)
		x->pid = 0;
}

/*
 * await - wait for pid, keeping the start of what it says in said.
 * With network set, a stop or the deadline sends it SIGTERM (SIGKILL
 * KILL_GRACE seconds later).  With x, x's program runs again and again
 * meanwhile, and once more to its end is waited for.  Its wait status.
 */
static int
await(const struct mrun *r, pid_t pid, int out, int network, struct xqt *x,
    char *said, size_t len)
{
	struct pollfd pf;
	char buf[512];
	size_t kept = 0;
	ssize_t n;
	double termed = 0;
	int st, open_out = 1;

	said[0] = '\0';
	for (;;) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			break;
		if (x != NULL)
			xqt_step(x, termed > 0 || stopping(r));
		if (network && termed == 0 && stopping(r)) {
			kill(pid, SIGTERM);
			termed = time_mono();
		} else if (termed > 0 && time_mono() - termed > KILL_GRACE)
			kill(pid, SIGKILL);
		pf.fd = open_out ? out : -1;
		pf.events = POLLIN;
		if (poll(&pf, 1, 100) > 0 && open_out) {
			n = read(out, buf, sizeof(buf));
			if (n <= 0)
				open_out = 0;
			else if (kept + 1 < len) {
				size_t c = (size_t)n < len - 1 - kept ?
				    (size_t)n : len - 1 - kept;
				memcpy(said + kept, buf, c);
				kept += c;
				said[kept] = '\0';
			}
		}
	}
	close(out);
	if (x != NULL && x->pid > 0) {
		xqt_drain(x, 1);
		close(x->out);
		waitpid(x->pid, NULL, 0);
		x->pid = 0;
	}
	said[strcspn(said, "\n")] = '\0';
	return st;
}

/*
 * run_prog - argv to the end (with x, x's program again and again
 * meanwhile: see await); 0, or set res and return -1.
 */
static int
run_prog(const struct mrun *r, char *const *argv, int network,
    struct xqt *x, struct mresult *res)
{
	char said[300];
	int out, st;
	pid_t pid;

	log_debug("%s: running %s", r->h->name, argv[0]);
	if ((pid = spawn(argv, &out)) == -1) {
		res->rc = EXIT_OSERR;
		set_err(res, "cannot start %s: %s", argv[0], strerror(errno));
		return -1;
	}
	st = await(r, pid, out, network, x, said, sizeof(said));
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	res->rc = EXIT_TEMPFAIL;
	if (WIFEXITED(st))
		set_err(res, "%s exited %d%s%s", argv[0], WEXITSTATUS(st),
		    said[0] ? ": " : "", said);
	else
		set_err(res, "%s killed by signal %d%s", argv[0],
		    WTERMSIG(st), stopping(r) ? " (stopped)" : "");
	log_warnx("%s: uucp: %s", r->h->name, res->err);
	return -1;
}

/* --- uucp ----------------------------------------------------------- */

/* uuxqt_path - uuxqt beside uucico. */
static void
uuxqt_path(const char *uucico, char *buf, size_t len)
{
	const char *slash = strrchr(uucico, '/');

	snprintf(buf, len, "%.*s/uuxqt", (int)(slash - uucico), uucico);
}

static void
m_uucp(const struct mrun *r, struct mresult *res)
{
	const struct leaf_hub *h = r->h;
	char *argv[12], *argx[8], xqt[PATH_MAX];
	struct xqt x;
	int a = 0, i;

	if (h->uucp_system == NULL) {
		if (run_prog(r, h->uucico, 1, NULL, res) == 0)
			kept(r);
		return;
	}
	uuxqt_path(UUCICO_PATH, xqt, sizeof(xqt));
	argx[a++] = xqt;
	if (h->uucp_config != NULL) {
		argx[a++] = "-I";
		argx[a++] = h->uucp_config;
	}
	argx[a++] = "-s";
	argx[a++] = h->uucp_system;
	argx[a] = NULL;
	a = 0;
	argv[a++] = UUCICO_PATH;
	if (h->uucp_config != NULL) {
		argv[a++] = "-I";
		argv[a++] = h->uucp_config;
	}
	argv[a++] = "-r1";
	argv[a++] = "-q";	/* uuxqt is run here, and waited for */
	argv[a++] = r->up_event ? "-S" : "-s";
	argv[a++] = h->uucp_system;
	argv[a] = NULL;
	/* the bundles in so far are injected while the rest come */
	memset(&x, 0, sizeof(x));
	x.argv = argx;
	x.last = time_mono();
	i = run_prog(r, argv, 1, &x, res);
	/* what uucico received is local now: always execute it */
	if (run_prog(r, argx, 0, NULL, res) == 0 && i == 0)
		kept(r);
}

/* --- ssh ------------------------------------------------------------ */

/* split_host - "host", "host:port", "[v6]:port" into host and *port. */
static int
split_host(const char *s, char *host, size_t len, int *port)
{
	const char *c, *h = s;
	size_t n;
	char *end;
	long v;

	*port = 22;
	if (s[0] == '[') {
		if ((c = strchr(s, ']')) == NULL || c == s + 1)
			return -1;
		h = s + 1;
		n = (size_t)(c - h);
		c++;
	} else {
		c = s + strcspn(s, ":");
		n = (size_t)(c - s);
	}
	if (n == 0 || n >= len)
		return -1;
	memcpy(host, h, n);
	host[n] = '\0';
	if (*c == '\0')
		return 0;
	if (*c != ':')
		return -1;
	v = strtol(c + 1, &end, 10);
	if (c[1] == '\0' || *end != '\0' || v < 1 || v > 65535)
		return -1;
	*port = (int)v;
	return 0;
}

/* ssh_lock - linkup/ssh.lock, waiting while another pull holds it. */
static int
ssh_lock(const struct mrun *r)
{
	char dir[PATH_MAX], path[PATH_MAX];
	int fd;

	if (lstatus_dir(r->lc, dir, sizeof(dir)) == -1 ||
	    path_build(path, sizeof(path), "%s/ssh.lock", dir) == -1 ||
	    (fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    0600)) == -1)
		return -1;
	while (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		if (errno != EWOULDBLOCK || stopping(r)) {
			close(fd);
			return -1;
		}
		usleep(100 * 1000);
	}
	return fd;
}

/* ssh_child - the pull itself, in the child (in_child). */
static void
ssh_child(const struct mrun *r, struct mresult *res)
{
	const struct leaf_hub *h = r->h;
	struct ssh_target t;
	struct ssh_opts o;
	struct pull_stats ps;
	struct pull *p;
	enum fetch_rc rc;
	char host[256], err[SSH_ERR_MAX];
	int lock;

	memset(&o, 0, sizeof(o));
	memset(&t, 0, sizeof(t));
	res->msgs = res->bytes = 0;
	if (split_host(h->ssh_server, host, sizeof(host), &t.port) == -1) {
		res->rc = EXIT_CONFIG;
		set_err(res, "bad ssh server %s", h->ssh_server);
		return;
	}
	t.host = host;
	t.user = h->ssh_user;
	t.dir = h->ssh_dir;
	t.identity = h->ssh_identity;
	t.known_hosts = h->ssh_known_hosts;
	t.connect_timeout = CONNECT_TIMEOUT;
	t.io_timeout = IO_TIMEOUT;
	t.keepalive = KEEPALIVE;
	t.max_size = r->cap;
	if ((lock = ssh_lock(r)) == -1) {
		res->rc = EXIT_TEMPFAIL;
		set_err(res, "another SSH pull holds the leaf spool");
		return;
	}
	if ((p = pull_new(r->lc, &o, r->verbose, 0, &rc, err,
	    sizeof(err))) == NULL) {
		res->rc = rc;
		set_err(res, "%s", err);
		log_warnx("%s: ssh: %s", h->name, err);
		close(lock);
		return;
	}
	res->rc = pull_hub(p, &t);
	pull_stats(p, &ps);
	res->msgs = (long long)ps.copies;
	res->bytes = (long long)ps.bytes;
	if (res->rc != FETCH_OK)
		set_err(res, "%s", log_last_warning());
	if (ps.skipped > 0)
		log_info("%s: ssh: %u bundles over the window's cap of %llu "
		    "octets left on the hub", h->name, ps.skipped,
		    (unsigned long long)r->cap);
	pull_free(p);
	close(lock);
}

/*
 * in_child - fn in a child process, so that a stop can end its network
 * work with SIGTERM (SIGKILL KILL_GRACE seconds later); the child sends
 * its result back through a pipe.
 */
static void
in_child(const struct mrun *r,
    void (*fn)(const struct mrun *, struct mresult *), struct mresult *res)
{
	struct mresult got;
	struct pollfd pf;
	double termed = 0;
	size_t have = 0;
	ssize_t n;
	int p[2], st;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) == -1 || (pid = fork()) == -1) {
		res->rc = EXIT_OSERR;
		set_err(res, "cannot fork: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_IGN);
		close(p[0]);
		got = *res;
		fn(r, &got);
		if (write(p[1], &got, sizeof(got)) != (ssize_t)sizeof(got))
			_exit(EXIT_IOERR);
		_exit(0);
	}
	close(p[1]);
	for (;;) {
		if (termed == 0 && stopping(r)) {
			kill(pid, SIGTERM);
			termed = time_mono();
		} else if (termed > 0 && time_mono() - termed > KILL_GRACE)
			kill(pid, SIGKILL);
		pf.fd = p[0];
		pf.events = POLLIN;
		if (poll(&pf, 1, 100) <= 0)
			continue;
		n = read(p[0], (char *)&got + have, sizeof(got) - have);
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	close(p[0]);
	while (waitpid(pid, &st, 0) == -1 && errno == EINTR)
		;
	if (have != sizeof(got)) {
		res->rc = EXIT_TEMPFAIL;
		set_err(res, "%s", termed > 0 ? "stopped: the link went down "
		    "or the run's max-online passed" : "the method's process "
		    "died");
		return;
	}
	*res = got;
}

/* --- dispatch ------------------------------------------------------- */

void
method_run(const struct mrun *r, int method, struct mresult *res)
{
	double t0 = time_mono();

	memset(res, 0, sizeof(*res));
	res->msgs = res->bytes = res->pending = -1;
	if (stopping(r)) {
		res->rc = EXIT_TEMPFAIL;
		set_err(res, "%s", r->stop != NULL && *r->stop ?
		    "stopped: the link went down" : "the run's max-online "
		    "was reached");
		return;
	}
	switch (method) {
	case METHOD_ETRN:
		m_etrn(r, res);
		break;
	case METHOD_ODMR:
		in_child(r, odmr_child, res);
		break;
	case METHOD_UUCP:
		m_uucp(r, res);
		break;
	case METHOD_SSH:
		in_child(r, ssh_child, res);
		break;
	default:
		res->rc = EXIT_SOFTWARE;
		set_err(res, "unknown method %d", method);
	}
	res->secs = time_mono() - t0;
}
