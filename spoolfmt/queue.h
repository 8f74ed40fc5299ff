/*
 * queue.h - per-customer queue directories and queue entries
 * (spoolfmt(5)).
 *
 *   <spool>/q/<customer>/tmp/      being written
 *   <spool>/q/<customer>/new/      committed entries, one file per message copy
 *   <spool>/q/<customer>/corrupt/  truncated or unreadable entries, moved aside
 *
 * An entry is a text envelope, a blank line, then the message octets
 * exactly as received (CRLF line ends, not dot-stuffed):
 *
 *   MBQ 1
 *   id 0065A1B2C3D4E.1A2B.3
 *   customer acme
 *   arrival 1732300000
 *   size 00000000000000004096        (message octets, fixed width)
 *   body 8bit                        (or 7bit)
 *   protocol ESMTP                   (SMTP, ESMTP, LMTP, pipe)
 *   client mail.example.org [192.0.2.1]
 *   helo mail.example.org
 *   sender <a@example.org>           (<> for the null sender)
 *   rcpt <x@acme.example>            (one line per recipient)
 *   attempts 0
 *   (blank line)
 *
 * Optional lines (RFC 3461 DSN parameters and the expiry sweeper):
 *
 *   envid ABC.123                    (ENVID, xtext-decoded)
 *   ret hdrs                         (RET: full or hdrs)
 *   notify FAILURE,DELAY             (NOTIFY of the rcpt line above it)
 *   orcpt rfc822;x@acme.example      (ORCPT of the rcpt line above it,
 *                                     xtext-decoded)
 *   reply mx.acme.example 451 4.2.0 try again   (the last 4xx reply
 *                                     for the rcpt line above it)
 *   warned 1732314400                (when the delayed DSN was queued)
 *
 * Unknown envelope lines are ignored; a file whose length is not
 * envelope + size is truncated.  The same queue id names the copies of
 * one message in every customer's queue.  Commit: tmp, write, fsync,
 * rename into new/, fsync new/.
 */
#ifndef QUEUE_H
#define QUEUE_H

#include <sys/types.h>

#include <stdint.h>
#include <time.h>

#include "util.h"

#define QID_LEN		40
#define QENV_LINE_MAX	1100	/* longest envelope line accepted */

/* NOTIFY bits (RFC 3461); a recipient with none gave no NOTIFY. */
#define QN_SUCCESS	0x01
#define QN_FAILURE	0x02
#define QN_DELAY	0x04
#define QN_NEVER	0x08

#define QENV_ORCPT_MAX	500	/* decoded ORCPT octets (RFC 3461 5) */
#define QENV_ENVID_MAX	100	/* decoded ENVID octets (RFC 3461 4.4) */

enum qret { QRET_NONE = 0, QRET_FULL, QRET_HDRS };

/* DSN parameters of one recipient, found by its address. */
struct qrcpt_dsn {
	char   *addr;			/* as in rcpts (not owned) */
	unsigned notify;		/* QN_* bits; 0: no NOTIFY */
	char   *orcpt;			/* "type;address" or NULL */
	char   *remote;			/* the host that last answered a
					   delivery attempt 4xx, or NULL */
	char   *reply;			/* its reply, one line, or NULL */
};

#define QENV_REPLY_MAX	900	/* host, space and reply text kept */

struct qenv {
	char	id[QID_LEN];
	char	customer[64];
	time_t	arrival;
	uint64_t size;			/* message octets */
	int	body_8bit;
	char   *protocol;
	char   *client;			/* "name [addr]" */
	char   *helo;
	char   *sender;			/* without < >; "" is the null sender */
	char  **rcpts;			/* without < > */
	int	nrcpts;
	int	attempts;
	time_t	last_attempt;		/* 0 = never */
	time_t	next_attempt;		/* 0 = whenever asked */
	char   *envid;			/* ENVID or NULL */
	enum qret ret;
	struct qrcpt_dsn *rdsn;		/* recipients with DSN parameters */
	int	nrdsn;			/* (records for recipients no longer
					   in rcpts are not written) */
	time_t	warned;			/* delayed DSN queued; 0 = not yet */
};

struct qwriter;

/* The error of a commit refused for want of room (qw_commit_set). */
#define QUEUE_NOSPACE	"insufficient system storage"
/* The error of a commit that would take its customer past its quota. */
#define QUEUE_OVERQUOTA	"customer over quota"

/* qid_new - a fresh queue id: sortable by time, unique per host. */
void	qid_new(char *buf, size_t len);
/*
 * qid_time - when id was made, in seconds: its first 13 hex digits are
 * microseconds since the epoch (either case, so bundle(5) names, which
 * start the same way, work too); 0 when they are not there.
 */
time_t	qid_time(const char *id);
/* qid_is_valid - the id alphabet and shape, before it touches a path. */
int	qid_is_valid(const char *id);

/*
 * qw_open - start writing env->id into <spool>/q/<env->customer>/tmp/.
 * The envelope is written at once; the message follows with qw_write.
 */
enum result qw_open(const char *spool, const struct qenv *env,
	    struct qwriter **w, char *err, size_t errlen);
/*
 * qw_open_deferred - qw_open, but tmp/<id> is only created when the
 * first octets go out (a full buffer, or the commit), so a small
 * message costs nothing but memory until it is committed: the queue
 * process creates its files on its commit threads.  A create that
 * fails then fails the commit.
 */
enum result qw_open_deferred(const char *spool, const struct qenv *env,
	    struct qwriter **w, char *err, size_t errlen);
enum result qw_write(struct qwriter *w, const void *buf, size_t len);
/* qw_size - message octets written so far. */
uint64_t qw_size(const struct qwriter *w);
/*
 * qw_clone - a second entry for another customer (env) carrying the
 * same message octets as src, which is complete but not yet committed.
 */
enum result qw_clone(struct qwriter *src, const char *spool,
	    const struct qenv *env, struct qwriter **dst, char *err,
	    size_t errlen);
/*
 * qw_commit - record the size, fsync, rename into new/, fsync new/.
 * Only after RS_OK may anyone say 250.  Frees w either way; on error the
 * tmp file is removed.
 */
enum result qw_commit(struct qwriter *w, char *err, size_t errlen);
/*
 * qw_commit_set - commit the n entries of one message (its copies for
 * several customers), in order; res[i] and the i-th errlen-sized slot
 * of errs say how each went.  all: when one fails, the rest are
 * aborted and those already committed taken back (removed, new/
 * fsync'd), so nobody says 250 for part of a message; a copy that
 * cannot be taken back is logged and stays RS_OK.  Frees every
 * writer.  Returns how many entries are in new/ now.  When the spool's
 * file system has less than min_free bytes free, none is committed:
 * each gets RS_TEMP and the error QUEUE_NOSPACE.
 */
int	qw_commit_set(struct qwriter **ws, int n, int all, uint64_t min_free,
	    enum result *res,
	    char *errs, size_t errlen);
/* qw_abort - remove the tmp file and free w. */
void	qw_abort(struct qwriter *w);

/*
 * qenv_read - read the envelope of the entry at path.  *body_off gets
 * the offset of the message.  RS_PERM: truncated, malformed or not an
 * entry (err says why); RS_TEMP: could not read it now.
 */
enum result qenv_read(const char *path, struct qenv *env, off_t *body_off,
	    char *err, size_t errlen);
void	qenv_free(struct qenv *env);
/* qenv_rcpt_dsn - the DSN parameters of recipient addr, or NULL. */
const struct qrcpt_dsn *qenv_rcpt_dsn(const struct qenv *env,
	    const char *addr);
/*
 * qenv_set_reply - record that host answered recipient addr (one of
 * env->rcpts, that very pointer) with reply (printable text, cut to
 * fit QENV_REPLY_MAX), for the next rewrite.  -1 when out of memory or
 * the host is not one word.
 */
int	qenv_set_reply(struct qenv *env, char *addr, const char *host,
	    const char *reply);
/*
 * qenv_notify - 1 if recipient addr wants a DSN of kind what
 * (QN_FAILURE, QN_DELAY, QN_SUCCESS): without NOTIFY failures and
 * delays are reported, successes are not; NEVER reports nothing.
 */
int	qenv_notify(const struct qenv *env, const char *addr, unsigned what);
/* qnotify_parse - "NEVER" or a list of SUCCESS,FAILURE,DELAY; 0 or -1. */
int	qnotify_parse(const char *s, unsigned *bits);
/* qnotify_format - the NOTIFY text of bits into buf. */
char   *qnotify_format(unsigned bits, char *buf, size_t len);
/*
 * qenv_rewrite - replace the envelope of an entry atomically (tmp copy
 * with the new envelope and the same message, fsync, rename, fsync).
 */
enum result qenv_rewrite(const char *spool, const struct qenv *env,
	    char *err, size_t errlen);
/* q_remove - unlink the entry and fsync new/. */
enum result q_remove(const char *spool, const char *customer,
	    const char *id);
/* q_path - "<spool>/q/<customer>/<sub>/<id>" (sub: tmp, new, corrupt). */
int	q_path(char *buf, size_t len, const char *spool, const char *customer,
	    const char *sub, const char *id);

/*
 * spool_prepare - create <spool>/q/<customer>/{tmp,new,corrupt}, 0700,
 * through q_dir_open; RS_TEMP (logged: "queue refused") when one of
 * them is a symlink, not a directory or not the process's own.
 */
enum result spool_prepare(const char *spool, const char *customer);
/*
 * spool_lock - the customer's queue lock: an exclusive flock(2) on
 * <spool>/q/<customer>/, not waiting.  Everything that takes entries
 * out of a queue (flush, bundler, lifetime sweep) holds it.  The open
 * descriptor holding it, or -1: *busy is 1 when somebody else holds
 * it, else errno says why the directory could not be opened.
 */
int	spool_lock(const char *spool, const char *customer, int *busy);
/*
 * spool_lock_wait - spool_lock tried up to tries times, 50 ms apart,
 * while somebody else holds it (another queue's lock taken by a sweep
 * that holds its own: never waits for long, so never deadlocks); -1.
 */
int	spool_lock_wait(const char *spool, const char *customer, int tries);
/*
 * spool_sweep_tmp - remove the leftovers in <spool>/q/<customer>/tmp/
 * that no live writer holds (each holds an flock on its tmp file), one
 * log line each; what is not a plain file of ours stays, logged.
 */
void	spool_sweep_tmp(const char *spool, const char *customer);
/*
 * spool_recover - startup: remove leftovers in tmp/ and move every
 * entry in new/ that fails qenv_read (or whose size does not match)
 * into corrupt/, logging one line for each.  Returns entries moved.
 */
int	spool_recover(const char *spool, const char *customer);
/*
 * q_dir_open - <spool>/q/<customer>[/<sub>] opened O_DIRECTORY, every
 * step below the spool by openat(O_NOFOLLOW) and owned by the
 * effective uid; missing steps (the spool too) are made 0700 when
 * create is set.  The
 * fd, or -1 with errno and why (the path and the reason) filled in.
 */
int	q_dir_open(const char *spool, const char *customer, const char *sub,
	    int create, char *why, size_t whylen);
/*
 * spool_as_owner - for the tools root may run on a hub (bridge-enqueue,
 * bridgectl, test helpers): when root, become the spool's owner for
 * good (its uid, its passwd group, no other groups) unless root owns
 * it, so nothing root-owned lands in the spool and nothing there is
 * followed with root's rights.  0, or -1 with why filled in.
 */
int	spool_as_owner(const char *spool, char *why, size_t whylen);

struct qusage {
	uint64_t count;
	uint64_t bytes;			/* file sizes */
	time_t	oldest;			/* arrival (mtime) of the oldest; 0 if none */
};
/* spool_usage - one readdir + stat pass over new/. */
enum result spool_usage(const char *spool, const char *customer,
	    struct qusage *u);
/* What spool_schedule found: the entries' own retry times. */
struct qschedule {
	unsigned count;			/* entries */
	time_t	soonest;		/* the earliest next-attempt; 0: one
					   has none (due whenever asked) */
	char	newest[QID_LEN];	/* the greatest id; "" when none */
};
/*
 * spool_schedule - read every entry's envelope of customer (a small
 * queue: the DSN queue) for when it wants its next attempt.  RS_OK
 * (also for a queue that does not exist), RS_TEMP when it cannot be
 * listed.  Unreadable entries count as due.
 */
enum result spool_schedule(const char *spool, const char *customer,
	    struct qschedule *s);
/*
 * spool_list - call fn for each committed entry of customer in id
 * (arrival) order.  Stops early and returns fn's value if non-zero.
 */
int	spool_list(const char *spool, const char *customer,
	    int (*fn)(void *arg, const char *id, const char *path), void *arg);

#endif
