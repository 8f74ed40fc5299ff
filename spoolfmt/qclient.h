/*
 * qclient.h - how intake hands entries to the queue: to bridged's
 * queue process over its socket (qproto.h), or straight into the spool
 * (qw_* of queue.h) for the programs that still write it themselves
 * (bridge-enqueue, the tests).  The calls are the same either way, so
 * intake does not know which one it has.
 */
#ifndef QCLIENT_H
#define QCLIENT_H

#include <stdint.h>

#include "queue.h"
#include "verdict.h"

struct qlink;
struct qcw;

/* qlink_direct - entries written into spool by this process. */
struct qlink *qlink_direct(const char *spool);
/* qlink_min_free - direct: commits refused (QUEUE_NOSPACE) below this. */
void	qlink_min_free(struct qlink *l, uint64_t min_free);
/*
 * qlink_chan - entries written by the queue process at the other end
 * of sock (a conf/chan.h socket; the link owns it).  timeout_ms bounds
 * each wait for an answer.
 */
struct qlink *qlink_chan(int sock, int timeout_ms);
void	qlink_free(struct qlink *l);

/*
 * qc_open - a new entry for env (customer, envelope); env->id and
 * env->arrival are filled in (the queue process chooses them).
 * verdicts: the lookup's VERDICT_LEN-byte token of each recipient, in
 * env->rcpts' order (NULL: none, which a queue with a key refuses).
 */
enum result qc_open(struct qlink *l, struct qenv *env,
	    const unsigned char *verdicts, struct qcw **w, char *err,
	    size_t errlen);
enum result qc_write(struct qcw *w, const void *buf, size_t len);
/* qc_size - message octets written so far. */
uint64_t qc_size(const struct qcw *w);
/*
 * qc_clone - an entry for another customer (env; id and arrival come
 * from src) with the message octets of src, complete but not committed.
 */
enum result qc_clone(struct qcw *src, struct qenv *env,
	    const unsigned char *verdicts, struct qcw **dst, char *err,
	    size_t errlen);
/*
 * qc_commit - commit ws[0..n-1] (qw_commit_set: in all mode none stays
 * unless all did); res[i] and errs[i*errlen] say how each went.  Frees
 * every writer.  Returns how many are queued.
 */
int	qc_commit(struct qcw **ws, int n, int all, enum result *res,
	    char *errs, size_t errlen);
/* qc_abort - forget the entry (its tmp file is removed). */
void	qc_abort(struct qcw *w);

#endif
