/*
 * penalty.h - what clients did wrong, remembered across their
 * connections by the lookup process: failed AUTHs per client address
 * and per customer, ETRNs per client address.  A key counts events in
 * a window that starts at its first one; reaching a limit locks the
 * key for a while.  The table is fixed (PENALTY_MAX keys): when it is
 * full the key seen longest ago makes way, so a flood of addresses
 * costs memory nothing and forgets the oldest.  It lives in memory
 * only: a restart of the hub forgets it.
 */
#ifndef PENALTY_H
#define PENALTY_H

#include <stddef.h>

#define PENALTY_MAX	4096		/* keys remembered */
#define PENALTY_KEY	72		/* "a 2001:db8:1:2::/64", "c name" */

struct penalty_ent {
	char	key[PENALTY_KEY];	/* "": a free slot */
	int	n;			/* events in the window */
	double	first;			/* the window's start (time_mono) */
	double	until;			/* locked until; 0: not locked */
	double	seen;			/* the last event */
};

struct penalty {
	struct penalty_ent v[PENALTY_MAX];
};

/*
 * penalty_addr_key - the key of a client address for what is counted
 * (tag: 'a' failed AUTHs, 'e' ETRNs) into buf: "a 192.0.2.9", an IPv6
 * address as its /64 (one site's addresses), an IPv4-mapped one as its
 * IPv4 address.  -1 when addr is not a numeric address (a unix socket).
 */
int	penalty_addr_key(char tag, const char *addr, char *buf, size_t len);
/* penalty_locked - seconds key is still locked at now (rounded up), 0. */
long	penalty_locked(struct penalty *p, const char *key, double now);
/*
 * penalty_add - one more event for key at now, counted in a window of
 * window seconds from its first; when the count reaches max (> 0) the
 * key is locked for lock seconds and its count starts again.  The
 * count with this event.
 */
int	penalty_add(struct penalty *p, const char *key, double now,
	    long window, int max, long lock);

#endif
