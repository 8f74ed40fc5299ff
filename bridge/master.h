/*
 * master.h - bridged's master process (master.c): the listening
 * sockets, one child per connection, signals through a self-pipe,
 * reload and shutdown.  bridged.c does the start-up around it.
 */
#ifndef MASTER_H
#define MASTER_H

#include <sys/types.h>

#include "conf.h"
#include "smtpd.h"

struct listener {
	char   *spec;			/* as written in the config */
	int	fd;
	int	lmtp;
	char   *path;			/* unix socket path, or NULL */
};

struct child {
	pid_t	pid;
	int	lmtp;
};

struct master {
	const char *conf_path;
	struct bridge_conf *conf;
	struct usage *usage;
	struct listener *l;
	int	nl;
	struct child *kids;
	int	nkids, akids;
	int	sigpipe[2];
	int	pidfd;			/* the locked pidfile, or -1 */
	char   *pidfile;		/* its path, or NULL */
};

/* master_listen - bind every listener of conf; -1 if any fails. */
int	master_listen(struct master *m);
/* master_signals - the self-pipe and the master's signal handlers. */
int	master_signals(struct master *m);
/* master_loop - accept, fork, reap, reload, until SIGTERM/SIGINT. */
void	master_loop(struct master *m);

#endif
