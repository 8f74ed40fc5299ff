/*
 * bundler.h - pack a customer's queue into bundles (bundle(5)) for the
 * uucp and ssh release methods, and reconcile after a crash.
 *
 *   <spool>/outbox/<customer>/          published bundles, nothing else
 *   <spool>/bundle-tmp/<customer>/      manifests NAME.mf
 *   <spool>/bundle-tmp/<customer>/tmp/  bundles being written
 *   <spool>/bundle-tmp/<customer>/ready/ finished bundles, not yet published
 *
 * Each bundle goes through: write into tmp/; finish (gzip trailer,
 * fsync) and move into ready/; write the manifest (the queue ids it
 * holds) durably; rename ready/NAME into outbox/<customer>/ and fsync
 * the outbox (the publish); remove the entries from the queue; remove
 * the manifest.  ready/NAME is never removed while its manifest exists,
 * so a manifest whose ready/NAME is gone names a published bundle,
 * even after the leaf (sftp) or the hand-off (uux) has taken the
 * bundle away.  Recovery: manifest and ready/NAME -> not published,
 * drop both (the entries are still queued); manifest alone -> published,
 * remove the listed entries still queued, then the manifest.  So after
 * a crash at any point no message is lost and none is in two bundles.
 * One bundler per customer at a time, and never while the queue is
 * flushed: both take an flock on <spool>/q/<customer>.
 */
#ifndef BUNDLER_H
#define BUNDLER_H

#include <stdint.h>
#include <time.h>

#include "util.h"

struct bundler_stats {
	unsigned bundles;	/* published by this run */
	unsigned messages;	/* queue entries packed */
	unsigned copies;	/* one per recipient */
	uint64_t raw;		/* uncompressed octets */
	uint64_t packed;	/* octets in outbox */
	unsigned skipped;	/* unreadable entries left in the queue */
};

/*
 * bundler_due - should the customer's queue be bundled now?  Yes when
 * the oldest committed entry is at least delay seconds old or when at
 * least max octets (entry files; 0 = no size trigger) are waiting.
 * *next gets the time it will be due by age (0: queue empty).
 */
int	bundler_due(const char *spool, const char *customer, uint64_t max,
	    long delay, time_t now, time_t *next);

/*
 * bundler_run - recover leftovers, then, while force or bundler_due,
 * pack the oldest entries into a bundle: entries in spool_list (id)
 * order; each recipient of an entry is one copy; a bundle takes the
 * next entry while its uncompressed octets plus the entry's copies
 * (message and envelope lines, once per recipient) stay within max
 * (0: unlimited); an entry larger than max travels alone.  Logs one
 * line per bundle.  RS_TEMP: busy (a bundler or a flush holds the
 * queue lock), a manifest that could not be settled, or an I/O error
 * (err says which); what was published before an error stays
 * published and counted in st.
 */
enum result bundler_run(const char *spool, const char *customer,
	    const char *hostname, uint64_t max, long delay, int force,
	    time_t now, struct bundler_stats *st, char *err, size_t errlen);

/*
 * bundler_recover - the reconciliation described above, for one
 * customer; also empties tmp/ and drops a finished bundle in ready/
 * without a manifest.  Call at startup before any hand-off or flush of
 * the customer (bundler_run calls it too).  Returns RS_TEMP if some
 * manifest could not be settled (it is kept for the next call).
 */
enum result bundler_recover(const char *spool, const char *customer,
	    char *err, size_t errlen);

/* bundler_outbox - "<spool>/outbox/<customer>"; -1 if it did not fit. */
int	bundler_outbox(char *buf, size_t len, const char *spool,
	    const char *customer);

/*
 * bundler_set_hook - for crash tests only: fn is called at every step
 * of bundling and recovery with the step's name, so a test can kill
 * the process there.  NULL (the default) turns it off.
 */
void	bundler_set_hook(void (*fn)(const char *step));

#endif
