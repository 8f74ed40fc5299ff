/*
 * resolve.h - the lookup process's reverse DNS of its clients
 * (resolve.c): a few threads do the blocking getnameinfo, so a client
 * whose address has a slow or broken PTR record holds up no other
 * session's decisions; the answers come back on a pipe the lookup's
 * poll loop watches.  The chrooted session processes cannot resolve
 * (no /etc/hosts, no resolv.conf there): the name in the Received:
 * header and the log comes from here.
 */
#ifndef RESOLVE_H
#define RESOLVE_H

#include <stdint.h>

#define RESOLVE_NAME	256

struct resolved {
	uint32_t serial;		/* the session's */
	char	name[RESOLVE_NAME];	/* "unknown" when there is none */
};

/*
 * resolve_start - start the threads; the descriptor to poll for
 * answers, or -1 (then names are looked up in resolve_ask itself).
 */
int	resolve_start(void);
/*
 * resolve_ask - look up the numeric address peer for session serial.
 * 1 when the answer is already in *out (no threads, or not an address
 * worth asking for), 0 when it will come through resolve_answer.
 */
int	resolve_ask(uint32_t serial, const char *peer, struct resolved *out);
/* resolve_answer - one answer after the descriptor polled readable: 1,
 * or 0 when there is none yet. */
int	resolve_answer(struct resolved *out);

#endif
