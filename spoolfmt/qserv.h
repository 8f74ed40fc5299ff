/*
 * qserv.h - the queue process's side of qproto.h: the sessions'
 * entries, written, committed and aborted here and nowhere else.  The
 * process around it (its poll loop, signals, the master's socket) is
 * bridge/queued.c.
 */
#ifndef QSERV_H
#define QSERV_H

#include <stdint.h>

struct qserv;
struct qsclient;

/*
 * qserv_new - entries go under spool, for the customers named (copied),
 * each with its quota of queued octets (quotas NULL, or 0: none; a
 * copy that would pass it is refused with QUEUE_OVERQUOTA); max_size
 * (0: none) bounds a message's octets.  A customer's place in the
 * list is its slot in the usage table (qserv_set_usage).
 */
struct qserv *qserv_new(const char *spool, char *const *customers,
	    const uint64_t *quotas, int n, uint64_t max_size);
/* qserv_set - the customers, quotas and size limit after a reload. */
int	qserv_set(struct qserv *qs, char *const *customers,
	    const uint64_t *quotas, int n, uint64_t max_size);
/*
 * The queued octets per customer that quotas are checked against:
 * used() says how many customer (at slot) has, or -1 when it cannot
 * (then the spool is read); add() counts a committed copy.  Without
 * them (qserv_set_usage NULL) the spool is read at each commit.  Both
 * are called on the thread that calls qserv_input and qserv_job_done.
 */
struct qsusage {
	int	(*used)(int slot, const char *customer, uint64_t *octets,
		    void *arg);
	void	(*add)(int slot, const char *customer, uint64_t octets,
		    void *arg);
	void   *arg;
};
void	qserv_set_usage(struct qserv *qs, const struct qsusage *u);
/*
 * qserv_key - from now on every recipient must carry the lookup
 * process's token for its session, customer and address (verdict.h).
 */
void	qserv_key(struct qserv *qs, const unsigned char *key);
/* qserv_min_free - commits refused (QUEUE_NOSPACE) below this room. */
void	qserv_min_free(struct qserv *qs, uint64_t min_free);
void	qserv_free(struct qserv *qs);

/*
 * qserv_client - a session's socket (non-blocking, the client's from
 * now on) whose peer the master saw as peer ("" for a local socket).
 */
struct qsclient *qserv_client(struct qserv *qs, int sock, const char *peer,
	    uint32_t serial);
int	qserv_sock(const struct qsclient *c);
/*
 * qserv_input - serve what the session sent; 0 to go on, -1 when it
 * closed, broke the protocol (logged) or does not take its answers:
 * then qserv_close it.
 */
int	qserv_input(struct qserv *qs, struct qsclient *c);
/* qserv_output - answers still queued (poll for POLLOUT); -1 broken. */
int	qserv_output(struct qsclient *c);
/*
 * qserv_close - remove the session's open entries, close, free.  With
 * its commit still running, that happens when qserv_job_done is called.
 */
void	qserv_close(struct qsclient *c);
/* qserv_busy - a commit of the session's is running: do not poll it. */
int	qserv_busy(const struct qsclient *c);

/*
 * Commits (fsync, rename, fsync of the directory) may run on other
 * threads, so that one session's fsync does not wait for another's:
 * with a runner set, a QM_COMMIT becomes a job given to run(job, arg);
 * some thread calls qserv_job_run(job), which touches nothing but the
 * job's own entries and sends the session its answer (nothing else is
 * sent to a session while its commit runs); then the main thread calls
 * qserv_job_done(job), which frees the job and lets the session be read
 * again (or frees it when it was closed in the meantime: 1); -1 when
 * the answer could not go and the session must be closed.
 * Without a runner a commit is done in place.
 */
struct qsjob;
void	qserv_set_runner(struct qserv *qs, void (*run)(struct qsjob *, void *),
	    void *arg);
void	qserv_job_run(struct qsjob *j);
struct qsclient *qserv_job_client(const struct qsjob *j);
int	qserv_job_done(struct qsjob *j);

#endif
