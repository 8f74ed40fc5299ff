/*
 * journal.h - the per-bundle injection journal of bridge-unbatch:
 * <spool>/journal/<id>.j, id the bundle's SHA-256 (unbatch.c), so that
 * the same bundle arriving twice, under two names and in any order,
 * has one journal; append-only, one line per recipient copy
 * whose injection is finished ("MSG RCPT ok|bounced|failed"), or that
 * the local MTA took while the "relayed" DSN about it is still owed
 * ("MSG RCPT taken"), fsync'ed after each line.  A re-run skips what
 * the journal lists as finished and does not inject a taken copy again
 * (only its DSN), so at most the copy in flight at a crash is injected
 * twice.
 */
#ifndef JOURNAL_H
#define JOURNAL_H

#include <stddef.h>

struct journal;

/*
 * journal_open - load path (if it exists) and open it for appending,
 * flock'ed until journal_close: a second run of the same bundle waits.
 */
struct journal *journal_open(const char *path, char *err, size_t errlen);
/* journal_done - is copy (msg, rcpt) finished? msg and rcpt from 1/0. */
int	journal_done(const struct journal *j, unsigned msg, unsigned rcpt);
/* journal_taken - did the MTA take copy (msg, rcpt) (finished or not)? */
int	journal_taken(const struct journal *j, unsigned msg, unsigned rcpt);
/* journal_record - append "msg rcpt what" and fsync; 0 or -1. */
int	journal_record(struct journal *j, unsigned msg, unsigned rcpt,
	    const char *what);
/* journal_count - copies finished (loaded and appended). */
size_t	journal_count(const struct journal *j);
void	journal_close(struct journal *j);

#endif
