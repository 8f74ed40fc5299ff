/*
 * pull.c - what bridge-fetch does with each bundle in a hub's outbox:
 * download it into partial/ (resuming), hand it to the injection
 * engine of bridge-unbatch (unbatch.h: verify, journal, inject, keep
 * or quarantine), and only then remove it on the hub.
 *
 * Invariants (see ssh.h for the directories): done/NAME is written
 * and synced before the bundle leaves partial/, and removed only after
 * the hub's copy is gone; a bundle the engine quarantined is never
 * removed on the hub and not downloaded again while it is in
 * quarantine/.  A crash anywhere therefore loses nothing, and the
 * engine's journal limits a repeat to the one copy in flight.
 *
 * The engine runs in a child process: while it injects bundle N the
 * parent downloads bundle N+1, then waits for the child (sending
 * keepalives), removes N on the hub and starts the child for N+1.  So
 * bundles are injected and removed one at a time, oldest first, and a
 * slow local MTA does not hold the link idle.
 */
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bundle.h"
#include "leafconf.h"
#include "log.h"
#include "ssh.h"
#include "unbatch.h"
#include "util.h"

struct pull {
	const struct leaf_conf *lc;
	int	echo;			/* log is syslog: problems to stderr too */
	struct unbatch *ub;
	struct ssh_opts o;
	int	verbose;
	int	tty;			/* progress line on stderr */
	int	lockfd;
	char	incoming[PATH_MAX];
	char	kept[PATH_MAX];
	char	quarantine[PATH_MAX];
	char	partial[PATH_MAX];	/* of the account being pulled */
	char	done[PATH_MAX];
	struct pull_stats st;
	/* progress line state */
	double	shown;
	size_t	idx, total;
	int	dirty;
};

/* What the hub's copy of a bundle may become after the engine. */
enum handed { H_REMOVE, H_WAIT, H_CORRUPT };

/* A bundle being injected by a child while the next one downloads. */
struct job {
	char	name[SSH_NAME_MAX];	/* "" when there is none */
	char	how[96];		/* for its log line */
	pid_t	pid;			/* -1: it ran in this process */
	int	fd;			/* EOF when the child is gone */
	enum ub_outcome out;		/* when it ran here */
	int	down;
};

enum fetch_rc
fetch_rc_worse(enum fetch_rc a, enum fetch_rc b)
{
	static const enum fetch_rc order[] = {
		FETCH_OK, FETCH_TEMP, FETCH_DATAERR, FETCH_IOERR,
		FETCH_CONFIG, FETCH_REFUSED
	};
	int i, ra = 0, rb = 0;

	for (i = 0; i < 6; i++) {
		if (order[i] == a)
			ra = i;
		if (order[i] == b)
			rb = i;
	}
	return ra >= rb ? a : b;
}

/* complain - a warning for the log, and for stderr when the log is syslog. */
static void __attribute__((format(printf, 2, 3)))
complain(struct pull *p, const char *fmt, ...)
{
	char buf[2 * SSH_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log_warnx("%s", buf);
	if (p->echo)
		fprintf(stderr, "%s: %s\n", log_progname(), buf);
}

/* --- the progress line --------------------------------------------- */

static void
progress_clear(struct pull *p)
{
	if (p->dirty) {
		fprintf(stderr, "\r%79s\r", "");
		p->dirty = 0;
	}
}

static void
progress(const struct ssh_xfer *x, int final, void *arg)
{
	struct pull *p = arg;
	char a[16], b[16], r[16], eta[16];
	double now = time_mono(), el = now - x->started, rate;
	uint64_t have = x->offset + x->got;

	if (final) {
		progress_clear(p);
		return;
	}
	if (now - p->shown < 0.25)
		return;
	p->shown = now;
	rate = el > 0 ? (double)x->got / el : 0;
	if (rate > 0 && x->size > have)
		age_format((long)((double)(x->size - have) / rate + 0.5), eta,
		    sizeof(eta));
	else
		strlcpy_(eta, "-", sizeof(eta));
	fprintf(stderr, "\r[%zu/%zu] %.28s %s/%s %s/s %s left%8s", p->idx,
	    p->total, x->name, size_format(have, a, sizeof(a)),
	    size_format(x->size, b, sizeof(b)),
	    size_format((uint64_t)rate, r, sizeof(r)), eta, "");
	p->dirty = 1;
}

/* --- setup --------------------------------------------------------- */

struct pull *
pull_new(const struct leaf_conf *lc, const struct ssh_opts *o, int verbose,
    int echo, enum fetch_rc *rc, char *err, size_t errlen)
{
	struct pull *p;
	char lock[PATH_MAX];

	*rc = FETCH_TEMP;
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	p->lc = lc;
	p->o = *o;
	p->verbose = verbose;
	p->echo = echo;
	p->tty = isatty(2);
	if (p->tty) {
		p->o.progress = progress;
		p->o.progress_arg = p;
	}
	p->lockfd = -1;
	if (path_build(p->incoming, sizeof(p->incoming), "%s/incoming",
	    lc->spool) == -1 ||
	    path_build(p->kept, sizeof(p->kept), "%s/kept", lc->spool) == -1 ||
	    path_build(p->quarantine, sizeof(p->quarantine), "%s/quarantine",
	    lc->spool) == -1 ||
	    path_build(lock, sizeof(lock), "%s/fetch", lc->spool) == -1 ||
	    dir_make(lock, 0700) == -1 ||
	    path_build(lock, sizeof(lock), "%s/fetch/lock", lc->spool) == -1 ||
	    (p->lockfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) ==
	    -1) {
		snprintf(err, errlen, "leaf spool %s: %s", lc->spool,
		    strerror(errno));
		pull_free(p);
		return NULL;
	}
	if (flock(p->lockfd, LOCK_EX | LOCK_NB) == -1) {
		snprintf(err, errlen, "another bridge-fetch is running "
		    "(%s is locked)", lock);
		pull_free(p);
		return NULL;
	}
	if ((p->ub = ub_new(lc, echo)) == NULL) {
		snprintf(err, errlen, "cannot prepare the leaf spool %s",
		    lc->spool);
		pull_free(p);
		return NULL;
	}
	*rc = FETCH_OK;
	return p;
}

void
pull_stats(const struct pull *p, struct pull_stats *st)
{
	*st = p->st;
}

void
pull_free(struct pull *p)
{
	if (p == NULL)
		return;
	if (p->ub != NULL)
		ub_free(p->ub);
	if (p->lockfd != -1)
		close(p->lockfd);
	free(p);
}

/*
 * account_dirs - partial/ and done/ of user@host.  Not the port: a hub
 * reached through another port (a tunnel, a relay) is the same hub.
 */
static int
account_dirs(struct pull *p, const struct ssh_target *t)
{
	char acct[200];
	size_t i;

	snprintf(acct, sizeof(acct), "%s@%s", t->user, t->host);
	for (i = 0; acct[i] != '\0'; i++) {
		char ch = acct[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' ||
		    ch == '@'))
			acct[i] = '_';
	}
	if (path_build(p->partial, sizeof(p->partial), "%s/fetch/%s/partial",
	    p->lc->spool, acct) == -1 ||
	    path_build(p->done, sizeof(p->done), "%s/fetch/%s/done",
	    p->lc->spool, acct) == -1 ||
	    dir_make(p->partial, 0700) == -1 || dir_make(p->done, 0700) == -1) {
		log_warn("leaf spool %s/fetch/%s", p->lc->spool, acct);
		return -1;
	}
	return 0;
}

static int
exists(const char *dir, const char *name, const char *sfx)
{
	char path[PATH_MAX];
	struct stat st;

	return path_build(path, sizeof(path), "%s/%s%s", dir, name, sfx) == 0 &&
	    lstat(path, &st) == 0;
}

static void
remove_in(const char *dir, const char *name, const char *sfx)
{
	char path[PATH_MAX];

	if (path_build(path, sizeof(path), "%s/%s%s", dir, name, sfx) == 0 &&
	    unlink(path) == 0)
		io_fsync_dir(dir);
}

/* --- handing a bundle to the engine -------------------------------- */

/* mark_done - done/NAME, synced: from now on the engine owns it. */
static int
mark_done(struct pull *p, const char *name)
{
	char path[PATH_MAX];
	int fd;

	if (path_build(path, sizeof(path), "%s/%s", p->done, name) == -1 ||
	    (fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) == -1) {
		log_warn("%s: cannot record %s", name, p->done);
		return -1;
	}
	if (fsync(fd) == -1 || close(fd) == -1 || io_fsync_dir(p->done) == -1) {
		log_warn("%s: cannot record %s", name, p->done);
		return -1;
	}
	return 0;
}

/* to_incoming - partial/NAME.part becomes the engine's incoming/NAME. */
static int
to_incoming(struct pull *p, const char *name)
{
	char a[PATH_MAX], b[PATH_MAX];

	if (path_build(a, sizeof(a), "%s/%s.part", p->partial, name) == -1 ||
	    path_build(b, sizeof(b), "%s/%s", p->incoming, name) == -1 ||
	    rename(a, b) == -1 || io_fsync_dir(p->incoming) == -1) {
		log_warn("%s: cannot move it to %s", name, p->incoming);
		return -1;
	}
	io_fsync_dir(p->partial);
	return 0;
}

/*
 * engine_start - ub_process(name) in a child, so that the parent can
 * download the next bundle (or at least keep the session alive) while
 * the local MTA takes its time.  Without a child it runs here.
 */
static void
engine_start(struct pull *p, struct job *j, const char *name, const char *how)
{
	enum ub_outcome out;
	int fds[2], down = 0;

	strlcpy_(j->name, name, sizeof(j->name));
	strlcpy_(j->how, how, sizeof(j->how));
	j->fd = -1;
	j->pid = -1;
	fflush(stderr);
	if (pipe2(fds, O_CLOEXEC) == -1)
		fds[0] = fds[1] = -1;
	else if ((j->pid = fork()) == 0) {
		close(fds[0]);
		/* the link is the scarce thing: downloads go first */
		if (nice(5) == -1)
			log_debug("nice: %s", strerror(errno));
		out = ub_process(p->ub, name, -1, &down);
		ub_free(p->ub);
		_exit((int)out * 2 + (down != 0));
	}
	if (j->pid == -1) {
		log_warn("%s: cannot start a process to inject it", name);
		if (fds[0] != -1) {
			close(fds[0]);
			close(fds[1]);
		}
		j->out = ub_process(p->ub, name, -1, &j->down);
		return;
	}
	close(fds[1]);
	j->fd = fds[0];
}

/*
 * engine_wait - keep the session alive until the child is done.  Its
 * outcome, or UB_BUSY when it died (its journal says how far it got).
 */
static enum ub_outcome
engine_wait(struct ssh_conn *c, struct job *j, int *down)
{
	struct pollfd pfd;
	int st, wait_s;
	char ch;

	*down = j->down;
	if (j->pid == -1)
		return j->out;
	pfd.fd = j->fd;
	pfd.events = POLLIN;
	for (;;) {
		wait_s = ssh_keepalive(c);
		if (poll(&pfd, 1, wait_s * 1000) > 0 &&
		    read(j->fd, &ch, 1) <= 0)
			break;
	}
	close(j->fd);
	while (waitpid(j->pid, &st, 0) == -1 && errno == EINTR)
		;
	if (!WIFEXITED(st) || WEXITSTATUS(st) / 2 > UB_GONE)
		return UB_BUSY;
	*down = WEXITSTATUS(st) & 1;
	return (enum ub_outcome)(WEXITSTATUS(st) / 2);
}

/* outcome - what the engine's verdict means for the hub's copy. */
static enum handed
outcome(const char *name, enum ub_outcome out, int down, const char **what)
{
	switch (out) {
	case UB_DONE:
	case UB_GONE:
		*what = "injected";
		return H_REMOVE;
	case UB_KEPT:
		*what = down ? "kept: the local MTA is unavailable" :
		    "kept: the local MTA deferred some copies";
		return H_REMOVE;
	case UB_CORRUPT:
		return H_CORRUPT;
	case UB_BUSY:
		break;
	}
	log_warnx("%s: busy in another process or interrupted; it is "
	    "removed from the hub by a later run", name);
	return H_WAIT;
}

/* corrupt - the engine quarantined it: keep the hub's copy. */
static enum fetch_rc
corrupt(struct pull *p, const char *name)
{
	remove_in(p->done, name, "");
	complain(p, "%s: damaged (see %s/%s.why); left on the hub and not "
	    "fetched again while it is in %s", name, p->quarantine, name,
	    p->quarantine);
	return FETCH_DATAERR;
}

/* finish - remove on the hub what the leaf now holds; the log line. */
static enum fetch_rc
finish(struct pull *p, struct ssh_conn *c, const char *name, enum handed h,
    const char *what, const char *how)
{
	char err[SSH_ERR_MAX];
	enum fetch_rc rc;

	if (h == H_CORRUPT)
		return corrupt(p, name);
	if (h == H_WAIT)
		return FETCH_OK;
	if ((rc = ssh_remove(c, name, err, sizeof(err))) != FETCH_OK) {
		complain(p, "%s: %s; %s, it is removed from the hub by the next "
		    "run", name, err, what);
		return rc;
	}
	remove_in(p->done, name, "");
	log_info("%s: %s, %s, removed from the hub", name, how, what);
	return FETCH_OK;
}

/* job_finish - wait for the bundle being injected, then finish it. */
static enum fetch_rc
job_finish(struct pull *p, struct ssh_conn *c, struct job *j)
{
	enum ub_outcome out;
	enum handed h;
	enum fetch_rc rc;
	const char *what = "";
	int down;

	if (j->name[0] == '\0')
		return FETCH_OK;
	out = engine_wait(c, j, &down);
	h = outcome(j->name, out, down, &what);
	rc = finish(p, c, j->name, h, what, j->how);
	j->name[0] = '\0';
	return rc;
}

/*
 * recover - a bundle with done/NAME from an earlier run: wherever it
 * is now, take it to the point where the hub's copy may go.
 */
static enum fetch_rc
recover(struct pull *p, struct ssh_conn *c, const char *name)
{
	static const char how[] = "from an earlier run";
	struct job j;

	if (exists(p->partial, name, ".part") &&
	    !exists(p->incoming, name, "") && to_incoming(p, name) == -1)
		return FETCH_IOERR;
	if (exists(p->quarantine, name, ""))
		return corrupt(p, name);
	if (exists(p->kept, name, ""))
		return finish(p, c, name, H_REMOVE, "kept for the local MTA",
		    how);
	if (!exists(p->incoming, name, ""))	/* the engine finished it */
		return finish(p, c, name, H_REMOVE, "injected", how);
	memset(&j, 0, sizeof(j));
	engine_start(p, &j, name, how);
	return job_finish(p, c, &j);
}

/* --- leftovers ------------------------------------------------------ */

static int
entry_name_cmp(const void *key, const void *e)
{
	return strcmp(key, ((const struct ssh_entry *)e)->name);
}

int
ssh_entry_listed(const struct ssh_entry *v, size_t n, const char *name)
{
	return n > 0 && bsearch(name, v, n, sizeof(*v), entry_name_cmp) !=
	    NULL;
}

/*
 * sweep - partial downloads and done records of bundles the hub no
 * longer lists: someone removed them there, or a run removed them and
 * died before its record.  Only after a complete listing.
 */
static void
sweep(struct pull *p, const struct ssh_entry *v, size_t n)
{
	const char *dirs[2] = { p->partial, p->done };
	char name[SSH_NAME_MAX + 8], path[PATH_MAX];
	struct dirent *d;
	size_t len;
	DIR *dp;
	int i;

	for (i = 0; i < 2; i++) {
		if ((dp = opendir(dirs[i])) == NULL)
			continue;
		while ((d = readdir(dp)) != NULL) {
			if (strlcpy_(name, d->d_name, sizeof(name)) >=
			    sizeof(name))
				continue;
			len = strlen(name);
			if (i == 0 && len > 5 &&
			    strcmp(name + len - 5, ".part") == 0)
				name[len - 5] = '\0';
			if (!ssh_name_is_bundle(name) ||
			    ssh_entry_listed(v, n, name) ||
			    path_build(path, sizeof(path), "%s/%s", dirs[i],
			    d->d_name) == -1 || unlink(path) == -1)
				continue;
			log_info("%s: no longer on the hub, removed %s", name,
			    path);
		}
		closedir(dp);
	}
}

/* --- one bundle ---------------------------------------------------- */

/* download - into partial/, checking a resumed file; FETCH_OK or why not. */
static enum fetch_rc
download(struct pull *p, struct ssh_conn *c, const struct ssh_entry *e,
    struct ssh_xfer *x)
{
	char part[PATH_MAX], err[SSH_ERR_MAX];
	struct ssh_xfer again;
	enum fetch_rc rc;

	if (path_build(part, sizeof(part), "%s/%s.part", p->partial,
	    e->name) == -1)
		return FETCH_IOERR;
	rc = ssh_download(c, e, part, &p->o, x, err, sizeof(err));
	if (rc == FETCH_OK && p->verbose && x->offset > 0)
		log_info("resumed %s at offset %llu, fetched %llu bytes in "
		    "%.3f s", e->name, (unsigned long long)x->offset,
		    (unsigned long long)x->got, x->net);
	else if (rc == FETCH_OK && p->verbose)
		log_info("fetched %s, %llu bytes in %.3f s", e->name,
		    (unsigned long long)x->got, x->net);
	if (rc != FETCH_OK) {
		complain(p, "%s (%llu of %llu octets kept in %s)", err,
		    (unsigned long long)(x->offset + x->got),
		    (unsigned long long)e->size, part);
		return rc;
	}
	if (x->offset == 0 || bundle_verify(part, NULL, err, sizeof(err)) == 0)
		return FETCH_OK;
	/* A resumed file can carry a bad tail from a crash: fetch it whole. */
	log_warnx("%s: the resumed download is damaged (%s); fetching it "
	    "again from the start", e->name, err);
	if (unlink(part) == -1) {
		log_warn("%s", part);
		return FETCH_IOERR;
	}
	rc = ssh_download(c, e, part, &p->o, &again, err, sizeof(err));
	x->got += again.got;
	if (rc != FETCH_OK)
		complain(p, "%s", err);
	return rc;
}

/*
 * one - one listed bundle: download it while the previous one (j) is
 * being injected, finish that one, then start injecting this one in
 * j.  A bundle from an earlier run's crash is finished on the spot.
 */
static enum fetch_rc
one(struct pull *p, struct ssh_conn *c, const struct ssh_entry *e,
    struct job *j)
{
	struct ssh_xfer x;
	struct bundle_info info;
	enum fetch_rc rc, rcj;
	char sz[16], rt[16], how[96], part[PATH_MAX];
	double el;

	if (exists(p->done, e->name, "")) {
		rcj = job_finish(p, c, j);
		return fetch_rc_worse(rcj, recover(p, c, e->name));
	}
	if (exists(p->quarantine, e->name, ""))
		return corrupt(p, e->name);
	rc = download(p, c, e, &x);
	rcj = job_finish(p, c, j);
	if (rc != FETCH_OK)
		return fetch_rc_worse(rc, rcj);
	p->st.bundles++;
	p->st.bytes += x.got;
	if (path_build(part, sizeof(part), "%s/%s.part", p->partial,
	    e->name) == 0 && bundle_verify(part, &info, NULL, 0) == 0)
		p->st.copies += info.copies;
	if (mark_done(p, e->name) == -1 || to_incoming(p, e->name) == -1)
		return FETCH_IOERR;
	el = time_mono() - x.started;
	snprintf(how, sizeof(how), "fetched %s in %.1fs (%s/s)%s",
	    size_format(x.got, sz, sizeof(sz)), el,
	    size_format(el > 0 ? (uint64_t)((double)x.got / el) : 0, rt,
	    sizeof(rt)), x.offset > 0 ? " resumed" : "");
	engine_start(p, j, e->name, how);
	return rcj;
}

enum fetch_rc
pull_hub(struct pull *p, const struct ssh_target *t)
{
	struct ssh_conn *c;
	struct ssh_entry *v;
	struct job j;
	size_t n, i;
	enum fetch_rc rc, worst = FETCH_OK;
	char err[SSH_ERR_MAX];
	double t0;

	if (account_dirs(p, t) == -1)
		return FETCH_IOERR;
	t0 = time_mono();
	if ((rc = ssh_connect(t, &c, err, sizeof(err))) != FETCH_OK) {
		complain(p, "%s", err);
		return rc;
	}
	if ((rc = ssh_list(c, &v, &n, err, sizeof(err))) != FETCH_OK) {
		complain(p, "%s", err);
		ssh_close(c);
		return rc;
	}
	if (p->verbose)
		log_info("%s@%s: connected and listed %zu bundles in %.3f s",
		    t->user, t->host, n, time_mono() - t0);
	if (n < SSH_LIST_MAX)
		sweep(p, v, n);
	memset(&j, 0, sizeof(j));
	p->total = n;
	for (i = 0; i < n; i++) {
		p->idx = i + 1;
		if (t->max_size > 0 && v[i].size > t->max_size &&
		    !exists(p->done, v[i].name, "")) {
			log_info("%s: %llu octets, over the cap of %llu: left "
			    "on the hub", v[i].name,
			    (unsigned long long)v[i].size,
			    (unsigned long long)t->max_size);
			p->st.skipped++;
			continue;
		}
		rc = one(p, c, &v[i], &j);
		progress_clear(p);
		worst = fetch_rc_worse(worst, rc);
		if (rc == FETCH_IOERR || !ssh_alive(c))
			break;
	}
	worst = fetch_rc_worse(worst, job_finish(p, c, &j));
	free(v);
	ssh_close(c);
	return worst;
}
