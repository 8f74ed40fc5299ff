/*
 * hubrun.c - one run of one hub: its lock, its methods in the order
 * configured, the status file before and after each, the backoff.
 *
 * Invariants: one process runs a hub at a time (an flock on hub.HUB.lock,
 * which holds its pid for `down`); a second caller waits for that run
 * and takes its result instead of starting another; a failure backs
 * off exponentially (a refusal or a configuration error straight to
 * the ceiling: no retry storm), a success or an up event resets it.
 */
#include <sys/file.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "linkup.h"
#include "log.h"
#include "util.h"

int
linkup_worse(int a, int b)
{
	static const int order[] = {
		EXIT_OK, EXIT_TEMPFAIL, EXIT_DATAERR, EXIT_IOERR,
		EXIT_OSERR, EXIT_SOFTWARE, EXIT_UNAVAIL, EXIT_CONFIG,
		EXIT_NOPERM
	};
	int i, ra = 1, rb = 1;	/* unknown codes rank as try-later */

	for (i = 0; i < (int)(sizeof(order) / sizeof(order[0])); i++) {
		if (order[i] == a)
			ra = i;
		if (order[i] == b)
			rb = i;
	}
	return ra >= rb ? a : b;
}

/* --- locks ---------------------------------------------------------- */

/*
 * lock_hub - hub.HUB.lock held with our pid in it: the fd; -1 when it could
 * not be opened; -2 when another process holds it (*fd set, not held).
 */
static int
lock_hub(const struct leaf_conf *lc, const char *hub, int *fd)
{
	char path[PATH_MAX], pid[32];
	int n;

	if (lstatus_lock_path(lc, hub, path, sizeof(path)) == -1 ||
	    (*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    0600)) == -1) {
		log_warn("%s: cannot open its lock", hub);
		return -1;
	}
	/* `down` tests the lock for a moment: look again before joining */
	for (n = 0; flock(*fd, LOCK_EX | LOCK_NB) == -1; n++) {
		if (n == 5)
			return -2;
		usleep(20 * 1000);
	}
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(*fd, 0) == -1 || pwrite(*fd, pid, (size_t)n, 0) != n)
		log_warn("%s: cannot write its lock", hub);
	return *fd;
}

/* --- status updates ------------------------------------------------- */

struct upd {
	const struct leaf_hub *h;
	int	method;
	const struct mresult *res;
	time_t	now;
	int	up_event;
	int	rc;
	int	moved;
	long	wait;		/* the backoff chosen */
	int	failures;	/* in a row, after this run */
};

static void
upd_start(struct lstatus *st, void *arg)
{
	struct upd *u = arg;
	struct ls_hub *sh = lstatus_hub(st, u->h->name);

	if (sh == NULL)
		return;
	sh->run_start = u->now;
	sh->up_event = u->up_event;
	if (u->up_event)
		sh->failures = 0;
}

static void
upd_method(struct lstatus *st, void *arg)
{
	struct upd *u = arg;
	const struct mresult *r = u->res;
	struct ls_method *m = lstatus_method(st, u->h->name, u->method);

	if (m == NULL)
		return;
	m->last_attempt = u->now;
	m->last_rc = r->rc;
	m->last_secs = r->secs;
	m->last_msgs = r->msgs;
	m->last_bytes = r->bytes;
	if (r->msgs > 0)
		m->msgs_total += r->msgs;
	if (r->bytes > 0)
		m->bytes_total += r->bytes;
	if (u->method == METHOD_ETRN)
		m->pending = r->pending;
	if (r->rc == 0) {
		m->last_success = u->now;
		m->ok_secs = r->secs;
		m->ok_msgs = r->msgs;
		m->ok_bytes = r->bytes;
	} else {
		m->failures_total++;
		m->last_error_at = u->now;
		snprintf(m->last_error, sizeof(m->last_error), "%s",
		    r->err[0] ? r->err : linkup_rc_name(r->rc));
	}
}

static void
upd_end(struct lstatus *st, void *arg)
{
	struct upd *u = arg;
	struct ls_hub *sh = lstatus_hub(st, u->h->name);
	const struct leaf_hub *h = u->h;
	time_t now = sched_now();

	if (sh == NULL)
		return;
	sh->run_end = now;
	sh->run_rc = u->rc;
	sh->runs_total++;
	if (u->moved)
		sh->last_exchange = now;
	if (u->rc == 0) {
		sh->failures = 0;
		sh->retry_at = 0;
		u->wait = 0;
		return;
	}
	sh->failures++;
	if (u->rc == EXIT_NOPERM || u->rc == EXIT_CONFIG ||
	    u->rc == EXIT_UNAVAIL)
		u->wait = h->backoff_ceiling;
	else
		u->wait = sched_backoff(h, sh->failures, sched_jitter());
	sh->retry_at = now + u->wait;
	u->failures = sh->failures;
}

/* upd_wait - what the run we waited for recorded. */
struct joined {
	const char *hub;
	int	rc;
	int	found;
};

static void
upd_read(struct lstatus *st, void *arg)
{
	struct joined *j = arg;
	int i;

	for (i = 0; i < st->nhubs; i++)
		if (strcmp(st->hubs[i].name, j->hub) == 0) {
			j->rc = st->hubs[i].run_rc;
			j->found = 1;
		}
}

/* --- the run -------------------------------------------------------- */

/* join - wait for the run holding the lock; its recorded result. */
static int
join(const struct leaf_conf *lc, const struct leaf_hub *h, int fd,
    volatile sig_atomic_t *stop)
{
	struct joined j = { h->name, EXIT_TEMPFAIL, 0 };
	struct lstatus st;

	log_info("%s: a run is in progress; waiting for it", h->name);
	while (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		if (errno != EWOULDBLOCK || (stop != NULL && *stop)) {
			close(fd);
			return EXIT_TEMPFAIL;
		}
		usleep(100 * 1000);
	}
	close(fd);
	if (lstatus_read(lc, &st) == 0) {
		upd_read(&st, &j);
		lstatus_free(&st);
	}
	log_info("%s: the run in progress ended: %s", h->name,
	    linkup_rc_name(j.rc));
	return j.found ? j.rc : EXIT_TEMPFAIL;
}

int
hubrun(const struct leaf_conf *lc, const struct leaf_hub *h, int up_event,
    int verbose, volatile sig_atomic_t *stop)
{
	struct mrun r;
	struct mresult res;
	struct upd u;
	double t0 = time_mono();
	int fd, rc = EXIT_OK, i, lk, moved = 0;

	if ((lk = lock_hub(lc, h->name, &fd)) == -1)
		return EXIT_TEMPFAIL;
	if (lk == -2)
		return join(lc, h, fd, stop);
	memset(&u, 0, sizeof(u));
	u.h = h;
	u.now = sched_now();
	u.up_event = up_event;
	lstatus_update(lc, upd_start, &u);
	memset(&r, 0, sizeof(r));
	r.lc = lc;
	r.h = h;
	r.up_event = up_event;
	r.cap = conf_window_cap(h->windows, h->nwindows, u.now);
	r.deadline = t0 + (double)h->max_online;
	r.stop = stop;
	r.verbose = verbose;
	log_info("%s: run%s: %d method%s%s", h->name, up_event ?
	    " (up event)" : "", h->nmethods, h->nmethods == 1 ? "" : "s",
	    r.cap ? ", within this window's size cap" : "");
	for (i = 0; i < h->nmethods; i++) {
		u.method = h->methods[i];
		u.now = sched_now();
		method_run(&r, h->methods[i], &res);
		u.res = &res;
		lstatus_update(lc, upd_method, &u);
		log_info("%s: %s: %s%s%s (%.1fs)", h->name,
		    conf_method_name(h->methods[i]), linkup_rc_name(res.rc),
		    res.err[0] && res.rc ? ": " : "", res.rc ? res.err : "",
		    res.secs);
		rc = linkup_worse(rc, res.rc);
		moved |= res.msgs > 0;
	}
	u.rc = rc;
	u.moved = moved;
	lstatus_update(lc, upd_end, &u);
	if (rc != 0 && u.failures >= h->give_up)
		log_warnx("%s: %d runs in a row have failed (the last: %s); "
		    "still trying, next in %lds", h->name, u.failures,
		    linkup_rc_name(rc), u.wait);
	else if (rc != 0)
		log_info("%s: run ended: %s; next try in %lds", h->name,
		    linkup_rc_name(rc), u.wait);
	else
		log_info("%s: run ended: ok (%.1fs)", h->name,
		    time_mono() - t0);
	close(fd);
	return rc;
}

/* --- down without a daemon ------------------------------------------ */

int
hubrun_stop_all(const struct leaf_conf *lc, int secs)
{
	char path[PATH_MAX];
	double until = time_mono() + secs;
	pid_t pid;
	int i, left, sent = 0;

	for (;;) {
		left = 0;
		for (i = 0; i < lc->nhubs; i++) {
			if (lstatus_lock_path(lc, lc->hubs[i].name, path,
			    sizeof(path)) == -1 || !lstatus_lock_held(path, &pid))
				continue;
			left++;
			if (!sent && pid > 1) {
				log_info("%s: stopping its run (pid %ld)",
				    lc->hubs[i].name, (long)pid);
				kill(pid, SIGTERM);
			}
		}
		sent = 1;
		if (left == 0 || time_mono() >= until)
			return left;
		usleep(100 * 1000);
	}
}
