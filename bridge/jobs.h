/*
 * jobs.h - bridged's background work (jobs.c), driven by the master:
 * per customer (and for the delivery reports' queue _dsn) at most one
 * worker process at a time, forked for one of
 *
 *   flush   deliver the customer's queue (flush.h) to its deliver-to
 *           hosts, or to the peer that sent the ETRN;
 *   bundle  pack the queue into bundles (bundler.h) and, for uucp,
 *           hand them to uux (handoff.h);
 *   dsn     deliver the _dsn queue to the relayhost;
 *   expire  the lifetime sweep (expire.h): delayed and failed DSNs,
 *           expired entries and bundles; in the customer's own slot,
 *           so never beside its flush, bundle run or UUCP hand-off.
 *
 * Requests come from ETRN (through the sessions), the control socket
 * and the clock (retry = ..., the bundling timers, the DSN timer, the
 * expire timers: every expire_tick seconds per queue, _dsn included).
 * The DSN queue has its own schedule, and each report in it its own
 * (its entry's attempts and next-attempt, spoolfmt(5)): a report the
 * relayhost did not take (down, or 4xx) waits JOBS_DSN_BACKOFF doubled
 * per attempt up to JOBS_DSN_BACKOFF_MAX, and a run sends only the
 * reports whose time has come.  A run starts at once when a flush or
 * sweep queued a report newer than the last run saw, else at the
 * soonest next-attempt, never sooner than JOBS_DSN_TICK after the last
 * run, and a look every JOBS_DSN_TICK while it is empty.  A
 * flush asked for while one runs sets "again": the worker runs once
 * more when it ends, never twice at once.  ETRN is rate-limited per
 * client and customer: within JOBS_ETRN_WINDOW of an accepted request
 * another one from the same client starts nothing at once; when the
 * window ends, a flush starts if the customer's queue still holds mail
 * (so mail that came in between is not left waiting after a 253, and
 * a client that repeats ETRN gets at most one flush a window).
 *
 * Invariants: workers are the master's own children, each leads its
 * own process group (so a stop reaches the connections a flush forked),
 * holds no descriptor of the master (the caller's child_setup closes
 * them) and runs with default signal dispositions and an empty mask.
 */
#ifndef JOBS_H
#define JOBS_H

#include <sys/types.h>

#include <stddef.h>
#include <time.h>

#include "conf.h"

#define JOBS_ETRN_WINDOW	10	/* seconds: one ETRN per client and customer */
#define JOBS_BUNDLE_TICK	30	/* seconds between bundling checks (at most) */
#define JOBS_DSN_TICK		60	/* seconds between looks at _dsn */
#define JOBS_DSN_BACKOFF	300	/* a report left queued waits this, doubled
					   for each attempt it had... */
#define JOBS_DSN_BACKOFF_MAX	3600	/* ...up to this */

/* What a request led to. */
enum jobs_res {
	JOBS_ERROR = -1,	/* msg says why */
	JOBS_STARTED = 0,	/* a worker was started */
	JOBS_JOINED,		/* the same work runs: "again" is set */
	JOBS_QUEUED,		/* other work for the customer runs first */
	JOBS_LIMITED		/* ETRN within the window: a flush when
				   it ends, if mail is waiting then */
};

struct jobs;

/*
 * jobs_new - an empty table.  child_setup(arg) runs first in every
 * worker, before anything else: it closes the master's descriptors.
 */
struct jobs *jobs_new(void (*child_setup)(void *), void *arg);
void	jobs_free(struct jobs *j);
/*
 * jobs_plan - (re)plan the timers for config c at start-up and after a
 * reload: retries one retry interval from now, bundling checks and the
 * DSN timer at once.
 */
void	jobs_plan(struct jobs *j, const struct bridge_conf *c, time_t now);
/*
 * jobs_turn - an ODMR client on fd whose ATRN of customer the lookup
 * process allowed (name, addr for the log): a worker answers it and
 * delivers (odmr_turn); fd is taken.  With the customer's worker busy
 * the client gets 451 at once.
 */
void	jobs_turn(struct jobs *j, const struct bridge_conf *c,
	    const char *customer, int fd, const char *name, const char *addr);
/*
 * jobs_etrn - an ETRN for customer from client (numeric address);
 * domain (or NULL) is the customer's domain it named, where the next
 * flush of a deliver-to = "mx" customer goes.
 */
enum jobs_res jobs_etrn(struct jobs *j, const struct bridge_conf *c,
	    const char *customer, const char *client, const char *domain,
	    time_t now);
/*
 * jobs_flush - flush customer now; peer: where "deliver-to = peer"
 * goes (NULL: the last peer that asked).
 */
enum jobs_res jobs_flush(struct jobs *j, const struct bridge_conf *c,
	    const char *customer, const char *peer, char *msg, size_t len);
/* jobs_bundle - bundle and hand off now, ignoring timers and backoff. */
enum jobs_res jobs_bundle(struct jobs *j, const struct bridge_conf *c,
	    const char *customer, char *msg, size_t len);
/*
 * jobs_reaped - the master reaped pid: if it was a worker, note its
 * end and return 1 (the caller then calls jobs_run); else 0.
 */
int	jobs_reaped(struct jobs *j, const struct bridge_conf *c, pid_t pid,
	    int status);
/* jobs_run - start what is due or pending. */
void	jobs_run(struct jobs *j, const struct bridge_conf *c, time_t now);
/* jobs_next - seconds until jobs_run has something to do (>= 0). */
long	jobs_next(const struct jobs *j, time_t now);
/* jobs_status - "jobs=N name=kind:pid[:again] ..." */
void	jobs_status(const struct jobs *j, char *buf, size_t len);
int	jobs_running(const struct jobs *j);
/* jobs_signal - sig to every worker's process group. */
void	jobs_signal(struct jobs *j, int sig);

#endif
