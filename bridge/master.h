/*
 * master.h - bridged's master process (master.c): the listening
 * sockets (SMTP, LMTP, ODMR), one child per connection, the requests
 * of the sessions (ETRN) and of bridgectl (the control socket), the
 * background jobs (jobs.h), signals through a self-pipe, reload and
 * shutdown.  bridged.c does the start-up around it.
 */
#ifndef MASTER_H
#define MASTER_H

#include <sys/types.h>

#include "conf.h"
#include "ctlrole.h"
#include "pool.h"
#include "proc.h"
#include "smtpd.h"
#include "verdict.h"

enum listener_kind {
	LK_SMTP = 0,
	LK_LMTP,
	LK_ODMR,
	LK_ENQUEUE,			/* bridge-enqueue: LMTP, all or none */
	LK_NKINDS
};

struct listener {
	char   *spec;			/* as written in the config */
	int	fd;
	int	kind;			/* LK_* */
	char   *path;			/* unix socket path, or NULL */
	int	dflt;			/* <spool>/enqueue: not in the config */
};

#define CTL_CONNS	8	/* control connections served at once */
#define CTL_LINE	256	/* a control request */

struct ctlconn {
	int	fd;			/* -1: free */
	struct ctl_grant grant;		/* what its peer may do */
	double	deadline;
	size_t	len;
	char	buf[CTL_LINE];
};

struct jobs;

struct master {
	const char *conf_path;
	struct bridge_conf *conf;
	struct usage *usage;
	struct listener *l;
	int	nl;
	int	sigpipe[2];
	int	pidfd;			/* the locked pidfile, or -1 */
	char   *pidfile;		/* its path, or NULL */
	int	selffd;			/* bridged's executable (proc.h) */
	int	ctlfd;			/* control { listen } or <spool>/control */
	char   *ctlpath;
	struct ctlconn ctl[CTL_CONNS];
	struct jobs *jobs;
	struct proc qp;			/* the queue process */
	struct proc lp;			/* the lookup process */
	struct pool pool;		/* the session processes */
	struct chan sp;			/* to the root spawner; sock -1: none */
	pid_t	sppid;			/* its pid, 0 when none */
	uint32_t serial;		/* sessions handed over */
	unsigned char key[VERDICT_KEY];	/* of the lookup's verdicts */
};

/* master_listen - bind every listener of conf; -1 if any fails. */
int	master_listen(struct master *m);
/* master_signals - the self-pipe and the master's signal handlers. */
int	master_signals(struct master *m);
/*
 * master_control - after the drop of privileges: the request socket
 * pair, the job table and the control socket <spool>/control (mode
 * 0600).  -1 when the job table or the socket pair cannot be made; a
 * control socket that cannot be bound is only logged.
 */
int	master_control(struct master *m);
/*
 * master_enqueue - after the drop, without enqueue { listen }: the
 * default enqueue socket <spool>/enqueue, 0600; kept over reloads
 * until the config names one.
 */
int	master_enqueue(struct master *m);
/*
 * master_procs - start the lookup and the queue process (proc.h) from
 * the executable open on selffd, with a fresh verdict key, and wait
 * until the lookup has read the config and the queue has recovered the
 * spool; -1 when either could not.
 */
int	master_procs(struct master *m, int selffd, int fg);
/* master_loop - accept, fork, reap, reload, until SIGTERM/SIGINT. */
void	master_loop(struct master *m);

#endif
