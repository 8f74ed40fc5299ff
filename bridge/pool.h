/*
 * pool.h - the master's side of the session processes (pool.c): each
 * is "bridged -x session", exec'd once and serving one connection at
 * a time, many in its life, instead of a fork per connection; started
 * by the master itself, or, when bridged runs as root, by the root
 * spawner (spawner.h) as the session user, chrooted.  The
 * master hands a connection to an idle one (or starts one) with the
 * session's sockets to the queue and lookup processes; the session
 * says when it is done.
 */
#ifndef POOL_H
#define POOL_H

#include <sys/types.h>
#include <sys/socket.h>

#include <poll.h>
#include <stdint.h>

#include "chan.h"

/* master -> session process; session -> master: SM_DONE */
enum smsg {
	SM_QUEUE = 2,		/* (1 was the usage table: the queue's now) */		/* fd: the session's queue socket */
	SM_LOOKUP,		/* fd: the session's lookup socket */
	SM_CONN,		/* fd: the client; u32 kind (LK_*), str
				   peer, the accept() address bytes: run it */
	SM_DONE			/* the connection is over */
};

struct sproc {
	pid_t	pid;			/* -1: the spawner has not said yet */
	uint32_t id;			/* the spawner's name for it */
	struct chan ch;			/* ch.sock -1: closed, being reaped */
	int	busy;			/* a connection is being served */
	int	kind;			/* its LK_* while busy */
	struct sockaddr_storage peer;	/* ... and its client's address */
	socklen_t peerlen;		/* 0: none (a unix socket) */
	int	retire;			/* exit once done (a reload came) */
};

struct pool {
	int	selffd;			/* bridged's executable */
	int	fg;
	const char *conf_path;
	struct sproc *v;
	int	n, a;
	void  (*child_setup)(void *);
	void   *arg;
	struct chan *spawner;		/* root's (spawner.h), or NULL */
	uint32_t next_id;
};

void	pool_init(struct pool *p, int selffd, int fg, const char *conf_path,
	    void (*child_setup)(void *), void *arg);
/*
 * pool_set_spawner - start, signal and reap the processes through the
 * root spawner on sp (spawner.h), not by fork, kill and waitpid: they
 * run as another user than the master.
 */
void	pool_set_spawner(struct pool *p, struct chan *sp);
/* pool_spawned - the spawner's SP_STARTED: id is pid (0: failed). */
void	pool_spawned(struct pool *p, uint32_t id, pid_t pid);
/*
 * pool_conn - give connection fd (kind, peer as the kernel gave it,
 * its address sa) with its queue socket qfd (-1: none) and lookup
 * socket lfd to an idle session process, started if none is idle.
 * qfd and lfd are the pool's from then
 * on, either way; fd too on success.  0, or -1 when none could take it
 * (fd is still the caller's, to refuse the client).
 */
int	pool_conn(struct pool *p, int fd, int kind, const char *peer,
	    const struct sockaddr *sa, socklen_t salen, int qfd, int lfd);
/* pool_busy - connections of kind being served (-1: every kind). */
int	pool_busy(const struct pool *p, int kind);
/*
 * pool_busy_from - connections being served whose client address is
 * sa's within the first bits4 (IPv4) or bits6 (IPv6) bits: bits 32 or
 * 128 for the address itself, 24 or 64 for its network.
 */
int	pool_busy_from(const struct pool *p, const struct sockaddr *sa,
	    int bits4, int bits6);
/* pool_count - session processes that are still to be reaped. */
int	pool_count(const struct pool *p);
/* pool_npoll - how many pollfds pool_fill writes. */
int	pool_npoll(const struct pool *p);
/* pool_fill - its sockets into pfd (pool_npoll of them). */
void	pool_fill(const struct pool *p, struct pollfd *pfd);
/* pool_io - after poll: the SM_DONEs, what is queued, ends of file. */
void	pool_io(struct pool *p, const struct pollfd *pfd, int npfd);
/* pool_retire - a reload: every process exits once idle. */
void	pool_retire(struct pool *p);
/*
 * pool_reaped - 1 when pid was one of them (logged if it died busy):
 * from waitpid, or the spawner's SP_EXITED.
 */
int	pool_reaped(struct pool *p, pid_t pid, int status);
/* pool_signal - sig to each (through the spawner, if there is one). */
void	pool_signal(const struct pool *p, int sig);
/*
 * pool_forget - the spawner has gone, and with it every process it
 * started (it stops them at its end): none is left to wait for.
 */
void	pool_forget(struct pool *p);
/* pool_close_child - in any other child of the master: its fds. */
void	pool_close_child(struct pool *p);

#endif
