/*
 * qexpire.h - queue lifetimes: the sweeper that tells senders their
 * mail is late (a delayed DSN after warn-after) and gives up on it (a
 * failed DSN, status 4.4.7, after expire-after), for one queue at a
 * time: qexpire.c for queue entries, bexpire.c for the bundles waiting
 * in the customer's outbox.
 *
 * Rules, per queue entry (age = now - arrival):
 *   - age >= expire_after (when > 0): a failed DSN for the recipients
 *     whose NOTIFY includes FAILURE (or who gave no NOTIFY), committed
 *     into _dsn (dsn.h) first, then the entry is removed;
 *   - else age >= warn_after (when > 0 and less than expire_after) and
 *     no delayed DSN yet: one delayed DSN for the recipients whose
 *     NOTIFY includes DELAY (or who gave none), committed first, then
 *     the entry is rewritten with "warned" (tmp, fsync, rename, fsync),
 *     also when nobody was owed one, so the decision is made and logged
 *     once.  The copies of the message (same queue id) for other
 *     customers that are due by their own lifetimes, in their queues
 *     or in bundles in their outboxes (bexpire_copies), go into the
 *     same DSN and are marked too (under their queue's lock, tried for
 *     a second); the queue whose name sorts first among the due queued
 *     copies sends it, a bundled copy only when no queued one is due.
 *   - In the _dsn queue itself nothing is warned about, and an expired
 *     DSN goes to the postmaster (dsn_postmaster_copy) or, when it was
 *     the postmaster's copy, is dropped with a log line: DSNs are never
 *     sent about DSNs to anyone else, and never loop.
 * In a bundle in <spool>/outbox/<customer>/, each message that arrived
 * warn_after ago (the copies' ARRIVAL=, not the bundle's creation) gets
 * a delayed DSN unless it was warned about (the copy's WARNED=, or the
 * bundle's marker, which other copies' sweeps add to), gathered with
 * the message's other due copies as above.  A bundle whose newest
 * message arrived expire_after ago (or that was made that long ago)
 * is read and each message in it (its copies, grouped
 * by the queue id of their X-Mailbridge-Envelope: fields) gets a failed
 * DSN honouring the envelope as for a queue entry; the bundle is
 * removed once they are all committed.  A bundle that does
 * not verify is moved to <spool>/bundle-tmp/<customer>/corrupt/ (or
 * renamed NAME.corrupt in place when that is another file system).
 *
 * Invariants: the sweep holds the customer's queue lock (the flock on
 * <spool>/q/<customer> that flush_customer and the bundler take) and
 * skips the queue when somebody else holds it; nothing is removed or
 * marked before its DSN is committed, so a crash (even kill -9 between
 * the two steps) can send a DSN twice but never drops an entry or a
 * bundle without one.
 */
#ifndef QEXPIRE_H
#define QEXPIRE_H

#include <time.h>

#include "dsn.h"
#include "queue.h"
#include "util.h"

#define QEXPIRE_DELAY_STATUS	"4.4.1"
#define QEXPIRE_FAIL_STATUS	"4.4.7"
#define QEXPIRE_LOCK_TRIES	20	/* another queue's lock: ~1 s */

struct qexpire_opts {
	const char *spool;
	const char *customer;		/* queue name, or DSN_QUEUE */
	const char *hostname;		/* Reporting-MTA */
	const char *postmaster;		/* copy for automatic mail; or NULL */
	long	warn_after;		/* seconds; 0: no delayed DSNs */
	long	expire_after;		/* seconds; 0: nothing expires */
	time_t	now;
	/*
	 * The lifetimes of another customer's queue, for the copies of a
	 * message there (one delayed DSN for all); -1 when there is no
	 * such customer.  NULL: copies elsewhere are not looked at.
	 */
	int	(*lifetimes)(void *arg, const char *customer, long *warn,
		    long *expire);
	void   *lifetimes_arg;
};

struct qexpire_stats {
	unsigned entries;		/* entries looked at */
	unsigned warned;		/* entries that got a delayed DSN */
	unsigned expired;		/* entries removed */
	unsigned bundles;		/* bundles expired and removed */
	unsigned corrupt;		/* bundles moved aside */
	unsigned dsns;			/* DSNs committed into _dsn */
	unsigned skipped;		/* unreadable, or a DSN not queued */
	int	busy;			/* the queue lock was held */
};

/*
 * qexpire_run - sweep one queue and its outbox with its lock held.
 * RS_TEMP: busy (st->busy), the queue could not be read, or something
 * was skipped and stays for the next sweep; RS_OK otherwise (also when
 * the queue does not exist).
 */
enum result qexpire_run(const struct qexpire_opts *o,
	    struct qexpire_stats *st);

/*
 * qexpire_select - the recipients of env that want a DSN of kind
 * (DSN_FAILED: NOTIFY FAILURE; DSN_DELAYED: NOTIFY DELAY) into rc
 * (room for env->nrcpts), with status, diag, orcpt and the dates
 * filled in.  A recipient whose last attempt got a 4xx reply gets that
 * reply as its Diagnostic-Code and its host as Remote-MTA (and, in a
 * delayed DSN, its status code) instead of diag.  Returns how many.
 */
int	qexpire_select(const struct qexpire_opts *o, const struct qenv *env,
	    enum dsn_action kind, const char *diag, struct dsn_rcpt *rc);

#endif
