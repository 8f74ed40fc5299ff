/*
 * spawner.h - the one process of bridged that keeps root (spawner.c):
 * forked by bridged before it drops to the hub's user, it only starts
 * session processes (bridged -x session, which chroot themselves and
 * become the session user: sessiond.c) and the lookup process
 * (bridged -x lookup, which becomes the lookup user: lookupd.c),
 * signals them and reaps them, at the master's word, because a
 * process of the hub's user can do none of that to a process of
 * another user.  It reads nothing from the network and nothing from
 * the spool; what the master may ask is the two messages below,
 * checked, and nothing else.
 *
 * master -> spawner
 *   SP_START    fd: the new process's socket to the master (its
 *               descriptor 3); u32 id: the master's name for it; u32
 *               what: SPAWN_SESSION or SPAWN_LOOKUP; u32 restarted
 *               (1: the process is told -R).
 *   SP_KILL     u32 pid, u32 signal (SIGTERM or SIGKILL): to a
 *               process it started and has not reaped, or ignored.
 * spawner -> master
 *   SP_STARTED  u32 id, u32 pid (0: it could not be started).
 *   SP_EXITED   u32 pid, u32 wait status: reaped.
 *
 * The master's end of file (it exited) or SIGTERM: SIGTERM to every
 * process it started, SIGKILL to what is left after SPAWNER_WAIT
 * seconds, then it exits.
 */
#ifndef SPAWNER_H
#define SPAWNER_H

#include <sys/types.h>

enum spmsg {
	SP_START = 1,
	SP_KILL,
	SP_STARTED,
	SP_EXITED
};

/* what SP_START starts */
enum spwhat {
	SPAWN_SESSION = 1,
	SPAWN_LOOKUP
};

#define SPAWNER_WAIT	10

struct spawner_args {
	int	selffd;			/* bridged's executable */
	const char *conf_path;		/* its -c */
	int	fg;			/* its -d */
	const int *close_fds;		/* the master's, closed in it */
	int	nclose;
};

/*
 * spawner_start - fork the spawner (as root); in the master, its pid
 * into *pid and the master's end of their socket pair returned, or -1.
 */
int	spawner_start(const struct spawner_args *a, pid_t *pid);

#endif
