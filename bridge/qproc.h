/*
 * qproc.h - the master's side of the queue process (qproc.c): start it
 * (fork and exec of bridged itself, "-x queue"), send it the customer
 * list, hand it one end of each session's socket pair, restart it when
 * it dies.
 */
#ifndef QPROC_H
#define QPROC_H

#include <sys/types.h>
#include <sys/socket.h>

#include <stdint.h>

#include "chan.h"
#include "conf.h"

struct qproc {
	int	selffd;			/* bridged's executable (fexecve) */
	int	fg;			/* -d: the queue logs to stderr too */
	pid_t	pid;			/* 0: not running */
	struct chan ch;			/* to it; ch.sock -1 when none */
	double	started;		/* time_mono of the last start */
	double	restart_at;		/* when to start it again; 0: now */
	int	stopping;
	uint32_t serial;		/* sessions handed over */
	/* in the forked child, before the exec: close the master's fds */
	void  (*child_setup)(void *);
	void   *arg;
};

/* qproc_init - remember the executable and how to set up the child. */
void	qproc_init(struct qproc *q, int selffd, int fg,
	    void (*child_setup)(void *), void *arg);
/*
 * qproc_start - fork and exec the queue process and send it the
 * configuration.  first: wait until it has recovered the spool and is
 * ready (-1 when it died instead); else (a restart) do not wait and
 * tell it to skip the recovery.
 */
int	qproc_start(struct qproc *q, const struct bridge_conf *c, int first);
/* qproc_config - send the customer list again (after a reload). */
int	qproc_config(struct qproc *q, const struct bridge_conf *c);
/*
 * qproc_session - a socket pair for a new session whose peer is peer
 * (as the kernel gave it: a numeric address, "unix" or "uid N"): one
 * end goes to the queue process, the other is returned (-1 when the
 * queue cannot take it now).  With the queue process down the session
 * gets a socket whose other end is closed, so its mail gets 451 until
 * the queue is back.
 */
int	qproc_session(struct qproc *q, const char *peer);
/* qproc_reaped - 1 when pid was the queue process (logged). */
int	qproc_reaped(struct qproc *q, pid_t pid, int status);
/* qproc_poll - the fd and events to poll for, or -1. */
int	qproc_poll(const struct qproc *q, short *events);
/* qproc_io - read its messages, send what is queued. */
void	qproc_io(struct qproc *q);
/*
 * qproc_tick - restart it when it is down and its restart is due;
 * the seconds until that, or -1 when nothing is due.
 */
double	qproc_tick(struct qproc *q, const struct bridge_conf *c);
/* qproc_stop - SIGTERM it and never restart it. */
void	qproc_stop(struct qproc *q);
/* qproc_close_child - in any other child of the master: its fds. */
void	qproc_close_child(struct qproc *q);

#endif
