/*
 * unbatch.h - the leaf's bundle engine behind bridge-unbatch(8): store
 * a bundle durably in the leaf spool, verify all of it, inject it
 * message by message with a journal, keep it when the local MTA
 * defers, quarantine it when it is damaged.
 *
 *   <spool>/incoming/     bundles being processed (and tmp-* copies)
 *   <spool>/kept/         bundles waiting for the local MTA (-q)
 *   <spool>/quarantine/   damaged bundles, NAME.why says why
 *   <spool>/journal/      NAME.j, what was injected (journal.h)
 *   <spool>/tmp/          large message bodies while they are injected
 *
 * Whoever works on a bundle holds an flock(2) on it, so a -q run and
 * the run that received the bundle never inject it both.
 */
#ifndef UNBATCH_H
#define UNBATCH_H

#include "leafconf.h"
#include "util.h"

enum ub_outcome {
	UB_DONE,	/* every copy injected or bounced; bundle removed */
	UB_KEPT,	/* some copy deferred: bundle in kept/ */
	UB_CORRUPT,	/* damaged: bundle in quarantine/, nothing injected */
	UB_BUSY,	/* another process holds it */
	UB_GONE		/* it was no longer there */
};

struct unbatch;

/*
 * ub_new - prepare the spool directories; NULL (logged) on failure.
 * also_stderr: problems go to stderr too (when the log is syslog).
 */
struct unbatch *ub_new(const struct leaf_conf *lc, int also_stderr);
void	ub_free(struct unbatch *ub);
/*
 * ub_store_fd, ub_store_file - copy the bundle into incoming/ (tmp
 * file, fsync, rename, fsync).  A file whose name is a bundle name
 * keeps it (so running the same file twice resumes its journal); other
 * input gets a new name.  RS_OK with *lockfd holding the flock'ed
 * bundle and name set; RS_TEMP when it could not be stored.
 */
enum result ub_store_fd(struct unbatch *ub, int fd, char *name,
	    size_t len, int *lockfd);
enum result ub_store_file(struct unbatch *ub, const char *path, char *name,
	    size_t len, int *lockfd);
/*
 * ub_process - verify and inject the bundle name in incoming/ or kept/.
 * lockfd is its flock'ed descriptor or -1 (then it is opened and
 * locked here).  *down tells that the local MTA was unusable.
 */
enum ub_outcome ub_process(struct unbatch *ub, const char *name, int lockfd,
	    int *down);
/*
 * ub_retry - every bundle in kept/ and every one left in incoming/ by
 * a run that died, oldest first; stops when the MTA is down.  Sweeps
 * stale tmp copies and orphaned journals.  Counts outcomes in n[].
 */
void	ub_retry(struct unbatch *ub, unsigned n[5]);

#endif
