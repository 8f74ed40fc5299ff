/*
 * handoff.c - hand published bundles to uux, with backoff, and start
 * uucico on request (see handoff.h).  Invariant: a bundle leaves the
 * outbox only after uux exited 0 for it; children get no descriptor of
 * ours but stdin (the bundle) and stdout/stderr (our capture pipe).
 */
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bundle.h"
#include "bundler.h"
#include "handoff.h"
#include "log.h"

#define DEFAULT_PATH	"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:" \
			    "/sbin:/bin"
#define UUCICO_DIRS	"/usr/local/libexec/uucp:/usr/libexec/uucp:" \
			    "/usr/lib/uucp"
#define STATE_LINE_MAX	(UUCP_MSG_MAX + 64)

extern char **environ;

/* The backoff record of one customer. */
struct backoff {
	long	failures;
	time_t	next;
};

/* --- exec helpers -------------------------------------------------- */

/*
 * find_exec - prog itself when it has a '/', else the first executable
 * prog in PATH (DEFAULT_PATH when unset), then in extra.  -1 if none.
 */
static int
find_exec(const char *prog, const char *extra, char *out, size_t outlen)
{
	const char *path = getenv("PATH");
	char dirs[4096];
	char *p, *dir;

	if (strchr(prog, '/') != NULL)
		return strlcpy_(out, prog, outlen) < outlen ? 0 : -1;
	if (path == NULL || *path == '\0')
		path = DEFAULT_PATH;
	if (path_build(dirs, sizeof(dirs), "%s%s%s", path,
	    extra != NULL ? ":" : "", extra != NULL ? extra : "") == -1)
		return -1;
	for (p = dirs; (dir = strsep(&p, ":")) != NULL; ) {
		if (*dir == '\0')
			continue;
		if (path_build(out, outlen, "%s/%s", dir, prog) == 0 &&
		    access(out, X_OK) == 0)
			return 0;
	}
	errno = ENOENT;
	return -1;
}

/* child_signals - a clean signal state for a program we start. */
static void
child_signals(void)
{
	static const int sigs[] = { SIGPIPE, SIGCHLD, SIGHUP, SIGINT,
	    SIGTERM, SIGALRM, SIGUSR1, SIGUSR2 };
	sigset_t none;
	size_t i;

	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/* clean_msg - uux's output as one printable line. */
static void
clean_msg(char *s)
{
	char *p, *q;

	for (p = q = s; *p != '\0'; p++) {
		if (!isprint((unsigned char)*p))
			*p = ' ';
		if (*p == ' ' && (q == s || q[-1] == ' '))
			continue;
		*q++ = *p;
	}
	while (q > s && q[-1] == ' ')
		q--;
	*q = '\0';
}

/*
 * collect - read the child's output until EOF or the deadline, keeping
 * at most msglen - 1 octets.  0 at EOF, -1 on timeout.
 */
static int
collect(int fd, double deadline, char *msg, size_t msglen)
{
	char buf[1024];
	struct pollfd pfd;
	size_t have = 0;
	double left;
	ssize_t n;

	for (;;) {
		left = deadline - time_mono();
		if (left <= 0)
			return -1;
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, left > 1 ? 1000 : (int)(left * 1000) + 1) <
		    0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (pfd.revents == 0)
			continue;
		if ((n = read(fd, buf, sizeof(buf))) == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (have + 1 < msglen) {
			if ((size_t)n > msglen - 1 - have)
				n = (ssize_t)(msglen - 1 - have);
			memcpy(msg + have, buf, (size_t)n);
			have += (size_t)n;
			msg[have] = '\0';
		}
	}
	return 0;
}

/* reap - wait for pid until the deadline, then kill it.  The status. */
static int
reap(pid_t pid, double deadline, int *timed_out)
{
	int status;
	pid_t r;

	*timed_out = 0;
	for (;;) {
		r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			return status;
		if (r == -1 && errno != EINTR)
			return -1;
		if (time_mono() >= deadline) {
			*timed_out = 1;
			kill(pid, SIGKILL);
			while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
				;
			return status;
		}
		usleep(10000);
	}
}

/* --- uux ----------------------------------------------------------- */

static int
grade_ok(const char *g)
{
	return g[0] != '\0' && g[1] == '\0' && isalnum((unsigned char)g[0]);
}

int
uucp_uux_argv(const struct customer *cu, const char *postmaster,
    char **argv, char *dest, size_t destlen)
{
	static char *def_uux[] = { "uux" };
	char **prefix = cu->nuux > 0 ? cu->uux : def_uux;
	int n = cu->nuux > 0 ? cu->nuux : 1, i, k = 0;
	const char *node = cu->uucp_node ? cu->uucp_node : cu->name;
	const char *cmd = cu->uucp_command ? cu->uucp_command : "rgsmtp";
	const char *grade = cu->uucp_grade ? cu->uucp_grade : "C";

	if (n > UUCP_ARGV_MAX || !name_is_safe(node) || !name_is_safe(cmd) ||
	    !grade_ok(grade) || postmaster == NULL || *postmaster == '-' ||
	    path_build(dest, destlen, "%s!%s", node, cmd) == -1)
		return -1;
	for (i = 0; i < n; i++)
		argv[k++] = prefix[i];
	argv[k++] = "-r";
	argv[k++] = "-n";
	argv[k++] = "-a";
	argv[k++] = (char *)postmaster;
	argv[k++] = "-g";
	argv[k++] = (char *)grade;
	argv[k++] = "-";
	argv[k++] = dest;
	argv[k] = NULL;
	return 0;
}

/* describe - "exit N: output", "killed by signal N: output", ... */
static void
describe(int status, int timed_out, const char *out, char *msg,
    size_t msglen)
{
	char what[64];

	if (timed_out)
		snprintf(what, sizeof(what), "no exit after %ds, killed",
		    UUCP_UUX_TIMEOUT);
	else if (status == -1)
		snprintf(what, sizeof(what), "wait: %s", strerror(errno));
	else if (WIFEXITED(status))
		snprintf(what, sizeof(what), "exit %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(what, sizeof(what), "killed by signal %d",
		    WTERMSIG(status));
	else
		snprintf(what, sizeof(what), "status 0x%x", status);
	snprintf(msg, msglen, "%s%s%s", what, *out ? ": " : "", out);
}

/* spawn - fork and execve exe with in as stdin and out as stdout+err. */
static pid_t
spawn(const char *exe, char **argv, int in, int out)
{
	pid_t pid;

	if ((pid = fork()) != 0)
		return pid;
	child_signals();
	if (dup2(in, 0) == -1 || dup2(out, 1) == -1 || dup2(out, 2) == -1)
		_exit(EXIT_OSERR);
	execve(exe, argv, environ);
	dprintf(2, "%s: %s\n", exe, strerror(errno));
	_exit(errno == ENOENT ? EXIT_UNAVAIL : EXIT_OSERR);
}

enum result
uucp_handoff_bundle(const struct customer *cu, const char *postmaster,
    const char *path, char *msg, size_t msglen)
{
	char *argv[UUCP_ARGV_MAX + 10];
	char dest[256], exe[PATH_MAX], out[UUCP_MSG_MAX];
	double deadline;
	int fd, pfd[2], status, timed_out;
	pid_t pid;

	out[0] = '\0';
	if (uucp_uux_argv(cu, postmaster, argv, dest, sizeof(dest)) == -1) {
		snprintf(msg, msglen, "bad uux, uucp-node, uucp-command or "
		    "uucp-grade");
		return RS_TEMP;
	}
	if (find_exec(argv[0], NULL, exe, sizeof(exe)) == -1) {
		snprintf(msg, msglen, "%s: not found", argv[0]);
		return RS_TEMP;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		snprintf(msg, msglen, "%s: %s", path, strerror(errno));
		return RS_TEMP;
	}
	if (pipe2(pfd, O_CLOEXEC) == -1) {
		snprintf(msg, msglen, "pipe: %s", strerror(errno));
		close(fd);
		return RS_TEMP;
	}
	pid = spawn(exe, argv, fd, pfd[1]);
	close(fd);
	close(pfd[1]);
	if (pid == -1) {
		snprintf(msg, msglen, "fork: %s", strerror(errno));
		close(pfd[0]);
		return RS_TEMP;
	}
	deadline = time_mono() + UUCP_UUX_TIMEOUT;
	timed_out = collect(pfd[0], deadline, out, sizeof(out)) == -1;
	close(pfd[0]);
	status = reap(pid, timed_out ? time_mono() : deadline, &timed_out);
	clean_msg(out);
	if (!timed_out && status != -1 && WIFEXITED(status) &&
	    WEXITSTATUS(status) == 0) {
		snprintf(msg, msglen, "%s", out);
		return RS_OK;
	}
	describe(status, timed_out, out, msg, msglen);
	return RS_TEMP;
}

/* --- backoff state ------------------------------------------------- */

static int
state_path(char *buf, size_t len, const char *spool, const char *customer)
{
	if (!name_is_safe(customer)) {
		errno = EINVAL;
		return -1;
	}
	return path_build(buf, len, "%s/bundle-tmp/%s/handoff", spool,
	    customer);
}

/* parse_long - the whole of s as a non-negative decimal. */
static int
parse_long(const char *s, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 0)
		return -1;
	*out = v;
	return 0;
}

/* state_read - the backoff record; zeros when there is none. */
static void
state_read(const char *spool, const char *customer, struct backoff *bo)
{
	char path[PATH_MAX], line[STATE_LINE_MAX];
	FILE *fp;
	long v;
	size_t n;

	memset(bo, 0, sizeof(*bo));
	if (state_path(path, sizeof(path), spool, customer) == -1 ||
	    (fp = fopen(path, "re")) == NULL)
		return;
	while (fgets(line, sizeof(line), fp) != NULL) {
		n = strlen(line);
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		if (strncmp(line, "failures ", 9) == 0 &&
		    parse_long(line + 9, &v) == 0)
			bo->failures = v;
		else if (strncmp(line, "next ", 5) == 0 &&
		    parse_long(line + 5, &v) == 0)
			bo->next = (time_t)v;
	}
	fclose(fp);
}

/* state_write - replace the backoff record (tmp and rename). */
static void
state_write(const char *spool, const char *customer, const struct backoff *bo,
    const char *bundle, const char *msg)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	FILE *fp;
	int bad;

	if (state_path(path, sizeof(path), spool, customer) == -1 ||
	    path_build(tmp, sizeof(tmp), "%s.tmp", path) == -1 ||
	    (fp = fopen(tmp, "we")) == NULL) {
		log_warn("%s: cannot record the uux backoff", customer);
		return;
	}
	fprintf(fp, "failures %ld\nnext %lld\nbundle %s\nerror %.*s\n",
	    bo->failures, (long long)bo->next, bundle, UUCP_MSG_MAX, msg);
	bad = fflush(fp) == EOF;
	if (fclose(fp) == EOF || bad || rename(tmp, path) == -1) {
		log_warn("%s: cannot record the uux backoff", customer);
		unlink(tmp);
	}
}

static void
state_clear(const char *spool, const char *customer)
{
	char path[PATH_MAX];

	if (state_path(path, sizeof(path), spool, customer) == 0)
		unlink(path);
}

/* backoff_delay - 1m, 2m, 4m ... capped at 1h, after n failures. */
static long
backoff_delay(long n)
{
	long d = UUCP_BACKOFF_MIN;

	while (--n > 0 && d < UUCP_BACKOFF_MAX)
		d *= 2;
	return d < UUCP_BACKOFF_MAX ? d : UUCP_BACKOFF_MAX;
}

int
uucp_handoff_due(const char *spool, const char *customer, time_t now,
    time_t *next)
{
	struct backoff bo;

	state_read(spool, customer, &bo);
	if (bo.failures > 0 && bo.next > now) {
		if (next != NULL)
			*next = bo.next;
		return 0;
	}
	if (next != NULL)
		*next = 0;
	return 1;
}

/* --- the run ------------------------------------------------------- */

static int
unlink_in_dir(const char *dir, const char *name)
{
	char path[PATH_MAX];

	if (path_build(path, sizeof(path), "%s/%s", dir, name) == -1)
		return -1;
	return unlink(path) == -1 && errno != ENOENT ? -1 : 0;
}

/* one_bundle - hand off dir/name (removed later by the caller). */
static enum result
one_bundle(const char *spool, const struct customer *cu,
    const char *postmaster, const char *dir, const char *name, time_t now,
    struct uucp_stats *st)
{
	char path[PATH_MAX], msg[UUCP_MSG_MAX + 64];
	struct backoff bo;
	struct stat sb;
	enum result rs;

	if (path_build(path, sizeof(path), "%s/%s", dir, name) == -1 ||
	    stat(path, &sb) == -1)
		return RS_OK;		/* gone meanwhile */
	rs = uucp_handoff_bundle(cu, postmaster, path, msg, sizeof(msg));
	if (rs != RS_OK) {
		state_read(spool, cu->name, &bo);
		bo.failures++;
		bo.next = now + backoff_delay(bo.failures);
		state_write(spool, cu->name, &bo, name, msg);
		log_warnx("%s: bundle %s: uux failed (%s), kept; attempt %ld, "
		    "next in %lds", cu->name, name, msg, bo.failures,
		    backoff_delay(bo.failures));
		st->failed++;
		return RS_TEMP;
	}
	log_info("%s: bundle %s: queued with uux for %s!%s, %lld octets%s%s",
	    cu->name, name, cu->uucp_node ? cu->uucp_node : cu->name,
	    cu->uucp_command ? cu->uucp_command : "rgsmtp",
	    (long long)sb.st_size, *msg ? ": " : "", msg);
	st->queued++;
	st->bytes += (uint64_t)sb.st_size;
	return RS_OK;
}

/*
 * remove_queued - remove names[0..n-1], which uux took.  uux does not
 * fsync the UUCP spool, so sync(2) first: our copy goes only once
 * theirs is on disk.  A crash before the unlinks means the leaf gets a
 * bundle twice, never none.
 */
static void
remove_queued(const struct customer *cu, const char *dir, char **names,
    size_t n)
{
	size_t i;

	if (n == 0)
		return;
	sync();
	for (i = 0; i < n; i++)
		if (unlink_in_dir(dir, names[i]) == -1)
			log_warn("%s: bundle %s: queued with uux, but removing "
			    "it", cu->name, names[i]);
	if (io_fsync_dir(dir) == -1)
		log_warn("%s: fsync %s", cu->name, dir);
}

enum result
uucp_handoff_run(const char *spool, const struct customer *cu,
    const char *postmaster, const char *uucico, int force, time_t now,
    struct uucp_stats *st)
{
	char dir[PATH_MAX];
	char **names = NULL;
	size_t n = 0, i;
	enum result rs = RS_OK;

	memset(st, 0, sizeof(*st));
	if (!force && !uucp_handoff_due(spool, cu->name, now, NULL))
		return RS_OK;
	if (bundler_outbox(dir, sizeof(dir), spool, cu->name) == -1 ||
	    bundle_list(dir, &names, &n) == -1) {
		log_warn("%s: outbox", cu->name);
		return RS_TEMP;
	}
	for (i = 0; i < n && rs == RS_OK; i++)
		rs = one_bundle(spool, cu, postmaster, dir, names[i], now,
		    st);
	if (rs != RS_OK)
		i--;			/* names[i] failed and stays */
	remove_queued(cu, dir, names, i);
	st->waiting = (unsigned)(n - i);
	strv_free(names, n);
	if (rs == RS_OK && st->queued > 0)
		state_clear(spool, cu->name);
	if (st->queued > 0 && cu->uucp_call)
		st->called = uucp_call(cu, uucico) == 0;
	return rs;
}

/* --- uucico -------------------------------------------------------- */

/* uux_config - the -I / --config argument of the uux prefix, or NULL. */
static const char *
uux_config(const struct customer *cu)
{
	int i;

	for (i = 1; i < cu->nuux; i++) {
		if ((strcmp(cu->uux[i], "-I") == 0 ||
		    strcmp(cu->uux[i], "--config") == 0) && i + 1 < cu->nuux)
			return cu->uux[i + 1];
		if (strncmp(cu->uux[i], "-I", 2) == 0 && cu->uux[i][2] != '\0')
			return cu->uux[i] + 2;
		if (strncmp(cu->uux[i], "--config=", 9) == 0)
			return cu->uux[i] + 9;
	}
	return NULL;
}

/*
 * detach - fork twice so that exe runs in its own session with
 * /dev/null for stdio, reparented to init; report an exec failure back
 * through a close-on-exec pipe.  0 started, -1 not.
 */
static int
detach(const char *exe, char **argv, char *err, size_t errlen)
{
	int pfd[2], null, e = 0, status;
	pid_t pid;
	ssize_t n;

	if (pipe2(pfd, O_CLOEXEC) == -1) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	if ((pid = fork()) == -1) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (pid == 0) {
		child_signals();
		setsid();
		if (fork() != 0)
			_exit(0);
		if ((null = open("/dev/null", O_RDWR | O_CLOEXEC)) == -1 ||
		    dup2(null, 0) == -1 || dup2(null, 1) == -1 ||
		    dup2(null, 2) == -1)
			e = errno;
		else {
			execve(exe, argv, environ);
			e = errno;
		}
		(void)write(pfd[1], &e, sizeof(e));
		_exit(127);
	}
	close(pfd[1]);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	while ((n = read(pfd[0], &e, sizeof(e))) == -1 && errno == EINTR)
		;
	close(pfd[0]);
	if (n == (ssize_t)sizeof(e)) {
		snprintf(err, errlen, "%s: %s", exe, strerror(e));
		return -1;
	}
	return 0;
}

int
uucp_call(const struct customer *cu, const char *uucico)
{
	const char *node = cu->uucp_node ? cu->uucp_node : cu->name;
	const char *config = uux_config(cu);
	char exe[PATH_MAX], err[PATH_MAX + 64];
	char *argv[8];
	int k = 0;

	if (!name_is_safe(node)) {
		log_warnx("%s: uucp-node is not a safe name", cu->name);
		return -1;
	}
	if (find_exec(uucico != NULL ? uucico : "uucico", UUCICO_DIRS, exe,
	    sizeof(exe)) == -1) {
		log_warnx("%s: uucico not found", cu->name);
		return -1;
	}
	argv[k++] = exe;
	if (config != NULL) {
		argv[k++] = "-I";
		argv[k++] = (char *)config;
	}
	argv[k++] = "-s";
	argv[k++] = (char *)node;
	argv[k] = NULL;
	if (detach(exe, argv, err, sizeof(err)) == -1) {
		log_warnx("%s: uucico -s %s: %s", cu->name, node, err);
		return -1;
	}
	log_info("%s: started %s%s%s -s %s", cu->name, exe,
	    config ? " -I " : "", config ? config : "", node);
	return 0;
}
