/*
 * proc.h - the master's side of the processes it execs (proc.c): the
 * queue process (bridged -x queue) and the lookup process (bridged -x
 * lookup).  Start one (fork and exec of bridged itself), send it its
 * configuration, hand it one end of each session's socket pair,
 * restart it when it dies; and the signal set-up each of them shares.
 */
#ifndef PROC_H
#define PROC_H

#include <sys/types.h>
#include <sys/socket.h>

#include <signal.h>
#include <stdint.h>

#include "chan.h"
#include "conf.h"

struct proc;

/* What differs between the processes. */
struct proc_kind {
	const char *name;		/* "queue": the -x argument, the log's */
	uint32_t ready;			/* the message that says it is ready */
	/* queue its configuration (start: 1 at a start, 0 after a reload) */
	int   (*configure)(struct proc *, const struct bridge_conf *, int start);
	/*
	 * a message from it other than ready, or NULL: logged, dropped;
	 * it may take the message's descriptor (setting fd to -1)
	 */
	void  (*message)(struct proc *, struct chan_msg *);
};

struct proc {
	const struct proc_kind *k;
	int	selffd;			/* bridged's executable (fexecve) */
	int	fg;			/* -d: it logs to stderr too */
	const char *conf_path;		/* passed as -c, or NULL */
	pid_t	pid;			/* 0: not running; -1: the spawner
					   has not said yet */
	struct chan *spawner;		/* it starts this one, or NULL */
	uint32_t spawn_what;		/* SPAWN_* (spawner.h) */
	uint32_t spawn_id;		/* the name of the last SP_START */
	struct chan ch;			/* to it; ch.sock -1 when none */
	double	started;		/* time_mono of the last start */
	double	restart_at;		/* when to start it again; 0: now */
	int	stopping;
	/* in the forked child, before the exec: close the master's fds */
	void  (*child_setup)(void *);
	void   *arg;			/* child_setup's, and the kind's */
};

/* proc_init - remember the executable and how to set up the child. */
void	proc_init(struct proc *p, const struct proc_kind *k, int selffd,
	    int fg, const char *conf_path, void (*child_setup)(void *),
	    void *arg);
/*
 * proc_set_spawner - from now on the root spawner (spawner.h) starts,
 * signals and reaps it as what (SPAWN_*): the master hears of its pid
 * and its end from the spawner (proc_spawned, proc_reaped).
 */
void	proc_set_spawner(struct proc *p, struct chan *sp, uint32_t what);
/* proc_spawned - the spawner's SP_STARTED; 1 when id was this one's. */
int	proc_spawned(struct proc *p, uint32_t id, pid_t pid);
/*
 * proc_start - fork and exec the process (or have the spawner start
 * it) and send it the configuration.  first: wait until it says it is ready (-1 when it
 * died instead); else (a restart) do not wait, and pass -R.
 */
int	proc_start(struct proc *p, const struct bridge_conf *c, int first);
/* proc_config - send the configuration again (after a reload). */
int	proc_config(struct proc *p, const struct bridge_conf *c);
/*
 * proc_session - a socket pair for a new session: one end goes to the
 * process in a message of type with payload (what the process needs
 * to know of the session), the other is returned (-1 when it cannot
 * take it now).  With the process down the session gets a socket
 * whose other end is closed, so it answers 451 until it is back.
 */
int	proc_session(struct proc *p, uint32_t type, const void *payload,
	    size_t len);
/* proc_send - queue a message for it (dropped when it is down). */
int	proc_send(struct proc *p, uint32_t type, const void *payload,
	    size_t len, int fd);
/* proc_reaped - 1 when pid was this process (logged). */
int	proc_reaped(struct proc *p, pid_t pid, int status);
/* proc_poll - the fd and events to poll for, or -1. */
int	proc_poll(const struct proc *p, short *events);
/* proc_io - read its messages, send what is queued. */
void	proc_io(struct proc *p);
/*
 * proc_tick - restart it when it is down and its restart is due;
 * the seconds until that, or -1 when nothing is due.
 */
double	proc_tick(struct proc *p, const struct bridge_conf *c);
/* proc_stop - SIGTERM it and never restart it. */
void	proc_stop(struct proc *p);
/* proc_kill - sig (SIGTERM, SIGKILL) to it, itself or by the spawner. */
void	proc_kill(struct proc *p, int sig);
/*
 * proc_child_signals - in an exec'd process (queue, lookup, session)
 * at its start: SIGTERM and SIGINT call on_stop and are blocked but
 * while waiting (waitmask, for ppoll), SIGHUP and SIGPIPE ignored,
 * SIGCHLD default.
 */
void	proc_child_signals(void (*on_stop)(int), sigset_t *waitmask);
/* proc_close_child - in any other child of the master: its fds. */
void	proc_close_child(struct proc *p);

#endif
