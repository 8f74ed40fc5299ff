/*
 * linkup.h - bridge-linkup(8), the leaf agent: runs a hub's methods
 * (etrn, odmr, uucp, ssh) when the link comes up and on schedule,
 * keeps a status file and a Prometheus textfile, and stops runs in
 * flight when the link goes down.
 *
 *   <spool>/linkup/status        the status file (lstatus.c), written
 *                                whole: tmp, fsync, rename, fsync dir
 *   <spool>/linkup/status.lock   held while it is read and rewritten
 *   <spool>/linkup/hub.HUB.lock  held by the process running HUB, its
 *                                pid inside: one run per hub at a time
 *                                (the prefix: no hub's lock is one of
 *                                the two above or below)
 *   <spool>/linkup/ssh.lock      one SSH pull at a time (pull.c's lock)
 *   <spool>/linkup/control       the daemon's unix socket
 *   <spool>/linkup/daemon.pid    held by the daemon, its pid inside
 *   <spool>/linkup/HUB.odmr-seen copies ODMR delivered (recv.c)
 *
 * Every result is a sysexits code (0 drained, 75 try later, 77 refused,
 * 78 configuration, 69 unavailable, 65 damaged data); linkup_worse
 * says which of two matters more.
 */
#ifndef LINKUP_H
#define LINKUP_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "leafconf.h"

#define LINKUP_ERR_MAX	300

/* --- sched.c: clock, backoff, windows ------------------------------ */

/*
 * sched_now - the wall clock, or for tests the epoch second written in
 * the file $BRIDGE_LINKUP_CLOCK (read at every call).
 */
time_t	sched_now(void);
/* sched_fake - is the test clock in use? */
int	sched_fake(void);
/*
 * sched_backoff - the wait after the n-th failure in a row (n >= 1):
 * base * 2^(n-1), at most ceiling, then scaled by 0.8 + 0.4 * rnd
 * (rnd in [0, 1): jitter) and kept within ceiling.
 */
long	sched_backoff(const struct leaf_hub *h, int n, double rnd);
/* sched_jitter - a uniform random number in [0, 1). */
double	sched_jitter(void);
/*
 * sched_window_next - the first second at or after t inside one of the
 * hub's windows (t itself when it has none); -1 when none comes within
 * eight days (cannot happen with a valid window).
 */
time_t	sched_window_next(const struct leaf_hub *h, time_t t);

/* --- lstatus.c: the status file and the metrics -------------------- */

/* One method of one hub. */
struct ls_method {
	char	hub[64];
	int	method;			/* METHOD_* */
	time_t	last_attempt;		/* when it started, 0 = never */
	int	last_rc;		/* its exit code */
	double	last_secs;
	long long last_msgs, last_bytes;	/* -1: not known */
	time_t	last_success;
	double	ok_secs;
	long long ok_msgs, ok_bytes;
	time_t	last_error_at;
	char	last_error[LINKUP_ERR_MAX];
	long long msgs_total, bytes_total, failures_total;
	long long pending;		/* ETRN: the hub's last count, -1 */
};

/* One hub. */
struct ls_hub {
	char	name[64];
	time_t	run_start, run_end;	/* the last run */
	int	run_rc;
	int	up_event;		/* the last run was an up event's */
	int	failures;		/* in a row */
	time_t	retry_at;		/* backoff: not before */
	time_t	next_run;		/* the daemon's plan, 0 = none */
	time_t	last_exchange;		/* the last run that moved mail */
	long long runs_total;
};

struct lstatus {
	int	link;			/* -1 unknown, 0 down, 1 up */
	time_t	link_since;
	long	daemon;			/* its pid, 0 when none */
	time_t	updated;
	struct ls_hub *hubs;
	int	nhubs;
	struct ls_method *ms;
	int	nms;
};

/* lstatus_dir - <spool>/linkup into buf, created (0700); 0 or -1. */
int	lstatus_dir(const struct leaf_conf *lc, char *buf, size_t len);
/* lstatus_read - the status file into st (empty when there is none). */
int	lstatus_read(const struct leaf_conf *lc, struct lstatus *st);
void	lstatus_free(struct lstatus *st);
/* lstatus_lock_path - where hub's run lock is (beside the status file). */
int	lstatus_lock_path(const struct leaf_conf *lc, const char *hub,
	    char *buf, size_t len);
/* lstatus_lock_held - is the lock at path held?  Its pid in *pid if so. */
int	lstatus_lock_held(const char *path, pid_t *pid);
/* lstatus_running - does a process hold hub's run lock now? */
int	lstatus_running(const struct leaf_conf *lc, const char *hub);
/* lstatus_hub, lstatus_method - find, or add a zeroed record. */
struct ls_hub *lstatus_hub(struct lstatus *st, const char *hub);
struct ls_method *lstatus_method(struct lstatus *st, const char *hub,
	    int method);
/*
 * lstatus_update - under status.lock: read the file, let fn change it,
 * write it back atomically and rewrite the metrics textfile.  0 or -1
 * (logged).
 */
int	lstatus_update(const struct leaf_conf *lc,
	    void (*fn)(struct lstatus *st, void *arg), void *arg);
/* lstatus_metrics - the Prometheus text exposition of st to f. */
void	lstatus_metrics(const struct leaf_conf *lc, const struct lstatus *st,
	    FILE *f);
/*
 * lstatus_print - what `status` shows for the hubs named (all when
 * n is 0), as text or JSON; the next run is computed from the config
 * when the daemon has not written one.
 */
void	lstatus_print(const struct leaf_conf *lc, const struct lstatus *st,
	    char **hubs, int n, int json, FILE *f);

/* linkup_rc_name - "ok", "try later", "refused", ... for an exit code. */
const char *linkup_rc_name(int rc);

/* --- method.c: one method of one hub ------------------------------- */

/* What a method is run with. */
struct mrun {
	const struct leaf_conf *lc;
	const struct leaf_hub *h;
	int	up_event;		/* a link just came up (uucico -S) */
	uint64_t cap;			/* window size cap, 0 = none */
	double	deadline;		/* time_mono() by which to stop */
	volatile sig_atomic_t *stop;	/* set: stop network work now */
	int	verbose;
};

/* What it did. */
struct mresult {
	int	rc;			/* sysexits */
	long long msgs, bytes;		/* moved; -1 not known */
	double	secs;
	long long pending;		/* ETRN: the hub's last count, -1 */
	char	err[LINKUP_ERR_MAX];	/* the last problem, "" if none */
};

/* method_run - run one method (METHOD_*) and fill res. */
void	method_run(const struct mrun *r, int method, struct mresult *res);

/* --- hubrun.c: one run of one hub ---------------------------------- */

/*
 * hubrun - run every method of h in order, under h's lock, and record
 * it in the status file; the worst exit code.  When another process
 * holds the lock, wait for its run instead (concurrent up events
 * coalesce) and return what it recorded.  up_event: the link has just
 * come up (resets the backoff, uucico -S).
 */
int	hubrun(const struct leaf_conf *lc, const struct leaf_hub *h,
	    int up_event, int verbose, volatile sig_atomic_t *stop);
/*
 * hubrun_stop_all - SIGTERM every process holding a hub lock (`down`
 * without a daemon), then wait up to secs for the locks to go.  The
 * number of runs still holding one.
 */
int	hubrun_stop_all(const struct leaf_conf *lc, int secs);
/* linkup_worse - the exit code that matters more to the operator. */
int	linkup_worse(int a, int b);

/* --- daemon.c: `run`, and up/down through its control socket ------ */

/*
 * linkup_request_up - an up event for the hubs named (all when n is 0)
 * passed to the daemon: the worst exit code once its runs have ended,
 * or LINKUP_NO_DAEMON when none listens (the caller runs them itself,
 * linkup_up in bridge-linkup.c).
 */
#define LINKUP_NO_DAEMON	(-1)
int	linkup_request_up(const struct leaf_conf *lc, char **names, int n,
	    volatile sig_atomic_t *stop);
/* linkup_down - stop the runs in flight (the daemon's, or by lock). */
int	linkup_down(const struct leaf_conf *lc);
/*
 * linkup_daemon - `run`: until *stop.  Takes lc over (frees it, or the
 * configuration reloaded on SIGHUP from conffile).  Forks into the
 * background unless debug.
 */
int	linkup_daemon(struct leaf_conf *lc, const char *conffile, int debug,
	    int verbose, volatile sig_atomic_t *stop);

#endif
